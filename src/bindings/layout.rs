//! `Layout`: names for the dimensions of a tensor (`NCHW`, `N...C`, `[N,C,H,W]`).

use super::errors::IntoPyResult;
use crate::ir::Layout;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// A layout (`Layout("NCHW")`).
#[pyclass(module = "ferrovino", name = "Layout", frozen, from_py_object)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyLayout(pub Layout);

/// Converts a `Layout` or a layout string into a layout.
pub fn extract_layout(obj: &Bound<'_, PyAny>) -> PyResult<Layout> {
    if let Ok(l) = obj.cast::<PyLayout>() {
        return Ok(l.get().0.clone());
    }
    Layout::parse(&obj.cast::<PyString>()?.to_cow()?).py()
}

/// OpenVINO's printed form: `[N,C,H,W]`, `[...]` when empty, `**SCALAR**` for a scalar.
fn layout_string(l: &Layout) -> String {
    if l.is_empty() {
        "[...]".into()
    } else if l.names().is_empty() {
        "**SCALAR**".into()
    } else {
        l.to_string()
    }
}

#[pymethods]
impl PyLayout {
    /// `Layout("NCHW")`, `Layout("N...C")`, `Layout("[N,C,H,W]")`, or the empty layout.
    #[new]
    #[pyo3(signature = (layout=""))]
    fn new(layout: &str) -> PyResult<PyLayout> {
        Layout::parse(layout).py().map(PyLayout)
    }
    /// The layout of a scalar.
    #[staticmethod]
    fn scalar() -> PyLayout {
        PyLayout(Layout::scalar())
    }
    /// True when no dimension is named.
    #[getter]
    fn empty(&self) -> bool {
        self.0.is_empty()
    }
    /// True when the layout names dimension `name`.
    fn has_name(&self, name: &str) -> bool {
        self.0.has_name(name)
    }
    /// The index of `name` (negative when it follows `...`).
    fn get_index_by_name(&self, name: &str) -> PyResult<i64> {
        self.0.index_of(name).py()
    }
    /// The bracketed form (`[N,C,H,W]`).
    #[pyo3(name = "to_string")]
    fn text(&self) -> String {
        layout_string(&self.0)
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        extract_layout(other).is_ok_and(|l| l == self.0)
    }
    fn __hash__(&self) -> u64 {
        super::dimension::hash_of(&self.0)
    }
    fn __repr__(&self) -> String {
        format!("<Layout: {}>", layout_string(&self.0))
    }
    fn __str__(&self) -> String {
        layout_string(&self.0)
    }
}
