//! The GPU plugin: any GPU wgpu reaches (Vulkan, Metal, DX12), one device per adapter (`GPU.0`, `GPU.1`…).
//!
//! Compiling runs the common passes and splits MatMul weights over the binding limit, then lowers the graph
//! (`lowering`, [`plan::GpuPlan`]): constant sub-graphs fold on the host, constants upload once, each node
//! becomes a [`kernels::GpuKernel`] (a list of compute dispatches), Reshape/Squeeze/Unsqueeze alias their
//! input, and intermediates share arena buffers by liveness. An inference
//! uploads the inputs, records every dispatch in one submission and reads back only the outputs. Adapter limits
//! and features are read at run time ([`context::Caps`]). A node with no GPU kernel makes the compilation fail
//! with an error listing every such node; `query_model` runs the same passes and lowering, so it reports exactly
//! what compiling accepts, and `HETERO:GPU,CPU` runs the rest on the CPU.
//!
//! # Adding a kernel family
//!
//! 1. Write the shader as `shaders/<family>.wgsl` (bindings in group 0; parameters such as shapes and strides
//!    in a read-only `array<u32>` storage buffer; workgroup sizes within [`context::Caps`]).
//! 2. Write `kernels/<family>.rs`: `pub const SHADER: &str = include_str!("../shaders/<family>.wgsl");`, a
//!    struct implementing [`kernels::GpuKernel`] (`name`, `dispatches`: a [`kernels::Dispatch`] per compute pass
//!    step with its [`pipelines::PipelineKey`], its [`kernels::Binding`]s — `Input(i)`, `Output(i)`,
//!    `Params(Vec<u32>)` in binding order — and workgroup counts; [`kernels::grid`] splits large 1-D counts), and
//!    `pub fn select(op, inputs, outputs) -> Option<Box<dyn GpuKernel>>` that downcasts the op
//!    (`op.as_any().downcast_ref::<YourOp>()`) and returns None when it cannot run it (types, attributes).
//! 3. Register it: `pub mod <family>;` and one entry in `FAMILIES` and `SHADER_FILES` in `kernels/mod.rs`.
//! 4. Test it with `testing::check_against_reference` (kernel vs the op's `evaluate`, skipped without an
//!    adapter) — the naga test picks up every shader in `SHADER_FILES` by itself.
//!
//! Values are stored as f32 or i32 (i64 narrowed to i32 at upload, range-checked); inputs of a kernel have static
//! shapes; constant inputs carry their value in `TensorDesc::value`.

pub mod context;
pub mod kernels;
mod lowering;
pub mod pipelines;
pub mod plan;
mod split_weights;

use crate::error::{Error, Result};
use crate::ir::{Model, Node, Tensor};
use crate::runtime::plugin::{CompiledModel, ExecutedStep, Plugin, RequestState};
use crate::runtime::properties::{Config, Mutability, PropertyValue, keys};
use crate::transformations::Readers;
use plan::{GpuPlan, RequestMemory};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// Properties the GPU plugin accepts in a compile config, with their defaults.
fn default_config() -> Config {
    Config::from([
        (
            keys::PERFORMANCE_HINT.into(),
            PropertyValue::from("LATENCY"),
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
        (keys::NUM_STREAMS.into(), PropertyValue::Int(1)),
        (
            keys::PERFORMANCE_HINT_NUM_REQUESTS.into(),
            PropertyValue::Int(0),
        ),
        (keys::ENABLE_MMAP.into(), PropertyValue::Bool(true)),
        (keys::CACHE_DIR.into(), PropertyValue::from("")),
        (keys::LOG_LEVEL.into(), PropertyValue::from("LOG_NONE")),
        (keys::DEVICE_ID.into(), PropertyValue::from("0")),
    ])
}

/// Read-only properties of the device.
const READ_ONLY: &[&str] = &[
    keys::FULL_DEVICE_NAME,
    keys::DEVICE_TYPE,
    keys::DEVICE_ARCHITECTURE,
    keys::OPTIMIZATION_CAPABILITIES,
    keys::SUPPORTED_PROPERTIES,
    keys::AVAILABLE_DEVICES,
];

/// The GPU device.
#[derive(Default)]
pub struct GpuPlugin {
    /// What `set_property` set (the defaults of [`default_config`] fill the rest).
    config: Mutex<Config>,
}

fn lock_error<T>(_: T) -> Error {
    Error::Device("GPU: config lock poisoned".into())
}

/// Checks that every key of `config` is a known read-write property.
fn check_keys(config: &Config) -> Result<()> {
    let known = default_config();
    match config.keys().find(|k| !known.contains_key(*k)) {
        Some(k) => Err(Error::NotFound(format!(
            "GPU: unsupported property '{k}' (supported: {})",
            known.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
        None => Ok(()),
    }
}

/// A copy of `model` after the passes compiling runs: the common ones, then the splitting of MatMul weights over
/// the adapter's binding limit.
fn transform(model: &Model, caps: &context::Caps) -> Result<Model> {
    let model = model.deep_clone()?;
    crate::transformations::run_common_passes(&model)?;
    split_weights::split_oversized_weights(&model, caps)?;
    Ok(model)
}

impl GpuPlugin {
    /// The device configuration merged with `config`.
    fn merged(&self, config: &Config) -> Result<Config> {
        check_keys(config)?;
        let mut merged = default_config();
        merged.extend(self.config.lock().map_err(lock_error)?.clone());
        merged.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(merged)
    }

    /// The adapter a configuration selects (DEVICE_ID, default the first).
    fn adapter(config: &Config) -> Result<&'static context::GpuAdapter> {
        let id = config
            .get(keys::DEVICE_ID)
            .map(|v| v.to_string())
            .unwrap_or_default();
        context::adapter(&id)
    }

    fn build(&self, model: Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let merged = self.merged(config)?;
        let adapter = Self::adapter(&merged)?;
        let plan = GpuPlan::build(&model, adapter.device()?)?;
        let profiling = merged
            .get(keys::PERF_COUNT)
            .map_or(Ok(false), |v| v.as_bool(keys::PERF_COUNT))?;
        Ok(Arc::new(GpuCompiledModel {
            model,
            plan,
            profiling,
            config: merged,
            device_name: adapter.info.name.clone(),
        }))
    }
}

impl Plugin for GpuPlugin {
    fn name(&self) -> &str {
        "GPU"
    }

    /// One adapter is `GPU` (no id, as OpenVINO lists a single GPU); several are `GPU.0`, `GPU.1`…
    fn device_ids(&self) -> Vec<String> {
        match context::adapters().len() {
            0 | 1 => Vec::new(),
            n => (0..n).map(|i| i.to_string()).collect(),
        }
    }

    /// AUTO picks a GPU only when some adapter is a real one (not a software renderer such as lavapipe).
    fn auto_selectable(&self) -> bool {
        context::adapters()
            .iter()
            .any(|a| a.info.device_type != wgpu::DeviceType::Cpu)
    }

    /// The nodes compiling would run on the GPU: the model goes through the same passes and lowering as in
    /// [`Plugin::compile`]; a node a pass removed (fused into another) counts as supported when every node
    /// reading it is.
    fn query_model(&self, model: &Model, config: &Config) -> Result<BTreeMap<String, String>> {
        let caps = &Self::adapter(&self.merged(config)?)?.caps;
        let transformed = transform(model, caps)?;
        let graph = lowering::lower(&transformed, caps)?;
        let refused: HashSet<String> = graph
            .refused
            .iter()
            .map(|(node, _)| node.friendly_name())
            .collect();
        let kept: HashSet<String> = transformed
            .ordered_ops()?
            .iter()
            .map(Node::friendly_name)
            .collect();
        let order = model.ordered_ops()?;
        let readers = Readers::of_graph(&order);
        let mut accepted: HashSet<u64> = HashSet::new();
        for node in order.iter().rev() {
            let name = node.friendly_name();
            let ok = if kept.contains(&name) {
                !refused.contains(&name)
            } else {
                node.outputs()
                    .iter()
                    .flat_map(|o| readers.of(o))
                    .all(|r| accepted.contains(&r.id()))
            };
            if ok {
                accepted.insert(node.id());
            }
        }
        Ok(order
            .iter()
            .filter(|n| accepted.contains(&n.id()))
            .map(|n| (n.friendly_name(), "GPU".to_string()))
            .collect())
    }

    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let adapter = Self::adapter(&self.merged(config)?)?;
        self.build(transform(model, &adapter.caps)?, config)
    }

    fn import_model(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        self.build(model.clone(), config)
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        let list = |items: Vec<String>| {
            PropertyValue::List(items.into_iter().map(PropertyValue::Str).collect())
        };
        match key {
            keys::AVAILABLE_DEVICES => Ok(list(
                (0..context::adapters().len())
                    .map(|i| i.to_string())
                    .collect(),
            )),
            keys::FULL_DEVICE_NAME
            | keys::DEVICE_TYPE
            | keys::DEVICE_ARCHITECTURE
            | keys::OPTIMIZATION_CAPABILITIES => {
                let adapter = Self::adapter(&self.merged(&Config::new())?)?;
                Ok(match key {
                    keys::FULL_DEVICE_NAME => PropertyValue::Str(adapter.info.name.clone()),
                    keys::DEVICE_TYPE => adapter.device_type().into(),
                    keys::DEVICE_ARCHITECTURE => {
                        PropertyValue::Str(format!("{:?}", adapter.info.backend).to_lowercase())
                    }
                    _ => {
                        let mut caps = vec!["FP32".to_string()];
                        if adapter.caps.shader_f16 {
                            caps.push("FP16".into());
                        }
                        list(caps)
                    }
                })
            }
            keys::SUPPORTED_PROPERTIES => {
                let mut m: BTreeMap<String, PropertyValue> = default_config()
                    .keys()
                    .map(|k| (k.clone(), PropertyValue::from(Mutability::Rw.as_str())))
                    .collect();
                for k in READ_ONLY {
                    m.insert((*k).into(), PropertyValue::from(Mutability::Ro.as_str()));
                }
                Ok(PropertyValue::Map(m))
            }
            k => self
                .merged(&Config::new())?
                .remove(k)
                .ok_or_else(|| Error::NotFound(format!("GPU: unsupported property '{k}'"))),
        }
    }

    fn set_property(&self, config: &Config) -> Result<()> {
        check_keys(config)?;
        self.config
            .lock()
            .map_err(lock_error)?
            .extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

/// A model compiled for a GPU.
pub struct GpuCompiledModel {
    model: Model,
    plan: GpuPlan,
    /// PERF_COUNT: time every step.
    profiling: bool,
    config: Config,
    device_name: String,
}

impl CompiledModel for GpuCompiledModel {
    fn model(&self) -> &Model {
        &self.model
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        state.profile.clear();
        let mut memory = match state.device_memory.take::<RequestMemory>() {
            Some(m) => m,
            None => Box::new(self.plan.new_memory()?),
        };
        let profile = self.profiling.then_some(&mut state.profile);
        let outputs = self.plan.run(inputs, &mut memory, profile);
        state.device_memory.put(memory);
        outputs
    }

    fn executed_steps(&self) -> Vec<ExecutedStep> {
        self.plan.executed_steps()
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::NETWORK_NAME => Ok(PropertyValue::Str(self.model.name.clone())),
            keys::EXECUTION_DEVICES => Ok(PropertyValue::List(vec!["GPU".into()])),
            keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => Ok(PropertyValue::Int(1)),
            keys::LOADED_FROM_CACHE => Ok(PropertyValue::Bool(false)),
            keys::FULL_DEVICE_NAME => Ok(PropertyValue::Str(self.device_name.clone())),
            k => self.config.get(k).cloned().ok_or_else(|| {
                Error::NotFound(format!("compiled model: unsupported property '{k}'"))
            }),
        }
    }

    fn export_model(&self) -> Result<Model> {
        Ok(self.model.clone())
    }
}
