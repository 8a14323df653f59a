//! The GPU execution plan of a lowered model (`lowering`): the constants kernels bind uploaded once, and a
//! static memory plan: every other value lives in
//! an arena buffer shared with values whose lifetimes do not overlap (best fit). Each request keeps its arena,
//! bind groups and read-back buffer between inferences; an inference is one queue submission and one read-back
//! of the outputs.

use super::context::GpuDevice;
use super::kernels::{Binding, Dispatch};
use super::lowering::{self, Lowered, Values};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements};
use crate::ir::{ElementType, Model, Node, Tensor};
use crate::runtime::plugin::{ExecutedStep, ProfileEntry};
use std::collections::HashSet;
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Where a value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    /// An uploaded constant.
    Constant(usize),
    /// A buffer of the request's arena.
    Arena(usize),
    /// Known at compile time and bound by no dispatch (an axes or shape input): no buffer.
    Folded,
    /// Not placed yet (while planning).
    Unplaced,
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
    /// Timestamp queries of profiled inferences, made by the first.
    queries: Option<StepQueries>,
}

/// Two timestamps per step (start and end of its compute pass), resolved into a buffer and copied for reading.
pub struct StepQueries {
    set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
}

impl RequestMemory {
    /// Makes the timestamp queries of `steps` steps on first use.
    fn make_queries(&mut self, device: &wgpu::Device, steps: usize) {
        self.queries.get_or_insert_with(|| {
            let count = 2 * steps as u32;
            let buffer = |label, usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: u64::from(count.max(1)) * 8,
                    usage,
                    mapped_at_creation: false,
                })
            };
            StepQueries {
                set: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("step timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: count.max(1),
                }),
                resolved: buffer(
                    "resolved timestamps",
                    wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                ),
                readback: buffer(
                    "timestamps",
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                ),
            }
        });
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
        let graph = lowering::lower(model, &device.caps)?;
        if let Some(e) = graph.refusal() {
            return Err(e);
        }
        let value_of = |n: &Node| graph.values.of(n, 0);
        let inputs = model
            .parameters
            .iter()
            .map(value_of)
            .collect::<Result<Vec<_>>>()?;
        let outputs = model
            .results
            .iter()
            .map(value_of)
            .collect::<Result<Vec<_>>>()?;
        Self::assemble(device, graph.values, graph.steps, inputs, outputs)
    }

    /// Uploads the constants some dispatch binds, plans the arena and builds every dispatch's pipeline and
    /// parameters.
    fn assemble(
        device: Arc<GpuDevice>,
        known: Values,
        lowered: Vec<Lowered>,
        inputs: Vec<usize>,
        outputs: Vec<usize>,
    ) -> Result<GpuPlan> {
        let caps = device.caps.clone();
        let scope = ErrorScope::push(&device.device);
        let mut values: Vec<Value> = known
            .types
            .iter()
            .map(|(t, s)| Value {
                element_type: *t,
                shape: s.clone(),
                location: Location::Unplaced,
            })
            .collect();
        let dispatches = lowered
            .iter()
            .map(|l| {
                l.kernel
                    .dispatches(&caps)
                    .map_err(|e| e.context(l.node.describe()))
            })
            .collect::<Result<Vec<_>>>()?;
        // Known inputs a kernel reads only at compile time (axes, shapes, slice bounds) are never uploaded.
        let mut bound: HashSet<usize> = outputs.iter().map(|&v| known.root[v]).collect();
        for (l, ds) in lowered.iter().zip(&dispatches) {
            bound.extend(bound_values(l, ds).iter().map(|&v| known.root[v]));
        }
        let mut constants = Vec::new();
        let mut uploads: Vec<(&usize, &Tensor)> = Vec::new();
        for (v, t) in &known.known {
            if bound.contains(v) {
                uploads.push((v, t));
            } else {
                values[*v].location = Location::Folded;
            }
        }
        uploads.sort_by_key(|(v, _)| **v);
        for (&v, t) in uploads {
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
        let arena = plan_arena(&mut values, &known.root, &lowered, &inputs, &outputs);
        for (v, &r) in known.root.iter().enumerate() {
            values[v].location = values[r].location;
        }
        let steps = lowered
            .into_iter()
            .zip(dispatches)
            .map(|(l, ds)| plan_step(&device, l, ds))
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
            Some(Location::Folded | Location::Unplaced) | None => None,
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
            queries: None,
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
    /// and reads the outputs back. With `profile`, each step's time is appended there: measured by the GPU's
    /// timestamps around one compute pass per step where the device has them, else by the host around one
    /// submission per step.
    pub fn run(
        &self,
        inputs: &[Tensor],
        memory: &mut RequestMemory,
        profile: Option<&mut Vec<ProfileEntry>>,
    ) -> Result<Vec<Tensor>> {
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
        let timing = match &profile {
            None => Timing::Off,
            Some(_)
                if d.caps.timestamps
                    && !self.steps.is_empty()
                    && self.steps.len() * 2 <= wgpu::QUERY_SET_MAX_QUERIES as usize =>
            {
                Timing::Timestamps
            }
            Some(_) => Timing::Host,
        };
        let mut host_times = Vec::new();
        match timing {
            Timing::Off => {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                for (step, groups) in self.steps.iter().zip(step_groups(&self.steps, memory)) {
                    record(&mut pass, step, groups);
                }
            }
            Timing::Timestamps => {
                memory.make_queries(&d.device, self.steps.len());
                let memory = &*memory;
                let queries = memory.queries.as_ref().ok_or_else(|| {
                    Error::Internal("GPU: timestamp queries were not made".into())
                })?;
                for (k, (step, groups)) in self
                    .steps
                    .iter()
                    .zip(step_groups(&self.steps, memory))
                    .enumerate()
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &queries.set,
                            beginning_of_pass_write_index: Some(2 * k as u32),
                            end_of_pass_write_index: Some(2 * k as u32 + 1),
                        }),
                    });
                    record(&mut pass, step, groups);
                }
                let count = 2 * self.steps.len() as u32;
                encoder.resolve_query_set(&queries.set, 0..count, &queries.resolved, 0);
                encoder.copy_buffer_to_buffer(
                    &queries.resolved,
                    0,
                    &queries.readback,
                    0,
                    u64::from(count) * 8,
                );
            }
            Timing::Host => {
                // No timestamps on this device: each step is its own submission, timed on the host.
                for (step, groups) in self.steps.iter().zip(step_groups(&self.steps, memory)) {
                    let started = std::time::Instant::now();
                    let mut own = d
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                    record(
                        &mut own.begin_compute_pass(&wgpu::ComputePassDescriptor::default()),
                        step,
                        groups,
                    );
                    d.queue.submit([own.finish()]);
                    wait_for_submissions(&d.device)?;
                    host_times.push(started.elapsed());
                }
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
        if let Some(profile) = profile {
            let times = match timing {
                Timing::Timestamps => self.gpu_times(memory)?,
                _ => host_times,
            };
            profile.extend(
                self.steps
                    .iter()
                    .zip(times)
                    .map(|(s, real_time)| ProfileEntry {
                        node_name: s.node.friendly_name(),
                        node_type: s.node.type_name().to_string(),
                        exec_type: s.exec_type.clone(),
                        real_time,
                    }),
            );
        }
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

impl GpuPlan {
    /// Each step's time from the timestamps the last inference wrote around its compute pass.
    fn gpu_times(&self, memory: &RequestMemory) -> Result<Vec<std::time::Duration>> {
        let queries = memory
            .queries
            .as_ref()
            .ok_or_else(|| Error::Internal("GPU: no timestamp queries were written".into()))?;
        let bytes = read_back(&self.device.device, &queries.readback);
        if bytes.is_err() {
            queries.readback.unmap();
        }
        let ticks: Vec<u64> = bytes?
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let period = f64::from(self.device.queue.get_timestamp_period());
        Ok(ticks
            .chunks_exact(2)
            .take(self.steps.len())
            .map(|t| {
                let ns = t[1].saturating_sub(t[0]) as f64 * period;
                std::time::Duration::from_nanos(ns as u64)
            })
            .collect())
    }
}

/// How an inference times its steps.
#[derive(Debug, Clone, Copy)]
enum Timing {
    /// Not profiled: one compute pass.
    Off,
    /// One compute pass per step, with GPU timestamps at its beginning and end.
    Timestamps,
    /// One submission per step, timed on the host.
    Host,
}

/// Each step's bind groups (one per dispatch, in order).
fn step_groups<'a>(
    steps: &'a [Step],
    memory: &'a RequestMemory,
) -> impl Iterator<Item = &'a [wgpu::BindGroup]> + 'a {
    let mut at = 0;
    steps.iter().map(move |s| {
        let end = (at + s.dispatches.len()).min(memory.bind_groups.len());
        let groups = memory.bind_groups.get(at..end).unwrap_or_default();
        at = end;
        groups
    })
}

/// Records a step's dispatches into a compute pass.
fn record(pass: &mut wgpu::ComputePass<'_>, step: &Step, groups: &[wgpu::BindGroup]) {
    for (dispatch, group) in step.dispatches.iter().zip(groups) {
        pass.set_pipeline(&dispatch.pipeline);
        pass.set_bind_group(0, group, &[]);
        let [x, y, z] = dispatch.workgroups;
        pass.dispatch_workgroups(x, y, z);
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

/// The values a step's dispatches bind (inputs and outputs).
fn bound_values(l: &Lowered, dispatches: &[Dispatch]) -> Vec<usize> {
    dispatches
        .iter()
        .flat_map(|d| &d.bindings)
        .filter_map(|b| match b {
            Binding::Input(i) => l.inputs.get(*i).copied(),
            Binding::Output(i) => l.outputs.get(*i).copied(),
            Binding::Params(_) => None,
        })
        .collect()
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
        if values[r].location == Location::Unplaced {
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
            .filter(|&r| !pinned[r] && last[r] == i)
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
fn plan_step(device: &GpuDevice, l: Lowered, dispatches: Vec<Dispatch>) -> Result<Step> {
    let dispatches = dispatches
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
    use crate::ops::structure::ResultOp;
    use crate::plugins::gpu::context;
    use crate::plugins::gpu::kernels::testing::{constant, f32_parameter, have_gpu};

    fn unary_chain(ops: &[&str], reshape_after: Option<usize>) -> Model {
        let p = f32_parameter(&[2, 6]);
        let mut x = p.clone();
        for (i, name) in ops.iter().enumerate() {
            x = Node::new(create(name, 1).unwrap(), vec![x.output(0)]).unwrap();
            if reshape_after == Some(i) {
                let shape = Tensor::from_vec(&[3], vec![3i64, 2, 2]).unwrap();
                let c = constant(shape);
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
        let out = plan
            .run(std::slice::from_ref(x), &mut memory, None)
            .unwrap();
        // A second inference on the same memory gives the same answer.
        let again = plan
            .run(std::slice::from_ref(x), &mut memory, None)
            .unwrap();
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
        // Negative+Relu fuse into one step, the three after the Reshape into another; the Reshape is a step
        // that dispatches nothing. Buffers: the input, the first step's result (aliased by the Reshape) and
        // the output.
        assert_eq!(plan.arena_buffers(), 3);
        let steps = plan.executed_steps();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].exec_type, "alias");
        assert!(plan.steps[1].dispatches.is_empty());
        assert_eq!(steps[2].absorbed.len(), 2);
        assert_eq!(
            steps[2].exec_type,
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
        let x = f32_parameter(&[2, 3]);
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
        let out = plan.run(&[input], &mut memory, None).unwrap();
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
        let out = plan
            .run(&[input], &mut plan.new_memory().unwrap(), None)
            .unwrap();
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
    fn a_chain_with_a_constant_parameter_fuses_with_the_right_inputs() {
        if !have_gpu() {
            return;
        }
        // Swish(x, beta = 2) * y: beta is written into the shader, so the fused kernel reads x and y only.
        let param = || f32_parameter(&[4]);
        let (x, y) = (param(), param());
        let beta = constant(Tensor::from_vec(&[], vec![2.0f32]).unwrap());
        let swish = Node::new(
            create("Swish", 4).unwrap(),
            vec![x.output(0), beta.output(0)],
        )
        .unwrap();
        let product = Node::new(
            create("Multiply", 1).unwrap(),
            vec![swish.output(0), y.output(0)],
        )
        .unwrap();
        let r = Node::new(Box::new(ResultOp), vec![product.output(0)]).unwrap();
        let model = Model::new(vec![r], vec![], vec![x, y], "swiglu").unwrap();
        let plan = GpuPlan::build(&model, context::adapter("").unwrap().device().unwrap()).unwrap();
        assert_eq!(plan.steps.len(), 1);
        let xs = [1.0f32, -2.0, 3.0, 0.5];
        let ys = [0.5f32, 1.0, -1.0, 2.0];
        let feeds = [
            Tensor::from_vec(&[4], xs.to_vec()).unwrap(),
            Tensor::from_vec(&[4], ys.to_vec()).unwrap(),
        ];
        let mut memory = plan.new_memory().unwrap();
        let got = plan
            .run(&feeds, &mut memory, None)
            .unwrap()
            .remove(0)
            .to_f64_vec();
        for ((g, a), b) in got.iter().zip(xs).zip(ys) {
            let want = f64::from(a) / (1.0 + (-2.0 * f64::from(a)).exp()) * f64::from(b);
            assert!((g - want).abs() < 1e-5, "{g} vs {want}");
        }
    }

    #[test]
    fn profiled_inferences_time_every_step() {
        if !have_gpu() {
            return;
        }
        let model = unary_chain(&["Negative", "Relu", "Negative", "Abs"], Some(1));
        let plan = GpuPlan::build(&model, context::adapter("").unwrap().device().unwrap()).unwrap();
        let x = Tensor::from_vec(&[2, 6], (0..12).map(|i| i as f32 - 6.0).collect()).unwrap();
        let mut memory = plan.new_memory().unwrap();
        let plain = plan
            .run(std::slice::from_ref(&x), &mut memory, None)
            .unwrap();
        for _ in 0..2 {
            let mut profile = Vec::new();
            let out = plan
                .run(std::slice::from_ref(&x), &mut memory, Some(&mut profile))
                .unwrap();
            assert_eq!(out[0].to_f64_vec(), plain[0].to_f64_vec());
            let kernels: Vec<&str> = profile.iter().map(|e| e.exec_type.as_str()).collect();
            assert_eq!(
                kernels,
                [
                    "eltwise_negative_f32+relu_f32",
                    "alias",
                    "eltwise_negative_f32+abs_f32"
                ]
            );
            assert_eq!(profile[1].node_type, "Reshape");
            assert!(
                profile
                    .iter()
                    .map(|e| e.real_time)
                    .sum::<std::time::Duration>()
                    > std::time::Duration::ZERO
            );
        }
    }

    #[test]
    fn a_per_channel_bias_add_fuses_into_the_convolution() {
        if !have_gpu() {
            return;
        }
        let mut rng = crate::plugins::cpu::kernels::testing::Lcg(4);
        let x = rng.tensor(&[1, 3, 6, 6]);
        let conv_op = || {
            let mut op = create("Convolution", 1).unwrap();
            let attrs: Vec<(String, crate::ir::AttrValue)> = [
                ("strides", vec![1, 1]),
                ("dilations", vec![1, 1]),
                ("pads_begin", vec![1, 1]),
                ("pads_end", vec![1, 1]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), crate::ir::AttrValue::Ints(v)))
            .collect();
            op.visit_attributes(&mut crate::ir::AttributeSetter::new(&attrs))
                .unwrap();
            op
        };
        // Per channel ([1, 8, 1, 1]) fuses; per column ([1, 1, 1, 6]) stays an elementwise step.
        for (bias_shape, fused) in [(&[1usize, 8, 1, 1][..], true), (&[1, 1, 1, 6], false)] {
            let w = rng.tensor(&[8, 3, 3, 3]);
            let b = rng.tensor(bias_shape);
            let p = f32_parameter(&[1, 3, 6, 6]);
            let conv =
                Node::new(conv_op(), vec![p.output(0), constant(w.clone()).output(0)]).unwrap();
            let add = Node::new(
                create("Add", 1).unwrap(),
                vec![conv.output(0), constant(b.clone()).output(0)],
            )
            .unwrap();
            let relu = Node::new(create("Relu", 1).unwrap(), vec![add.output(0)]).unwrap();
            let r = Node::new(Box::new(ResultOp), vec![relu.output(0)]).unwrap();
            let model = Model::new(vec![r], vec![], vec![p], "conv_bias").unwrap();
            let (plan, got) = run(&model, &x);
            let steps = plan.executed_steps();
            let absorbed: Vec<&str> = steps[0].absorbed.iter().map(|n| n.type_name()).collect();
            assert_eq!(absorbed == ["Add"], fused, "{bias_shape:?}");
            let conv_out = conv_op().evaluate(&[&x, &w]).unwrap().remove(0);
            let sum = create("Add", 1)
                .unwrap()
                .evaluate(&[&conv_out, &b])
                .unwrap()
                .remove(0);
            let want = create("Relu", 1)
                .unwrap()
                .evaluate(&[&sum])
                .unwrap()
                .remove(0);
            for (g, w) in got.to_f64_vec().iter().zip(want.to_f64_vec()) {
                assert!((g - w).abs() <= 1e-4 + 1e-3 * w.abs(), "{g} vs {w}");
            }
        }
    }

    #[test]
    fn constants_read_only_at_compile_time_are_not_uploaded() {
        if !have_gpu() {
            return;
        }
        // Slice-8 x[:, 1:INT64_MAX]: the bounds do not fit the GPU's i32 storage, and need not.
        let p = f32_parameter(&[2, 6]);
        let bound = |v: Vec<i64>| constant(Tensor::from_vec(&[v.len()], v).unwrap()).output(0);
        let slice = Node::new(
            create("Slice", 8).unwrap(),
            vec![
                p.output(0),
                bound(vec![1]),
                bound(vec![i64::MAX]),
                bound(vec![1]),
                bound(vec![1]),
            ],
        )
        .unwrap();
        // A step after the slice reuses the arena the slice's inputs leave.
        let neg = Node::new(create("Negative", 1).unwrap(), vec![slice.output(0)]).unwrap();
        let r = Node::new(Box::new(ResultOp), vec![neg.output(0)]).unwrap();
        let model = Model::new(vec![r], vec![], vec![p], "slice").unwrap();
        let x = Tensor::from_vec(&[2, 6], (0..12).map(|v| v as f32).collect()).unwrap();
        let (plan, out) = run(&model, &x);
        assert_eq!(plan.constants.len(), 0);
        assert_eq!(out.shape(), &[2, 5]);
        assert_eq!(out.to_f64_vec()[..5], [-1.0, -2.0, -3.0, -4.0, -5.0]);
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
