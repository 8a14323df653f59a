//! Strided slicing: StridedSlice-1 (with its five masks) and Slice-8.

use super::args::{check_int_input, int_list, one_desc};
use super::elems::{flat_index, take};
use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::util::{check_input_count, known_i64s};
use crate::ops::{Op, TensorDesc, TypeInfo};

/// One axis of a slice: the first index, the step and the number of values taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisSlice {
    /// First index read.
    pub start: usize,
    /// Signed step.
    pub step: i64,
    /// Number of values.
    pub len: usize,
}

/// Python slicing of one axis of length `dim`; `None` bounds mean "from the start/to the end" in the
/// direction of `step`. Out-of-range bounds clamp.
pub fn slice_axis(
    dim: usize,
    begin: Option<i64>,
    end: Option<i64>,
    step: i64,
) -> Result<AxisSlice> {
    crate::ensure!(step != 0, Shape, "slice step is 0");
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (b, len) = if step > 0 {
        let b = begin.map_or(0, |v| norm(v).clamp(0, d));
        let e = end.map_or(d, |v| norm(v).clamp(0, d));
        (
            b,
            if e > b {
                ((e - b) as u64).div_ceil(step as u64) as i64
            } else {
                0
            },
        )
    } else {
        let b = begin.map_or(d - 1, |v| norm(v).clamp(-1, d - 1));
        let e = end.map_or(-1, |v| norm(v).clamp(-1, d - 1));
        (
            b,
            if b > e {
                ((b - e) as u64).div_ceil(step.unsigned_abs()) as i64
            } else {
                0
            },
        )
    };
    Ok(AxisSlice {
        start: b.max(0) as usize,
        step,
        len: len as usize,
    })
}

/// True when a slice keeps the whole axis whatever its length (so a dynamic dimension carries over).
fn keeps_all(begin: Option<i64>, end: Option<i64>, step: i64) -> bool {
    step == 1 && begin.unwrap_or(0) == 0 && end.is_none_or(|e| e >= i64::from(i32::MAX))
}

/// The output dimension of slicing `dim`.
fn slice_dim(
    dim: Dimension,
    begin: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
) -> Result<Dimension> {
    match (dim.get(), step) {
        (Some(d), Some(s)) => Ok(Dimension::new(
            slice_axis(d as usize, begin, end, s)?.len as u64,
        )),
        (None, Some(s)) if keeps_all(begin, end, s) => Ok(dim),
        _ => Ok(Dimension::DYNAMIC),
    }
}

/// Reads `x` at `slices` (one per axis) into `out_shape`, which has as many values as the slices select.
fn gather_slices(x: &Tensor, slices: &[AxisSlice], out_shape: &[usize]) -> Result<Tensor> {
    let sliced: Vec<usize> = slices.iter().map(|s| s.len).collect();
    let mut src = vec![0; slices.len()];
    let t = take(x, &sliced, None, |idx| {
        for ((s, sl), &i) in src.iter_mut().zip(slices).zip(idx) {
            *s = (sl.start as i64 + sl.step * i as i64) as usize;
        }
        Ok(Some(flat_index(&src, x.shape())))
    })?;
    t.reshaped(out_shape)
}

/// What one StridedSlice entry does to the output.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// Inserts an axis of length 1.
    NewAxis,
    /// Slices input axis `axis` by entry `entry` (`None`: keep it whole), removing it when `shrink`.
    Axis {
        axis: usize,
        entry: Option<usize>,
        shrink: bool,
    },
}

/// StridedSlice-1: numpy-style slicing with begin/end/new-axis/shrink/ellipsis masks (1 marks an entry).
#[derive(Debug, Clone, Default)]
pub struct StridedSlice {
    /// 1 ignores `begin[i]` (start from the beginning).
    pub begin_mask: Vec<i64>,
    /// 1 ignores `end[i]` (run to the end).
    pub end_mask: Vec<i64>,
    /// 1 inserts a new axis of length 1.
    pub new_axis_mask: Vec<i64>,
    /// 1 takes the single index `begin[i]` and removes the axis.
    pub shrink_axis_mask: Vec<i64>,
    /// 1 stands for all axes not otherwise named.
    pub ellipsis_mask: Vec<i64>,
}

fn bit(mask: &[i64], i: usize) -> bool {
    mask.get(i).is_some_and(|&m| m != 0)
}

/// Known begin/end/strides values (each `None` when not known).
struct Bounds {
    begin: Option<Vec<i64>>,
    end: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

impl StridedSlice {
    /// Resolves the masks of `n` entries against an input of rank `rank`.
    fn plan(&self, rank: usize, n: usize) -> Result<Vec<Item>> {
        let ellipses: Vec<usize> = (0..n).filter(|&i| bit(&self.ellipsis_mask, i)).collect();
        crate::ensure!(
            ellipses.len() <= 1,
            Shape,
            "ellipsis_mask {:?} marks more than one entry",
            self.ellipsis_mask
        );
        let ellipsis = ellipses.first().copied();
        let consumed = (0..n)
            .filter(|&i| Some(i) != ellipsis && !bit(&self.new_axis_mask, i))
            .count();
        crate::ensure!(
            consumed <= rank,
            Shape,
            "{n} slice entries address {consumed} axes of a rank-{rank} input"
        );
        let mut items = Vec::with_capacity(rank + n);
        let mut axis = 0;
        for i in 0..n {
            if Some(i) == ellipsis {
                for _ in 0..rank - consumed {
                    items.push(Item::Axis {
                        axis,
                        entry: None,
                        shrink: false,
                    });
                    axis += 1;
                }
            } else if bit(&self.new_axis_mask, i) {
                items.push(Item::NewAxis);
            } else {
                items.push(Item::Axis {
                    axis,
                    entry: Some(i),
                    shrink: bit(&self.shrink_axis_mask, i),
                });
                axis += 1;
            }
        }
        items.extend((axis..rank).map(|axis| Item::Axis {
            axis,
            entry: None,
            shrink: false,
        }));
        Ok(items)
    }

    /// The begin, end and step of entry `e` (masked bounds are `None`; unknown values make the step `None`).
    fn entry(&self, b: &Bounds, e: usize) -> (Option<i64>, Option<i64>, Option<i64>) {
        let get = |v: &Option<Vec<i64>>, masked: bool| {
            if masked {
                None
            } else {
                v.as_ref().and_then(|v| v.get(e).copied())
            }
        };
        let begin = get(&b.begin, bit(&self.begin_mask, e));
        let end = get(&b.end, bit(&self.end_mask, e));
        let known = (bit(&self.begin_mask, e) || b.begin.is_some())
            && (bit(&self.end_mask, e) || b.end.is_some());
        let step = match &b.strides {
            Some(s) => s.get(e).copied(),
            None => None,
        };
        (begin, end, step.filter(|_| known))
    }

    /// Output dimensions for input dimensions `dims`.
    fn out_dims(&self, dims: &[Dimension], n: usize, b: &Bounds) -> Result<Vec<Dimension>> {
        let mut out = Vec::new();
        for item in self.plan(dims.len(), n)? {
            match item {
                Item::NewAxis => out.push(Dimension::new(1)),
                Item::Axis {
                    axis, entry: None, ..
                } => out.push(dims[axis]),
                Item::Axis { shrink: true, .. } => {}
                Item::Axis {
                    axis,
                    entry: Some(e),
                    ..
                } => {
                    let (begin, end, step) = self.entry(b, e);
                    out.push(slice_dim(dims[axis], begin, end, step)?);
                }
            }
        }
        Ok(out)
    }
}

impl Op for StridedSlice {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("StridedSlice", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v;
            "begin_mask" => begin_mask, "end_mask" => end_mask, "new_axis_mask" => new_axis_mask,
            "shrink_axis_mask" => shrink_axis_mask, "ellipsis_mask" => ellipsis_mask)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 4)?;
        for (d, what) in inputs[1..].iter().zip(["begin", "end", "strides"]) {
            check_int_input(d, what)?;
        }
        let et = inputs[0].element_type;
        let n = match inputs[1].shape.to_static().as_deref() {
            Some([n]) => *n,
            _ => return Ok(one_desc(et, PartialShape::dynamic_rank())),
        };
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(one_desc(et, PartialShape::dynamic_rank()));
        };
        let bounds = Bounds {
            begin: known_i64s(&inputs[1]),
            end: known_i64s(&inputs[2]),
            strides: match inputs.get(3) {
                Some(s) => known_i64s(s),
                None => Some(vec![1; n]),
            },
        };
        for v in [&bounds.begin, &bounds.end, &bounds.strides]
            .into_iter()
            .flatten()
        {
            crate::ensure!(
                v.len() == n,
                Shape,
                "begin, end and strides have different lengths ({n} and {})",
                v.len()
            );
        }
        Ok(one_desc(
            et,
            PartialShape::new(self.out_dims(dims, n, &bounds)?),
        ))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 4)?;
        let x = inputs[0];
        let begin = int_list(inputs[1], "begin")?;
        let end = int_list(inputs[2], "end")?;
        let strides = match inputs.get(3) {
            Some(s) => int_list(s, "strides")?,
            None => vec![1; begin.len()],
        };
        let n = begin.len();
        crate::ensure!(
            end.len() == n && strides.len() == n,
            Shape,
            "begin, end and strides have different lengths"
        );
        let b = Bounds {
            begin: Some(begin.clone()),
            end: Some(end),
            strides: Some(strides),
        };
        let mut slices: Vec<AxisSlice> = Vec::with_capacity(x.rank());
        let mut out = Vec::new();
        for item in self.plan(x.rank(), n)? {
            let Item::Axis {
                axis,
                entry,
                shrink,
            } = item
            else {
                out.push(1);
                continue;
            };
            let dim = x.shape()[axis];
            let s = match entry {
                None => slice_axis(dim, None, None, 1)?,
                Some(e) if shrink => {
                    let i = if bit(&self.begin_mask, e) {
                        0
                    } else {
                        begin[e]
                    };
                    let start = super::elems::wrap_index(i, dim).ok_or_else(|| {
                        Error::Shape(format!(
                            "shrink index {i} is out of range for axis {axis} of length {dim}"
                        ))
                    })?;
                    AxisSlice {
                        start,
                        step: 1,
                        len: 1,
                    }
                }
                Some(e) => {
                    let (begin, end, step) = self.entry(&b, e);
                    slice_axis(dim, begin, end, step.unwrap_or(1))?
                }
            };
            if !shrink {
                out.push(s.len);
            }
            slices.push(s);
        }
        Ok(vec![gather_slices(x, &slices, &out)?])
    }
}

/// Slice-8: `start:stop:step` on the listed axes (all leading axes when `axes` is absent).
#[derive(Debug, Clone)]
pub struct Slice;

impl Slice {
    /// What each axis of the data input (`inputs[0]`) keeps, from the start, stop, step and optional axes
    /// inputs (the reference and the CPU kernel both slice by it).
    pub fn axis_slices(inputs: &[&Tensor]) -> Result<Vec<AxisSlice>> {
        check_input_count(inputs, 4, 5)?;
        let x = inputs[0];
        let start = int_list(inputs[1], "start")?;
        let stop = int_list(inputs[2], "stop")?;
        let step = int_list(inputs[3], "step")?;
        let n = start.len();
        crate::ensure!(
            stop.len() == n && step.len() == n,
            Shape,
            "start, stop and step have different lengths"
        );
        let axes = slice_axes(
            inputs.get(4).map(|a| int_list(a, "axes")).transpose()?,
            n,
            x.rank(),
        )?;
        let mut slices: Vec<AxisSlice> = x
            .shape()
            .iter()
            .map(|&d| slice_axis(d, None, None, 1))
            .collect::<Result<_>>()?;
        for (k, &a) in axes.iter().enumerate() {
            slices[a] = slice_axis(x.shape()[a], Some(start[k]), Some(stop[k]), step[k])?;
        }
        Ok(slices)
    }
}

/// The axes Slice addresses, normalised, checking for repeats.
fn slice_axes(axes: Option<Vec<i64>>, n: usize, rank: usize) -> Result<Vec<usize>> {
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&v| normalize_axis(v, rank, "Slice"))
            .collect::<Result<_>>()?,
        None => (0..n).collect(),
    };
    crate::ensure!(
        axes.len() == n,
        Shape,
        "Slice has {n} starts but {} axes",
        axes.len()
    );
    let mut sorted = axes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    crate::ensure!(
        sorted.len() == axes.len(),
        Shape,
        "Slice axes {axes:?} repeat an axis"
    );
    crate::ensure!(
        sorted.last().is_none_or(|&a| a < rank),
        Shape,
        "Slice addresses {n} axes of a rank-{rank} input"
    );
    Ok(axes)
}

impl Op for Slice {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Slice", "opset8")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 4, 5)?;
        for (d, what) in inputs[1..].iter().zip(["start", "stop", "step", "axes"]) {
            check_int_input(d, what)?;
        }
        let et = inputs[0].element_type;
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(one_desc(et, PartialShape::dynamic_rank()));
        };
        let n = match inputs[1].shape.to_static().as_deref() {
            Some([n]) => *n,
            _ => return Ok(one_desc(et, PartialShape::dynamic_of_rank(dims.len()))),
        };
        let axes = match inputs.get(4) {
            Some(a) => match known_i64s(a) {
                Some(v) => slice_axes(Some(v), n, dims.len())?,
                None => return Ok(one_desc(et, PartialShape::dynamic_of_rank(dims.len()))),
            },
            None => slice_axes(None, n, dims.len())?,
        };
        let (start, stop, step) = (
            known_i64s(&inputs[1]),
            known_i64s(&inputs[2]),
            known_i64s(&inputs[3]),
        );
        let mut out = dims.to_vec();
        for (k, &a) in axes.iter().enumerate() {
            let at = |v: &Option<Vec<i64>>| v.as_ref().and_then(|v| v.get(k).copied());
            let (b, e, s) = (at(&start), at(&stop), at(&step));
            out[a] = if b.is_some() && e.is_some() {
                slice_dim(dims[a], b, e, s)?
            } else {
                Dimension::DYNAMIC
            };
        }
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 4, 5)?;
        let x = inputs[0];
        let slices = Slice::axis_slices(inputs)?;
        let out: Vec<usize> = slices.iter().map(|s| s.len).collect();
        Ok(vec![gather_slices(x, &slices, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::testing::*;
    use super::*;

    #[test]
    fn python_slicing() {
        let s = |b, e, st| slice_axis(5, b, e, st).map(|s| (s.start, s.len)).unwrap();
        assert_eq!(s(Some(1), Some(4), 2), (1, 2));
        assert_eq!(s(None, None, -1), (4, 5));
        assert_eq!(s(Some(-2), None, 1), (3, 2));
        assert_eq!(s(Some(10), Some(-10), -2), (4, 3));
        assert_eq!(s(Some(3), Some(1), 1), (3, 0));
        assert_eq!(s(Some(0), Some(i64::MAX), 1), (0, 5));
        assert_eq!(s(Some(-1), Some(i64::MIN), -1), (4, 5));
        assert!(slice_axis(5, None, None, 0).is_err());
    }

    fn ss(begin: &[i64], end: &[i64], new: &[i64], shrink: &[i64], ell: &[i64]) -> StridedSlice {
        StridedSlice {
            begin_mask: begin.to_vec(),
            end_mask: end.to_vec(),
            new_axis_mask: new.to_vec(),
            shrink_axis_mask: shrink.to_vec(),
            ellipsis_mask: ell.to_vec(),
        }
    }

    #[test]
    fn strided_slice_shapes() {
        // x[:, 0] on [?, 3, 4]
        let op = ss(&[1, 0], &[1, 0], &[], &[0, 1], &[]);
        assert_eq!(
            shape_of(&op, &[ps("?,3,4"), ci(&[0, 0]), ci(&[0, 1]), ci(&[1, 1])]),
            "[?,4]"
        );
        // x[..., None, 1:3] on [2, 3, 4]
        let op = ss(&[0, 0, 0], &[0, 0, 0], &[0, 1, 0], &[], &[1, 0, 0]);
        assert_eq!(
            shape_of(
                &op,
                &[
                    st(&[2, 3, 4]),
                    ci(&[0, 0, 1]),
                    ci(&[0, 0, 3]),
                    ci(&[1, 1, 1])
                ]
            ),
            "[2,3,1,2]"
        );
        assert_eq!(
            shape_of(
                &op,
                &[st(&[2, 3, 4]), dyn_i(&[3]), dyn_i(&[3]), dyn_i(&[3])]
            ),
            "[2,3,1,?]"
        );
        assert!(
            ss(&[], &[], &[], &[], &[1, 1])
                .infer(&[st(&[2]), ci(&[0, 0]), ci(&[1, 1])])
                .is_err()
        );
    }

    #[test]
    fn strided_slice_values() {
        // x[::-1, 1] on arange(6).reshape(2, 3) = [4, 1]
        let op = ss(&[1, 0], &[1, 0], &[], &[0, 1], &[]);
        let y = eval1(
            &op,
            &[iota(&[2, 3]), ti(&[0, 1]), ti(&[0, 2]), ti(&[-1, 1])],
        );
        assert_eq!(y.shape(), &[2]);
        assert_eq!(y.to_f64_vec(), vec![4., 1.]);
        let op = ss(&[], &[], &[1], &[], &[]);
        let y = eval1(&op, &[iota(&[2]), ti(&[0]), ti(&[0])]);
        assert_eq!(y.shape(), &[1, 2]);
        let op = ss(&[], &[], &[], &[1], &[]);
        let bad = op.evaluate(&[&iota(&[2]), &ti(&[2]), &ti(&[3])]);
        assert!(bad.is_err());
    }

    #[test]
    fn slice8() {
        assert_eq!(
            shape_of(
                &Slice,
                &[st(&[4, 6]), ci(&[1]), ci(&[i64::MAX]), ci(&[2]), ci(&[-1])]
            ),
            "[4,3]"
        );
        assert_eq!(
            shape_of(&Slice, &[ps("?,6"), ci(&[0]), ci(&[i64::MAX]), ci(&[1])]),
            "[?,6]"
        );
        assert_eq!(
            shape_of(
                &Slice,
                &[ps("?,6"), dyn_i(&[1]), ci(&[3]), ci(&[1]), ci(&[1])]
            ),
            "[?,?]"
        );
        assert!(
            Slice
                .infer(&[
                    st(&[4, 6]),
                    ci(&[0, 0]),
                    ci(&[1, 1]),
                    ci(&[1, 1]),
                    ci(&[1, -1])
                ])
                .is_err()
        );
        let y = eval1(
            &Slice,
            &[
                iota(&[2, 3]),
                ti(&[-1]),
                ti(&[i64::MIN]),
                ti(&[-2]),
                ti(&[1]),
            ],
        );
        assert_eq!(y.to_f64_vec(), vec![2., 0., 5., 3.]);
    }
}
