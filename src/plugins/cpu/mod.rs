//! The CPU plugin: compiles a model into a [`plan::Plan`] of kernels and runs it.

pub mod affinity;
pub mod fusion;
pub mod kernels;
pub mod plan;
pub mod streams;

use crate::error::{Error, Result};
use crate::ir::Model;
use crate::ir::Tensor;
use crate::runtime::plugin::{CompiledModel, ExecutedStep, Plugin, RequestState};
use crate::runtime::properties::{Config, Mutability, PropertyValue, keys};
use plan::{Plan, Workspace};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use streams::{StreamConfig, Streams};

/// Properties the CPU plugin accepts in a compile config, with their defaults.
fn default_config() -> Config {
    Config::from([
        (
            keys::PERFORMANCE_HINT.into(),
            PropertyValue::from("LATENCY"),
        ),
        (keys::INFERENCE_NUM_THREADS.into(), PropertyValue::Int(0)),
        (keys::NUM_STREAMS.into(), PropertyValue::Int(1)),
        (
            keys::PERFORMANCE_HINT_NUM_REQUESTS.into(),
            PropertyValue::Int(0),
        ),
        (
            keys::INFERENCE_PRECISION_HINT.into(),
            PropertyValue::from("f32"),
        ),
        (
            keys::EXECUTION_MODE_HINT.into(),
            PropertyValue::from("PERFORMANCE"),
        ),
        (keys::PERF_COUNT.into(), PropertyValue::Bool(false)),
        (keys::ENABLE_MMAP.into(), PropertyValue::Bool(true)),
        (keys::ENABLE_CPU_PINNING.into(), PropertyValue::Bool(true)),
        (keys::CACHE_DIR.into(), PropertyValue::from("")),
        (keys::LOG_LEVEL.into(), PropertyValue::from("LOG_NONE")),
    ])
}

/// The CPU device.
pub struct CpuPlugin {
    /// What `set_property` set (the defaults of [`default_config`] fill the rest), so that a compilation can
    /// tell a chosen NUM_STREAMS from the default one, which the performance hint overrides.
    config: Mutex<Config>,
}

impl Default for CpuPlugin {
    fn default() -> Self {
        CpuPlugin {
            config: Mutex::new(Config::new()),
        }
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

/// Checks that every key of `config` is a known read-write property.
fn check_keys(config: &Config) -> Result<()> {
    let known = default_config();
    for k in config.keys() {
        if !known.contains_key(k) {
            return Err(Error::NotFound(format!(
                "CPU: unsupported property '{k}' (supported: {})",
                known.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

impl CpuPlugin {
    /// Plans a transformed model with the device configuration merged with `config`.
    fn build(&self, model: Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        check_keys(config)?;
        let mut chosen = self
            .config
            .lock()
            .map_err(|_| Error::Internal("config lock".into()))?
            .clone();
        chosen.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut merged = default_config();
        merged.extend(chosen.iter().map(|(k, v)| (k.clone(), v.clone())));
        let plan = Plan::build(&model)?;
        let flag = |key: &str| merged.get(key).map_or(Ok(false), |v| v.as_bool(key));
        let profiling = flag(keys::PERF_COUNT)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let streams = Streams::start(
            StreamConfig::resolve(&chosen, cores)?,
            flag(keys::ENABLE_CPU_PINNING)?,
        )?;
        Ok(Arc::new(CpuCompiledModel {
            model,
            plan,
            config: merged,
            profiling,
            streams,
        }))
    }
}

impl Plugin for CpuPlugin {
    fn name(&self) -> &str {
        "CPU"
    }

    fn device_ids(&self) -> Vec<String> {
        Vec::new()
    }

    fn query_model(&self, model: &Model, _config: &Config) -> Result<BTreeMap<String, String>> {
        Ok(model
            .ordered_ops()?
            .iter()
            .map(|n| (n.friendly_name(), "CPU".to_string()))
            .collect())
    }

    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let model = model.deep_clone()?;
        crate::transformations::run_common_passes(&model)?;
        self.build(model, config)
    }

    fn import_model(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        self.build(model.clone(), config)
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::FULL_DEVICE_NAME => Ok(PropertyValue::Str(cpu_name())),
            keys::DEVICE_TYPE => Ok("integrated".into()),
            keys::DEVICE_ARCHITECTURE => Ok(std::env::consts::ARCH.into()),
            keys::OPTIMIZATION_CAPABILITIES => Ok(PropertyValue::List(
                ["FP32", "INT8", "EXPORT_IMPORT"]
                    .iter()
                    .map(|s| PropertyValue::from(*s))
                    .collect(),
            )),
            keys::SUPPORTED_PROPERTIES => {
                let mut m: BTreeMap<String, PropertyValue> = default_config()
                    .keys()
                    .map(|k| (k.clone(), PropertyValue::from(Mutability::Rw.as_str())))
                    .collect();
                for k in [
                    keys::FULL_DEVICE_NAME,
                    keys::DEVICE_TYPE,
                    keys::DEVICE_ARCHITECTURE,
                    keys::OPTIMIZATION_CAPABILITIES,
                    keys::SUPPORTED_PROPERTIES,
                    keys::AVAILABLE_DEVICES,
                ] {
                    m.insert(k.into(), PropertyValue::from(Mutability::Ro.as_str()));
                }
                Ok(PropertyValue::Map(m))
            }
            k => self
                .config
                .lock()
                .map_err(|_| Error::Internal("config lock".into()))?
                .get(k)
                .cloned()
                .or_else(|| default_config().remove(k))
                .ok_or_else(|| Error::NotFound(format!("CPU: unsupported property '{k}'"))),
        }
    }

    fn set_property(&self, config: &Config) -> Result<()> {
        check_keys(config)?;
        let mut c = self
            .config
            .lock()
            .map_err(|_| Error::Internal("config lock".into()))?;
        c.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

/// A model compiled for the CPU.
pub struct CpuCompiledModel {
    model: Model,
    plan: Plan,
    config: Config,
    /// PERF_COUNT: time every node.
    profiling: bool,
    /// The thread pools requests run on.
    streams: Streams,
}

/// What a request keeps between inferences on the CPU: its stream and its intermediate buffers.
struct RequestMemory {
    stream: usize,
    workspace: Workspace,
}

impl CompiledModel for CpuCompiledModel {
    fn model(&self) -> &Model {
        &self.model
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        state.profile.clear();
        let mut memory = match state.device_memory.take::<RequestMemory>() {
            Some(memory) => memory,
            None => Box::new(RequestMemory {
                stream: self.streams.assign(),
                workspace: Workspace::default(),
            }),
        };
        let profile = self.profiling.then_some(&mut state.profile);
        let RequestMemory { stream, workspace } = &mut *memory;
        let variables = &mut state.variables;
        let outputs = self.streams.run(*stream, || {
            self.plan.run(inputs, workspace, profile, variables)
        });
        state.device_memory.put(memory);
        outputs
    }

    fn executed_steps(&self) -> Vec<ExecutedStep> {
        self.plan.executed_nodes()
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::NETWORK_NAME => Ok(PropertyValue::Str(self.model.name.clone())),
            keys::EXECUTION_DEVICES => Ok(PropertyValue::List(vec!["CPU".into()])),
            keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS | keys::NUM_STREAMS => {
                Ok(PropertyValue::Int(self.streams.config().streams as i64))
            }
            keys::INFERENCE_NUM_THREADS => {
                let c = self.streams.config();
                Ok(PropertyValue::Int(
                    (c.streams * c.threads_per_stream) as i64,
                ))
            }
            keys::LOADED_FROM_CACHE => Ok(PropertyValue::Bool(false)),
            k => self.config.get(k).cloned().ok_or_else(|| {
                Error::NotFound(format!("compiled model: unsupported property '{k}'"))
            }),
        }
    }

    fn export_model(&self) -> Result<Model> {
        Ok(self.model.clone())
    }
}
