//! OneHot-1 and OneHot-16.

use crate::error::Result;
use crate::ir::shape::normalize_axis;
use crate::ir::{AttributeVisitor, Dimension, PartialShape, Tensor};
use crate::ops::data_movement::args::{
    check_int_input, int_scalar, known_scalar, one_desc, static_out_shape, to_len,
};
use crate::ops::data_movement::elems::{Elems, for_each_index};
use crate::ops::util::{check_input_count, ints_of, merge_types};
use crate::ops::{Op, TensorDesc, TypeInfo};

crate::attr_enum!(
    /// What OneHot-16 does with negative indices.
    NegativeIndicesMode {
        /// A negative index selects nothing (all off values).
        IgnoreNegative => "ignore_negative",
        /// A negative index counts from the end (`index + depth`).
        Normalize => "normalize"
    }
);

/// OneHot-1 and -16: `on_value` where the new `axis` equals the index, `off_value` elsewhere.
#[derive(Debug, Clone)]
pub struct OneHot {
    version: u32,
    /// Where the new axis goes (negative counts from the end of the output).
    pub axis: i64,
    /// Handling of negative indices (OneHot-16).
    pub negative_indices_mode: NegativeIndicesMode,
}

impl OneHot {
    /// The op of the given version with default attributes.
    pub fn new(version: u32) -> OneHot {
        OneHot {
            version,
            axis: -1,
            negative_indices_mode: NegativeIndicesMode::IgnoreNegative,
        }
    }
}

impl Op for OneHot {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "OneHot",
            if self.version >= 16 {
                "opset16"
            } else {
                "opset1"
            },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        v.on("axis", &mut self.axis)?;
        if self.version >= 16 {
            v.on("negative_indices_mode", &mut self.negative_indices_mode)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 4, 4)?;
        check_int_input(&inputs[0], "indices")?;
        check_int_input(&inputs[1], "depth")?;
        let et = merge_types(
            inputs[2].element_type,
            inputs[3].element_type,
            "on_value and off_value",
        )?;
        for d in &inputs[1..] {
            crate::ensure!(
                d.rank()
                    .is_none_or(|r| r == 0 || d.shape.to_static() == Some(vec![1])),
                Shape,
                "depth, on_value and off_value must be scalars, got {}",
                d.shape
            );
        }
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(one_desc(et, PartialShape::dynamic_rank()));
        };
        let a = normalize_axis(self.axis, dims.len() + 1, "OneHot")?;
        let depth = match known_scalar(&inputs[1]) {
            Some(d) => Dimension::new(to_len(d, "depth")? as u64),
            None => Dimension::DYNAMIC,
        };
        let mut out = dims.to_vec();
        out.insert(a, depth);
        Ok(one_desc(et, PartialShape::new(out)))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let out = static_out_shape(self, inputs)?;
        let ind = ints_of(inputs[0], "indices")?;
        let depth = to_len(int_scalar(inputs[1], "depth")?, "depth")? as i64;
        let a = normalize_axis(self.axis, out.len(), "OneHot")?;
        let (on, off) = (Elems::of(inputs[2]), Elems::of(inputs[3]));
        let (on, off) = (on.get(0)?, off.get(0)?);
        let mut b = Elems::of(inputs[2]).builder(out.iter().product());
        let inner: usize = out[a + 1..].iter().product();
        let mut n = 0usize;
        for_each_index(&out, |idx| {
            let at = (n / (inner * out[a])) * inner + n % inner;
            n += 1;
            let mut v = ind.get(at).copied().unwrap_or(-1);
            if v < 0
                && self.negative_indices_mode == NegativeIndicesMode::Normalize
                && self.version >= 16
            {
                v += depth;
            }
            b.push(if v == idx[a] as i64 { on } else { off });
            Ok(())
        })?;
        Ok(vec![b.finish(&out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::data_movement::args::testing::*;

    #[test]
    fn one_hot() {
        let op = OneHot::new(1);
        let d = |t: &Tensor| TensorDesc::of_tensor(t);
        let f = Tensor::scalar(5.0f32);
        assert_eq!(
            shape_of(&op, &[dyn_i(&[2, 3]), cs(4), d(&f), d(&f)]),
            "[2,3,4]"
        );
        assert_eq!(
            shape_of(
                &OneHot {
                    axis: 0,
                    ..op.clone()
                },
                &[
                    TensorDesc::new(
                        crate::ir::ElementType::I32,
                        PartialShape::parse_ir("?").unwrap()
                    ),
                    dyn_i(&[]),
                    d(&f),
                    d(&f)
                ]
            ),
            "[?,?]"
        );
        let args = |i: &[i64]| {
            vec![
                ti(i),
                Tensor::scalar(3i64),
                Tensor::scalar(5.0f32),
                Tensor::scalar(0.0f32),
            ]
        };
        // From openvino: indices [-1, 2, 3], depth 3, on 5, off 0.
        let y = eval1(&op, &args(&[-1, 2, 3]));
        assert_eq!(y.to_f64_vec(), vec![0., 0., 0., 0., 0., 5., 0., 0., 0.]);
        let n = OneHot {
            negative_indices_mode: NegativeIndicesMode::Normalize,
            ..OneHot::new(16)
        };
        assert_eq!(eval1(&n, &args(&[-1])).to_f64_vec(), vec![0., 0., 5.]);
        let y = eval1(&OneHot { axis: 0, ..op }, &args(&[0, 2]));
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.to_f64_vec(), vec![5., 0., 0., 0., 0., 5.]);
    }
}
