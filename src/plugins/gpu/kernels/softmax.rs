//! Softmax-1/8 and LogSoftmax-5 along any axis (`shaders/softmax.wgsl`): one invocation per row.

use super::{Binding, Dispatch, GpuKernel, dims, param, per_output_dispatch};
use crate::error::Result;
use crate::ir::ElementType;
use crate::ops::normalization::Softmax;
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The softmax shader.
pub const SHADER: &str = include_str!("../shaders/softmax.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// A softmax over the middle axis of an (outer, len, inner) split.
#[derive(Debug)]
pub struct SoftmaxKernel {
    outer: usize,
    len: usize,
    inner: usize,
    log: bool,
}

impl GpuKernel for SoftmaxKernel {
    fn name(&self) -> String {
        if self.log {
            "log_softmax_f32"
        } else {
            "softmax_f32"
        }
        .into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let rows = self.outer * self.inner;
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let p = vec![
            param(rows, "softmax rows")?,
            param(self.len, "softmax length")?,
            param(self.inner.max(1), "softmax stride")?,
            u32::from(self.log),
        ];
        per_output_dispatch(
            PipelineKey::new(shader(), "main", &[]),
            vec![Binding::Input(0), Binding::Output(0), Binding::Params(p)],
            rows,
            caps,
        )
    }
}

/// The softmax kernel of an f32 Softmax or LogSoftmax with a static shape.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let s = op.as_any().downcast_ref::<Softmax>()?;
    let [x] = inputs else { return None };
    if x.element_type != ElementType::F32 {
        return None;
    }
    let shape = dims(x)?;
    let axis = s.resolved_axis(shape.len()).ok()?;
    Some(Box::new(SoftmaxKernel {
        outer: shape[..axis].iter().product(),
        len: shape[axis],
        inner: shape[axis + 1..].iter().product(),
        log: s.log,
    }))
}

#[cfg(test)]
mod tests {
    use crate::ir::Tensor;
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    #[test]
    fn every_axis_both_kinds() {
        let mut rng = Lcg(31);
        let x = rng.tensor(&[2, 7, 3, 65]);
        for (name, version) in [("Softmax", 8), ("LogSoftmax", 5)] {
            for axis in [0i64, 1, 2, 3, -1, -3] {
                let make = || {
                    let mut op = create(name, version).unwrap();
                    let attrs = [("axis".to_string(), crate::ir::AttrValue::Int(axis))];
                    op.visit_attributes(&mut crate::ir::AttributeSetter::new(&attrs))
                        .unwrap();
                    op
                };
                check_against_reference(make, std::slice::from_ref(&x), &[false]);
            }
        }
        // Large values (the max shift keeps exp finite) and a length-one axis.
        let big =
            Tensor::from_vec(&[2, 3], vec![1000.0f32, 1001.0, 999.0, -5.0, 0.0, 5.0]).unwrap();
        check_against_reference(|| create("Softmax", 1).unwrap(), &[big], &[false]);
        check_against_reference(
            || create("Softmax", 8).unwrap(),
            &[rng.tensor(&[4, 1, 3])],
            &[false],
        );
    }
}
