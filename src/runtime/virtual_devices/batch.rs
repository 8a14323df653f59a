//! BATCH: `BATCH:CPU(4)` batches independent infer requests into one inference of the model reshaped to batch 4.
//!
//! The model qualifies when every input and output has a leading dimension of 1 and reshaping the inputs to
//! N gives outputs with a leading N; otherwise BATCH compiles the model as is on the device. Requests hand their
//! inputs to a collector thread, which waits until N have arrived (one batched inference, outputs split back) or
//! `AUTO_BATCH_TIMEOUT` ms have passed since the first (each collected request then runs alone on the unbatched
//! model). `OPTIMAL_NUMBER_OF_INFER_REQUESTS` is N, so an `AsyncInferQueue` fills whole batches.

use super::{AUTO_BATCH_TIMEOUT, Devices, OwnProperties, device_list, int_or, priorities};
use crate::error::{Error, Result};
use crate::ir::{Dimension, Model, PartialShape, Tensor};
use crate::runtime::plugin::{CompiledModel, Plugin, RequestState};
use crate::runtime::properties::{Config, PropertyValue, keys};
use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// OpenVINO's default `AUTO_BATCH_TIMEOUT` (ms).
const DEFAULT_TIMEOUT_MS: i64 = 1000;

/// The BATCH device.
pub struct BatchPlugin {
    devices: Devices,
    props: OwnProperties,
}

impl BatchPlugin {
    /// BATCH over the physical `devices`.
    pub fn new(devices: Devices) -> BatchPlugin {
        let defaults = Config::from([
            (
                keys::MULTI_DEVICE_PRIORITIES.into(),
                PropertyValue::from(""),
            ),
            (
                AUTO_BATCH_TIMEOUT.into(),
                PropertyValue::Int(DEFAULT_TIMEOUT_MS),
            ),
        ]);
        BatchPlugin {
            devices,
            props: OwnProperties::new("BATCH", defaults),
        }
    }
}

/// `CPU(4)` → (`CPU`, 4); `CPU` → (`CPU`, 1).
pub fn parse_device(entry: &str) -> Result<(String, usize)> {
    let bad = || {
        Error::InvalidArgument(format!(
            "BATCH: '{entry}' is not DEVICE or DEVICE(batch size), e.g. CPU(4)"
        ))
    };
    match entry.trim().split_once('(') {
        None => Ok((entry.trim().to_string(), 1)),
        Some((device, rest)) => {
            let n = rest
                .strip_suffix(')')
                .and_then(|n| n.trim().parse::<usize>().ok())
                .filter(|&n| n >= 1)
                .ok_or_else(bad)?;
            Ok((device.trim().to_string(), n))
        }
    }
}

/// The model with every input's leading dimension set to `n`, when the model can be batched that way: it keeps
/// no state (no sinks), all inputs and outputs have a leading 1 (byte-sized element types), and the outputs'
/// leading dimension becomes `n`.
pub fn batched(model: &Model, n: usize) -> Option<Model> {
    let leading_one = |s: &PartialShape| {
        s.dims()
            .and_then(|d| d.first())
            .is_some_and(|d| d.get() == Some(1))
    };
    let byte_sized = |o: &crate::ir::Output| o.element_type().bitwidth().is_multiple_of(8);
    let ios: Vec<_> = model.inputs().into_iter().chain(model.outputs()).collect();
    let stateless = model.sinks.is_empty();
    if n < 2 || !stateless || !ios.iter().all(|o| leading_one(&o.shape()) && byte_sized(o)) {
        return None;
    }
    let copy = model.deep_clone().ok()?;
    let shapes = copy
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut dims = o.shape().dims()?.to_vec();
            *dims.first_mut()? = Dimension::new(n as u64);
            Some((i, PartialShape::new(dims)))
        })
        .collect::<Option<Vec<_>>>()?;
    copy.reshape(&shapes).ok()?;
    let leading_n = |o: &crate::ir::Output| {
        o.shape()
            .dims()
            .and_then(|d| d.first())
            .is_some_and(|d| d.get() == Some(n as u64))
    };
    copy.outputs().iter().all(leading_n).then_some(copy)
}

impl Plugin for BatchPlugin {
    fn name(&self) -> &str {
        "BATCH"
    }

    fn device_ids(&self) -> Vec<String> {
        Vec::new()
    }

    fn query_model(&self, model: &Model, config: &Config) -> Result<BTreeMap<String, String>> {
        let config = self.props.merged(config)?;
        let (device, _) = target(&config)?;
        self.devices
            .plugin(&device)?
            .query_model(model, &super::device_config(&config, &device))
    }

    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let config = self.props.merged(config)?;
        let (device, n) = target(&config)?;
        let timeout = int_or(&config, AUTO_BATCH_TIMEOUT, DEFAULT_TIMEOUT_MS)?.max(0) as u64;
        let single = self.devices.compile(&device, model, &config)?;
        let batch = match batched(model, n) {
            Some(b) => Some(self.devices.compile(&device, &b, &config)?),
            None => None,
        };
        let (jobs, queue) = mpsc::channel();
        let collector = Collector {
            single: single.clone(),
            batched: batch.clone(),
            n,
            timeout: Duration::from_millis(timeout),
        };
        if batch.is_some() {
            std::thread::Builder::new()
                .name("ferrovino-batch".into())
                .spawn(move || collector.serve(queue))
                .map_err(|e| Error::Device(format!("BATCH: cannot start its thread: {e}")))?;
        }
        Ok(Arc::new(BatchModel {
            single,
            batching: batch.is_some(),
            jobs: Mutex::new(jobs),
            device,
            n,
            timeout,
        }))
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        self.props.get(key)
    }

    fn set_property(&self, config: &Config) -> Result<()> {
        self.props.set(config)
    }
}

/// The device and batch size of a BATCH config (`MULTI_DEVICE_PRIORITIES` = `CPU(4)`).
fn target(config: &Config) -> Result<(String, usize)> {
    match priorities(config, "BATCH")?.as_slice() {
        [one] => parse_device(one),
        more => Err(Error::InvalidArgument(format!(
            "BATCH batches on one device, got {}",
            more.join(",")
        ))),
    }
}

/// One request's inputs and where its outputs go.
struct Job {
    inputs: Vec<Tensor>,
    reply: Sender<Result<Vec<Tensor>>>,
}

/// The collector thread's models and batching rule.
struct Collector {
    single: Arc<dyn CompiledModel>,
    batched: Option<Arc<dyn CompiledModel>>,
    n: usize,
    timeout: Duration,
}

impl Collector {
    /// Collects and runs batches until the compiled model is dropped.
    fn serve(self, queue: Receiver<Job>) {
        let mut batch_state = RequestState::default();
        let mut single_state = RequestState::default();
        while let Ok(first) = queue.recv() {
            let deadline = Instant::now() + self.timeout;
            let mut jobs = vec![first];
            while jobs.len() < self.n {
                match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(job) => jobs.push(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            match &self.batched {
                Some(model) if jobs.len() == self.n => {
                    let results = run_batch(model.as_ref(), &jobs, &mut batch_state);
                    for (job, result) in jobs.into_iter().zip(results) {
                        let _ = job.reply.send(result);
                    }
                }
                _ => {
                    for job in jobs {
                        let _ = job
                            .reply
                            .send(self.single.infer(&job.inputs, &mut single_state));
                    }
                }
            }
        }
    }
}

/// Runs `jobs` as one batch: inputs joined along the leading axis, outputs split back; an error goes to every job.
fn run_batch(
    model: &dyn CompiledModel,
    jobs: &[Job],
    state: &mut RequestState,
) -> Vec<Result<Vec<Tensor>>> {
    let outputs = join_inputs(jobs).and_then(|inputs| model.infer(&inputs, state));
    match outputs {
        Ok(outputs) => (0..jobs.len())
            .map(|i| outputs.iter().map(|t| slice(t, i, jobs.len())).collect())
            .collect(),
        Err(e) => jobs
            .iter()
            .map(|_| {
                Err(Error::Device(format!(
                    "BATCH: the batched inference failed: {e}"
                )))
            })
            .collect(),
    }
}

/// Input `k` of every job, concatenated along the leading axis (each has a leading 1).
fn join_inputs(jobs: &[Job]) -> Result<Vec<Tensor>> {
    let first = jobs
        .first()
        .ok_or_else(|| Error::Internal("BATCH: empty batch".into()))?;
    (0..first.inputs.len())
        .map(|k| {
            let parts = jobs
                .iter()
                .map(|j| {
                    j.inputs.get(k).ok_or_else(|| {
                        Error::InvalidArgument(format!("BATCH: input {k} is missing"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let head = parts
                .first()
                .ok_or_else(|| Error::Internal("BATCH: empty batch".into()))?;
            if let Some(odd) = parts
                .iter()
                .find(|t| t.shape() != head.shape() || t.element_type() != head.element_type())
            {
                return Err(Error::Shape(format!(
                    "BATCH: input {k} has shape {:?} in one request and {:?} in another",
                    head.shape(),
                    odd.shape()
                )));
            }
            let mut shape = head.shape().to_vec();
            if let Some(d) = shape.first_mut() {
                *d *= parts.len();
            }
            let mut bytes = Vec::with_capacity(head.bytes().len() * parts.len());
            for t in &parts {
                bytes.extend_from_slice(t.bytes());
            }
            Tensor::from_bytes(head.element_type(), &shape, &bytes)
        })
        .collect()
}

/// Item `i` of `n` along the leading axis of a batched output.
fn slice(t: &Tensor, i: usize, n: usize) -> Result<Tensor> {
    let size = t.bytes().len() / n.max(1);
    let mut shape = t.shape().to_vec();
    if let Some(d) = shape.first_mut() {
        *d /= n.max(1);
    }
    let bytes = t
        .bytes()
        .get(i * size..(i + 1) * size)
        .ok_or_else(|| Error::Internal("BATCH: output slice".into()))?;
    Tensor::from_bytes(t.element_type(), &shape, bytes)
}

/// A model whose requests are batched.
struct BatchModel {
    single: Arc<dyn CompiledModel>,
    /// False when the model could not be batched: requests run on `single` directly.
    batching: bool,
    jobs: Mutex<Sender<Job>>,
    device: String,
    n: usize,
    timeout: u64,
}

impl CompiledModel for BatchModel {
    fn model(&self) -> &Model {
        self.single.model()
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        if !self.batching {
            return self.single.infer(inputs, state);
        }
        let (reply, answer) = mpsc::channel();
        let job = Job {
            inputs: inputs.to_vec(),
            reply,
        };
        self.jobs
            .lock()
            .map_err(|_| Error::Internal("BATCH queue lock".into()))?
            .send(job)
            .map_err(|_| Error::Device("BATCH: the collector thread has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| Error::Device("BATCH: the collector thread has stopped".into()))?
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::EXECUTION_DEVICES => Ok(device_list(std::slice::from_ref(&self.device))),
            keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => Ok(PropertyValue::Int(self.n as i64)),
            keys::MULTI_DEVICE_PRIORITIES => Ok(if self.n > 1 {
                format!("{}({})", self.device, self.n)
            } else {
                self.device.clone()
            }
            .into()),
            AUTO_BATCH_TIMEOUT => Ok(PropertyValue::Int(self.timeout as i64)),
            k => self.single.get_property(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestPlugin, relu_model};
    use super::*;
    use crate::ir::{ElementType, Node};
    use crate::ops::structure::{Parameter, ResultOp};
    use crate::runtime::core::Core;

    fn relu_1x2() -> Model {
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[1, 2]),
            )),
            vec![],
        )
        .unwrap();
        let relu = Node::new(
            crate::ops::registry::create("Relu", 1).unwrap(),
            vec![p.output(0)],
        )
        .unwrap();
        let r = Node::new(Box::new(ResultOp), vec![relu.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p], "relu").unwrap()
    }

    #[test]
    fn device_entries_parse() {
        assert_eq!(parse_device("CPU(4)").unwrap(), ("CPU".into(), 4));
        assert_eq!(parse_device(" GPU ").unwrap(), ("GPU".into(), 1));
        for bad in ["CPU(0)", "CPU(x)", "CPU(4"] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_models_with_a_leading_one_batch() {
        let b = batched(&relu_1x2(), 4).unwrap();
        assert_eq!(b.inputs()[0].shape(), PartialShape::from_static(&[4, 2]));
        assert_eq!(b.outputs()[0].shape(), PartialShape::from_static(&[4, 2]));
        assert!(batched(&relu_model(), 4).is_none(), "leading 2");
        assert!(batched(&relu_1x2(), 1).is_none());
    }

    fn infer_many(compiled: &Arc<dyn CompiledModel>, count: usize) -> Vec<Vec<f32>> {
        let threads: Vec<_> = (0..count)
            .map(|i| {
                let c = compiled.clone();
                std::thread::spawn(move || {
                    let x = Tensor::from_vec(&[1, 2], vec![i as f32, -(i as f32)]).unwrap();
                    let out = c.infer(&[x], &mut RequestState::default()).unwrap();
                    out[0].typed::<f32>().unwrap().to_vec()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }

    #[test]
    fn concurrent_requests_run_as_one_batch() {
        let gpu = TestPlugin::new("GPU", &["Relu"]);
        let log = gpu.log.clone();
        let core = Core::with_plugins(vec![Arc::new(gpu)]);
        let config = Config::from([(AUTO_BATCH_TIMEOUT.into(), PropertyValue::Int(10_000))]);
        let compiled = core
            .compile_model(&relu_1x2(), "BATCH:GPU(4)", &config)
            .unwrap();
        assert_eq!(
            compiled
                .get_property(keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS)
                .unwrap(),
            PropertyValue::Int(4)
        );
        let started = Instant::now();
        let outputs = infer_many(&compiled, 4);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a full batch does not wait"
        );
        for (i, out) in outputs.iter().enumerate() {
            assert_eq!(out, &[i as f32, 0.0]);
        }
        assert_eq!(*log.batches.lock().unwrap(), [4]);
    }

    #[test]
    fn a_partial_batch_runs_unbatched_after_the_timeout() {
        let gpu = TestPlugin::new("GPU", &["Relu"]);
        let log = gpu.log.clone();
        let core = Core::with_plugins(vec![Arc::new(gpu)]);
        let config = Config::from([(AUTO_BATCH_TIMEOUT.into(), PropertyValue::Int(50))]);
        let compiled = core
            .compile_model(&relu_1x2(), "BATCH:GPU(4)", &config)
            .unwrap();
        let outputs = infer_many(&compiled, 2);
        assert_eq!(outputs.len(), 2);
        assert_eq!(*log.batches.lock().unwrap(), [1, 1]);
        // A model that cannot be batched runs directly.
        let direct = core
            .compile_model(&relu_model(), "BATCH:GPU(4)", &config)
            .unwrap();
        let x = Tensor::from_vec(&[2], vec![-1.0f32, 3.0]).unwrap();
        let out = direct.infer(&[x], &mut RequestState::default()).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[0.0, 3.0]);
    }
}
