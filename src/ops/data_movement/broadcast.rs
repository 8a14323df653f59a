//! Ops that repeat values: Broadcast-1/3 and Tile-1.

use super::args::{check_int_input, int_list, one_desc, static_out_shape};
use super::elems::{flat_index, take};
use crate::error::{Error, Result};
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::util::{broadcast_partial, check_input_count, known_i64s};
use crate::ops::{Op, TensorDesc, TypeInfo};

crate::attr_enum!(
    /// How Broadcast aligns the data with the target shape.
    BroadcastMode {
        /// Numpy rules, the output is exactly the target shape.
        Numpy => "numpy",
        /// `axes_mapping` says where each data axis goes.
        Explicit => "explicit" | "none",
        /// Numpy rules in both directions (Broadcast-3 only).
        Bidirectional => "bidirectional",
        /// PaddlePaddle rules (trailing alignment, as numpy here).
        Pdpd => "pdpd"
    }
);

/// Broadcast-1 and Broadcast-3: replicates the data to a target shape.
#[derive(Debug, Clone)]
pub struct Broadcast {
    /// 1 or 3.
    pub version: u32,
    /// Alignment rule.
    pub mode: BroadcastMode,
}

/// Broadcast-1's spelling of the mode: explicit is written `none`.
struct Broadcast1Mode(BroadcastMode);

impl crate::ir::Attribute for Broadcast1Mode {
    fn get(&self) -> crate::ir::AttrValue {
        let s = if self.0 == BroadcastMode::Explicit {
            "none"
        } else {
            self.0.as_str()
        };
        crate::ir::AttrValue::Str(s.to_string())
    }
    fn set(&mut self, v: crate::ir::AttrValue) -> Result<()> {
        self.0.set(v)
    }
}

/// For each data axis, the output axis it lands on.
fn axis_map(
    mode: BroadcastMode,
    data_rank: usize,
    out_rank: usize,
    mapping: Option<&[i64]>,
) -> Result<Vec<usize>> {
    if mode != BroadcastMode::Explicit {
        crate::ensure!(
            data_rank <= out_rank,
            Shape,
            "data rank {data_rank} exceeds the target rank {out_rank}"
        );
        return Ok((0..data_rank).map(|i| i + out_rank - data_rank).collect());
    }
    let m =
        mapping.ok_or_else(|| Error::Shape("explicit mode needs the axes_mapping input".into()))?;
    crate::ensure!(
        m.len() == data_rank,
        Shape,
        "axes_mapping has {} values for data rank {data_rank}",
        m.len()
    );
    let axes: Vec<usize> = m
        .iter()
        .map(|&a| usize::try_from(a).ok().filter(|&a| a < out_rank))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::Shape(format!(
                "axes_mapping {m:?} is out of range for target rank {out_rank}"
            ))
        })?;
    crate::ensure!(
        axes.windows(2).all(|w| w[0] < w[1]),
        Shape,
        "axes_mapping {m:?} is not increasing"
    );
    Ok(axes)
}

impl Broadcast {
    fn out_shape(
        &self,
        data: &PartialShape,
        target: &[i64],
        mapping: Option<&[i64]>,
    ) -> Result<PartialShape> {
        let target = PartialShape::new(
            target
                .iter()
                .map(|&t| Dimension::from_i64(t))
                .collect::<Result<_>>()?,
        );
        if self.mode == BroadcastMode::Bidirectional {
            return broadcast_partial(data, &target);
        }
        let (Some(d), Some(t)) = (data.dims(), target.dims()) else {
            return Ok(target);
        };
        let map = axis_map(self.mode, d.len(), t.len(), mapping)?;
        for (i, &j) in map.iter().enumerate() {
            let ok = d[i].get() == Some(1) || d[i].compatible(&t[j]);
            crate::ensure!(
                ok,
                Shape,
                "data shape {data} does not broadcast to the target {target} (axis {i})"
            );
        }
        Ok(target)
    }
}

impl Op for Broadcast {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "Broadcast",
            if self.version >= 3 {
                "opset3"
            } else {
                "opset1"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.version >= 3 {
            return v.on("mode", &mut self.mode);
        }
        let mut spelled = Broadcast1Mode(self.mode);
        v.on("mode", &mut spelled)?;
        self.mode = spelled.0;
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let n = if self.mode == BroadcastMode::Explicit {
            3
        } else {
            2
        };
        check_input_count(inputs, n, 3)?;
        crate::ensure!(
            self.version >= 3 || self.mode != BroadcastMode::Bidirectional,
            Shape,
            "Broadcast-1 has no bidirectional mode"
        );
        check_int_input(&inputs[1], "target_shape")?;
        let et = inputs[0].element_type;
        let mapping = if n == 3 {
            known_i64s(&inputs[2])
        } else {
            Some(vec![])
        };
        if let (Some(t), Some(m)) = (known_i64s(&inputs[1]), mapping) {
            return Ok(one_desc(
                et,
                self.out_shape(&inputs[0].shape, &t, Some(&m))?,
            ));
        }
        let rank = match (
            inputs[1].shape.to_static().as_deref(),
            self.mode,
            inputs[0].rank(),
        ) {
            (Some([n]), BroadcastMode::Bidirectional, Some(r)) => Some((*n).max(r)),
            (Some([_]), BroadcastMode::Bidirectional, None) => None,
            (Some([n]), _, _) => Some(*n),
            _ => None,
        };
        Ok(one_desc(
            et,
            rank.map_or_else(PartialShape::dynamic_rank, PartialShape::dynamic_of_rank),
        ))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let x = inputs[0];
        let mapping = match inputs.get(2) {
            Some(m) if self.mode == BroadcastMode::Explicit => Some(int_list(m, "axes_mapping")?),
            _ => None,
        };
        let map = axis_map(self.mode, x.rank(), out.len(), mapping.as_deref())?;
        Ok(vec![repeat_into(x, &out, &map)?])
    }
}

/// Replicates `x` into `out`, data axis `i` landing on output axis `map[i]` (length-1 axes repeat; others
/// index modulo their length, which is the identity when lengths match).
fn repeat_into(x: &Tensor, out: &[usize], map: &[usize]) -> Result<Tensor> {
    let shape = x.shape();
    let mut src = vec![0; shape.len()];
    take(x, out, None, |idx| {
        for (i, s) in src.iter_mut().enumerate() {
            *s = idx[map[i]] % shape[i].max(1);
        }
        Ok(Some(flat_index(&src, shape)))
    })
}

/// Tile-1: repeats the data `repeats[i]` times along each axis (the shorter of rank and repeats is padded
/// with leading ones).
#[derive(Debug, Clone)]
pub struct Tile;

impl Op for Tile {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Tile", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_int_input(&inputs[1], "repeats")?;
        let et = inputs[0].element_type;
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(one_desc(et, PartialShape::dynamic_rank()));
        };
        let Some(reps) = known_i64s(&inputs[1]) else {
            return Ok(one_desc(
                et,
                match inputs[1].shape.to_static().as_deref() {
                    Some([n]) => PartialShape::dynamic_of_rank((*n).max(dims.len())),
                    _ => PartialShape::dynamic_rank(),
                },
            ));
        };
        let rank = dims.len().max(reps.len());
        let one = Dimension::new(1);
        let out = (0..rank)
            .map(|i| {
                let d = if i + dims.len() >= rank {
                    dims[i + dims.len() - rank]
                } else {
                    one
                };
                let r = if i + reps.len() >= rank {
                    reps[i + reps.len() - rank]
                } else {
                    1
                };
                let r = u64::try_from(r)
                    .map_err(|_| Error::Shape(format!("repeats {reps:?} has a negative value")))?;
                Ok(d.mul(&Dimension::new(r)))
            })
            .collect::<Result<_>>()?;
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let x = inputs[0];
        let map: Vec<usize> = (0..x.rank()).map(|i| i + out.len() - x.rank()).collect();
        Ok(vec![repeat_into(x, &out, &map)?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::testing::*;
    use super::*;

    fn bc(version: u32, mode: BroadcastMode) -> Broadcast {
        Broadcast { version, mode }
    }

    #[test]
    fn broadcast_shapes() {
        let np = bc(3, BroadcastMode::Numpy);
        assert_eq!(shape_of(&np, &[st(&[3, 1]), ci(&[2, 3, 4])]), "[2,3,4]");
        assert!(np.infer(&[st(&[3, 1]), ci(&[2, 1, 4])]).is_err());
        assert_eq!(shape_of(&np, &[st(&[3, 1]), dyn_i(&[4])]), "[?,?,?,?]");
        let bi = bc(3, BroadcastMode::Bidirectional);
        assert_eq!(shape_of(&bi, &[st(&[3, 1]), ci(&[2, 1, 4])]), "[2,3,4]");
        assert!(
            bc(1, BroadcastMode::Bidirectional)
                .infer(&[st(&[3]), ci(&[3])])
                .is_err()
        );
        let ex = bc(1, BroadcastMode::Explicit);
        assert_eq!(
            shape_of(&ex, &[st(&[3]), ci(&[2, 3, 4]), ci(&[1])]),
            "[2,3,4]"
        );
        assert!(ex.infer(&[st(&[3]), ci(&[2, 3, 4]), ci(&[2])]).is_err());
    }

    #[test]
    fn broadcast_values() {
        let y = eval1(&bc(3, BroadcastMode::Numpy), &[iota(&[3]), ti(&[2, 3])]);
        assert_eq!(y.to_f64_vec(), vec![0., 1., 2., 0., 1., 2.]);
        let y = eval1(
            &bc(1, BroadcastMode::Explicit),
            &[iota(&[2]), ti(&[2, 3]), ti(&[0])],
        );
        assert_eq!(y.to_f64_vec(), vec![0., 0., 0., 1., 1., 1.]);
        let y = eval1(
            &bc(3, BroadcastMode::Bidirectional),
            &[iota(&[2, 1]), ti(&[1, 3])],
        );
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.to_f64_vec(), vec![0., 0., 0., 1., 1., 1.]);
    }

    #[test]
    fn tile() {
        assert_eq!(shape_of(&Tile, &[ps("?,3"), ci(&[2, 1, 2])]), "[2,?,6]");
        assert_eq!(shape_of(&Tile, &[st(&[2, 3]), dyn_i(&[1])]), "[?,?]");
        assert!(Tile.infer(&[st(&[2]), ci(&[-1])]).is_err());
        let y = eval1(&Tile, &[iota(&[2]), ti(&[2, 2])]);
        assert_eq!(y.to_f64_vec(), vec![0., 1., 0., 1., 0., 1., 0., 1.]);
        let y = eval1(&Tile, &[iota(&[2]), ti(&[0])]);
        assert_eq!(y.shape(), &[0]);
    }
}
