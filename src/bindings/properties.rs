//! Conversion of property values and configuration dicts between Python and [`PropertyValue`].

use super::element_type::PyType;
use crate::runtime::{Config, PropertyValue};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Converts a Python value (bool, int, float, str, Type, enum-like, list, dict) into a property value.
pub fn py_to_property(v: &Bound<'_, PyAny>) -> PyResult<PropertyValue> {
    Ok(if v.is_instance_of::<PyBool>() {
        PropertyValue::Bool(v.extract()?)
    } else if v.is_instance_of::<PyInt>() {
        PropertyValue::Int(v.extract()?)
    } else if v.is_instance_of::<PyFloat>() {
        PropertyValue::Float(v.extract()?)
    } else if let Ok(s) = v.cast::<PyString>() {
        PropertyValue::Str(s.to_cow()?.to_string())
    } else if let Ok(t) = v.cast::<PyType>() {
        PropertyValue::Str(t.get().0.name().to_string())
    } else if let Ok(d) = v.cast::<PyDict>() {
        PropertyValue::Map(py_to_config(d)?)
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        PropertyValue::List(
            v.try_iter()?
                .map(|x| py_to_property(&x?))
                .collect::<PyResult<_>>()?,
        )
    } else if v.hasattr("value")? && v.hasattr("name")? {
        // An enum member: OpenVINO's enums carry the property string as their value or name.
        let inner = v.getattr("value")?;
        if inner.is_instance_of::<PyString>() {
            py_to_property(&inner)?
        } else {
            PropertyValue::Str(v.getattr("name")?.str()?.to_string())
        }
    } else {
        PropertyValue::Str(v.str()?.to_string())
    })
}

/// Converts a `{key: value}` dict into a configuration (keys may be `str` subclasses such as property objects).
pub fn py_to_config(d: &Bound<'_, PyDict>) -> PyResult<Config> {
    d.iter()
        .map(|(k, v)| Ok((k.str()?.to_string(), py_to_property(&v)?)))
        .collect()
}

/// An optional config dict, empty when absent.
pub fn optional_config(d: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    d.map(py_to_config)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Converts a property value to Python (`bool`, `int`, `float`, `str`, `list`, `dict`).
pub fn property_to_py<'py>(py: Python<'py>, v: &PropertyValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        PropertyValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        PropertyValue::Int(i) => i.into_pyobject(py)?.into_any(),
        PropertyValue::Float(f) => f.into_pyobject(py)?.into_any(),
        PropertyValue::Str(s) => s.into_pyobject(py)?.into_any(),
        PropertyValue::List(l) => PyList::new(
            py,
            l.iter()
                .map(|x| property_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        PropertyValue::Map(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, property_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}
