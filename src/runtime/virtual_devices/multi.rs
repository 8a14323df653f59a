//! MULTI: compiles the model on every device of its list (`MULTI:GPU,CPU`) and spreads the infer requests across
//! them: each request is bound, at its first inference, to the next device in turn, so requests running at once
//! run on all devices in parallel. `OPTIMAL_NUMBER_OF_INFER_REQUESTS` is the devices' sum.

use super::{Devices, OwnProperties, device_list, infer_on, priorities};
use crate::error::{Error, Result};
use crate::ir::{Model, Tensor};
use crate::runtime::plugin::{CompiledModel, Plugin, RequestState};
use crate::runtime::properties::{Config, PropertyValue, keys};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The MULTI device.
pub struct MultiPlugin {
    devices: Devices,
    props: OwnProperties,
}

impl MultiPlugin {
    /// MULTI over the physical `devices`.
    pub fn new(devices: Devices) -> MultiPlugin {
        let defaults = Config::from([
            (
                keys::MULTI_DEVICE_PRIORITIES.into(),
                PropertyValue::from(""),
            ),
            (
                keys::PERFORMANCE_HINT.into(),
                PropertyValue::from("THROUGHPUT"),
            ),
            (keys::MODEL_PRIORITY.into(), PropertyValue::from("MEDIUM")),
        ]);
        MultiPlugin {
            devices,
            props: OwnProperties::new("MULTI", defaults),
        }
    }
}

impl Plugin for MultiPlugin {
    fn name(&self) -> &str {
        "MULTI"
    }

    fn device_ids(&self) -> Vec<String> {
        Vec::new()
    }

    /// The nodes every device of the list supports (MULTI runs the whole model on each).
    fn query_model(&self, model: &Model, config: &Config) -> Result<BTreeMap<String, String>> {
        let config = self.props.merged(config)?;
        let list = priorities(&config, "MULTI")?;
        let mut supported: Option<BTreeMap<String, String>> = None;
        for d in &list {
            let q = self
                .devices
                .plugin(d)?
                .query_model(model, &super::device_config(&config, d))?;
            supported = Some(match supported {
                None => q.into_keys().map(|n| (n, "MULTI".to_string())).collect(),
                Some(s) => s.into_iter().filter(|(n, _)| q.contains_key(n)).collect(),
            });
        }
        Ok(supported.unwrap_or_default())
    }

    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let config = self.props.merged(config)?;
        let list = priorities(&config, "MULTI")?;
        let compiled = list
            .iter()
            .map(|d| self.devices.compile(d, model, &config))
            .collect::<Result<Vec<_>>>()?;
        let model = match compiled.first() {
            Some(c) => c.model().clone(),
            None => return Err(Error::Internal("MULTI without devices".into())),
        };
        Ok(Arc::new(MultiModel {
            model,
            devices: list,
            compiled,
            next: AtomicUsize::new(0),
            config,
        }))
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        self.props.get(key)
    }

    fn set_property(&self, config: &Config) -> Result<()> {
        self.props.set(config)
    }
}

/// A model compiled on several devices; requests are bound to them in turn.
struct MultiModel {
    model: Model,
    devices: Vec<String>,
    compiled: Vec<Arc<dyn CompiledModel>>,
    /// The device the next new request is bound to.
    next: AtomicUsize,
    config: Config,
}

impl CompiledModel for MultiModel {
    fn model(&self) -> &Model {
        &self.model
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        state.profile.clear();
        let pick = |bound: Option<usize>| {
            let slot = bound.unwrap_or_else(|| {
                self.next.fetch_add(1, Ordering::Relaxed) % self.compiled.len().max(1)
            });
            let model = self
                .compiled
                .get(slot)
                .ok_or_else(|| Error::Internal("MULTI device index".into()))?;
            Ok((slot, model.as_ref()))
        };
        infer_on(pick, inputs, state)
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::EXECUTION_DEVICES => Ok(device_list(&self.devices)),
            keys::MULTI_DEVICE_PRIORITIES => Ok(self.devices.join(",").into()),
            keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => {
                let mut total = 0;
                for c in &self.compiled {
                    total += c.get_property(key)?.as_int(key)?;
                }
                Ok(PropertyValue::Int(total))
            }
            keys::PERFORMANCE_HINT | keys::MODEL_PRIORITY => {
                self.config.get(key).cloned().ok_or_else(|| {
                    Error::NotFound(format!("MULTI compiled model: no property '{key}'"))
                })
            }
            k => match self.compiled.first() {
                Some(c) => c.get_property(k),
                None => Err(Error::NotFound(k.into())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{TestPlugin, relu_model};
    use super::*;
    use crate::runtime::core::Core;

    #[test]
    fn requests_are_spread_over_the_devices_and_stay_bound() {
        let gpu = TestPlugin::new("GPU", &["Relu"]);
        let log = gpu.log.clone();
        let core = Core::with_plugins(vec![
            Arc::new(crate::plugins::cpu::CpuPlugin::default()),
            Arc::new(gpu),
        ]);
        let compiled = core
            .compile_model(&relu_model(), "MULTI:GPU,CPU", &Config::new())
            .unwrap();
        assert_eq!(
            compiled.get_property(keys::EXECUTION_DEVICES).unwrap(),
            device_list(&["GPU".into(), "CPU".into()])
        );
        let optimal = compiled
            .get_property(keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS)
            .unwrap()
            .as_int("n")
            .unwrap();
        assert!(optimal >= 3, "{optimal}");
        let mut requests: Vec<RequestState> = (0..4).map(|_| RequestState::default()).collect();
        for round in 0..2 {
            for (i, state) in requests.iter_mut().enumerate() {
                let x = Tensor::from_vec(&[2], vec![-1.0f32, (i + round) as f32]).unwrap();
                let out = compiled.infer(&[x], state).unwrap();
                assert_eq!(out[0].typed::<f32>().unwrap(), &[0.0, (i + round) as f32]);
            }
        }
        // Requests 0 and 2 are bound to the GPU, 1 and 3 to the CPU, for both rounds.
        assert_eq!(log.inferences.load(Ordering::SeqCst), 4);
        let q = core
            .query_model(&relu_model(), "MULTI:GPU,CPU", &Config::new())
            .unwrap();
        assert_eq!(q.len(), 3, "{q:?}");
        assert!(
            core.compile_model(&relu_model(), "MULTI", &Config::new())
                .is_err()
        );
    }
}
