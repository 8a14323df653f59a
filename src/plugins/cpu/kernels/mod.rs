//! CPU kernels. Each family file offers `select`, which returns an optimised kernel for an op it knows (weights
//! packed at compile time from the known input values), or `None`; the plan then falls back to the op's
//! reference evaluation.

use crate::error::{Error, Result};
use crate::ir::{ElementType, Tensor};
use crate::ops::{Op, TensorDesc};
use std::cell::RefCell;
use std::fmt::Debug;

pub mod conv;
pub mod convert;
pub mod data_movement;
pub mod depthwise;
#[cfg(target_arch = "x86_64")]
pub mod depthwise_lanes;
#[cfg(target_arch = "x86_64")]
pub mod depthwise_rows;
pub mod direct_conv;
pub mod elementwise;
pub mod epilogue;
pub mod even_values;
pub mod interpolate;
pub mod math;
pub mod matmul;
pub mod max_pool_stride2;
pub mod normalization;
pub mod pointwise;
pub mod pooling;
pub mod reduction;
pub mod sgemm;
pub mod vector_math;
pub mod winograd;

/// A compiled computation for one node.
pub trait Kernel: Debug + Send + Sync {
    /// Computes the outputs from the inputs (shapes resolved at run time), building output `i` in the memory of
    /// `spare[i]` where one is given (see [`take_output`]), so that a steady state of inferences allocates
    /// nothing. Kernels that use `spare` must also override [`Kernel::recycles_outputs`].
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>>;
    /// Computes the outputs in new memory.
    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.run_recycling(inputs, &mut [])
    }
    /// True when [`Kernel::run_recycling`] writes every output into its own (given or new) memory. Other
    /// kernels may return views of their inputs (a Reshape), so the plan keeps those inputs alive as long.
    fn recycles_outputs(&self) -> bool {
        false
    }
    /// The input whose memory output 0 may be built in ([`Kernel::run_in_place`]), if any: the plan lets it
    /// when that input dies at this step and lives in a workspace buffer of the output's size.
    fn in_place_input(&self) -> Option<usize> {
        None
    }
    /// [`Kernel::run_recycling`] with input `in_place` moved into `spare[0]` (its place in `inputs` holds an
    /// empty tensor), so that output 0 can be built in that input's memory. The default puts the input back
    /// and computes output 0 in new memory.
    fn run_in_place(
        &self,
        inputs: &[&Tensor],
        in_place: usize,
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        run_with_input_restored(self, inputs, in_place, spare)
    }
    /// A short name for profiling (`gemm_f32`, `ref`).
    fn name(&self) -> &'static str;
}

/// What [`Kernel::run_in_place`] does by default: puts the moved input back among the inputs and runs
/// [`Kernel::run_recycling`], output 0 in new memory.
pub fn run_with_input_restored<K: Kernel + ?Sized>(
    kernel: &K,
    inputs: &[&Tensor],
    in_place: usize,
    spare: &mut [Option<Tensor>],
) -> Result<Vec<Tensor>> {
    let moved = take_moved_input(spare)?;
    let mut args = inputs.to_vec();
    let slot = args
        .get_mut(in_place)
        .ok_or_else(|| Error::Internal(format!("no input {in_place} to compute in place of")))?;
    *slot = &moved;
    kernel.run_recycling(&args, spare)
}

/// The input [`Kernel::run_in_place`] finds moved into `spare[0]`.
pub fn take_moved_input(spare: &mut [Option<Tensor>]) -> Result<Tensor> {
    spare
        .first_mut()
        .and_then(Option::take)
        .ok_or_else(|| Error::Internal("an in-place step without its input".into()))
}

/// Output `index` of a kernel: the spare buffer the plan handed over for it, re-shaped (contents stale: the
/// kernel must write every element), or a new zero-filled tensor.
pub fn take_output(
    spare: &mut [Option<Tensor>],
    index: usize,
    element_type: ElementType,
    shape: &[usize],
) -> Tensor {
    Tensor::recycled(
        spare.get_mut(index).and_then(Option::take),
        element_type,
        shape,
    )
}

thread_local! {
    /// Per-thread scratch buffers for kernels (im2col columns, packed GEMM operands), kept between calls: one
    /// per level of nesting in use.
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with `len` floats of scratch memory whose contents are stale (`f` must write before reading).
/// The memory is one of the thread's reusable buffers; calls nested inside `f` (a GEMM packing its operands
/// inside a convolution's im2col, or rayon work stealing) take another one.
#[inline(always)]
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH
        .with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let result = f(&mut buf[..len]);
    SCRATCH.with(|pool| {
        if let Ok(mut p) = pool.try_borrow_mut() {
            p.push(buf);
        }
    });
    result
}

/// Run `i` of the fewest runs of at most `max` that cover `len` consecutive items, their lengths at most one
/// apart (14 items by at most 12: 7 + 7, not 12 + 2); `len.div_ceil(max)` runs in all.
pub fn balanced_run(len: usize, max: usize, i: usize) -> std::ops::Range<usize> {
    let count = len.div_ceil(max.max(1)).max(1);
    let (narrow, wider) = (len / count, len % count);
    let start = i * narrow + i.min(wider);
    start..start + narrow + usize::from(i < wider)
}

/// A convolution filter packed once per group: one packed matrix of `rows` output channels by `depth` values
/// (input channels × taps) per group, in whatever layout a kernel reads.
#[derive(Debug)]
pub struct GroupedFilters<T> {
    groups: Vec<T>,
    rows: usize,
    depth: usize,
}

impl<T> GroupedFilters<T> {
    /// Packs `w`, `groups` consecutive row-major `[rows × depth]` matrices, each with `pack(matrix, rows,
    /// depth)`; `None` where the sizes do not divide or `pack` refuses one.
    pub fn pack(
        w: &[f32],
        groups: usize,
        rows: usize,
        pack: impl Fn(&[f32], usize, usize) -> Option<T>,
    ) -> Option<GroupedFilters<T>> {
        let per_group = w.len() / groups.max(1);
        if rows == 0 || per_group == 0 || !per_group.is_multiple_of(rows) {
            return None;
        }
        let depth = per_group / rows;
        let groups = w
            .chunks_exact(per_group)
            .map(|g| pack(g, rows, depth))
            .collect::<Option<Vec<_>>>()?;
        Some(GroupedFilters {
            groups,
            rows,
            depth,
        })
    }

    /// Group `g`'s matrix, when the filter has `rows` output channels of `depth` values per group.
    pub fn group(&self, g: usize, rows: usize, depth: usize) -> Option<&T> {
        self.groups
            .get(g)
            .filter(|_| rows == self.rows && depth == self.depth)
    }
}

/// Runs an op's reference evaluation: the kernel of ops with no optimised path.
#[derive(Debug)]
pub struct ReferenceKernel(pub Box<dyn Op>);

impl Kernel for ReferenceKernel {
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        _spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        self.0.evaluate(inputs)
    }
    fn name(&self) -> &'static str {
        "ref"
    }
}

/// A family's kernel chooser: an optimised kernel for ops it knows, `None` otherwise.
type Selector = fn(&dyn Op, &[TensorDesc]) -> Option<Box<dyn Kernel>>;

/// The kernel of a convolution or a MatMul by constant weights that applies `epilogue` to its output (its
/// inputs then end with the residual when the epilogue has one); `None` when neither takes these inputs.
pub fn with_epilogue(
    op: &dyn Op,
    inputs: &[TensorDesc],
    epilogue: epilogue::Epilogue,
) -> Option<Box<dyn Kernel>> {
    conv::with_epilogue(op, inputs, epilogue.clone())
        .or_else(|| matmul::with_epilogue(op, inputs, epilogue))
}

/// The best kernel for `op` given what is known of its inputs.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Box<dyn Kernel> {
    let families: &[Selector] = &[
        elementwise::select,
        matmul::select,
        normalization::select,
        reduction::select,
        conv::select,
        convert::select,
        pooling::select,
        interpolate::select,
        data_movement::select,
    ];
    families
        .iter()
        .find_map(|f| f(op, inputs))
        .unwrap_or_else(|| Box::new(ReferenceKernel(op.clone_op())))
}

/// The transpose of a 16 × 16 block held as sixteen AVX-512 rows (the kernels that move between a vector of
/// channels per position and NCHW runs of positions): element `j` of row `i` becomes element `i` of row
/// `j`. Pairs of rows are interleaved by 32 then 64 bits, giving 4 × 4 transposed blocks within each 128-bit
/// lane; two rounds of 128-bit lane shuffles then put the blocks in place.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn transpose16(r: [std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + k], lane L: rows 4g..4g+4 of column 4L + k.
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (a0, a1) = (_mm512_castps_pd(t[4 * g]), _mm512_castps_pd(t[4 * g + 1]));
        let (b0, b1) = (
            _mm512_castps_pd(t[4 * g + 2]),
            _mm512_castps_pd(t[4 * g + 3]),
        );
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, b0));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, b0));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, b1));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, b1));
    }
    // Column 4L + k is lane L of u[k], u[4 + k], u[8 + k], u[12 + k]: a 4 × 4 transpose of 128-bit lanes.
    let mut out = [_mm512_setzero_ps(); 16];
    for k in 0..4 {
        let (v0, v1, v2, v3) = (u[k], u[4 + k], u[8 + k], u[12 + k]);
        let x0 = _mm512_shuffle_f32x4::<0x44>(v0, v1);
        let x1 = _mm512_shuffle_f32x4::<0xEE>(v0, v1);
        let x2 = _mm512_shuffle_f32x4::<0x44>(v2, v3);
        let x3 = _mm512_shuffle_f32x4::<0xEE>(v2, v3);
        out[k] = _mm512_shuffle_f32x4::<0x88>(x0, x2);
        out[4 + k] = _mm512_shuffle_f32x4::<0xDD>(x0, x2);
        out[8 + k] = _mm512_shuffle_f32x4::<0x88>(x1, x3);
        out[12 + k] = _mm512_shuffle_f32x4::<0xDD>(x1, x3);
    }
    out
}

#[cfg(test)]
pub mod testing {
    //! Compares a selected kernel with the op's reference evaluation.

    use super::*;
    use crate::ir::ElementType;

    /// A deterministic pseudo-random generator for test data.
    pub struct Lcg(pub u64);

    impl Lcg {
        /// Next value in [0, 1).
        pub fn next_f64(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        /// A random f32 tensor with values in [-1, 1).
        pub fn tensor(&mut self, shape: &[usize]) -> Tensor {
            let n = shape.iter().product();
            let v: Vec<f64> = (0..n).map(|_| self.next_f64() * 2.0 - 1.0).collect();
            Tensor::from_f64s(ElementType::F32, shape, &v)
                .unwrap_or_else(|_| Tensor::zeros(ElementType::F32, shape))
        }
    }

    /// Asserts that the selected kernel and the reference agree within `rtol`/`atol`.
    /// `constant` marks inputs whose values are known at compile time (weights).
    pub fn assert_kernel_matches(
        op: &dyn Op,
        inputs: &[Tensor],
        constant: &[bool],
        rtol: f64,
        atol: f64,
    ) {
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .zip(constant.iter().chain(std::iter::repeat(&false)))
            .map(|(t, &c)| {
                let mut d = TensorDesc::of_tensor(t);
                if !c {
                    d.value = None;
                }
                d
            })
            .collect();
        let kernel = select(op, &descs);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let want = op.evaluate(&refs).expect("reference evaluation failed");
        let got = kernel.run(&refs).expect("kernel failed");
        assert_eq!(want.len(), got.len(), "{op:?}: output count");
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(
                w.shape(),
                g.shape(),
                "{op:?} with kernel {}: shape",
                kernel.name()
            );
            assert_eq!(w.element_type(), g.element_type(), "{op:?}: element type");
            for (i, (a, b)) in w.to_f64_vec().iter().zip(g.to_f64_vec()).enumerate() {
                let ok =
                    *a == b || (a - b).abs() <= atol + rtol * a.abs() || (a.is_nan() && b.is_nan());
                assert!(
                    ok,
                    "{op:?} with kernel {}: element {i}: reference {a}, kernel {b}",
                    kernel.name()
                );
            }
        }
    }
}
