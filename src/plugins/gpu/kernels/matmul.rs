//! MatMul (transpose_a/b, 1-D operands, batch broadcasting) tiled through workgroup memory
//! (`shaders/matmul.wgsl`): 32x32 output blocks, 4x4 per invocation.

use super::{Binding, Dispatch, GpuKernel, dims, param};
use crate::error::{Error, Result};
use crate::ir::ElementType;
use crate::ops::linalg::{MatMul, MatMulPlan};
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The MatMul shader.
pub const SHADER: &str = include_str!("../shaders/matmul.wgsl");

/// Output rows and columns of one workgroup.
const TILE: usize = 32;

/// A MatMul lowered to the tiled shader.
#[derive(Debug)]
pub struct MatMulKernel {
    plan: MatMulPlan,
}

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

impl MatMulKernel {
    /// `[M, N, K, A strides and matrix size, B strides and matrix size, batches, A matrices…, B matrices…]`.
    fn params(&self) -> Result<Vec<u32>> {
        let (a, b) = (&self.plan.a, &self.plan.b);
        let mut p = [
            self.plan.m(),
            self.plan.n(),
            self.plan.k(),
            a.row_stride,
            a.col_stride,
            a.size(),
            b.row_stride,
            b.col_stride,
            b.size(),
            self.plan.a_batches.len(),
        ]
        .iter()
        .map(|&v| param(v, "MatMul size"))
        .collect::<Result<Vec<u32>>>()?;
        for &m in self.plan.a_batches.iter().chain(&self.plan.b_batches) {
            p.push(param(m, "MatMul batch")?);
        }
        Ok(p)
    }
}

impl GpuKernel for MatMulKernel {
    fn name(&self) -> String {
        "matmul_tiled_f32".into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let (m, n, batches) = (self.plan.m(), self.plan.n(), self.plan.a_batches.len());
        if m == 0 || n == 0 || batches == 0 {
            return Ok(Vec::new());
        }
        let groups = [n.div_ceil(TILE), m.div_ceil(TILE), batches];
        let max = caps.max_workgroups_per_dim as usize;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::Unsupported(format!(
                "GPU: MatMul of {m}x{n} over {batches} batches needs {groups:?} workgroups, over the adapter's \
                 limit of {max} per dimension"
            )));
        }
        if caps.max_invocations < 64 || caps.max_workgroup_storage < 8192 {
            return Err(Error::Unsupported(
                "GPU: the adapter's workgroups are too small for the tiled MatMul".into(),
            ));
        }
        Ok(vec![Dispatch {
            pipeline: PipelineKey::new(shader(), "main", &[]),
            bindings: vec![
                Binding::Input(0),
                Binding::Input(1),
                Binding::Output(0),
                Binding::Params(self.params()?),
            ],
            workgroups: [groups[0] as u32, groups[1] as u32, groups[2] as u32],
        }])
    }
}

/// The MatMul kernel of an f32 MatMul with static shapes.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let mm = op.as_any().downcast_ref::<MatMul>()?;
    let [a, b] = inputs else { return None };
    if a.element_type != ElementType::F32 || b.element_type != ElementType::F32 {
        return None;
    }
    let plan = mm.plan(&dims(a)?, &dims(b)?).ok()?;
    Some(Box::new(MatMulKernel { plan }))
}

#[cfg(test)]
mod tests {
    use crate::ops::linalg::MatMul;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    fn check(a: &[usize], b: &[usize], transpose_a: bool, transpose_b: bool, constant_b: bool) {
        let mut rng = Lcg(a.len() as u64 * 31 + b.iter().sum::<usize>() as u64);
        let (x, y) = (rng.tensor(a), rng.tensor(b));
        check_against_reference(
            || {
                Box::new(MatMul {
                    transpose_a,
                    transpose_b,
                })
            },
            &[x, y],
            &[false, constant_b],
        );
    }

    #[test]
    fn plain_and_ragged_sizes() {
        check(&[4, 8], &[8, 4], false, false, false);
        check(&[33, 70], &[70, 45], false, false, true);
        check(&[1, 5], &[5, 1], false, false, false);
    }

    #[test]
    fn transposes() {
        check(&[70, 33], &[70, 45], true, false, false);
        check(&[33, 70], &[45, 70], false, true, true);
        check(&[70, 33], &[45, 70], true, true, false);
    }

    #[test]
    fn batches_broadcast_and_vectors() {
        check(&[2, 3, 17, 9], &[9, 5], false, false, true);
        check(&[2, 1, 17, 9], &[3, 9, 5], false, false, false);
        check(&[9], &[2, 9, 5], false, false, false);
        check(&[2, 4, 9], &[9], false, false, false);
        check(&[0, 4, 9], &[9, 3], false, false, false);
    }
}
