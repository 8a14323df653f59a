//! The CPU execution plan: nodes in order with their kernels, value slots, compile-time constants folded,
//! and each slot released after its last use.

use super::kernels::{self, Kernel};
use crate::error::{Error, Result};
use crate::ir::shape::fmt_shape;
use crate::ir::{Model, Node, PartialShape, Tensor};
use crate::ops::TensorDesc;
use crate::runtime::plugin::ProfileEntry;
use std::collections::HashMap;
use std::time::Instant;

/// One computing step.
#[derive(Debug)]
struct Step {
    node_name: String,
    node_type: &'static str,
    kernel: Box<dyn Kernel>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// Slots whose last reader is this step: released right after it runs.
    release: Vec<usize>,
}

/// A compiled, executable graph.
#[derive(Debug)]
pub struct Plan {
    slot_count: usize,
    constants: Vec<(usize, Tensor)>,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
    steps: Vec<Step>,
}

/// Where a node output lives during execution.
type SlotMap = HashMap<(u64, usize), usize>;

impl Plan {
    /// Builds the plan: folds constant sub-graphs, selects a kernel per node and computes slot lifetimes.
    pub fn build(model: &Model) -> Result<Plan> {
        let order = model.ordered_ops()?;
        let mut slots: SlotMap = HashMap::new();
        let mut known: HashMap<usize, Tensor> = HashMap::new();
        let mut slot_count = 0usize;
        let mut steps = Vec::new();
        let mut new_slot = || {
            slot_count += 1;
            slot_count - 1
        };
        let mut fusions = super::fusion::conv_epilogues(&order)?;
        // Absorbed node id → the slot of the fused step that computes its output.
        let mut fused_into: HashMap<u64, usize> = HashMap::new();
        for node in &order {
            let ty = node.type_name();
            if let Some(&slot) = fused_into.get(&node.id()) {
                slots.insert((node.id(), 0), slot);
                continue;
            }
            let in_slots = node
                .inputs()
                .iter()
                .map(|o| {
                    slots.get(&(o.node.id(), o.index)).copied().ok_or_else(|| {
                        Error::Internal(format!(
                            "{} reads a value that has no slot",
                            node.describe()
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if ty == "Result" {
                // A Result shares its input's slot.
                let src = *in_slots
                    .first()
                    .ok_or_else(|| Error::Internal("Result without input".into()))?;
                slots.insert((node.id(), 0), src);
                continue;
            }
            let out_slots: Vec<usize> = (0..node.output_count()).map(|_| new_slot()).collect();
            for (i, s) in out_slots.iter().enumerate() {
                slots.insert((node.id(), i), *s);
            }
            if ty == "Parameter" {
                continue;
            }
            let op = node.op();
            let all_known = !in_slots.is_empty() && in_slots.iter().all(|s| known.contains_key(s));
            if (ty == "Constant" || all_known) && op.is_foldable() {
                let vals: Vec<&Tensor> = in_slots.iter().filter_map(|s| known.get(s)).collect();
                let outs = op.evaluate(&vals).map_err(|e| e.context(node.describe()))?;
                for (s, t) in out_slots.iter().zip(outs) {
                    known.insert(*s, t);
                }
                continue;
            }
            let descs = input_descs(node, &in_slots, &known)?;
            let fused = fusions.remove(&node.id()).and_then(|f| {
                let kernel = kernels::conv::with_epilogue(op.as_ref(), &descs, f.epilogue)?;
                Some((kernel, f.absorbed))
            });
            let kernel = match (fused, out_slots.first()) {
                (Some((kernel, absorbed)), Some(&slot)) => {
                    fused_into.extend(absorbed.into_iter().map(|id| (id, slot)));
                    kernel
                }
                _ => kernels::select(op.as_ref(), &descs),
            };
            steps.push(Step {
                node_name: node.friendly_name(),
                node_type: ty,
                kernel,
                inputs: in_slots,
                outputs: out_slots,
                release: Vec::new(),
            });
        }
        let input_slots = model
            .parameters
            .iter()
            .map(|p| {
                slots
                    .get(&(p.id(), 0))
                    .copied()
                    .ok_or_else(|| Error::Internal("parameter slot".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let output_slots = model
            .results
            .iter()
            .map(|r| {
                slots
                    .get(&(r.id(), 0))
                    .copied()
                    .ok_or_else(|| Error::Internal("result slot".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        // Keep only constants that some step reads (folded intermediates are dropped).
        let read: std::collections::HashSet<usize> = steps
            .iter()
            .flat_map(|s| s.inputs.iter().copied())
            .chain(output_slots.iter().copied())
            .collect();
        let constants: Vec<(usize, Tensor)> = known
            .into_iter()
            .filter(|(s, _)| read.contains(s))
            .collect();
        let mut plan = Plan {
            slot_count,
            constants,
            input_slots,
            output_slots,
            steps,
        };
        plan.compute_releases();
        Ok(plan)
    }

    /// Marks, for each slot that is neither a constant, an input nor an output, the step after which it is dead.
    fn compute_releases(&mut self) {
        let mut pinned = vec![false; self.slot_count];
        for &s in self.output_slots.iter().chain(&self.input_slots) {
            pinned[s] = true;
        }
        for (s, _) in &self.constants {
            pinned[*s] = true;
        }
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            for &s in step.inputs.iter().chain(&step.outputs) {
                last_use.insert(s, i);
            }
        }
        for (slot, step) in last_use {
            if !pinned[slot] {
                self.steps[step].release.push(slot);
            }
        }
    }

    /// Runs the plan on concrete inputs; with `profile`, records each step's time there.
    pub fn run(
        &self,
        inputs: &[Tensor],
        mut profile: Option<&mut Vec<ProfileEntry>>,
    ) -> Result<Vec<Tensor>> {
        if inputs.len() != self.input_slots.len() {
            return Err(Error::InvalidArgument(format!(
                "model expects {} inputs, got {}",
                self.input_slots.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.slot_count];
        for (s, t) in &self.constants {
            values[*s] = Some(t.clone());
        }
        for (s, t) in self.input_slots.iter().zip(inputs) {
            values[*s] = Some(t.clone());
        }
        for step in &self.steps {
            let args = step
                .inputs
                .iter()
                .map(|&s| {
                    values[s]
                        .as_ref()
                        .ok_or_else(|| Error::Internal(format!("slot {s} is empty")))
                })
                .collect::<Result<Vec<&Tensor>>>()?;
            let started = profile.is_some().then(Instant::now);
            let outs = step.kernel.run(&args).map_err(|e| {
                let shapes: Vec<String> = args
                    .iter()
                    .map(|t| format!("{}{}", t.element_type(), fmt_shape(t.shape())))
                    .collect();
                e.context(format!(
                    "layer '{}' ({}) with inputs [{}]",
                    step.node_name,
                    step.node_type,
                    shapes.join(", ")
                ))
            })?;
            if outs.len() != step.outputs.len() {
                return Err(Error::Internal(format!(
                    "layer '{}' produced {} outputs, expected {}",
                    step.node_name,
                    outs.len(),
                    step.outputs.len()
                )));
            }
            if let (Some(p), Some(t0)) = (profile.as_deref_mut(), started) {
                p.push(ProfileEntry {
                    node_name: step.node_name.clone(),
                    node_type: step.node_type.to_string(),
                    exec_type: step.kernel.name().to_string(),
                    real_time: t0.elapsed(),
                });
            }
            for (s, t) in step.outputs.iter().zip(outs) {
                values[*s] = Some(t);
            }
            for &s in &step.release {
                values[s] = None;
            }
        }
        self.output_slots
            .iter()
            .map(|&s| {
                values[s]
                    .clone()
                    .ok_or_else(|| Error::Internal(format!("output slot {s} is empty")))
            })
            .collect()
    }

    /// (node name, node type, kernel name) per executed step, in order.
    pub fn executed_nodes(&self) -> Vec<(String, &'static str, &'static str)> {
        self.steps
            .iter()
            .map(|s| (s.node_name.clone(), s.node_type, s.kernel.name()))
            .collect()
    }
}

/// Descriptors of a node's inputs, with the values known at compile time filled in.
fn input_descs(
    node: &Node,
    in_slots: &[usize],
    known: &HashMap<usize, Tensor>,
) -> Result<Vec<TensorDesc>> {
    node.inputs()
        .iter()
        .zip(in_slots)
        .map(|(o, s)| {
            let mut d = o.desc()?;
            d.value = known.get(s).cloned();
            if let Some(v) = &d.value {
                d.shape = PartialShape::from_static(v.shape());
            }
            Ok(d)
        })
        .collect()
}
