//! Ops that permute values: Transpose, DepthToSpace, SpaceToDepth, ShuffleChannels, Reverse, Roll.

use super::args::{dyn_rank, int_list, one_desc, static_out_shape};
use super::elems::{flat_index, take};
use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::util::{check_input_count, known_i64s};
use crate::ops::{Op, TensorDesc, TypeInfo};

/// The permutation Transpose applies: `order` itself, or the reversed axes when `order` is empty.
pub fn transpose_order(order: &[i64], rank: usize) -> Result<Vec<usize>> {
    if order.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    let bad = || {
        Error::Shape(format!(
            "Transpose order {order:?} is not a permutation of the {rank} axes"
        ))
    };
    crate::ensure!(
        order.len() == rank,
        Shape,
        "Transpose order {order:?} has {} values for rank {rank}",
        order.len()
    );
    let mut seen = vec![false; rank];
    order
        .iter()
        .map(|&o| {
            let a = usize::try_from(o)
                .ok()
                .filter(|&a| a < rank)
                .ok_or_else(bad)?;
            if std::mem::replace(&mut seen[a], true) {
                return Err(bad());
            }
            Ok(a)
        })
        .collect()
}

/// Transpose-1: permutes the axes by `input_order` (reversing them when it is empty).
#[derive(Debug, Clone)]
pub struct Transpose;

impl Op for Transpose {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Transpose", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let et = inputs[0].element_type;
        let Some(order) = known_i64s(&inputs[1]) else {
            let rank = inputs[0]
                .rank()
                .or(inputs[1].shape.to_static().and_then(|s| s.first().copied()));
            return Ok(match rank {
                Some(r) => one_desc(et, PartialShape::dynamic_of_rank(r)),
                None => dyn_rank(et),
            });
        };
        let Some(dims) = inputs[0].shape.dims() else {
            let r = if order.is_empty() {
                None
            } else {
                Some(order.len())
            };
            return Ok(r.map_or_else(
                || dyn_rank(et),
                |r| one_desc(et, PartialShape::dynamic_of_rank(r)),
            ));
        };
        let perm = transpose_order(&order, dims.len())?;
        Ok(one_desc(
            et,
            PartialShape::new(perm.iter().map(|&p| dims[p]).collect()),
        ))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        let perm = transpose_order(&int_list(inputs[1], "Transpose order")?, x.rank())?;
        let out: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
        let mut src = vec![0; x.rank()];
        Ok(vec![take(x, &out, None, |idx| {
            for (&p, &i) in perm.iter().zip(idx) {
                src[p] = i;
            }
            Ok(Some(flat_index(&src, x.shape())))
        })?])
    }
}

crate::attr_enum!(
    /// How DepthToSpace and SpaceToDepth split channels into blocks.
    SpaceMode { BlocksFirst => "blocks_first", DepthFirst => "depth_first" }
);

/// Which way values move between depth and space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToSpace,
    ToDepth,
}

/// DepthToSpace-1 and SpaceToDepth-1: move `block_size`^K channel blocks to or from the K spatial axes.
#[derive(Debug, Clone)]
pub struct DepthSpace {
    direction: Direction,
    /// Channel split order.
    pub mode: SpaceMode,
    /// Block edge length.
    pub block_size: i64,
}

impl DepthSpace {
    /// DepthToSpace-1 with default attributes.
    pub fn depth_to_space() -> DepthSpace {
        DepthSpace {
            direction: Direction::ToSpace,
            mode: SpaceMode::BlocksFirst,
            block_size: 1,
        }
    }
    /// SpaceToDepth-1 with default attributes.
    pub fn space_to_depth() -> DepthSpace {
        DepthSpace {
            direction: Direction::ToDepth,
            ..DepthSpace::depth_to_space()
        }
    }

    fn block(&self) -> Result<usize> {
        usize::try_from(self.block_size)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| {
                Error::Shape(format!(
                    "block_size is {}, expected a positive value",
                    self.block_size
                ))
            })
    }

    fn out_dims(&self, dims: &[Dimension]) -> Result<Vec<Dimension>> {
        crate::ensure!(
            dims.len() >= 3,
            Shape,
            "input rank is {}, expected at least 3",
            dims.len()
        );
        let b = self.block()? as u64;
        let k = (dims.len() - 2) as u32;
        let blocks = b
            .checked_pow(k)
            .ok_or_else(|| Error::Shape(format!("block_size {b} to the power {k} overflows")))?;
        let mut out = dims.to_vec();
        match self.direction {
            Direction::ToSpace => {
                if let Some(c) = dims[1].get() {
                    crate::ensure!(
                        c % blocks == 0,
                        Shape,
                        "channels {c} not divisible by block_size^{k} = {blocks}"
                    );
                    out[1] = Dimension::new(c / blocks);
                } else {
                    out[1] = Dimension::DYNAMIC;
                }
                for d in &mut out[2..] {
                    *d = d.mul(&Dimension::new(b));
                }
            }
            Direction::ToDepth => {
                out[1] = dims[1].mul(&Dimension::new(blocks));
                for d in &mut out[2..] {
                    *d = match d.get() {
                        Some(v) => {
                            crate::ensure!(
                                v % b == 0,
                                Shape,
                                "spatial dimension {v} not divisible by block_size {b}"
                            );
                            Dimension::new(v / b)
                        }
                        None => Dimension::DYNAMIC,
                    };
                }
            }
        }
        Ok(out)
    }
}

impl Op for DepthSpace {
    fn type_info(&self) -> TypeInfo {
        match self.direction {
            Direction::ToSpace => TypeInfo::new("DepthToSpace", "opset1"),
            Direction::ToDepth => TypeInfo::new("SpaceToDepth", "opset1"),
        }
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "block_size" => block_size, "mode" => mode)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        let et = inputs[0].element_type;
        match inputs[0].shape.dims() {
            Some(d) => Ok(one_desc(et, PartialShape::new(self.out_dims(d)?))),
            None => Ok(dyn_rank(et)),
        }
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let x = inputs[0];
        let b = self.block()?;
        let k = x.rank() - 2;
        let blocks = b.pow(k as u32);
        // `space` is the shape with the larger spatial axes (the output of DepthToSpace, the input of SpaceToDepth).
        let (space, depth) = match self.direction {
            Direction::ToSpace => (out.clone(), x.shape().to_vec()),
            Direction::ToDepth => (x.shape().to_vec(), out.clone()),
        };
        let c = space[1];
        // Maps an index of the space-shaped tensor to the flat index of the matching depth-shaped element.
        let depth_of = |idx: &[usize]| {
            let block = idx[2..].iter().fold(0, |acc, &y| acc * b + y % b);
            let ch = match self.mode {
                SpaceMode::BlocksFirst => block * c + idx[1],
                SpaceMode::DepthFirst => idx[1] * blocks + block,
            };
            let mut d = vec![idx[0], ch];
            d.extend(idx[2..].iter().map(|&y| y / b));
            flat_index(&d, &depth)
        };
        let t = match self.direction {
            Direction::ToSpace => take(x, &out, None, |idx| Ok(Some(depth_of(idx))))?,
            Direction::ToDepth => {
                // Inverse map: find the space index whose depth position is this output index.
                take(x, &out, None, |idx| {
                    let (block, ch) = match self.mode {
                        SpaceMode::BlocksFirst => (idx[1] / c, idx[1] % c),
                        SpaceMode::DepthFirst => (idx[1] % blocks, idx[1] / blocks),
                    };
                    let mut s = vec![idx[0], ch];
                    let mut rem = block;
                    let mut offs = vec![0; k];
                    for o in offs.iter_mut().rev() {
                        *o = rem % b;
                        rem /= b;
                    }
                    s.extend(idx[2..].iter().zip(&offs).map(|(&y, &o)| y * b + o));
                    Ok(Some(flat_index(&s, &space)))
                })?
            }
        };
        Ok(vec![t])
    }
}

/// ShuffleChannels-1: splits `axis` into `[group, n / group]` and transposes those two parts.
#[derive(Debug, Clone)]
pub struct ShuffleChannels {
    /// The axis to shuffle.
    pub axis: i64,
    /// Number of groups.
    pub group: i64,
}

impl Default for ShuffleChannels {
    fn default() -> Self {
        ShuffleChannels { axis: 1, group: 1 }
    }
}

impl Op for ShuffleChannels {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ShuffleChannels", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "axis" => axis, "group" => group)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        crate::ensure!(
            self.group >= 1,
            Shape,
            "group is {}, expected at least 1",
            self.group
        );
        if let Some(d) = inputs[0].shape.dims() {
            crate::ensure!(!d.is_empty(), Shape, "input must have rank at least 1");
            let a = normalize_axis(self.axis, d.len(), "ShuffleChannels")?;
            if let Some(n) = d[a].get() {
                crate::ensure!(
                    n % self.group as u64 == 0,
                    Shape,
                    "dimension {n} not divisible by group {}",
                    self.group
                );
            }
        }
        Ok(one_desc(inputs[0].element_type, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let x = inputs[0];
        let a = normalize_axis(self.axis, x.rank(), "ShuffleChannels")?;
        let g = self.group as usize;
        let per = out[a] / g;
        let mut src = vec![0; out.len()];
        Ok(vec![take(x, &out, None, |idx| {
            src.copy_from_slice(idx);
            src[a] = (idx[a] % g) * per + idx[a] / g;
            Ok(Some(flat_index(&src, &out)))
        })?])
    }
}

crate::attr_enum!(
    /// How Reverse reads its axes input.
    ReverseMode { Index => "index", Mask => "mask" }
);

/// Reverse-1: reverses the order of values along the given axes (indices, or a boolean mask per axis).
#[derive(Debug, Clone)]
pub struct Reverse {
    /// `index` or `mask`.
    pub mode: ReverseMode,
}

impl Reverse {
    fn axes(&self, v: &[i64], rank: usize) -> Result<Vec<bool>> {
        let mut flip = vec![false; rank];
        match self.mode {
            ReverseMode::Index => {
                for &a in v {
                    flip[normalize_axis(a, rank, "Reverse")?] = true;
                }
            }
            ReverseMode::Mask => {
                crate::ensure!(
                    v.len() == rank,
                    Shape,
                    "Reverse mask has {} values for rank {rank}",
                    v.len()
                );
                for (f, &m) in flip.iter_mut().zip(v) {
                    *f = m != 0;
                }
            }
        }
        Ok(flip)
    }
}

impl Op for Reverse {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Reverse", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "mode" => mode)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        if let (Some(r), Some(v)) = (inputs[0].rank(), known_i64s(&inputs[1])) {
            self.axes(&v, r)?;
        }
        Ok(one_desc(inputs[0].element_type, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        let v = if self.mode == ReverseMode::Mask {
            inputs[1].to_i64_vec()
        } else {
            int_list(inputs[1], "axes")?
        };
        let flip = self.axes(&v, x.rank())?;
        let shape = x.shape();
        let mut src = vec![0; shape.len()];
        Ok(vec![take(x, shape, None, |idx| {
            for (d, s) in src.iter_mut().enumerate() {
                *s = if flip[d] {
                    shape[d] - 1 - idx[d]
                } else {
                    idx[d]
                };
            }
            Ok(Some(flat_index(&src, shape)))
        })?])
    }
}

/// Roll-7: shifts values cyclically along axes (a scalar shift applies to every axis; repeated axes add up).
#[derive(Debug, Clone)]
pub struct Roll;

impl Op for Roll {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Roll", "opset7")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        for (d, what) in [(&inputs[1], "shift"), (&inputs[2], "axes")] {
            super::args::check_int_input(d, what)?;
        }
        if let (Some(s), Some(a)) = (known_i64s(&inputs[1]), known_i64s(&inputs[2])) {
            crate::ensure!(
                s.len() == 1 || s.len() == a.len(),
                Shape,
                "shift has {} values and axes {}; expected one shift or one per axis",
                s.len(),
                a.len()
            );
        }
        Ok(one_desc(inputs[0].element_type, inputs[0].shape.clone()))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let x = inputs[0];
        let shift = int_list(inputs[1], "shift")?;
        let axes = int_list(inputs[2], "axes")?;
        crate::ensure!(
            shift.len() == 1 || shift.len() == axes.len(),
            Shape,
            "shift has {} values and axes {}; expected one shift or one per axis",
            shift.len(),
            axes.len()
        );
        let shape = x.shape();
        let mut total = vec![0i64; shape.len()];
        for (i, &a) in axes.iter().enumerate() {
            let s = if shift.len() == 1 { shift[0] } else { shift[i] };
            let a = normalize_axis(a, shape.len(), "Roll")?;
            total[a] = total[a].wrapping_add(s);
        }
        let mut src = vec![0; shape.len()];
        Ok(vec![take(x, shape, None, |idx| {
            for d in 0..shape.len() {
                let n = shape[d] as i64;
                src[d] = (idx[d] as i64 - total[d]).rem_euclid(n) as usize;
            }
            Ok(Some(flat_index(&src, shape)))
        })?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::testing::*;
    use super::*;

    #[test]
    fn transpose() {
        assert_eq!(
            shape_of(&Transpose, &[st(&[2, 3, 4]), ci(&[2, 0, 1])]),
            "[4,2,3]"
        );
        assert_eq!(shape_of(&Transpose, &[st(&[2, 3, 4]), ci(&[])]), "[4,3,2]");
        assert_eq!(shape_of(&Transpose, &[ps("?,3"), dyn_i(&[2])]), "[?,?]");
        assert!(Transpose.infer(&[st(&[2, 3]), ci(&[0, 0])]).is_err());
        assert!(Transpose.infer(&[st(&[2, 3]), ci(&[0, 2])]).is_err());
        let y = eval1(&Transpose, &[iota(&[2, 3]), ti(&[1, 0])]);
        assert_eq!(y.to_f64_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let e = eval1(&Transpose, &[iota(&[0, 3]), ti(&[1, 0])]);
        assert_eq!(e.shape(), &[3, 0]);
    }

    #[test]
    fn depth_space_round_trip() {
        // Checked against openvino: depth_to_space of arange(16).reshape(1,4,2,2), block 2.
        let x = iota(&[1, 4, 2, 2]);
        let mut d2s = DepthSpace::depth_to_space();
        d2s.block_size = 2;
        let y = eval1(&d2s, std::slice::from_ref(&x));
        assert_eq!(y.shape(), &[1, 1, 4, 4]);
        let want = [
            0., 4., 1., 5., 8., 12., 9., 13., 2., 6., 3., 7., 10., 14., 11., 15.,
        ];
        assert_eq!(y.to_f64_vec(), want.to_vec());
        for mode in [SpaceMode::BlocksFirst, SpaceMode::DepthFirst] {
            let d2s = DepthSpace {
                mode,
                ..d2s.clone()
            };
            let s2d = DepthSpace {
                direction: Direction::ToDepth,
                ..d2s.clone()
            };
            let back = eval1(&s2d, &[eval1(&d2s, std::slice::from_ref(&x))]);
            assert_eq!(back.to_f64_vec(), x.to_f64_vec());
        }
        // Checked against openvino on arange(16).reshape(1,8,2,1), block 2.
        let x = iota(&[1, 8, 2, 1]);
        let bf = [
            0., 4., 8., 12., 1., 5., 9., 13., 2., 6., 10., 14., 3., 7., 11., 15.,
        ];
        let df = [
            0., 2., 4., 6., 1., 3., 5., 7., 8., 10., 12., 14., 9., 11., 13., 15.,
        ];
        for (mode, want) in [(SpaceMode::BlocksFirst, bf), (SpaceMode::DepthFirst, df)] {
            let y = eval1(
                &DepthSpace {
                    mode,
                    ..d2s.clone()
                },
                std::slice::from_ref(&x),
            );
            assert_eq!(y.shape(), &[1, 2, 4, 2]);
            assert_eq!(y.to_f64_vec(), want.to_vec());
        }
        assert!(d2s.infer(&[st(&[1, 3, 2, 2])]).is_err());
        assert_eq!(
            shape_of(
                &DepthSpace {
                    direction: Direction::ToDepth,
                    ..d2s
                },
                &[ps("?,3,4,?")]
            ),
            "[?,12,2,?]"
        );
    }

    #[test]
    fn shuffle_reverse_roll() {
        let sc = ShuffleChannels { axis: -1, group: 2 };
        let y = eval1(&sc, &[iota(&[1, 6])]);
        assert_eq!(y.to_f64_vec(), vec![0., 3., 1., 4., 2., 5.]);
        assert!(sc.infer(&[st(&[1, 5])]).is_err());
        let r = Reverse {
            mode: ReverseMode::Index,
        };
        let y = eval1(&r, &[iota(&[2, 3]), ti(&[-1])]);
        assert_eq!(y.to_f64_vec(), vec![2., 1., 0., 5., 4., 3.]);
        let rm = Reverse {
            mode: ReverseMode::Mask,
        };
        let mask = Tensor::from_vec(&[2], vec![1u8, 0]).unwrap();
        let y = eval1(&rm, &[iota(&[2, 3]), mask]);
        assert_eq!(y.to_f64_vec(), vec![3., 4., 5., 0., 1., 2.]);
        let y = eval1(&Roll, &[iota(&[2, 3]), ti(&[1]), ti(&[0, 1])]);
        assert_eq!(y.to_f64_vec(), vec![5., 3., 4., 2., 0., 1.]);
        let y = eval1(&Roll, &[iota(&[5]), ti(&[-2]), ti(&[0])]);
        assert_eq!(y.to_f64_vec(), vec![2., 3., 4., 0., 1.]);
        assert!(
            Roll.infer(&[st(&[2, 3]), ci(&[1, 2]), ci(&[0, 1, 1])])
                .is_err()
        );
    }
}
