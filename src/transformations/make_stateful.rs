//! MakeStateful (OpenVINO's `ov::pass::MakeStateful`): turns chosen (Parameter, Result) pairs of a model into
//! variables. The Parameter's readers read a ReadValue of the variable instead, and the Result's value is written
//! to the variable by an Assign sink, so state flows from one inference to the next inside the request.

use crate::error::{Error, Result};
use crate::ir::{Model, Node};
use crate::ops::misc::{Assign, ReadValue};

/// A Parameter and the Result whose value the next inference reads in its place.
#[derive(Debug, Clone)]
pub struct StatePair {
    /// The Parameter the variable replaces.
    pub parameter: Node,
    /// The Result whose value becomes the variable's.
    pub result: Node,
    /// The variable id.
    pub variable_id: String,
}

/// Pairs named by tensor names, `(parameter tensor name, result tensor name)`, as OpenVINO's
/// `MakeStateful({param_name: result_name})`; each variable id is the two names joined.
pub fn pairs_by_names(model: &Model, names: &[(String, String)]) -> Result<Vec<StatePair>> {
    names
        .iter()
        .map(|(p, r)| {
            let parameter = model
                .parameters
                .iter()
                .find(|n| n.output(0).names().contains(p))
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "The tensor name {p} is not associated with any of Parameters in the network."
                    ))
                })?;
            let result = model
                .results
                .iter()
                .find(|n| n.input(0).is_ok_and(|src| src.names().contains(r)))
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "The tensor name {r} is not associated with any of Results in the network."
                    ))
                })?;
            Ok(StatePair {
                parameter: parameter.clone(),
                result: result.clone(),
                variable_id: format!("{p}{r}"),
            })
        })
        .collect()
}

/// Pairs of nodes, as OpenVINO's `MakeStateful([(parameter, result)])`; each variable id is the two friendly
/// names joined.
pub fn pairs_of_nodes(pairs: &[(Node, Node)]) -> Vec<StatePair> {
    pairs
        .iter()
        .map(|(p, r)| StatePair {
            parameter: p.clone(),
            result: r.clone(),
            variable_id: format!("{}{}", p.friendly_name(), r.friendly_name()),
        })
        .collect()
}

/// Replaces each pair: a ReadValue-6 without initial value (so it starts as zeros) with the Parameter's type and
/// shape takes the Parameter's place, and an Assign-6 of the Result's input replaces the Result as a sink.
pub fn make_stateful(model: &mut Model, pairs: &[StatePair]) -> Result<()> {
    for pair in pairs {
        let p_index = model.parameter_index(&pair.parameter).ok_or_else(|| {
            Error::NotFound(format!(
                "{} is not a parameter of the model",
                pair.parameter.describe()
            ))
        })?;
        let r_index = model
            .results
            .iter()
            .position(|r| *r == pair.result)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{} is not a result of the model",
                    pair.result.describe()
                ))
            })?;
        let port = pair.parameter.output(0);
        let mut read = ReadValue::new(true);
        read.variable_id = pair.variable_id.clone();
        read.variable_type = port.element_type();
        read.variable_shape = port.shape();
        let read = Node::new(Box::new(read), vec![])?;
        model.replace_output_uses(&port, &read.output(0))?;
        let value = pair.result.input(0)?;
        let assign = Node::new(Box::new(Assign::new(true, &pair.variable_id)), vec![value])?;
        model.results.remove(r_index);
        model.parameters.remove(p_index);
        model.sinks.push(assign);
    }
    model.validate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ElementType, PartialShape, Tensor};
    use crate::ops::registry::create;
    use crate::ops::structure::{Parameter, ResultOp};
    use crate::plugins::cpu::CpuPlugin;
    use crate::runtime::{Config, InferRequest, Plugin};
    use std::collections::BTreeSet;

    /// `out = x + h`, `h_out = out`: the classic recurrence once `h` becomes a variable.
    fn recurrent() -> Model {
        let param = |name: &str| {
            let p = Parameter::new(ElementType::F32, PartialShape::from_static(&[2]));
            let n = Node::with_name(Box::new(p), vec![], name).unwrap();
            n.output(0)
                .set_names(BTreeSet::from([name.to_string()]))
                .unwrap();
            n
        };
        let (x, h) = (param("x"), param("h"));
        let sum = Node::new(create("Add", 1).unwrap(), vec![x.output(0), h.output(0)]).unwrap();
        sum.output(0)
            .set_names(BTreeSet::from(["sum".to_string()]))
            .unwrap();
        let out = Node::with_name(Box::new(ResultOp), vec![sum.output(0)], "out").unwrap();
        let h_out = Node::with_name(Box::new(ResultOp), vec![sum.output(0)], "h_out").unwrap();
        Model::new(vec![out, h_out], vec![], vec![x, h], "rnn").unwrap()
    }

    #[test]
    fn named_pairs_become_variables_that_carry_state() {
        let mut m = recurrent();
        let pairs = pairs_by_names(&m, &[("h".into(), "sum".into())]).unwrap();
        assert_eq!(pairs[0].variable_id, "hsum");
        make_stateful(&mut m, &pairs).unwrap();
        assert_eq!(
            (m.parameters.len(), m.results.len(), m.sinks.len()),
            (1, 1, 1)
        );
        let compiled = CpuPlugin::default().compile(&m, &Config::new()).unwrap();
        let mut req = InferRequest::new(compiled);
        let mut seen = Vec::new();
        for i in 1..=3 {
            req.set_input(0, Tensor::from_vec(&[2], vec![i as f32; 2]).unwrap())
                .unwrap();
            req.infer().unwrap();
            seen.push(req.output(0).unwrap().typed::<f32>().unwrap()[0]);
        }
        // h starts at zero: 1, 1 + 2, 3 + 3.
        assert_eq!(seen, vec![1.0, 3.0, 6.0]);
        assert_eq!(
            req.variable_value("hsum").unwrap().to_f64_vec(),
            vec![6.0; 2]
        );
        req.reset_state();
        assert_eq!(
            req.variable_value("hsum").unwrap().to_f64_vec(),
            vec![0.0; 2]
        );
    }

    #[test]
    fn node_pairs_take_friendly_names() {
        let mut m = recurrent();
        let pairs = pairs_of_nodes(&[(m.parameters[1].clone(), m.results[1].clone())]);
        assert_eq!(pairs[0].variable_id, "hh_out");
        make_stateful(&mut m, &pairs).unwrap();
        assert_eq!(m.sinks[0].type_name(), "Assign");
    }

    #[test]
    fn unknown_names_are_reported() {
        let m = recurrent();
        let e = pairs_by_names(&m, &[("nope".into(), "sum".into())]).unwrap_err();
        assert!(
            e.to_string()
                .contains("nope is not associated with any of Parameters")
        );
        let e = pairs_by_names(&m, &[("h".into(), "nope".into())]).unwrap_err();
        assert!(
            e.to_string()
                .contains("nope is not associated with any of Results")
        );
    }
}
