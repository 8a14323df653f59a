//! Joining and splitting along an axis: Concat, Split, VariadicSplit.

use super::args::{check_int_input, int_list, int_scalar, known_scalar, to_len};
use super::elems::Elems;
use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Tensor};
use crate::ops::util::{check_input_count, known_i64s, merge_types};
use crate::ops::{Op, TensorDesc, TypeInfo};

/// Number of values before `axis` and from `axis` on (exclusive of `axis` itself for `inner`).
fn outer_inner(shape: &[usize], axis: usize) -> (usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis + 1..].iter().product(),
    )
}

/// Concat-1: joins its inputs along `axis` (negative counts from the end).
#[derive(Debug, Clone, Default)]
pub struct Concat {
    /// The joining axis.
    pub axis: i64,
}

impl Op for Concat {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Concat", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "axis" => axis)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, usize::MAX)?;
        let mut et = ElementType::Dynamic;
        let mut out: Option<Vec<Dimension>> = None;
        let mut along = Dimension::new(0);
        for (i, d) in inputs.iter().enumerate() {
            et = merge_types(et, d.element_type, &format!("Concat input {i}"))?;
            let Some(dims) = d.shape.dims() else {
                along = Dimension::DYNAMIC;
                continue;
            };
            let a = normalize_axis(self.axis, dims.len(), "Concat")?;
            along = along.add(&dims[a]);
            let merged = match &out {
                None => dims.to_vec(),
                Some(prev) => {
                    crate::ensure!(
                        prev.len() == dims.len(),
                        Shape,
                        "Concat input {i} has shape {} of a different rank than the earlier inputs",
                        d.shape
                    );
                    let mut m = Vec::with_capacity(dims.len());
                    for (k, (p, q)) in prev.iter().zip(dims).enumerate() {
                        m.push(if k == a {
                            *p
                        } else {
                            p.merge(q).ok_or_else(|| {
                                Error::Shape(format!(
                                    "Concat input {i} has shape {}: dimension {k} does not match",
                                    d.shape
                                ))
                            })?
                        });
                    }
                    m
                }
            };
            out = Some(merged);
        }
        let shape = match out {
            Some(mut dims) => {
                let a = normalize_axis(self.axis, dims.len(), "Concat")?;
                dims[a] = along;
                PartialShape::new(dims)
            }
            None => PartialShape::dynamic_rank(),
        };
        Ok(vec![TensorDesc::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .map(|t| TensorDesc::new(t.element_type(), t.shape().into()))
            .collect();
        let out = self
            .infer(&descs)?
            .remove(0)
            .shape
            .expect_static("Concat output")?;
        let a = normalize_axis(self.axis, out.len(), "Concat")?;
        let (outer, _) = outer_inner(&out, a);
        let views: Vec<(Elems, usize)> = inputs
            .iter()
            .map(|t| (Elems::of(t), t.shape()[a..].iter().product::<usize>()))
            .collect();
        let mut b = Elems::of(inputs[0]).builder(out.iter().product());
        for o in 0..outer {
            for (e, chunk) in &views {
                b.push(e.run(o * chunk, *chunk)?);
            }
        }
        Ok(vec![b.finish(&out)?])
    }
}

/// The part of `x` from `start` to `start + len` along `axis`.
pub fn axis_piece(x: &Tensor, axis: usize, start: usize, len: usize) -> Result<Tensor> {
    let (outer, inner) = outer_inner(x.shape(), axis);
    let dim = x.shape()[axis];
    let e = Elems::of(x);
    let mut shape = x.shape().to_vec();
    shape[axis] = len;
    let mut b = e.builder(outer * len * inner);
    for o in 0..outer {
        b.push(e.run((o * dim + start) * inner, len * inner)?);
    }
    b.finish(&shape)
}

/// Output descriptors that copy `data` with the `axis` dimension replaced by each of `lengths`.
fn split_descs(data: &TensorDesc, axis: Option<usize>, lengths: &[Dimension]) -> Vec<TensorDesc> {
    lengths
        .iter()
        .map(|len| {
            let shape = match (data.shape.dims(), axis) {
                (Some(d), Some(a)) => {
                    let mut d = d.to_vec();
                    d[a] = *len;
                    PartialShape::new(d)
                }
                (Some(d), None) => PartialShape::dynamic_of_rank(d.len()),
                (None, _) => PartialShape::dynamic_rank(),
            };
            TensorDesc::new(data.element_type, shape)
        })
        .collect()
}

/// The normalised split axis when both it and the rank are known.
fn known_axis(data: &TensorDesc, axis: &TensorDesc, what: &str) -> Result<Option<usize>> {
    check_int_input(axis, "axis")?;
    match (data.rank(), known_scalar(axis)) {
        (Some(r), Some(a)) => Ok(Some(normalize_axis(a, r, what)?)),
        _ => Ok(None),
    }
}

/// Splits `x` along `axis` into consecutive pieces of the given lengths.
fn split_pieces(x: &Tensor, axis: usize, lengths: &[usize]) -> Result<Vec<Tensor>> {
    let mut start = 0;
    lengths
        .iter()
        .map(|&len| {
            let p = axis_piece(x, axis, start, len);
            start += len;
            p
        })
        .collect()
}

/// Split-1: `num_splits` equal parts along the axis given by the second input.
#[derive(Debug, Clone)]
pub struct Split {
    /// The number of outputs.
    pub num_splits: i64,
}

impl Split {
    fn parts(&self) -> Result<u64> {
        u64::try_from(self.num_splits)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Error::Shape(format!(
                    "num_splits is {}, expected a positive value",
                    self.num_splits
                ))
            })
    }
}

impl Op for Split {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Split", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "num_splits" => num_splits)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let n = self.parts()?;
        let axis = known_axis(&inputs[0], &inputs[1], "Split")?;
        let len = match (axis, inputs[0].shape.dims()) {
            (Some(a), Some(d)) => match d[a].get() {
                Some(v) => {
                    crate::ensure!(
                        v % n == 0,
                        Shape,
                        "dimension {a} of length {v} does not split into {n} equal parts"
                    );
                    Dimension::new(v / n)
                }
                None => Dimension::DYNAMIC,
            },
            _ => Dimension::DYNAMIC,
        };
        Ok(split_descs(&inputs[0], axis, &vec![len; n as usize]))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        let a = normalize_axis(int_scalar(inputs[1], "axis")?, x.rank(), "Split")?;
        let n = self.parts()? as usize;
        let dim = x.shape()[a];
        crate::ensure!(
            dim.is_multiple_of(n),
            Shape,
            "dimension {a} of length {dim} does not split into {n} equal parts"
        );
        split_pieces(x, a, &vec![dim / n; n])
    }
}

/// VariadicSplit-1: parts of the given lengths along an axis (one length may be -1: the rest).
#[derive(Debug, Clone)]
pub struct VariadicSplit;

/// Resolves a -1 among split lengths against the axis length, checking that they add up.
fn resolve_lengths(lengths: &[i64], dim: Option<u64>) -> Result<Vec<Dimension>> {
    crate::ensure!(
        lengths.iter().filter(|&&l| l == -1).count() <= 1,
        Shape,
        "split_lengths {lengths:?} has more than one -1"
    );
    let known: u64 = lengths
        .iter()
        .filter(|&&l| l != -1)
        .map(|&l| to_len(l, "a split length").map(|v| v as u64))
        .sum::<Result<u64>>()?;
    let rest = match dim {
        Some(d) => {
            let has_rest = lengths.contains(&-1);
            crate::ensure!(
                if has_rest { known <= d } else { known == d },
                Shape,
                "split_lengths {lengths:?} do not add up to the axis length {d}"
            );
            Dimension::new(d - known)
        }
        None => Dimension::DYNAMIC,
    };
    Ok(lengths
        .iter()
        .map(|&l| {
            if l == -1 {
                rest
            } else {
                Dimension::new(l as u64)
            }
        })
        .collect())
}

impl Op for VariadicSplit {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("VariadicSplit", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        check_int_input(&inputs[2], "split_lengths")?;
        let axis = known_axis(&inputs[0], &inputs[1], "VariadicSplit")?;
        let lengths = match known_i64s(&inputs[2]) {
            Some(l) => {
                let dim = axis.and_then(|a| inputs[0].shape.dims().and_then(|d| d[a].get()));
                resolve_lengths(&l, dim)?
            }
            None => match inputs[2].shape.to_static().as_deref() {
                Some([n]) => vec![Dimension::DYNAMIC; *n],
                _ => crate::bail!(
                    Shape,
                    "split_lengths has shape {}, expected a static 1-D shape",
                    inputs[2].shape
                ),
            },
        };
        Ok(split_descs(&inputs[0], axis, &lengths))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let x = inputs[0];
        let a = normalize_axis(int_scalar(inputs[1], "axis")?, x.rank(), "VariadicSplit")?;
        let lengths = resolve_lengths(
            &int_list(inputs[2], "split_lengths")?,
            Some(x.shape()[a] as u64),
        )?;
        let lengths: Vec<usize> = lengths
            .iter()
            .map(|d| d.get().unwrap_or(0) as usize)
            .collect();
        split_pieces(x, a, &lengths)
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::testing::*;
    use super::*;

    #[test]
    fn concat() {
        let c = Concat { axis: -1 };
        assert_eq!(
            shape_of(&c, &[st(&[2, 3]), st(&[2, 0]), ps("?,4")]),
            "[2,7]"
        );
        assert_eq!(shape_of(&c, &[ps("..."), st(&[2, 3])]), "[2,3..]");
        assert!(c.infer(&[st(&[2, 3]), st(&[3, 3])]).is_err());
        assert!(
            c.infer(&[
                st(&[2, 3]),
                TensorDesc::new(ElementType::I32, PartialShape::from_static(&[2, 3]))
            ])
            .is_err()
        );
        let y = eval1(&c, &[iota(&[2, 2]), iota(&[2, 1]), iota(&[2, 0])]);
        assert_eq!(y.to_f64_vec(), vec![0., 1., 0., 2., 3., 1.]);
        let y = eval1(&Concat { axis: 0 }, &[iota(&[1, 2]), iota(&[2, 2])]);
        assert_eq!(y.to_f64_vec(), vec![0., 1., 0., 1., 2., 3.]);
    }

    #[test]
    fn split() {
        let s = Split { num_splits: 2 };
        let out = s.infer(&[ps("?,4"), cs(-1)]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].shape.to_string(), "[?,2]");
        assert!(s.infer(&[st(&[3]), cs(0)]).is_err());
        let r = s
            .evaluate(&[&iota(&[2, 4]), &Tensor::scalar(1i64)])
            .unwrap();
        assert_eq!(r[1].to_f64_vec(), vec![2., 3., 6., 7.]);
        let v = VariadicSplit;
        let out = v.infer(&[st(&[2, 7]), cs(1), ci(&[2, -1, 1])]).unwrap();
        assert_eq!(out[1].shape.to_string(), "[2,4]");
        let out = v.infer(&[st(&[2, 7]), cs(1), dyn_i(&[2])]).unwrap();
        assert_eq!(out[0].shape.to_string(), "[2,?]");
        assert!(v.infer(&[st(&[2, 7]), cs(1), ci(&[2, 2])]).is_err());
        let r = v
            .evaluate(&[&iota(&[5]), &Tensor::scalar(0i64), &ti(&[-1, 0, 2])])
            .unwrap();
        assert_eq!(r[0].to_f64_vec(), vec![0., 1., 2.]);
        assert_eq!(r[1].shape(), &[0]);
        assert_eq!(r[2].to_f64_vec(), vec![3., 4.]);
    }
}
