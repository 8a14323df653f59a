//! Ops that only change the shape, never the bytes: Reshape, Squeeze, Unsqueeze.

use super::args::{dyn_rank, one_desc, static_out_shape};
use crate::error::Result;
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::util::{check_input_count, known_i64s};
use crate::ops::{Op, TensorDesc, TypeInfo};

/// Evaluates a shape-only op: the input's bytes under the shape inference computes from the actual values.
fn reshape_by_infer(op: &dyn Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let shape = static_out_shape(op, inputs)?;
    let x = inputs
        .first()
        .ok_or_else(|| crate::error::Error::InvalidArgument("missing data input".into()))?;
    Ok(vec![x.reshaped(&shape)?])
}

/// Reshape-1: a new shape with the same elements; `0` copies the input dimension when `special_zero`, one `-1`
/// is inferred.
#[derive(Debug, Clone, Default)]
pub struct Reshape {
    /// Whether a 0 in the target shape copies the input dimension at the same index.
    pub special_zero: bool,
}

/// The output shape of Reshape for a target shape given as integers.
pub fn reshape_dims(
    input: &PartialShape,
    target: &[i64],
    special_zero: bool,
) -> Result<PartialShape> {
    crate::ensure!(
        target.iter().filter(|&&t| t == -1).count() <= 1,
        Shape,
        "target shape {target:?} has more than one -1"
    );
    let mut out = Vec::with_capacity(target.len());
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            0 if special_zero => match input.dims() {
                Some(d) => *d.get(i).ok_or_else(|| {
                    crate::error::Error::Shape(format!(
                        "target shape {target:?} copies dimension {i} (special_zero) but the input {input} has rank {}",
                        d.len()
                    ))
                })?,
                None => Dimension::DYNAMIC,
            },
            -1 => Dimension::DYNAMIC,
            t if t < -1 => crate::bail!(Shape, "target shape {target:?} has the negative value {t}"),
            t => Dimension::new(t as u64),
        });
    }
    let total = input.to_static().map(|s| s.iter().product::<usize>());
    let known: Option<usize> = target
        .iter()
        .zip(&out)
        .filter(|(t, _)| **t != -1)
        .try_fold(1usize, |acc, (_, d)| {
            d.get().and_then(|v| acc.checked_mul(v as usize))
        });
    match (target.iter().position(|&t| t == -1), total, known) {
        (Some(p), Some(total), Some(known)) => {
            let v = if known == 0 {
                crate::ensure!(
                    total == 0,
                    Shape,
                    "cannot infer -1 in {target:?}: the other dimensions hold no element"
                );
                0
            } else {
                crate::ensure!(
                    total % known == 0,
                    Shape,
                    "cannot reshape {input} ({total} elements) to {target:?}"
                );
                total / known
            };
            out[p] = Dimension::new(v as u64);
        }
        (None, Some(total), Some(known)) => {
            crate::ensure!(
                total == known,
                Shape,
                "cannot reshape {input} ({total} elements) to {target:?} ({known} elements)"
            );
        }
        _ => {}
    }
    Ok(PartialShape::new(out))
}

impl Op for Reshape {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Reshape", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "special_zero" => special_zero)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let shape = match known_i64s(&inputs[1]) {
            Some(t) => reshape_dims(&inputs[0].shape, &t, self.special_zero)?,
            None => match inputs[1].shape.to_static().as_deref() {
                Some([n]) => PartialShape::dynamic_of_rank(*n),
                _ => PartialShape::dynamic_rank(),
            },
        };
        Ok(one_desc(inputs[0].element_type, shape))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        reshape_by_infer(self, inputs)
    }
}

/// Squeeze-1 and Squeeze-15: removes dimensions of length 1 (all of them, or those listed in `axes`).
#[derive(Debug, Clone)]
pub struct Squeeze {
    /// 15 for Squeeze-15, else 1.
    pub version: u32,
    /// Squeeze-15: axes whose dimension may not be 1 are skipped (dynamic ones make the rank dynamic).
    pub allow_axis_skip: bool,
}

impl Squeeze {
    /// The output shape for the given (optional) axes.
    fn squeeze_shape(&self, input: &PartialShape, axes: Option<&[i64]>) -> Result<PartialShape> {
        let Some(dims) = input.dims() else {
            return Ok(PartialShape::dynamic_rank());
        };
        let one = Dimension::new(1);
        let mut remove = vec![false; dims.len()];
        match axes.filter(|a| !a.is_empty()) {
            None => {
                for (r, d) in remove.iter_mut().zip(dims) {
                    if d.get() == Some(1) {
                        *r = true;
                    } else if d.is_dynamic() && d.compatible(&one) {
                        return Ok(PartialShape::dynamic_rank());
                    }
                }
            }
            Some(axes) => {
                for &a in axes {
                    let i = normalize_axis(a, dims.len(), "Squeeze")?;
                    let d = dims[i];
                    if d.get() == Some(1) {
                        remove[i] = true;
                    } else if d.is_dynamic() && d.compatible(&one) {
                        if self.allow_axis_skip {
                            return Ok(PartialShape::dynamic_rank());
                        }
                        remove[i] = true;
                    }
                }
            }
        }
        Ok(PartialShape::new(
            dims.iter()
                .zip(&remove)
                .filter(|(_, r)| !**r)
                .map(|(d, _)| *d)
                .collect(),
        ))
    }
}

impl Op for Squeeze {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "Squeeze",
            if self.version >= 15 {
                "opset15"
            } else {
                "opset1"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.version >= 15 {
            v.on("allow_axis_skip", &mut self.allow_axis_skip)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 2)?;
        let shape = match inputs.get(1) {
            None => self.squeeze_shape(&inputs[0].shape, None)?,
            Some(a) => match known_i64s(a) {
                Some(axes) => self.squeeze_shape(&inputs[0].shape, Some(&axes))?,
                None => PartialShape::dynamic_rank(),
            },
        };
        Ok(one_desc(inputs[0].element_type, shape))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        reshape_by_infer(self, inputs)
    }
}

/// Unsqueeze-1: inserts dimensions of length 1 at `axes` (normalised against the output rank; repeats ignored).
#[derive(Debug, Clone)]
pub struct Unsqueeze;

impl Op for Unsqueeze {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Unsqueeze", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let et = inputs[0].element_type;
        let (Some(dims), Some(mut axes)) = (inputs[0].shape.dims(), known_i64s(&inputs[1])) else {
            return Ok(dyn_rank(et));
        };
        axes.sort_unstable();
        axes.dedup();
        let out_rank = dims.len() + axes.len();
        let mut at: Vec<usize> = axes
            .iter()
            .map(|&a| normalize_axis(a, out_rank, "Unsqueeze"))
            .collect::<Result<_>>()?;
        at.sort_unstable();
        at.dedup();
        crate::ensure!(
            at.len() == axes.len(),
            Shape,
            "Unsqueeze axes {axes:?} name the same output axis twice"
        );
        let mut src = dims.iter();
        let out = (0..out_rank)
            .map(|i| {
                if at.contains(&i) {
                    Dimension::new(1)
                } else {
                    src.next().copied().unwrap_or(Dimension::DYNAMIC)
                }
            })
            .collect();
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        reshape_by_infer(self, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::testing::*;
    use super::*;

    #[test]
    fn reshape_shapes() {
        let r = Reshape { special_zero: true };
        assert_eq!(shape_of(&r, &[st(&[2, 3, 4]), ci(&[0, -1])]), "[2,12]");
        assert_eq!(shape_of(&r, &[ps("?,3,4"), ci(&[0, -1])]), "[?,?]");
        assert_eq!(shape_of(&r, &[ps("?,3,4"), ci(&[0, 3, 4])]), "[?,3,4]");
        assert_eq!(shape_of(&r, &[st(&[2, 3]), dyn_i(&[3])]), "[?,?,?]");
        assert_eq!(shape_of(&r, &[st(&[0, 3]), ci(&[-1, 0])]), "[0,3]");
        let r = Reshape {
            special_zero: false,
        };
        assert!(r.infer(&[st(&[2, 3]), ci(&[3, 0])]).is_err());
        assert!(r.infer(&[st(&[2, 3]), ci(&[4, -1])]).is_err());
        assert!(r.infer(&[st(&[2, 3]), ci(&[-1, -1])]).is_err());
        assert!(r.infer(&[st(&[2, 3]), ci(&[7])]).is_err());
    }

    #[test]
    fn reshape_values() {
        let x = Tensor::from_vec(&[2, 3], (0..6).map(|v| v as f32).collect()).unwrap();
        let y = eval1(
            &Reshape {
                special_zero: false,
            },
            &[x, ti(&[3, -1])],
        );
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_f64_vec(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn squeeze_shapes() {
        let v1 = Squeeze {
            version: 1,
            allow_axis_skip: false,
        };
        assert_eq!(shape_of(&v1, &[st(&[1, 3, 1])]), "[3]");
        assert_eq!(shape_of(&v1, &[st(&[1, 3, 1]), ci(&[-1])]), "[1,3]");
        assert_eq!(shape_of(&v1, &[st(&[1, 3]), ci(&[0, 1])]), "[3]");
        assert_eq!(shape_of(&v1, &[ps("?,3,1"), ci(&[0])]), "[3,1]");
        assert_eq!(shape_of(&v1, &[ps("?,3,1")]), "[...]");
        assert_eq!(shape_of(&v1, &[ps("2..5,3,1")]), "[2..5,3]");
        assert!(v1.infer(&[st(&[1, 3]), ci(&[2])]).is_err());
        let v15 = Squeeze {
            version: 15,
            allow_axis_skip: true,
        };
        assert_eq!(shape_of(&v15, &[ps("?,3,1"), ci(&[0])]), "[...]");
        let y = eval1(
            &v1,
            &[
                Tensor::zeros(crate::ir::ElementType::I8, &[1, 2, 1]),
                ti(&[0]),
            ],
        );
        assert_eq!(y.shape(), &[2, 1]);
    }

    #[test]
    fn unsqueeze_shapes() {
        let u = Unsqueeze;
        assert_eq!(shape_of(&u, &[st(&[2, 3]), ci(&[0, -1])]), "[1,2,3,1]");
        assert_eq!(shape_of(&u, &[st(&[2, 3]), ci(&[0, 0])]), "[1,2,3]");
        assert_eq!(shape_of(&u, &[ps("?,3"), ci(&[1])]), "[?,1,3]");
        assert_eq!(shape_of(&u, &[st(&[2]), dyn_i(&[1])]), "[...]");
        assert!(u.infer(&[st(&[2]), ci(&[3])]).is_err());
        let y = eval1(&u, &[Tensor::scalar(3.0f32), ti(&[0])]);
        assert_eq!(y.shape(), &[1]);
    }
}
