//! The pipeline cache: one compute pipeline per (shader source, entry point, override constants) and device, so
//! identical kernels (every Add of the same kind, every MatMul) compile once.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What identifies a pipeline: the WGSL source, the entry point and the pipeline-overridable constants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PipelineKey {
    /// WGSL source.
    pub source: Arc<str>,
    /// Entry point.
    pub entry: &'static str,
    /// Override constants (name, value as f64 bits, for hashing).
    pub overrides: Vec<(String, u64)>,
}

impl PipelineKey {
    /// A key with override constants given as (name, value).
    pub fn new(source: Arc<str>, entry: &'static str, overrides: &[(&str, f64)]) -> PipelineKey {
        PipelineKey {
            source,
            entry,
            overrides: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_bits()))
                .collect(),
        }
    }
}

/// Compiled pipelines of one device.
#[derive(Default)]
pub struct PipelineCache {
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    /// How many pipelines were compiled (cache misses), for tests.
    compiled: std::sync::atomic::AtomicUsize,
}

impl PipelineCache {
    /// The pipeline of `key`, compiled on `device` unless already cached. Validation errors (a bad shader, a
    /// limit exceeded) come back as `Error::Device` with wgpu's message.
    pub fn get(&self, device: &wgpu::Device, key: &PipelineKey) -> Result<wgpu::ComputePipeline> {
        let mut map = self
            .pipelines
            .lock()
            .map_err(|_| Error::Device("GPU: pipeline cache lock poisoned".into()))?;
        if let Some(p) = map.get(key) {
            return Ok(p.clone());
        }
        let pipeline = compile(device, key)?;
        self.compiled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        map.insert(key.clone(), pipeline.clone());
        Ok(pipeline)
    }

    /// How many pipelines this cache compiled.
    pub fn compiled_count(&self) -> usize {
        self.compiled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn compile(device: &wgpu::Device, key: &PipelineKey) -> Result<wgpu::ComputePipeline> {
    device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(key.entry),
        source: wgpu::ShaderSource::Wgsl(key.source.as_ref().into()),
    });
    let constants: Vec<(&str, f64)> = key
        .overrides
        .iter()
        .map(|(k, v)| (k.as_str(), f64::from_bits(*v)))
        .collect();
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(key.entry),
        layout: None,
        module: &module,
        entry_point: Some(key.entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &constants,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    match super::context::block_on(device.pop_error_scope()) {
        Some(e) => Err(Error::Device(format!(
            "GPU: pipeline '{}' does not compile: {e}",
            key.entry
        ))),
        None => Ok(pipeline),
    }
}
