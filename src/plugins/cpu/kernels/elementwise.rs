//! f32 elementwise kernels: unary maps and broadcast binary ops, parallel over chunks with rayon. The common ops
//! get monomorphised f32 loops (vectorisable); the rest evaluate their scalar function through f64.

use super::{Kernel, take_output};
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
    let f: UnaryFn = if let Some(u) = any.downcast_ref::<Unary>() {
        if u.row.domain != Domain::Numeric && u.row.domain != Domain::Float {
            return None;
        }
        match u.row.name {
            "Relu" => UnaryFn::Relu,
            "Abs" => UnaryFn::Abs,
            "Negative" => UnaryFn::Negative,
            "Sqrt" => UnaryFn::Sqrt,
            _ => UnaryFn::Scalar(Box::new(u.row.f)),
        }
    } else if let Some(g) = any.downcast_ref::<Gelu>() {
        let m = g.approximation_mode;
        UnaryFn::Scalar(Box::new(move |x| gelu(x, m)))
    } else if let Some(c) = any.downcast_ref::<Clamp>() {
        UnaryFn::Clamp(c.min as f32, c.max as f32)
    } else if let Some(e) = any.downcast_ref::<Elu>() {
        let a = e.alpha;
        UnaryFn::Scalar(Box::new(
            move |x| if x >= 0.0 { x } else { a * (x.exp() - 1.0) },
        ))
    } else if let Some(b) = any.downcast_ref::<Binary>() {
        if b.row.kind != BinaryKind::Arithmetic || inputs.get(1)?.element_type != ElementType::F32 {
            return None;
        }
        let f = match b.row.name {
            "Add" => BinaryFn::Add,
            "Subtract" => BinaryFn::Subtract,
            "Multiply" => BinaryFn::Multiply,
            "Divide" => BinaryFn::Divide,
            "Maximum" => BinaryFn::Maximum,
            "Minimum" => BinaryFn::Minimum,
            _ => BinaryFn::Scalar(b.row.f),
        };
        return Some(Box::new(BinaryF32 {
            f,
            mode: b.auto_broadcast,
        }));
    } else {
        return None;
    };
    Some(Box::new(UnaryF32 { f }))
}

/// The function of a unary kernel: common ones in f32, the rest through f64.
enum UnaryFn {
    Relu,
    Abs,
    Negative,
    Sqrt,
    Clamp(f32, f32),
    Scalar(Box<dyn Fn(f64) -> f64 + Send + Sync>),
}

/// Applies a scalar function to every f32 value.
pub struct UnaryF32 {
    f: UnaryFn,
}

impl fmt::Debug for UnaryF32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnaryF32")
    }
}

/// `y[i] = f(x[i])` in parallel chunks; `f` is a concrete closure so each loop is compiled (and vectorised) for it.
fn map_chunks(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| {
            for (o, i) in yc.iter_mut().zip(xc) {
                *o = f(*i);
            }
        });
}

impl Kernel for UnaryF32 {
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
        crate::ops::util::check_input_count(inputs, 1, 1)?;
        let x = inputs[0].typed::<f32>()?;
        let mut out = take_output(spare, 0, ElementType::F32, inputs[0].shape());
        let y = out.typed_mut::<f32>()?;
        match &self.f {
            UnaryFn::Relu => map_chunks(x, y, |v| v.max(0.0)),
            UnaryFn::Abs => map_chunks(x, y, f32::abs),
            UnaryFn::Negative => map_chunks(x, y, |v| -v),
            UnaryFn::Sqrt => map_chunks(x, y, f32::sqrt),
            UnaryFn::Clamp(lo, hi) => map_chunks(x, y, |v| v.clamp(*lo, *hi)),
            UnaryFn::Scalar(f) => map_chunks(x, y, |v| f(v as f64) as f32),
        }
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "eltwise_f32"
    }
}

/// The function of a binary kernel: common ones in f32, the rest through f64.
#[derive(Debug, Clone, Copy)]
enum BinaryFn {
    Add,
    Subtract,
    Multiply,
    Divide,
    Maximum,
    Minimum,
    Scalar(fn(f64, f64) -> f64),
}

/// A broadcast binary f32 op.
#[derive(Debug)]
pub struct BinaryF32 {
    f: BinaryFn,
    mode: AutoBroadcast,
}

/// `out = f(a, b)` with numpy broadcasting, monomorphised for `f`.
fn zip_broadcast(
    ta: &Tensor,
    tb: &Tensor,
    shape: &[usize],
    y: &mut [f32],
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<()> {
    let (a, b) = (ta.typed::<f32>()?, tb.typed::<f32>()?);
    if ta.shape() == tb.shape() {
        y.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(yc, (ac, bc))| {
                for ((o, x), z) in yc.iter_mut().zip(ac).zip(bc) {
                    *o = f(*x, *z);
                }
            });
        return Ok(());
    }
    // General broadcast: split the output into rows of its last dimension; each row reads a contiguous or
    // constant run of each input.
    let last = *shape.last().unwrap_or(&1);
    if last == 0 {
        return Ok(());
    }
    let sa = broadcast_strides(ta.shape(), shape);
    let sb = broadcast_strides(tb.shape(), shape);
    let (ia, ib) = (
        sa.last().copied().unwrap_or(0),
        sb.last().copied().unwrap_or(0),
    );
    let outer = &shape[..shape.len().saturating_sub(1)];
    let rows_per_task = (CHUNK / last).max(1);
    y.par_chunks_mut(last * rows_per_task)
        .enumerate()
        .for_each(|(task, block)| {
            for (r, yr) in block.chunks_mut(last).enumerate() {
                let (mut oa, mut ob) = (0usize, 0usize);
                let mut rest = task * rows_per_task + r;
                for d in (0..outer.len()).rev() {
                    let i = rest % outer[d];
                    rest /= outer[d];
                    oa += i * sa[d];
                    ob += i * sb[d];
                }
                match (ia, ib) {
                    (1, 0) => {
                        let z = b[ob];
                        for (o, x) in yr.iter_mut().zip(&a[oa..oa + last]) {
                            *o = f(*x, z);
                        }
                    }
                    (0, 1) => {
                        let x = a[oa];
                        for (o, z) in yr.iter_mut().zip(&b[ob..ob + last]) {
                            *o = f(x, *z);
                        }
                    }
                    _ => {
                        for (j, o) in yr.iter_mut().enumerate() {
                            *o = f(a[oa + j * ia], b[ob + j * ib]);
                        }
                    }
                }
            }
        });
    Ok(())
}

impl Kernel for BinaryF32 {
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
        crate::ops::util::check_input_count(inputs, 2, 2)?;
        let (ta, tb) = (inputs[0], inputs[1]);
        let shape = broadcast_static(self.mode, &[ta.shape(), tb.shape()])?;
        let mut out = take_output(spare, 0, ElementType::F32, &shape);
        let y = out.typed_mut::<f32>()?;
        match self.f {
            BinaryFn::Add => zip_broadcast(ta, tb, &shape, y, |a, b| a + b)?,
            BinaryFn::Subtract => zip_broadcast(ta, tb, &shape, y, |a, b| a - b)?,
            BinaryFn::Multiply => zip_broadcast(ta, tb, &shape, y, |a, b| a * b)?,
            BinaryFn::Divide => zip_broadcast(ta, tb, &shape, y, |a, b| a / b)?,
            BinaryFn::Maximum => zip_broadcast(ta, tb, &shape, y, f32::max)?,
            BinaryFn::Minimum => zip_broadcast(ta, tb, &shape, y, f32::min)?,
            BinaryFn::Scalar(f) => {
                zip_broadcast(ta, tb, &shape, y, |a, b| f(a as f64, b as f64) as f32)?
            }
        }
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
