//! `PartialShape`: a shape whose rank or dimensions may be dynamic; `[...]` for dynamic rank.

use super::dimension::{PyDimension, extract_dimension};
use super::errors::IntoPyResult;
use super::shape::PyShape;
use crate::ir::{Dimension, PartialShape};
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// A partial shape (`PartialShape([1, -1, (2, 5)])`, `PartialShape("[?,3,..224]")`).
#[pyclass(module = "ferrovino", name = "PartialShape", from_py_object)]
#[derive(Clone)]
pub struct PyPartialShape(pub PartialShape);

/// Converts a `PartialShape`, `Shape`, string or sequence of dimension-likes into a partial shape.
pub fn extract_partial_shape(obj: &Bound<'_, PyAny>) -> PyResult<PartialShape> {
    if let Ok(p) = obj.cast::<PyPartialShape>() {
        return Ok(p.borrow().0.clone());
    }
    if let Ok(s) = obj.cast::<PyShape>() {
        return Ok(PartialShape::from_static(&s.borrow().0));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return PartialShape::parse_ir(&s.to_cow()?).py();
    }
    let items = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "cannot use {} as a shape (expected a list or tuple of dimensions, a str, Shape or PartialShape)",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    let dims = items
        .map(|d| extract_dimension(&d?))
        .collect::<PyResult<Vec<Dimension>>>()?;
    Ok(PartialShape::new(dims))
}

impl PyPartialShape {
    fn dims(&self) -> PyResult<&[Dimension]> {
        self.0
            .dims()
            .ok_or_else(|| PyRuntimeError::new_err("the shape has a dynamic rank"))
    }

    fn index(&self, i: isize) -> PyResult<usize> {
        let n = self.dims()?.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!(
                "index {i} is out of range for rank {n}"
            )));
        }
        Ok(j as usize)
    }

    fn bounds_shape(&self, f: impl Fn(&Dimension) -> usize) -> PyResult<PyShape> {
        Ok(PyShape(self.dims()?.iter().map(f).collect()))
    }
}

#[pymethods]
impl PyPartialShape {
    /// From a list/tuple of ints (-1 dynamic), `(min, max)` pairs, `Dimension`s or strings, a `Shape`, or a string.
    #[new]
    fn new(shape: &Bound<'_, PyAny>) -> PyResult<PyPartialShape> {
        extract_partial_shape(shape).map(PyPartialShape)
    }

    /// A shape of dynamic rank, or of the given rank with every dimension dynamic.
    #[staticmethod]
    #[pyo3(signature = (rank=None))]
    fn dynamic(rank: Option<&Bound<'_, PyAny>>) -> PyResult<PyPartialShape> {
        match rank {
            None => Ok(PyPartialShape(PartialShape::dynamic_rank())),
            Some(r) => match extract_dimension(r)?.get() {
                Some(n) => Ok(PyPartialShape(PartialShape::dynamic_of_rank(n as usize))),
                None => Ok(PyPartialShape(PartialShape::dynamic_rank())),
            },
        }
    }

    /// The rank as a `Dimension` (dynamic when unknown).
    #[getter]
    fn rank(&self) -> PyDimension {
        PyDimension(
            self.0
                .rank()
                .map(Dimension::from)
                .unwrap_or(Dimension::DYNAMIC),
        )
    }
    /// True when rank and every dimension are known.
    #[getter]
    fn is_static(&self) -> bool {
        self.0.is_static()
    }
    /// True unless static.
    #[getter]
    fn is_dynamic(&self) -> bool {
        self.0.is_dynamic()
    }
    /// True (dimensions are never negative here).
    #[getter]
    fn all_non_negative(&self) -> bool {
        true
    }
    /// Dimension `i`.
    fn get_dimension(&self, i: isize) -> PyResult<PyDimension> {
        let j = self.index(i)?;
        Ok(PyDimension(self.dims()?[j]))
    }
    /// The static shape; raises when any dimension is dynamic.
    fn to_shape(&self) -> PyResult<PyShape> {
        self.0
            .to_static()
            .map(PyShape)
            .ok_or_else(|| PyRuntimeError::new_err("to_shape was called on a dynamic shape."))
    }
    /// Lower bounds of every dimension.
    fn get_min_shape(&self) -> PyResult<PyShape> {
        self.bounds_shape(|d| d.min() as usize)
    }
    /// Upper bounds of every dimension (`i64::MAX` when unbounded, as OpenVINO prints).
    fn get_max_shape(&self) -> PyResult<PyShape> {
        self.bounds_shape(|d| d.max().map(|m| m as usize).unwrap_or(i64::MAX as usize))
    }
    /// True when some static shape satisfies both.
    fn compatible(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.compatible(&extract_partial_shape(other)?))
    }
    /// True when every shape `self` allows is allowed by `other`.
    fn refines(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.refines(&extract_partial_shape(other)?))
    }
    /// True when `other` refines `self`.
    fn relaxes(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.relaxes(&extract_partial_shape(other)?))
    }
    /// True when both have the same rank scheme and equal static dimensions.
    fn same_scheme(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.0.same_scheme(&extract_partial_shape(other)?))
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.dims()?.len())
    }
    fn __getitem__(&self, i: isize) -> PyResult<PyDimension> {
        self.get_dimension(i)
    }
    fn __setitem__(&mut self, i: isize, d: &Bound<'_, PyAny>) -> PyResult<()> {
        let j = self.index(i)?;
        let dim = extract_dimension(d)?;
        if let Some(dims) = self.0.dims_mut()
            && let Some(slot) = dims.get_mut(j)
        {
            *slot = dim;
        }
        Ok(())
    }
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let dims: Vec<PyDimension> = self.dims()?.iter().map(|d| PyDimension(*d)).collect();
        Ok(dims.into_pyobject(py)?.try_iter()?.into_any().unbind())
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        extract_partial_shape(other).is_ok_and(|o| o == self.0)
    }
    fn __repr__(&self) -> String {
        format!("<PartialShape: {}>", self.0)
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
}
