//! Pad-1 and Pad-12: constant, edge, reflect and symmetric padding (negative pads crop).

use super::args::{check_int_input, int_list, one_desc, static_out_shape};
use super::elems::{flat_index, take};
use crate::error::Result;
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::util::{check_input_count, known_i64s, merge_types};
use crate::ops::{Op, TensorDesc, TypeInfo};

crate::attr_enum!(
    /// Where padded values come from.
    PadMode {
        /// A constant (the fourth input, or 0).
        Constant => "constant",
        /// The nearest edge value.
        Edge => "edge",
        /// Mirror without repeating the edge.
        Reflect => "reflect",
        /// Mirror repeating the edge.
        Symmetric => "symmetric"
    }
);

/// Pad-1 and Pad-12 (the same semantics; both accept negative pads, which remove values).
#[derive(Debug, Clone)]
pub struct Pad {
    /// 1 or 12.
    pub version: u32,
    /// Padding mode.
    pub pad_mode: PadMode,
}

impl Pad {
    /// Errors when a mirror pad is longer than the axis allows.
    fn check_pad(&self, dim: u64, pad: i64, axis: usize) -> Result<()> {
        let max = match self.pad_mode {
            PadMode::Constant => return Ok(()),
            PadMode::Edge => {
                crate::ensure!(
                    pad <= 0 || dim > 0,
                    Shape,
                    "edge padding of the empty axis {axis}"
                );
                return Ok(());
            }
            PadMode::Reflect => dim as i64 - 1,
            PadMode::Symmetric => dim as i64,
        };
        crate::ensure!(
            pad <= max,
            Shape,
            "{} padding of {pad} on axis {axis} of length {dim} exceeds the allowed {max}",
            self.pad_mode
        );
        Ok(())
    }

    /// The source coordinate of output coordinate `o` on an axis of length `dim` with `begin` leading pads,
    /// or `None` for the constant.
    fn source(&self, o: usize, dim: usize, begin: i64) -> Option<usize> {
        let c = o as i64 - begin;
        let d = dim as i64;
        if (0..d).contains(&c) {
            return Some(c as usize);
        }
        let s = match self.pad_mode {
            PadMode::Constant => return None,
            PadMode::Edge => c.clamp(0, d - 1),
            PadMode::Reflect if c < 0 => -c,
            PadMode::Reflect => 2 * (d - 1) - c,
            PadMode::Symmetric if c < 0 => -c - 1,
            PadMode::Symmetric => 2 * d - 1 - c,
        };
        usize::try_from(s).ok().filter(|&s| s < dim)
    }
}

impl Op for Pad {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "Pad",
            if self.version >= 12 {
                "opset12"
            } else {
                "opset1"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "pad_mode" => pad_mode)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 4)?;
        check_int_input(&inputs[1], "pads_begin")?;
        check_int_input(&inputs[2], "pads_end")?;
        let et = inputs[0].element_type;
        if let Some(v) = inputs.get(3) {
            merge_types(et, v.element_type, "Pad data and pad_value")?;
            crate::ensure!(
                v.rank().is_none_or(|r| r == 0),
                Shape,
                "pad_value has shape {}, expected a scalar",
                v.shape
            );
        }
        let rank = inputs[0]
            .rank()
            .or_else(|| match inputs[1].shape.to_static().as_deref() {
                Some([n]) => Some(*n),
                _ => None,
            });
        let (Some(dims), Some(pb), Some(pe)) = (
            inputs[0].shape.dims(),
            known_i64s(&inputs[1]),
            known_i64s(&inputs[2]),
        ) else {
            return Ok(one_desc(
                et,
                rank.map_or_else(PartialShape::dynamic_rank, PartialShape::dynamic_of_rank),
            ));
        };
        let r = dims.len();
        crate::ensure!(
            pb.len() == r && pe.len() == r,
            Shape,
            "pads_begin {pb:?} and pads_end {pe:?} must have one value per axis of the rank-{r} input"
        );
        let mut out = Vec::with_capacity(r);
        for (a, d) in dims.iter().enumerate() {
            out.push(match d.get() {
                Some(n) => {
                    self.check_pad(n, pb[a], a)?;
                    self.check_pad(n, pe[a], a)?;
                    let len = n as i64 + pb[a] + pe[a];
                    crate::ensure!(
                        len >= 0,
                        Shape,
                        "padding axis {a} of length {n} by {} and {} leaves {len}",
                        pb[a],
                        pe[a]
                    );
                    Dimension::new(len as u64)
                }
                None if pb[a] == 0 && pe[a] == 0 => *d,
                None => Dimension::DYNAMIC,
            });
        }
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let x = inputs[0];
        let pb = int_list(inputs[1], "pads_begin")?;
        let shape = x.shape();
        let fill = if self.pad_mode == PadMode::Constant {
            inputs.get(3).copied()
        } else {
            None
        };
        let mut src = vec![0; shape.len()];
        Ok(vec![take(x, &out, fill, |idx| {
            for (a, s) in src.iter_mut().enumerate() {
                match self.source(idx[a], shape[a], pb[a]) {
                    Some(v) => *s = v,
                    None => return Ok(None),
                }
            }
            Ok(Some(flat_index(&src, shape)))
        })?])
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::testing::*;
    use super::*;

    fn pad(mode: PadMode) -> Pad {
        Pad {
            version: 12,
            pad_mode: mode,
        }
    }

    #[test]
    fn shapes() {
        let p = pad(PadMode::Constant);
        assert_eq!(
            shape_of(&p, &[st(&[2, 3]), ci(&[1, -1]), ci(&[0, 2])]),
            "[3,4]"
        );
        assert_eq!(
            shape_of(&p, &[ps("?,3"), ci(&[0, 1]), ci(&[0, 1])]),
            "[?,5]"
        );
        assert_eq!(
            shape_of(&p, &[ps("?,3"), dyn_i(&[2]), ci(&[0, 1])]),
            "[?,?]"
        );
        assert!(p.infer(&[st(&[2, 3]), ci(&[0, -4]), ci(&[0, 0])]).is_err());
        assert!(
            pad(PadMode::Reflect)
                .infer(&[st(&[3]), ci(&[3]), ci(&[0])])
                .is_err()
        );
        assert!(
            pad(PadMode::Symmetric)
                .infer(&[st(&[3]), ci(&[3]), ci(&[0])])
                .is_ok()
        );
    }

    #[test]
    fn values_match_numpy() {
        // numpy.pad(arange(4), (3, 2), mode) for each mode.
        let x = iota(&[4]);
        let cases = [
            (PadMode::Constant, vec![9., 9., 9., 0., 1., 2., 3., 9., 9.]),
            (PadMode::Edge, vec![0., 0., 0., 0., 1., 2., 3., 3., 3.]),
            (PadMode::Reflect, vec![3., 2., 1., 0., 1., 2., 3., 2., 1.]),
            (PadMode::Symmetric, vec![2., 1., 0., 0., 1., 2., 3., 3., 2.]),
        ];
        for (mode, want) in cases {
            let y = eval1(
                &pad(mode),
                &[x.clone(), ti(&[3]), ti(&[2]), Tensor::scalar(9.0f32)],
            );
            assert_eq!(y.to_f64_vec(), want, "{mode}");
        }
        let y = eval1(
            &pad(PadMode::Constant),
            &[iota(&[2, 3]), ti(&[-1, 0]), ti(&[0, -1])],
        );
        assert_eq!(y.to_f64_vec(), vec![3., 4.]);
    }
}
