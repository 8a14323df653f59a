//! Quantisation emulation: FakeQuantize-1 and FakeConvert-13.

use super::elementwise::{AutoBroadcast, broadcast_all, broadcast_static};
use super::registry::Registry;
use super::util::{broadcast_offsets, check_input_count, check_type};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::Result;
use crate::ir::{AttributeVisitor, ElementType, PartialShape, Tensor};
use half::f16;

/// Registers FakeQuantize-1 and FakeConvert-13.
pub fn register(r: &mut Registry) {
    r.add("FakeQuantize", 1, || {
        Box::new(FakeQuantize {
            levels: 256,
            auto_broadcast: AutoBroadcast::Numpy,
        })
    });
    r.add("FakeConvert", 13, || {
        Box::new(FakeConvert {
            destination_type: Float8::F8E4M3,
        })
    });
}

/// Rounds every arithmetic result to the element type's precision, so f32/f16/bf16 tensors are computed in
/// their own arithmetic as OpenVINO's reference does (one f64 operation then one rounding is exact rounding).
fn narrowing(et: ElementType) -> fn(f64) -> f64 {
    match et {
        ElementType::F16 => |v| f16::from_f64(v).to_f64(),
        ElementType::BF16 => |v| half::bf16::from_f64(v).to_f64(),
        ElementType::F64 => |v| v,
        _ => |v| v as f32 as f64,
    }
}

/// Inputs broadcast to one output shape.
struct Broadcast {
    /// The output shape.
    out: Vec<usize>,
    /// Each input's values.
    values: Vec<Vec<f64>>,
    /// Per input, the offset it reads for each output element.
    offsets: Vec<Vec<usize>>,
}

impl Broadcast {
    fn new(mode: AutoBroadcast, inputs: &[&Tensor]) -> Result<Broadcast> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        let out = broadcast_static(mode, &shapes)?;
        let values = inputs.iter().map(|t| t.to_f64_vec()).collect();
        let offsets = inputs
            .iter()
            .map(|t| broadcast_offsets(t.shape(), &out))
            .collect();
        Ok(Broadcast {
            out,
            values,
            offsets,
        })
    }

    /// The values of every input at output element `i`.
    fn at<const N: usize>(&self, i: usize) -> [f64; N] {
        std::array::from_fn(|k| self.values[k][self.offsets[k][i]])
    }

    /// Maps every output element and builds the result tensor.
    fn map<const N: usize>(&self, et: ElementType, f: impl Fn([f64; N]) -> f64) -> Result<Tensor> {
        let len = self.offsets.first().map_or(0, Vec::len);
        let v: Vec<f64> = (0..len).map(|i| f(self.at(i))).collect();
        Tensor::from_f64s(et, &self.out, &v)
    }
}

/// Clamps to [input_low, input_high] and quantises to `levels` steps mapped onto [output_low, output_high].
#[derive(Debug, Clone)]
pub struct FakeQuantize {
    /// Number of quantisation levels (at least 2).
    pub levels: i64,
    /// Broadcasting of the range inputs.
    pub auto_broadcast: AutoBroadcast,
}

impl FakeQuantize {
    /// One element, with every operation rounded by `n` (OpenVINO's reference formula, round half to even).
    fn quantize(&self, n: fn(f64) -> f64, [x, il, ih, ol, oh]: [f64; 5]) -> f64 {
        if x <= il.min(ih) {
            return ol;
        }
        if x > il.max(ih) {
            return oh;
        }
        let steps = n((self.levels - 1) as f64);
        let q = n(n(n(x - il) / n(ih - il)) * steps).round_ties_even();
        n(n(n(q / steps) * n(oh - ol)) + ol)
    }
}

impl Op for FakeQuantize {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("FakeQuantize", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "levels" => levels, "auto_broadcast" => auto_broadcast)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 5, 5)?;
        crate::ensure!(
            self.levels > 1,
            InvalidArgument,
            "levels must be at least 2, got {}",
            self.levels
        );
        let mut et = inputs[0].element_type;
        for (i, d) in inputs.iter().enumerate().skip(1) {
            et =
                super::util::merge_types(et, d.element_type, &format!("data and range input {i}"))?;
        }
        check_type(et, ElementType::is_real, "a floating-point type", "data")?;
        let shapes: Vec<&PartialShape> = inputs.iter().map(|d| &d.shape).collect();
        let shape = broadcast_all(self.auto_broadcast, &shapes)?;
        Ok(vec![TensorDesc::new(inputs[0].element_type, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        let et = self.infer(&descs)?.remove(0).element_type;
        let n = narrowing(et);
        Ok(vec![
            Broadcast::new(self.auto_broadcast, inputs)?.map(et, |v| self.quantize(n, v))?,
        ])
    }
}

crate::attr_enum!(
    /// The float8 format FakeConvert emulates.
    Float8 {
        /// 4 exponent bits, 3 mantissa bits, saturating at ±448.
        F8E4M3 => "f8e4m3",
        /// 5 exponent bits, 2 mantissa bits.
        F8E5M2 => "f8e5m2",
    }
);

/// Emulates a round trip through float8: `(to_f8(x * scale - shift) + shift) / scale`.
#[derive(Debug, Clone)]
pub struct FakeConvert {
    /// The float8 format.
    pub destination_type: Float8,
}

/// f16 bits rounded to f8e5m2 (round to nearest even; values near the top of the range are truncated, as in
/// OpenVINO, so they never round up to infinity).
fn f8e5m2_on_f16(bits: u16) -> u16 {
    let rounds = (bits & 0x7F00) < 0x7B00 && (bits & 0x7C00) != 0x7C00;
    let below = bits & 0x00FF;
    let up = below > 0x0080 || (bits & 0x0180) == 0x0180;
    let bits = if rounds && up {
        bits.wrapping_add(0x0100)
    } else {
        bits
    };
    bits & 0xFF00
}

/// f16 bits rounded to f8e4m3: values below 2^-9 flush to zero, larger ones saturate at ±448, subnormals of
/// the f8 format keep OpenVINO's rounding (at normal precision) followed by truncation.
fn f8e4m3_on_f16(bits: u16) -> u16 {
    let bits = if f16::from_bits(bits).to_f32().abs() < 0.001953125 {
        0
    } else {
        bits
    };
    let sign = bits & 0x8000;
    let mut exp = ((bits & 0x7C00) >> 10) as i32 - 15;
    let mut mant = (bits & 0x03FF) as i32;
    let rounds = (bits & 0x7FFF) < 0x5F80;
    let mut special = (bits & 0x7C00) == 0x7C00;
    if exp > 8 {
        special = true;
        (exp, mant) = (8, 0x300);
    } else if exp < -9 {
        (exp, mant) = (-15, 0);
    }
    if exp == 8 && mant >= 0x300 {
        mant = 0x300;
    }
    if !special && rounds && ((mant & 0x7F) > 0x40 || (mant & 0xC0) == 0xC0) {
        mant += 0x80;
    }
    let shift = if exp < -6 { -6 - exp } else { 0 };
    mant = ((mant >> shift) & 0xFF80) << shift;
    ((mant + ((exp + 15) << 10)) as u16) | sign
}

impl FakeConvert {
    /// One element through float8, computed in the data type's arithmetic (`n` rounds each operation).
    fn round_trip(&self, n: fn(f64) -> f64, [x, scale, shift]: [f64; 3]) -> f64 {
        let scaled = n(n(x * scale) - shift);
        // OpenVINO's conversion to f16 saturates at the largest finite value.
        let bits = f16::from_f64(scaled.clamp(-65504.0, 65504.0)).to_bits();
        let f8 = match self.destination_type {
            Float8::F8E4M3 => f8e4m3_on_f16(bits),
            Float8::F8E5M2 => f8e5m2_on_f16(bits),
        };
        let back = n(f16::from_bits(f8).to_f64());
        n(n(back + shift) / scale)
    }
}

impl Op for FakeConvert {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("FakeConvert", "opset13")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "destination_type" => destination_type)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 3)?;
        let is_float = |t| matches!(t, ElementType::F32 | ElementType::F16 | ElementType::BF16);
        check_type(inputs[0].element_type, is_float, "f32, f16 or bf16", "data")?;
        for (i, d) in inputs.iter().enumerate().skip(1) {
            super::util::merge_types(
                inputs[0].element_type,
                d.element_type,
                &format!("data and input {i}"),
            )?;
        }
        let shapes: Vec<&PartialShape> = inputs.iter().map(|d| &d.shape).collect();
        broadcast_all(AutoBroadcast::Pdpd, &shapes)?;
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            inputs[0].shape.clone(),
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        let et = self.infer(&descs)?.remove(0).element_type;
        let zero = Tensor::zeros(et, inputs[1].shape());
        let all = [
            inputs[0],
            inputs[1],
            inputs.get(2).copied().unwrap_or(&zero),
        ];
        let n = narrowing(et);
        Ok(vec![
            Broadcast::new(AutoBroadcast::Pdpd, &all)?.map(et, |v| self.round_trip(n, v))?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape, v.to_vec()).unwrap()
    }

    /// Expected numbers: OpenVINO 2026.4's reference evaluation (identical to its CPU plugin here).
    #[test]
    fn fake_quantize_matches_openvino() {
        let op = FakeQuantize {
            levels: 5,
            auto_broadcast: AutoBroadcast::Numpy,
        };
        let x = t(
            &[2, 6],
            &[
                -1.0, -0.3, 0.0, 0.1, 0.25, 0.5, 0.77, 1.0, 1.3, 2.0, 0.375, 0.625,
            ],
        );
        // Row 1 has an inverted input range; 0.375 lands on a tie and rounds to even.
        let (il, ih) = (t(&[2, 1], &[0.0, 0.5]), t(&[2, 1], &[1.0, -0.5]));
        let (ol, oh) = (t(&[], &[-1.0]), t(&[], &[3.0]));
        let out = op.evaluate(&[&x, &il, &ih, &ol, &oh]).unwrap().remove(0);
        let want = [
            -1.0, -1.0, -1.0, -1.0, 0.0, 1.0, 3.0, 3.0, 3.0, 3.0, -1.0, 3.0,
        ];
        assert_eq!(out.to_f64_vec(), want);
    }

    #[test]
    fn fake_quantize_shapes_and_errors() {
        let d = |s: &str| TensorDesc::new(ElementType::F32, PartialShape::parse_ir(s).unwrap());
        let op = FakeQuantize {
            levels: 256,
            auto_broadcast: AutoBroadcast::Numpy,
        };
        let out = op
            .infer(&[d("?,3,4"), d("1,3,1"), d("1,3,1"), d(""), d("")])
            .unwrap()
            .remove(0);
        assert_eq!(out.shape.to_string(), "[?,3,4]");
        assert!(op.infer(&[d("2,3"), d("4"), d(""), d(""), d("")]).is_err());
        let none = FakeQuantize {
            levels: 256,
            auto_broadcast: AutoBroadcast::NoBroadcast,
        };
        assert!(
            none.infer(&[d("2,3"), d("1"), d("1"), d("1"), d("1")])
                .is_err()
        );
        let one = FakeQuantize {
            levels: 1,
            auto_broadcast: AutoBroadcast::Numpy,
        };
        assert!(one.infer(&[d("2"), d(""), d(""), d(""), d("")]).is_err());
        let int = TensorDesc::new(ElementType::I32, PartialShape::from_static(&[2]));
        assert!(
            op.infer(&[int.clone(), int.clone(), int.clone(), int.clone(), int])
                .is_err()
        );
    }

    #[test]
    fn fake_convert_matches_openvino() {
        let x = [
            0.0, 1e-4, 0.0019, 0.003, 0.0123, 0.3, 1.7, 3.3, 100.0, 300.0, 448.0, 500.0, -1e6,
            57344.0, 60000.0, 70000.0,
        ];
        let e4m3 = [
            0.0, 0.0, 0.0, 0.0, 0.015625, 0.30078125, 1.75, 3.25, 96.25, 224.25, 224.25, 224.25,
            -223.75, 224.25, 224.25, 224.25,
        ];
        let e5m2 = [
            0.0, 0.0, 0.0, 0.0, 0.0, 0.296875, 1.75, 3.25, 96.25, 320.25, 448.25, 512.25,
            -28671.75, 28672.25, 28672.25, 28672.25,
        ];
        for (ty, want) in [(Float8::F8E4M3, e4m3), (Float8::F8E5M2, e5m2)] {
            let op = FakeConvert {
                destination_type: ty,
            };
            let (scale, shift) = (t(&[], &[2.0]), t(&[1], &[0.5]));
            let out = op
                .evaluate(&[&t(&[16], &x), &scale, &shift])
                .unwrap()
                .remove(0);
            assert_eq!(out.to_f64_vec(), want, "{ty}");
        }
    }

    #[test]
    fn fake_convert_shapes_and_errors() {
        let d = |et: ElementType, s: &str| TensorDesc::new(et, PartialShape::parse_ir(s).unwrap());
        let op = FakeConvert {
            destination_type: Float8::F8E5M2,
        };
        let f = ElementType::F32;
        let out = op.infer(&[d(f, "?,4"), d(f, "1,4")]).unwrap().remove(0);
        assert_eq!(out.shape.to_string(), "[?,4]");
        assert!(
            op.infer(&[d(ElementType::F64, "2"), d(ElementType::F64, "")])
                .is_err()
        );
        assert!(op.infer(&[d(f, "2"), d(ElementType::F16, "")]).is_err());
        assert!(op.infer(&[d(f, "2")]).is_err());
        // No shift: a zero shift. f16 data runs in f16.
        let x = Tensor::from_f64s(ElementType::F16, &[3], &[0.3, 1.7, 500.0]).unwrap();
        let s = Tensor::from_f64s(ElementType::F16, &[], &[1.0]).unwrap();
        let out = FakeConvert {
            destination_type: Float8::F8E4M3,
        }
        .evaluate(&[&x, &s])
        .unwrap()
        .remove(0);
        assert_eq!(out.to_f64_vec(), vec![0.3125, 1.75, 448.0]);
    }
}
