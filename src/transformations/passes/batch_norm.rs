//! BatchNormInference with constant parameters becomes `x * scale + shift` with per-channel constants, which
//! the elementwise kernels run fast and `conv_scale` folds into a preceding convolution.

use crate::error::Result;
use crate::ir::{ElementType, Model, Node, Tensor};
use crate::ops::normalization::BatchNormInference;
use crate::ops::registry::create;
use crate::transformations::{constant_node, constant_value, replace_outputs};
use std::collections::HashMap;

/// Replaces each BatchNormInference whose gamma, beta, mean and variance are constants.
pub fn decompose_batch_norm(model: &Model) -> Result<bool> {
    let mut replacements = HashMap::new();
    for node in model.ordered_ops()? {
        let Some(bn) = node
            .op()
            .as_any()
            .downcast_ref::<BatchNormInference>()
            .cloned()
        else {
            continue;
        };
        if let Some(out) = decompose(&node, &bn)? {
            replacements.insert((node.id(), 0), out);
        }
    }
    let changed = !replacements.is_empty();
    replace_outputs(model, &replacements)?;
    Ok(changed)
}

/// The `x * scale + shift` replacement of one node, or None when its parameters are not constant.
fn decompose(node: &Node, bn: &BatchNormInference) -> Result<Option<crate::ir::Output>> {
    let inputs = node.inputs();
    if inputs.len() != 5 {
        return Ok(None);
    }
    let [data, gamma, beta, mean, var] = bn.ordered(&inputs);
    let Some(rank) = data.shape().rank() else {
        return Ok(None);
    };
    let params: Option<Vec<Vec<f64>>> = [gamma, beta, mean, var]
        .iter()
        .map(|o| constant_value(o).map(|t| t.to_f64_vec()))
        .collect();
    let (Some(params), et) = (params, data.element_type()) else {
        return Ok(None);
    };
    if rank < 2
        || !matches!(
            et,
            ElementType::F32 | ElementType::F16 | ElementType::F64 | ElementType::BF16
        )
    {
        return Ok(None);
    }
    let channels = params[0].len();
    if params.iter().any(|p| p.len() != channels) {
        return Ok(None);
    }
    let scale: Vec<f64> = (0..channels)
        .map(|c| params[0][c] / (params[3][c] + bn.epsilon).sqrt())
        .collect();
    let shift: Vec<f64> = (0..channels)
        .map(|c| params[1][c] - params[2][c] * scale[c])
        .collect();
    let mut shape = vec![1usize; rank - 1];
    shape[0] = channels;
    let name = node.friendly_name();
    let scale = constant_node(
        Tensor::from_f64s(et, &shape, &scale)?,
        &format!("{name}/scale"),
    )?;
    let shift = constant_node(
        Tensor::from_f64s(et, &shape, &shift)?,
        &format!("{name}/shift"),
    )?;
    let mul = Node::with_name(
        create("Multiply", 1)?,
        vec![data.clone(), scale.output(0)],
        &format!("{name}/mul"),
    )?;
    let add = Node::with_name(
        create("Add", 1)?,
        vec![mul.output(0), shift.output(0)],
        &name,
    )?;
    Ok(Some(add.output(0)))
}
