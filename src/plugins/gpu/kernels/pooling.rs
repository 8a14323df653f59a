//! MaxPool (every version; the indices output too) and AvgPool (exclude_pad both ways, every rounding type) over
//! 1 to 3 spatial axes through the ops' own window geometry (`shaders/pooling.wgsl`): one invocation per output.

use super::conv::axis_params;
use super::{Binding, Dispatch, GpuKernel, dims, param, per_output_dispatch};
use crate::error::Result;
use crate::ir::ElementType;
use crate::ops::conv::{Axis, lift3};
use crate::ops::pooling::{AvgPool, MaxPool};
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The pooling shader.
pub const SHADER: &str = include_str!("../shaders/pooling.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// Which pooling a kernel runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pooling {
    /// MaxPool; with the indices output (modulo the given sub-tensor size) when it has one.
    Max { indices: Option<usize> },
    /// AvgPool.
    Average { exclude_pad: bool },
}

/// A pooling op lowered to the window shader.
#[derive(Debug)]
pub struct PoolKernel {
    pooling: Pooling,
    axes: [Axis; 3],
    /// Input planes (N · C).
    planes: usize,
}

impl PoolKernel {
    fn outputs(&self) -> usize {
        self.planes * self.axes.iter().map(|a| a.output).product::<usize>()
    }

    /// `[outputs, index_modulus, exclude_pad, axes…]` as `shaders/pooling.wgsl` reads them.
    fn params(&self) -> Result<Vec<u32>> {
        let (modulus, exclude_pad) = match self.pooling {
            Pooling::Max { indices } => (indices.unwrap_or(1), false),
            Pooling::Average { exclude_pad } => (1, exclude_pad),
        };
        let mut p = vec![
            param(self.outputs(), "pooling outputs")?,
            param(modulus.max(1), "MaxPool index range")?,
            u32::from(exclude_pad),
        ];
        p.extend(axis_params(&self.axes, 7)?);
        Ok(p)
    }
}

impl GpuKernel for PoolKernel {
    fn name(&self) -> String {
        match self.pooling {
            Pooling::Max { .. } => "max_pool_f32".into(),
            Pooling::Average { .. } => "avg_pool_f32".into(),
        }
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let mut bindings = vec![
            Binding::Input(0),
            Binding::Output(0),
            Binding::Params(self.params()?),
        ];
        let entry = match self.pooling {
            Pooling::Max { indices: Some(_) } => {
                bindings.push(Binding::Output(1));
                "max_pool_indices"
            }
            Pooling::Max { indices: None } => "max_pool",
            Pooling::Average { .. } => "avg_pool",
        };
        per_output_dispatch(
            PipelineKey::new(shader(), entry, &[]),
            bindings,
            self.outputs(),
            caps,
        )
    }
}

/// The pooling kernel of an f32 MaxPool or AvgPool with a static input shape.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let [x] = inputs else { return None };
    if x.element_type != ElementType::F32 {
        return None;
    }
    let shape = dims(x)?;
    let any = op.as_any();
    let (pooling, axes) = if let Some(m) = any.downcast_ref::<MaxPool>() {
        let (axes, modulus) = m.resolve(&shape).ok()?;
        let indices = m.has_indices().then_some(modulus);
        (Pooling::Max { indices }, axes)
    } else if let Some(a) = any.downcast_ref::<AvgPool>() {
        let exclude_pad = a.exclude_pad;
        (Pooling::Average { exclude_pad }, a.resolve(&shape).ok()?)
    } else {
        return None;
    };
    Some(Box::new(PoolKernel {
        pooling,
        axes: lift3(&axes).ok()?,
        planes: shape.iter().take(2).product(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::ops::Op;
    use crate::ops::conv::{AutoPad, RoundingType};
    use crate::ops::pooling::{AvgPool, MaxPool, PoolAttrs};
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    fn attrs(
        kernel: &[i64],
        strides: &[i64],
        dilations: &[i64],
        pads: &[i64],
        rounding: RoundingType,
    ) -> PoolAttrs {
        PoolAttrs {
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            dilations: dilations.to_vec(),
            pads_begin: pads.to_vec(),
            pads_end: pads.iter().map(|p| p / 2).collect(),
            rounding_type: rounding,
            auto_pad: AutoPad::Explicit,
        }
    }

    fn cases() -> Vec<(Vec<usize>, PoolAttrs)> {
        vec![
            (
                vec![2, 3, 9, 11],
                attrs(&[3, 3], &[2, 2], &[1, 1], &[1, 1], RoundingType::Floor),
            ),
            (
                vec![1, 2, 7, 8],
                attrs(&[2, 3], &[2, 1], &[1, 2], &[0, 2], RoundingType::Ceil),
            ),
            (
                vec![1, 4, 5, 5],
                attrs(&[5, 5], &[1, 1], &[1, 1], &[2, 2], RoundingType::Floor),
            ),
            (
                vec![3, 2, 13],
                attrs(&[4], &[3], &[1], &[2], RoundingType::Ceil),
            ),
            (
                vec![1, 2, 4, 6, 5],
                attrs(
                    &[2, 3, 2],
                    &[1, 2, 2],
                    &[1, 1, 1],
                    &[1, 1, 0],
                    RoundingType::Floor,
                ),
            ),
        ]
    }

    #[test]
    fn max_pool_values_and_indices() {
        let mut rng = Lcg(21);
        for (shape, a) in cases() {
            let x = [rng.tensor(&shape)];
            for version in [1, 8, 14] {
                for axis in [0, 1] {
                    let make = || -> Box<dyn Op> {
                        let mut m = MaxPool::new(version);
                        m.attrs = a.clone();
                        if version == 1 {
                            m.attrs.dilations.clear();
                        }
                        m.axis = axis;
                        Box::new(m)
                    };
                    check_against_reference(make, &x, &[false]);
                }
            }
        }
    }

    #[test]
    fn avg_pool_both_pad_modes() {
        let mut rng = Lcg(22);
        for (shape, a) in cases() {
            let x = [rng.tensor(&shape)];
            for exclude_pad in [true, false] {
                let make = || -> Box<dyn Op> {
                    let mut p = AvgPool::new(16);
                    (p.attrs, p.exclude_pad) = (a.clone(), exclude_pad);
                    Box::new(p)
                };
                check_against_reference(make, &x, &[false]);
            }
        }
    }
}
