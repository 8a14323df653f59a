//! `Shape`: a static shape that behaves like a list of ints (negative indices, slices, `== list`).

use crate::ir::shape::fmt_shape;
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PySlice;

/// A static shape (`Shape([1, 3, 224, 224])`).
#[pyclass(module = "ferrovino", name = "Shape", sequence, from_py_object)]
#[derive(Clone)]
pub struct PyShape(pub Vec<usize>);

/// Converts a `Shape` or a sequence of non-negative ints into a static shape.
pub fn extract_shape(obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    if let Ok(s) = obj.cast::<PyShape>() {
        return Ok(s.borrow().0.clone());
    }
    obj.extract::<Vec<usize>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "cannot use {obj} as a static shape (expected a list or tuple of non-negative ints)"
        ))
    })
}

impl PyShape {
    fn index(&self, i: isize) -> PyResult<usize> {
        let n = self.0.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!(
                "index {i} is out of range for rank {n}"
            )));
        }
        Ok(j as usize)
    }
}

#[pymethods]
impl PyShape {
    /// From a list or tuple of ints (empty for a scalar).
    #[new]
    #[pyo3(signature = (shape=None))]
    fn new(shape: Option<&Bound<'_, PyAny>>) -> PyResult<PyShape> {
        shape
            .map(extract_shape)
            .transpose()
            .map(|s| PyShape(s.unwrap_or_default()))
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }
    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let idx = slice.indices(self.0.len() as isize)?;
            let picked: Vec<usize> = (0..idx.slicelength)
                .map(|k| self.0[(idx.start + k as isize * idx.step) as usize])
                .collect();
            return Ok(Py::new(py, PyShape(picked))?.into_any());
        }
        let j = self.index(key.extract()?)?;
        Ok(self.0[j].into_pyobject(py)?.into_any().unbind())
    }
    fn __setitem__(&mut self, i: isize, v: usize) -> PyResult<()> {
        let j = self.index(i)?;
        self.0[j] = v;
        Ok(())
    }
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .0
            .clone()
            .into_pyobject(py)?
            .try_iter()?
            .into_any()
            .unbind())
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        extract_shape(other).is_ok_and(|o| o == self.0)
    }
    fn __repr__(&self) -> String {
        format!("<Shape: {}>", fmt_shape(&self.0))
    }
    fn __str__(&self) -> String {
        fmt_shape(&self.0)
    }
}
