//! Element types of tensors, with OpenVINO's names.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The element type of a tensor. `Dynamic` means "not known yet".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ElementType {
    /// Unknown until inference.
    #[default]
    Dynamic,
    /// One byte per value, 0 or 1.
    Boolean,
    /// bfloat16.
    BF16,
    /// IEEE half precision.
    F16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision.
    F64,
    /// Signed 4-bit, two per byte, low nibble first.
    I4,
    /// Signed 8-bit.
    I8,
    /// Signed 16-bit.
    I16,
    /// Signed 32-bit.
    I32,
    /// Signed 64-bit.
    I64,
    /// One bit per value, eight per byte.
    U1,
    /// Unsigned 4-bit, two per byte, low nibble first.
    U4,
    /// Unsigned 8-bit.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// Unsigned 32-bit.
    U32,
    /// Unsigned 64-bit.
    U64,
    /// Unsigned 2-bit, four per byte, lowest bits first.
    U2,
    /// Signed 2-bit, four per byte, lowest bits first (beyond OpenVINO: ONNX INT2).
    I2,
    /// 8-bit float, 4 exponent and 3 mantissa bits, no infinities (ONNX FLOAT8E4M3FN).
    F8E4M3,
    /// 8-bit float, 5 exponent and 2 mantissa bits, IEEE-style infinities and NaNs.
    F8E5M2,
    /// 8-bit unsigned power of two, 2^(code-127) (ONNX FLOAT8E8M0).
    F8E8M0,
    /// 4-bit float, 2 exponent bits and 1 mantissa bit, two per byte, low nibble first.
    F4E2M1,
    /// 8-bit float like f8e4m3 with bias 8, one NaN and no negative zero (beyond OpenVINO: ONNX FLOAT8E4M3FNUZ).
    F8E4M3FNUZ,
    /// 8-bit float like f8e5m2 with bias 16, one NaN and no negative zero (beyond OpenVINO: ONNX FLOAT8E5M2FNUZ).
    F8E5M2FNUZ,
}

use ElementType::*;

/// Every static element type, in a fixed order.
pub const ALL_STATIC_TYPES: [ElementType; 24] = [
    Boolean, BF16, F16, F32, F64, I4, I8, I16, I32, I64, U1, U4, U8, U16, U32, U64, U2, I2, F8E4M3,
    F8E5M2, F8E8M0, F4E2M1, F8E4M3FNUZ, F8E5M2FNUZ,
];

impl ElementType {
    /// OpenVINO's lower-case name (`f32`, `boolean`, `dynamic`).
    pub fn name(self) -> &'static str {
        match self {
            Dynamic => "dynamic",
            Boolean => "boolean",
            BF16 => "bf16",
            F16 => "f16",
            F32 => "f32",
            F64 => "f64",
            I4 => "i4",
            I8 => "i8",
            I16 => "i16",
            I32 => "i32",
            I64 => "i64",
            U1 => "u1",
            U4 => "u4",
            U8 => "u8",
            U16 => "u16",
            U32 => "u32",
            U64 => "u64",
            U2 => "u2",
            I2 => "i2",
            F8E4M3 => "f8e4m3",
            F8E5M2 => "f8e5m2",
            F8E8M0 => "f8e8m0",
            F4E2M1 => "f4e2m1",
            F8E4M3FNUZ => "f8e4m3fnuz",
            F8E5M2FNUZ => "f8e5m2fnuz",
        }
    }

    /// The IR `precision` string written on ports (`FP32`, `BOOL`, `BIN`, `I64`, `UNSPECIFIED`).
    pub fn precision_name(self) -> String {
        match self {
            Dynamic => "UNSPECIFIED".into(),
            Boolean => "BOOL".into(),
            BF16 => "BF16".into(),
            F16 => "FP16".into(),
            F32 => "FP32".into(),
            F64 => "FP64".into(),
            U1 => "BIN".into(),
            other => other.name().to_uppercase(),
        }
    }

    /// Size in bits of one value.
    pub fn bitwidth(self) -> usize {
        match self {
            Dynamic => 0,
            U1 => 1,
            U2 | I2 => 2,
            I4 | U4 | F4E2M1 => 4,
            Boolean | I8 | U8 | F8E4M3 | F8E5M2 | F8E8M0 | F8E4M3FNUZ | F8E5M2FNUZ => 8,
            BF16 | F16 | I16 | U16 => 16,
            F32 | I32 | U32 => 32,
            F64 | I64 | U64 => 64,
        }
    }

    /// Size in bytes of one value, rounded up (1 for sub-byte types).
    pub fn size(self) -> usize {
        self.bitwidth().div_ceil(8)
    }

    /// Bytes needed to store `count` values, packing sub-byte types.
    pub fn bytes_for(self, count: usize) -> usize {
        (count * self.bitwidth()).div_ceil(8)
    }

    /// True for floating-point types.
    pub fn is_real(self) -> bool {
        matches!(self, BF16 | F16 | F32 | F64) || self.is_narrow_float()
    }

    /// True for the floating-point types narrower than f16 (f8 and f4 formats), stored as codes.
    pub fn is_narrow_float(self) -> bool {
        matches!(
            self,
            F8E4M3 | F8E5M2 | F8E8M0 | F4E2M1 | F8E4M3FNUZ | F8E5M2FNUZ
        )
    }

    /// True for integer and boolean types.
    pub fn is_integral(self) -> bool {
        !self.is_real() && self != Dynamic
    }

    /// True for integer types other than boolean.
    pub fn is_integral_number(self) -> bool {
        self.is_integral() && self != Boolean
    }

    /// True for signed types (floats included, f8e8m0 too, as OpenVINO says).
    pub fn is_signed(self) -> bool {
        self.is_real() || matches!(self, I2 | I4 | I8 | I16 | I32 | I64)
    }

    /// True for types narrower than a byte, stored packed.
    pub fn is_sub_byte(self) -> bool {
        self.bitwidth() < 8 && self != Dynamic
    }

    /// True unless dynamic.
    pub fn is_static(self) -> bool {
        self != Dynamic
    }

    /// True when `self` and `other` can describe the same value (equal, or either dynamic).
    pub fn compatible(self, other: ElementType) -> bool {
        self == other || self == Dynamic || other == Dynamic
    }

    /// Merges two types: the static one wins; two different static types do not merge.
    pub fn merge(self, other: ElementType) -> Option<ElementType> {
        match (self, other) {
            (Dynamic, t) | (t, Dynamic) => Some(t),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }

    /// Parses an IR `precision` string (`FP32`, `I64`, `BOOL`, …).
    pub fn from_precision(s: &str) -> Result<ElementType> {
        let t = match s.trim().to_ascii_uppercase().as_str() {
            "FP32" => F32,
            "FP16" => F16,
            "FP64" => F64,
            "BF16" => BF16,
            "BOOL" => Boolean,
            "BIN" => U1,
            "UNSPECIFIED" | "DYNAMIC" => Dynamic,
            other => return other.to_ascii_lowercase().parse(),
        };
        Ok(t)
    }
}

impl FromStr for ElementType {
    type Err = Error;
    fn from_str(s: &str) -> Result<ElementType> {
        let t = match s.trim() {
            "dynamic" | "undefined" => Dynamic,
            "boolean" | "bool" | "BOOL" => Boolean,
            "bf16" | "bfloat16" => BF16,
            "f16" | "float16" | "FP16" => F16,
            "f32" | "float32" | "FP32" => F32,
            "f64" | "float64" | "FP64" => F64,
            "i4" | "int4" => I4,
            "i8" | "int8" => I8,
            "i16" | "int16" => I16,
            "i32" | "int32" => I32,
            "i64" | "int64" => I64,
            "u1" | "uint1" | "bin" => U1,
            "u4" | "uint4" => U4,
            "u8" | "uint8" => U8,
            "u16" | "uint16" => U16,
            "u32" | "uint32" => U32,
            "u64" | "uint64" => U64,
            "u2" | "uint2" => U2,
            "i2" | "int2" => I2,
            "f8e4m3" => F8E4M3,
            "f8e5m2" => F8E5M2,
            "f8e8m0" => F8E8M0,
            "f4e2m1" => F4E2M1,
            "f8e4m3fnuz" => F8E4M3FNUZ,
            "f8e5m2fnuz" => F8E5M2FNUZ,
            other => {
                return Err(Error::Unsupported(format!(
                    "unknown element type '{other}' (expected one of f32, f16, bf16, f64, i4, i8, i16, i32, i64, u1, u2, u4, u8, u16, u32, u64, i2, f8e4m3, f8e5m2, f8e8m0, f4e2m1, f8e4m3fnuz, f8e5m2fnuz, boolean)"
                )));
            }
        };
        Ok(t)
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ALL_STATIC_TYPES {
            assert_eq!(t.name().parse::<ElementType>().ok(), Some(t));
            assert_eq!(
                ElementType::from_precision(&t.precision_name()).ok(),
                Some(t)
            );
        }
        assert!("f8e4m3x".parse::<ElementType>().is_err());
        assert_eq!(F8E4M3.precision_name(), "F8E4M3");
        assert_eq!(ElementType::from_precision("F4E2M1").ok(), Some(F4E2M1));
        assert!(
            F8E8M0.is_real() && F8E8M0.is_signed() && !U2.is_signed() && I2.is_integral_number()
        );
    }

    #[test]
    fn packed_sizes() {
        assert_eq!(U4.bytes_for(5), 3);
        assert_eq!(U1.bytes_for(9), 2);
        assert_eq!(U2.bytes_for(5), 2);
        assert_eq!(F4E2M1.bytes_for(3), 2);
        assert_eq!(F8E4M3.bytes_for(3), 3);
        assert_eq!(F32.bytes_for(3), 12);
    }
}
