//! Reductions (ReduceSum/Mean/Max/Min/Prod-1, ReduceL1/L2-4) and MVN-2/6 over any set of axes
//! (`shaders/reduction.wgsl`): one invocation per output for short reductions, one workgroup per output (or MVN
//! group) for long ones.

use super::{Binding, Dispatch, GpuKernel, dims, grid, param, per_output_dispatch};
use crate::error::Result;
use crate::ir::ElementType;
use crate::ir::shape::strides;
use crate::ops::normalization::Mvn;
use crate::ops::reduction::{Reduce, ReduceKind, axes_input_mask, axes_mask};
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::{Arc, OnceLock};

/// The reduction shader.
pub const SHADER: &str = include_str!("../shaders/reduction.wgsl");

fn shader() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| SHADER.into()).clone()
}

/// Reductions at least this long take a workgroup per output.
const WIDE: usize = 64;

/// An axis run of a contiguous tensor: its length and its stride in elements.
type Run = (usize, usize);

/// The axes of a contiguous tensor of `shape` split into kept and reduced runs (`reduced` masks the axes):
/// unit axes dropped, neighbouring axes of one kind merged into one run.
fn split_runs(shape: &[usize], reduced: &[bool]) -> (Vec<Run>, Vec<Run>) {
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    for ((&size, stride), &r) in shape.iter().zip(strides(shape)).zip(reduced) {
        if size == 1 {
            continue;
        }
        match runs.last_mut() {
            Some(last) if last.2 == r => {
                last.0 *= size;
                last.1 = stride;
            }
            _ => runs.push((size, stride, r)),
        }
    }
    let pick = |want: bool| {
        runs.iter()
            .filter(|r| r.2 == want)
            .map(|&(size, stride, _)| (size, stride))
            .collect()
    };
    (pick(false), pick(true))
}

/// What the kernel computes from each group of reduced elements.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// One output per group (the shader's op code).
    Reduce(u32),
    /// Every element normalised by its group's mean and variance.
    Mvn {
        normalize_variance: bool,
        eps_inside_sqrt: bool,
        eps: f32,
    },
}

/// A reduction or MVN over the reduced runs of a contiguous f32 tensor.
#[derive(Debug)]
pub struct ReductionKernel {
    work: Work,
    kept: Vec<Run>,
    reduced: Vec<Run>,
}

impl ReductionKernel {
    fn count(&self) -> usize {
        self.reduced.iter().map(|r| r.0).product()
    }

    fn groups(&self) -> usize {
        self.kept.iter().map(|r| r.0).product()
    }

    fn params(&self) -> Result<Vec<u32>> {
        let (op, eps) = match self.work {
            Work::Reduce(op) => (op, 0),
            Work::Mvn {
                normalize_variance,
                eps_inside_sqrt,
                eps,
            } => (
                u32::from(normalize_variance) | u32::from(eps_inside_sqrt) << 1,
                eps.to_bits(),
            ),
        };
        let mut p = vec![
            param(self.groups(), "reduction outputs")?,
            param(self.count(), "reduced elements")?,
            op,
            eps,
            param(self.kept.len(), "kept axes")?,
            param(self.reduced.len(), "reduced axes")?,
        ];
        for runs in [&self.kept, &self.reduced] {
            for pick in [|r: &Run| r.0, |r: &Run| r.1] {
                for r in runs.iter() {
                    p.push(param(pick(r), "reduction stride")?);
                }
            }
        }
        Ok(p)
    }
}

impl GpuKernel for ReductionKernel {
    fn name(&self) -> String {
        match self.work {
            Work::Reduce(_) if self.count() >= WIDE => "reduce_wide_f32",
            Work::Reduce(_) => "reduce_f32",
            Work::Mvn { .. } => "mvn_f32",
        }
        .into()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let bindings = vec![
            Binding::Input(0),
            Binding::Output(0),
            Binding::Params(self.params()?),
        ];
        let groups = self.groups();
        let entry = match self.work {
            Work::Reduce(_) if self.count() < WIDE => {
                let key = PipelineKey::new(shader(), "reduce_each", &[]);
                return per_output_dispatch(key, bindings, groups, caps);
            }
            Work::Reduce(_) => "reduce_wide",
            Work::Mvn { .. } => "mvn",
        };
        if groups == 0 {
            return Ok(Vec::new());
        }
        Ok(vec![Dispatch {
            pipeline: PipelineKey::new(shader(), entry, &[]),
            bindings,
            workgroups: grid(groups as u64, caps)?,
        }])
    }
}

/// The shader's op code of a reduction (logical ones have none: booleans are not stored on the GPU).
fn op_code(kind: ReduceKind) -> Option<u32> {
    Some(match kind {
        ReduceKind::Sum => 0,
        ReduceKind::Mean => 1,
        ReduceKind::Max => 2,
        ReduceKind::Min => 3,
        ReduceKind::Prod => 4,
        ReduceKind::L1 => 5,
        ReduceKind::L2 => 6,
        ReduceKind::LogicalAnd | ReduceKind::LogicalOr => return None,
    })
}

/// The kernel of an f32 reduction with constant axes, or of an f32 MVN (MVN-6: constant axes), over a
/// non-empty reduction.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    _outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    let x = inputs.first()?;
    if x.element_type != ElementType::F32 {
        return None;
    }
    let shape = dims(x)?;
    let axes = inputs.get(1).and_then(|d| d.value.as_ref());
    let (work, mask) = if let Some(r) = op.as_any().downcast_ref::<Reduce>() {
        let mask = axes_input_mask(axes?, shape.len(), "reduction axes").ok()?;
        (Work::Reduce(op_code(r.kind)?), mask)
    } else if let Some(m) = op.as_any().downcast_ref::<Mvn>() {
        let mask = match axes {
            Some(a) => axes_input_mask(a, shape.len(), "MVN axes").ok()?,
            None if !m.is_v6() => {
                axes_mask(&m.v2_axes(shape.len()), shape.len(), "MVN axes").ok()?
            }
            None => return None,
        };
        let work = Work::Mvn {
            normalize_variance: m.normalize_variance,
            eps_inside_sqrt: m.eps_inside_sqrt(),
            eps: m.eps as f32,
        };
        (work, mask)
    } else {
        return None;
    };
    let (kept, reduced) = split_runs(&shape, &mask);
    let kernel = ReductionKernel {
        work,
        kept,
        reduced,
    };
    let empty = shape.iter().zip(&mask).any(|(&d, &m)| m && d == 0);
    (!empty).then(|| Box::new(kernel) as Box<dyn GpuKernel>)
}

#[cfg(test)]
mod tests {
    use super::split_runs;
    use crate::ir::{AttrValue, AttributeSetter, Tensor};
    use crate::ops::Op;
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::check_against_reference;

    #[test]
    fn runs_merge_neighbours_and_drop_unit_axes() {
        // [2, 3, 1, 4, 5] reducing axes 1 and 3 (axis 2 is a unit axis between them).
        let (kept, reduced) = split_runs(&[2, 3, 1, 4, 5], &[false, true, false, true, false]);
        assert_eq!(kept, vec![(2, 60), (5, 1)]);
        assert_eq!(reduced, vec![(12, 5)]);
        let (kept, reduced) = split_runs(&[4, 6], &[true, true]);
        assert!(kept.is_empty());
        assert_eq!(reduced, vec![(24, 1)]);
    }

    fn with_attrs(name: &str, version: u32, attrs: &[(&str, AttrValue)]) -> Box<dyn Op> {
        let mut op = create(name, version).unwrap();
        let attrs: Vec<(String, AttrValue)> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        op.visit_attributes(&mut AttributeSetter::new(&attrs))
            .unwrap();
        op
    }

    fn axes(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn every_reduction_over_axis_sets_short_and_long() {
        let mut rng = Lcg(5);
        let ops = [
            ("ReduceSum", 1),
            ("ReduceMean", 1),
            ("ReduceMax", 1),
            ("ReduceMin", 1),
            ("ReduceProd", 1),
            ("ReduceL1", 4),
            ("ReduceL2", 4),
        ];
        let cases: [(&[usize], &[i64]); 7] = [
            (&[2, 3, 4, 5], &[1]),
            (&[2, 3, 4, 5], &[0, 2]),
            (&[2, 3, 4, 5], &[-1, 1]),
            (&[2, 3, 4, 5], &[0, 1, 2, 3]),
            (&[3, 1000], &[1]),
            (&[1, 64, 7, 7], &[2, 3]),
            (&[5, 7, 66], &[0, 2]),
        ];
        for (shape, ax) in cases {
            let x = rng.tensor(shape);
            // A product of hundreds of factors overflows; keep its factors near one.
            let near_one = Tensor::from_vec(
                shape,
                x.to_f64_vec()
                    .iter()
                    .map(|v| 1.0 + 0.01 * *v as f32)
                    .collect(),
            )
            .unwrap();
            for (name, version) in ops {
                for keep in [false, true] {
                    let data = if name == "ReduceProd" { &near_one } else { &x };
                    check_against_reference(
                        || with_attrs(name, version, &[("keep_dims", AttrValue::Bool(keep))]),
                        &[data.clone(), axes(ax)],
                        &[false, true],
                    );
                }
            }
        }
    }

    #[test]
    fn mvn_both_versions_every_mode() {
        let mut rng = Lcg(8);
        for (shape, ax) in [
            (&[2, 7, 32][..], &[-1i64][..]),
            (&[2, 3, 5, 40], &[2, 3]),
            (&[1, 4, 300], &[1, 2]),
            (&[3, 1], &[1]),
        ] {
            let x = rng.tensor(shape);
            for normalize in [false, true] {
                for mode in ["inside_sqrt", "outside_sqrt"] {
                    let attrs = [
                        ("eps", AttrValue::Float(1e-3)),
                        ("normalize_variance", AttrValue::Bool(normalize)),
                        ("eps_mode", AttrValue::Str(mode.into())),
                    ];
                    check_against_reference(
                        || with_attrs("MVN", 6, &attrs),
                        &[x.clone(), axes(ax)],
                        &[false, true],
                    );
                }
            }
        }
        let x = rng.tensor(&[2, 3, 4, 5]);
        for across in [false, true] {
            let attrs = [
                ("eps", AttrValue::Float(1e-5)),
                ("across_channels", AttrValue::Bool(across)),
                ("normalize_variance", AttrValue::Bool(true)),
            ];
            check_against_reference(
                || with_attrs("MVN", 2, &attrs),
                std::slice::from_ref(&x),
                &[false],
            );
        }
    }
}
