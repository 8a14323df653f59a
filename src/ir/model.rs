//! A model: parameters, results and sinks of a graph of shared nodes, plus a name and runtime info.

use super::element_type::ElementType;
use super::node::{Node, Output};
use super::rt_info::RtInfo;
use super::shape::PartialShape;
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};

/// A computation graph with named inputs (Parameters) and outputs (Results).
#[derive(Debug, Clone)]
pub struct Model {
    /// The model name (`friendly_name` in Python).
    pub name: String,
    /// Parameter nodes, in input order.
    pub parameters: Vec<Node>,
    /// Result nodes, in output order.
    pub results: Vec<Node>,
    /// Nodes with no outputs that must run (Assign).
    pub sinks: Vec<Node>,
    /// Model-level runtime info.
    pub rt_info: RtInfo,
    /// The variables declared with the model (`Model(..., variables)`, `add_variables`); None: those its
    /// ReadValue/Assign nodes name.
    pub variables: Option<Vec<VariableInfo>>,
}

/// A variable of a stateful model's state: its id, element type and shape.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableInfo {
    /// The id ReadValue and Assign refer to.
    pub id: String,
    /// The element type (dynamic when not declared).
    pub element_type: ElementType,
    /// The shape (dynamic when not declared).
    pub shape: PartialShape,
}

impl Model {
    /// A model from its results and parameters; checks that every node reached is fed by a listed parameter.
    pub fn new(
        results: Vec<Node>,
        sinks: Vec<Node>,
        parameters: Vec<Node>,
        name: &str,
    ) -> Result<Model> {
        for r in &results {
            if r.type_name() != "Result" {
                return Err(Error::InvalidArgument(format!(
                    "model output {} is not a Result",
                    r.describe()
                )));
            }
        }
        let m = Model {
            name: name.to_string(),
            parameters,
            results,
            sinks,
            rt_info: RtInfo::new(),
            variables: None,
        };
        m.check_parameters()?;
        Ok(m)
    }

    /// Checks that every Parameter the results and sinks reach is among the model's parameters.
    pub fn check_parameters(&self) -> Result<()> {
        let params: HashSet<u64> = self.parameters.iter().map(Node::id).collect();
        let reached = topological_order(self.results.iter().chain(&self.sinks).cloned())?;
        match reached
            .iter()
            .find(|n| n.type_name() == "Parameter" && !params.contains(&n.id()))
        {
            Some(n) => Err(Error::InvalidArgument(format!(
                "{} is used by the graph but is not among the model's parameters",
                n.describe()
            ))),
            None => Ok(()),
        }
    }

    /// Position of `param` among the parameters.
    pub fn parameter_index(&self, param: &Node) -> Option<usize> {
        self.parameters.iter().position(|p| p == param)
    }

    /// Connects every consumer of `old` (among the nodes the model reaches) to `new` instead, except `new`'s own
    /// node, and re-infers each consumer.
    pub fn replace_output_uses(&self, old: &Output, new: &Output) -> Result<()> {
        for n in self.ordered_ops()? {
            if n == new.node {
                continue;
            }
            for (i, src) in n.inputs().iter().enumerate() {
                if src == old {
                    n.set_input(i, new.clone())?;
                    n.validate()?;
                }
            }
        }
        Ok(())
    }

    /// Replaces parameter `index` by `param`, redirecting the old parameter's consumers (OpenVINO's
    /// `replace_parameter`).
    pub fn replace_parameter(&mut self, index: usize, param: Node) -> Result<()> {
        if param.type_name() != "Parameter" {
            return Err(Error::InvalidArgument(format!(
                "replace_parameter needs a Parameter, got {}",
                param.describe()
            )));
        }
        let old = self.parameters.get(index).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "model has {} parameters, there is no parameter {index}",
                self.parameters.len()
            ))
        })?;
        self.replace_output_uses(&old.output(0), &param.output(0))?;
        if let Some(slot) = self.parameters.get_mut(index) {
            *slot = param;
        }
        Ok(())
    }

    /// Every node in topological order (producers first), parameters first; detects cycles.
    pub fn ordered_ops(&self) -> Result<Vec<Node>> {
        topological_order(
            self.parameters
                .iter()
                .chain(&self.results)
                .chain(&self.sinks)
                .cloned(),
        )
    }

    /// Model inputs: output 0 of each parameter.
    pub fn inputs(&self) -> Vec<Output> {
        self.parameters.iter().map(|p| p.output(0)).collect()
    }

    /// How messages name input `i`: its first tensor name, else its Parameter's friendly name.
    pub fn input_label(&self, i: usize) -> String {
        match self.parameters.get(i) {
            Some(p) => p.output(0).any_name().unwrap_or_else(|_| p.friendly_name()),
            None => format!("#{i}"),
        }
    }

    /// Model outputs: output 0 of each result.
    pub fn outputs(&self) -> Vec<Output> {
        self.results.iter().map(|r| r.output(0)).collect()
    }

    /// The tensor names of model output `i` (those of the tensor its Result consumes).
    pub fn output_names(&self, i: usize) -> Result<std::collections::BTreeSet<String>> {
        let r = self
            .results
            .get(i)
            .ok_or_else(|| Error::NotFound(format!("model has no output {i}")))?;
        Ok(r.input(0)?.names())
    }

    /// Index of the input carrying tensor name `name`.
    pub fn input_index(&self, name: &str) -> Result<usize> {
        self.parameters
            .iter()
            .position(|p| p.output(0).names().contains(name))
            .or_else(|| {
                self.parameters
                    .iter()
                    .position(|p| p.friendly_name() == name)
            })
            .ok_or_else(|| Error::NotFound(format!("model has no input named '{name}'")))
    }

    /// Index of the output carrying tensor name `name`.
    pub fn output_index(&self, name: &str) -> Result<usize> {
        (0..self.results.len())
            .find(|&i| self.output_names(i).is_ok_and(|n| n.contains(name)))
            .ok_or_else(|| Error::NotFound(format!("model has no output named '{name}'")))
    }

    /// True when any input or output shape is not static.
    pub fn is_dynamic(&self) -> bool {
        self.ordered_ops()
            .map(|ops| {
                ops.iter()
                    .any(|n| n.outputs().iter().any(|o| o.shape().is_dynamic()))
            })
            .unwrap_or(true)
    }

    /// Re-runs shape inference over the whole graph in order.
    pub fn validate(&self) -> Result<()> {
        for n in self.ordered_ops()? {
            n.validate()?;
        }
        Ok(())
    }

    /// Sets new input shapes (by input index) and re-infers every node.
    pub fn reshape(&self, shapes: &[(usize, PartialShape)]) -> Result<()> {
        for (i, shape) in shapes {
            let p = self
                .parameters
                .get(*i)
                .ok_or_else(|| Error::NotFound(format!("model has no input {i}")))?;
            crate::ops::structure::set_parameter_shape(p, shape.clone())?;
        }
        self.validate()
    }

    /// A deep copy: new nodes with the same ops, names and runtime info.
    pub fn deep_clone(&self) -> Result<Model> {
        let mut map: HashMap<u64, Node> = HashMap::new();
        for n in self.ordered_ops()? {
            let inputs = n
                .inputs()
                .iter()
                .map(|o| {
                    map.get(&o.node.id())
                        .map(|nn| nn.output(o.index))
                        .ok_or_else(|| Error::Internal("clone order".into()))
                })
                .collect::<Result<Vec<_>>>()?;
            let copy = Node::with_name(n.op().clone_op(), inputs, &n.friendly_name())?;
            for i in 0..n.output_count() {
                let p = n.port(i)?;
                copy.update_port(i, |q| {
                    q.names = p.names.clone();
                    q.rt_info = p.rt_info.clone();
                })?;
            }
            let rt = n.rt_info();
            copy.update_rt_info(|r| *r = rt);
            map.insert(n.id(), copy);
        }
        let pick = |v: &[Node]| -> Result<Vec<Node>> {
            v.iter()
                .map(|n| {
                    map.get(&n.id())
                        .cloned()
                        .ok_or_else(|| Error::Internal("clone lost a node".into()))
                })
                .collect()
        };
        Ok(Model {
            name: self.name.clone(),
            parameters: pick(&self.parameters)?,
            results: pick(&self.results)?,
            sinks: pick(&self.sinks)?,
            rt_info: self.rt_info.clone(),
            variables: self.variables.clone(),
        })
    }
}

/// Topological order of everything reachable (through inputs) from `roots`; errors on cycles.
pub fn topological_order(roots: impl IntoIterator<Item = Node>) -> Result<Vec<Node>> {
    #[derive(PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: HashMap<u64, Mark> = HashMap::new();
    let mut order = Vec::new();
    for root in roots {
        if marks.contains_key(&root.id()) {
            continue;
        }
        let mut stack: Vec<(Node, usize)> = vec![(root.clone(), 0)];
        marks.insert(root.id(), Mark::Open);
        while let Some((node, next)) = stack.pop() {
            let inputs = node.inputs();
            if next < inputs.len() {
                stack.push((node.clone(), next + 1));
                let child = inputs[next].node.clone();
                match marks.get(&child.id()) {
                    Some(Mark::Open) => {
                        return Err(Error::Parse(format!(
                            "the graph has a cycle through {}",
                            child.describe()
                        )));
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(child.id(), Mark::Open);
                        stack.push((child, 0));
                    }
                }
            } else {
                marks.insert(node.id(), Mark::Done);
                order.push(node);
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ElementType;
    use crate::ops::registry::create;
    use crate::ops::structure::Parameter;

    fn param(dims: &[usize]) -> Node {
        let p = Parameter::new(ElementType::F32, PartialShape::from_static(dims));
        Node::new(Box::new(p), vec![]).unwrap()
    }

    fn relu_model(p: &Node) -> Model {
        let relu = Node::new(create("Relu", 1).unwrap(), vec![p.output(0)]).unwrap();
        let r = Node::new(create("Result", 1).unwrap(), vec![relu.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p.clone()], "m").unwrap()
    }

    #[test]
    fn replace_parameter_redirects_consumers_and_reinfers() {
        let old = param(&[2, 3]);
        let mut m = relu_model(&old);
        let new = param(&[4, 5]);
        m.replace_parameter(0, new.clone()).unwrap();
        assert_eq!(m.parameter_index(&new), Some(0));
        assert_eq!(m.parameter_index(&old), None);
        m.validate().unwrap();
        assert_eq!(m.outputs()[0].shape(), PartialShape::from_static(&[4, 5]));
        m.check_parameters().unwrap();
    }

    #[test]
    fn replace_parameter_rejects_bad_arguments() {
        let old = param(&[2]);
        let mut m = relu_model(&old);
        assert!(m.replace_parameter(3, param(&[2])).is_err());
        let relu = m.results[0].input(0).unwrap().node;
        assert!(m.replace_parameter(0, relu).is_err());
    }

    #[test]
    fn an_unlisted_parameter_fails_the_check() {
        let old = param(&[2]);
        let mut m = relu_model(&old);
        m.parameters.clear();
        assert!(m.check_parameters().is_err());
    }
}
