//! Adapters and devices: every adapter wgpu finds (Vulkan, Metal, DX12) is one GPU device (`GPU.0`, `GPU.1`…).
//! Adapters are enumerated once per process; an adapter's device and queue are created on first use with the
//! adapter's own limits, which kernels read instead of assuming them.

use crate::error::{Error, Result};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

/// Runs a future to completion on this thread (wgpu's native futures are ready at once or after a device poll).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// The limits and features of an adapter that kernels and the memory plan depend on.
#[derive(Debug, Clone)]
pub struct Caps {
    /// Largest storage buffer binding, in bytes.
    pub max_storage_binding: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Largest workgroup size along x, y and z.
    pub max_workgroup_size: [u32; 3],
    /// Most invocations in one workgroup.
    pub max_invocations: u32,
    /// Most workgroups along one dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Bytes of workgroup memory.
    pub max_workgroup_storage: u32,
    /// Most storage buffers one shader stage binds.
    pub max_storage_buffers: u32,
    /// The adapter can run f16 arithmetic in shaders.
    pub shader_f16: bool,
    /// The device writes timestamps at compute pass boundaries (per-node profiling on the GPU's clock).
    pub timestamps: bool,
}

impl Caps {
    /// Reads the caps from wgpu's limits and features.
    pub fn new(limits: &wgpu::Limits, features: wgpu::Features) -> Caps {
        Caps {
            max_storage_binding: u64::from(limits.max_storage_buffer_binding_size),
            max_buffer_size: limits.max_buffer_size,
            max_workgroup_size: [
                limits.max_compute_workgroup_size_x,
                limits.max_compute_workgroup_size_y,
                limits.max_compute_workgroup_size_z,
            ],
            max_invocations: limits.max_compute_invocations_per_workgroup,
            max_workgroups_per_dim: limits.max_compute_workgroups_per_dimension,
            max_workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_storage_buffers: limits.max_storage_buffers_per_shader_stage,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }

    /// The WebGPU default limits (what every adapter offers at least), for tests and shader checks.
    pub fn baseline() -> Caps {
        Caps::new(&wgpu::Limits::default(), wgpu::Features::empty())
    }
}

/// One adapter: its description, its caps and, once used, its device.
pub struct GpuAdapter {
    adapter: wgpu::Adapter,
    /// What the adapter says about itself (name, type, backend).
    pub info: wgpu::AdapterInfo,
    /// Its limits and features.
    pub caps: Caps,
    device: OnceLock<std::result::Result<Arc<GpuDevice>, String>>,
}

/// An open device: the wgpu device and queue, the adapter's caps and the pipeline cache.
pub struct GpuDevice {
    /// The wgpu device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The limits and features the device was opened with.
    pub caps: Caps,
    /// Compiled pipelines, shared by every model compiled on the device.
    pub pipelines: super::pipelines::PipelineCache,
    /// An error wgpu reported outside any error scope (or the device was lost), kept for the next check.
    failure: Arc<Mutex<Option<String>>>,
}

impl GpuDevice {
    /// Fails with the error wgpu reported outside an error scope since the last check, if any (device lost,
    /// an error in a callback).
    pub fn check(&self) -> Result<()> {
        let mut failure = self
            .failure
            .lock()
            .map_err(|_| Error::Device("GPU: error state lock poisoned".into()))?;
        match failure.take() {
            Some(e) => Err(Error::Device(format!("GPU: {e}"))),
            None => Ok(()),
        }
    }
}

impl GpuAdapter {
    /// The device of this adapter, opened on first use with the adapter's limits, and shader-f16 and timestamp
    /// queries when offered.
    pub fn device(&self) -> Result<Arc<GpuDevice>> {
        self.device
            .get_or_init(|| self.open().map(Arc::new))
            .clone()
            .map_err(Error::Device)
    }

    fn open(&self) -> std::result::Result<GpuDevice, String> {
        let features = self.adapter.features()
            & (wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY);
        let limits = self.adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("ferrovino"),
            required_features: features,
            required_limits: limits.clone(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = block_on(self.adapter.request_device(&descriptor))
            .map_err(|e| format!("GPU: cannot open '{}': {e}", self.info.name))?;
        // wgpu's default handler panics on an error no scope caught: keep it for `GpuDevice::check` instead.
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = failure.clone();
        device.on_uncaptured_error(Box::new(move |e| {
            if let Ok(mut f) = sink.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        }));
        let sink = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut f) = sink.lock() {
                f.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
            }
        });
        Ok(GpuDevice {
            device,
            queue,
            caps: Caps::new(&limits, features),
            pipelines: super::pipelines::PipelineCache::default(),
            failure,
        })
    }

    /// DEVICE_TYPE: "discrete" for a discrete GPU, "integrated" otherwise (OpenVINO's two values).
    pub fn device_type(&self) -> &'static str {
        match self.info.device_type {
            wgpu::DeviceType::DiscreteGpu => "discrete",
            _ => "integrated",
        }
    }
}

/// For test suites: true when an adapter exists; otherwise prints why GPU tests skip, and panics (fails the
/// test) when `FERROVINO_REQUIRE_GPU=1` asks for a GPU (CI, which installs lavapipe).
pub fn have_gpu_for_tests() -> bool {
    if !adapters().is_empty() {
        return true;
    }
    let reason = "no GPU adapter (wgpu found no Vulkan, Metal or DX12 device)";
    assert!(
        std::env::var("FERROVINO_REQUIRE_GPU").as_deref() != Ok("1"),
        "FERROVINO_REQUIRE_GPU=1 but {reason}"
    );
    eprintln!("skipped: {reason}");
    false
}

/// Every adapter of the machine, enumerated once. Empty when no Vulkan/Metal/DX12 driver exists (wgpu panicking
/// inside a broken driver also yields none).
pub fn adapters() -> &'static [GpuAdapter] {
    static ADAPTERS: OnceLock<Vec<GpuAdapter>> = OnceLock::new();
    ADAPTERS.get_or_init(|| std::panic::catch_unwind(enumerate).unwrap_or_default())
}

fn enumerate() -> Vec<GpuAdapter> {
    let instance = wgpu::Instance::new(&wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
        flags: wgpu::InstanceFlags::empty().with_env(),
        ..Default::default()
    });
    let mut found: Vec<GpuAdapter> = instance
        .enumerate_adapters(wgpu::Backends::all())
        .into_iter()
        .map(|adapter| {
            let info = adapter.get_info();
            let caps = Caps::new(&adapter.limits(), adapter.features());
            GpuAdapter {
                adapter,
                info,
                caps,
                device: OnceLock::new(),
            }
        })
        .collect();
    // Real GPUs first (discrete, then integrated), software rasterisers last.
    found.sort_by_key(|a| match a.info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        _ => 3,
    });
    found
}

/// The adapter of a device id (`""` or `"0"` is the first).
pub fn adapter(id: &str) -> Result<&'static GpuAdapter> {
    let all = adapters();
    if all.is_empty() {
        return Err(Error::Device(
            "GPU: no GPU adapter found (wgpu sees no Vulkan, Metal or DX12 device; on Linux install a Vulkan \
             driver, e.g. mesa-vulkan-drivers); run on CPU or HETERO:GPU,CPU instead"
                .into(),
        ));
    }
    let index = if id.is_empty() {
        0
    } else {
        id.parse::<usize>().map_err(|_| {
            Error::Device(format!(
                "GPU: device id '{id}' is not a number (GPU.0, GPU.1…)"
            ))
        })?
    };
    all.get(index).ok_or_else(|| {
        Error::Device(format!(
            "GPU: no device GPU.{index} ({} adapter(s) found)",
            all.len()
        ))
    })
}
