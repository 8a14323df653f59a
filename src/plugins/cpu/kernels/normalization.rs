//! f32 kernels for Softmax and LogSoftmax on any axis and MVN over the last axis. Rows along the last axis are
//! processed one pass each; a softmax over an inner axis walks tiles of columns, vectorised across the columns.
//! Work is spread over threads with rayon and the loops are compiled for the best ISA.

use super::math::{self, best_isa_fn};
use super::reduction::sum_f32;
use super::vector_math::{self, Function};
use super::{Kernel, take_output};
use crate::error::{Error, Result};
use crate::ir::{ElementType, Tensor};
use crate::ops::normalization::{Mvn, Softmax};
use crate::ops::reduction::axes_mask;
use crate::ops::util::known_i64s;
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// Columns per tile of a softmax over an inner axis.
const TILE: usize = 256;

/// Chooses a kernel for f32 Softmax and LogSoftmax (any axis) and last-axis MVN.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let x = inputs.first()?;
    let rank = x.rank()?;
    if x.element_type != ElementType::F32 || rank == 0 {
        return None;
    }
    let any = op.as_any();
    if let Some(s) = any.downcast_ref::<Softmax>() {
        s.resolved_axis(rank).ok()?;
        return Some(Box::new(SoftmaxKernel(s.clone())));
    }
    let m = any.downcast_ref::<Mvn>()?;
    let axes = if m.is_v6() {
        known_i64s(inputs.get(1)?)?
    } else {
        m.v2_axes(rank)
    };
    let mask = axes_mask(&axes, rank, "MVN axes").ok()?;
    let only_last = mask
        .iter()
        .enumerate()
        .all(|(i, &on)| on == (i == rank - 1));
    let kernel = MvnKernel {
        eps: m.eps as f32,
        normalize_variance: m.normalize_variance,
        inside_sqrt: m.eps_inside_sqrt(),
    };
    only_last.then(|| Box::new(kernel) as Box<dyn Kernel>)
}

/// Softmax (or log-softmax) of one contiguous row.
#[inline(always)]
fn softmax_row(x: &[f32], y: &mut [f32], log: bool) {
    let max = max_f32(x);
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v - max;
    }
    if !vector_math::apply(Function::Exp, y) {
        y.iter_mut().for_each(|o| *o = math::exp(*o));
    }
    let sum = sum_f32(y);
    if log {
        // (x - max) first: it is exact near the maximum, where the result is small.
        let lse = sum.ln();
        for (o, &v) in y.iter_mut().zip(x) {
            *o = (v - max) - lse;
        }
    } else {
        let inv = 1.0 / sum;
        y.iter_mut().for_each(|o| *o *= inv);
    }
}

/// Softmax over the rows of one tile: row `k` of the input is `x[start + k * stride..][..width]`, `y[k]` the
/// output row; every column is normalised independently, in vectorised passes across the columns.
#[inline(always)]
fn softmax_tile(
    (x, start, stride): (&[f32], usize, usize),
    y: &mut [Option<&mut [f32]>],
    width: usize,
    log: bool,
) {
    let x = |k: usize| {
        x.get(start + k * stride..start + k * stride + width)
            .unwrap_or(&[])
    };
    let width = width.min(TILE);
    let (mut max, mut sum) = ([f32::NEG_INFINITY; TILE], [0.0f32; TILE]);
    let (max, sum) = (&mut max[..width], &mut sum[..width]);
    for k in 0..y.len() {
        for (m, &v) in max.iter_mut().zip(x(k)) {
            *m = m.max(v);
        }
    }
    for (k, row) in y.iter_mut().enumerate() {
        let row = row.as_deref_mut().unwrap_or_default();
        for ((o, &v), (s, &m)) in row.iter_mut().zip(x(k)).zip(sum.iter_mut().zip(&*max)) {
            *o = math::exp(v - m);
            *s += *o;
        }
    }
    if log {
        // log softmax = (x - max) - ln sum
        sum.iter_mut().for_each(|s| *s = math::log(*s));
        for (k, row) in y.iter_mut().enumerate() {
            let row = row.as_deref_mut().unwrap_or_default();
            for ((o, &v), (&m, &lse)) in row.iter_mut().zip(x(k)).zip(max.iter().zip(&*sum)) {
                *o = (v - m) - lse;
            }
        }
    } else {
        sum.iter_mut().for_each(|s| *s = 1.0 / *s);
        for row in y.iter_mut() {
            let row = row.as_deref_mut().unwrap_or_default();
            for (o, &inv) in row.iter_mut().zip(&*sum) {
                *o *= inv;
            }
        }
    }
}

/// Softmax-1/8 and LogSoftmax-5 on any axis.
#[derive(Debug)]
pub struct SoftmaxKernel(Softmax);

impl SoftmaxKernel {
    /// An inner axis: the output is split into tiles of `len` row pieces (`TILE` columns wide) that are
    /// normalised in parallel.
    fn tiles(&self, x: &[f32], y: &mut [f32], len: usize, inner: usize) {
        let tiles_per_row = inner.div_ceil(TILE);
        // Pieces in (outer, tile, row) order, so that each tile's rows are adjacent.
        let outer = y.len() / (len * inner).max(1);
        let mut pieces: Vec<Option<&mut [f32]>> = Vec::new();
        pieces.resize_with(outer * tiles_per_row * len, || None);
        for (o, block) in y.chunks_mut(len * inner).enumerate() {
            for (k, row) in block.chunks_mut(inner).enumerate() {
                for (t, piece) in row.chunks_mut(TILE).enumerate() {
                    if let Some(slot) = pieces.get_mut((o * tiles_per_row + t) * len + k) {
                        *slot = Some(piece);
                    }
                }
            }
        }
        let log = self.0.log;
        pieces
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, rows)| {
                let (o, t) = (i / tiles_per_row, i % tiles_per_row);
                let start = o * len * inner + t * TILE;
                let width = TILE.min(inner - t * TILE);
                softmax_tile_best((x, start, inner), rows, width, log);
            });
    }
}

impl Kernel for SoftmaxKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        crate::ops::util::check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        let axis = self.0.resolved_axis(x.rank())?;
        let shape = x.shape();
        let len = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let mut out = take_output(spare, 0, ElementType::F32, shape);
        if x.is_empty() {
            return Ok(vec![out]);
        }
        let (xv, y) = (x.typed::<f32>()?, out.typed_mut::<f32>()?);
        if inner == 1 {
            for_rows(xv, y, len, RowFn::Softmax { log: self.0.log });
        } else {
            self.tiles(xv, y, len, inner);
        }
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        if self.0.log {
            "log_softmax_f32"
        } else {
            "softmax_f32"
        }
    }
}

/// Mean-variance normalisation of one row.
#[inline(always)]
fn mvn_row(x: &[f32], y: &mut [f32], eps: f32, normalize_variance: bool, inside_sqrt: bool) {
    let n = x.len().max(1) as f32;
    let mean = sum_f32(x) / n;
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v - mean;
    }
    if !normalize_variance {
        return;
    }
    let var = sum_of_squares(y) / n;
    let inv = 1.0
        / if inside_sqrt {
            (var + eps).sqrt()
        } else {
            var.sqrt() + eps
        };
    y.iter_mut().for_each(|o| *o *= inv);
}

/// The largest value of `x` (NaN ignored, as `f32::max` does; -inf for an empty or all-NaN `x`). A fold was one
/// chain of dependent comparisons: it took half of BERT's softmax rows of 128.
#[inline(always)]
fn max_f32(x: &[f32]) -> f32 {
    fold_lanes(x, f32::NEG_INFINITY, f32::max, f32::max)
}

/// `Σ v²` over `x`. A plain sum is one chain of dependent additions: BERT's LayerNorm rows of 768 took 3x longer.
#[inline(always)]
fn sum_of_squares(x: &[f32]) -> f32 {
    fold_lanes(x, 0.0, |sum, v| sum + v * v, |a, b| a + b)
}

/// `step` folded over `x` from `start` in 32 independent lanes, so that the compiler vectorises it and no step
/// waits on the one before; the lanes are then combined by `merge`.
#[inline(always)]
fn fold_lanes(
    x: &[f32],
    start: f32,
    step: impl Fn(f32, f32) -> f32,
    merge: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut lanes = [start; 32];
    let chunks = x.chunks_exact(lanes.len());
    let tail = chunks
        .remainder()
        .iter()
        .fold(start, |acc, &v| step(acc, v));
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = step(*lane, v);
        }
    }
    lanes.into_iter().fold(tail, merge)
}

/// What is computed on each row along the last axis.
#[derive(Debug, Clone, Copy)]
enum RowFn {
    Softmax {
        log: bool,
    },
    Mvn {
        eps: f32,
        normalize_variance: bool,
        inside_sqrt: bool,
    },
}

/// `f` on every row of `len` elements of one chunk.
#[inline(always)]
fn rows_of_chunk(x: &[f32], y: &mut [f32], len: usize, f: RowFn) {
    for (yr, xr) in y.chunks_mut(len).zip(x.chunks(len)) {
        match f {
            RowFn::Softmax { log } => softmax_row(xr, yr, log),
            RowFn::Mvn {
                eps,
                normalize_variance,
                inside_sqrt,
            } => mvn_row(xr, yr, eps, normalize_variance, inside_sqrt),
        }
    }
}

best_isa_fn! {
    /// [`rows_of_chunk`] compiled for the best ISA.
    fn rows_of_chunk_best[](x: &[f32], y: &mut [f32], len: usize, f: RowFn) => rows_of_chunk
}

best_isa_fn! {
    /// [`softmax_tile`] compiled for the best ISA.
    fn softmax_tile_best[](
        x: (&[f32], usize, usize),
        y: &mut [Option<&mut [f32]>],
        width: usize,
        log: bool,
    ) => softmax_tile
}

/// `f` on every row of `len` elements, several rows per parallel task.
fn for_rows(x: &[f32], y: &mut [f32], len: usize, f: RowFn) {
    let task = len * (CHUNK / len.max(1)).max(1);
    y.par_chunks_mut(task)
        .zip(x.par_chunks(task))
        .for_each(|(yc, xc)| rows_of_chunk_best(xc, yc, len, f));
}

/// MVN over the last axis only.
#[derive(Debug)]
pub struct MvnKernel {
    eps: f32,
    normalize_variance: bool,
    inside_sqrt: bool,
}

impl Kernel for MvnKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let x = inputs
            .first()
            .ok_or_else(|| Error::InvalidArgument("expected a data input".into()))?;
        let len = *x
            .shape()
            .last()
            .ok_or_else(|| Error::Shape("data must have rank 1 or more".into()))?;
        let mut out = take_output(spare, 0, ElementType::F32, x.shape());
        if len == 0 || x.is_empty() {
            return Ok(vec![out]);
        }
        let f = RowFn::Mvn {
            eps: self.eps,
            normalize_variance: self.normalize_variance,
            inside_sqrt: self.inside_sqrt,
        };
        for_rows(x.typed::<f32>()?, out.typed_mut::<f32>()?, len, f);
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "mvn_f32"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::{Lcg, assert_kernel_matches};

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn with_attrs(name: &str, opset: u32, attrs: &[(&str, crate::ir::AttrValue)]) -> Box<dyn Op> {
        let mut op = create(name, opset).unwrap();
        let values: Vec<(String, crate::ir::AttrValue)> = attrs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        op.visit_attributes(&mut crate::ir::AttributeSetter::new(&values))
            .unwrap();
        op
    }

    const SHAPES: &[&[usize]] = &[&[7], &[3, 5], &[2, 3, 17], &[4, 1], &[2, 0, 3], &[64, 300]];

    /// Random values in [-scale, scale).
    fn wide(g: &mut Lcg, shape: &[usize], scale: f64) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| (g.next_f64() * 2.0 - 1.0) * scale).collect();
        Tensor::from_f64s(ElementType::F32, shape, &v).unwrap()
    }

    #[test]
    fn softmax_matches_reference_on_every_axis() {
        use crate::ir::AttrValue::Int;
        let mut rng = Lcg(3);
        let shapes: &[&[usize]] = &[
            &[7],
            &[3, 5],
            &[2, 3, 17],
            &[4, 1],
            &[2, 0, 3],
            &[64, 300],
            &[1, 16, 4, 600],
            &[3, 5, 257],
            &[2, 1, 513],
        ];
        for shape in shapes {
            let rank = shape.len() as i64;
            for scale in [1.0, 40.0] {
                let x = wide(&mut rng, shape, scale);
                for axis in 0..rank {
                    for (name, opset, a) in [
                        ("Softmax", 8, axis - rank),
                        ("LogSoftmax", 5, axis),
                        ("Softmax", 1, axis),
                    ] {
                        let op = with_attrs(name, opset, &[("axis", Int(a))]);
                        let d = TensorDesc::of_tensor(&x);
                        let want = if name == "Softmax" {
                            "softmax_f32"
                        } else {
                            "log_softmax_f32"
                        };
                        assert_eq!(select(op.as_ref(), &[d]).unwrap().name(), want);
                        assert_kernel_matches(
                            op.as_ref(),
                            std::slice::from_ref(&x),
                            &[false],
                            1e-5,
                            1e-6,
                        );
                    }
                }
            }
        }
        let specials = Tensor::from_vec(
            &[2, 3],
            vec![f32::NAN, 1.0, 2.0, f32::NEG_INFINITY, 0.0, 1.0],
        )
        .unwrap();
        for axis in [0, 1] {
            let op = with_attrs("Softmax", 8, &[("axis", Int(axis))]);
            assert_kernel_matches(
                op.as_ref(),
                std::slice::from_ref(&specials),
                &[false],
                1e-6,
                1e-7,
            );
        }
    }

    #[test]
    fn softmax_kernel_checks_its_input() {
        use crate::ir::AttrValue::Int;
        let op = with_attrs("Softmax", 8, &[("axis", Int(2))]);
        let x = Tensor::zeros(ElementType::F32, &[2, 3, 4]);
        let k = select(op.as_ref(), &[TensorDesc::of_tensor(&x)]).unwrap();
        assert!(k.run(&[&Tensor::zeros(ElementType::F32, &[2, 3])]).is_err());
        assert!(k.run(&[]).is_err());
        let v1 = with_attrs("Softmax", 1, &[("axis", Int(-1))]);
        assert!(select(v1.as_ref(), &[TensorDesc::of_tensor(&x)]).is_none());
    }

    #[test]
    fn mvn_matches_reference() {
        use crate::ir::AttrValue::{Bool, Float, Ints, Str};
        let mut rng = Lcg(5);
        for shape in SHAPES {
            let x = rng.tensor(shape);
            for mode in ["inside_sqrt", "outside_sqrt"] {
                for nv in [true, false] {
                    let attrs = [
                        ("eps", Float(1e-3)),
                        ("eps_mode", Str(mode.into())),
                        ("normalize_variance", Bool(nv)),
                    ];
                    let op = with_attrs("MVN", 6, &attrs);
                    assert_kernel_matches(
                        op.as_ref(),
                        &[x.clone(), i64s(&[-1])],
                        &[false, true],
                        1e-4,
                        1e-5,
                    );
                }
            }
            let axes = Ints(vec![shape.len() as i64 - 1]);
            let v2 = with_attrs("MVN", 2, &[("eps", Float(1e-3)), ("reduction_axes", axes)]);
            assert_kernel_matches(v2.as_ref(), &[x], &[false], 1e-4, 1e-5);
        }
    }

    #[test]
    fn other_axes_fall_back() {
        let x = TensorDesc::of_tensor(&Tensor::zeros(ElementType::F32, &[2, 3]));
        let mvn = with_attrs("MVN", 6, &[]);
        assert!(
            select(
                mvn.as_ref(),
                &[x.clone(), TensorDesc::of_tensor(&i64s(&[0, 1]))]
            )
            .is_none()
        );
        let unknown_axes =
            TensorDesc::new(ElementType::I64, crate::ir::PartialShape::from_static(&[1]));
        assert!(select(mvn.as_ref(), &[x, unknown_axes]).is_none());
    }
}
