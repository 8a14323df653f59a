//! `Core`: the entry point that owns the device plugins, reads models and compiles them.

use super::plugin::{CompiledModel, Plugin};
use super::properties::{Config, PropertyValue, keys};
use crate::error::{Error, Result};
use crate::ir::{Model, Tensor};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The runtime's entry point.
pub struct Core {
    plugins: Vec<Arc<dyn Plugin>>,
}

impl Default for Core {
    fn default() -> Self {
        Core::new()
    }
}

/// The version of this runtime.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Core {
    /// A core with every built-in device plugin.
    pub fn new() -> Core {
        Core {
            plugins: vec![Arc::new(crate::plugins::cpu::CpuPlugin::default())],
        }
    }

    /// Physical devices: `CPU`, `GPU.0`, …
    pub fn available_devices(&self) -> Vec<String> {
        let mut v = Vec::new();
        for p in &self.plugins {
            let ids = p.device_ids();
            if ids.is_empty() {
                v.push(p.name().to_string());
            } else {
                v.extend(ids.iter().map(|id| format!("{}.{id}", p.name())));
            }
        }
        v
    }

    /// The plugin serving a device name (`CPU`, `GPU.1`), ignoring the device id.
    fn plugin(&self, device: &str) -> Result<&Arc<dyn Plugin>> {
        let base = device.split('.').next().unwrap_or(device);
        self.plugins
            .iter()
            .find(|p| p.name() == base)
            .ok_or_else(|| {
                Error::Device(format!(
                    "device '{device}' is not available (available devices: {})",
                    self.available_devices().join(", ")
                ))
            })
    }

    /// Resolves virtual device names to a physical one. `AUTO` (and `AUTO:list`) picks the first available device in
    /// priority order; other virtual devices are reported as unsupported.
    fn resolve(&self, device: &str) -> Result<String> {
        let d = device.trim();
        if d.is_empty() || d == "AUTO" {
            return self
                .available_devices()
                .into_iter()
                .next()
                .ok_or_else(|| Error::Device("no device available".into()));
        }
        if let Some(list) = d.strip_prefix("AUTO:") {
            let avail = self.available_devices();
            return list
                .split(',')
                .map(str::trim)
                .find(|c| {
                    avail
                        .iter()
                        .any(|a| a == c || a.split('.').next() == Some(c))
                })
                .map(String::from)
                .ok_or_else(|| {
                    Error::Device(format!("none of the AUTO candidates '{list}' is available"))
                });
        }
        for v in ["HETERO", "MULTI", "BATCH"] {
            if d.starts_with(v) {
                return Err(Error::Unsupported(format!(
                    "virtual device {v} is not supported yet ('{d}')"
                )));
            }
        }
        Ok(d.to_string())
    }

    /// Reads an IR model from a path (the `.bin` beside it unless `weights` is given).
    pub fn read_model_path(&self, xml: &Path, weights: Option<&Path>) -> Result<Model> {
        crate::frontends::ir::read_model_from_path(xml, weights)
    }

    /// Reads an IR model from XML bytes and optional weights.
    pub fn read_model_bytes(&self, xml: &[u8], weights: Option<Tensor>) -> Result<Model> {
        let w = match weights {
            Some(t) => crate::frontends::ir::Weights::Bytes(t),
            None => crate::frontends::ir::Weights::None,
        };
        crate::frontends::ir::read_model(xml, w)
    }

    /// Compiles a model for a device (virtual names resolved).
    pub fn compile_model(
        &self,
        model: &Model,
        device: &str,
        config: &Config,
    ) -> Result<Arc<dyn CompiledModel>> {
        let dev = self.resolve(device)?;
        self.plugin(&dev)?.compile(model, config)
    }

    /// Which device runs each node: friendly name → device.
    pub fn query_model(
        &self,
        model: &Model,
        device: &str,
        config: &Config,
    ) -> Result<BTreeMap<String, String>> {
        let dev = self.resolve(device)?;
        self.plugin(&dev)?.query_model(model, config)
    }

    /// Sets properties on a device.
    pub fn set_property(&self, device: &str, config: &Config) -> Result<()> {
        let dev = self.resolve(device)?;
        self.plugin(&dev)?.set_property(config)
    }

    /// Reads a device property (`AVAILABLE_DEVICES` is answered by the core).
    pub fn get_property(&self, device: &str, key: &str) -> Result<PropertyValue> {
        if key == keys::AVAILABLE_DEVICES {
            let p = self.plugin(device)?;
            return Ok(PropertyValue::List(
                p.device_ids().into_iter().map(PropertyValue::Str).collect(),
            ));
        }
        let dev = self.resolve(device)?;
        self.plugin(&dev)?.get_property(key)
    }

    /// Versions of the devices in `device` (a name or a virtual-device list).
    pub fn versions(&self, device: &str) -> Result<BTreeMap<String, String>> {
        let dev = self.resolve(device)?;
        let name = self.plugin(&dev)?.name().to_string();
        Ok(BTreeMap::from([(name, VERSION.to_string())]))
    }
}
