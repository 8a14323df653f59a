//! Small helpers shared by the data-movement, gather/scatter and indexing ops: output descriptors, reading
//! scalar inputs, and evaluating through shape inference.

use crate::error::{Error, Result};
use crate::ir::{ElementType, PartialShape, Tensor};
use crate::ops::util::{ints_of, known_i64s};
use crate::ops::{Op, TensorDesc};

/// One output descriptor.
pub fn one_desc(et: ElementType, shape: PartialShape) -> Vec<TensorDesc> {
    vec![TensorDesc::new(et, shape)]
}

/// One output of dynamic rank.
pub fn dyn_rank(et: ElementType) -> Vec<TensorDesc> {
    one_desc(et, PartialShape::dynamic_rank())
}

/// The static output shape that `op`'s inference computes from the actual input tensors.
pub fn static_out_shape(op: &dyn Op, inputs: &[&Tensor]) -> Result<Vec<usize>> {
    let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
    let out = op.infer(&descs)?;
    out.first()
        .ok_or_else(|| Error::Internal("shape inference returned no output".into()))?
        .shape
        .expect_static("output")
}

/// The known value of a scalar (or one-element) integer input.
pub fn known_scalar(d: &TensorDesc) -> Option<i64> {
    known_i64s(d).filter(|v| v.len() == 1).map(|v| v[0])
}

/// Reads a scalar (or one-element) integer tensor.
pub fn int_scalar(t: &Tensor, what: &str) -> Result<i64> {
    let v = ints_of(t, what)?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(Error::Shape(format!(
            "{what} must hold one value, has {}",
            v.len()
        ))),
    }
}

/// Reads a 0-D or 1-D integer tensor as a list.
pub fn int_list(t: &Tensor, what: &str) -> Result<Vec<i64>> {
    crate::ensure!(
        t.rank() <= 1,
        Shape,
        "{what} must be a scalar or 1-D, has rank {}",
        t.rank()
    );
    ints_of(t, what)
}

/// Converts a non-negative i64 into a dimension length, erroring on negatives.
pub fn to_len(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v)
        .map_err(|_| Error::Shape(format!("{what} is {v}, expected a non-negative value")))
}

/// Checks that an input's element type is an integer type (or dynamic).
pub fn check_int_input(d: &TensorDesc, what: &str) -> Result<()> {
    crate::ops::util::check_type(
        d.element_type,
        ElementType::is_integral_number,
        "an integer type",
        what,
    )
}

#[cfg(test)]
pub mod testing {
    //! Descriptor and tensor shorthands for the tests of these families.

    use super::*;
    use crate::ir::ElementType;

    /// A static f32 descriptor.
    pub fn st(shape: &[usize]) -> TensorDesc {
        TensorDesc::new(ElementType::F32, PartialShape::from_static(shape))
    }
    /// An f32 descriptor of a partial shape in IR form.
    pub fn ps(s: &str) -> TensorDesc {
        TensorDesc::new(ElementType::F32, PartialShape::parse_ir(s).unwrap())
    }
    /// A known 1-D i64 input.
    pub fn ci(v: &[i64]) -> TensorDesc {
        TensorDesc::of_tensor(&ti(v))
    }
    /// A known scalar i64 input.
    pub fn cs(v: i64) -> TensorDesc {
        TensorDesc::of_tensor(&Tensor::scalar(v))
    }
    /// An unknown i64 input of the given static shape.
    pub fn dyn_i(shape: &[usize]) -> TensorDesc {
        TensorDesc::new(ElementType::I64, PartialShape::from_static(shape))
    }
    /// A 1-D i64 tensor.
    pub fn ti(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }
    /// An f32 tensor of the given shape holding 0, 1, 2, ...
    pub fn iota(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(shape, (0..n).map(|v| v as f32).collect()).unwrap()
    }
    /// The first output shape of `op`, formatted.
    pub fn shape_of(op: &dyn Op, inputs: &[TensorDesc]) -> String {
        op.infer(inputs).unwrap()[0].shape.to_string()
    }
    /// The first output of evaluating `op`.
    pub fn eval1(op: &dyn Op, inputs: &[Tensor]) -> Tensor {
        let refs: Vec<&Tensor> = inputs.iter().collect();
        op.evaluate(&refs).unwrap().remove(0)
    }
}
