//! The device-plugin trait and the compiled-model trait every device implements.

use super::properties::{Config, PropertyValue};
use crate::error::{Error, Result};
use crate::ir::{Model, Tensor};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A device: compiles models and answers which nodes it can run.
pub trait Plugin: Send + Sync {
    /// The device name (`CPU`).
    fn name(&self) -> &str;
    /// Device ids of the physical devices behind this plugin (empty for a single device).
    fn device_ids(&self) -> Vec<String>;
    /// Node friendly name → this device's name, for every node it can run.
    fn query_model(&self, model: &Model, config: &Config) -> Result<BTreeMap<String, String>>;
    /// Compiles a model.
    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>>;
    /// Reads a device property.
    fn get_property(&self, key: &str) -> Result<PropertyValue>;
    /// Sets device-wide properties (defaults for later compilations).
    fn set_property(&self, config: &Config) -> Result<()>;
    /// Whether AUTO may pick this device when no device list is given (false for a GPU that is only a software
    /// renderer such as lavapipe, which is slower than the CPU plugin).
    fn auto_selectable(&self) -> bool {
        true
    }
    /// Rebuilds a compiled model from the graph a [`CompiledModel::export_model`] of this device gave (read back
    /// from a blob: already transformed, so only the device's own preparation runs).
    fn import_model(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let _ = (model, config);
        Err(Error::Unsupported(format!(
            "{}: importing compiled models is not supported",
            self.name()
        )))
    }
}

/// The time one executed node took in the last inference (PERF_COUNT).
#[derive(Debug, Clone)]
pub struct ProfileEntry {
    /// Friendly name of the node.
    pub node_name: String,
    /// Op type of the node.
    pub node_type: String,
    /// The kernel that ran it (`gemm_f32`, `ref`).
    pub exec_type: String,
    /// Wall-clock time of the node.
    pub real_time: std::time::Duration,
}

/// One step a device runs: the node it computes, the nodes fused into it and the kernel (for the runtime model
/// and per-node profiling).
#[derive(Debug, Clone)]
pub struct ExecutedStep {
    /// The node whose output the step computes.
    pub node: crate::ir::Node,
    /// Nodes fused into the step (their outputs are computed by it), in chain order.
    pub absorbed: Vec<crate::ir::Node>,
    /// The kernel that runs it (`gemm_f32`, `ref`).
    pub exec_type: String,
}

/// Per-request mutable state (variables of stateful models, profiling of the last inference, the device's
/// reusable memory).
#[derive(Debug, Default)]
pub struct RequestState {
    /// Variable id → current value.
    pub variables: BTreeMap<String, Tensor>,
    /// Per-node times of the last inference, filled when the model was compiled with PERF_COUNT.
    pub profile: Vec<ProfileEntry>,
    /// Memory the device keeps for this request between inferences.
    pub device_memory: DeviceMemory,
}

/// A device's per-request memory, kept between inferences so that a steady state allocates nothing (the CPU
/// plan's intermediate buffers). Each device stores its own type here.
#[derive(Default)]
pub struct DeviceMemory(Option<Box<dyn Any + Send>>);

impl DeviceMemory {
    /// Takes the stored memory out when it is a `T` (the device puts it back with [`DeviceMemory::put`]).
    pub fn take<T: Any + Send>(&mut self) -> Option<Box<T>> {
        self.0.take().and_then(|b| b.downcast::<T>().ok())
    }

    /// Stores the device's memory for the next inference.
    pub fn put<T: Any + Send>(&mut self, memory: Box<T>) {
        self.0 = Some(memory);
    }
}

impl std::fmt::Debug for DeviceMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "DeviceMemory(in use)"
        } else {
            "DeviceMemory(empty)"
        })
    }
}

/// A model compiled for one device.
pub trait CompiledModel: Send + Sync {
    /// The model as compiled (inputs, outputs and their names come from here).
    fn model(&self) -> &Model;
    /// Runs one inference: one tensor per model input, in order; returns one tensor per output.
    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>>;
    /// Reads a compiled-model property.
    fn get_property(&self, key: &str) -> Result<PropertyValue>;
    /// The steps an inference runs, in order (empty when the device does not tell).
    fn executed_steps(&self) -> Vec<ExecutedStep> {
        Vec::new()
    }
    /// The compiled graph an exported blob stores (already transformed: [`Plugin::import_model`] rebuilds the
    /// compiled model from it without running the passes again).
    fn export_model(&self) -> Result<Model> {
        Err(Error::Unsupported(
            "this compiled model cannot be exported".into(),
        ))
    }
}
