//! Helpers shared by op definitions: input checks, broadcasting, reading known values.

use super::TensorDesc;
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements, strides};
use crate::ir::{ElementType, PartialShape, Tensor};

/// Errors unless there are between `min` and `max` inputs.
pub fn check_input_count<T>(inputs: &[T], min: usize, max: usize) -> Result<()> {
    if inputs.len() < min || inputs.len() > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(Error::InvalidArgument(format!(
            "expected {want} inputs, got {}",
            inputs.len()
        )));
    }
    Ok(())
}

/// The known value of an input as i64s, if known at compile time.
pub fn known_i64s(d: &TensorDesc) -> Option<Vec<i64>> {
    d.value.as_ref().map(|t| t.to_i64_vec())
}

/// The element type two inputs share; errors naming both when they differ.
pub fn merge_types(a: ElementType, b: ElementType, what: &str) -> Result<ElementType> {
    a.merge(b)
        .ok_or_else(|| Error::Shape(format!("{what}: element types {a} and {b} differ")))
}

/// Errors unless the element type satisfies `pred`.
pub fn check_type(
    t: ElementType,
    pred: fn(ElementType) -> bool,
    expected: &str,
    what: &str,
) -> Result<()> {
    if t != ElementType::Dynamic && !pred(t) {
        return Err(Error::Shape(format!(
            "{what} has element type {t}, expected {expected}"
        )));
    }
    Ok(())
}

/// Numpy-broadcast output shape of two partial shapes; errors name both.
pub fn broadcast_partial(a: &PartialShape, b: &PartialShape) -> Result<PartialShape> {
    a.broadcast(b)
        .ok_or_else(|| Error::Shape(format!("input shapes {a} and {b} do not broadcast")))
}

/// Strides (in elements) of `shape` aligned to an output of rank `out_rank`, 0 where broadcast.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(shape);
    let off = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                s[i - off]
            }
        })
        .collect()
}

/// Calls `f(out_index, offset_a, offset_b)` for every element of the broadcast output of `a` and `b`.
pub fn for_each_broadcast2(
    a: &[usize],
    b: &[usize],
    out: &[usize],
    mut f: impl FnMut(usize, usize, usize),
) {
    let sa = broadcast_strides(a, out);
    let sb = broadcast_strides(b, out);
    let n = num_elements(out);
    let rank = out.len();
    let mut idx = vec![0usize; rank];
    let (mut oa, mut ob) = (0usize, 0usize);
    for i in 0..n {
        f(i, oa, ob);
        for d in (0..rank).rev() {
            idx[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if idx[d] < out[d] {
                break;
            }
            oa -= sa[d] * out[d];
            ob -= sb[d] * out[d];
            idx[d] = 0;
        }
    }
}

/// Offsets into a tensor of shape `shape` for each element of the broadcast output `out`.
pub fn broadcast_offsets(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let mut v = Vec::with_capacity(num_elements(out));
    for_each_broadcast2(shape, shape, out, |_, a, _| v.push(a));
    if out.is_empty() && v.is_empty() {
        v.push(0);
    }
    v
}

/// Unpacks the multi-index of flat position `i` in a shape with the given strides.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
    }
    idx
}

/// Errors unless a tensor's shape equals `expected`.
pub fn expect_shape(t: &Tensor, expected: &[usize], what: &str) -> Result<()> {
    if t.shape() != expected {
        return Err(Error::Shape(format!(
            "{what} has shape {}, expected {}",
            fmt_shape(t.shape()),
            fmt_shape(expected)
        )));
    }
    Ok(())
}

/// Reads a scalar (or one-element) tensor as f64.
pub fn scalar_f64(t: &Tensor, what: &str) -> Result<f64> {
    if t.len() != 1 {
        return Err(Error::Shape(format!(
            "{what} must hold one value, has shape {}",
            fmt_shape(t.shape())
        )));
    }
    Ok(t.get_f64(0))
}

/// Reads a tensor of integers (axes, shapes) as i64s; errors when it is not an integer tensor.
pub fn ints_of(t: &Tensor, what: &str) -> Result<Vec<i64>> {
    if !t.element_type().is_integral_number() {
        return Err(Error::Shape(format!(
            "{what} has element type {}, expected an integer type",
            t.element_type()
        )));
    }
    Ok(t.to_i64_vec())
}
