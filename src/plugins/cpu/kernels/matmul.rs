//! f32 MatMul: constant right-hand sides (weights) are packed once at selection into the column panels of
//! [`sgemm`], whose microkernel streams them and whose finished tiles take the fused [`Epilogue`] (bias per
//! column, residual, activation); products of two run-time values go through the `gemm` crate.
//! Batches run in parallel with rayon; a single large product splits its own work over the threads.

use super::epilogue::Epilogue;
use super::sgemm::TileEpilogue;
use super::{Kernel, sgemm, take_output, with_scratch};
use crate::error::{Error, Result};
use crate::ir::{ElementType, Tensor};
use crate::ops::linalg::{MatMul, MatrixView};
use crate::ops::{Op, TensorDesc};
use gemm::Parallelism;
use rayon::prelude::*;
use std::ops::Range;

/// Below this many multiply-adds per batch, batches run one after the other without threads.
const PARALLEL_WORK: usize = 1 << 15;

/// Chooses the gemm kernel for an f32 MatMul.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let mm = op.as_any().downcast_ref::<MatMul>()?;
    let [a, b] = inputs else { return None };
    if a.element_type != ElementType::F32 || b.element_type != ElementType::F32 {
        return None;
    }
    let packed = match &b.value {
        Some(w) => Some(PackedWeights::new(w, mm.transpose_b).ok()?),
        None => None,
    };
    Some(Box::new(GemmF32 {
        op: mm.clone(),
        packed,
        epilogue: Epilogue::default(),
    }))
}

/// The f32 MatMul kernel by constant weights with a fused epilogue (bias per output column, residual of the
/// output's shape as a third input, activation); `None` when the weights are not a constant.
pub fn with_epilogue(
    op: &dyn Op,
    inputs: &[TensorDesc],
    epilogue: Epilogue,
) -> Option<Box<dyn Kernel>> {
    let mm = op.as_any().downcast_ref::<MatMul>()?;
    if inputs.len() != epilogue.input_count()
        || inputs.iter().any(|d| d.element_type != ElementType::F32)
    {
        return None;
    }
    let packed = PackedWeights::new(inputs[1].value.as_ref()?, mm.transpose_b).ok()?;
    Some(Box::new(GemmF32 {
        op: mm.clone(),
        packed: Some(packed),
        epilogue,
    }))
}

/// A constant right-hand side packed once into [`sgemm::PackedB`] panels, one per stored batch matrix.
#[derive(Debug)]
struct PackedWeights {
    /// The shape of the original input (what the plan is computed from).
    shape: Vec<usize>,
    /// The panels of each batch matrix of B.
    batches: Vec<sgemm::PackedB>,
}

impl PackedWeights {
    fn new(w: &Tensor, transpose: bool) -> Result<PackedWeights> {
        let probe = MatMul {
            transpose_a: false,
            transpose_b: transpose,
        };
        // Plan against a 1 × K left operand only to learn how B is read.
        let k_len = match w.shape() {
            [] => {
                return Err(Error::Shape(
                    "MatMul weights must have rank 1 or more".into(),
                ));
            }
            [k] => *k,
            [.., r, c] => {
                if transpose {
                    *c
                } else {
                    *r
                }
            }
        };
        let v = probe.plan(&[k_len], w.shape())?.b;
        let src = w.typed_or_copied::<f32>()?;
        let count: usize = w.shape()[..w.rank().saturating_sub(2)].iter().product();
        let batches = (0..count)
            .map(|i| {
                let m = src.get(i * v.size()..(i + 1) * v.size()).unwrap_or(&[]);
                sgemm::PackedB::pack(m, v.rows, v.cols, v.row_stride, v.col_stride)
            })
            .collect::<Result<Vec<_>>>()?;
        w.release_mapped_pages();
        Ok(PackedWeights {
            shape: w.shape().to_vec(),
            batches,
        })
    }
}

/// MatMul on f32: through [`sgemm`] when B is constant (packed at compile time), through `gemm` otherwise.
#[derive(Debug)]
pub struct GemmF32 {
    op: MatMul,
    packed: Option<PackedWeights>,
    /// Applied by the packed path only ([`with_epilogue`] requires packed weights).
    epilogue: Epilogue,
}

/// One batch's epilogue as [`sgemm`] applies it: bias per column, the batch's residual values (row-major,
/// `n` per row; empty without a residual).
struct ColumnEpilogue<'a> {
    epilogue: &'a Epilogue,
    residual: &'a [f32],
    n: usize,
}

impl TileEpilogue for ColumnEpilogue<'_> {
    #[inline(always)]
    fn apply(&self, row: usize, col: usize, values: &mut [f32]) {
        if self.epilogue.is_empty() {
            return;
        }
        let at = row * self.n + col;
        let residual = self.residual.get(at..at + values.len()).unwrap_or(&[]);
        self.epilogue.apply_columns(col, values, residual);
    }
}

/// The stored matrix `index` of a buffer of `view`-sized matrices, checked against the buffer's length.
fn matrix(data: &[f32], view: MatrixView, index: usize) -> Result<&[f32]> {
    let start = index * view.size();
    data.get(start..start + view.size()).ok_or_else(|| {
        Error::Internal(format!(
            "matrix {index} lies outside a buffer of {} values",
            data.len()
        ))
    })
}

/// `dst = a · packed` for one batch; a transposed `a` is first copied row-major into scratch memory.
fn packed_product(
    a: &[f32],
    av: MatrixView,
    packed: &sgemm::PackedB,
    dst: &mut [f32],
    epilogue: &ColumnEpilogue,
    par: Parallelism,
) -> Result<()> {
    let parallel = !matches!(par, Parallelism::None);
    let (m, k, n) = (av.rows, av.cols, packed.n());
    if av.col_stride == 1 {
        return sgemm::sgemm(a, m, av.row_stride, packed, dst, n, epilogue, parallel);
    }
    with_scratch(m * k, |rows| {
        for (i, row) in rows.chunks_exact_mut(k.max(1)).enumerate().take(m) {
            for (p, v) in row.iter_mut().enumerate() {
                *v = a
                    .get(i * av.row_stride + p * av.col_stride)
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        sgemm::sgemm(rows, m, k, packed, dst, n, epilogue, parallel)
    })
}

/// `dst = a · b` for one batch. `dst` is the row-major M × N output; a fused bias or activation epilogue would
/// run on `dst` right after this call, while it is still in cache.
pub fn gemm_batch(
    dst: &mut [f32],
    a: &[f32],
    av: MatrixView,
    b: &[f32],
    bv: MatrixView,
    par: Parallelism,
) -> Result<()> {
    let (m, k, n) = (av.rows, av.cols, bv.cols);
    let fits = |len: usize, v: MatrixView| v.rows == 0 || v.cols == 0 || len >= v.size();
    if dst.len() != m * n || bv.rows != k || !fits(a.len(), av) || !fits(b.len(), bv) {
        return Err(Error::Internal(
            "gemm_batch called with mismatched buffers".into(),
        ));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        dst.fill(0.0);
        return Ok(());
    }
    // SAFETY: every index gemm forms is `i * row_stride + p * col_stride` with i < rows, p < cols of the
    // matching view; the views describe row-major or transposed matrices of exactly `size()` elements, and the
    // checks above guarantee each buffer holds at least that many. `dst` is M × N row-major and exclusively ours.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            av.col_stride as isize,
            av.row_stride as isize,
            b.as_ptr(),
            bv.col_stride as isize,
            bv.row_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// A row-major `rows x cols` output that parallel tasks fill by disjoint column ranges
/// ([`ColumnSplitOutput::gemm_columns`]), each with a single-threaded GEMM.
pub struct ColumnSplitOutput<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    _output: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: the output is only written through `gemm_columns`, whose callers promise disjoint column ranges, so
// tasks on different threads never touch the same element.
unsafe impl Send for ColumnSplitOutput<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for ColumnSplitOutput<'_> {}

impl<'a> ColumnSplitOutput<'a> {
    /// Borrows `dst` as a `rows x cols` row-major matrix.
    pub fn new(dst: &'a mut [f32], rows: usize, cols: usize) -> Result<Self> {
        if dst.len() != rows * cols {
            return Err(Error::Internal(format!(
                "column-split output of {} elements for {rows} x {cols}",
                dst.len()
            )));
        }
        Ok(ColumnSplitOutput {
            ptr: dst.as_mut_ptr(),
            rows,
            cols,
            _output: std::marker::PhantomData,
        })
    }

    /// `out[:, cols] = a · b` with `a` row-major `rows x k` and `b` row-major `k x cols.len()`, on this thread.
    ///
    /// # Safety
    /// No other call may write an overlapping column range while this one runs.
    pub unsafe fn gemm_columns(
        &self,
        cols: Range<usize>,
        a: &[f32],
        b: &[f32],
        k: usize,
    ) -> Result<()> {
        let (m, n) = (self.rows, cols.len());
        if cols.end > self.cols || a.len() < m * k || b.len() < k * n {
            return Err(Error::Internal(
                "gemm_columns called with mismatched buffers".into(),
            ));
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        // SAFETY: rows < m and columns in `cols` (within `self.cols`, checked) address elements of the borrowed
        // output, which only this call writes in these columns (the caller's promise); `a` and `b` hold the
        // m·k and k·n elements the strides below reach (checked).
        unsafe {
            let dst = self.ptr.add(cols.start);
            if k == 0 {
                for r in 0..m {
                    std::slice::from_raw_parts_mut(dst.add(r * self.cols), n).fill(0.0);
                }
                return Ok(());
            }
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                self.cols as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
        Ok(())
    }
}

impl Kernel for GemmF32 {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let count = self.epilogue.input_count();
        crate::ops::util::check_input_count(inputs, count, count)?;
        let (a, b) = (inputs[0], inputs[1]);
        let b_shape = self
            .packed
            .as_ref()
            .map_or(b.shape(), |p| p.shape.as_slice());
        let plan = self.op.plan(a.shape(), b_shape)?;
        let adata = a.typed::<f32>()?;
        let mut out = take_output(spare, 0, ElementType::F32, &plan.out_shape);
        let (mn, work) = (plan.m() * plan.n(), plan.m() * plan.n() * plan.k());
        if mn == 0 {
            return Ok(vec![out]);
        }
        let residual = match inputs.get(2) {
            Some(r) if r.shape() != plan.out_shape.as_slice() => {
                return Err(Error::Shape(format!(
                    "fused residual of shape {} for a MatMul output of shape {}",
                    crate::ir::shape::fmt_shape(r.shape()),
                    crate::ir::shape::fmt_shape(&plan.out_shape)
                )));
            }
            Some(r) => r.typed::<f32>()?,
            None => &[],
        };
        if let Some(bias) = &self.epilogue.bias
            && bias.len() != plan.n()
        {
            return Err(Error::Shape(format!(
                "fused bias has {} values for {} output columns",
                bias.len(),
                plan.n()
            )));
        }
        let y = out.typed_mut::<f32>()?;
        let batch = |(i, dst): (usize, &mut [f32]), par: Parallelism| -> Result<()> {
            let (ia, ib) = (
                plan.a_batches.get(i).copied(),
                plan.b_batches.get(i).copied(),
            );
            let (Some(ia), Some(ib)) = (ia, ib) else {
                return Err(Error::Internal(format!("no operands for MatMul batch {i}")));
            };
            let a_matrix = matrix(adata, plan.a, ia)?;
            match &self.packed {
                Some(p) => {
                    let panels = p.batches.get(ib).ok_or_else(|| {
                        Error::Internal(format!("no packed weights for MatMul batch {ib}"))
                    })?;
                    let epilogue = ColumnEpilogue {
                        epilogue: &self.epilogue,
                        residual: residual.get(i * mn..(i + 1) * mn).unwrap_or(&[]),
                        n: plan.n(),
                    };
                    packed_product(a_matrix, plan.a, panels, dst, &epilogue, par)
                }
                None => gemm_batch(
                    dst,
                    a_matrix,
                    plan.a,
                    matrix(b.typed::<f32>()?, plan.b, ib)?,
                    plan.b,
                    par,
                ),
            }
        };
        let batches = plan.a_batches.len();
        if batches > 1 && work >= PARALLEL_WORK {
            y.par_chunks_mut(mn)
                .enumerate()
                .try_for_each(|c| batch(c, Parallelism::None))?;
        } else {
            let par = if work >= PARALLEL_WORK {
                Parallelism::Rayon(0)
            } else {
                Parallelism::None
            };
            y.chunks_mut(mn)
                .enumerate()
                .try_for_each(|c| batch(c, par))?;
        }
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        if self.epilogue.is_empty() {
            "gemm_f32"
        } else {
            "gemm_f32_fused"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::cpu::kernels::testing::{Lcg, assert_kernel_matches};

    fn mm(ta: bool, tb: bool) -> MatMul {
        MatMul {
            transpose_a: ta,
            transpose_b: tb,
        }
    }

    #[test]
    fn matches_reference_on_random_shapes() {
        let mut rng = Lcg(7);
        let cases: &[(&[usize], &[usize], bool, bool)] = &[
            (&[3, 4], &[4, 5], false, false),
            (&[4, 3], &[4, 5], true, false),
            (&[3, 4], &[5, 4], false, true),
            (&[4, 3], &[5, 4], true, true),
            (&[2, 1, 3, 4], &[5, 4, 6], false, false),
            (&[6, 4, 3], &[1, 5, 4], true, true),
            (&[4], &[4, 5], true, false),
            (&[3, 4], &[4], false, true),
            (&[4], &[4], false, false),
            (&[7], &[2, 7, 3], false, false),
            (&[2, 3, 0], &[0, 4], false, false),
            (&[0, 3, 4], &[4, 2], false, false),
            (&[2, 0, 4], &[4, 3], false, false),
            (&[16, 70, 40], &[40, 50], false, false),
            (&[130, 120], &[140, 120], false, true),
        ];
        for &(a, b, ta, tb) in cases {
            let inputs = [rng.tensor(a), rng.tensor(b)];
            for constant in [[false, false], [false, true]] {
                assert_kernel_matches(&mm(ta, tb), &inputs, &constant, 1e-4, 1e-4);
            }
        }
    }

    #[test]
    fn selected_for_f32_only() {
        let d = TensorDesc::of_tensor(&Tensor::zeros(ElementType::F32, &[2, 2]));
        assert_eq!(
            select(&mm(false, false), &[d.clone(), d.clone()]).map(|k| k.name()),
            Some("gemm_f32")
        );
        let i = TensorDesc::of_tensor(&Tensor::zeros(ElementType::I32, &[2, 2]));
        assert!(select(&mm(false, false), &[i.clone(), i]).is_none());
    }

    #[test]
    fn run_rejects_mismatched_shapes() {
        let k = GemmF32 {
            op: mm(false, false),
            packed: None,
            epilogue: Epilogue::default(),
        };
        let (a, b) = (
            Tensor::zeros(ElementType::F32, &[2, 3]),
            Tensor::zeros(ElementType::F32, &[4, 2]),
        );
        assert!(k.run(&[&a, &b]).is_err());
    }
}
