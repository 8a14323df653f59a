//! AUTO: compiles on the best available device of its candidates (`AUTO:GPU,CPU`, `MULTI_DEVICE_PRIORITIES`, or
//! every device in the default order GPU, NPU, CPU); `-NAME` leaves a device out. When the chosen device is not the
//! CPU but the CPU is a candidate, the CPU compiles first and serves the first inferences while the chosen
//! device compiles in the background (`ENABLE_STARTUP_FALLBACK`, on by default); `EXECUTION_DEVICES` names the
//! device serving now. A device that fails to compile is skipped for the next candidate.

use super::{Devices, ENABLE_STARTUP_FALLBACK, OwnProperties, device_list, infer_on};
use crate::error::{Error, Result};
use crate::ir::{Model, Tensor};
use crate::runtime::plugin::{CompiledModel, Plugin, RequestState};
use crate::runtime::properties::{Config, PropertyValue, keys};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The default preference among device types.
const DEFAULT_ORDER: [&str; 3] = ["GPU", "NPU", "CPU"];

/// The AUTO device.
pub struct AutoPlugin {
    devices: Devices,
    props: OwnProperties,
}

impl AutoPlugin {
    /// AUTO over the physical `devices`.
    pub fn new(devices: Devices) -> AutoPlugin {
        let defaults = Config::from([
            (
                keys::MULTI_DEVICE_PRIORITIES.into(),
                PropertyValue::from(""),
            ),
            (
                keys::PERFORMANCE_HINT.into(),
                PropertyValue::from("LATENCY"),
            ),
            (keys::MODEL_PRIORITY.into(), PropertyValue::from("MEDIUM")),
            (ENABLE_STARTUP_FALLBACK.into(), PropertyValue::Bool(true)),
        ]);
        AutoPlugin {
            devices,
            props: OwnProperties::new("AUTO", defaults),
        }
    }

    /// The available candidates in preference order: the priority list of `config` (or the device-wide one),
    /// else every available device by `DEFAULT_ORDER`; `-NAME` entries exclude devices.
    pub fn candidates(&self, config: &Config) -> Result<Vec<String>> {
        let merged = self.props.merged(config)?;
        let list = merged
            .get(keys::MULTI_DEVICE_PRIORITIES)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let entries: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let (excluded, wanted): (Vec<&str>, Vec<&str>) =
            entries.iter().partition(|e| e.starts_with('-'));
        let excluded: Vec<&str> = excluded
            .iter()
            .filter_map(|e| e.strip_prefix('-'))
            .collect();
        let available = self.devices.available();
        let matches = |want: &str, have: &str| have == want || have.split('.').next() == Some(want);
        let mut chosen: Vec<String> = Vec::new();
        let mut push = |d: &String| {
            if !chosen.contains(d) && !excluded.iter().any(|x| matches(x, d)) {
                chosen.push(d.clone());
            }
        };
        if wanted.is_empty() {
            let selectable =
                |d: &&String| self.devices.plugin(d).is_ok_and(|p| p.auto_selectable());
            for kind in DEFAULT_ORDER {
                available
                    .iter()
                    .filter(|d| matches(kind, d))
                    .filter(selectable)
                    .for_each(&mut push);
            }
            available.iter().filter(selectable).for_each(&mut push);
        } else {
            for w in &wanted {
                available
                    .iter()
                    .filter(|d| matches(w, d))
                    .for_each(&mut push);
            }
        }
        if chosen.is_empty() {
            return Err(Error::Device(format!(
                "AUTO: none of the candidate devices '{list}' is available (available devices: {})",
                available.join(", ")
            )));
        }
        Ok(chosen)
    }

    /// Compiles on the first candidate that succeeds.
    fn compile_first(
        &self,
        candidates: &[String],
        model: &Model,
        config: &Config,
    ) -> Result<Arc<dyn CompiledModel>> {
        let mut errors = Vec::new();
        for d in candidates {
            match self.devices.compile(d, model, config) {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(format!("{d}: {e}")),
            }
        }
        Err(Error::Device(format!(
            "AUTO: no candidate device could compile the model ({})",
            errors.join("; ")
        )))
    }
}

impl Plugin for AutoPlugin {
    fn name(&self) -> &str {
        "AUTO"
    }

    fn device_ids(&self) -> Vec<String> {
        Vec::new()
    }

    fn query_model(&self, model: &Model, config: &Config) -> Result<BTreeMap<String, String>> {
        let candidates = self.candidates(config)?;
        let first = candidates
            .first()
            .ok_or_else(|| Error::Internal("AUTO candidates".into()))?;
        self.devices
            .plugin(first)?
            .query_model(model, &super::device_config(config, first))
    }

    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let candidates = self.candidates(config)?;
        let fallback = self
            .props
            .merged(config)?
            .get(ENABLE_STARTUP_FALLBACK)
            .map_or(Ok(true), |v| v.as_bool(ENABLE_STARTUP_FALLBACK))?;
        let cpu = candidates.iter().position(|d| d == "CPU");
        match (candidates.split_first(), cpu) {
            (Some((target, rest)), Some(_)) if fallback && target != "CPU" => {
                let cpu_model = self.devices.compile("CPU", model, config)?;
                let later: Vec<String> = rest.iter().filter(|d| *d != "CPU").cloned().collect();
                Ok(Arc::new(StartupFallback::start(
                    self.devices.clone(),
                    [vec![target.clone()], later].concat(),
                    model.deep_clone()?,
                    config.clone(),
                    cpu_model,
                )))
            }
            _ => self.compile_first(&candidates, model, config),
        }
    }

    fn import_model(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let candidates = self.candidates(config)?;
        let first = candidates
            .first()
            .ok_or_else(|| Error::Internal("AUTO candidates".into()))?;
        self.devices
            .plugin(first)?
            .import_model(model, &super::device_config(config, first))
    }

    /// AUTO's own properties; any other key is answered by the first candidate device (its `CACHE_DIR`, say).
    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match self.props.get(key) {
            Err(Error::NotFound(_)) => {
                let candidates = self.candidates(&Config::new())?;
                let first = candidates
                    .first()
                    .ok_or_else(|| Error::Internal("AUTO candidates".into()))?;
                self.devices.plugin(first)?.get_property(key)
            }
            other => other,
        }
    }

    fn set_property(&self, config: &Config) -> Result<()> {
        self.props.set(config)
    }
}

/// A model served by the CPU until the chosen device has compiled it.
struct StartupFallback {
    cpu: Arc<dyn CompiledModel>,
    /// The chosen device's model once compiled (`None` when every candidate failed: the CPU serves for good).
    target: Arc<OnceLock<Option<Arc<dyn CompiledModel>>>>,
}

impl StartupFallback {
    /// Starts compiling on `targets` (the first that succeeds) in the background.
    fn start(
        devices: Devices,
        targets: Vec<String>,
        model: Model,
        config: Config,
        cpu: Arc<dyn CompiledModel>,
    ) -> StartupFallback {
        let target = Arc::new(OnceLock::new());
        let slot = target.clone();
        std::thread::spawn(move || {
            let compiled = targets
                .iter()
                .find_map(|d| devices.compile(d, &model, &config).ok());
            let _ = slot.set(compiled);
        });
        StartupFallback { cpu, target }
    }

    /// The model serving now and its request-state slot.
    fn current(&self) -> (usize, &dyn CompiledModel) {
        match self.target.get() {
            Some(Some(t)) => (1, t.as_ref()),
            _ => (0, self.cpu.as_ref()),
        }
    }
}

impl CompiledModel for StartupFallback {
    fn model(&self) -> &Model {
        self.cpu.model()
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        state.profile.clear();
        infer_on(|_| Ok(self.current()), inputs, state)
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        let (_, model) = self.current();
        match key {
            keys::EXECUTION_DEVICES => match model.get_property(key)? {
                PropertyValue::List(l) => Ok(PropertyValue::List(l)),
                other => Ok(device_list(&[other.to_string()])),
            },
            k => model.get_property(k),
        }
    }

    fn export_model(&self) -> Result<Model> {
        self.current().1.export_model()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestPlugin;
    use super::*;
    use crate::runtime::core::Core;
    use std::time::{Duration, Instant};

    fn config(priorities: &str) -> Config {
        Config::from([(keys::MULTI_DEVICE_PRIORITIES.into(), priorities.into())])
    }

    fn auto(plugins: Vec<Arc<dyn Plugin>>) -> AutoPlugin {
        AutoPlugin::new(Devices::new(plugins))
    }

    #[test]
    fn candidates_follow_priorities_default_order_and_exclusions() {
        let a = auto(vec![
            Arc::new(crate::plugins::cpu::CpuPlugin::default()),
            Arc::new(TestPlugin::new("GPU", &[])),
        ]);
        assert_eq!(a.candidates(&Config::new()).unwrap(), ["GPU", "CPU"]);
        assert_eq!(a.candidates(&config("CPU,GPU")).unwrap(), ["CPU", "GPU"]);
        assert_eq!(a.candidates(&config("NPU,CPU")).unwrap(), ["CPU"]);
        assert_eq!(a.candidates(&config("-GPU")).unwrap(), ["CPU"]);
        let e = a.candidates(&config("NPU")).unwrap_err().to_string();
        assert!(e.contains("NPU") && e.contains("GPU"), "{e}");
    }

    #[test]
    fn the_cpu_serves_until_the_chosen_device_has_compiled() {
        let mut gpu = TestPlugin::new("GPU", &["Relu"]);
        gpu.compile_delay = Duration::from_millis(300);
        let gpu_log = gpu.log.clone();
        let core = Core::with_plugins(vec![
            Arc::new(crate::plugins::cpu::CpuPlugin::default()),
            Arc::new(gpu),
        ]);
        let model = super::super::testing::relu_model();
        let compiled = core.compile_model(&model, "AUTO", &Config::new()).unwrap();
        let devices = || compiled.get_property(keys::EXECUTION_DEVICES).unwrap();
        assert_eq!(devices(), device_list(&["CPU".into()]));
        let mut state = RequestState::default();
        let x = Tensor::from_vec(&[2], vec![-1.0f32, 2.0]).unwrap();
        let out = compiled
            .infer(std::slice::from_ref(&x), &mut state)
            .unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[0.0, 2.0]);
        assert_eq!(
            gpu_log.inferences.load(std::sync::atomic::Ordering::SeqCst),
            0
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while devices() != device_list(&["GPU".into()]) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(devices(), device_list(&["GPU".into()]));
        let out = compiled.infer(&[x], &mut state).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[0.0, 2.0]);
        assert_eq!(
            gpu_log.inferences.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    }

    #[test]
    fn without_startup_fallback_a_failing_device_passes_to_the_next() {
        let core = Core::with_plugins(vec![
            Arc::new(crate::plugins::cpu::CpuPlugin::default()),
            Arc::new(TestPlugin::new("GPU", &[])),
        ]);
        let model = super::super::testing::relu_model();
        let off = Config::from([(ENABLE_STARTUP_FALLBACK.into(), PropertyValue::Bool(false))]);
        // The GPU supports no Relu: its compilation fails and AUTO takes the CPU.
        let compiled = core.compile_model(&model, "AUTO", &off).unwrap();
        assert_eq!(
            compiled.get_property(keys::EXECUTION_DEVICES).unwrap(),
            device_list(&["CPU".into()])
        );
        let e = core
            .compile_model(&model, "AUTO:GPU", &Config::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("GPU cannot run"), "{e}");
    }
}
