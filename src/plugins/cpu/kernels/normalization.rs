//! f32 kernels for Softmax, LogSoftmax and MVN over the last axis: one pass per row in vectorisable loops,
//! rows spread over threads with rayon.

use super::reduction::sum_f32;
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

/// Chooses a last-axis kernel for f32 Softmax, LogSoftmax and MVN.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let x = inputs.first()?;
    let rank = x.rank()?;
    if x.element_type != ElementType::F32 || rank == 0 {
        return None;
    }
    let any = op.as_any();
    if let Some(s) = any.downcast_ref::<Softmax>() {
        let last = s.resolved_axis(rank).ok()? == rank - 1;
        return last.then(|| {
            Box::new(RowKernel {
                row: RowOp::Softmax { log: s.log },
            }) as Box<dyn Kernel>
        });
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
    let row = RowOp::Mvn {
        eps: m.eps as f32,
        normalize_variance: m.normalize_variance,
        inside_sqrt: m.eps_inside_sqrt(),
    };
    only_last.then(|| Box::new(RowKernel { row }) as Box<dyn Kernel>)
}

/// What a [`RowKernel`] computes on each row.
#[derive(Debug, Clone, Copy)]
enum RowOp {
    Softmax {
        log: bool,
    },
    Mvn {
        eps: f32,
        normalize_variance: bool,
        inside_sqrt: bool,
    },
}

/// Softmax (or log-softmax) of one row.
fn softmax_row(x: &[f32], y: &mut [f32], log: bool) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (o, &v) in y.iter_mut().zip(x) {
        *o = (v - max).exp();
    }
    let sum = sum_f32(y);
    if log {
        let shift = max + sum.ln();
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v - shift;
        }
    } else {
        let inv = 1.0 / sum;
        y.iter_mut().for_each(|o| *o *= inv);
    }
}

/// Mean-variance normalisation of one row.
fn mvn_row(x: &[f32], y: &mut [f32], eps: f32, normalize_variance: bool, inside_sqrt: bool) {
    let n = x.len().max(1) as f32;
    let mean = sum_f32(x) / n;
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v - mean;
    }
    if !normalize_variance {
        return;
    }
    let var = y.iter().map(|d| d * d).sum::<f32>() / n;
    let inv = 1.0
        / if inside_sqrt {
            (var + eps).sqrt()
        } else {
            var.sqrt() + eps
        };
    y.iter_mut().for_each(|o| *o *= inv);
}

/// Applies a [`RowOp`] to every row along the last axis.
#[derive(Debug)]
pub struct RowKernel {
    row: RowOp,
}

impl RowKernel {
    fn apply(&self, x: &[f32], y: &mut [f32]) {
        match self.row {
            RowOp::Softmax { log } => softmax_row(x, y, log),
            RowOp::Mvn {
                eps,
                normalize_variance,
                inside_sqrt,
            } => mvn_row(x, y, eps, normalize_variance, inside_sqrt),
        }
    }
}

impl Kernel for RowKernel {
    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.run_recycling(inputs, &mut [])
    }
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
        let xv = x.typed::<f32>()?;
        let task = len * (CHUNK / len).max(1);
        out.typed_mut::<f32>()?
            .par_chunks_mut(task)
            .zip(xv.par_chunks(task))
            .for_each(|(yc, xc)| {
                for (yr, xr) in yc.chunks_mut(len).zip(xc.chunks(len)) {
                    self.apply(xr, yr);
                }
            });
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        match self.row {
            RowOp::Softmax { log: false } => "softmax_f32",
            RowOp::Softmax { log: true } => "log_softmax_f32",
            RowOp::Mvn { .. } => "mvn_f32",
        }
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

    #[test]
    fn softmax_matches_reference() {
        use crate::ir::AttrValue::Int;
        let mut rng = Lcg(3);
        for shape in SHAPES {
            let x = rng.tensor(shape);
            for (name, opset) in [("Softmax", 8), ("LogSoftmax", 5)] {
                let op = with_attrs(name, opset, &[("axis", Int(-1))]);
                assert_kernel_matches(op.as_ref(), std::slice::from_ref(&x), &[false], 1e-5, 1e-6);
            }
            let v1 = with_attrs("Softmax", 1, &[("axis", Int(shape.len() as i64 - 1))]);
            assert_kernel_matches(v1.as_ref(), &[x], &[false], 1e-5, 1e-6);
        }
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
        use crate::ir::AttrValue::Int;
        let x = TensorDesc::of_tensor(&Tensor::zeros(ElementType::F32, &[2, 3]));
        assert!(
            select(
                with_attrs("Softmax", 8, &[("axis", Int(0))]).as_ref(),
                std::slice::from_ref(&x)
            )
            .is_none()
        );
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
