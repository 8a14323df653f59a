//! A plain interpreter over a model's graph: evaluation of concrete tensors (the reference for sub-graph ops
//! such as If and Loop) and the matching compile-time inference of descriptors from given parameter descriptors.

use super::node::{Node, infer_outputs};
use super::{Model, PartialShape, Tensor};
use crate::error::{Error, Result};
use crate::ops::TensorDesc;
use crate::ops::structure::Parameter;
use std::collections::HashMap;

/// The values fed to a model's parameters, keyed by parameter node id; errors unless there is one per parameter.
fn parameter_values<T: Clone>(model: &Model, values: &[T]) -> Result<HashMap<u64, T>> {
    if values.len() != model.parameters.len() {
        return Err(Error::InvalidArgument(format!(
            "model '{}' has {} parameter(s), {} value(s) were given",
            model.name,
            model.parameters.len(),
            values.len()
        )));
    }
    Ok(model
        .parameters
        .iter()
        .map(Node::id)
        .zip(values.iter().cloned())
        .collect())
}

/// The declared element type and shape of a Parameter node.
fn declared(node: &Node) -> Result<(crate::ir::ElementType, PartialShape)> {
    let op = node.op();
    let p = op
        .as_any()
        .downcast_ref::<Parameter>()
        .ok_or_else(|| Error::Internal(format!("{} is not a Parameter", node.describe())))?;
    Ok((p.element_type, p.shape.clone()))
}

/// Errors unless a value of element type `et` and shape `shape` may feed Parameter `node`.
fn check_fits(node: &Node, et: crate::ir::ElementType, shape: &PartialShape) -> Result<()> {
    let (want_et, want_shape) = declared(node)?;
    if want_et.merge(et).is_none() || !want_shape.compatible(shape) {
        return Err(Error::Shape(format!(
            "{} expects {want_et} {want_shape}, was given {et} {shape}",
            node.describe()
        )));
    }
    Ok(())
}

/// The outputs of every node of `model` in order, computed by `step` from the outputs of its producers.
fn run_graph<T: Clone>(
    model: &Model,
    params: &HashMap<u64, T>,
    mut step: impl FnMut(&Node, Vec<T>) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let mut values: HashMap<u64, Vec<T>> = HashMap::new();
    for node in model.ordered_ops()? {
        let outs = match params.get(&node.id()) {
            Some(v) => vec![v.clone()],
            None => {
                let inputs = node
                    .inputs()
                    .iter()
                    .map(|o| {
                        values
                            .get(&o.node.id())
                            .and_then(|v| v.get(o.index))
                            .cloned()
                            .ok_or_else(|| {
                                Error::Internal(format!(
                                    "{} reads output {} of {}, which has no value",
                                    node.describe(),
                                    o.index,
                                    o.node.describe()
                                ))
                            })
                    })
                    .collect::<Result<Vec<T>>>()?;
                step(&node, inputs).map_err(|e| e.context(node.describe()))?
            }
        };
        values.insert(node.id(), outs);
    }
    model
        .results
        .iter()
        .map(|r| {
            values
                .get(&r.id())
                .and_then(|v| v.first())
                .cloned()
                .ok_or_else(|| Error::Internal(format!("{} has no value", r.describe())))
        })
        .collect()
}

/// Evaluates `model` on `inputs` (one per parameter, in order) with each op's reference `evaluate`;
/// returns one tensor per Result.
pub fn evaluate_model(model: &Model, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    for (p, t) in model.parameters.iter().zip(inputs) {
        check_fits(p, t.element_type(), &PartialShape::from_static(t.shape()))?;
    }
    let params = parameter_values(model, inputs)?;
    run_graph(model, &params, |node, ins| {
        let refs: Vec<&Tensor> = ins.iter().collect();
        node.op().evaluate(&refs)
    })
}

/// Infers the descriptor of every Result of `model` when its parameters are described by `inputs` (one per
/// parameter, in order), folding small known values as node validation does; the model itself is not changed.
pub fn infer_model(model: &Model, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
    for (p, d) in model.parameters.iter().zip(inputs) {
        check_fits(p, d.element_type, &d.shape)?;
    }
    let params = parameter_values(model, inputs)?;
    run_graph(model, &params, |node, ins| {
        infer_outputs(node.op().as_ref(), &ins)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ElementType;
    use crate::ops::registry::create;

    fn add_model() -> Model {
        let p = |n: &str| {
            Node::with_name(
                Box::new(Parameter::new(
                    ElementType::F32,
                    PartialShape::dynamic_rank(),
                )),
                vec![],
                n,
            )
            .unwrap()
        };
        let (a, b) = (p("a"), p("b"));
        let add = Node::new(create("Add", 1).unwrap(), vec![a.output(0), b.output(0)]).unwrap();
        let res = Node::new(create("Result", 1).unwrap(), vec![add.output(0)]).unwrap();
        Model::new(vec![res], vec![], vec![a, b], "add").unwrap()
    }

    #[test]
    fn evaluates_in_order() {
        let m = add_model();
        let a = Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap();
        let b = Tensor::from_vec(&[1], vec![10f32]).unwrap();
        let out = evaluate_model(&m, &[a, b]).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[11.0, 12.0]);
    }

    #[test]
    fn infers_without_changing_the_model() {
        let m = add_model();
        let d = TensorDesc::new(ElementType::F32, PartialShape::from_static(&[3, 1]));
        let e = TensorDesc::of_tensor(&Tensor::from_vec(&[4], vec![1f32; 4]).unwrap());
        let out = infer_model(&m, &[d, e]).unwrap();
        assert_eq!(out[0].shape, PartialShape::from_static(&[3, 4]));
        assert!(m.outputs()[0].shape().rank().is_none());
    }

    #[test]
    fn rejects_wrong_inputs() {
        let m = add_model();
        let a = Tensor::from_vec(&[1], vec![1f32]).unwrap();
        assert!(evaluate_model(&m, std::slice::from_ref(&a)).is_err());
        let i = Tensor::from_vec(&[1], vec![1i32]).unwrap();
        assert!(evaluate_model(&m, &[a, i]).is_err());
    }
}
