//! f32 ReduceSum and ReduceMean over a block of innermost axes (constant axes): each output is the sum of one
//! contiguous run of the input, computed in a vectorisable loop, outputs spread over threads with rayon.

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

/// Chooses the innermost-axes kernel for f32 ReduceSum and ReduceMean with constant axes.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let r = op.as_any().downcast_ref::<Reduce>()?;
    let [x, axes] = inputs else { return None };
    if !matches!(r.kind, ReduceKind::Sum | ReduceKind::Mean) || x.element_type != ElementType::F32 {
        return None;
    }
    let mask = axes_mask(&known_i64s(axes)?, x.rank()?, "reduction axes").ok()?;
    // The reduced axes must be a non-empty suffix.
    let first = mask.iter().position(|&m| m)?;
    if !mask[first..].iter().all(|&m| m) {
        return None;
    }
    Some(Box::new(InnerReduceF32 {
        mean: r.kind == ReduceKind::Mean,
        keep_dims: r.keep_dims,
        mask,
    }))
}

/// Sums (or averages) contiguous runs of the innermost axes.
#[derive(Debug)]
pub struct InnerReduceF32 {
    mean: bool,
    keep_dims: bool,
    mask: Vec<bool>,
}

/// Sum with eight independent accumulators, so the compiler can vectorise it.
pub fn sum_f32(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl Kernel for InnerReduceF32 {
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
        let first = self.mask.iter().position(|&m| m).unwrap_or(self.mask.len());
        let inner = num_elements(&x.shape()[first..]);
        let mut out = take_output(
            spare,
            0,
            ElementType::F32,
            &reduced_shape(x.shape(), &self.mask, self.keep_dims),
        );
        if inner == 0 || out.is_empty() {
            return Ok(vec![out]);
        }
        let scale = if self.mean { 1.0 / inner as f32 } else { 1.0 };
        let xv = x.typed::<f32>()?;
        let per_task = (CHUNK / inner).max(1);
        out.typed_mut::<f32>()?
            .par_chunks_mut(per_task)
            .zip(xv.par_chunks(per_task * inner))
            .for_each(|(yc, xc)| {
                for (y, row) in yc.iter_mut().zip(xc.chunks(inner)) {
                    *y = sum_f32(row) * scale;
                }
            });
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        if self.mean {
            "reduce_mean_f32"
        } else {
            "reduce_sum_f32"
        }
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
        ];
        for &(shape, ax) in cases {
            let inputs = [rng.tensor(shape), axes(ax)];
            for kind in [ReduceKind::Sum, ReduceKind::Mean] {
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
    fn only_inner_constant_axes_are_selected() {
        let x = TensorDesc::of_tensor(&Tensor::zeros(ElementType::F32, &[2, 3, 4]));
        let op = Reduce::new(ReduceKind::Sum);
        assert!(select(&op, &[x.clone(), TensorDesc::of_tensor(&axes(&[0]))]).is_none());
        assert!(select(&op, &[x.clone(), TensorDesc::of_tensor(&axes(&[]))]).is_none());
        assert!(
            select(
                &Reduce::new(ReduceKind::Max),
                &[x.clone(), TensorDesc::of_tensor(&axes(&[2]))]
            )
            .is_none()
        );
        let unknown = TensorDesc::new(ElementType::I64, crate::ir::PartialShape::from_static(&[1]));
        assert!(select(&op, &[x, unknown]).is_none());
    }
}
