//! Virtual devices: `AUTO`, `HETERO`, `MULTI` and `BATCH`, each a [`Plugin`] over the physical device plugins.
//!
//! The core turns `HETERO:GPU,CPU` into the `HETERO` plugin with `MULTI_DEVICE_PRIORITIES` = `GPU,CPU` in the
//! config (as OpenVINO does); each virtual device reads its device list from there, compiles on the physical
//! devices with [`device_config`] and wraps their compiled models behind the [`CompiledModel`] trait.

pub mod auto;
pub mod batch;
pub mod hetero;
pub mod multi;

use super::plugin::{CompiledModel, Plugin, RequestState};
use super::properties::{Config, Mutability, PropertyValue, keys};
use crate::error::{Error, Result};
use crate::ir::Tensor;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The names of the virtual devices.
pub const NAMES: [&str; 4] = ["AUTO", "HETERO", "MULTI", "BATCH"];

/// `AUTO_BATCH_TIMEOUT`: how long (ms) BATCH waits to fill a batch.
pub const AUTO_BATCH_TIMEOUT: &str = "AUTO_BATCH_TIMEOUT";
/// `ENABLE_STARTUP_FALLBACK`: AUTO serves the first inferences on the CPU while the chosen device compiles.
pub const ENABLE_STARTUP_FALLBACK: &str = "ENABLE_STARTUP_FALLBACK";
/// `HETERO_NUMBER_OF_SUBMODELS`: how many parts HETERO split the model into.
pub const HETERO_NUMBER_OF_SUBMODELS: &str = "HETERO_NUMBER_OF_SUBMODELS";
/// `MODEL_DISTRIBUTION_POLICY`: how HETERO distributes a model (accepted, not used).
pub const MODEL_DISTRIBUTION_POLICY: &str = "MODEL_DISTRIBUTION_POLICY";
/// The node rt_info key naming the device a user wants a node on (HETERO).
pub const AFFINITY: &str = "affinity";

/// Keys that configure a virtual device itself and are not passed on to the physical devices.
const OWN_KEYS: [&str; 6] = [
    keys::MULTI_DEVICE_PRIORITIES,
    keys::DEVICE_PROPERTIES,
    keys::MODEL_PRIORITY,
    AUTO_BATCH_TIMEOUT,
    ENABLE_STARTUP_FALLBACK,
    MODEL_DISTRIBUTION_POLICY,
];

/// The physical device plugins the virtual devices dispatch to.
#[derive(Clone)]
pub struct Devices(Arc<Vec<Arc<dyn Plugin>>>);

impl Devices {
    /// The physical devices.
    pub fn new(plugins: Vec<Arc<dyn Plugin>>) -> Devices {
        Devices(Arc::new(plugins))
    }

    /// Available device names: `CPU`, `GPU.0`, …
    pub fn available(&self) -> Vec<String> {
        let mut names = Vec::new();
        for p in self.0.iter() {
            let ids = p.device_ids();
            if ids.is_empty() {
                names.push(p.name().to_string());
            } else {
                names.extend(ids.iter().map(|id| format!("{}.{id}", p.name())));
            }
        }
        names
    }

    /// The plugin serving `device` (`CPU`, `GPU.1`: the id is ignored).
    pub fn plugin(&self, device: &str) -> Result<&Arc<dyn Plugin>> {
        let base = device.split('.').next().unwrap_or(device);
        self.0.iter().find(|p| p.name() == base).ok_or_else(|| {
            Error::Device(format!(
                "device '{device}' is not available (available devices: {})",
                self.available().join(", ")
            ))
        })
    }

    /// Compiles `model` on one physical device with the part of `config` meant for it.
    pub fn compile(
        &self,
        device: &str,
        model: &crate::ir::Model,
        config: &Config,
    ) -> Result<Arc<dyn CompiledModel>> {
        let plugin = self.plugin(device)?;
        plugin.compile(
            model,
            &with_device_id(device_config(config, device), device, plugin.as_ref()),
        )
    }
}

/// `config` with the `DEVICE_ID` that a device name carries (`GPU.1` → `1`), for a plugin that has that
/// property; an id set in the config already is kept.
pub fn with_device_id(mut config: Config, device: &str, plugin: &dyn Plugin) -> Config {
    if let Some((_, id)) = device.split_once('.')
        && plugin.get_property(keys::DEVICE_ID).is_ok()
    {
        config
            .entry(keys::DEVICE_ID.to_string())
            .or_insert_with(|| id.into());
    }
    config
}

/// The device list of a virtual device's config (`MULTI_DEVICE_PRIORITIES`, comma-separated); an empty list
/// is an error naming the virtual device.
pub fn priorities(config: &Config, virtual_device: &str) -> Result<Vec<String>> {
    let list: Vec<String> = config
        .get(keys::MULTI_DEVICE_PRIORITIES)
        .map(|v| v.to_string())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect();
    if list.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{virtual_device} needs a device list: '{virtual_device}:CPU' or {} in the config",
            keys::MULTI_DEVICE_PRIORITIES
        )));
    }
    Ok(list)
}

/// The configuration one physical device of a virtual device sees: the config without the virtual device's
/// own keys, plus the device's `DEVICE_PROPERTIES` entry (`GPU.1` also takes the `GPU` entry).
pub fn device_config(config: &Config, device: &str) -> Config {
    let mut cfg: Config = config
        .iter()
        .filter(|(k, _)| !OWN_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(PropertyValue::Map(per_device)) = config.get(keys::DEVICE_PROPERTIES) {
        let base = device.split('.').next().unwrap_or(device);
        for name in [base, device] {
            if let Some(PropertyValue::Map(entry)) = per_device.get(name) {
                cfg.extend(entry.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    cfg
}

/// A virtual device's own read-write properties, with their defaults, and its `FULL_DEVICE_NAME`.
pub struct OwnProperties {
    name: &'static str,
    values: Mutex<Config>,
}

impl OwnProperties {
    /// Properties `defaults` (all read-write) of the virtual device `name`.
    pub fn new(name: &'static str, defaults: Config) -> OwnProperties {
        OwnProperties {
            name,
            values: Mutex::new(defaults),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Config>> {
        self.values
            .lock()
            .map_err(|_| Error::Internal(format!("{} properties lock", self.name)))
    }

    /// The device-wide values overridden by a compile config.
    pub fn merged(&self, config: &Config) -> Result<Config> {
        let mut all = self.lock()?.clone();
        all.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(all)
    }

    /// Reads a property (`SUPPORTED_PROPERTIES` and `FULL_DEVICE_NAME` included).
    pub fn get(&self, key: &str) -> Result<PropertyValue> {
        let values = self.lock()?;
        match key {
            keys::FULL_DEVICE_NAME => Ok(PropertyValue::from(self.name)),
            keys::SUPPORTED_PROPERTIES => {
                let mut m: BTreeMap<String, PropertyValue> = values
                    .keys()
                    .map(|k| (k.clone(), PropertyValue::from(Mutability::Rw.as_str())))
                    .collect();
                for k in [keys::FULL_DEVICE_NAME, keys::SUPPORTED_PROPERTIES] {
                    m.insert(k.into(), PropertyValue::from(Mutability::Ro.as_str()));
                }
                Ok(PropertyValue::Map(m))
            }
            k => values.get(k).cloned().ok_or_else(|| {
                Error::NotFound(format!("{}: unsupported property '{k}'", self.name))
            }),
        }
    }

    /// Sets device-wide values; unknown keys are refused.
    pub fn set(&self, config: &Config) -> Result<()> {
        let mut values = self.lock()?;
        if let Some(k) = config.keys().find(|k| !values.contains_key(*k)) {
            return Err(Error::NotFound(format!(
                "{}: unsupported property '{k}' (supported: {})",
                self.name,
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        values.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

/// The per-request states of the compiled models behind a virtual compiled model, kept in the request's device
/// memory, and the model the request last ran on.
#[derive(Default)]
struct SubStates {
    states: Vec<RequestState>,
    bound: Option<usize>,
}

/// Runs an inference of a virtual compiled model on one of the models behind it: `pick` gets the slot the request
/// ran on before (`None` at its first inference) and returns the slot and model to run now. The request's
/// variables go in and come back; the model's profile is appended to the request's.
pub fn infer_on<'a>(
    pick: impl FnOnce(Option<usize>) -> Result<(usize, &'a dyn CompiledModel)>,
    inputs: &[Tensor],
    state: &mut RequestState,
) -> Result<Vec<Tensor>> {
    let mut subs = state.device_memory.take::<SubStates>().unwrap_or_default();
    let result = pick(subs.bound).and_then(|(slot, model)| {
        if subs.states.len() <= slot {
            subs.states.resize_with(slot + 1, RequestState::default);
        }
        subs.bound = Some(slot);
        let sub = subs
            .states
            .get_mut(slot)
            .ok_or_else(|| Error::Internal("request state slot".into()))?;
        sub.variables = std::mem::take(&mut state.variables);
        let result = model.infer(inputs, sub);
        state.variables = std::mem::take(&mut sub.variables);
        state.profile.append(&mut sub.profile);
        result
    });
    state.device_memory.put(subs);
    result
}

/// The value of `key` in `config` as a number, or `default`.
pub fn int_or(config: &Config, key: &str, default: i64) -> Result<i64> {
    config.get(key).map_or(Ok(default), |v| v.as_int(key))
}

/// The names of a list of devices as a property value.
pub fn device_list(devices: &[String]) -> PropertyValue {
    PropertyValue::List(
        devices
            .iter()
            .map(|d| PropertyValue::from(d.as_str()))
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod testing {
    //! A physical test device that runs only some op types (with the reference interpreter) and counts the
    //! inferences and the batch sizes it sees.

    use super::*;
    use crate::ir::Model;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `relu(x)` on a 2-element f32 input.
    pub fn relu_model() -> Model {
        use crate::ir::{ElementType, Node, PartialShape};
        use crate::ops::structure::{Parameter, ResultOp};
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[2]),
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

    /// What a test device saw.
    #[derive(Default)]
    pub struct Log {
        /// Models compiled.
        pub compiled: AtomicUsize,
        /// Inferences run.
        pub inferences: AtomicUsize,
        /// The leading dimension of the first input of every inference.
        pub batches: Mutex<Vec<usize>>,
    }

    /// A device named `name` that supports the op types `ops` (plus Parameter, Constant and Result).
    pub struct TestPlugin {
        pub name: &'static str,
        pub ops: Vec<&'static str>,
        pub log: Arc<Log>,
        /// How long a compilation takes.
        pub compile_delay: std::time::Duration,
    }

    impl TestPlugin {
        pub fn new(name: &'static str, ops: &[&'static str]) -> TestPlugin {
            TestPlugin {
                name,
                ops: ops.to_vec(),
                log: Arc::default(),
                compile_delay: std::time::Duration::ZERO,
            }
        }
    }

    impl Plugin for TestPlugin {
        fn name(&self) -> &str {
            self.name
        }
        fn device_ids(&self) -> Vec<String> {
            Vec::new()
        }
        fn query_model(&self, model: &Model, _: &Config) -> Result<BTreeMap<String, String>> {
            Ok(model
                .ordered_ops()?
                .iter()
                .filter(|n| {
                    let t = n.type_name();
                    self.ops.contains(&t) || ["Parameter", "Constant", "Result"].contains(&t)
                })
                .map(|n| (n.friendly_name(), self.name.to_string()))
                .collect())
        }
        fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
            let supported = self.query_model(model, config)?;
            if let Some(n) = model
                .ordered_ops()?
                .iter()
                .find(|n| !supported.contains_key(&n.friendly_name()))
            {
                return Err(Error::Unsupported(format!(
                    "{} cannot run {}",
                    self.name,
                    n.describe()
                )));
            }
            std::thread::sleep(self.compile_delay);
            self.log.compiled.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(TestModel {
                model: model.deep_clone()?,
                device: self.name,
                log: self.log.clone(),
            }))
        }
        fn get_property(&self, key: &str) -> Result<PropertyValue> {
            match key {
                keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => Ok(PropertyValue::Int(1)),
                k => Err(Error::NotFound(k.into())),
            }
        }
        fn set_property(&self, _: &Config) -> Result<()> {
            Ok(())
        }
    }

    struct TestModel {
        model: Model,
        device: &'static str,
        log: Arc<Log>,
    }

    impl CompiledModel for TestModel {
        fn model(&self) -> &Model {
            &self.model
        }
        fn infer(&self, inputs: &[Tensor], _: &mut RequestState) -> Result<Vec<Tensor>> {
            self.log.inferences.fetch_add(1, Ordering::SeqCst);
            if let (Ok(mut b), Some(t)) = (self.log.batches.lock(), inputs.first()) {
                b.push(t.shape().first().copied().unwrap_or(0));
            }
            crate::ir::evaluate_model(&self.model, inputs)
        }
        fn get_property(&self, key: &str) -> Result<PropertyValue> {
            match key {
                keys::EXECUTION_DEVICES => Ok(device_list(&[self.device.to_string()])),
                keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => Ok(PropertyValue::Int(2)),
                k => Err(Error::NotFound(k.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_config_drops_own_keys_and_takes_the_device_entry() {
        let per_device = PropertyValue::Map(BTreeMap::from([(
            "GPU".to_string(),
            PropertyValue::Map(Config::from([("A".to_string(), PropertyValue::Int(1))])),
        )]));
        let config = Config::from([
            (keys::MULTI_DEVICE_PRIORITIES.to_string(), "GPU,CPU".into()),
            (keys::DEVICE_PROPERTIES.to_string(), per_device),
            (keys::PERF_COUNT.to_string(), PropertyValue::Bool(true)),
        ]);
        let gpu = device_config(&config, "GPU.1");
        assert_eq!(gpu.len(), 2);
        assert_eq!(gpu.get("A"), Some(&PropertyValue::Int(1)));
        assert_eq!(device_config(&config, "CPU").len(), 1);
        assert_eq!(priorities(&config, "MULTI").unwrap(), ["GPU", "CPU"]);
        let e = priorities(&Config::new(), "HETERO")
            .unwrap_err()
            .to_string();
        assert!(e.contains("HETERO:CPU"), "{e}");
    }

    #[test]
    fn own_properties_refuse_unknown_keys() {
        let p = OwnProperties::new(
            "MULTI",
            Config::from([(keys::PERF_COUNT.to_string(), PropertyValue::Bool(false))]),
        );
        p.set(&Config::from([(
            keys::PERF_COUNT.to_string(),
            PropertyValue::Bool(true),
        )]))
        .unwrap();
        assert_eq!(p.get(keys::PERF_COUNT).unwrap(), PropertyValue::Bool(true));
        assert_eq!(
            p.get(keys::FULL_DEVICE_NAME).unwrap(),
            PropertyValue::from("MULTI")
        );
        let e = p
            .set(&Config::from([("FOO".to_string(), PropertyValue::Int(1))]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("FOO"), "{e}");
    }
}
