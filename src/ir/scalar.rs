//! The Rust scalar types behind element types, and dispatch from a runtime `ElementType` to a generic body.

use super::element_type::ElementType;
use half::{bf16, f16};

/// A Rust type that stores one value of an element type (sub-byte types have none).
pub trait Scalar: Copy + Send + Sync + PartialOrd + Default + std::fmt::Debug + 'static {
    /// The element type this Rust type stores.
    const TYPE: ElementType;
    /// Widening conversion to f64.
    fn to_f64(self) -> f64;
    /// Narrowing conversion from f64 (saturating for integers, NaN to 0).
    fn from_f64(v: f64) -> Self;
    /// Conversion to i64 (truncating floats).
    fn to_i64(self) -> i64;
    /// Conversion from i64 (wrapping for integers).
    fn from_i64(v: i64) -> Self;
}

macro_rules! int_scalar {
    ($($t:ty => $et:ident),*) => {$(
        impl Scalar for $t {
            const TYPE: ElementType = ElementType::$et;
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
            fn to_i64(self) -> i64 { self as i64 }
            fn from_i64(v: i64) -> Self { v as $t }
        }
    )*};
}
int_scalar!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64);

impl Scalar for f32 {
    const TYPE: ElementType = ElementType::F32;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
}

impl Scalar for f64 {
    const TYPE: ElementType = ElementType::F64;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v as f64
    }
}

impl Scalar for f16 {
    const TYPE: ElementType = ElementType::F16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64(v: i64) -> Self {
        f16::from_f64(v as f64)
    }
}

impl Scalar for bf16 {
    const TYPE: ElementType = ElementType::BF16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64(v: i64) -> Self {
        bf16::from_f64(v as f64)
    }
}

/// Runs `$body` with `$T` bound to the Rust type of `$et` for every byte-sized numeric type
/// (Boolean is served as `u8`); evaluates `$otherwise` for sub-byte and dynamic types.
#[macro_export]
macro_rules! dispatch_scalar {
    ($et:expr, $T:ident => $body:expr, _ => $otherwise:expr) => {{
        use $crate::ir::ElementType as __Et;
        match $et {
            __Et::F32 => {
                type $T = f32;
                $body
            }
            __Et::F64 => {
                type $T = f64;
                $body
            }
            __Et::F16 => {
                type $T = half::f16;
                $body
            }
            __Et::BF16 => {
                type $T = half::bf16;
                $body
            }
            __Et::I8 => {
                type $T = i8;
                $body
            }
            __Et::I16 => {
                type $T = i16;
                $body
            }
            __Et::I32 => {
                type $T = i32;
                $body
            }
            __Et::I64 => {
                type $T = i64;
                $body
            }
            __Et::U8 | __Et::Boolean => {
                type $T = u8;
                $body
            }
            __Et::U16 => {
                type $T = u16;
                $body
            }
            __Et::U32 => {
                type $T = u32;
                $body
            }
            __Et::U64 => {
                type $T = u64;
                $body
            }
            _ => $otherwise,
        }
    }};
}

/// Like [`dispatch_scalar!`] but only for floating-point types.
#[macro_export]
macro_rules! dispatch_float {
    ($et:expr, $T:ident => $body:expr, _ => $otherwise:expr) => {{
        use $crate::ir::ElementType as __Et;
        match $et {
            __Et::F32 => {
                type $T = f32;
                $body
            }
            __Et::F64 => {
                type $T = f64;
                $body
            }
            __Et::F16 => {
                type $T = half::f16;
                $body
            }
            __Et::BF16 => {
                type $T = half::bf16;
                $body
            }
            _ => $otherwise,
        }
    }};
}
