//! Indexing ops: TopK-1/3/11, NonZero-3, Range-1/4, Bucketize-3, CumSum-3, Eye-9.

use super::data_movement::args::{
    check_int_input, dyn_rank, int_list, int_scalar, known_scalar, one_desc, static_out_shape,
    to_len,
};
use super::data_movement::elems::{Elems, flat_index, for_each_index};
use super::registry::Registry;
use super::util::{check_input_count, check_type, known_i64s, merge_types, scalar_f64};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Tensor};
use std::cmp::Ordering;

/// Registers the ops of this family.
pub fn register(r: &mut Registry) {
    r.add("TopK", 1, || Box::new(TopK::new(1)));
    r.add("TopK", 3, || Box::new(TopK::new(3)));
    r.add("TopK", 11, || Box::new(TopK::new(11)));
    r.add("NonZero", 3, || {
        Box::new(NonZero {
            output_type: ElementType::I64,
        })
    });
    r.add("Range", 1, || {
        Box::new(Range {
            version: 1,
            output_type: ElementType::Dynamic,
        })
    });
    r.add("Range", 4, || {
        Box::new(Range {
            version: 4,
            output_type: ElementType::F32,
        })
    });
    r.add("Bucketize", 3, || {
        Box::new(Bucketize {
            output_type: ElementType::I64,
            with_right_bound: true,
        })
    });
    r.add("CumSum", 3, || Box::new(CumSum::default()));
    r.add("Eye", 9, || {
        Box::new(Eye {
            output_type: ElementType::F32,
        })
    });
}

/// The longest Range accepted (2^40 values), so absurd bounds error instead of exhausting memory.
const MAX_RANGE_LEN: f64 = 1_099_511_627_776.0;

/// Errors unless `t` is i32 or i64 (or dynamic).
fn check_index_type(t: ElementType, what: &str) -> Result<()> {
    crate::ensure!(
        matches!(
            t,
            ElementType::I32 | ElementType::I64 | ElementType::Dynamic
        ),
        Shape,
        "{what} is {t}, expected i32 or i64"
    );
    Ok(())
}

/// The values of a numeric tensor for ordering: exact i64 for integers, f64 for reals.
enum Keys {
    Int(Vec<i64>),
    Real(Vec<f64>),
}

impl Keys {
    fn of(t: &Tensor) -> Keys {
        if t.element_type().is_real() {
            Keys::Real(t.to_f64_vec())
        } else {
            Keys::Int(t.to_i64_vec())
        }
    }
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Keys::Int(v) => v.get(a).cmp(&v.get(b)),
            Keys::Real(v) => v.get(a).partial_cmp(&v.get(b)).unwrap_or(Ordering::Equal),
        }
    }
}

crate::attr_enum!(
    /// Whether TopK keeps the largest or the smallest values.
    TopKMode { Max => "max", Min => "min" }
);

crate::attr_enum!(
    /// The order of TopK's outputs.
    TopKSort {
        /// By value (descending for max, ascending for min).
        Value => "value",
        /// By index, ascending.
        Index => "index",
        /// Unspecified (value order here).
        None => "none"
    }
);

/// TopK-1, -3 and -11: the `k` largest or smallest values along `axis` and their indices. Ties keep the lower
/// index first (which also makes the result `stable`).
#[derive(Debug, Clone)]
pub struct TopK {
    version: u32,
    /// The axis to search.
    pub axis: i64,
    /// Largest or smallest.
    pub mode: TopKMode,
    /// Output order.
    pub sort: TopKSort,
    /// i32 or i64.
    pub index_element_type: ElementType,
    /// TopK-11: equal values keep their input order.
    pub stable: bool,
}

impl TopK {
    /// The op of the given version with default attributes.
    pub fn new(version: u32) -> TopK {
        TopK {
            version,
            axis: -1,
            mode: TopKMode::Max,
            sort: TopKSort::None,
            index_element_type: ElementType::I32,
            stable: false,
        }
    }

    /// The positions (along the axis) of the selected values, in output order.
    fn select(&self, keys: &Keys, base: usize, stride: usize, dim: usize, k: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| {
            let o = keys.cmp(base + a * stride, base + b * stride);
            if self.mode == TopKMode::Max {
                o.reverse()
            } else {
                o
            }
        });
        order.truncate(k);
        if self.sort == TopKSort::Index {
            order.sort_unstable();
        }
        order
    }
}

impl Op for TopK {
    fn type_info(&self) -> TypeInfo {
        let v = match self.version {
            11.. => "opset11",
            3..=10 => "opset3",
            _ => "opset1",
        };
        TypeInfo::new("TopK", v)
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v;
            "axis" => axis, "mode" => mode, "sort" => sort, "index_element_type" => index_element_type)?;
        if self.version >= 11 {
            v.on("stable", &mut self.stable)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_int_input(&inputs[1], "k")?;
        check_index_type(self.index_element_type, "index_element_type")?;
        let shape = match inputs[0].shape.dims() {
            Some(dims) => {
                let a = normalize_axis(self.axis, dims.len(), "TopK")?;
                let mut out = dims.to_vec();
                out[a] = match known_scalar(&inputs[1]) {
                    Some(k) => Dimension::new(to_len(k, "k")? as u64),
                    None => Dimension::interval(0, dims[a].max())?,
                };
                PartialShape::new(out)
            }
            None => PartialShape::dynamic_rank(),
        };
        Ok(vec![
            TensorDesc::new(inputs[0].element_type, shape.clone()),
            TensorDesc::new(self.index_element_type, shape),
        ])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        let a = normalize_axis(self.axis, x.rank(), "TopK")?;
        let k = to_len(int_scalar(inputs[1], "k")?, "k")?;
        let dim = x.shape()[a];
        crate::ensure!(
            k <= dim,
            Shape,
            "k = {k} exceeds the length {dim} of axis {a}"
        );
        let mut out = x.shape().to_vec();
        out[a] = k;
        let inner: usize = x.shape()[a + 1..].iter().product();
        let keys = Keys::of(x);
        let e = Elems::of(x);
        let n: usize = out.iter().product();
        let mut values = e.builder(n);
        let mut idx = vec![0i64; n];
        let mut slot = vec![0usize; n];
        // Selected positions per (outer, inner) slice.
        let mut chosen: Vec<Vec<usize>> = Vec::new();
        let outer: usize = x.shape()[..a].iter().product();
        for o in 0..outer {
            for i in 0..inner {
                chosen.push(self.select(&keys, o * dim * inner + i, inner, dim, k));
            }
        }
        let mut pos = 0;
        for_each_index(&out, |ix| {
            let (o, j, i) = (
                flat_index(&ix[..a], &out[..a]),
                ix[a],
                flat_index(&ix[a + 1..], &out[a + 1..]),
            );
            let p = *chosen
                .get(o * inner + i)
                .and_then(|c| c.get(j))
                .ok_or_else(|| Error::Internal("TopK slot".into()))?;
            slot[pos] = (o * dim + p) * inner + i;
            idx[pos] = p as i64;
            pos += 1;
            Ok(())
        })?;
        for &s in &slot {
            values.push(e.get(s)?);
        }
        Ok(vec![
            values.finish(&out)?,
            Tensor::from_i64s(self.index_element_type, &out, &idx)?,
        ])
    }
}

/// NonZero-3: the indices of non-zero values, one row per axis (`[rank, count]`), in row-major order.
#[derive(Debug, Clone)]
pub struct NonZero {
    /// i32 or i64.
    pub output_type: ElementType,
}

impl Op for NonZero {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("NonZero", "opset3")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "output_type" => output_type)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        check_index_type(self.output_type, "output_type")?;
        let rank = inputs[0].rank().map_or(Dimension::DYNAMIC, Dimension::from);
        let count = match inputs[0].shape.dims() {
            Some(d) => Dimension::interval(
                0,
                d.iter()
                    .try_fold(1u64, |acc, x| x.max().and_then(|m| acc.checked_mul(m))),
            )?,
            None => Dimension::DYNAMIC,
        };
        Ok(one_desc(
            self.output_type,
            PartialShape::new(vec![rank, count]),
        ))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        let vals = x.to_f64_vec();
        let mut hits: Vec<Vec<usize>> = Vec::new();
        let mut n = 0;
        for_each_index(x.shape(), |ix| {
            if vals.get(n).is_some_and(|v| *v != 0.0) {
                hits.push(ix.to_vec());
            }
            n += 1;
            Ok(())
        })?;
        let r = x.rank();
        let mut out = vec![0i64; r * hits.len()];
        for (j, h) in hits.iter().enumerate() {
            for (d, &v) in h.iter().enumerate() {
                out[d * hits.len() + j] = v as i64;
            }
        }
        Ok(vec![Tensor::from_i64s(
            self.output_type,
            &[r, hits.len()],
            &out,
        )?])
    }
}

/// Range-1 and Range-4: `start, start + step, ...` up to (excluding) `stop`.
#[derive(Debug, Clone)]
pub struct Range {
    version: u32,
    /// Range-4: the output element type (Range-1 uses the inputs' type).
    pub output_type: ElementType,
}

impl Range {
    /// The output type given the inputs' merged type.
    fn out_type(&self, inputs: &[TensorDesc]) -> Result<ElementType> {
        let mut t = ElementType::Dynamic;
        for (d, what) in inputs.iter().zip(["start", "stop", "step"]) {
            check_type(
                d.element_type,
                |t| t != ElementType::Boolean,
                "a numeric type",
                what,
            )?;
            crate::ensure!(
                d.rank().is_none_or(|r| r <= 1),
                Shape,
                "{what} has shape {}, expected a scalar",
                d.shape
            );
            if self.version < 4 {
                t = merge_types(t, d.element_type, "Range inputs")?;
            }
        }
        Ok(if self.version >= 4 {
            self.output_type
        } else {
            t
        })
    }

    /// start, step and the number of values, computed as OpenVINO does (integer outputs truncate the bounds).
    fn plan(&self, et: ElementType, start: f64, stop: f64, step: f64) -> Result<(f64, f64, usize)> {
        let (start, stop, step) = if et.is_real() {
            (start, stop, step)
        } else {
            (start.trunc(), stop.trunc(), step.trunc())
        };
        crate::ensure!(step != 0.0, Shape, "Range step is 0");
        crate::ensure!(
            start.is_finite() && stop.is_finite() && step.is_finite(),
            Shape,
            "Range bounds must be finite"
        );
        let n = ((stop - start) / step).ceil().max(0.0);
        if n >= MAX_RANGE_LEN {
            crate::bail!(
                Shape,
                "Range from {start} to {stop} by {step} has too many values ({n})"
            );
        }
        Ok((start, step, n as usize))
    }
}

impl Op for Range {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "Range",
            if self.version >= 4 {
                "opset4"
            } else {
                "opset1"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.version >= 4 {
            v.on("output_type", &mut self.output_type)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        let et = self.out_type(inputs)?;
        let known: Option<Vec<f64>> = inputs
            .iter()
            .map(|d| {
                d.value
                    .as_ref()
                    .filter(|t| t.len() == 1)
                    .map(|t| t.get_f64(0))
            })
            .collect();
        let len = match known.as_deref() {
            Some([a, b, c]) => Dimension::from(self.plan(et, *a, *b, *c)?.2),
            _ => Dimension::DYNAMIC,
        };
        Ok(one_desc(et, PartialShape::new(vec![len])))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        let et = self.out_type(&descs)?;
        let [a, b, c] = [0, 1, 2].map(|i| scalar_f64(inputs[i], ["start", "stop", "step"][i]));
        let (start, step, n) = self.plan(et, a?, b?, c?)?;
        if et.is_real() {
            let v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
            return Tensor::from_f64s(et, &[n], &v).map(|t| vec![t]);
        }
        let (s, d) = (start as i64, step as i64);
        let v: Vec<i64> = (0..n as i64)
            .map(|i| s.wrapping_add(i.wrapping_mul(d)))
            .collect();
        Ok(vec![Tensor::from_i64s(et, &[n], &v)?])
    }
}

/// Bucketize-3: the index of the bucket each value falls in (`buckets` sorted ascending).
#[derive(Debug, Clone)]
pub struct Bucketize {
    /// i32 or i64.
    pub output_type: ElementType,
    /// True: buckets are `(b[i-1], b[i]]`; false: `[b[i-1], b[i])`.
    pub with_right_bound: bool,
}

impl Op for Bucketize {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Bucketize", "opset3")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "output_type" => output_type, "with_right_bound" => with_right_bound)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_index_type(self.output_type, "output_type")?;
        crate::ensure!(
            inputs[1].rank().is_none_or(|r| r == 1),
            Shape,
            "buckets has shape {}, expected 1-D",
            inputs[1].shape
        );
        Ok(one_desc(self.output_type, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        crate::ensure!(inputs[1].rank() == 1, Shape, "buckets must be 1-D");
        let buckets = inputs[1].to_f64_vec();
        let out: Vec<i64> = inputs[0]
            .to_f64_vec()
            .iter()
            .map(|&x| {
                let n = if self.with_right_bound {
                    buckets.partition_point(|&b| b < x)
                } else {
                    buckets.partition_point(|&b| b <= x)
                };
                n as i64
            })
            .collect();
        Ok(vec![Tensor::from_i64s(
            self.output_type,
            inputs[0].shape(),
            &out,
        )?])
    }
}

/// CumSum-3: running sums along an axis (default 0), optionally exclusive and/or from the end.
#[derive(Debug, Clone, Default)]
pub struct CumSum {
    /// Each sum leaves out the current value.
    pub exclusive: bool,
    /// Sum from the end of the axis.
    pub reverse: bool,
}

impl CumSum {
    /// Running sums of `v` (a tensor of `shape`) along `axis`; T is i64 or f64.
    fn scan<T: Copy + Default + std::ops::Add<Output = T>>(
        &self,
        v: &[T],
        shape: &[usize],
        axis: usize,
    ) -> Vec<T> {
        let dim = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let mut out = vec![T::default(); v.len()];
        for base in (0..v.len()).filter(|i| (i / inner).is_multiple_of(dim.max(1))) {
            let mut acc = T::default();
            for j in 0..dim {
                let j = if self.reverse { dim - 1 - j } else { j };
                let p = base + j * inner;
                if self.exclusive {
                    out[p] = acc;
                    acc = acc + v[p];
                } else {
                    acc = acc + v[p];
                    out[p] = acc;
                }
            }
        }
        out
    }
}

impl Op for CumSum {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("CumSum", "opset3")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "exclusive" => exclusive, "reverse" => reverse)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 2)?;
        if let Some(a) = inputs.get(1) {
            check_int_input(a, "axis")?;
            if let (Some(r), Some(v)) = (inputs[0].rank(), known_scalar(a)) {
                normalize_axis(v, r, "CumSum")?;
            }
        }
        Ok(one_desc(inputs[0].element_type, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 2)?;
        let x = inputs[0];
        crate::ensure!(
            x.rank() >= 1,
            Shape,
            "CumSum needs an input of rank at least 1"
        );
        let axis = inputs
            .get(1)
            .map(|a| int_scalar(a, "axis"))
            .transpose()?
            .unwrap_or(0);
        let a = normalize_axis(axis, x.rank(), "CumSum")?;
        let et = x.element_type();
        if et.is_real() {
            Ok(vec![Tensor::from_f64s(
                et,
                x.shape(),
                &self.scan(&x.to_f64_vec(), x.shape(), a),
            )?])
        } else {
            let v: Vec<i64> = x.to_i64_vec();
            let s = self.scan(
                &v.iter().map(|&i| std::num::Wrapping(i)).collect::<Vec<_>>(),
                x.shape(),
                a,
            );
            Ok(vec![Tensor::from_i64s(
                et,
                x.shape(),
                &s.iter().map(|w| w.0).collect::<Vec<_>>(),
            )?])
        }
    }
}

/// Eye-9: batches of matrices with ones on the diagonal shifted by `diagonal_index`.
#[derive(Debug, Clone)]
pub struct Eye {
    /// The output element type.
    pub output_type: ElementType,
}

impl Op for Eye {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Eye", "opset9")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "output_type" => output_type)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 4)?;
        for (d, what) in
            inputs
                .iter()
                .zip(["num_rows", "num_columns", "diagonal_index", "batch_shape"])
        {
            check_int_input(d, what)?;
        }
        let dim = |d: &TensorDesc, what| -> Result<Dimension> {
            Ok(match known_scalar(d) {
                Some(v) => Dimension::from(to_len(v, what)?),
                None => Dimension::DYNAMIC,
            })
        };
        let (rows, cols) = (
            dim(&inputs[0], "num_rows")?,
            dim(&inputs[1], "num_columns")?,
        );
        let mut out = match inputs.get(3) {
            None => vec![],
            Some(b) => match known_i64s(b) {
                Some(v) => v
                    .iter()
                    .map(|&x| to_len(x, "batch_shape").map(Dimension::from))
                    .collect::<Result<_>>()?,
                None => match b.shape.to_static().as_deref() {
                    Some([n]) => vec![Dimension::DYNAMIC; *n],
                    _ => return Ok(dyn_rank(self.output_type)),
                },
            },
        };
        out.extend([rows, cols]);
        Ok(one_desc(self.output_type, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let diag = int_scalar(inputs[2], "diagonal_index")?;
        if let Some(b) = inputs.get(3) {
            int_list(b, "batch_shape")?;
        }
        let r = out.len();
        let (rows, cols) = (out[r - 2], out[r - 1]);
        let n: usize = out.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|i| {
                let (row, col) = ((i / cols.max(1)) % rows.max(1), i % cols.max(1));
                f64::from(u8::from(col as i64 - row as i64 == diag))
            })
            .collect();
        Ok(vec![Tensor::from_f64s(self.output_type, &out, &v)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::data_movement::args::testing::*;
    use super::*;

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn topk_matches_openvino() {
        let x = f32s(&[1., 3., 3., 2., 3.]);
        let run = |mode, sort| {
            let op = TopK {
                axis: 0,
                mode,
                sort,
                ..TopK::new(11)
            };
            let r = op.evaluate(&[&x, &Tensor::scalar(3i64)]).unwrap();
            (r[0].to_f64_vec(), r[1].to_i64_vec())
        };
        assert_eq!(
            run(TopKMode::Max, TopKSort::Value),
            (vec![3., 3., 3.], vec![1, 2, 4])
        );
        assert_eq!(
            run(TopKMode::Min, TopKSort::None),
            (vec![1., 2., 3.], vec![0, 3, 1])
        );
        assert_eq!(
            run(TopKMode::Min, TopKSort::Index),
            (vec![1., 3., 2.], vec![0, 1, 3])
        );
        let op = TopK {
            axis: 0,
            ..TopK::new(1)
        };
        let m = op
            .evaluate(&[&iota(&[3, 2]), &Tensor::scalar(1i64)])
            .unwrap();
        assert_eq!(m[0].to_f64_vec(), vec![4., 5.]);
        assert_eq!(m[1].element_type(), ElementType::I32);
        assert!(op.evaluate(&[&iota(&[3]), &Tensor::scalar(4i64)]).is_err());
        assert_eq!(shape_of(&op, &[st(&[3, 2]), dyn_i(&[])]), "[..3,2]");
        assert_eq!(shape_of(&op, &[ps("?,2"), cs(2)]), "[2,2]");
    }

    #[test]
    fn nonzero() {
        let op = NonZero {
            output_type: ElementType::I64,
        };
        let x = Tensor::from_vec(&[2, 2], vec![0.0f32, 1.0, -0.0, 2.0]).unwrap();
        let y = eval1(&op, &[x]);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.to_i64_vec(), vec![0, 1, 1, 1]);
        assert_eq!(shape_of(&op, &[st(&[2, 3])]), "[2,..6]");
    }

    #[test]
    fn range() {
        let r1 = Range {
            version: 1,
            output_type: ElementType::Dynamic,
        };
        let s = |v: i64| Tensor::scalar(v);
        assert_eq!(eval1(&r1, &[s(5), s(0), s(-2)]).to_i64_vec(), vec![5, 3, 1]);
        let d = |v: f32| TensorDesc::of_tensor(&Tensor::scalar(v));
        assert_eq!(shape_of(&r1, &[d(0.0), d(0.9), d(0.3)]), "[3]");
        assert!(r1.infer(&[d(0.0), cs(1), d(1.0)]).is_err());
        let r4 = Range {
            version: 4,
            output_type: ElementType::F32,
        };
        let y = eval1(&r4, &[Tensor::scalar(0.5f32), s(5), Tensor::scalar(1.5f32)]);
        assert_eq!(y.to_f64_vec(), vec![0.5, 2.0, 3.5]);
        let r4i = Range {
            version: 4,
            output_type: ElementType::I32,
        };
        assert_eq!(eval1(&r4i, &[s(0), s(5), s(2)]).to_i64_vec(), vec![0, 2, 4]);
        assert!(r4i.evaluate(&[&s(0), &s(5), &s(0)]).is_err());
    }

    #[test]
    fn bucketize_cumsum_eye() {
        let b = Bucketize {
            output_type: ElementType::I64,
            with_right_bound: true,
        };
        let x = f32s(&[0., 1., 1.5, 2., 3.]);
        let y = eval1(&b, &[x.clone(), f32s(&[1., 2.])]);
        assert_eq!(y.to_i64_vec(), vec![0, 0, 1, 1, 2]);
        let y = eval1(
            &Bucketize {
                with_right_bound: false,
                ..b
            },
            &[x, f32s(&[1., 2.])],
        );
        assert_eq!(y.to_i64_vec(), vec![0, 1, 1, 2, 2]);
        let c = CumSum {
            exclusive: true,
            reverse: true,
        };
        let y = eval1(&c, &[iota(&[2, 3]), Tensor::scalar(-1i64)]);
        assert_eq!(y.to_f64_vec(), vec![3., 2., 0., 9., 5., 0.]);
        let y = eval1(
            &CumSum::default(),
            &[Tensor::from_vec(&[3], vec![1i32, 2, 3]).unwrap()],
        );
        assert_eq!(y.to_i64_vec(), vec![1, 3, 6]);
        let e = Eye {
            output_type: ElementType::I8,
        };
        let y = eval1(
            &e,
            &[
                Tensor::scalar(2i64),
                Tensor::scalar(3i64),
                Tensor::scalar(1i64),
                ti(&[2]),
            ],
        );
        assert_eq!(y.shape(), &[2, 2, 3]);
        assert_eq!(y.to_i64_vec(), vec![0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]);
        assert_eq!(
            shape_of(&e, &[cs(2), dyn_i(&[]), cs(0), dyn_i(&[2])]),
            "[?,?,2,?]"
        );
    }
}
