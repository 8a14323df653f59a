//! `Convolution(x, W) * s`, with constant filters and a constant per-output-channel (or scalar) `s`, becomes
//! `Convolution(x, W · s)`: the multiplication moves into the weights once, at compile time.

use crate::error::Result;
use crate::ir::{Model, Node, Output, Tensor};
use crate::ops::binary::Binary;
use crate::ops::conv::{Convolution, GroupConvolution};
use crate::transformations::{
    constant_node, constant_value, per_channel_values, replace_outputs, use_counts,
};
use std::collections::HashMap;

/// Folds every such Multiply into the convolution before it.
pub fn fold_scale_into_conv(model: &Model) -> Result<bool> {
    let uses = use_counts(model)?;
    let mut replacements = HashMap::new();
    for node in model.ordered_ops()? {
        let is_mul = node
            .op()
            .as_any()
            .downcast_ref::<Binary>()
            .is_some_and(|b| b.row.name == "Multiply");
        if !is_mul || node.input_count() != 2 {
            continue;
        }
        for (conv_side, scale_side) in [(0, 1), (1, 0)] {
            let (conv_out, scale_out) = (node.input(conv_side)?, node.input(scale_side)?);
            if uses.get(&(conv_out.node.id(), conv_out.index)) != Some(&1) {
                continue;
            }
            if let Some(folded) = fold(&conv_out.node, &scale_out)? {
                replacements.insert((node.id(), 0), folded);
                break;
            }
        }
    }
    let changed = !replacements.is_empty();
    replace_outputs(model, &replacements)?;
    Ok(changed)
}

/// The convolution with scaled filters, or None when the pattern does not apply.
fn fold(conv: &Node, scale: &Output) -> Result<Option<Output>> {
    let op = conv.op();
    let any = op.as_any();
    if !any.is::<Convolution>() && !any.is::<GroupConvolution>() {
        return Ok(None);
    }
    let inputs = conv.inputs();
    let (Some(data), Some(filters_out)) = (inputs.first(), inputs.get(1)) else {
        return Ok(None);
    };
    let (Some(filters), Some(s)) = (constant_value(filters_out), constant_value(scale)) else {
        return Ok(None);
    };
    let out_shape = conv.output(0).shape();
    let Some(channels) = out_shape
        .dims()
        .and_then(|d| d.get(1))
        .and_then(|d| d.get())
    else {
        return Ok(None);
    };
    let Some(per_channel) =
        per_channel_values(&s, channels as usize, out_shape.rank().unwrap_or(0))
    else {
        return Ok(None);
    };
    if filters.element_type() != s.element_type() || filters.is_empty() {
        return Ok(None);
    }
    // Both filter layouts ([C_out, ...] and [G, C_out / G, ...]) keep each output channel's weights contiguous.
    let row = (filters.len() / channels as usize).max(1);
    let scaled = match filters.typed_or_copied::<f32>() {
        // f32 products are rounded once, as the f64 products rounded back to f32 are (the exact product of two
        // f32 values fits an f64). They are computed where they end up, in the new tensor: no intermediate
        // vector (fresh pages cost as much as the arithmetic here).
        Ok(w) => {
            let mut scaled = Tensor::zeros(filters.element_type(), filters.shape());
            let values = scaled.typed_mut::<f32>()?;
            values.copy_from_slice(&w);
            for (weights, &s) in values.chunks_exact_mut(row).zip(&per_channel) {
                weights.iter_mut().for_each(|w| *w *= s as f32);
            }
            scaled
        }
        Err(_) => {
            let scaled: Vec<f64> = filters
                .to_f64_vec()
                .iter()
                .enumerate()
                .map(|(i, w)| w * per_channel[i / row])
                .collect();
            Tensor::from_f64s(filters.element_type(), filters.shape(), &scaled)?
        }
    };
    // The original filter is no longer read (the user's model may still hold it).
    filters.release_mapped_pages();
    let name = conv.friendly_name();
    let new_filters = constant_node(scaled, &format!("{name}/scaled_filters"))?;
    let new_conv = Node::with_name(
        op.clone_op(),
        vec![data.clone(), new_filters.output(0)],
        &name,
    )?;
    Ok(Some(new_conv.output(0)))
}
