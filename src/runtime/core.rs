//! `Core`: the entry point that owns the device plugins, reads models and compiles them.

use super::cache::{self, BlobHeader, BlobSource, LoadedModel, ModelCache};
use super::plugin::{CompiledModel, Plugin};
use super::properties::{Config, PropertyValue, keys, normalize_config};
use super::virtual_devices::{
    self, Devices, auto::AutoPlugin, batch::BatchPlugin, hetero::HeteroPlugin, multi::MultiPlugin,
};
use crate::error::{Error, Result};
use crate::ir::{Model, Tensor};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Where a model to compile comes from; the cache key is taken from it.
pub enum ModelSource<'a> {
    /// A model in memory (keyed by a hash of its graph and weights).
    Model(&'a Model),
    /// A model file, keyed by its path, size and modification time; `read` reads it only when the cache cannot
    /// serve it (ONNX files are read by the Python frontend).
    File {
        /// The model file.
        path: &'a Path,
        /// Reads the model.
        read: &'a (dyn Fn() -> Result<Model> + Sync),
    },
}

impl ModelSource<'_> {
    fn read(&self) -> Result<Model> {
        match self {
            ModelSource::Model(m) => Ok((*m).clone()),
            ModelSource::File { read, .. } => read(),
        }
    }

    fn hash(&self) -> Result<u64> {
        match self {
            ModelSource::Model(m) => cache::model_hash(m),
            ModelSource::File { path, .. } => cache::file_hash(path),
        }
    }
}

/// A compiled model with the warnings its compilation raised (a cache file that could not be used or written).
pub struct Compiled {
    /// The compiled model.
    pub model: Arc<dyn CompiledModel>,
    /// Problems that did not stop the compilation.
    pub warnings: Vec<String>,
}

/// The runtime's entry point.
pub struct Core {
    /// The physical devices.
    devices: Devices,
    /// AUTO, HETERO, MULTI and BATCH over them.
    virtuals: Vec<Arc<dyn Plugin>>,
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
        #[allow(unused_mut)]
        let mut plugins: Vec<Arc<dyn Plugin>> =
            vec![Arc::new(crate::plugins::cpu::CpuPlugin::default())];
        #[cfg(feature = "gpu")]
        plugins.push(Arc::new(crate::plugins::gpu::GpuPlugin::default()));
        Core::with_plugins(plugins)
    }

    /// A core over the given physical device plugins (and the virtual devices over them).
    pub fn with_plugins(plugins: Vec<Arc<dyn Plugin>>) -> Core {
        let devices = Devices::new(plugins);
        let virtuals: Vec<Arc<dyn Plugin>> = vec![
            Arc::new(AutoPlugin::new(devices.clone())),
            Arc::new(HeteroPlugin::new(devices.clone())),
            Arc::new(MultiPlugin::new(devices.clone())),
            Arc::new(BatchPlugin::new(devices.clone())),
        ];
        Core { devices, virtuals }
    }

    /// Physical devices: `CPU`, `GPU.0`, …
    pub fn available_devices(&self) -> Vec<String> {
        let mut names = self.devices.available();
        #[cfg(feature = "gpu")]
        if crate::plugins::gpu::context::adapters().is_empty() {
            // The GPU plugin is there without an adapter (compiling on it says so) but lists no device.
            names.retain(|n| n != "GPU");
        }
        names
    }

    /// The plugin serving a device name (`CPU`, `GPU.1`, `AUTO`, `HETERO`), ignoring the device id.
    fn plugin(&self, device: &str) -> Result<&Arc<dyn Plugin>> {
        match self.virtuals.iter().find(|p| p.name() == device) {
            Some(v) => Ok(v),
            None => self.devices.plugin(device),
        }
    }

    /// The plugin name and the configuration it sees for a device string: values normalised; a virtual device's
    /// list (`HETERO:GPU,CPU`, `BATCH:CPU(4)`) becomes its `MULTI_DEVICE_PRIORITIES`; an empty name is AUTO; a
    /// physical device gets its `DEVICE_PROPERTIES` entry merged in (entries of other devices are dropped).
    fn target(&self, device: &str, config: &Config) -> Result<(String, Config)> {
        let mut cfg = normalize_config(config)?;
        let d = device.trim();
        let d = if d.is_empty() { "AUTO" } else { d };
        let (name, list) = match d.split_once(':') {
            Some((name, list)) => (name, Some(list)),
            None => (d, None),
        };
        if virtual_devices::NAMES.contains(&name) {
            if let Some(list) = list {
                cfg.insert(keys::MULTI_DEVICE_PRIORITIES.into(), list.into());
            }
            return Ok((name.to_string(), cfg));
        }
        if list.is_some() {
            return Err(Error::Device(format!(
                "'{d}': only the virtual devices {} take a device list",
                virtual_devices::NAMES.join(", ")
            )));
        }
        if let Some(PropertyValue::Map(per_device)) = cfg.remove(keys::DEVICE_PROPERTIES) {
            cfg.extend(device_entry(&per_device, d));
        }
        let cfg = virtual_devices::with_device_id(cfg, d, self.plugin(d)?.as_ref());
        Ok((d.to_string(), cfg))
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

    /// Compiles a model for a device (virtual names resolved), through the model cache when `CACHE_DIR` is set;
    /// cache warnings go to standard error (see [`Core::compile_source`] to receive them).
    pub fn compile_model(
        &self,
        model: &Model,
        device: &str,
        config: &Config,
    ) -> Result<Arc<dyn CompiledModel>> {
        let compiled = self.compile_source(ModelSource::Model(model), device, config)?;
        for w in &compiled.warnings {
            eprintln!("[ WARNING ] ferrovino: {w}");
        }
        Ok(compiled.model)
    }

    /// Compiles a model from `source` for a device. With `CACHE_DIR` set (in `config` or on the device), a blob
    /// stored by an earlier compilation of the same source, device and configuration is loaded instead (the
    /// model is then not even read); otherwise the model is compiled and its blob stored. A cache file that
    /// cannot be read or written is reported in the warnings and the model compiled as usual.
    pub fn compile_source(
        &self,
        source: ModelSource<'_>,
        device: &str,
        config: &Config,
    ) -> Result<Compiled> {
        let (dev, cfg) = self.target(device, config)?;
        let plugin = self.plugin(&dev)?;
        let mut warnings = Vec::new();
        let Some(dir) = cache_dir(plugin.as_ref(), &cfg) else {
            let model = plugin.compile(&source.read()?, &cfg)?;
            return Ok(Compiled { model, warnings });
        };
        let config_hash = cache::config_hash(&effective_config(plugin.as_ref(), &cfg));
        let key = cache::cache_key(source.hash()?, &dev, config_hash);
        let header = BlobHeader::current(&dev, config_hash);
        let store = ModelCache::new(dir);
        let mmap = match cfg.get(keys::ENABLE_MMAP) {
            Some(v) => v.as_bool(keys::ENABLE_MMAP)?,
            None => true,
        };
        let loaded = store
            .load(key, &header, mmap)
            .and_then(|graph| graph.map(|g| plugin.import_model(&g, &cfg)).transpose());
        match loaded {
            Ok(Some(model)) => {
                let model = Arc::new(LoadedModel(model));
                return Ok(Compiled { model, warnings });
            }
            Ok(None) => {}
            Err(e) => warnings.push(format!(
                "the cached blob '{}' cannot be used ({e}); compiling the model again",
                store.path(key).display()
            )),
        }
        let model = plugin.compile(&source.read()?, &cfg)?;
        let stored = model
            .export_model()
            .and_then(|graph| store.store(key, &header, &graph));
        match stored {
            Ok(()) | Err(Error::Unsupported(_)) => {}
            Err(e) => warnings.push(format!(
                "the compiled model could not be cached in '{}' ({e})",
                store.path(key).display()
            )),
        }
        Ok(Compiled { model, warnings })
    }

    /// Imports a blob written by [`cache::export_blob`] on a device; a blob of another ferrovino version, ISA or
    /// device is refused.
    pub fn import_model(
        &self,
        blob: &[u8],
        device: &str,
        config: &Config,
    ) -> Result<Arc<dyn CompiledModel>> {
        let (dev, cfg) = self.target(device, config)?;
        let (header, graph) = cache::read_blob(BlobSource::Bytes(blob))?;
        let physical = if virtual_devices::NAMES.contains(&dev.as_str()) {
            &header.device
        } else {
            &dev
        };
        if let Some(why) = header.mismatch(&BlobHeader::current(physical, 0), false) {
            return Err(Error::InvalidArgument(format!(
                "cannot import the model on {dev}: {why}"
            )));
        }
        self.plugin(&dev)?.import_model(&graph, &cfg)
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
        self.plugin(base_name(device))?.set_property(&cfg)
    }

    /// Reads a device property (`AVAILABLE_DEVICES` is answered by the core).
    pub fn get_property(&self, device: &str, key: &str) -> Result<PropertyValue> {
        if key == keys::AVAILABLE_DEVICES {
            let p = self.plugin(device)?;
            return Ok(PropertyValue::List(
                p.device_ids().into_iter().map(PropertyValue::Str).collect(),
            ));
        }
        self.plugin(base_name(device))?.get_property(key)
    }

    /// Versions of the devices in `device` (a name or a virtual-device list).
    pub fn versions(&self, device: &str) -> Result<BTreeMap<String, String>> {
        let name = self.plugin(base_name(device))?.name().to_string();
        Ok(BTreeMap::from([(name, VERSION.to_string())]))
    }
}

/// The device (or virtual device) a device string names: `HETERO` for `HETERO:GPU,CPU`, `AUTO` for an empty one.
fn base_name(device: &str) -> &str {
    match device.trim().split(':').next() {
        None | Some("") => "AUTO",
        Some(name) => name,
    }
}

/// The cache folder of a compilation: `CACHE_DIR` of the config, else the device's; `None` when unset or empty.
fn cache_dir(plugin: &dyn Plugin, config: &Config) -> Option<String> {
    let dir = match config.get(keys::CACHE_DIR) {
        Some(v) => v.to_string(),
        None => plugin.get_property(keys::CACHE_DIR).ok()?.to_string(),
    };
    (!dir.is_empty()).then_some(dir)
}

/// The configuration a compilation sees: every read-write property of the device, overridden by `config`.
fn effective_config(plugin: &dyn Plugin, config: &Config) -> Config {
    let mut all = Config::new();
    if let Ok(PropertyValue::Map(supported)) = plugin.get_property(keys::SUPPORTED_PROPERTIES) {
        for (key, mutability) in supported {
            if mutability.to_string() == "RW"
                && let Ok(v) = plugin.get_property(&key)
            {
                all.insert(key, v);
            }
        }
    }
    all.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
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
        let auto = |priorities: &str| {
            core.compile_model(
                &identity_model(),
                "AUTO",
                &cfg(&[(keys::MULTI_DEVICE_PRIORITIES, priorities.into())]),
            )
        };
        assert_eq!(
            auto("NPU,CPU,")
                .unwrap()
                .get_property(keys::EXECUTION_DEVICES)
                .unwrap(),
            PropertyValue::List(vec!["CPU".into()])
        );
        let e = auto("NPU").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("NPU"), "{e}");
        let (dev, seen) = core.target("HETERO:GPU,CPU", &Config::new()).unwrap();
        assert_eq!(dev, "HETERO");
        assert_eq!(
            seen.get(keys::MULTI_DEVICE_PRIORITIES),
            Some(&PropertyValue::from("GPU,CPU"))
        );
        assert!(core.target("CPU:GPU", &Config::new()).is_err());
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

    fn loaded(compiled: &Compiled) -> bool {
        compiled
            .model
            .get_property(keys::LOADED_FROM_CACHE)
            .unwrap()
            == PropertyValue::Bool(true)
    }

    #[test]
    fn a_blob_of_another_version_or_isa_is_a_silent_miss() {
        let dir = std::env::temp_dir().join(format!("ferrovino-core-cache-{}", std::process::id()));
        let config = cfg(&[(keys::CACHE_DIR, dir.to_string_lossy().as_ref().into())]);
        let core = Core::new();
        let model = identity_model();
        let compile = || {
            core.compile_source(ModelSource::Model(&model), "CPU", &config)
                .unwrap()
        };
        assert!(!loaded(&compile()));
        let hit = compile();
        assert!(loaded(&hit) && hit.warnings.is_empty());
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let (header, graph) =
            cache::read_blob(BlobSource::Bytes(&std::fs::read(&file).unwrap())).unwrap();
        for (version, isa) in [("0.0.1", header.isa.as_str()), (VERSION, "riscv64")] {
            let old = BlobHeader {
                version: version.into(),
                isa: isa.into(),
                ..header.clone()
            };
            std::fs::write(&file, cache::write_blob(&old, &graph).unwrap()).unwrap();
            let miss = compile();
            assert!(
                !loaded(&miss) && miss.warnings.is_empty(),
                "{version} {isa}"
            );
            assert!(
                loaded(&compile()),
                "the recompilation stored a current blob"
            );
        }
        std::fs::write(&file, b"junk").unwrap();
        let warned = compile();
        assert!(!loaded(&warned));
        assert!(
            warned.warnings[0].contains("cannot be used"),
            "{:?}",
            warned.warnings
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn import_refuses_a_blob_of_another_isa() {
        let core = Core::new();
        let compiled = core
            .compile_model(&identity_model(), "CPU", &Config::new())
            .unwrap();
        let blob = cache::export_blob(compiled.as_ref()).unwrap();
        let imported = core.import_model(&blob, "CPU", &Config::new()).unwrap();
        let x = Tensor::from_vec(&[2], vec![1.5f32, -2.0]).unwrap();
        let out = imported.infer(&[x], &mut Default::default()).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[1.5, -2.0]);
        let (header, graph) = cache::read_blob(BlobSource::Bytes(&blob)).unwrap();
        let foreign = BlobHeader {
            isa: "riscv64".into(),
            ..header
        };
        let e = core
            .import_model(
                &cache::write_blob(&foreign, &graph).unwrap(),
                "CPU",
                &Config::new(),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("riscv64"), "{e}");
    }
}
