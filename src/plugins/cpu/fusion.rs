//! CPU lowering: finds the chains that follow a convolution and that its kernel can apply to each output block
//! while it is still in cache — `Convolution → [Add(per-channel constant)] → [Add(residual)] → [activation]` —
//! where every intermediate value has no other reader, so the plan runs the chain as one step.
//!
//! Activations: Relu, Clamp (ReLU6), and Swish written as `x * Sigmoid(x)` (YOLO's SiLU).

use super::kernels::conv::{Activation, Epilogue};
use crate::error::Result;
use crate::ir::{ElementType, Node, Output};
use crate::ops::activation::Clamp;
use crate::transformations::{Readers, constant_value, is_binary, is_unary, per_channel_values};
use std::collections::HashMap;

/// A convolution and the nodes its epilogue absorbs.
#[derive(Debug)]
pub struct ConvFusion {
    /// What the convolution kernel applies to its output.
    pub epilogue: Epilogue,
    /// The value added elementwise (a residual connection): an extra input of the fused step.
    pub residual: Option<Output>,
    /// The absorbed nodes in chain order; the last one's output is the chain's.
    pub absorbed: Vec<u64>,
}

/// The input of a binary `node` that is not output 0 of `from`.
fn other_input(node: &Node, from: &Node) -> Option<Output> {
    node.inputs().into_iter().find(|o| o.node != *from)
}

/// Walks the chain after one convolution.
struct Chain<'a> {
    readers: &'a Readers,
    /// Position of each node in the execution order.
    position: &'a HashMap<u64, usize>,
    conv_position: usize,
    /// The node whose output the chain ends with so far.
    tail: Node,
    fusion: ConvFusion,
}

impl Chain<'_> {
    fn absorb(&mut self, node: &Node) {
        self.fusion.absorbed.push(node.id());
        self.tail = node.clone();
    }

    /// `tail + per-channel constant`.
    fn bias(&mut self, channels: usize, rank: usize) {
        let Some(add) = self.readers.sole(&self.tail.output(0)).cloned() else {
            return;
        };
        if !is_binary(&add, "Add") || add.output(0).shape() != self.tail.output(0).shape() {
            return;
        }
        let values = other_input(&add, &self.tail)
            .and_then(|o| constant_value(&o))
            .filter(|t| t.element_type() == ElementType::F32)
            .and_then(|t| per_channel_values(&t, channels, rank));
        if let Some(values) = values {
            self.fusion.epilogue.bias = Some(values.iter().map(|v| *v as f32).collect());
            self.absorb(&add);
        }
    }

    /// `tail + residual`, the residual a value of the same shape computed before the convolution runs.
    fn residual(&mut self) {
        let Some(add) = self.readers.sole(&self.tail.output(0)).cloned() else {
            return;
        };
        if !is_binary(&add, "Add") || add.output(0).shape() != self.tail.output(0).shape() {
            return;
        }
        let Some(other) = other_input(&add, &self.tail) else {
            return;
        };
        let ready_before = self
            .position
            .get(&other.node.id())
            .is_some_and(|&p| p < self.conv_position);
        if ready_before
            && other.shape() == add.output(0).shape()
            && other.element_type() == ElementType::F32
        {
            self.fusion.residual = Some(other);
            self.fusion.epilogue.residual = true;
            self.absorb(&add);
        }
    }

    /// Relu, Clamp or `tail * Sigmoid(tail)`.
    fn activation(&mut self) {
        let readers = self.readers.of(&self.tail.output(0));
        if let [only] = readers {
            let op = only.op();
            let activation = if is_unary(only, "Relu") {
                Some(Activation::Relu)
            } else {
                op.as_any()
                    .downcast_ref::<Clamp>()
                    .map(|c| Activation::Clamp(c.min as f32, c.max as f32))
            };
            if let Some(a) = activation {
                self.fusion.epilogue.activation = a;
                let only = only.clone();
                self.absorb(&only);
            }
            return;
        }
        // Swish: the tail read by exactly a Sigmoid and a Multiply of the tail by that Sigmoid.
        let (sigmoid, multiply) = match readers {
            [a, b] if is_unary(a, "Sigmoid") => (a, b),
            [a, b] if is_unary(b, "Sigmoid") => (b, a),
            _ => return,
        };
        let swish = is_binary(multiply, "Multiply")
            && self
                .readers
                .sole(&sigmoid.output(0))
                .is_some_and(|r| r == multiply)
            && other_input(multiply, &self.tail).is_some_and(|o| o.node == *sigmoid);
        if swish {
            let (sigmoid, multiply) = (sigmoid.clone(), multiply.clone());
            self.fusion.epilogue.activation = Activation::Swish;
            self.absorb(&sigmoid);
            self.absorb(&multiply);
        }
    }
}

/// Every fusable chain, keyed by the convolution's node id.
pub fn conv_epilogues(order: &[Node]) -> Result<HashMap<u64, ConvFusion>> {
    let readers = Readers::of_graph(order);
    let position: HashMap<u64, usize> =
        order.iter().enumerate().map(|(i, n)| (n.id(), i)).collect();
    let mut found = HashMap::new();
    for (conv_position, conv) in order.iter().enumerate() {
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
        let mut chain = Chain {
            readers: &readers,
            position: &position,
            conv_position,
            tail: conv.clone(),
            fusion: ConvFusion {
                epilogue: Epilogue::default(),
                residual: None,
                absorbed: Vec::new(),
            },
        };
        chain.bias(channels as usize, rank);
        chain.residual();
        chain.activation();
        if !chain.fusion.absorbed.is_empty() {
            found.insert(conv.id(), chain.fusion);
        }
    }
    Ok(found)
}
