//! LRN-1 over any set of axes (`shaders/lrn.wgsl`): one invocation per element sums the squares of its window.

use super::{Binding, GpuKernel, dims, param, per_output_dispatch};
use crate::error::Result;
use crate::ir::ElementType;
use crate::ops::normalization::Lrn;
use crate::ops::reduction::axes_input_mask;
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::kernels::Dispatch;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The LRN shader.
pub const SHADER: &str = include_str!("../shaders/lrn.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// The most axes the shader's window walk handles.
const MAX_RANK: usize = 8;

/// An LRN of a contiguous f32 tensor.
#[derive(Debug)]
pub struct LrnKernel {
    shape: Vec<usize>,
    mask: Vec<bool>,
    half: usize,
    /// `alpha / size^(number of axes)`.
    scale: f32,
    bias: f32,
    beta: f32,
}

impl GpuKernel for LrnKernel {
    fn name(&self) -> String {
        "lrn_f32".into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let n: usize = self.shape.iter().product();
        let mut p = vec![
            param(n, "LRN elements")?,
            param(self.shape.len(), "LRN rank")?,
            param(self.half, "LRN window")?,
            self.scale.to_bits(),
            self.bias.to_bits(),
            self.beta.to_bits(),
        ];
        for &d in &self.shape {
            p.push(param(d, "LRN axis length")?);
        }
        p.extend(self.mask.iter().map(|&m| u32::from(m)));
        per_output_dispatch(
            PipelineKey::new(shader(), "main", &[]),
            vec![Binding::Input(0), Binding::Output(0), Binding::Params(p)],
            n,
            caps,
        )
    }
}

/// The kernel of an f32 LRN with constant axes and at most `MAX_RANK` axes.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let lrn = op.as_any().downcast_ref::<Lrn>()?;
    let [x, axes] = inputs else { return None };
    if x.element_type != ElementType::F32 || lrn.size <= 0 {
        return None;
    }
    let shape = dims(x)?;
    let axes = axes.value.as_ref()?;
    if shape.len() > MAX_RANK {
        return None;
    }
    let mask = axes_input_mask(axes, shape.len(), "LRN axes").ok()?;
    // As the reference: the scale divides alpha by size once per entry of the axes input.
    let scale = lrn.alpha / (lrn.size as f64).powi(i32::try_from(axes.len()).ok()?);
    Some(Box::new(LrnKernel {
        shape,
        mask,
        half: usize::try_from((lrn.size - 1) / 2).ok()?,
        scale: scale as f32,
        bias: lrn.bias as f32,
        beta: lrn.beta as f32,
    }))
}

#[cfg(test)]
mod tests {
    use crate::ir::{AttrValue, AttributeSetter, Tensor};
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    #[test]
    fn channel_and_spatial_windows() {
        let mut rng = Lcg(21);
        let x = rng.tensor(&[2, 7, 5, 6]);
        for (axes, size) in [
            (vec![1i64], 5i64),
            (vec![1], 1),
            (vec![1], 4),
            (vec![2, 3], 3),
            (vec![1, 2, 3], 3),
            (vec![-1], 7),
        ] {
            let make = || {
                let mut op = create("LRN", 1).unwrap();
                let attrs = [
                    ("alpha".to_string(), AttrValue::Float(1e-2)),
                    ("beta".to_string(), AttrValue::Float(0.75)),
                    ("bias".to_string(), AttrValue::Float(2.0)),
                    ("size".to_string(), AttrValue::Int(size)),
                ];
                op.visit_attributes(&mut AttributeSetter::new(&attrs))
                    .unwrap();
                op
            };
            let axes = Tensor::from_vec(&[axes.len()], axes).unwrap();
            check_against_reference(make, &[x.clone(), axes], &[false, true]);
        }
    }
}
