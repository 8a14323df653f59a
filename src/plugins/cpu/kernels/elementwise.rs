//! f32 elementwise kernels: unary maps and broadcast binary ops, parallel over chunks with rayon.

use super::Kernel;
use crate::error::Result;
use crate::ir::{ElementType, Tensor};
use crate::ops::activation::{Clamp, Elu, Gelu, gelu};
use crate::ops::binary::{Binary, BinaryKind};
use crate::ops::elementwise::{AutoBroadcast, broadcast_static};
use crate::ops::unary::{Domain, Unary};
use crate::ops::util::broadcast_strides;
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;
use std::fmt;

/// Elements per parallel task: below this, threads cost more than they save.
const CHUNK: usize = 1 << 14;

/// Chooses an f32 kernel for unary, activation and arithmetic binary ops.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    if inputs.first()?.element_type != ElementType::F32 {
        return None;
    }
    let any = op.as_any();
    let f: Box<dyn Fn(f64) -> f64 + Send + Sync> = if let Some(u) = any.downcast_ref::<Unary>() {
        if u.row.domain != Domain::Numeric && u.row.domain != Domain::Float {
            return None;
        }
        Box::new(u.row.f)
    } else if let Some(g) = any.downcast_ref::<Gelu>() {
        let m = g.approximation_mode;
        Box::new(move |x| gelu(x, m))
    } else if let Some(c) = any.downcast_ref::<Clamp>() {
        let (lo, hi) = (c.min, c.max);
        Box::new(move |x| x.clamp(lo, hi))
    } else if let Some(e) = any.downcast_ref::<Elu>() {
        let a = e.alpha;
        Box::new(move |x| if x >= 0.0 { x } else { a * (x.exp() - 1.0) })
    } else if let Some(b) = any.downcast_ref::<Binary>() {
        if b.row.kind != BinaryKind::Arithmetic || inputs.get(1)?.element_type != ElementType::F32 {
            return None;
        }
        return Some(Box::new(BinaryF32 {
            f: b.row.f,
            mode: b.auto_broadcast,
            name: b.row.name,
        }));
    } else {
        return None;
    };
    Some(Box::new(UnaryF32 { f }))
}

/// Applies a scalar function to every f32 value.
pub struct UnaryF32 {
    f: Box<dyn Fn(f64) -> f64 + Send + Sync>,
}

impl fmt::Debug for UnaryF32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnaryF32")
    }
}

impl Kernel for UnaryF32 {
    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        crate::ops::util::check_input_count(inputs, 1, 1)?;
        let x = inputs[0].typed::<f32>()?;
        let mut out = Tensor::zeros(ElementType::F32, inputs[0].shape());
        let y = out.typed_mut::<f32>()?;
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yc, xc)| {
                for (o, i) in yc.iter_mut().zip(xc) {
                    *o = (self.f)(*i as f64) as f32;
                }
            });
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "eltwise_f32"
    }
}

/// A broadcast binary f32 op.
#[derive(Debug)]
pub struct BinaryF32 {
    f: fn(f64, f64) -> f64,
    mode: AutoBroadcast,
    name: &'static str,
}

impl BinaryF32 {
    /// Computes one f32 pair; the common ops avoid the f64 round trip.
    #[inline(always)]
    fn apply(&self, a: f32, b: f32) -> f32 {
        match self.name {
            "Add" => a + b,
            "Subtract" => a - b,
            "Multiply" => a * b,
            "Divide" => a / b,
            "Maximum" => a.max(b),
            "Minimum" => a.min(b),
            _ => (self.f)(a as f64, b as f64) as f32,
        }
    }
}

impl Kernel for BinaryF32 {
    fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        crate::ops::util::check_input_count(inputs, 2, 2)?;
        let (ta, tb) = (inputs[0], inputs[1]);
        let shape = broadcast_static(self.mode, &[ta.shape(), tb.shape()])?;
        let (a, b) = (ta.typed::<f32>()?, tb.typed::<f32>()?);
        let mut out = Tensor::zeros(ElementType::F32, &shape);
        let y = out.typed_mut::<f32>()?;
        if ta.shape() == tb.shape() {
            y.par_chunks_mut(CHUNK)
                .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
                .for_each(|(yc, (ac, bc))| {
                    for ((o, x), z) in yc.iter_mut().zip(ac).zip(bc) {
                        *o = self.apply(*x, *z);
                    }
                });
            return Ok(vec![out]);
        }
        // General broadcast: split the output into rows of its last dimension; each row reads a contiguous or
        // constant run of each input.
        let last = *shape.last().unwrap_or(&1);
        let sa = broadcast_strides(ta.shape(), &shape);
        let sb = broadcast_strides(tb.shape(), &shape);
        let (ia, ib) = (
            sa.last().copied().unwrap_or(0),
            sb.last().copied().unwrap_or(0),
        );
        let outer: Vec<usize> = shape[..shape.len().saturating_sub(1)].to_vec();
        if last == 0 {
            return Ok(vec![out]);
        }
        y.par_chunks_mut(last).enumerate().for_each(|(row, yr)| {
            let (mut oa, mut ob) = (0usize, 0usize);
            let mut r = row;
            for d in (0..outer.len()).rev() {
                let i = r % outer[d];
                r /= outer[d];
                oa += i * sa[d];
                ob += i * sb[d];
            }
            for (j, o) in yr.iter_mut().enumerate() {
                *o = self.apply(a[oa + j * ia], b[ob + j * ib]);
            }
        });
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "eltwise_f32"
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::{Lcg, assert_kernel_matches};

    #[test]
    fn unary_ops_match_reference() {
        let mut g = Lcg(1);
        for name in [
            "Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Erf", "HSwish", "Mish", "Gelu", "Elu",
            "Clamp",
        ] {
            let op = create(name, 16).unwrap();
            for shape in [vec![3, 5], vec![0, 4], vec![], vec![70_000]] {
                assert_kernel_matches(op.as_ref(), &[g.tensor(&shape)], &[], 1e-6, 1e-6);
            }
        }
    }

    #[test]
    fn binary_ops_match_reference_with_broadcasting() {
        let mut g = Lcg(2);
        let cases: [(&[usize], &[usize]); 6] = [
            (&[2, 3], &[2, 3]),
            (&[2, 3, 4], &[4]),
            (&[2, 1, 4], &[3, 1]),
            (&[], &[5]),
            (&[0, 3], &[3]),
            (&[1, 8, 2, 2], &[1, 8, 1, 1]),
        ];
        for name in [
            "Add",
            "Subtract",
            "Multiply",
            "Divide",
            "Maximum",
            "Power",
            "SquaredDifference",
            "FloorMod",
        ] {
            let op = create(name, 16).unwrap();
            for (a, b) in cases {
                assert_kernel_matches(op.as_ref(), &[g.tensor(a), g.tensor(b)], &[], 1e-6, 1e-6);
                assert_kernel_matches(op.as_ref(), &[g.tensor(b), g.tensor(a)], &[], 1e-6, 1e-6);
            }
        }
    }
}
