//! `Dimension`: a static length or an interval, printed as OpenVINO does (`?`, `3`, `2..5`, `..10`, `10..`).

use super::errors::IntoPyResult;
use crate::ir::Dimension;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

/// One dimension of a partial shape.
#[pyclass(module = "ferrovino", name = "Dimension", frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDimension(pub Dimension);

fn bound(v: i64) -> PyResult<Option<u64>> {
    match v {
        -1 => Ok(None),
        v if v >= 0 => Ok(Some(v as u64)),
        v => Err(PyRuntimeError::new_err(format!(
            "dimension bound {v} is negative (only -1 means unbounded)"
        ))),
    }
}

/// Converts a `Dimension`, int (-1 = dynamic), `(lo, hi)` tuple or string (`"?"`, `"2..5"`) into a dimension.
pub fn extract_dimension(obj: &Bound<'_, PyAny>) -> PyResult<Dimension> {
    if let Ok(d) = obj.cast::<PyDimension>() {
        return Ok(d.get().0);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow()?.parse::<Dimension>().py();
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let (lo, hi): (i64, i64) = t.extract()?;
        return Dimension::interval(bound(lo)?.unwrap_or(0), bound(hi)?).py();
    }
    match obj.extract::<i64>() {
        Ok(n) => Dimension::from_i64(n).py(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "cannot use {} as a dimension (expected int, (min, max), str or Dimension)",
            obj.get_type().name()?
        ))),
    }
}

/// A stable hash of a value, for `__hash__`.
pub fn hash_of<T: std::hash::Hash>(v: &T) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

#[pymethods]
impl PyDimension {
    /// `Dimension()` (dynamic), `Dimension(n)`, `Dimension(lo, hi)` (hi = -1: unbounded) or `Dimension("2..5")`.
    #[new]
    #[pyo3(signature = (*args))]
    fn new(args: &Bound<'_, PyTuple>) -> PyResult<PyDimension> {
        match args.len() {
            0 => Ok(PyDimension(Dimension::DYNAMIC)),
            1 => extract_dimension(&args.get_item(0)?).map(PyDimension),
            2 => extract_dimension(args.as_any()).map(PyDimension),
            n => Err(PyTypeError::new_err(format!(
                "Dimension() takes at most 2 arguments ({n} given)"
            ))),
        }
    }

    /// A fully dynamic dimension.
    #[staticmethod]
    fn dynamic() -> PyDimension {
        PyDimension(Dimension::DYNAMIC)
    }
    /// True when the length is known.
    #[getter]
    fn is_static(&self) -> bool {
        self.0.is_static()
    }
    /// True when the length is not known.
    #[getter]
    fn is_dynamic(&self) -> bool {
        self.0.is_dynamic()
    }
    /// The static length; raises for a dynamic dimension.
    fn get_length(&self) -> PyResult<i64> {
        self.0
            .get()
            .map(|n| n as i64)
            .ok_or_else(|| PyRuntimeError::new_err("Cannot get length of dynamic dimension"))
    }
    /// The lower bound.
    fn get_min_length(&self) -> i64 {
        self.0.min() as i64
    }
    /// The upper bound, -1 when unbounded.
    fn get_max_length(&self) -> i64 {
        self.0.max().map(|m| m as i64).unwrap_or(-1)
    }
    /// The lower bound.
    #[getter(min_length)]
    fn prop_min_length(&self) -> i64 {
        self.get_min_length()
    }
    /// The upper bound, -1 when unbounded.
    #[getter(max_length)]
    fn prop_max_length(&self) -> i64 {
        self.get_max_length()
    }
    /// True when some length satisfies both.
    fn compatible(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.compatible(&extract_dimension(other)?))
    }
    /// True when every length `self` allows is allowed by `other`.
    fn refines(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.refines(&extract_dimension(other)?))
    }
    /// True when `other` refines `self`.
    fn relaxes(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.relaxes(&extract_dimension(other)?))
    }
    /// True when both are dynamic or both are the same static length.
    fn same_scheme(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let o = extract_dimension(other)?;
        Ok((self.0.is_dynamic() && o.is_dynamic())
            || (self.0.get().is_some() && self.0.get() == o.get()))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        extract_dimension(other).is_ok_and(|d| d == self.0)
    }
    fn __hash__(&self) -> u64 {
        hash_of(&self.0)
    }
    fn __len__(&self) -> PyResult<usize> {
        self.0
            .get()
            .map(|n| n as usize)
            .ok_or_else(|| PyRuntimeError::new_err("Cannot get length of dynamic dimension"))
    }
    fn __repr__(&self) -> String {
        format!("<Dimension: {}>", self.0)
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
}
