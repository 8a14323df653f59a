//! Concat along any axis (`shaders/concat.wgsl`): one copy dispatch per non-empty input. f32 and i32 storage
//! share the shader (a copy does not look at the bits).

use super::{Binding, Dispatch, GpuKernel, dims, param, per_output_dispatch, storage_type};
use crate::error::Result;
use crate::ir::shape::normalize_axis;
use crate::ops::data_movement::Concat;
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The concat shader.
pub const SHADER: &str = include_str!("../shaders/concat.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// A Concat: each input's row length (its elements from the axis on) and element count.
#[derive(Debug)]
pub struct ConcatKernel {
    /// `(row length, elements)` per input.
    pieces: Vec<(usize, usize)>,
}

impl GpuKernel for ConcatKernel {
    fn name(&self) -> String {
        "concat".into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let out_row: usize = self.pieces.iter().map(|p| p.0).sum();
        let mut offset = 0;
        let mut all = Vec::new();
        for (i, &(row, elements)) in self.pieces.iter().enumerate() {
            let p = vec![
                param(elements, "Concat input size")?,
                param(row.max(1), "Concat row")?,
                param(out_row, "Concat output row")?,
                param(offset, "Concat offset")?,
            ];
            all.extend(per_output_dispatch(
                PipelineKey::new(shader(), "main", &[]),
                vec![Binding::Input(i), Binding::Output(0), Binding::Params(p)],
                elements,
                caps,
            )?);
            offset += row;
        }
        Ok(all)
    }
}

/// The Concat kernel for static inputs stored as f32 or i32.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let c = op.as_any().downcast_ref::<Concat>()?;
    let first = inputs.first()?;
    storage_type(first.element_type)?;
    let rank = first.rank()?;
    let axis = normalize_axis(c.axis, rank, "Concat").ok()?;
    let pieces = inputs
        .iter()
        .map(|d| {
            let shape = dims(d)?;
            (d.element_type == first.element_type && shape.len() == rank)
                .then(|| (shape[axis..].iter().product(), shape.iter().product()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Box::new(ConcatKernel { pieces }))
}

#[cfg(test)]
mod tests {
    use crate::ir::Tensor;
    use crate::ops::data_movement::Concat;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    #[test]
    fn every_axis_empty_pieces_and_integers() {
        let mut rng = Lcg(41);
        for axis in [0i64, 1, 2, -1] {
            let mut b = vec![2, 3, 5];
            b[axis.rem_euclid(3) as usize] = 4;
            let inputs = [
                rng.tensor(&[2, 3, 5]),
                rng.tensor(&b),
                rng.tensor(&[2, 3, 5]),
            ];
            check_against_reference(|| Box::new(Concat { axis }), &inputs, &[false, true, false]);
        }
        let inputs = [rng.tensor(&[2, 0]), rng.tensor(&[2, 3])];
        check_against_reference(|| Box::new(Concat { axis: 1 }), &inputs, &[false, false]);
        let ints = [
            Tensor::from_vec(&[1, 2], vec![1i32, -2]).unwrap(),
            Tensor::from_vec(&[1, 3], vec![3i32, 4, 5]).unwrap(),
        ];
        check_against_reference(|| Box::new(Concat { axis: -1 }), &ints, &[false, false]);
    }
}
