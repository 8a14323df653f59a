//! f32 elementwise kernels: unary maps and broadcast binary ops, parallel over chunks with rayon. The common ops
//! run the branch-free approximations of [`super::math`] in loops vectorised for the best ISA; the rest
//! evaluate their scalar function through f64.

use super::math::{self, best_isa_fn, map};
use super::vector_math::{self, Function};
use super::{Kernel, take_output};
use crate::error::Result;
use crate::ir::{ElementType, Scalar, Tensor};
use crate::ops::activation::{Clamp, Elu, Gelu, GeluApproximation, Swish};
use crate::ops::binary::{Binary, BinaryKind};
use crate::ops::elementwise::{AutoBroadcast, broadcast_static};
use crate::ops::unary::{Domain, Unary};
use crate::ops::util::check_input_count;
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;
use std::fmt;

/// Elements per parallel task: below this, threads cost more than they save.
const CHUNK: usize = 1 << 14;

/// Chooses an f32 kernel for unary, activation and arithmetic binary ops.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    if let Some(kernel) = CompareKernel::select(op, inputs) {
        return Some(Box::new(kernel));
    }
    if inputs.first()?.element_type != ElementType::F32 {
        return None;
    }
    let any = op.as_any();
    let (f, arity) = if let Some(u) = any.downcast_ref::<Unary>() {
        (unary_fn(u)?, 1)
    } else if let Some(g) = any.downcast_ref::<Gelu>() {
        let f = match g.approximation_mode {
            GeluApproximation::Erf => UnaryFn::GeluErf,
            GeluApproximation::Tanh => UnaryFn::GeluTanh,
        };
        (f, 1)
    } else if let Some(c) = any.downcast_ref::<Clamp>() {
        (UnaryFn::Clamp(c.min as f32, c.max as f32), 1)
    } else if let Some(e) = any.downcast_ref::<Elu>() {
        (UnaryFn::Elu(e.alpha as f32), 1)
    } else if any.downcast_ref::<Swish>().is_some() {
        let beta = match inputs.get(1) {
            Some(b) => constant_scalar(b)?,
            None => 1.0,
        };
        (UnaryFn::Swish(beta as f32), inputs.len())
    } else if let Some(b) = any.downcast_ref::<Binary>() {
        if b.row.kind != BinaryKind::Arithmetic || inputs.get(1)?.element_type != ElementType::F32 {
            return None;
        }
        if let Some(f) = constant_power(b, inputs) {
            return Some(Box::new(UnaryF32 { f, arity: 2 }));
        }
        return Some(Box::new(BinaryF32 {
            f: binary_fn(b),
            mode: b.auto_broadcast,
        }));
    } else {
        return None;
    };
    Some(Box::new(UnaryF32 { f, arity }))
}

/// The kernel function of an attribute-free unary op on floats.
fn unary_fn(u: &Unary) -> Option<UnaryFn> {
    if u.row.domain != Domain::Numeric && u.row.domain != Domain::Float {
        return None;
    }
    Some(match u.row.name {
        "Relu" => UnaryFn::Relu,
        "Abs" => UnaryFn::Abs,
        "Negative" => UnaryFn::Negative,
        "Sqrt" => UnaryFn::Sqrt,
        "Floor" => UnaryFn::Floor,
        "Ceiling" => UnaryFn::Ceiling,
        "Exp" => UnaryFn::Exp,
        "Log" => UnaryFn::Log,
        "Sigmoid" => UnaryFn::Sigmoid,
        "Tanh" => UnaryFn::Tanh,
        "Erf" => UnaryFn::Erf,
        "SoftPlus" => UnaryFn::SoftPlus,
        "SoftSign" => UnaryFn::SoftSign,
        "Mish" => UnaryFn::Mish,
        "HSwish" => UnaryFn::HSwish,
        "HSigmoid" => UnaryFn::HSigmoid,
        _ => UnaryFn::Scalar(u.row.f),
    })
}

/// The value of a compile-time constant one-element input.
fn constant_scalar(d: &TensorDesc) -> Option<f64> {
    let v = d.value.as_ref()?;
    (v.len() == 1).then(|| v.get_f64(0))
}

/// `x^2` or `x^0.5` as a unary kernel when `b` is Power with such a constant exponent that broadcasts into the
/// base's shape (one element, rank no larger than the base's).
fn constant_power(b: &Binary, inputs: &[TensorDesc]) -> Option<UnaryFn> {
    let (base, exponent) = (inputs.first()?, inputs.get(1)?);
    if b.row.name != "Power" || exponent.rank()? > base.rank()? {
        return None;
    }
    match constant_scalar(exponent)? {
        2.0 => Some(UnaryFn::Square),
        0.5 => Some(UnaryFn::Sqrt),
        _ => None,
    }
}

/// The function of a unary kernel: common ones in vectorised f32, the rest through f64.
#[derive(Clone, Copy)]
enum UnaryFn {
    Relu,
    Abs,
    Negative,
    Sqrt,
    Square,
    Floor,
    Ceiling,
    Exp,
    Log,
    Sigmoid,
    Tanh,
    Erf,
    SoftPlus,
    SoftSign,
    Mish,
    HSwish,
    HSigmoid,
    GeluErf,
    GeluTanh,
    Swish(f32),
    Elu(f32),
    Clamp(f32, f32),
    Scalar(fn(f64) -> f64),
}

impl UnaryFn {
    /// `y[i] = f(x[i])` for one chunk.
    fn apply(self, x: &[f32], y: &mut [f32]) {
        match self {
            UnaryFn::Relu => map(x, y, math::Relu),
            UnaryFn::Abs => map(x, y, math::Abs),
            UnaryFn::Negative => map(x, y, math::Negative),
            UnaryFn::Sqrt => map(x, y, math::Sqrt),
            UnaryFn::Square => map(x, y, math::Square),
            UnaryFn::Floor => map(x, y, math::Floor),
            UnaryFn::Ceiling => map(x, y, math::Ceil),
            UnaryFn::Exp => map(x, y, math::Exp),
            UnaryFn::Log => map(x, y, math::Log),
            UnaryFn::Sigmoid => vector_or_map(x, y, Function::Sigmoid, math::Sigmoid),
            UnaryFn::Tanh => vector_or_map(x, y, Function::Tanh, math::Tanh),
            UnaryFn::Erf => map(x, y, math::Erf),
            UnaryFn::SoftPlus => map(x, y, math::SoftPlus),
            UnaryFn::SoftSign => map(x, y, math::SoftSign),
            UnaryFn::Mish => map(x, y, math::Mish),
            UnaryFn::HSwish => map(x, y, math::HSwish),
            UnaryFn::HSigmoid => map(x, y, math::HSigmoid),
            UnaryFn::GeluErf => vector_or_map(x, y, Function::GeluErf, math::GeluErf),
            UnaryFn::GeluTanh => vector_or_map(x, y, Function::GeluTanh, math::GeluTanh),
            UnaryFn::Swish(beta) if beta == 1.0 => {
                vector_or_map(x, y, Function::Silu, math::Swish(beta))
            }
            UnaryFn::Swish(beta) => map(x, y, math::Swish(beta)),
            UnaryFn::Elu(alpha) => map(x, y, math::Elu(alpha)),
            UnaryFn::Clamp(lo, hi) => map(x, y, math::Clamp(lo, hi)),
            UnaryFn::Scalar(f) => map(x, y, math::ThroughF64(f)),
        }
    }
}

/// `y = f(x)` through [`vector_math`]'s AVX-512 version `vf` of `f` where the CPU has it, else the portable loop.
fn vector_or_map(x: &[f32], y: &mut [f32], vf: Function, f: impl math::Unary) {
    let n = x.len().min(y.len());
    y[..n].copy_from_slice(&x[..n]);
    if !vector_math::apply(vf, &mut y[..n]) {
        map(x, y, f);
    }
}

/// Applies a scalar function to every f32 value (extra inputs, such as a Swish beta or a Power exponent, were
/// constants folded into the function at compile time).
pub struct UnaryF32 {
    f: UnaryFn,
    arity: usize,
}

impl fmt::Debug for UnaryF32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnaryF32")
    }
}

impl Kernel for UnaryF32 {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, self.arity, self.arity)?;
        let x = inputs[0].typed::<f32>()?;
        let mut out = take_output(spare, 0, ElementType::F32, inputs[0].shape());
        let y = out.typed_mut::<f32>()?;
        let f = self.f;
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yc, xc)| f.apply(xc, yc));
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
    SquaredDifference,
    Scalar(fn(f64, f64) -> f64),
}

/// The kernel function of an arithmetic binary op.
fn binary_fn(b: &Binary) -> BinaryFn {
    match b.row.name {
        "Add" => BinaryFn::Add,
        "Subtract" => BinaryFn::Subtract,
        "Multiply" => BinaryFn::Multiply,
        "Divide" => BinaryFn::Divide,
        "Maximum" => BinaryFn::Maximum,
        "Minimum" => BinaryFn::Minimum,
        "SquaredDifference" => BinaryFn::SquaredDifference,
        _ => BinaryFn::Scalar(b.row.f),
    }
}

/// A broadcast binary f32 op.
#[derive(Debug)]
pub struct BinaryF32 {
    f: BinaryFn,
    mode: AutoBroadcast,
}

/// The broadcast of two inputs reduced to its simplest form: adjacent output axes along which both inputs
/// behave alike (both present, or one broadcast) are merged, axes of length 1 dropped. The output is then
/// `rows × len` with rows of `len` elements; along a row input `a` advances by `step_a` (1, or 0 when
/// broadcast), and each row starts at the offsets given by `row_strides` over `row_dims`.
struct Plan {
    row_dims: Vec<usize>,
    row_strides: Vec<(usize, usize)>,
    len: usize,
    step: (usize, usize),
}

impl Plan {
    /// The plan for inputs of shapes `a` and `b` broadcast to `out` (numpy alignment).
    fn new(a: &[usize], b: &[usize], out: &[usize]) -> Plan {
        let dim = |s: &[usize], i: usize| {
            (i + s.len())
                .checked_sub(out.len())
                .and_then(|j| s.get(j))
                .copied()
                .unwrap_or(1)
        };
        // Merged axes: (length, a present, b present).
        let mut axes: Vec<(usize, bool, bool)> = Vec::new();
        for (i, &n) in out.iter().enumerate().filter(|&(_, &n)| n != 1) {
            let (pa, pb) = (dim(a, i) != 1, dim(b, i) != 1);
            match axes.last_mut() {
                Some(last) if (last.1, last.2) == (pa, pb) => last.0 *= n,
                _ => axes.push((n, pa, pb)),
            }
        }
        let (len, pa, pb) = axes.pop().unwrap_or((1, true, true));
        let (mut sa, mut sb) = (if pa { len } else { 1 }, if pb { len } else { 1 });
        let mut row_strides = vec![(0, 0); axes.len()];
        for (st, &(n, ia, ib)) in row_strides.iter_mut().zip(&axes).rev() {
            *st = (if ia { sa } else { 0 }, if ib { sb } else { 0 });
            sa *= if ia { n } else { 1 };
            sb *= if ib { n } else { 1 };
        }
        Plan {
            row_dims: axes.iter().map(|a| a.0).collect(),
            row_strides,
            len,
            step: (pa as usize, pb as usize),
        }
    }

    /// The offsets into `a` and `b` where row `r` starts.
    fn row_start(&self, mut r: usize) -> (usize, usize) {
        let (mut oa, mut ob) = (0, 0);
        for (&n, &(sa, sb)) in self.row_dims.iter().zip(&self.row_strides).rev() {
            let i = r % n;
            r /= n;
            oa += i * sa;
            ob += i * sb;
        }
        (oa, ob)
    }
}

/// One row segment: `y[j] = f(a[..], b[..])` with `a`/`b` either slices as long as `y` or one value.
#[inline(always)]
fn zip_segment<T: Copy, O: Copy, F: math::Binary<T, O>>(
    y: &mut [O],
    a: &[T],
    b: &[T],
    step: (usize, usize),
    f: F,
) {
    match (step, a.first(), b.first()) {
        ((1, 1), _, _) => {
            for ((o, &x), &z) in y.iter_mut().zip(a).zip(b) {
                *o = f.apply(x, z);
            }
        }
        ((1, _), _, Some(&z)) => {
            for (o, &x) in y.iter_mut().zip(a) {
                *o = f.apply(x, z);
            }
        }
        ((_, 1), Some(&x), _) => {
            for (o, &z) in y.iter_mut().zip(b) {
                *o = f.apply(x, z);
            }
        }
        (_, Some(&x), Some(&z)) => y.fill(f.apply(x, z)),
        _ => {}
    }
}

/// Fills `chunk`, the output elements from `first` on, walking the row segments it covers.
#[inline(always)]
fn zip_chunk<T: Copy, O: Copy, F: math::Binary<T, O>>(
    plan: &Plan,
    (a, b): (&[T], &[T]),
    first: usize,
    chunk: &mut [O],
    f: F,
) {
    let (len, (ia, ib)) = (plan.len, plan.step);
    let (mut pos, mut rest) = (first, chunk);
    while !rest.is_empty() {
        let (row, col) = (pos / len, pos % len);
        let n = (len - col).min(rest.len());
        let (seg, tail) = rest.split_at_mut(n);
        let (oa, ob) = plan.row_start(row);
        let sa = a.get(oa + col * ia..).unwrap_or(&[]);
        let sb = b.get(ob + col * ib..).unwrap_or(&[]);
        zip_segment(seg, sa, sb, plan.step, f);
        pos += n;
        rest = tail;
    }
}

best_isa_fn! {
    /// [`zip_chunk`] compiled for the best ISA.
    fn zip_chunk_best[T: Copy, O: Copy, F: math::Binary<T, O>](
        plan: &Plan,
        inputs: (&[T], &[T]),
        first: usize,
        chunk: &mut [O],
        f: F,
    ) => zip_chunk
}

/// `out = f(a, b)` with numpy broadcasting, monomorphised for `f`; parallel over chunks of the output.
fn zip_broadcast<T: Scalar, O: Scalar, F: math::Binary<T, O>>(
    ta: &Tensor,
    tb: &Tensor,
    shape: &[usize],
    y: &mut [O],
    f: F,
) -> Result<()> {
    let ab = (ta.typed::<T>()?, tb.typed::<T>()?);
    let plan = Plan::new(ta.shape(), tb.shape(), shape);
    y.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(task, chunk)| zip_chunk_best(&plan, ab, task * CHUNK, chunk, f));
    Ok(())
}

/// Declares unit structs implementing [`math::Binary`] by an expression of `a` and `b`.
macro_rules! binary_structs {
    ($($name:ident($a:ident, $b:ident) => $e:expr;)*) => {$(
        /// A binary kernel function.
        #[derive(Debug, Clone, Copy)]
        struct $name;
        impl math::Binary for $name {
            #[inline(always)]
            fn apply(self, $a: f32, $b: f32) -> f32 {
                $e
            }
        }
    )*};
}

binary_structs! {
    AddFn(a, b) => a + b;
    SubFn(a, b) => a - b;
    MulFn(a, b) => a * b;
    DivFn(a, b) => a / b;
    MaxFn(a, b) => a.max(b);
    MinFn(a, b) => a.min(b);
    SquaredDifferenceFn(a, b) => (a - b) * (a - b);
}

/// Any function of two f64s, evaluated through f64 (not vectorised).
#[derive(Debug, Clone, Copy)]
struct ThroughF64(fn(f64, f64) -> f64);

impl math::Binary for ThroughF64 {
    #[inline(always)]
    fn apply(self, a: f32, b: f32) -> f32 {
        (self.0)(a as f64, b as f64) as f32
    }
}

impl Kernel for BinaryF32 {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let (ta, tb) = (inputs[0], inputs[1]);
        let shape = broadcast_static(self.mode, &[ta.shape(), tb.shape()])?;
        let mut out = take_output(spare, 0, ElementType::F32, &shape);
        let y = out.typed_mut::<f32>()?;
        match self.f {
            BinaryFn::Add => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, AddFn)?,
            BinaryFn::Subtract => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, SubFn)?,
            BinaryFn::Multiply => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, MulFn)?,
            BinaryFn::Divide => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, DivFn)?,
            BinaryFn::Maximum => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, MaxFn)?,
            BinaryFn::Minimum => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, MinFn)?,
            BinaryFn::SquaredDifference => {
                zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, SquaredDifferenceFn)?
            }
            BinaryFn::Scalar(f) => zip_broadcast::<f32, f32, _>(ta, tb, &shape, y, ThroughF64(f))?,
        }
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "eltwise_f32"
    }
}

/// Comparison ops by kind.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

/// Declares unit structs implementing [`math::Binary`] from any ordered type to a boolean stored as `u8`.
macro_rules! comparison_structs {
    ($($name:ident($a:ident, $b:ident) => $e:expr;)*) => {$(
        /// A comparison kernel function.
        #[derive(Debug, Clone, Copy)]
        struct $name;
        impl<T: PartialOrd + Copy + Send + Sync> math::Binary<T, u8> for $name {
            #[inline(always)]
            fn apply(self, $a: T, $b: T) -> u8 {
                u8::from($e)
            }
        }
    )*};
}

comparison_structs! {
    EqualFn(a, b) => a == b;
    NotEqualFn(a, b) => a != b;
    LessFn(a, b) => a < b;
    LessEqualFn(a, b) => a <= b;
    GreaterFn(a, b) => a > b;
    GreaterEqualFn(a, b) => a >= b;
}

/// A broadcast comparison of two f32, i32 or i64 inputs into a boolean output.
#[derive(Debug)]
pub struct CompareKernel {
    comparison: Comparison,
    mode: AutoBroadcast,
}

impl CompareKernel {
    /// The kernel of a comparison op whose two inputs share one of the types it runs.
    fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<CompareKernel> {
        let b = op.as_any().downcast_ref::<Binary>()?;
        let [x, y] = inputs else { return None };
        let supported = [ElementType::F32, ElementType::I32, ElementType::I64];
        if b.row.kind != BinaryKind::Compare
            || x.element_type != y.element_type
            || !supported.contains(&x.element_type)
        {
            return None;
        }
        let comparison = match b.row.name {
            "Equal" => Comparison::Equal,
            "NotEqual" => Comparison::NotEqual,
            "Less" => Comparison::Less,
            "LessEqual" => Comparison::LessEqual,
            "Greater" => Comparison::Greater,
            "GreaterEqual" => Comparison::GreaterEqual,
            _ => return None,
        };
        Some(CompareKernel {
            comparison,
            mode: b.auto_broadcast,
        })
    }

    /// `y = a <comparison> b` for inputs of type `T`.
    fn compare<T: Scalar>(
        &self,
        a: &Tensor,
        b: &Tensor,
        shape: &[usize],
        y: &mut [u8],
    ) -> Result<()> {
        match self.comparison {
            Comparison::Equal => zip_broadcast::<T, u8, _>(a, b, shape, y, EqualFn),
            Comparison::NotEqual => zip_broadcast::<T, u8, _>(a, b, shape, y, NotEqualFn),
            Comparison::Less => zip_broadcast::<T, u8, _>(a, b, shape, y, LessFn),
            Comparison::LessEqual => zip_broadcast::<T, u8, _>(a, b, shape, y, LessEqualFn),
            Comparison::Greater => zip_broadcast::<T, u8, _>(a, b, shape, y, GreaterFn),
            Comparison::GreaterEqual => zip_broadcast::<T, u8, _>(a, b, shape, y, GreaterEqualFn),
        }
    }
}

impl Kernel for CompareKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let (ta, tb) = (inputs[0], inputs[1]);
        let shape = broadcast_static(self.mode, &[ta.shape(), tb.shape()])?;
        let mut out = take_output(spare, 0, ElementType::Boolean, &shape);
        let y = out.typed_mut::<u8>()?;
        match ta.element_type() {
            ElementType::I32 => self.compare::<i32>(ta, tb, &shape, y)?,
            ElementType::I64 => self.compare::<i64>(ta, tb, &shape, y)?,
            _ => self.compare::<f32>(ta, tb, &shape, y)?,
        }
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "compare"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrValue;
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::{Lcg, assert_kernel_matches};

    /// Random values in [-scale, scale).
    fn wide(g: &mut Lcg, shape: &[usize], scale: f64) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| (g.next_f64() * 2.0 - 1.0) * scale).collect();
        Tensor::from_f64s(ElementType::F32, shape, &v).unwrap()
    }

    fn with_attrs(name: &str, opset: u32, attrs: &[(&str, AttrValue)]) -> Box<dyn Op> {
        let mut op = create(name, opset).unwrap();
        let values: Vec<(String, AttrValue)> = attrs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        op.visit_attributes(&mut crate::ir::AttributeSetter::new(&values))
            .unwrap();
        op
    }

    fn kernel_name(op: &dyn Op, inputs: &[Tensor], constant: &[bool]) -> &'static str {
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .zip(constant)
            .map(|(t, &c)| {
                let mut d = TensorDesc::of_tensor(t);
                if !c {
                    d.value = None;
                }
                d
            })
            .collect();
        super::super::select(op, &descs).name()
    }

    #[test]
    fn unary_ops_match_reference() {
        let mut g = Lcg(1);
        let ops: Vec<Box<dyn Op>> = [
            "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Abs", "Erf", "HSwish", "HSigmoid", "Mish",
            "SoftPlus", "SoftSign", "Floor", "Ceiling", "Sqrt", "Negative", "Sin", "Gelu",
        ]
        .iter()
        .map(|n| create(n, 16).unwrap())
        .chain([
            with_attrs(
                "Gelu",
                7,
                &[("approximation_mode", AttrValue::Str("TANH".into()))],
            ),
            with_attrs("Elu", 1, &[("alpha", AttrValue::Float(0.7))]),
            with_attrs(
                "Clamp",
                1,
                &[
                    ("min", AttrValue::Float(-0.5)),
                    ("max", AttrValue::Float(6.0)),
                ],
            ),
        ])
        .collect();
        let specials = Tensor::from_vec(
            &[6],
            vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-30],
        )
        .unwrap();
        for op in &ops {
            assert_eq!(
                kernel_name(op.as_ref(), std::slice::from_ref(&specials), &[false]),
                "eltwise_f32"
            );
            for shape in [vec![3, 5], vec![0, 4], vec![], vec![70_000]] {
                for scale in [1.0, 30.0, 120.0] {
                    let x = wide(&mut g, &shape, scale);
                    assert_kernel_matches(op.as_ref(), &[x], &[], 4e-6, 1e-7);
                }
            }
            assert_kernel_matches(
                op.as_ref(),
                std::slice::from_ref(&specials),
                &[],
                4e-6,
                1e-7,
            );
        }
    }

    #[test]
    fn swish_and_constant_powers() {
        let mut g = Lcg(4);
        let swish = create("Swish", 4).unwrap();
        let x = wide(&mut g, &[4, 9000], 20.0);
        assert_kernel_matches(swish.as_ref(), std::slice::from_ref(&x), &[], 4e-6, 1e-7);
        let beta = Tensor::scalar(1.5f32);
        assert_kernel_matches(
            swish.as_ref(),
            &[x.clone(), beta.clone()],
            &[false, true],
            1e-5,
            1e-7,
        );
        assert_eq!(
            kernel_name(swish.as_ref(), &[x.clone(), beta.clone()], &[false, false]),
            "ref"
        );
        let power = create("Power", 1).unwrap();
        let base = wide(&mut g, &[2, 3, 50], 3.0)
            .reshaped(&[2, 3, 50])
            .unwrap();
        for e in [2.0f32, 0.5, 3.0] {
            for exp_shape in [vec![], vec![1], vec![1, 1, 1]] {
                let exponent = Tensor::from_vec(&exp_shape, vec![e]).unwrap();
                let inputs = [base.clone(), exponent];
                assert_eq!(
                    kernel_name(power.as_ref(), &inputs, &[false, true]),
                    "eltwise_f32"
                );
                assert_kernel_matches(power.as_ref(), &inputs, &[false, true], 1e-6, 1e-30);
            }
        }
        // An exponent of higher rank than the base changes the output shape: the broadcast kernel handles it.
        let inputs = [
            Tensor::scalar(3.0f32),
            Tensor::from_vec(&[1, 1], vec![2.0f32]).unwrap(),
        ];
        assert_kernel_matches(power.as_ref(), &inputs, &[false, true], 1e-6, 0.0);
    }

    /// Pairs of input shapes that broadcast together, from plain to awkward.
    const BROADCAST_CASES: [(&[usize], &[usize]); 13] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3, 4], &[4]),
        (&[2, 1, 4], &[3, 1]),
        (&[], &[5]),
        (&[0, 3], &[3]),
        (&[1, 8, 2, 2], &[1, 8, 1, 1]),
        (&[1, 64, 40, 40], &[1, 64, 1, 1]),
        (&[2, 128, 96], &[96]),
        (&[1, 3, 70, 70], &[1, 1, 1, 70]),
        (&[300, 1], &[1, 200]),
        (&[3, 70_000], &[3, 1]),
        (&[40_000, 3], &[]),
        (&[2, 1, 3, 1], &[1, 5, 1, 7]),
    ];

    #[test]
    fn binary_ops_match_reference_with_broadcasting() {
        let mut g = Lcg(2);
        let cases = BROADCAST_CASES;
        for name in [
            "Add",
            "Subtract",
            "Multiply",
            "Divide",
            "Maximum",
            "Minimum",
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

    /// Small integers (so that comparisons find equal pairs) as a tensor of type `t`, NaN in every 7th f32.
    fn small_values(g: &mut Lcg, shape: &[usize], t: ElementType) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|i| match (t, i % 7) {
                (ElementType::F32, 6) => f64::NAN,
                _ => (g.next_f64() * 5.0).floor() - 2.0,
            })
            .collect();
        Tensor::from_f64s(t, shape, &v).unwrap()
    }

    #[test]
    fn comparisons_match_reference_with_broadcasting() {
        let mut g = Lcg(5);
        let names = [
            "Equal",
            "NotEqual",
            "Less",
            "LessEqual",
            "Greater",
            "GreaterEqual",
        ];
        for t in [ElementType::F32, ElementType::I32, ElementType::I64] {
            for name in names {
                let op = create(name, 16).unwrap();
                for (a, b) in BROADCAST_CASES {
                    let inputs = [small_values(&mut g, a, t), small_values(&mut g, b, t)];
                    assert_eq!(
                        kernel_name(op.as_ref(), &inputs, &[false, false]),
                        "compare"
                    );
                    assert_kernel_matches(op.as_ref(), &inputs, &[], 0.0, 0.0);
                }
            }
        }
        let mixed = [g.tensor(&[3]), small_values(&mut g, &[3], ElementType::I32)];
        assert_ne!(
            kernel_name(
                create("Equal", 16).unwrap().as_ref(),
                &mixed,
                &[false, false]
            ),
            "compare"
        );
    }

    #[test]
    fn broadcast_plan_merges_axes() {
        let p = Plan::new(&[1, 64, 40, 40], &[1, 64, 1, 1], &[1, 64, 40, 40]);
        assert_eq!(
            (p.row_dims.as_slice(), p.len, p.step),
            (&[64][..], 1600, (1, 0))
        );
        assert_eq!(p.row_start(3), (3 * 1600, 3));
        let p = Plan::new(&[2, 12, 8, 8], &[2, 1, 1, 8], &[2, 12, 8, 8]);
        assert_eq!(
            (p.row_dims.as_slice(), p.len, p.step),
            (&[2, 96][..], 8, (1, 1))
        );
        assert_eq!(p.row_start(96 + 5), ((96 + 5) * 8, 8));
        let p = Plan::new(&[], &[], &[]);
        assert_eq!((p.row_dims.len(), p.len, p.step), (0, 1, (1, 1)));
    }
}
