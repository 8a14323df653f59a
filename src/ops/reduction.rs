//! Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceLogicalAnd, ReduceLogicalOr (opset1)
//! and ReduceL1, ReduceL2 (opset4), plus the axis helpers the normalisation ops share.

use super::registry::Registry;
use super::util::{check_input_count, check_type, ints_of, known_i64s};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, normalize_axis, num_elements, strides};
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Scalar, Tensor};

/// Registers the reductions.
pub fn register(r: &mut Registry) {
    r.add("ReduceSum", 1, || Box::new(Reduce::new(ReduceKind::Sum)));
    r.add("ReduceMean", 1, || Box::new(Reduce::new(ReduceKind::Mean)));
    r.add("ReduceMax", 1, || Box::new(Reduce::new(ReduceKind::Max)));
    r.add("ReduceMin", 1, || Box::new(Reduce::new(ReduceKind::Min)));
    r.add("ReduceProd", 1, || Box::new(Reduce::new(ReduceKind::Prod)));
    r.add("ReduceLogicalAnd", 1, || {
        Box::new(Reduce::new(ReduceKind::LogicalAnd))
    });
    r.add("ReduceLogicalOr", 1, || {
        Box::new(Reduce::new(ReduceKind::LogicalOr))
    });
    r.add("ReduceL1", 4, || Box::new(Reduce::new(ReduceKind::L1)));
    r.add("ReduceL2", 4, || Box::new(Reduce::new(ReduceKind::L2)));
}

/// Which reduction a [`Reduce`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceKind {
    /// Sum.
    Sum,
    /// Arithmetic mean (integer division truncating toward zero for integers).
    Mean,
    /// Maximum (the lowest finite value of the type for an empty reduction).
    Max,
    /// Minimum (the highest finite value of the type for an empty reduction).
    Min,
    /// Product.
    Prod,
    /// Logical AND of booleans.
    LogicalAnd,
    /// Logical OR of booleans.
    LogicalOr,
    /// Sum of absolute values.
    L1,
    /// Square root of the sum of squares.
    L2,
}

impl ReduceKind {
    fn type_info(self) -> TypeInfo {
        let (name, version) = match self {
            ReduceKind::Sum => ("ReduceSum", "opset1"),
            ReduceKind::Mean => ("ReduceMean", "opset1"),
            ReduceKind::Max => ("ReduceMax", "opset1"),
            ReduceKind::Min => ("ReduceMin", "opset1"),
            ReduceKind::Prod => ("ReduceProd", "opset1"),
            ReduceKind::LogicalAnd => ("ReduceLogicalAnd", "opset1"),
            ReduceKind::LogicalOr => ("ReduceLogicalOr", "opset1"),
            ReduceKind::L1 => ("ReduceL1", "opset4"),
            ReduceKind::L2 => ("ReduceL2", "opset4"),
        };
        TypeInfo::new(name, version)
    }

    fn is_logical(self) -> bool {
        matches!(self, ReduceKind::LogicalAnd | ReduceKind::LogicalOr)
    }
}

/// A reduction over the axes given by the second input; `keep_dims` keeps reduced axes as length 1.
#[derive(Debug, Clone)]
pub struct Reduce {
    /// The reduction computed.
    pub kind: ReduceKind,
    /// Keep reduced axes with length 1.
    pub keep_dims: bool,
}

impl Reduce {
    /// A reduction of the given kind with `keep_dims = false`.
    pub fn new(kind: ReduceKind) -> Reduce {
        Reduce {
            kind,
            keep_dims: false,
        }
    }
}

/// Normalises (possibly negative, possibly repeated) axes against `rank` into a per-axis mask.
pub fn axes_mask(axes: &[i64], rank: usize, what: &str) -> Result<Vec<bool>> {
    let mut mask = vec![false; rank];
    for &a in axes {
        mask[normalize_axis(a, rank, what)?] = true;
    }
    Ok(mask)
}

/// Reads an axes input (scalar or 1-D integers) into a mask over `rank` axes.
pub fn axes_input_mask(axes: &Tensor, rank: usize, what: &str) -> Result<Vec<bool>> {
    if axes.rank() > 1 {
        return Err(Error::Shape(format!(
            "{what}: axes must be a scalar or 1-D, got shape {}",
            fmt_shape(axes.shape())
        )));
    }
    axes_mask(&ints_of(axes, what)?, rank, what)
}

/// The shape after reducing the masked axes of `shape`.
pub fn reduced_shape(shape: &[usize], mask: &[bool], keep_dims: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(mask)
        .filter_map(|(&d, &m)| match (m, keep_dims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

/// For every element of a tensor of shape `shape`, the flat index of its group (its position in the reduced
/// tensor when the masked axes are collapsed); also returns the number of groups.
pub fn group_indices(shape: &[usize], mask: &[bool]) -> (Vec<usize>, usize) {
    let kept = reduced_shape(shape, mask, true);
    let out_strides = strides(&kept);
    let n = num_elements(shape);
    let mut idx = vec![0usize; shape.len()];
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        let g: usize = idx
            .iter()
            .zip(mask)
            .zip(&out_strides)
            .map(|((&i, &m), &s)| if m { 0 } else { i * s })
            .sum();
        groups.push(g);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (groups, num_elements(&kept))
}

/// The largest finite value of a floating-point element type.
pub fn max_finite(et: ElementType) -> f64 {
    match et {
        ElementType::F16 => half::f16::MAX.to_f64(),
        ElementType::BF16 => half::bf16::MAX.to_f64(),
        ElementType::F32 => f32::MAX as f64,
        _ => f64::MAX,
    }
}

/// Folds the values of each group with `f`, starting from `init`.
fn fold_groups<A: Copy, T: Copy>(
    values: &[T],
    groups: &[usize],
    n: usize,
    init: A,
    f: impl Fn(A, T) -> A,
) -> Vec<A> {
    let mut acc = vec![init; n];
    for (&v, &g) in values.iter().zip(groups) {
        if let Some(a) = acc.get_mut(g) {
            *a = f(*a, v);
        }
    }
    acc
}

/// Maximum or minimum per group in the element type itself; groups with no values hold the type's finite limit.
fn extreme<T: Scalar>(
    data: &Tensor,
    groups: &[usize],
    n: usize,
    max: bool,
    shape: &[usize],
) -> Result<Tensor> {
    let limit = if T::TYPE.is_real() {
        max_finite(T::TYPE)
    } else {
        f64::MAX
    };
    let empty = T::from_f64(if max { -limit } else { limit });
    // Groups start empty, so a group of -inf (for max) keeps -inf; only groups with no values take the limit.
    let pick = |a: Option<T>, v: T| match a {
        Some(a) if !((max && v > a) || (!max && v < a)) => Some(a),
        _ => Some(v),
    };
    let folded = fold_groups(data.typed::<T>()?, groups, n, None, pick);
    Tensor::from_vec(
        shape,
        folded.into_iter().map(|a| a.unwrap_or(empty)).collect(),
    )
}

/// Sum, mean, product, L1 and L2 for real types, accumulating in f64.
fn arithmetic_f64(
    kind: ReduceKind,
    values: &[f64],
    groups: &[usize],
    n: usize,
    count: usize,
) -> Vec<f64> {
    match kind {
        ReduceKind::Prod => fold_groups(values, groups, n, 1.0, |a, v| a * v),
        ReduceKind::L1 => fold_groups(values, groups, n, 0.0, |a, v| a + v.abs()),
        ReduceKind::L2 => fold_groups(values, groups, n, 0.0, |a, v| a + v * v)
            .into_iter()
            .map(f64::sqrt)
            .collect(),
        ReduceKind::Mean if count > 0 => fold_groups(values, groups, n, 0.0, |a, v| a + v)
            .into_iter()
            .map(|s| s / count as f64)
            .collect(),
        _ => fold_groups(values, groups, n, 0.0, |a, v| a + v),
    }
}

/// Sum, mean, product, L1 and L2 for integer types, accumulating in wrapping i64 (L2 truncates the root).
fn arithmetic_i64(
    kind: ReduceKind,
    values: &[i64],
    groups: &[usize],
    n: usize,
    count: usize,
) -> Vec<i64> {
    let sum =
        |f: fn(i64) -> i64| fold_groups(values, groups, n, 0i64, move |a, v| a.wrapping_add(f(v)));
    match kind {
        ReduceKind::Prod => fold_groups(values, groups, n, 1i64, |a, v| a.wrapping_mul(v)),
        ReduceKind::L1 => sum(i64::wrapping_abs),
        ReduceKind::L2 => sum(|v| v.wrapping_mul(v))
            .into_iter()
            .map(|s| (s as f64).sqrt() as i64)
            .collect(),
        ReduceKind::Mean if count > 0 => sum(|v| v).into_iter().map(|s| s / count as i64).collect(),
        _ => sum(|v| v),
    }
}

impl Reduce {
    fn check_types(&self, data: ElementType, axes: ElementType) -> Result<()> {
        check_type(
            axes,
            ElementType::is_integral_number,
            "an integer type",
            "axes",
        )?;
        if self.kind.is_logical() {
            check_type(data, |t| t == ElementType::Boolean, "boolean", "data")
        } else {
            check_type(
                data,
                |t| t != ElementType::Boolean && !t.is_sub_byte(),
                "a numeric type",
                "data",
            )
        }
    }

    fn infer_shape(&self, data: &PartialShape, axes: &TensorDesc) -> Result<PartialShape> {
        if let Some(r) = axes.rank()
            && r > 1
        {
            return Err(Error::Shape(format!(
                "axes must be a scalar or 1-D, got shape {}",
                axes.shape
            )));
        }
        let Some(dims) = data.dims() else {
            return Ok(PartialShape::dynamic_rank());
        };
        let Some(values) = known_i64s(axes) else {
            return Ok(match (self.keep_dims, axes.shape.to_static().as_deref()) {
                (_, Some([0])) => data.clone(),
                (true, _) => PartialShape::dynamic_of_rank(dims.len()),
                (false, _) => PartialShape::dynamic_rank(),
            });
        };
        let mask = axes_mask(&values, dims.len(), "reduction axes")?;
        let out = dims
            .iter()
            .zip(&mask)
            .filter_map(|(&d, &m)| match (m, self.keep_dims) {
                (false, _) => Some(d),
                (true, true) => Some(Dimension::new(1)),
                (true, false) => None,
            })
            .collect();
        Ok(PartialShape::new(out))
    }
}

impl Op for Reduce {
    fn type_info(&self) -> TypeInfo {
        self.kind.type_info()
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "keep_dims" => keep_dims)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        self.check_types(inputs[0].element_type, inputs[1].element_type)?;
        let shape = self.infer_shape(&inputs[0].shape, &inputs[1])?;
        Ok(vec![TensorDesc::new(inputs[0].element_type, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let (data, et) = (inputs[0], inputs[0].element_type());
        self.check_types(et, inputs[1].element_type())?;
        let mask = axes_input_mask(inputs[1], data.rank(), "reduction axes")?;
        let (groups, n) = group_indices(data.shape(), &mask);
        let out_shape = reduced_shape(data.shape(), &mask, self.keep_dims);
        let count = data
            .shape()
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m)
            .map(|(d, _)| d)
            .product();
        let out = match self.kind {
            ReduceKind::LogicalAnd | ReduceKind::LogicalOr => {
                let and = self.kind == ReduceKind::LogicalAnd;
                let r = fold_groups(data.typed::<u8>()?, &groups, n, and as u8, |a, v| {
                    if and {
                        a & (v != 0) as u8
                    } else {
                        a | (v != 0) as u8
                    }
                });
                Tensor::from_i64s(
                    ElementType::Boolean,
                    &out_shape,
                    &r.into_iter().map(i64::from).collect::<Vec<_>>(),
                )?
            }
            ReduceKind::Max | ReduceKind::Min => crate::dispatch_scalar!(et,
                T => extreme::<T>(data, &groups, n, self.kind == ReduceKind::Max, &out_shape)?,
                _ => return Err(Error::Unsupported(format!("{} on {et}", self.kind.type_info().name)))),
            kind if et.is_real() => Tensor::from_f64s(
                et,
                &out_shape,
                &arithmetic_f64(kind, &data.to_f64_vec(), &groups, n, count),
            )?,
            kind => Tensor::from_i64s(
                et,
                &out_shape,
                &arithmetic_i64(kind, &data.to_i64_vec(), &groups, n, count),
            )?,
        };
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_of_infinities_is_infinite() {
        let x = Tensor::from_vec(
            &[2, 2],
            vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 1.0, f32::INFINITY],
        )
        .unwrap();
        assert_eq!(
            eval(ReduceKind::Max, false, &x, &[1]).to_f64_vec(),
            vec![f64::NEG_INFINITY, f64::INFINITY]
        );
        assert_eq!(
            eval(ReduceKind::Min, false, &x, &[1]).to_f64_vec(),
            vec![f64::NEG_INFINITY, 1.0]
        );
    }

    fn axes(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn eval(kind: ReduceKind, keep: bool, x: &Tensor, ax: &[i64]) -> Tensor {
        Reduce {
            kind,
            keep_dims: keep,
        }
        .evaluate(&[x, &axes(ax)])
        .unwrap()
        .remove(0)
    }

    #[test]
    fn shape_inference() {
        let op = Reduce {
            kind: ReduceKind::Sum,
            keep_dims: false,
        };
        let data = TensorDesc::new(ElementType::F32, PartialShape::parse_ir("2,?,4").unwrap());
        let out = op
            .infer(&[data.clone(), TensorDesc::of_tensor(&axes(&[-1, 0]))])
            .unwrap();
        assert_eq!(out[0].shape.to_string(), "[?]");
        let keep = Reduce {
            kind: ReduceKind::Sum,
            keep_dims: true,
        };
        let out = keep
            .infer(&[data.clone(), TensorDesc::of_tensor(&axes(&[2]))])
            .unwrap();
        assert_eq!(out[0].shape.to_string(), "[2,?,1]");
        let unknown = TensorDesc::new(ElementType::I64, PartialShape::from_static(&[1]));
        assert_eq!(
            keep.infer(&[data.clone(), unknown.clone()]).unwrap()[0]
                .shape
                .to_string(),
            "[?,?,?]"
        );
        assert_eq!(
            op.infer(&[data.clone(), unknown]).unwrap()[0].shape.rank(),
            None
        );
        assert!(
            op.infer(&[data.clone(), TensorDesc::of_tensor(&axes(&[3]))])
                .is_err()
        );
        let logical = Reduce::new(ReduceKind::LogicalAnd);
        assert!(
            logical
                .infer(&[data, TensorDesc::of_tensor(&axes(&[0]))])
                .is_err()
        );
    }

    #[test]
    fn values() {
        let x = Tensor::from_vec(&[2, 3], vec![1.0f32, -2.0, 3.0, 4.0, 5.0, -6.0]).unwrap();
        assert_eq!(
            eval(ReduceKind::Sum, false, &x, &[1]).to_f64_vec(),
            vec![2.0, 3.0]
        );
        assert_eq!(eval(ReduceKind::Mean, true, &x, &[0]).shape(), &[1, 3]);
        assert_eq!(
            eval(ReduceKind::Mean, true, &x, &[0]).to_f64_vec(),
            vec![2.5, 1.5, -1.5]
        );
        assert_eq!(
            eval(ReduceKind::Max, false, &x, &[-1]).to_f64_vec(),
            vec![3.0, 5.0]
        );
        assert_eq!(
            eval(ReduceKind::Min, false, &x, &[0, 1]).to_f64_vec(),
            vec![-6.0]
        );
        assert_eq!(
            eval(ReduceKind::Prod, false, &x, &[1]).to_f64_vec(),
            vec![-6.0, -120.0]
        );
        assert_eq!(
            eval(ReduceKind::L1, false, &x, &[1]).to_f64_vec(),
            vec![6.0, 15.0]
        );
        let l2 = eval(ReduceKind::L2, false, &x, &[1]).to_f64_vec();
        assert!((l2[0] - 14f64.sqrt()).abs() < 1e-6);
        // Empty axes: a no-op.
        assert_eq!(
            eval(ReduceKind::Sum, false, &x, &[]).to_f64_vec(),
            x.to_f64_vec()
        );
        assert_eq!(eval(ReduceKind::L1, false, &x, &[]).to_f64_vec()[1], 2.0);
    }

    #[test]
    fn integers_and_booleans_like_openvino() {
        // OpenVINO: ReduceMean of i32 [[1,2],[-1,-2]] over axis 1 is [1,-1]; ReduceL2 of [[2,3]] is [3].
        let x = Tensor::from_vec(&[2, 2], vec![1i32, 2, -1, -2]).unwrap();
        assert_eq!(
            eval(ReduceKind::Mean, false, &x, &[1]).to_i64_vec(),
            vec![1, -1]
        );
        let y = Tensor::from_vec(&[1, 2], vec![2i32, 3]).unwrap();
        assert_eq!(eval(ReduceKind::L2, false, &y, &[1]).to_i64_vec(), vec![3]);
        let big = Tensor::from_vec(&[2], vec![u64::MAX, 1]).unwrap();
        assert_eq!(
            eval(ReduceKind::Max, false, &big, &[0])
                .typed::<u64>()
                .unwrap(),
            &[u64::MAX]
        );
        let b = Tensor::from_i64s(ElementType::Boolean, &[2, 2], &[1, 0, 1, 1]).unwrap();
        assert_eq!(
            eval(ReduceKind::LogicalAnd, false, &b, &[1]).to_i64_vec(),
            vec![0, 1]
        );
        assert_eq!(
            eval(ReduceKind::LogicalOr, false, &b, &[0]).to_i64_vec(),
            vec![1, 1]
        );
    }

    #[test]
    fn empty_dimensions_like_openvino() {
        // OpenVINO CPU: over an empty axis sum is 0, prod 1, mean 0, max the lowest finite f32, min the highest.
        let x = Tensor::zeros(ElementType::F32, &[2, 0, 3]);
        assert_eq!(
            eval(ReduceKind::Sum, false, &x, &[1]).to_f64_vec(),
            vec![0.0; 6]
        );
        assert_eq!(
            eval(ReduceKind::Prod, false, &x, &[1]).to_f64_vec(),
            vec![1.0; 6]
        );
        assert_eq!(
            eval(ReduceKind::Mean, false, &x, &[1]).to_f64_vec(),
            vec![0.0; 6]
        );
        assert_eq!(
            eval(ReduceKind::Max, false, &x, &[1]).to_f64_vec(),
            vec![f32::MIN as f64; 6]
        );
        assert_eq!(
            eval(ReduceKind::Min, true, &x, &[1]).to_f64_vec(),
            vec![f32::MAX as f64; 6]
        );
        assert_eq!(eval(ReduceKind::Sum, false, &x, &[0]).shape(), &[0, 3]);
    }

    #[test]
    fn half_precision_keeps_its_type() {
        let x = Tensor::from_f64s(ElementType::F16, &[2, 2], &[1.0, 2.0, 3.0, 4.5]).unwrap();
        let out = eval(ReduceKind::Sum, false, &x, &[-1]);
        assert_eq!(
            (out.element_type(), out.to_f64_vec()),
            (ElementType::F16, vec![3.0, 7.5])
        );
        let b = Tensor::from_f64s(ElementType::BF16, &[2], &[-1.0, 8.0]).unwrap();
        assert_eq!(
            eval(ReduceKind::Max, true, &b, &[0]).to_f64_vec(),
            vec![8.0]
        );
    }

    #[test]
    fn evaluate_rejects_bad_axes() {
        let x = Tensor::zeros(ElementType::F32, &[2, 3]);
        let op = Reduce::new(ReduceKind::Sum);
        assert!(op.evaluate(&[&x, &axes(&[2])]).is_err());
        assert!(
            op.evaluate(&[&x, &Tensor::from_vec(&[1], vec![1.0f32]).unwrap()])
                .is_err()
        );
    }
}
