//! `Type`: an element type, with OpenVINO's constants (`Type.f32`), names and numpy mapping.

use crate::ir::ElementType;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// An element type (`Type.f32`, `Type(np.float32)`, `Type("float32")`).
#[pyclass(module = "ferrovino", name = "Type", frozen, eq, hash, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyType(pub ElementType);

/// The numpy dtype name a tensor of `t` is exposed as, as OpenVINO does: `bf16` as `float16`, packed types as
/// bytes, narrow floats as their `uint8` codes.
pub fn numpy_name(t: ElementType) -> Option<&'static str> {
    Some(match t {
        ElementType::Dynamic => return None,
        ElementType::Boolean => "bool",
        ElementType::BF16 | ElementType::F16 => "float16",
        ElementType::F32 => "float32",
        ElementType::F64 => "float64",
        ElementType::I2 | ElementType::I4 | ElementType::I8 => "int8",
        ElementType::I16 => "int16",
        ElementType::I32 => "int32",
        ElementType::I64 => "int64",
        ElementType::U1
        | ElementType::U2
        | ElementType::U4
        | ElementType::U8
        | ElementType::F8E4M3
        | ElementType::F8E5M2
        | ElementType::F8E8M0
        | ElementType::F4E2M1
        | ElementType::F8E4M3FNUZ
        | ElementType::F8E5M2FNUZ => "uint8",
        ElementType::U16 => "uint16",
        ElementType::U32 => "uint32",
        ElementType::U64 => "uint64",
    })
}

/// The element type of a numpy dtype name (`float32`, `int64`, `bool`).
pub fn from_numpy_name(name: &str) -> Option<ElementType> {
    Some(match name {
        "bool" => ElementType::Boolean,
        "float16" => ElementType::F16,
        "float32" => ElementType::F32,
        "float64" => ElementType::F64,
        "int8" => ElementType::I8,
        "int16" => ElementType::I16,
        "int32" => ElementType::I32,
        "int64" => ElementType::I64,
        "uint8" => ElementType::U8,
        "uint16" => ElementType::U16,
        "uint32" => ElementType::U32,
        "uint64" => ElementType::U64,
        _ => return None,
    })
}

/// ml_dtypes' names of the types numpy lacks, with their element types (bfloat16 as two bytes; the narrow types
/// one value per byte, the code in the low bits).
const ML_DTYPES: [(&str, ElementType); 9] = [
    ("bfloat16", ElementType::BF16),
    ("float8_e4m3fn", ElementType::F8E4M3),
    ("float8_e5m2", ElementType::F8E5M2),
    ("float8_e8m0fnu", ElementType::F8E8M0),
    ("float4_e2m1fn", ElementType::F4E2M1),
    ("float8_e4m3fnuz", ElementType::F8E4M3FNUZ),
    ("float8_e5m2fnuz", ElementType::F8E5M2FNUZ),
    ("int2", ElementType::I2),
    ("uint2", ElementType::U2),
];

/// The element type of an ml_dtypes dtype name (`float8_e4m3fn` → f8e4m3).
pub fn from_ml_dtypes_name(name: &str) -> Option<ElementType> {
    ML_DTYPES.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

/// OpenVINO's C type spelling, used by `repr(Type)` (`float32`, `int64_t`, `char`).
fn c_type_name(t: ElementType) -> &'static str {
    match t {
        ElementType::Dynamic => "dynamic",
        ElementType::Boolean => "char",
        ElementType::BF16 => "bfloat16",
        ElementType::F16 => "float16",
        ElementType::F32 => "float32",
        ElementType::F64 => "double64",
        ElementType::I4 => "int4_t",
        ElementType::I8 => "int8_t",
        ElementType::I16 => "int16_t",
        ElementType::I32 => "int32_t",
        ElementType::I64 => "int64_t",
        ElementType::U1 => "uint1_t",
        ElementType::U4 => "uint4_t",
        ElementType::U8 => "uint8_t",
        ElementType::U16 => "uint16_t",
        ElementType::U32 => "uint32_t",
        ElementType::U64 => "uint64_t",
        ElementType::U2 => "uint2_t",
        ElementType::I2 => "int2_t",
        ElementType::F8E4M3 => "f8e4m3",
        ElementType::F8E5M2 => "f8e5m2",
        ElementType::F8E8M0 => "f8e8m0",
        ElementType::F4E2M1 => "f4e2m1",
        ElementType::F8E4M3FNUZ => "f8e4m3fnuz",
        ElementType::F8E5M2FNUZ => "f8e5m2fnuz",
    }
}

/// The C type spelling `repr(Parameter)` uses (`float`, `double`, others as in [`c_type_name`]).
pub fn parameter_type_name(t: ElementType) -> &'static str {
    match t {
        ElementType::F32 => "float",
        ElementType::F64 => "double",
        other => c_type_name(other),
    }
}

/// Converts a `Type`, numpy (or ml_dtypes) dtype, numpy scalar type or type-name string into an element type.
pub fn extract_element_type(obj: &Bound<'_, PyAny>) -> PyResult<ElementType> {
    if let Ok(t) = obj.cast::<PyType>() {
        return Ok(t.get().0);
    }
    if let Ok(s) = obj.cast::<PyString>()
        && let Ok(t) = s.to_cow()?.parse::<ElementType>()
    {
        return Ok(t);
    }
    let np = obj.py().import("numpy")?;
    let dtype = np
        .call_method1("dtype", (obj,))
        .map_err(|_| PyTypeError::new_err(format!("data type '{obj}' not understood")))?;
    let name: String = dtype.getattr("name")?.extract()?;
    from_numpy_name(&name)
        .or_else(|| from_ml_dtypes_name(&name))
        .ok_or_else(|| PyTypeError::new_err(format!("data type '{name}' is not supported")))
}

#[pymethods]
impl PyType {
    /// `Type(np.float32)`, `Type("float32")` or `Type(np.dtype("int64"))`.
    #[new]
    fn new(dtype: &Bound<'_, PyAny>) -> PyResult<PyType> {
        extract_element_type(dtype).map(PyType)
    }

    #[classattr]
    fn dynamic() -> PyType {
        PyType(ElementType::Dynamic)
    }
    #[classattr]
    fn boolean() -> PyType {
        PyType(ElementType::Boolean)
    }
    #[classattr]
    fn bf16() -> PyType {
        PyType(ElementType::BF16)
    }
    #[classattr]
    fn f16() -> PyType {
        PyType(ElementType::F16)
    }
    #[classattr]
    fn f32() -> PyType {
        PyType(ElementType::F32)
    }
    #[classattr]
    fn f64() -> PyType {
        PyType(ElementType::F64)
    }
    #[classattr]
    fn i4() -> PyType {
        PyType(ElementType::I4)
    }
    #[classattr]
    fn i8() -> PyType {
        PyType(ElementType::I8)
    }
    #[classattr]
    fn i16() -> PyType {
        PyType(ElementType::I16)
    }
    #[classattr]
    fn i32() -> PyType {
        PyType(ElementType::I32)
    }
    #[classattr]
    fn i64() -> PyType {
        PyType(ElementType::I64)
    }
    #[classattr]
    fn u1() -> PyType {
        PyType(ElementType::U1)
    }
    #[classattr]
    fn u4() -> PyType {
        PyType(ElementType::U4)
    }
    #[classattr]
    fn u8() -> PyType {
        PyType(ElementType::U8)
    }
    #[classattr]
    fn u16() -> PyType {
        PyType(ElementType::U16)
    }
    #[classattr]
    fn u32() -> PyType {
        PyType(ElementType::U32)
    }
    #[classattr]
    fn u64() -> PyType {
        PyType(ElementType::U64)
    }
    #[classattr]
    fn u2() -> PyType {
        PyType(ElementType::U2)
    }
    #[classattr]
    fn i2() -> PyType {
        PyType(ElementType::I2)
    }
    #[classattr]
    fn f8e4m3() -> PyType {
        PyType(ElementType::F8E4M3)
    }
    #[classattr]
    fn f8e5m2() -> PyType {
        PyType(ElementType::F8E5M2)
    }
    #[classattr]
    fn f8e8m0() -> PyType {
        PyType(ElementType::F8E8M0)
    }
    #[classattr]
    fn f4e2m1() -> PyType {
        PyType(ElementType::F4E2M1)
    }
    #[classattr]
    fn f8e4m3fnuz() -> PyType {
        PyType(ElementType::F8E4M3FNUZ)
    }
    #[classattr]
    fn f8e5m2fnuz() -> PyType {
        PyType(ElementType::F8E5M2FNUZ)
    }

    /// The numpy dtype values of this type are exposed as.
    #[pyo3(name = "to_dtype")]
    fn numpy_dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let name = numpy_name(self.0)
            .ok_or_else(|| PyTypeError::new_err("the dynamic element type has no numpy dtype"))?;
        py.import("numpy")?.call_method1("dtype", (name,))
    }

    /// The short name (`f32`).
    #[getter(type_name)]
    fn prop_type_name(&self) -> &'static str {
        self.0.name()
    }
    /// The short name (`f32`).
    fn get_type_name(&self) -> &'static str {
        self.0.name()
    }
    /// The short name (`f32`).
    #[pyo3(name = "to_string")]
    fn short_name(&self) -> &'static str {
        self.0.name()
    }
    /// Bytes per value (1 for packed types).
    #[getter(size)]
    fn prop_size(&self) -> usize {
        self.0.size()
    }
    /// Bytes per value (1 for packed types).
    fn get_size(&self) -> usize {
        self.0.size()
    }
    /// Bits per value.
    #[getter(bitwidth)]
    fn prop_bitwidth(&self) -> usize {
        self.0.bitwidth()
    }
    /// Bits per value.
    fn get_bitwidth(&self) -> usize {
        self.0.bitwidth()
    }
    /// True for floating-point types.
    fn is_real(&self) -> bool {
        self.0.is_real()
    }
    /// True for floating-point types.
    #[getter]
    fn real(&self) -> bool {
        self.0.is_real()
    }
    /// True for integer, boolean and dynamic types (as OpenVINO answers).
    fn is_integral(&self) -> bool {
        !self.0.is_real()
    }
    /// True for integer, boolean and dynamic types (as OpenVINO answers).
    #[getter]
    fn integral(&self) -> bool {
        !self.0.is_real()
    }
    /// True for integer types other than boolean (and dynamic, as OpenVINO answers).
    fn is_integral_number(&self) -> bool {
        !self.0.is_real() && self.0 != ElementType::Boolean
    }
    /// True for integer types other than boolean (and dynamic, as OpenVINO answers).
    #[getter]
    fn integral_number(&self) -> bool {
        self.is_integral_number()
    }
    /// True for signed types (boolean included, as OpenVINO answers).
    fn is_signed(&self) -> bool {
        self.0.is_signed() || self.0 == ElementType::Boolean
    }
    /// True for signed types (boolean included, as OpenVINO answers).
    #[getter]
    fn signed(&self) -> bool {
        self.is_signed()
    }
    /// True for the types quantized models use (i4, i8, i32, u8).
    fn is_quantized(&self) -> bool {
        matches!(
            self.0,
            ElementType::I4 | ElementType::I8 | ElementType::I32 | ElementType::U8
        )
    }
    /// True for the types quantized models use (i4, i8, i32, u8).
    #[getter]
    fn quantized(&self) -> bool {
        self.is_quantized()
    }
    /// True unless dynamic.
    fn is_static(&self) -> bool {
        self.0.is_static()
    }
    /// True when dynamic.
    fn is_dynamic(&self) -> bool {
        !self.0.is_static()
    }
    /// True when both can describe the same values.
    fn compatible(&self, other: PyType) -> bool {
        self.0.compatible(other.0)
    }
    /// The merged type, or None when the two static types differ.
    fn merge(&self, other: PyType) -> Option<PyType> {
        self.0.merge(other.0).map(PyType)
    }

    fn __repr__(&self) -> String {
        format!("<Type: '{}'>", c_type_name(self.0))
    }
    fn __str__(&self) -> String {
        self.__repr__()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_names_round_trip_for_byte_types() {
        for t in crate::ir::ALL_STATIC_TYPES {
            let name = numpy_name(t);
            assert!(name.is_some());
            if !t.is_sub_byte() && !t.is_narrow_float() && t != ElementType::BF16 {
                assert_eq!(name.and_then(from_numpy_name), Some(t));
            }
        }
    }
    #[test]
    fn ml_dtypes_names() {
        assert_eq!(
            from_ml_dtypes_name("float8_e4m3fn"),
            Some(ElementType::F8E4M3)
        );
        assert_eq!(from_ml_dtypes_name("int2"), Some(ElementType::I2));
        assert_eq!(from_ml_dtypes_name("float32"), None);
    }
}
