//! GPU kernels: each node the GPU runs becomes a [`GpuKernel`], a list of compute dispatches (a shader, its
//! bindings and its workgroup counts). Each op family has a file here and a shader in `shaders/<family>.wgsl`,
//! and one `select` function that [`select`] tries in turn.

pub mod concat;
pub mod conv;
pub mod data_movement;
pub mod elementwise;
pub mod lrn;
pub mod matmul;
pub mod pooling;
pub mod reduction;
pub mod softmax;

use super::context::Caps;
use super::pipelines::PipelineKey;
use crate::error::{Error, Result};
use crate::ir::ElementType;
use crate::ops::{Op, TensorDesc};

/// Where one binding of a dispatch comes from (bindings are numbered 0.. in the order given).
#[derive(Debug, Clone)]
pub enum Binding {
    /// The node's input `i` (read-only storage buffer).
    Input(usize),
    /// The node's output `i` (read-write storage buffer).
    Output(usize),
    /// A small read-only storage buffer of `u32` parameters (shapes, strides), uploaded once at compile time.
    Params(Vec<u32>),
}

/// One compute dispatch.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The pipeline (shader, entry point, override constants).
    pub pipeline: PipelineKey,
    /// Bind group 0, binding by binding.
    pub bindings: Vec<Binding>,
    /// Workgroup counts along x, y, z.
    pub workgroups: [u32; 3],
}

/// A node lowered for the GPU.
pub trait GpuKernel: Send + Sync + std::fmt::Debug {
    /// The kernel's name (the exec type in the runtime model: `eltwise_f32`, `matmul_tiled`).
    fn name(&self) -> String;
    /// The dispatches that compute the node's outputs, in order (none for an empty output).
    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>>;
    /// This kernel adding a per-channel bias (axis 1 of its output), read from one more input, to its output;
    /// None when it cannot (the default).
    fn with_bias(&self) -> Option<Box<dyn GpuKernel>> {
        None
    }
}

/// A family's kernel selector: a kernel for `op` with these (static) inputs and outputs, or None when the family
/// has none. Constant inputs carry their value.
pub type Selector = fn(&dyn Op, &[TensorDesc], &[TensorDesc]) -> Option<Box<dyn GpuKernel>>;

/// Every family's selector; a new family adds one line here.
const FAMILIES: &[Selector] = &[
    elementwise::select,
    matmul::select,
    conv::select,
    pooling::select,
    softmax::select,
    concat::select,
    data_movement::select,
    reduction::select,
    lrn::select,
];

/// The GPU kernel of a node, or None when the GPU cannot run it.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    FAMILIES.iter().find_map(|f| f(op, inputs, outputs))
}

/// The WGSL type an element type is stored as on the GPU: f32, i32, and i64 narrowed to i32 (checked at upload).
pub fn storage_type(t: ElementType) -> Option<&'static str> {
    match t {
        ElementType::F32 => Some("f32"),
        ElementType::I32 | ElementType::I64 => Some("i32"),
        _ => None,
    }
}

/// Workgroups along x at most, each of the adapter's per-dimension limit: `groups` workgroups as an x × y grid
/// (shaders rebuild the linear index as `x + y * num_workgroups.x`).
pub fn grid(groups: u64, caps: &Caps) -> Result<[u32; 3]> {
    let max = u64::from(caps.max_workgroups_per_dim.max(1));
    let x = groups.min(max);
    let y = if x == 0 { 0 } else { groups.div_ceil(x) };
    if y > max {
        return Err(Error::Device(format!(
            "GPU: {groups} workgroups exceed the adapter's limit of {max} x {max}"
        )));
    }
    Ok([x as u32, y as u32, 1])
}

/// One dispatch of a shader with 64-wide workgroups and one invocation per output element, over `outputs`
/// elements (none when there are none); the shader rebuilds its index as `gid.x + gid.y * num_workgroups.x * 64`.
pub fn per_output_dispatch(
    pipeline: PipelineKey,
    bindings: Vec<Binding>,
    outputs: usize,
    caps: &Caps,
) -> Result<Vec<Dispatch>> {
    if outputs == 0 {
        return Ok(Vec::new());
    }
    Ok(vec![Dispatch {
        pipeline,
        bindings,
        workgroups: grid((outputs as u64).div_ceil(64), caps)?,
    }])
}

/// A u32 kernel parameter from a size, or an error when it does not fit.
pub fn param(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Unsupported(format!(
            "GPU: {what} = {v} does not fit the GPU's 32-bit indices"
        ))
    })
}

/// Static dims of a descriptor (the plan only lowers static shapes).
pub fn dims(d: &TensorDesc) -> Option<Vec<usize>> {
    d.shape.to_static()
}

/// Shader sources, for the naga check.
pub const SHADER_FILES: &[(&str, &str)] = &[
    ("elementwise.wgsl", elementwise::HELPERS),
    ("matmul.wgsl", matmul::SHADER),
    ("conv.wgsl", conv::SHADER),
    ("pooling.wgsl", pooling::SHADER),
    ("softmax.wgsl", softmax::SHADER),
    ("concat.wgsl", concat::SHADER),
    ("data_movement.wgsl", data_movement::SHADER),
    ("reduction.wgsl", reduction::SHADER),
    ("lrn.wgsl", lrn::SHADER),
];

#[cfg(test)]
pub mod testing {
    //! Helpers for kernel tests: naga validation, and one node run on the adapter against its reference.

    use crate::error::{Error, Result};
    use crate::ir::{Model, Node, Tensor};
    use crate::ops::Op;
    use crate::ops::structure::{Constant, Parameter, ResultOp};
    use crate::plugins::gpu::context;
    use crate::plugins::gpu::plan::GpuPlan;

    /// Parses and validates WGSL with naga (no adapter needed).
    pub fn validate_wgsl(name: &str, source: &str) -> Result<()> {
        use wgpu::naga;
        let module = naga::front::wgsl::parse_str(source)
            .map_err(|e| Error::Internal(format!("{name}: {}", e.emit_to_string(source))))?;
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| Error::Internal(format!("{name}: {}", e.emit_to_string(source))))?;
        Ok(())
    }

    pub use crate::plugins::gpu::context::have_gpu_for_tests as have_gpu;

    /// A Constant node holding `value`.
    pub fn constant(value: Tensor) -> Node {
        Node::new(Box::new(Constant::new(value)), vec![]).expect("a Constant node")
    }

    /// A Parameter node of an f32 tensor of `shape`.
    pub fn f32_parameter(shape: &[usize]) -> Node {
        Node::new(
            Box::new(Parameter::new(
                crate::ir::ElementType::F32,
                crate::ir::PartialShape::from_static(shape),
            )),
            vec![],
        )
        .expect("a Parameter node")
    }

    /// Runs `op` on the first adapter with `inputs` (those marked `constant` become Constants).
    pub fn run_on_gpu(
        op: Box<dyn Op>,
        inputs: &[Tensor],
        constant: &[bool],
    ) -> Result<Vec<Tensor>> {
        let mut params = Vec::new();
        let mut feeds = Vec::new();
        let mut srcs = Vec::new();
        for (i, t) in inputs.iter().enumerate() {
            let node = if constant.get(i).copied().unwrap_or(false) {
                self::constant(t.clone())
            } else {
                let p = Node::new(
                    Box::new(Parameter::new(
                        t.element_type(),
                        crate::ir::PartialShape::from_static(t.shape()),
                    )),
                    vec![],
                )?;
                params.push(p.clone());
                feeds.push(t.clone());
                p
            };
            srcs.push(node.output(0));
        }
        let node = Node::new(op, srcs)?;
        let results = (0..node.output_count())
            .map(|i| Node::new(Box::new(ResultOp), vec![node.output(i)]))
            .collect::<Result<Vec<_>>>()?;
        let model = Model::new(results, vec![], params, "kernel_test")?;
        let plan = GpuPlan::build(&model, context::adapter("")?.device()?)?;
        let mut memory = plan.new_memory()?;
        plan.run(&feeds, &mut memory, None)
    }

    /// Asserts that the GPU computes what the op's reference does (rtol 1e-3, atol 1e-4); skips without adapter.
    pub fn check_against_reference(
        make: impl Fn() -> Box<dyn Op>,
        inputs: &[Tensor],
        constant: &[bool],
    ) {
        if !have_gpu() {
            return;
        }
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = make().evaluate(&refs).expect("reference");
        let got = run_on_gpu(make(), inputs, constant).expect("GPU run");
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(w.shape(), g.shape(), "{:?}: shape", make());
            assert_eq!(
                w.element_type(),
                g.element_type(),
                "{:?}: element type",
                make()
            );
            for (i, (a, b)) in w.to_f64_vec().iter().zip(g.to_f64_vec()).enumerate() {
                let ok =
                    *a == b || (a - b).abs() <= 1e-4 + 1e-3 * a.abs() || (a.is_nan() && b.is_nan());
                assert!(ok, "{:?}: element {i}: reference {a}, GPU {b}", make());
            }
        }
    }
}
