//! CPU lowering: finds `Convolution → Add(per-channel constant) [→ Relu]` chains whose intermediate values have no
//! other reader, so the plan runs each chain as one convolution step with a bias/ReLU epilogue.

use super::kernels::conv::Epilogue;
use crate::error::Result;
use crate::ir::{ElementType, Node};
use crate::ops::binary::Binary;
use crate::ops::unary::Unary;
use crate::transformations::{constant_value, per_channel_values};
use std::collections::HashMap;
use std::sync::Arc;

/// A convolution and the nodes its epilogue absorbs.
#[derive(Debug)]
pub struct ConvFusion {
    /// What the convolution kernel applies to its output.
    pub epilogue: Epilogue,
    /// The absorbed nodes (the Add, then the Relu when there is one); the last one's output is the chain's.
    pub absorbed: Vec<u64>,
}

/// The readers of every output: (node id, port) → reading nodes.
fn readers(order: &[Node]) -> HashMap<(u64, usize), Vec<Node>> {
    let mut map: HashMap<(u64, usize), Vec<Node>> = HashMap::new();
    for n in order {
        for o in n.inputs() {
            map.entry((o.node.id(), o.index))
                .or_default()
                .push(n.clone());
        }
    }
    map
}

/// The only reader of output 0 of `node`, if it has exactly one.
fn sole_reader<'a>(node: &Node, readers: &'a HashMap<(u64, usize), Vec<Node>>) -> Option<&'a Node> {
    match readers.get(&(node.id(), 0)).map(Vec::as_slice) {
        Some([only]) => Some(only),
        _ => None,
    }
}

/// Every fusable chain, keyed by the convolution's node id.
pub fn conv_epilogues(order: &[Node]) -> Result<HashMap<u64, ConvFusion>> {
    let readers = readers(order);
    let mut found = HashMap::new();
    for conv in order {
        if !matches!(conv.type_name(), "Convolution" | "GroupConvolution")
            || conv.output_count() != 1
        {
            continue;
        }
        let out = conv.output(0);
        let (Some(rank), Some(channels)) = (
            out.shape().rank(),
            out.shape()
                .dims()
                .and_then(|d| d.get(1))
                .and_then(|d| d.get()),
        ) else {
            continue;
        };
        if out.element_type() != ElementType::F32 {
            continue;
        }
        let Some(add) = sole_reader(conv, &readers) else {
            continue;
        };
        let is_add = add
            .op()
            .as_any()
            .downcast_ref::<Binary>()
            .is_some_and(|b| b.row.name == "Add");
        if !is_add || add.input_count() != 2 || add.output(0).shape() != out.shape() {
            continue;
        }
        let inputs = add.inputs();
        let Some(other) = inputs.iter().find(|o| o.node != *conv) else {
            continue;
        };
        let bias = constant_value(other).filter(|t| t.element_type() == ElementType::F32);
        let Some(values) = bias.and_then(|t| per_channel_values(&t, channels as usize, rank))
        else {
            continue;
        };
        let mut fusion = ConvFusion {
            epilogue: Epilogue {
                bias: Some(values.iter().map(|v| *v as f32).collect::<Arc<[f32]>>()),
                relu: false,
            },
            absorbed: vec![add.id()],
        };
        if let Some(relu) = sole_reader(add, &readers)
            && relu
                .op()
                .as_any()
                .downcast_ref::<Unary>()
                .is_some_and(|u| u.row.name == "Relu")
        {
            fusion.epilogue.relu = true;
            fusion.absorbed.push(relu.id());
        }
        found.insert(conv.id(), fusion);
    }
    Ok(found)
}
