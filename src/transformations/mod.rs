//! Graph transformations run at compile time: a list of passes, each a function that rewrites a model in place
//! and says whether it changed anything, plus the graph-editing helpers they share.

pub mod make_stateful;
pub mod passes;

use crate::error::Result;
use crate::ir::{Model, Node, Output, Tensor};
use crate::ops::structure::Constant;
use std::collections::HashMap;

/// A pass: rewrites the model, returns true when it changed something.
pub type Pass = fn(&Model) -> Result<bool>;

/// The passes every device runs before lowering, in order.
pub const COMMON_PASSES: &[Pass] = &[
    passes::batch_norm::decompose_batch_norm,
    passes::conv_scale::fold_scale_into_conv,
    passes::gelu_fusion::fuse_gelu,
];

/// Runs the common passes in order.
pub fn run_common_passes(model: &Model) -> Result<()> {
    for pass in COMMON_PASSES {
        pass(model)?;
    }
    Ok(())
}

/// How many inputs (across all nodes) read each output, keyed by (node id, port).
pub fn use_counts(model: &Model) -> Result<HashMap<(u64, usize), usize>> {
    let mut counts = HashMap::new();
    for n in model.ordered_ops()? {
        for o in n.inputs() {
            *counts.entry((o.node.id(), o.index)).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// The nodes reading each output of a graph, one entry per reading input.
pub struct Readers(HashMap<(u64, usize), Vec<Node>>);

impl Readers {
    /// The readers of every output of `ops`.
    pub fn of_graph(ops: &[Node]) -> Readers {
        let mut map: HashMap<(u64, usize), Vec<Node>> = HashMap::new();
        for n in ops {
            for o in n.inputs() {
                map.entry((o.node.id(), o.index))
                    .or_default()
                    .push(n.clone());
            }
        }
        Readers(map)
    }

    /// The nodes reading `o` (a node reading it twice appears twice).
    pub fn of(&self, o: &Output) -> &[Node] {
        self.0
            .get(&(o.node.id(), o.index))
            .map_or(&[], Vec::as_slice)
    }

    /// The only reader of `o`, when it is read exactly once.
    pub fn sole(&self, o: &Output) -> Option<&Node> {
        match self.of(o) {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// True when `node` is the two-input elementwise op `name` (`Add`, `Multiply`, …).
pub fn is_binary(node: &Node, name: &str) -> bool {
    node.input_count() == 2
        && node
            .op()
            .as_any()
            .downcast_ref::<crate::ops::binary::Binary>()
            .is_some_and(|b| b.row.name == name)
}

/// True when `node` is the one-input elementwise op `name` (`Relu`, `Erf`, …).
pub fn is_unary(node: &Node, name: &str) -> bool {
    node.op()
        .as_any()
        .downcast_ref::<crate::ops::unary::Unary>()
        .is_some_and(|u| u.row.name == name)
}

/// Makes every reader of each key output read its replacement instead; tensor names move to the replacement.
/// Re-infers the graph afterwards.
pub fn replace_outputs(model: &Model, replacements: &HashMap<(u64, usize), Output>) -> Result<()> {
    if replacements.is_empty() {
        return Ok(());
    }
    let ops = model.ordered_ops()?;
    let by_id: HashMap<u64, &Node> = ops.iter().map(|n| (n.id(), n)).collect();
    for (&(id, index), new) in replacements {
        if let Some(old) = by_id.get(&id) {
            new.add_names(old.output(index).names())?;
        }
    }
    for n in &ops {
        for (i, src) in n.inputs().iter().enumerate() {
            if let Some(new) = replacements.get(&(src.node.id(), src.index)) {
                n.set_input(i, new.clone())?;
            }
        }
    }
    model.validate()
}

/// The value of an output computable at compile time: a Constant, or a foldable op over such values
/// (for example the f16 → f32 decompression Convert of compressed weights).
pub fn constant_value(o: &Output) -> Option<Tensor> {
    if let Ok(Some(v)) = o.desc().map(|d| d.value) {
        return Some(v);
    }
    let node = &o.node;
    let op = node.op();
    if let Some(c) = op.as_any().downcast_ref::<Constant>() {
        return Some(c.value.clone());
    }
    if !op.is_foldable() || node.input_count() == 0 {
        return None;
    }
    let inputs: Option<Vec<Tensor>> = node.inputs().iter().map(constant_value).collect();
    let inputs = inputs?;
    let refs: Vec<&Tensor> = inputs.iter().collect();
    op.evaluate(&refs).ok()?.into_iter().nth(o.index)
}

/// A new Constant node holding `value`.
pub fn constant_node(value: Tensor, name: &str) -> Result<Node> {
    Node::with_name(Box::new(Constant::new(value)), vec![], name)
}

/// The values of `s` as one per output channel of an `[N, C, spatial...]` tensor of rank `rank`, when `s`
/// broadcasts against it only along the channel axis (axis 1) or is a single value.
pub fn per_channel_values(s: &Tensor, channels: usize, rank: usize) -> Option<Vec<f64>> {
    let v = s.to_f64_vec();
    if v.len() == 1 && s.rank() <= rank {
        return Some(vec![v[0]; channels]);
    }
    let shape = s.shape();
    // Right-aligned against the output [N, C, spatial...]: the channel axis sits rank - 1 - 1 from the end.
    if v.len() != channels || shape.len() > rank || shape.len() < rank - 1 {
        return None;
    }
    let channel_axis = shape.len() - (rank - 1);
    let only_channel = shape.iter().enumerate().all(|(i, &d)| {
        if i == channel_axis {
            d == channels
        } else {
            d == 1
        }
    });
    only_channel.then_some(v)
}
