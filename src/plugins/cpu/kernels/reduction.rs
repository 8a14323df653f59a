//! f32 ReduceSum, ReduceMean, ReduceMax, ReduceMin and ReduceProd over one contiguous block of axes (constant
//! axes): the input is seen as `[outer, reduced, inner]`. With no inner axes each output folds one contiguous
//! run in a vectorisable loop; otherwise each output row of `inner` values folds `reduced` contiguous rows.
//! Outputs are spread over threads with rayon.

use super::{Kernel, take_output};
use crate::error::{Error, Result};
use crate::ir::shape::num_elements;
use crate::ir::{ElementType, Tensor};
use crate::ops::reduction::{Reduce, ReduceKind, axes_mask, reduced_shape};
use crate::ops::util::known_i64s;
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;

/// Input elements per parallel task.
const CHUNK: usize = 1 << 15;

/// Chooses the block kernel for an f32 Sum, Mean, Max, Min or Prod reduction with constant axes that form one
/// contiguous block.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let r = op.as_any().downcast_ref::<Reduce>()?;
    let [x, axes] = inputs else { return None };
    let fold = Fold::of(r.kind)?;
    if x.element_type != ElementType::F32 {
        return None;
    }
    let mask = axes_mask(&known_i64s(axes)?, x.rank()?, "reduction axes").ok()?;
    let first = mask.iter().position(|&m| m)?;
    let end = first + mask[first..].iter().take_while(|&&m| m).count();
    if mask[end..].iter().any(|&m| m) {
        return None;
    }
    Some(Box::new(BlockReduceF32 {
        kind: r.kind,
        fold,
        keep_dims: r.keep_dims,
        mask,
        block: first..end,
    }))
}

/// How values combine, and the value of an empty reduction.
#[derive(Debug, Clone, Copy)]
enum Fold {
    Sum,
    Max,
    Min,
    Prod,
}

impl Fold {
    fn of(kind: ReduceKind) -> Option<Fold> {
        Some(match kind {
            ReduceKind::Sum | ReduceKind::Mean => Fold::Sum,
            ReduceKind::Max => Fold::Max,
            ReduceKind::Min => Fold::Min,
            ReduceKind::Prod => Fold::Prod,
            _ => return None,
        })
    }

    /// The result of folding nothing (as the reference defines it).
    fn identity(self) -> f32 {
        match self {
            Fold::Sum => 0.0,
            Fold::Max => f32::MIN,
            Fold::Min => f32::MAX,
            Fold::Prod => 1.0,
        }
    }

    #[inline(always)]
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Fold::Sum => a + b,
            Fold::Max => a.max(b),
            Fold::Min => a.min(b),
            Fold::Prod => a * b,
        }
    }

    /// The value accumulators start from when folding `x`: the identity of Sum and Prod; the first value of
    /// Max and Min (their identities, the extreme finite values, would beat an infinity in `x`).
    #[inline(always)]
    fn start(self, x: &[f32]) -> f32 {
        match (self, x.first()) {
            (Fold::Max | Fold::Min, Some(&first)) => first,
            _ => self.identity(),
        }
    }

    /// Folds a contiguous run with eight independent accumulators, so the compiler can vectorise it.
    #[inline(always)]
    fn run(self, x: &[f32]) -> f32 {
        let start = self.start(x);
        let mut acc = [start; 8];
        let chunks = x.chunks_exact(8);
        let tail = chunks
            .remainder()
            .iter()
            .fold(start, |a, &v| self.apply(a, v));
        for c in chunks {
            for (a, v) in acc.iter_mut().zip(c) {
                *a = self.apply(*a, *v);
            }
        }
        acc.iter().fold(tail, |a, &v| self.apply(a, v))
    }
}

/// Sum with eight independent accumulators, so the compiler can vectorise it.
pub fn sum_f32(x: &[f32]) -> f32 {
    Fold::Sum.run(x)
}

/// Reduces one contiguous block of axes (`block`) of an f32 tensor.
#[derive(Debug)]
pub struct BlockReduceF32 {
    kind: ReduceKind,
    fold: Fold,
    keep_dims: bool,
    mask: Vec<bool>,
    block: std::ops::Range<usize>,
}

impl Kernel for BlockReduceF32 {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        crate::ops::util::check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        if x.rank() != self.mask.len() {
            return Err(Error::Shape(format!(
                "data has rank {}, the kernel was built for {}",
                x.rank(),
                self.mask.len()
            )));
        }
        let shape = x.shape();
        let reduced = num_elements(&shape[self.block.clone()]);
        let inner = num_elements(&shape[self.block.end..]);
        let mut out = take_output(
            spare,
            0,
            ElementType::F32,
            &reduced_shape(shape, &self.mask, self.keep_dims),
        );
        let y = out.typed_mut::<f32>()?;
        if y.is_empty() {
            return Ok(vec![out]);
        }
        if reduced == 0 {
            y.fill(self.fold.identity());
            return Ok(vec![out]);
        }
        let scale = match self.kind {
            ReduceKind::Mean => 1.0 / reduced as f32,
            _ => 1.0,
        };
        let (xv, fold) = (x.typed::<f32>()?, self.fold);
        // Each task takes whole output rows of `inner` values (one value without inner axes).
        let rows_per_task = (CHUNK / (reduced * inner).max(1)).max(1);
        y.par_chunks_mut(rows_per_task * inner)
            .zip(xv.par_chunks(rows_per_task * reduced * inner))
            .for_each(|(yc, xc)| {
                for (row, block) in yc.chunks_mut(inner).zip(xc.chunks(reduced * inner)) {
                    fold_block(fold, block, row, scale);
                }
            });
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "reduce_sum_f32",
            ReduceKind::Mean => "reduce_mean_f32",
            ReduceKind::Max => "reduce_max_f32",
            ReduceKind::Min => "reduce_min_f32",
            _ => "reduce_prod_f32",
        }
    }
}

/// Folds `block` (`reduced` rows of `row.len()` values) into `row`, then scales it.
fn fold_block(fold: Fold, block: &[f32], row: &mut [f32], scale: f32) {
    if let [one] = row {
        *one = fold.run(block) * scale;
        return;
    }
    let mut rows = block.chunks_exact(row.len());
    match rows.next() {
        Some(first) => row.copy_from_slice(first),
        None => row.fill(fold.identity()),
    }
    for r in rows {
        for (a, v) in row.iter_mut().zip(r) {
            *a = fold.apply(*a, *v);
        }
    }
    if scale != 1.0 {
        row.iter_mut().for_each(|v| *v *= scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::cpu::kernels::testing::{Lcg, assert_kernel_matches};

    fn axes(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn matches_reference() {
        let mut rng = Lcg(11);
        let cases: &[(&[usize], &[i64])] = &[
            (&[5], &[0]),
            (&[3, 4], &[-1]),
            (&[2, 3, 4], &[1, 2]),
            (&[2, 3, 4], &[-2, -1, 2]),
            (&[2, 3, 4], &[0, 1, 2]),
            (&[2, 0, 4], &[-1]),
            (&[2, 3, 0], &[-1]),
            (&[64, 1000], &[1]),
            (&[2, 3, 4], &[0]),
            (&[2, 3, 4, 5], &[1, 2]),
            (&[1, 512, 256], &[1]),
            (&[3, 7, 9], &[-3, 1]),
        ];
        for &(shape, ax) in cases {
            let inputs = [rng.tensor(shape), axes(ax)];
            for kind in [
                ReduceKind::Sum,
                ReduceKind::Mean,
                ReduceKind::Max,
                ReduceKind::Min,
                ReduceKind::Prod,
            ] {
                for keep_dims in [false, true] {
                    let op = Reduce { kind, keep_dims };
                    assert!(
                        select(
                            &op,
                            &inputs.iter().map(TensorDesc::of_tensor).collect::<Vec<_>>()
                        )
                        .is_some()
                    );
                    assert_kernel_matches(&op, &inputs, &[false, true], 1e-4, 1e-5);
                }
            }
        }
    }

    #[test]
    fn infinities_survive_max_and_min() {
        let x = Tensor::from_vec(
            &[2, 9],
            vec![f32::NEG_INFINITY; 9]
                .into_iter()
                .chain(vec![f32::INFINITY; 9])
                .collect(),
        )
        .unwrap();
        for kind in [ReduceKind::Max, ReduceKind::Min] {
            for ax in [&[1i64][..], &[0]] {
                let op = Reduce {
                    kind,
                    keep_dims: false,
                };
                assert_kernel_matches(&op, &[x.clone(), axes(ax)], &[false, true], 0.0, 0.0);
            }
        }
    }

    #[test]
    fn only_one_block_of_constant_axes_is_selected() {
        let x = TensorDesc::of_tensor(&Tensor::zeros(ElementType::F32, &[2, 3, 4]));
        let op = Reduce::new(ReduceKind::Sum);
        assert!(select(&op, &[x.clone(), TensorDesc::of_tensor(&axes(&[0, 2]))]).is_none());
        assert!(select(&op, &[x.clone(), TensorDesc::of_tensor(&axes(&[]))]).is_none());
        let logical = Reduce::new(ReduceKind::LogicalAnd);
        assert!(select(&logical, &[x.clone(), TensorDesc::of_tensor(&axes(&[2]))]).is_none());
        let unknown = TensorDesc::new(ElementType::I64, crate::ir::PartialShape::from_static(&[1]));
        assert!(select(&op, &[x, unknown]).is_none());
    }
}
