//! `Core`: the entry point that owns the device plugins, reads models and compiles them.

use super::plugin::{CompiledModel, Plugin};
use super::properties::{Config, PropertyValue, keys, normalize_config};
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
        match d.strip_prefix("AUTO:") {
            Some(list) => self.first_available(list),
            None if d.is_empty() || d == "AUTO" => self
                .available_devices()
                .into_iter()
                .next()
                .ok_or_else(|| Error::Device("no device available".into())),
            None => {
                for v in ["HETERO", "MULTI", "BATCH"] {
                    if d.starts_with(v) {
                        return Err(Error::Unsupported(format!(
                            "virtual device {v} is not supported yet ('{d}')"
                        )));
                    }
                }
                Ok(d.to_string())
            }
        }
    }

    /// The first available device of a comma-separated candidate list (`CPU,GPU`).
    fn first_available(&self, list: &str) -> Result<String> {
        let avail = self.available_devices();
        list.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .find(|c| {
                avail
                    .iter()
                    .any(|a| a == c || a.split('.').next() == Some(c))
            })
            .map(String::from)
            .ok_or_else(|| {
                Error::Device(format!("none of the AUTO candidates '{list}' is available"))
            })
    }

    /// The physical device and the configuration it sees: values normalised, `MULTI_DEVICE_PRIORITIES` choosing
    /// the device of a plain `AUTO` (and consumed by it), and the device's `DEVICE_PROPERTIES` entry merged in
    /// (entries of other devices are dropped).
    fn target(&self, device: &str, config: &Config) -> Result<(String, Config)> {
        let mut cfg = normalize_config(config)?;
        let d = device.trim();
        let dev = if d.is_empty() || d.starts_with("AUTO") {
            match cfg.remove(keys::MULTI_DEVICE_PRIORITIES) {
                Some(list) if !d.contains(':') => self.first_available(&list.to_string())?,
                _ => self.resolve(d)?,
            }
        } else {
            self.resolve(d)?
        };
        if let Some(PropertyValue::Map(per_device)) = cfg.remove(keys::DEVICE_PROPERTIES) {
            cfg.extend(device_entry(&per_device, &dev));
        }
        Ok((dev, cfg))
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
        let (dev, cfg) = self.target(device, config)?;
        self.plugin(&dev)?.compile(model, &cfg)
    }

    /// Which device runs each node: friendly name → device.
    pub fn query_model(
        &self,
        model: &Model,
        device: &str,
        config: &Config,
    ) -> Result<BTreeMap<String, String>> {
        let (dev, cfg) = self.target(device, config)?;
        self.plugin(&dev)?.query_model(model, &cfg)
    }

    /// Sets properties on a device (values checked and normalised first, `DEVICE_PROPERTIES` entries applied to
    /// the device they name).
    pub fn set_property(&self, device: &str, config: &Config) -> Result<()> {
        let mut cfg = normalize_config(config)?;
        if let Some(PropertyValue::Map(per_device)) = cfg.remove(keys::DEVICE_PROPERTIES) {
            for (d, entry) in &per_device {
                if let PropertyValue::Map(c) = entry {
                    self.set_property(d, c)?;
                }
            }
        }
        if cfg.is_empty() {
            return Ok(());
        }
        let dev = self.resolve(device)?;
        self.plugin(&dev)?.set_property(&cfg)
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

/// The configuration `DEVICE_PROPERTIES` holds for `device` (`GPU.1` also takes the `GPU` entry), empty if none.
fn device_entry(per_device: &BTreeMap<String, PropertyValue>, device: &str) -> Config {
    let base = device.split('.').next().unwrap_or(device);
    let mut cfg = Config::new();
    for name in [base, device] {
        if let Some(PropertyValue::Map(c)) = per_device.get(name) {
            cfg.extend(c.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ElementType, Node, PartialShape};
    use crate::ops::structure::{Parameter, ResultOp};

    fn identity_model() -> Model {
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[2]),
            )),
            vec![],
        )
        .unwrap();
        let r = Node::new(Box::new(ResultOp), vec![p.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p], "id").unwrap()
    }

    fn cfg(entries: &[(&str, PropertyValue)]) -> Config {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn device_properties_apply_to_the_device_they_name() {
        let core = Core::new();
        let per_device = PropertyValue::Map(BTreeMap::from([
            (
                "CPU".to_string(),
                PropertyValue::Map(cfg(&[(keys::PERF_COUNT, "YES".into())])),
            ),
            (
                "GPU".to_string(),
                PropertyValue::Map(cfg(&[("GPU_ONLY_KEY", "1".into())])),
            ),
        ]));
        let (dev, seen) = core
            .target(
                "CPU",
                &cfg(&[(keys::DEVICE_PROPERTIES, per_device.clone())]),
            )
            .unwrap();
        assert_eq!(dev, "CPU");
        assert_eq!(seen, cfg(&[(keys::PERF_COUNT, PropertyValue::Bool(true))]));
        let compiled = core
            .compile_model(
                &identity_model(),
                "CPU",
                &cfg(&[(keys::DEVICE_PROPERTIES, per_device)]),
            )
            .unwrap();
        assert_eq!(
            compiled.get_property(keys::PERF_COUNT).unwrap(),
            PropertyValue::Bool(true)
        );
    }

    #[test]
    fn auto_takes_its_candidates_from_multi_device_priorities() {
        let core = Core::new();
        let (dev, seen) = core
            .target(
                "AUTO",
                &cfg(&[(keys::MULTI_DEVICE_PRIORITIES, "NPU,CPU,".into())]),
            )
            .unwrap();
        assert_eq!((dev.as_str(), seen.len()), ("CPU", 0));
        let e = core
            .target(
                "AUTO",
                &cfg(&[(keys::MULTI_DEVICE_PRIORITIES, "NPU".into())]),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("NPU"), "{e}");
        // On a physical device the key is the device's to judge (the CPU refuses it).
        let e = core
            .compile_model(
                &identity_model(),
                "CPU",
                &cfg(&[(keys::MULTI_DEVICE_PRIORITIES, "CPU".into())]),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(keys::MULTI_DEVICE_PRIORITIES), "{e}");
    }

    #[test]
    fn set_property_normalises_and_checks_values() {
        let core = Core::new();
        core.set_property(
            "CPU",
            &cfg(&[(keys::PERFORMANCE_HINT, "throughput".into())]),
        )
        .unwrap();
        assert_eq!(
            core.get_property("CPU", keys::PERFORMANCE_HINT).unwrap(),
            PropertyValue::from("THROUGHPUT")
        );
        let nested = PropertyValue::Map(BTreeMap::from([(
            "CPU".to_string(),
            PropertyValue::Map(cfg(&[(keys::INFERENCE_NUM_THREADS, "2".into())])),
        )]));
        core.set_property("CPU", &cfg(&[(keys::DEVICE_PROPERTIES, nested)]))
            .unwrap();
        assert_eq!(
            core.get_property("CPU", keys::INFERENCE_NUM_THREADS)
                .unwrap(),
            PropertyValue::Int(2)
        );
        let e = core
            .set_property("CPU", &cfg(&[(keys::PERFORMANCE_HINT, "FAST".into())]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("FAST") && e.contains(keys::PERFORMANCE_HINT),
            "{e}"
        );
    }
}
