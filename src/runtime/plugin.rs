//! The device-plugin trait and the compiled-model trait every device implements.

use super::properties::{Config, PropertyValue};
use crate::error::Result;
use crate::ir::{Model, Tensor};
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
}

/// Per-request mutable state (variables of stateful models, scratch buffers).
#[derive(Debug, Default)]
pub struct RequestState {
    /// Variable id → current value.
    pub variables: BTreeMap<String, Tensor>,
}

/// A model compiled for one device.
pub trait CompiledModel: Send + Sync {
    /// The model as compiled (inputs, outputs and their names come from here).
    fn model(&self) -> &Model;
    /// Runs one inference: one tensor per model input, in order; returns one tensor per output.
    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>>;
    /// Reads a compiled-model property.
    fn get_property(&self, key: &str) -> Result<PropertyValue>;
}
