//! Shared machinery of elementwise ops: applying a scalar function over one tensor or over two broadcast tensors.
//! Unary, binary and activation families declare rows of scalar functions and call these.

use super::TensorDesc;
use super::util::{broadcast_partial, for_each_broadcast2};
use crate::attr_enum;
use crate::error::{Error, Result};
use crate::ir::{ElementType, PartialShape, Scalar, Tensor};

attr_enum!(
    /// How inputs of different shapes combine (the IR `auto_broadcast` attribute).
    AutoBroadcast {
        /// Shapes must be equal.
        NoBroadcast => "none" | "explicit",
        /// Numpy broadcasting.
        Numpy => "numpy",
        /// PaddlePaddle broadcasting: the other inputs broadcast into the first one's shape.
        Pdpd => "pdpd",
    }
);

/// The shape of inputs combined under `mode`; errors name every shape.
pub fn broadcast_all(mode: AutoBroadcast, shapes: &[&PartialShape]) -> Result<PartialShape> {
    let Some((first, rest)) = shapes.split_first() else {
        return Ok(PartialShape::new(vec![]));
    };
    let mismatch = || {
        let all: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
        Error::Shape(format!(
            "shapes {} do not combine under auto_broadcast {mode}",
            all.join(", ")
        ))
    };
    let mut out = (*first).clone();
    for s in rest {
        out = match mode {
            AutoBroadcast::Numpy => broadcast_partial(&out, s)?,
            AutoBroadcast::NoBroadcast => out.merge(s).ok_or_else(mismatch)?,
            AutoBroadcast::Pdpd => {
                let b = broadcast_partial(&out, s)?;
                b.merge(&out)
                    .filter(|m| m.rank() == out.rank())
                    .ok_or_else(mismatch)?
            }
        };
    }
    Ok(out)
}

/// The static output shape of tensors combined under `mode`.
pub fn broadcast_static(mode: AutoBroadcast, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let partial: Vec<PartialShape> = shapes
        .iter()
        .map(|s| PartialShape::from_static(s))
        .collect();
    broadcast_all(mode, &partial.iter().collect::<Vec<_>>())?.expect_static("broadcast result")
}

/// Applies `f` to every value (through f64), producing a tensor of `out_type`.
pub fn map_f64(x: &Tensor, out_type: ElementType, f: impl Fn(f64) -> f64) -> Result<Tensor> {
    let v: Vec<f64> = x.to_f64_vec().into_iter().map(f).collect();
    Tensor::from_f64s(out_type, x.shape(), &v)
}

/// Applies `f` to every value of the same Rust type, keeping the element type (booleans stay boolean).
pub fn map_same<F: Fn(f64) -> f64>(x: &Tensor, f: F) -> Result<Tensor> {
    if x.element_type() == ElementType::Boolean {
        return map_f64(x, ElementType::Boolean, f);
    }
    crate::dispatch_scalar!(x.element_type(), T => {
        let v: Vec<T> = x.typed::<T>()?.iter().map(|a| T::from_f64(f(a.to_f64()))).collect();
        Tensor::from_vec(x.shape(), v)
    }, _ => map_f64(x, x.element_type(), f))
}

/// Applies `f` pairwise over broadcast inputs through f64, producing `out_type`.
pub fn zip_f64(
    a: &Tensor,
    b: &Tensor,
    mode: AutoBroadcast,
    out_type: ElementType,
    f: impl Fn(f64, f64) -> f64,
) -> Result<Tensor> {
    let out = broadcast_static(mode, &[a.shape(), b.shape()])?;
    let (va, vb) = (a.to_f64_vec(), b.to_f64_vec());
    let mut r = vec![0f64; out.iter().product()];
    for_each_broadcast2(a.shape(), b.shape(), &out, |i, ia, ib| {
        r[i] = f(va[ia], vb[ib])
    });
    Tensor::from_f64s(out_type, &out, &r)
}

/// Applies `f` pairwise over broadcast integer inputs through i64, producing `out_type`.
pub fn zip_i64(
    a: &Tensor,
    b: &Tensor,
    mode: AutoBroadcast,
    out_type: ElementType,
    f: impl Fn(i64, i64) -> Result<i64>,
) -> Result<Tensor> {
    let out = broadcast_static(mode, &[a.shape(), b.shape()])?;
    let (va, vb) = (a.to_i64_vec(), b.to_i64_vec());
    let mut r = vec![0i64; out.iter().product()];
    let mut err = None;
    for_each_broadcast2(a.shape(), b.shape(), &out, |i, ia, ib| {
        match f(va[ia], vb[ib]) {
            Ok(v) => r[i] = v,
            Err(e) => err = Some(e),
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    Tensor::from_i64s(out_type, &out, &r)
}

/// Infers a unary elementwise op: same shape, `out_type` (or the input's type when `None`).
pub fn unary_infer(
    inputs: &[TensorDesc],
    out_type: Option<ElementType>,
) -> Result<Vec<TensorDesc>> {
    super::util::check_input_count(inputs, 1, 1)?;
    Ok(vec![TensorDesc::new(
        out_type.unwrap_or(inputs[0].element_type),
        inputs[0].shape.clone(),
    )])
}
