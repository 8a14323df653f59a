//! CPU lowering: finds the chains that follow a convolution or a MatMul by constant weights and that its kernel
//! can apply to each output tile while it is still in cache — `Convolution → [Add(per-channel constant)] →
//! [Add(residual)] → [activation]`, `MatMul → [Add(per-column constant)] → [Add(residual)] → [activation]` —
//! where every intermediate value has no other reader, so the plan runs the chain as one step.
//!
//! Activations: Relu, Clamp (ReLU6), Gelu (both modes), and Swish written as `x * Sigmoid(x)` (YOLO's SiLU).

use super::kernels::epilogue::{Activation, Epilogue};
use crate::error::Result;
use crate::ir::{ElementType, Node, Output, Tensor};
use crate::ops::activation::{Clamp, Gelu, GeluApproximation};
use crate::transformations::{Readers, constant_value, is_binary, is_unary, per_channel_values};
use std::collections::HashMap;

/// A convolution or MatMul and the nodes its epilogue absorbs.
#[derive(Debug)]
pub struct Fusion {
    /// What the kernel applies to its output.
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

/// Walks the chain after one convolution or MatMul.
struct Chain<'a> {
    readers: &'a Readers,
    /// Position of each node in the execution order.
    position: &'a HashMap<u64, usize>,
    head_position: usize,
    /// The node whose output the chain ends with so far.
    tail: Node,
    fusion: Fusion,
}

impl Chain<'_> {
    fn absorb(&mut self, node: &Node) {
        self.fusion.absorbed.push(node.id());
        self.tail = node.clone();
    }

    /// `tail + constant`, the constant's values per channel or per column as `values` reads them.
    fn bias(&mut self, values: impl Fn(&Tensor) -> Option<Vec<f64>>) {
        let Some(add) = self.readers.sole(&self.tail.output(0)).cloned() else {
            return;
        };
        if !is_binary(&add, "Add") || add.output(0).shape() != self.tail.output(0).shape() {
            return;
        }
        let values = other_input(&add, &self.tail)
            .and_then(|o| constant_value(&o))
            .filter(|t| t.element_type() == ElementType::F32)
            .and_then(|t| values(&t));
        if let Some(values) = values {
            self.fusion.epilogue.bias = Some(values.iter().map(|v| *v as f32).collect());
            self.absorb(&add);
        }
    }

    /// `tail + residual`, the residual a value of the same shape computed before the chain's head runs.
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
            .is_some_and(|&p| p < self.head_position);
        if ready_before
            && other.shape() == add.output(0).shape()
            && other.element_type() == ElementType::F32
        {
            self.fusion.residual = Some(other);
            self.fusion.epilogue.residual = true;
            self.absorb(&add);
        }
    }

    /// Relu, Clamp, Gelu or `tail * Sigmoid(tail)`.
    fn activation(&mut self) {
        let readers = self.readers.of(&self.tail.output(0));
        if let [only] = readers {
            let op = only.op();
            let activation = if is_unary(only, "Relu") {
                Some(Activation::Relu)
            } else if let Some(c) = op.as_any().downcast_ref::<Clamp>() {
                Some(Activation::Clamp(c.min as f32, c.max as f32))
            } else {
                op.as_any()
                    .downcast_ref::<Gelu>()
                    .map(|g| match g.approximation_mode {
                        GeluApproximation::Erf => Activation::GeluErf,
                        GeluApproximation::Tanh => Activation::GeluTanh,
                    })
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

/// The values of a constant added along the last axis of a `[..., n]` output: shape `[n]` or `[1, …, 1, n]`.
fn per_column_values(t: &Tensor, n: usize, rank: usize) -> Option<Vec<f64>> {
    let shape = t.shape();
    let (&last, lead) = shape.split_last()?;
    (last == n && shape.len() <= rank && lead.iter().all(|&d| d == 1)).then(|| t.to_f64_vec())
}

/// Every fusable chain, keyed by the node id of the convolution or MatMul that heads it.
pub fn epilogues(order: &[Node]) -> Result<HashMap<u64, Fusion>> {
    let readers = Readers::of_graph(order);
    let position: HashMap<u64, usize> =
        order.iter().enumerate().map(|(i, n)| (n.id(), i)).collect();
    let mut found = HashMap::new();
    for (head_position, head) in order.iter().enumerate() {
        let is_conv = matches!(head.type_name(), "Convolution" | "GroupConvolution");
        let is_matmul = head.type_name() == "MatMul"
            && head
                .inputs()
                .get(1)
                .is_some_and(|w| constant_value(w).is_some());
        if !(is_conv || is_matmul) || head.output_count() != 1 {
            continue;
        }
        let out = head.output(0);
        let dims = out.shape().dims().map(|d| d.to_vec());
        let Some(dims) = dims else { continue };
        // Bias values run along the channel axis (1) of a convolution, the last axis of a MatMul.
        let axis = if is_conv {
            1
        } else {
            dims.len().saturating_sub(1)
        };
        let Some(width) = dims.get(axis).and_then(|d| d.get()) else {
            continue;
        };
        if out.element_type() != ElementType::F32 {
            continue;
        }
        let (rank, width) = (dims.len(), width as usize);
        let mut chain = Chain {
            readers: &readers,
            position: &position,
            head_position,
            tail: head.clone(),
            fusion: Fusion {
                epilogue: Epilogue::default(),
                residual: None,
                absorbed: Vec::new(),
            },
        };
        if is_conv {
            chain.bias(|t| per_channel_values(t, width, rank));
        } else {
            chain.bias(|t| per_column_values(t, width, rank));
        }
        chain.residual();
        chain.activation();
        if !chain.fusion.absorbed.is_empty() {
            found.insert(head.id(), chain.fusion);
        }
    }
    Ok(found)
}
