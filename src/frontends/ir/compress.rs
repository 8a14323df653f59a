//! The f16 compression of float Constants that `save_model(..., compress_to_fp16=True)` applies.
//!
//! As in OpenVINO 2026: f32 and f64 Constants are compressed whatever their role (shape sub-graphs and scalars
//! included), except empty ones, ones where some representable value would move by more than 1.0, and ones where
//! at least 75% of the values fall outside f16's range (beyond ±65504, or non-zero below its smallest subnormal).
//! Out-of-range values are clamped to ±65504.

use crate::error::Result;
use crate::ir::{ElementType, Tensor};
use half::f16;

/// Proportion of out-of-range values at which a Constant is kept in its precision.
const KEEP_THRESHOLD: f64 = 0.75;
/// Largest tolerated rounding error of a representable value.
const MAX_ABS_ERROR: f64 = 1.0;

fn out_of_range(v: f64) -> bool {
    let max = f16::MAX.to_f64();
    (v != 0.0 && v.abs() < f16::from_bits(1).to_f64()) || v > max || v < -max
}

/// The f16 copy of an f32/f64 tensor, or `None` when OpenVINO would keep the tensor as it is.
pub(crate) fn compress_to_f16(value: &Tensor) -> Result<Option<Tensor>> {
    if !matches!(value.element_type(), ElementType::F32 | ElementType::F64) || value.is_empty() {
        return Ok(None);
    }
    let values = value.to_f64_vec();
    let mut outside = 0usize;
    for &v in &values {
        if out_of_range(v) {
            outside += 1;
        } else if (v - f16::from_f64(v).to_f64()).abs() > MAX_ABS_ERROR {
            return Ok(None);
        }
    }
    if outside as f64 / values.len() as f64 >= KEEP_THRESHOLD {
        return Ok(None);
    }
    let max = f16::MAX.to_f64();
    let half: Vec<f16> = values
        .iter()
        .map(|&v| f16::from_f64(if v.is_nan() { v } else { v.clamp(-max, max) }))
        .collect();
    Tensor::from_vec(value.shape(), half).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::from_slice(&[v.len()], v).unwrap()
    }

    #[test]
    fn decisions_match_openvino() {
        // Cases checked against openvino 2026.4.1 save_model(compress_to_fp16=True).
        assert!(compress_to_f16(&f32s(&[1.0003; 4])).unwrap().is_some());
        assert!(
            compress_to_f16(&f32s(&[8195.0, 1.0, 1.0, 1.0]))
                .unwrap()
                .is_none()
        );
        assert!(
            compress_to_f16(&f32s(&[2049.0, 1.0, 1.0, 1.0]))
                .unwrap()
                .is_some()
        );
        assert!(
            compress_to_f16(&f32s(&[1e-9, 1e-9, 1e-9, 1.0]))
                .unwrap()
                .is_none()
        );
        assert!(
            compress_to_f16(&f32s(&[1e6, 1e6, 1.0, 1.0]))
                .unwrap()
                .is_some()
        );
        assert!(
            compress_to_f16(&f32s(&[1e6, 1e6, 1e6, 3.0]))
                .unwrap()
                .is_none()
        );
        assert!(compress_to_f16(&f32s(&[0.0; 4])).unwrap().is_some());
        assert!(compress_to_f16(&f32s(&[])).unwrap().is_none());
        assert!(
            compress_to_f16(&Tensor::from_vec(&[2], vec![1i64, 2]).unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn values_are_rounded_and_clamped() {
        let t = compress_to_f16(&f32s(&[1e6, 0.5, -1e6, 1.0]))
            .unwrap()
            .unwrap();
        assert_eq!(t.element_type(), ElementType::F16);
        assert_eq!(t.to_f64_vec(), [65504.0, 0.5, -65504.0, 1.0]);
        let d = Tensor::from_vec(&[1], vec![2.5f64]).unwrap();
        assert_eq!(compress_to_f16(&d).unwrap().unwrap().to_f64_vec(), [2.5]);
    }
}
