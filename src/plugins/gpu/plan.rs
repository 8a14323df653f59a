//! The GPU execution plan: constant sub-graphs folded on the host, constants uploaded once, one kernel per node,
//! Reshape-like nodes as aliases of their input's buffer, and a static memory plan: every other value lives in
//! an arena buffer shared with values whose lifetimes do not overlap (best fit). Each request keeps its arena,
//! bind groups and read-back buffer between inferences; an inference is one queue submission and one read-back
//! of the outputs.

use super::context::{Caps, GpuDevice};
use super::kernels::elementwise::{self, Chain};
use super::kernels::{self, Binding, GpuKernel, storage_type};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements};
use crate::ir::{ElementType, Model, Node, Tensor};
use crate::ops::TensorDesc;
use crate::runtime::plugin::ExecutedStep;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Op types whose output is their first input's bytes with another shape: aliased, not copied.
const ALIASES: &[&str] = &["Reshape", "Squeeze", "Unsqueeze"];

/// Where a value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    /// An uploaded constant.
    Constant(usize),
    /// A buffer of the request's arena.
    Arena(usize),
}

/// A value of the graph: its type, shape and buffer.
#[derive(Debug, Clone)]
struct Value {
    element_type: ElementType,
    shape: Vec<usize>,
    location: Location,
}

impl Value {
    /// Bytes on the GPU (4 per element, at least 4: bindings cannot be empty).
    fn bytes(&self) -> u64 {
        (num_elements(&self.shape) as u64 * 4).max(4)
    }
}

/// A binding of a planned dispatch.
#[derive(Debug)]
enum Bound {
    Value(usize),
    Params(wgpu::Buffer),
}

/// One dispatch with its pipeline built.
#[derive(Debug)]
struct PlannedDispatch {
    pipeline: wgpu::ComputePipeline,
    bindings: Vec<Bound>,
    workgroups: [u32; 3],
}

/// One node's dispatches.
#[derive(Debug)]
struct Step {
    node: Node,
    absorbed: Vec<Node>,
    exec_type: String,
    dispatches: Vec<PlannedDispatch>,
}

/// A node while lowering: its kernel and the values it reads and writes.
struct Lowered {
    node: Node,
    kernel: Box<dyn GpuKernel>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// The elementwise chain the kernel computes, when it is one (another elementwise node may fuse into it).
    chain: Option<Chain>,
    /// Nodes fused into this step, in chain order.
    absorbed: Vec<Node>,
}

/// Elementwise steps whose output a later elementwise node may fuse with: output value → index in the steps.
#[derive(Default)]
struct Fusion {
    producers: HashMap<usize, usize>,
    /// Readers of every node output (Results included).
    readers: HashMap<(u64, usize), usize>,
}

impl Fusion {
    fn new(order: &[Node]) -> Fusion {
        let mut readers: HashMap<(u64, usize), usize> = HashMap::new();
        for o in order.iter().flat_map(|n| n.inputs()) {
            *readers.entry((o.node.id(), o.index)).or_default() += 1;
        }
        Fusion {
            producers: HashMap::new(),
            readers,
        }
    }

    /// `step` fused into the elementwise step that computes one of its inputs, when that value has no other
    /// reader and the shapes and types chain (the producer's slot is emptied); else `step` as it is.
    fn fuse(&self, steps: &mut [Option<Lowered>], step: Lowered) -> Lowered {
        let Some(chain) = &step.chain else {
            return step;
        };
        for (k, v) in step.inputs.iter().enumerate() {
            let Some(&idx) = self.producers.get(v) else {
                continue;
            };
            let Some(producer) = steps.get(idx).and_then(Option::as_ref) else {
                continue;
            };
            if self.readers.get(&(producer.node.id(), 0)) != Some(&1) {
                continue;
            }
            let Some(fused) = producer
                .chain
                .clone()
                .and_then(|c| c.then(chain.clone(), k))
            else {
                continue;
            };
            let Some(producer) = steps.get_mut(idx).and_then(Option::take) else {
                continue;
            };
            let mut inputs = producer.inputs;
            inputs.extend(
                step.inputs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != k)
                    .map(|(_, &v)| v),
            );
            let mut absorbed = producer.absorbed;
            absorbed.push(producer.node);
            return Lowered {
                node: step.node,
                kernel: fused.kernel(),
                inputs,
                outputs: step.outputs,
                chain: Some(fused),
                absorbed,
            };
        }
        step
    }

    /// Records a step that later nodes may fuse with.
    fn record(&mut self, index: usize, step: &Lowered) {
        if let (Some(_), [out]) = (&step.chain, step.outputs.as_slice()) {
            self.producers.insert(*out, index);
        }
    }
}

/// A model lowered for one GPU device.
pub struct GpuPlan {
    device: Arc<GpuDevice>,
    values: Vec<Value>,
    constants: Vec<wgpu::Buffer>,
    arena: Vec<u64>,
    steps: Vec<Step>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

/// What a request keeps between inferences: its arena, bind groups and read-back buffer.
pub struct RequestMemory {
    arena: Vec<wgpu::Buffer>,
    bind_groups: Vec<wgpu::BindGroup>,
    readback: wgpu::Buffer,
    /// Per output, its offset in the read-back buffer.
    offsets: Vec<u64>,
}

/// A node the GPU has no kernel for, as the compile error lists it.
fn describe_unsupported(node: &Node) -> String {
    let types: Vec<String> = node
        .outputs()
        .iter()
        .map(|o| format!("{:?}", o.element_type()).to_lowercase())
        .collect();
    format!(
        "{} ({}, {})",
        node.friendly_name(),
        node.type_name(),
        types.join("/")
    )
}

/// Values while lowering: node outputs → value ids, known (constant) tensors.
#[derive(Default)]
struct Lowering {
    ids: HashMap<(u64, usize), usize>,
    values: Vec<(ElementType, Vec<usize>)>,
    /// Alias value → the value whose buffer it shares.
    root: Vec<usize>,
    known: HashMap<usize, Tensor>,
}

impl Lowering {
    fn add(&mut self, node: &Node, index: usize, root: Option<usize>) -> Result<usize> {
        let out = node.output(index);
        let shape = out.shape().to_static().ok_or_else(|| {
            Error::Unsupported(format!(
                "GPU: {} has a dynamic output shape {}; the GPU runs static shapes only",
                node.describe(),
                out.shape()
            ))
        })?;
        let id = self.values.len();
        self.values.push((out.element_type(), shape));
        self.root.push(root.unwrap_or(id));
        self.ids.insert((node.id(), index), id);
        Ok(id)
    }

    fn input_ids(&self, node: &Node) -> Result<Vec<usize>> {
        node.inputs()
            .iter()
            .map(|o| {
                self.ids
                    .get(&(o.node.id(), o.index))
                    .copied()
                    .ok_or_else(|| {
                        Error::Internal(format!("{} reads a value with no slot", node.describe()))
                    })
            })
            .collect()
    }
}

/// Checks the caller's inputs and converts them to the GPU's storage (i64 narrowed to i32, range-checked).
pub fn to_storage(t: &Tensor) -> Result<Vec<u8>> {
    match t.element_type() {
        ElementType::F32 | ElementType::I32 => Ok(t.bytes().to_vec()),
        ElementType::I64 => {
            let mut out = Vec::with_capacity(t.len() * 4);
            for &v in t.typed::<i64>()? {
                let n = i32::try_from(v).map_err(|_| {
                    Error::Unsupported(format!(
                        "GPU: i64 value {v} does not fit the GPU's i32 storage of i64 tensors"
                    ))
                })?;
                out.extend_from_slice(&n.to_ne_bytes());
            }
            Ok(out)
        }
        t => Err(Error::Unsupported(format!(
            "GPU: element type {t:?} is not supported (f32, i32, i64)"
        ))),
    }
}

/// A tensor of `element_type` from the GPU's storage bytes.
fn from_storage(element_type: ElementType, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
    let n = num_elements(shape);
    let bytes = bytes.get(..n * 4).ok_or_else(|| {
        Error::Internal(format!("GPU: read-back of {} is short", fmt_shape(shape)))
    })?;
    if element_type == ElementType::I64 {
        let v: Vec<i64> = bytes
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        return Tensor::from_vec(shape, v);
    }
    Tensor::from_bytes(element_type, shape, bytes)
}

impl GpuPlan {
    /// Lowers a (transformed) model: every node needs a GPU kernel, else the error lists those that have none.
    pub fn build(model: &Model, device: Arc<GpuDevice>) -> Result<GpuPlan> {
        let mut low = Lowering::default();
        let mut lowered: Vec<Option<Lowered>> = Vec::new();
        let mut unsupported: Vec<String> = Vec::new();
        let order = model.ordered_ops()?;
        let mut fusion = Fusion::new(&order);
        for node in order {
            let ty = node.type_name();
            let ins = low.input_ids(&node)?;
            match ty {
                "Parameter" => {
                    low.add(&node, 0, None)?;
                }
                "Result" => {
                    let src = *ins
                        .first()
                        .ok_or_else(|| Error::Internal("Result without input".into()))?;
                    low.ids.insert((node.id(), 0), src);
                }
                _ => {
                    let op = node.op();
                    let all_known =
                        !ins.is_empty() && ins.iter().all(|s| low.known.contains_key(s));
                    if (ty == "Constant" || all_known) && op.is_foldable() {
                        let vals: Vec<&Tensor> =
                            ins.iter().filter_map(|s| low.known.get(s)).collect();
                        let outs = op.evaluate(&vals).map_err(|e| e.context(node.describe()))?;
                        for (i, t) in outs.into_iter().enumerate() {
                            let id = low.add(&node, i, None)?;
                            low.known.insert(id, t);
                        }
                        continue;
                    }
                    let outs: Vec<TensorDesc> = (0..node.output_count())
                        .map(|i| node.output(i).desc())
                        .collect::<Result<_>>()?;
                    // Values shape inference already knows (ShapeOf of a static shape and what follows from
                    // it) are constants too.
                    if op.is_foldable() && outs.iter().all(|d| d.value.is_some()) {
                        for (i, d) in outs.into_iter().enumerate() {
                            let id = low.add(&node, i, None)?;
                            if let Some(t) = d.value {
                                low.known.insert(id, t);
                            }
                        }
                        continue;
                    }
                    let descs = input_descs(&node, &ins, &low.known)?;
                    let static_ok = descs
                        .iter()
                        .chain(&outs)
                        .all(|d| d.shape.is_static() && storage_type(d.element_type).is_some());
                    if static_ok && ALIASES.contains(&ty) {
                        let root = ins.first().map(|&s| low.root[s]);
                        low.add(&node, 0, root)?;
                        continue;
                    }
                    let chain = static_ok
                        .then(|| elementwise::chain(op.as_ref(), &descs, &outs))
                        .flatten();
                    let kernel = match &chain {
                        Some(c) => Some(c.kernel()),
                        None => static_ok
                            .then(|| kernels::select(op.as_ref(), &descs, &outs))
                            .flatten(),
                    };
                    drop(op);
                    match kernel {
                        Some(kernel) => {
                            let outputs = (0..node.output_count())
                                .map(|i| low.add(&node, i, None))
                                .collect::<Result<Vec<_>>>()?;
                            let step = Lowered {
                                node,
                                kernel,
                                inputs: ins,
                                outputs,
                                chain,
                                absorbed: Vec::new(),
                            };
                            let step = fusion.fuse(&mut lowered, step);
                            fusion.record(lowered.len(), &step);
                            lowered.push(Some(step));
                        }
                        None => {
                            unsupported.push(describe_unsupported(&node));
                            for i in 0..node.output_count() {
                                low.add(&node, i, None)?;
                            }
                        }
                    }
                }
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::Unsupported(format!(
                "GPU: no GPU kernel for {} node(s): {}; compile on HETERO:GPU,CPU to run them on the CPU",
                unsupported.len(),
                unsupported.join(", ")
            )));
        }
        let id = |n: &Node| {
            low.ids
                .get(&(n.id(), 0))
                .copied()
                .ok_or_else(|| Error::Internal("GPU: model input or output without a value".into()))
        };
        let inputs = model
            .parameters
            .iter()
            .map(id)
            .collect::<Result<Vec<_>>>()?;
        let outputs = model.results.iter().map(id).collect::<Result<Vec<_>>>()?;
        let lowered = lowered.into_iter().flatten().collect();
        Self::assemble(device, low, lowered, inputs, outputs)
    }

    /// Uploads constants, plans the arena and builds every dispatch's pipeline and parameters.
    fn assemble(
        device: Arc<GpuDevice>,
        low: Lowering,
        lowered: Vec<Lowered>,
        inputs: Vec<usize>,
        outputs: Vec<usize>,
    ) -> Result<GpuPlan> {
        let caps = device.caps.clone();
        let scope = ErrorScope::push(&device.device);
        let mut values: Vec<Value> = low
            .values
            .iter()
            .map(|(t, s)| Value {
                element_type: *t,
                shape: s.clone(),
                location: Location::Arena(usize::MAX),
            })
            .collect();
        let read: HashSet<usize> = lowered
            .iter()
            .flat_map(|l| l.inputs.iter().map(|&v| low.root[v]))
            .chain(outputs.iter().map(|&v| low.root[v]))
            .collect();
        let mut constants = Vec::new();
        let mut known: Vec<(&usize, &Tensor)> =
            low.known.iter().filter(|(v, _)| read.contains(v)).collect();
        known.sort_by_key(|(v, _)| **v);
        for (&v, t) in known {
            let bytes = to_storage(t)?;
            values[v].location = Location::Constant(constants.len());
            constants.push(
                device
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("constant"),
                        contents: if bytes.is_empty() { &[0; 4] } else { &bytes },
                        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                    }),
            );
        }
        check_sizes(&lowered, &values, &caps)?;
        let arena = plan_arena(&mut values, &low.root, &lowered, &inputs, &outputs);
        for (v, &r) in low.root.iter().enumerate() {
            values[v].location = values[r].location;
        }
        let steps = lowered
            .into_iter()
            .map(|l| plan_step(&device, &caps, l))
            .collect::<Result<Vec<_>>>()?;
        scope.pop()?;
        Ok(GpuPlan {
            device,
            values,
            constants,
            arena,
            steps,
            inputs,
            outputs,
        })
    }

    /// The steps an inference runs.
    pub fn executed_steps(&self) -> Vec<ExecutedStep> {
        self.steps
            .iter()
            .map(|s| ExecutedStep {
                node: s.node.clone(),
                absorbed: s.absorbed.clone(),
                exec_type: s.exec_type.clone(),
            })
            .collect()
    }

    /// How many arena buffers a request allocates (after reuse).
    pub fn arena_buffers(&self) -> usize {
        self.arena.len()
    }

    fn buffer<'a>(&'a self, memory: &'a RequestMemory, v: usize) -> Result<&'a wgpu::Buffer> {
        let found = match self.values.get(v).map(|x| x.location) {
            Some(Location::Constant(c)) => self.constants.get(c),
            Some(Location::Arena(a)) => memory.arena.get(a),
            None => None,
        };
        found.ok_or_else(|| Error::Internal(format!("GPU: value {v} has no buffer")))
    }

    /// The request memory of this plan: arena buffers, bind groups, read-back buffer.
    pub fn new_memory(&self) -> Result<RequestMemory> {
        let d = &self.device.device;
        let scope = ErrorScope::push(d);
        let arena: Vec<wgpu::Buffer> = self
            .arena
            .iter()
            .map(|&size| {
                d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("arena"),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let mut offsets = Vec::new();
        let mut total = 0u64;
        for &o in &self.outputs {
            offsets.push(total);
            total += self.values[o].bytes().next_multiple_of(8);
        }
        let readback = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total.max(8),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut memory = RequestMemory {
            arena,
            bind_groups: Vec::new(),
            readback,
            offsets,
        };
        let mut groups = Vec::new();
        for dispatch in self.steps.iter().flat_map(|s| &s.dispatches) {
            let mut entries = Vec::new();
            for (i, b) in dispatch.bindings.iter().enumerate() {
                let binding = match b {
                    Bound::Params(buf) => buf.as_entire_buffer_binding(),
                    Bound::Value(v) => wgpu::BufferBinding {
                        buffer: self.buffer(&memory, *v)?,
                        offset: 0,
                        size: wgpu::BufferSize::new(self.values[*v].bytes()),
                    },
                };
                entries.push(wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: wgpu::BindingResource::Buffer(binding),
                });
            }
            groups.push(d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &dispatch.pipeline.get_bind_group_layout(0),
                entries: &entries,
            }));
        }
        memory.bind_groups = groups;
        scope.pop()?;
        self.device.check()?;
        Ok(memory)
    }

    /// Runs one inference: uploads the inputs, records every dispatch and the output copies in one submission,
    /// and reads the outputs back.
    pub fn run(&self, inputs: &[Tensor], memory: &mut RequestMemory) -> Result<Vec<Tensor>> {
        crate::ensure!(
            inputs.len() == self.inputs.len(),
            InvalidArgument,
            "GPU: the model takes {} inputs, {} were given",
            self.inputs.len(),
            inputs.len()
        );
        let d = &self.device;
        let guard = ErrorScope::push(&d.device);
        for (t, &v) in inputs.iter().zip(&self.inputs) {
            let want = &self.values[v];
            crate::ensure!(
                t.shape() == want.shape.as_slice() && t.element_type() == want.element_type,
                InvalidArgument,
                "GPU: input {} {:?} does not match the compiled {} {:?}",
                fmt_shape(t.shape()),
                t.element_type(),
                fmt_shape(&want.shape),
                want.element_type
            );
            let bytes = to_storage(t)?;
            if !bytes.is_empty() {
                d.queue.write_buffer(self.buffer(memory, v)?, 0, &bytes);
            }
        }
        let mut encoder = d
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            for (dispatch, group) in self
                .steps
                .iter()
                .flat_map(|s| &s.dispatches)
                .zip(&memory.bind_groups)
            {
                pass.set_pipeline(&dispatch.pipeline);
                pass.set_bind_group(0, group, &[]);
                let [x, y, z] = dispatch.workgroups;
                pass.dispatch_workgroups(x, y, z);
            }
        }
        for (&v, &offset) in self.outputs.iter().zip(&memory.offsets) {
            let size = self.values[v].bytes();
            encoder.copy_buffer_to_buffer(
                self.buffer(memory, v)?,
                0,
                &memory.readback,
                offset,
                size,
            );
        }
        d.queue.submit([encoder.finish()]);
        guard.pop()?;
        let bytes = read_back(&d.device, &memory.readback);
        if bytes.is_err() {
            // A pending or failed mapping must not stay: the next inference maps the buffer again.
            memory.readback.unmap();
        }
        let bytes = bytes?;
        d.check()?;
        self.outputs
            .iter()
            .zip(&memory.offsets)
            .map(|(&v, &offset)| {
                let value = &self.values[v];
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let tail = bytes.get(start..).unwrap_or(&[]);
                from_storage(value.element_type, &value.shape, tail)
            })
            .collect()
    }
}

/// The longest an inference may run on the device before it is reported as hung.
const INFERENCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Blocks until every submission so far has finished. wgpu gives up waiting after a few seconds, which a large
/// model on a software renderer (lavapipe) can exceed: waiting resumes until [`INFERENCE_TIMEOUT`].
fn wait_for_submissions(device: &wgpu::Device) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        match device.poll(wgpu::PollType::Wait) {
            Ok(_) => return Ok(()),
            Err(wgpu::PollError::Timeout) if start.elapsed() < INFERENCE_TIMEOUT => {}
            Err(e) => {
                return Err(Error::Device(format!(
                    "GPU: waiting for the inference failed after {:.0} s: {e}",
                    start.elapsed().as_secs_f64()
                )));
            }
        }
    }
}

/// How long a finished submission's read-back may take to be mapped once the device is idle.
const READ_BACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Maps the read-back buffer after the submission and copies it out.
///
/// The mapping's callback runs inside whichever thread's `poll` sees the submission finish: when requests poll
/// the shared device side by side, that may be another thread, a moment after this thread's `poll` returned;
/// so the result is awaited on a channel rather than read right after polling.
fn read_back(device: &wgpu::Device, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    buffer.map_async(wgpu::MapMode::Read, .., move |r| {
        // The receiver only goes away once this function has returned with an error.
        let _ = sender.send(r);
    });
    wait_for_submissions(device)?;
    match receiver.recv_timeout(READ_BACK_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::Device(format!("GPU: read-back failed: {e}"))),
        Err(_) => return Err(Error::Device("GPU: read-back did not complete".into())),
    }
    let bytes = buffer.get_mapped_range(..).to_vec();
    buffer.unmap();
    Ok(bytes)
}

/// Validation and out-of-memory errors of a stretch of GPU calls, caught instead of reaching wgpu's default
/// handler; the scopes are popped by [`ErrorScope::pop`], or on drop when an error returned early.
struct ErrorScope<'a>(Option<&'a wgpu::Device>);

impl<'a> ErrorScope<'a> {
    fn push(device: &'a wgpu::Device) -> ErrorScope<'a> {
        device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        device.push_error_scope(wgpu::ErrorFilter::Validation);
        ErrorScope(Some(device))
    }

    fn pop(mut self) -> Result<()> {
        match self.0.take().and_then(pop_scopes) {
            Some(e) => Err(Error::Device(format!("GPU: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for ErrorScope<'_> {
    fn drop(&mut self) {
        if let Some(device) = self.0.take() {
            pop_scopes(device);
        }
    }
}

/// Pops the two scopes of an [`ErrorScope`]: the first error either caught.
fn pop_scopes(device: &wgpu::Device) -> Option<wgpu::Error> {
    let validation = super::context::block_on(device.pop_error_scope());
    let memory = super::context::block_on(device.pop_error_scope());
    validation.or(memory)
}

/// Input descriptors of a node, with the values known at compile time.
fn input_descs(
    node: &Node,
    ins: &[usize],
    known: &HashMap<usize, Tensor>,
) -> Result<Vec<TensorDesc>> {
    node.inputs()
        .iter()
        .zip(ins)
        .map(|(o, s)| {
            let mut d = o.desc()?;
            d.value = known.get(s).cloned();
            Ok(d)
        })
        .collect()
}

/// Fails when a value is larger than one storage binding can be.
fn check_sizes(lowered: &[Lowered], values: &[Value], caps: &Caps) -> Result<()> {
    for l in lowered {
        for &v in l.inputs.iter().chain(&l.outputs) {
            let bytes = values[v].bytes();
            if bytes > caps.max_storage_binding || bytes > caps.max_buffer_size {
                return Err(Error::Unsupported(format!(
                    "GPU: {} uses a tensor of {} ({bytes} bytes), over the adapter's storage binding limit of {} \
                     bytes; run it on CPU or HETERO:GPU,CPU",
                    l.node.describe(),
                    fmt_shape(&values[v].shape),
                    caps.max_storage_binding.min(caps.max_buffer_size)
                )));
            }
        }
    }
    Ok(())
}

/// Assigns every non-constant root value an arena buffer: inputs and outputs keep their own; intermediates reuse
/// the best-fitting free buffer once their last reader ran. Returns the arena buffer sizes.
fn plan_arena(
    values: &mut [Value],
    root: &[usize],
    lowered: &[Lowered],
    inputs: &[usize],
    outputs: &[usize],
) -> Vec<u64> {
    let n = values.len();
    let mut pinned = vec![false; n];
    for &v in inputs.iter().chain(outputs) {
        pinned[root[v]] = true;
    }
    let mut last = vec![0usize; n];
    for (i, l) in lowered.iter().enumerate() {
        for &v in l.inputs.iter().chain(&l.outputs) {
            last[root[v]] = i;
        }
    }
    let mut sizes: Vec<u64> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let is_constant = |v: &Value| matches!(v.location, Location::Constant(_));
    let assign = |v: usize, values: &mut [Value], free: &mut Vec<usize>, sizes: &mut Vec<u64>| {
        let need = values[v].bytes();
        let fit = free
            .iter()
            .enumerate()
            .filter(|&(_, &b)| sizes[b] >= need)
            .min_by_key(|&(_, &b)| sizes[b])
            .or_else(|| free.iter().enumerate().max_by_key(|&(_, &b)| sizes[b]))
            .map(|(i, _)| i);
        let buffer = match fit {
            Some(i) => free.swap_remove(i),
            None => {
                sizes.push(0);
                sizes.len() - 1
            }
        };
        sizes[buffer] = sizes[buffer].max(need);
        values[v].location = Location::Arena(buffer);
    };
    for &v in inputs {
        let r = root[v];
        if !is_constant(&values[r]) && values[r].location == Location::Arena(usize::MAX) {
            assign(r, values, &mut free, &mut sizes);
        }
    }
    for (i, l) in lowered.iter().enumerate() {
        for &v in &l.outputs {
            if root[v] == v {
                assign(v, values, &mut free, &mut sizes);
            }
        }
        let mut dead: Vec<usize> = l
            .inputs
            .iter()
            .chain(&l.outputs)
            .map(|&v| root[v])
            .filter(|&r| !pinned[r] && last[r] == i && !is_constant(&values[r]))
            .collect();
        dead.sort_unstable();
        dead.dedup();
        for r in dead {
            if let Location::Arena(b) = values[r].location {
                free.push(b);
            }
        }
    }
    sizes
}

/// Builds a step's pipelines (through the device's cache) and parameter buffers.
fn plan_step(device: &GpuDevice, caps: &Caps, l: Lowered) -> Result<Step> {
    let dispatches = l
        .kernel
        .dispatches(caps)
        .map_err(|e| e.context(l.node.describe()))?
        .into_iter()
        .map(|d| {
            let pipeline = device.pipelines.get(&device.device, &d.pipeline)?;
            let bindings = d
                .bindings
                .into_iter()
                .map(|b| {
                    Ok(match b {
                        Binding::Input(i) => Bound::Value(*l.inputs.get(i).ok_or_else(|| {
                            Error::Internal(format!("GPU: kernel binds missing input {i}"))
                        })?),
                        Binding::Output(i) => Bound::Value(*l.outputs.get(i).ok_or_else(|| {
                            Error::Internal(format!("GPU: kernel binds missing output {i}"))
                        })?),
                        Binding::Params(p) => {
                            let bytes: Vec<u8> = p.iter().flat_map(|v| v.to_ne_bytes()).collect();
                            Bound::Params(device.device.create_buffer_init(
                                &wgpu::util::BufferInitDescriptor {
                                    label: Some("params"),
                                    contents: &bytes,
                                    usage: wgpu::BufferUsages::STORAGE,
                                },
                            ))
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(PlannedDispatch {
                pipeline,
                bindings,
                workgroups: d.workgroups,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Step {
        exec_type: l.kernel.name(),
        node: l.node,
        absorbed: l.absorbed,
        dispatches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::create;
    use crate::ops::structure::{Constant, Parameter, ResultOp};
    use crate::plugins::gpu::context;
    use crate::plugins::gpu::kernels::testing::have_gpu;

    fn unary_chain(ops: &[&str], reshape_after: Option<usize>) -> Model {
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                crate::ir::PartialShape::from_static(&[2, 6]),
            )),
            vec![],
        )
        .unwrap();
        let mut x = p.clone();
        for (i, name) in ops.iter().enumerate() {
            x = Node::new(create(name, 1).unwrap(), vec![x.output(0)]).unwrap();
            if reshape_after == Some(i) {
                let shape = Tensor::from_vec(&[3], vec![3i64, 2, 2]).unwrap();
                let c = Node::new(Box::new(Constant::new(shape)), vec![]).unwrap();
                x = Node::new(
                    create("Reshape", 1).unwrap(),
                    vec![x.output(0), c.output(0)],
                )
                .unwrap();
            }
        }
        let r = Node::new(Box::new(ResultOp), vec![x.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p], "chain").unwrap()
    }

    fn run(model: &Model, x: &Tensor) -> (GpuPlan, Tensor) {
        let plan = GpuPlan::build(model, context::adapter("").unwrap().device().unwrap()).unwrap();
        let mut memory = plan.new_memory().unwrap();
        let out = plan.run(std::slice::from_ref(x), &mut memory).unwrap();
        // A second inference on the same memory gives the same answer.
        let again = plan.run(std::slice::from_ref(x), &mut memory).unwrap();
        assert_eq!(out[0].bytes(), again[0].bytes());
        (plan, out[0].clone())
    }

    #[test]
    fn intermediates_share_buffers_and_reshape_aliases() {
        if !have_gpu() {
            return;
        }
        let x = Tensor::from_vec(&[2, 6], (0..12).map(|i| i as f32 - 6.0).collect()).unwrap();
        let (plan, out) = run(
            &unary_chain(
                &["Negative", "Relu", "Negative", "Abs", "Negative"],
                Some(1),
            ),
            &x,
        );
        // Negative+Relu fuse into one step, the three after the Reshape into another: the input, the first
        // step's result (aliased by the Reshape) and the output.
        assert_eq!(plan.arena_buffers(), 3);
        let steps = plan.executed_steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].absorbed.len(), 2);
        assert_eq!(
            steps[1].exec_type,
            "eltwise_negative_f32+abs_f32+negative_f32"
        );
        assert_eq!(out.shape(), &[3, 2, 2]);
        let want: Vec<f32> = (0..12).map(|i| -((6 - i).max(0) as f32)).collect();
        assert_eq!(out.typed::<f32>().unwrap(), want.as_slice());
    }

    #[test]
    fn elementwise_chains_fuse_unless_a_value_has_other_readers() {
        if !have_gpu() {
            return;
        }
        let x = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                crate::ir::PartialShape::from_static(&[2, 3]),
            )),
            vec![],
        )
        .unwrap();
        let constant = |t: Tensor| Node::new(Box::new(Constant::new(t)), vec![]).unwrap();
        let bias = constant(Tensor::from_vec(&[3], vec![1.0f32, -2.0, 0.5]).unwrap());
        let two = constant(Tensor::from_vec(&[], vec![2.0f32]).unwrap());
        let node = |name: &str, ins: &[&Node]| {
            Node::new(
                create(name, 1).unwrap(),
                ins.iter().map(|n| n.output(0)).collect(),
            )
            .unwrap()
        };
        // (relu(x + bias) * 2), and relu(...) also read by a second output: Add+Relu fuse, Multiply cannot.
        let relu = node("Relu", &[&node("Add", &[&x, &bias])]);
        let y = node("Multiply", &[&two, &relu]);
        let results = [&y, &relu]
            .iter()
            .map(|n| Node::new(Box::new(ResultOp), vec![n.output(0)]).unwrap())
            .collect();
        let model = Model::new(results, vec![], vec![x.clone()], "fused").unwrap();
        let plan = GpuPlan::build(&model, context::adapter("").unwrap().device().unwrap()).unwrap();
        let steps: Vec<String> = plan
            .executed_steps()
            .into_iter()
            .map(|s| s.exec_type)
            .collect();
        assert_eq!(steps, ["eltwise_add_f32+relu_f32", "eltwise_multiply_f32"]);
        let input = Tensor::from_vec(&[2, 3], vec![0.0f32, 1.0, 2.0, -3.0, 4.0, -5.0]).unwrap();
        let mut memory = plan.new_memory().unwrap();
        let out = plan.run(&[input], &mut memory).unwrap();
        drop(memory);
        let relu_want = [1.0f32, 0.0, 2.5, 0.0, 2.0, 0.0];
        assert_eq!(out[1].typed::<f32>().unwrap(), relu_want);
        let doubled: Vec<f32> = relu_want.iter().map(|v| v * 2.0).collect();
        assert_eq!(out[0].typed::<f32>().unwrap(), doubled.as_slice());

        // With one reader the chain is one step, the chained value feeding Multiply's input 1.
        let y = node(
            "Multiply",
            &[&two, &node("Relu", &[&node("Add", &[&x, &bias])])],
        );
        let r = Node::new(Box::new(ResultOp), vec![y.output(0)]).unwrap();
        let model = Model::new(vec![r], vec![], vec![x], "fused").unwrap();
        let plan = GpuPlan::build(&model, context::adapter("").unwrap().device().unwrap()).unwrap();
        assert_eq!(plan.executed_steps().len(), 1);
        let input = Tensor::from_vec(&[2, 3], vec![0.0f32, 1.0, 2.0, -3.0, 4.0, -5.0]).unwrap();
        let out = plan.run(&[input], &mut plan.new_memory().unwrap()).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), doubled.as_slice());
    }

    #[test]
    fn identical_kernels_compile_once() {
        if !have_gpu() {
            return;
        }
        let device = context::adapter("").unwrap().device().unwrap();
        // A cache of its own: the device's cache is shared with the tests running beside this one.
        let cache = crate::plugins::gpu::pipelines::PipelineCache::default();
        let key = |body: &str| {
            let source = format!("@compute @workgroup_size(1) fn main() {{ {body} }}");
            crate::plugins::gpu::pipelines::PipelineKey::new(source.into(), "main", &[])
        };
        cache.get(&device.device, &key("")).unwrap();
        cache.get(&device.device, &key("")).unwrap();
        assert_eq!(cache.compiled_count(), 1);
        cache.get(&device.device, &key("let x = 1u;")).unwrap();
        assert_eq!(cache.compiled_count(), 2);
    }

    #[test]
    fn tensors_over_the_binding_limit_are_named() {
        let model = unary_chain(&["Relu"], None);
        let node = model.ordered_ops().unwrap()[1].clone();
        let kernel = kernels::select(
            node.op().as_ref(),
            &node.input_descs().unwrap(),
            &[node.output(0).desc().unwrap()],
        )
        .unwrap();
        let value = Value {
            element_type: ElementType::F32,
            shape: vec![2, 6],
            location: Location::Arena(0),
        };
        let lowered = [Lowered {
            node,
            kernel,
            inputs: vec![0],
            outputs: vec![0],
            chain: None,
            absorbed: Vec::new(),
        }];
        let mut caps = Caps::baseline();
        assert!(check_sizes(&lowered, std::slice::from_ref(&value), &caps).is_ok());
        caps.max_storage_binding = 16;
        let e = check_sizes(&lowered, &[value], &caps)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[2,6]") && e.contains("limit of 16 bytes"),
            "{e}"
        );
    }

    #[test]
    fn i64_is_stored_as_checked_i32() {
        let t = Tensor::from_vec(&[2], vec![7i64, -3]).unwrap();
        let bytes = to_storage(&t).unwrap();
        assert_eq!(
            from_storage(ElementType::I64, &[2], &bytes)
                .unwrap()
                .to_i64_vec(),
            vec![7, -3]
        );
        let big = Tensor::from_vec(&[1], vec![1i64 << 40]).unwrap();
        assert!(to_storage(&big).is_err());
    }
}
