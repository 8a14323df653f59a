//! The CPU execution plan: nodes in order with their kernels, value slots, compile-time constants folded,
//! each slot released after its last use, and a static memory plan: intermediate values live in buffers that
//! each request keeps between inferences (a [`Workspace`]), shared by values whose lifetimes do not overlap.

use super::kernels::{self, Kernel};
use crate::error::{Error, Result};
use crate::ir::shape::fmt_shape;
use crate::ir::{ElementType, Model, Node, PartialShape, Tensor};
use crate::ops::TensorDesc;
use crate::ops::misc::{Assign, ReadValue};
use crate::runtime::plugin::{ExecutedStep, ProfileEntry};
use std::collections::{BTreeMap, HashMap};
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
    /// Per output, its size in bytes when known at compile time (0 otherwise: its buffer grows on first use).
    output_bytes: Vec<usize>,
    /// The node this step computes.
    node: Node,
    /// The nodes fused into this step, in chain order.
    absorbed: Vec<Node>,
    /// The variable a ReadValue reads or an Assign writes.
    state: Option<StateAccess>,
    /// The input whose memory output 0 is built in ([`Kernel::run_in_place`]), when the plan allows it.
    in_place: Option<usize>,
}

/// How a step touches the request's variables (stateful models).
#[derive(Debug)]
enum StateAccess {
    /// A ReadValue: outputs the variable's value once set, else runs its kernel (the initial value).
    Read(String),
    /// An Assign: its input becomes the variable's value when the inference succeeds.
    Write(String),
}

impl StateAccess {
    /// The variable access of a ReadValue or Assign node.
    fn of(node: &Node) -> Option<StateAccess> {
        let op = node.op();
        let any = op.as_any();
        if let Some(r) = any.downcast_ref::<ReadValue>() {
            return Some(StateAccess::Read(r.variable_id.clone()));
        }
        any.downcast_ref::<Assign>()
            .map(|a| StateAccess::Write(a.variable_id.clone()))
    }
}

/// The buffers a request reuses across inferences: the intermediates' buffers, indexed by the plan's buffer
/// ids, and the outputs the last run returned, indexed by slot (the next run writes into them when nobody
/// else holds them any more).
#[derive(Debug, Default)]
pub struct Workspace {
    buffers: Vec<Option<Tensor>>,
    outputs: Vec<Option<Tensor>>,
}

/// A compiled, executable graph.
#[derive(Debug)]
pub struct Plan {
    slot_count: usize,
    constants: Vec<(usize, Tensor)>,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
    steps: Vec<Step>,
    /// Per slot, the workspace buffer its value is built in (None: the kernel allocates, or the value is an
    /// input, a constant or an output).
    slot_buffer: Vec<Option<usize>>,
    /// How many workspace buffers the steps share.
    buffer_count: usize,
    /// The output slots a recycling kernel writes: each run keeps their tensors in the workspace for the
    /// next one.
    kept_outputs: Vec<usize>,
    /// What an in-place step's kernel finds among its inputs where the input moved into its spare was.
    moved_away: Tensor,
}

/// Where a node output lives during execution.
type SlotMap = HashMap<(u64, usize), usize>;

/// The input (index, buffer) whose workspace buffer `step`'s output 0 may be built in: the kernel asks for it
/// ([`Kernel::in_place_input`]), the step reads that input once and releases it, and the buffer holds the
/// output's size, known at compile time; the output is an intermediate that gets a buffer itself.
fn in_place_buffer(
    step: &Step,
    slot_buffer: &[Option<usize>],
    capacity: &[usize],
    released: &std::collections::HashSet<usize>,
) -> Option<(usize, usize)> {
    let input = step.kernel.in_place_input()?;
    let slot = *step.inputs.get(input)?;
    let output = *step.outputs.first()?;
    let need = step.output_bytes.first().copied().unwrap_or(0);
    let buffer = slot_buffer.get(slot).copied().flatten()?;
    let read_once = step.inputs.iter().filter(|&&s| s == slot).count() == 1;
    (step.kernel.recycles_outputs()
        && read_once
        && step.release.contains(&slot)
        && released.contains(&output)
        && need > 0
        && capacity.get(buffer).is_some_and(|&c| c >= need))
    .then_some((input, buffer))
}

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
        let mut fusions = super::fusion::epilogues(&order)?;
        let readers = crate::transformations::Readers::of_graph(&order);
        // Absorbed node id → the slot of the fused step that computes its output.
        let mut fused_into: HashMap<u64, usize> = HashMap::new();
        let by_id: HashMap<u64, &Node> = order.iter().map(|n| (n.id(), n)).collect();
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
            // A MaxPool whose indices nobody reads computes its values only, and its indices get no slot.
            let values_only = ty == "MaxPool"
                && node.output_count() == 2
                && readers.of(&node.output(1)).is_empty()
                && node
                    .input(0)
                    .is_ok_and(|x| x.element_type() == ElementType::F32);
            let produced = if values_only { 1 } else { node.output_count() };
            let out_slots: Vec<usize> = (0..produced).map(|_| new_slot()).collect();
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
                let (mut fused_slots, mut fused_descs) = (in_slots.clone(), descs.clone());
                if let Some(r) = &f.residual {
                    fused_slots.push(*slots.get(&(r.node.id(), r.index))?);
                    fused_descs.push(r.desc().ok()?);
                }
                let kernel = kernels::with_epilogue(op.as_ref(), &fused_descs, f.epilogue)?;
                Some((kernel, f.absorbed, fused_slots))
            });
            let (kernel, in_slots, absorbed) = match (fused, out_slots.first()) {
                (Some((kernel, absorbed, fused_slots)), Some(&slot)) => {
                    fused_into.extend(absorbed.iter().map(|&id| (id, slot)));
                    let absorbed = absorbed
                        .iter()
                        .filter_map(|id| by_id.get(id).map(|&n| n.clone()))
                        .collect();
                    (kernel, fused_slots, absorbed)
                }
                _ if values_only => {
                    let kernel = kernels::pooling::select_values_only(op.as_ref(), &descs)
                        .ok_or_else(|| {
                            Error::Internal(format!(
                                "no values-only kernel for {}",
                                node.describe()
                            ))
                        })?;
                    (kernel, in_slots, Vec::new())
                }
                _ => (kernels::select(op.as_ref(), &descs), in_slots, Vec::new()),
            };
            steps.push(Step {
                node_name: node.friendly_name(),
                node_type: ty,
                kernel,
                inputs: in_slots,
                outputs: out_slots,
                release: Vec::new(),
                output_bytes: (0..produced).map(|i| static_bytes(node, i)).collect(),
                node: node.clone(),
                absorbed,
                state: StateAccess::of(node),
                in_place: None,
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
            slot_buffer: Vec::new(),
            buffer_count: 0,
            kept_outputs: Vec::new(),
            moved_away: Tensor::zeros(ElementType::F32, &[0]),
        };
        plan.compute_releases();
        plan.assign_buffers();
        Ok(plan)
    }

    /// Marks, for each slot that is neither a constant, an input nor an output, the step after which it is dead.
    ///
    /// A step whose kernel may return a view of its inputs (a Reshape) keeps those inputs alive as long as its
    /// outputs, so a buffer is never reused while a view of it is still read.
    fn compute_releases(&mut self) {
        let mut pinned = vec![false; self.slot_count];
        for &s in self.output_slots.iter().chain(&self.input_slots) {
            pinned[s] = true;
        }
        for (s, _) in &self.constants {
            pinned[*s] = true;
        }
        let mut last_use: Vec<Option<usize>> = vec![None; self.slot_count];
        for (i, step) in self.steps.iter().enumerate() {
            for &s in step.inputs.iter().chain(&step.outputs) {
                last_use[s] = Some(i);
            }
        }
        for step in self.steps.iter().rev() {
            if step.kernel.recycles_outputs() {
                continue;
            }
            let out_end = step.outputs.iter().filter_map(|&s| last_use[s]).max();
            let out_pinned = step.outputs.iter().any(|&s| pinned[s]);
            for &s in &step.inputs {
                last_use[s] = last_use[s].max(out_end);
                pinned[s] |= out_pinned;
            }
        }
        for (slot, end) in last_use.into_iter().enumerate() {
            if let Some(step) = end
                && !pinned[slot]
            {
                self.steps[step].release.push(slot);
            }
        }
    }

    /// Gives every intermediate output of a recycling kernel a workspace buffer: walking the steps in order,
    /// an output takes the free buffer that fits it most tightly (or the largest free one, which grows), and
    /// a slot's buffer is free again after the step that releases it.
    fn assign_buffers(&mut self) {
        let mut slot_buffer: Vec<Option<usize>> = vec![None; self.slot_count];
        let mut capacity: Vec<usize> = Vec::new();
        let mut free: Vec<usize> = Vec::new();
        let released: std::collections::HashSet<usize> = self
            .steps
            .iter()
            .flat_map(|s| s.release.iter().copied())
            .collect();
        let mut kept_outputs = Vec::new();
        for step in &mut self.steps {
            // Output 0 built in the memory of an input that dies here: the output takes over its buffer.
            let taken_over = in_place_buffer(step, &slot_buffer, &capacity, &released);
            step.in_place = taken_over.map(|(input, _)| input);
            if step.kernel.recycles_outputs() {
                for (i, &slot) in step.outputs.iter().enumerate() {
                    if self.output_slots.contains(&slot) && !kept_outputs.contains(&slot) {
                        kept_outputs.push(slot);
                    }
                    if !released.contains(&slot) {
                        continue;
                    }
                    if let Some((_, buffer)) = taken_over.filter(|_| i == 0) {
                        slot_buffer[slot] = Some(buffer);
                        continue;
                    }
                    let need = step.output_bytes.get(i).copied().unwrap_or(0);
                    let fitting = free
                        .iter()
                        .enumerate()
                        .filter(|&(_, &b)| capacity[b] >= need)
                        .min_by_key(|&(_, &b)| capacity[b]);
                    let largest = || free.iter().enumerate().max_by_key(|&(_, &b)| capacity[b]);
                    let buffer = match fitting.or_else(largest) {
                        Some((at, &b)) => {
                            free.swap_remove(at);
                            b
                        }
                        None => {
                            capacity.push(0);
                            capacity.len() - 1
                        }
                    };
                    capacity[buffer] = capacity[buffer].max(need);
                    slot_buffer[slot] = Some(buffer);
                }
            }
            let kept = taken_over.map(|(_, buffer)| buffer);
            free.extend(
                step.release
                    .iter()
                    .filter_map(|&s| slot_buffer[s])
                    .filter(|&b| Some(b) != kept),
            );
        }
        self.buffer_count = capacity.len();
        self.slot_buffer = slot_buffer;
        self.kept_outputs = kept_outputs;
    }

    /// Runs the plan on concrete inputs, building intermediates in `workspace`'s buffers (kept for the next
    /// run); with `profile`, records each step's time there. ReadValue steps read `variables` (variable id →
    /// value); the values of Assign steps replace them once every step has run.
    pub fn run(
        &self,
        inputs: &[Tensor],
        workspace: &mut Workspace,
        mut profile: Option<&mut Vec<ProfileEntry>>,
        variables: &mut BTreeMap<String, Tensor>,
    ) -> Result<Vec<Tensor>> {
        let mut assigned: Vec<(&str, Tensor)> = Vec::new();
        workspace.buffers.resize_with(self.buffer_count, || None);
        workspace.outputs.resize_with(self.slot_count, || None);
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
            // An in-place step's input moves into its output's spare (see `Kernel::run_in_place`).
            let in_place = step
                .in_place
                .and_then(|i| Some((i, values[*step.inputs.get(i)?].take()?)));
            let args = step
                .inputs
                .iter()
                .enumerate()
                .map(|(i, &s)| match &in_place {
                    Some((moved, _)) if *moved == i => Ok(&self.moved_away),
                    _ => values[s]
                        .as_ref()
                        .ok_or_else(|| Error::Internal(format!("slot {s} is empty"))),
                })
                .collect::<Result<Vec<&Tensor>>>()?;
            let (in_place_at, mut spare): (Option<usize>, Vec<Option<Tensor>>) = match in_place {
                Some((i, moved)) => (Some(i), vec![Some(moved)]),
                None => (
                    None,
                    step.outputs
                        .iter()
                        .map(|&s| match self.buffer_of(s) {
                            Some(b) => workspace.buffers.get_mut(b).and_then(Option::take),
                            None => workspace.outputs.get_mut(s).and_then(Option::take),
                        })
                        .collect(),
                ),
            };
            let started = profile.is_some().then(Instant::now);
            let stored = match &step.state {
                Some(StateAccess::Read(id)) => variables.get(id).cloned(),
                _ => None,
            };
            let outs = match (stored, in_place_at) {
                (Some(value), _) => Ok(vec![value]),
                (None, Some(i)) => step.kernel.run_in_place(&args, i, &mut spare),
                (None, None) => step.kernel.run_recycling(&args, &mut spare),
            };
            let outs = outs.map_err(|e| {
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
            if let (Some(StateAccess::Write(id)), Some(t)) = (&step.state, outs.first()) {
                // A copy: the value may live in a buffer the next inference reuses, or in the caller's memory.
                let copy = Tensor::from_bytes(t.element_type(), t.shape(), t.bytes())?;
                assigned.push((id, copy));
            }
            for (s, t) in step.outputs.iter().zip(outs) {
                values[*s] = Some(t);
            }
            for &s in &step.release {
                let value = values[s].take();
                if let Some(kept) = self.buffer_of(s).and_then(|b| workspace.buffers.get_mut(b)) {
                    *kept = value;
                }
            }
        }
        let outputs = self
            .output_slots
            .iter()
            .map(|&s| {
                values[s]
                    .clone()
                    .ok_or_else(|| Error::Internal(format!("output slot {s} is empty")))
            })
            .collect::<Result<Vec<_>>>()?;
        for &s in &self.kept_outputs {
            if let Some(kept) = workspace.outputs.get_mut(s) {
                kept.clone_from(&values[s]);
            }
        }
        variables.extend(assigned.into_iter().map(|(id, t)| (id.to_string(), t)));
        Ok(outputs)
    }

    /// The workspace buffer of `slot`, if it has one.
    fn buffer_of(&self, slot: usize) -> Option<usize> {
        self.slot_buffer.get(slot).copied().flatten()
    }

    /// Each executed step in order: its node, the nodes fused into it and its kernel.
    pub fn executed_nodes(&self) -> Vec<ExecutedStep> {
        self.steps
            .iter()
            .map(|s| ExecutedStep {
                node: s.node.clone(),
                absorbed: s.absorbed.clone(),
                exec_type: s.kernel.name().to_string(),
            })
            .collect()
    }
}

/// The size in bytes of output `index` of `node` when its type and shape are static, else 0.
fn static_bytes(node: &Node, index: usize) -> usize {
    node.output(index)
        .desc()
        .ok()
        .and_then(|d| {
            let shape = d.shape.to_static()?;
            Some(d.element_type.bytes_for(shape.iter().product()))
        })
        .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ElementType;
    use crate::ops::registry::create;
    use crate::ops::structure::{Constant, Parameter, ResultOp};

    fn op(name: &str, inputs: &[&Node]) -> Node {
        let inputs = inputs.iter().map(|n| n.output(0)).collect();
        Node::new(create(name, 16).unwrap(), inputs).unwrap()
    }

    /// x → Relu → Reshape (a view) → Add(view, Abs(Negative(Negative(x)))): the Relu's buffer must stay
    /// reserved while the view is read, or a later step would find it shared and allocate.
    fn model_with_view() -> Model {
        let p = Parameter::new(ElementType::F32, PartialShape::from_static(&[2, 6]));
        let x = Node::new(Box::new(p), vec![]).unwrap();
        let shape = Tensor::from_vec(&[2], vec![2i64, 6]).unwrap();
        let target = Node::new(Box::new(Constant::new(shape)), vec![]).unwrap();
        let view = op("Reshape", &[&op("Relu", &[&x]), &target]);
        let sum = op(
            "Add",
            &[
                &view,
                &op("Abs", &[&op("Negative", &[&op("Negative", &[&x])])]),
            ],
        );
        let r = Node::new(Box::new(ResultOp), vec![sum.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![x], "views").unwrap()
    }

    /// One run of `plan` on the single input `x`, without profiling or variables.
    fn run_once(plan: &Plan, ws: &mut Workspace, x: &Tensor) -> Vec<Tensor> {
        plan.run(std::slice::from_ref(x), ws, None, &mut BTreeMap::new())
            .unwrap()
    }

    fn buffer_addresses(ws: &Workspace) -> Vec<Option<usize>> {
        ws.buffers
            .iter()
            .map(|b| b.as_ref().map(|t| t.bytes().as_ptr() as usize))
            .collect()
    }

    #[test]
    fn steady_state_reuses_every_buffer() {
        let plan = Plan::build(&model_with_view()).unwrap();
        // Four intermediates of recycling kernels (Relu, Negative, Negative, Abs): the first Negative is dead
        // once the second has run, so Abs takes its buffer; the Relu's stays reserved for the view.
        assert_eq!(plan.buffer_count, 3);
        let mut ws = Workspace::default();
        let x = Tensor::from_vec(&[2, 6], (0..12).map(|i| i as f32 - 6.0).collect()).unwrap();
        run_once(&plan, &mut ws, &x);
        let first = buffer_addresses(&ws);
        assert!(first.iter().all(Option::is_some));
        let out = run_once(&plan, &mut ws, &x);
        assert_eq!(buffer_addresses(&ws), first);
        let want: Vec<f32> = (0..12)
            .map(|i| (i as f32 - 6.0).max(0.0) + (i as f32 - 6.0).abs())
            .collect();
        assert_eq!(out[0].typed::<f32>().unwrap(), &want[..]);
    }

    fn constant(shape: &[usize], seed: usize) -> Node {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|i| ((i * 7 + seed) % 13) as f32 / 13.0 - 0.45)
            .collect();
        let t = Tensor::from_vec(shape, values).unwrap();
        Node::new(Box::new(Constant::new(t)), vec![]).unwrap()
    }

    /// A 1x1 convolution of `x` to `out` channels.
    fn pointwise(x: &Node, channels: usize, out: usize) -> Node {
        let attrs = crate::ops::conv::ConvAttrs {
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            pads_end: vec![0, 0],
            ..Default::default()
        };
        let conv = crate::ops::conv::Convolution { attrs };
        let w = constant(&[out, channels, 1, 1], out);
        Node::new(Box::new(conv), vec![x.output(0), w.output(0)]).unwrap()
    }

    /// A bottleneck on a [1, 16, 15, 15] input (more positions than the 1x1 direct convolution takes):
    /// `a = Relu(x)`, then `Relu(conv(conv(a)) + a)` with a 1x1 convolution 16 -> 200 -> 16 (the second one two
    /// K blocks deep), the residual add and ReLU fused into it; with `keep_residual`, `a` is also read after the
    /// fused step (`+ a` once more); then a Negative; with `residual_is_input`, `a` is the input itself.
    fn bottleneck(keep_residual: bool, residual_is_input: bool) -> Model {
        let p = Parameter::new(
            ElementType::F32,
            PartialShape::from_static(&[1, 16, 15, 15]),
        );
        let x = Node::new(Box::new(p), vec![]).unwrap();
        let a = if residual_is_input {
            x.clone()
        } else {
            op("Relu", &[&x])
        };
        let wide = op("Relu", &[&pointwise(&a, 16, 200)]);
        let sum = op("Add", &[&pointwise(&wide, 200, 16), &a]);
        let mut y = op("Relu", &[&sum]);
        if keep_residual {
            y = op("Add", &[&y, &a]);
        }
        // The model's output gets no workspace buffer: the fused step's output is an intermediate.
        let r = Node::new(Box::new(ResultOp), vec![op("Negative", &[&y]).output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![x], "bottleneck").unwrap()
    }

    /// A convolution whose fused residual dies at it is built in the residual's buffer (where the 1x1 kernel
    /// runs it: AVX-512), and not when the residual is read later or is the model's input; the values are
    /// the reference's on every run.
    #[test]
    fn a_dying_residual_is_overwritten_in_place() {
        let x = Tensor::from_vec(
            &[1, 16, 15, 15],
            (0..3600)
                .map(|i| ((i * 5) % 17) as f32 / 17.0 - 0.5)
                .collect(),
        )
        .unwrap();
        for (keep_residual, residual_is_input) in [(false, false), (true, false), (false, true)] {
            let model = bottleneck(keep_residual, residual_is_input);
            let plan = Plan::build(&model).unwrap();
            let in_place = plan.steps.iter().filter(|s| s.in_place.is_some()).count();
            let expected =
                !keep_residual && !residual_is_input && super::kernels::pointwise::available();
            assert_eq!(
                in_place,
                usize::from(expected),
                "{keep_residual} {residual_is_input}"
            );
            let want =
                crate::ir::interpret::evaluate_model(&model, std::slice::from_ref(&x)).unwrap();
            let mut ws = Workspace::default();
            for _ in 0..3 {
                let got = run_once(&plan, &mut ws, &x);
                let (got, want) = (
                    got[0].typed::<f32>().unwrap(),
                    want[0].typed::<f32>().unwrap(),
                );
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() <= 1e-4 + 1e-4 * w.abs(), "{g} vs {w}");
                }
            }
        }
    }

    /// The model's output (an Add, a recycling kernel) is written into the tensor the run before returned once
    /// nobody holds that tensor any more, and into new memory while somebody does (its values stay as they
    /// were).
    #[test]
    fn outputs_are_recycled_once_released() {
        let plan = Plan::build(&model_with_view()).unwrap();
        let mut ws = Workspace::default();
        let mut run = |v: f32| {
            let x = Tensor::from_vec(&[2, 6], vec![v; 12]).unwrap();
            run_once(&plan, &mut ws, &x).remove(0)
        };
        let address = |t: &Tensor| t.bytes().as_ptr() as usize;
        let held = run(1.0);
        let second = run(2.0);
        assert_ne!(address(&held), address(&second));
        assert_eq!(held.typed::<f32>().unwrap(), &[2.0; 12][..]);
        let released = address(&second);
        drop(second);
        let third = run(3.0);
        assert_eq!(address(&third), released);
        assert_eq!(third.typed::<f32>().unwrap(), &[6.0; 12][..]);
        assert_eq!(held.typed::<f32>().unwrap(), &[2.0; 12][..]);
    }
}
