//! Shared machinery of elementwise ops: applying a scalar function over one tensor or over two broadcast tensors.
//! Unary, binary and activation families declare rows of scalar functions and call these.

use super::util::{broadcast_partial, for_each_broadcast2};
use super::TensorDesc;
use crate::attr_enum;
use crate::error::{Error, Result};
use crate::ir::shape::broadcast_shapes;
use crate::ir::{ElementType, PartialShape, Scalar, Tensor};

attr_enum!(
    /// How the inputs of a binary elementwise op are broadcast.
    AutoBroadcast {
        /// Both shapes must be equal.
        None => "none",
        /// Numpy rules.
        Numpy => "numpy",
        /// PaddlePaddle rules (the second input aligned at `axis`).
        Pdpd => "pdpd",
    }
);

/// Output shape of a binary op under `mode`.
pub fn broadcast_infer(a: &PartialShape, b: &PartialShape, mode: AutoBroadcast) -> Result<PartialShape> {
    match mode {
        AutoBroadcast::None => a.merge(b).ok_or_else(|| {
            Error::Shape(format!("auto_broadcast is 'none' but input shapes {a} and {b} differ"))
        }),
        AutoBroadcast::Numpy | AutoBroadcast::Pdpd => {
            let out = broadcast_partial(a, b)?;
            if mode == AutoBroadcast::Pdpd && out != *a && a.is_static() {
                return Err(Error::Shape(format!("pdpd broadcast of {b} into {a} changes the first input's shape")));
            }
            Ok(out)
        }
    }
}

/// The static output shape of a binary op on concrete tensors.
pub fn broadcast_static(a: &[usize], b: &[usize], mode: AutoBroadcast) -> Result<Vec<usize>> {
    match mode {
        AutoBroadcast::None if a != b => Err(Error::Shape(format!(
            "auto_broadcast is 'none' but input shapes {} and {} differ",
            crate::ir::shape::fmt_shape(a),
            crate::ir::shape::fmt_shape(b)
        ))),
        _ => broadcast_shapes(a, b),
    }
}

/// Applies `f` to every value (through f64), producing a tensor of `out_type`.
pub fn map_f64(x: &Tensor, out_type: ElementType, f: impl Fn(f64) -> f64) -> Result<Tensor> {
    let v: Vec<f64> = x.to_f64_vec().into_iter().map(f).collect();
    Tensor::from_f64s(out_type, x.shape(), &v)
}

/// Applies `f` to every value of the same Rust type, keeping the element type.
pub fn map_same<F: Fn(f64) -> f64>(x: &Tensor, f: F) -> Result<Tensor> {
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
    let out = broadcast_static(a.shape(), b.shape(), mode)?;
    let (va, vb) = (a.to_f64_vec(), b.to_f64_vec());
    let mut r = vec![0f64; out.iter().product()];
    for_each_broadcast2(a.shape(), b.shape(), &out, |i, ia, ib| r[i] = f(va[ia], vb[ib]));
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
    let out = broadcast_static(a.shape(), b.shape(), mode)?;
    let (va, vb) = (a.to_i64_vec(), b.to_i64_vec());
    let mut r = vec![0i64; out.iter().product()];
    let mut err = None;
    for_each_broadcast2(a.shape(), b.shape(), &out, |i, ia, ib| match f(va[ia], vb[ib]) {
        Ok(v) => r[i] = v,
        Err(e) => err = Some(e),
    });
    if let Some(e) = err {
        return Err(e);
    }
    Tensor::from_i64s(out_type, &out, &r)
}

/// Infers a unary elementwise op: same shape, `out_type` (or the input's type when `None`).
pub fn unary_infer(inputs: &[TensorDesc], out_type: Option<ElementType>) -> Result<Vec<TensorDesc>> {
    super::util::check_input_count(inputs, 1, 1)?;
    Ok(vec![TensorDesc::new(out_type.unwrap_or(inputs[0].element_type), inputs[0].shape.clone())])
}
