//! `ConstOutput` and `Output`: an output port of a node. `Output` extends `ConstOutput` with the name setters,
//! so both classes share one definition of every read accessor (and ports of either kind hash alike).

use super::element_type::PyType;
use super::errors::IntoPyResult;
use super::node::PyNode;
use super::partial_shape::PyPartialShape;
use super::shape::PyShape;
use crate::ir::Output;
use crate::ir::rt_info::{RtValue, set_path};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::PyDict;
use std::collections::BTreeSet;

/// A read-only output port (`<ConstOutput: names[x] shape[1,3] type: f32>`).
#[pyclass(module = "ferrovino", name = "ConstOutput", subclass, frozen)]
pub struct PyConstOutput(pub Output);

/// A writable output port: a `ConstOutput` whose tensor names can be changed.
#[pyclass(module = "ferrovino", name = "Output", extends = PyConstOutput, frozen)]
pub struct PyOutput;

/// The tensor names of a port; a Result's output shares the names of the tensor it consumes, as in OpenVINO.
pub fn port_names(o: &Output) -> BTreeSet<String> {
    target(o).names()
}

/// The port a Python object stands for: a `ConstOutput`/`Output`, or a single-output `Node` (its output 0).
pub fn port_of(obj: &Bound<'_, PyAny>) -> PyResult<Output> {
    if let Ok(o) = obj.cast::<PyConstOutput>() {
        return Ok(o.get().0.clone());
    }
    if let Ok(n) = obj.cast::<PyNode>() {
        return Ok(n.get().0.output(0));
    }
    Err(PyTypeError::new_err(format!(
        "expected an Output, ConstOutput or Node, got {}",
        obj.get_type().name()?
    )))
}

/// A new Python `ConstOutput`.
pub fn const_output(py: Python<'_>, o: Output) -> PyResult<Py<PyConstOutput>> {
    Py::new(py, PyConstOutput(o))
}

/// A new Python `Output`.
pub fn output(py: Python<'_>, o: Output) -> PyResult<Py<PyOutput>> {
    Py::new(
        py,
        PyClassInitializer::from(PyConstOutput(o)).add_subclass(PyOutput),
    )
}

/// A list of `Output`s.
pub fn outputs(py: Python<'_>, ports: Vec<Output>) -> PyResult<Vec<Py<PyOutput>>> {
    ports.into_iter().map(|o| output(py, o)).collect()
}

/// `<Kind: names[a, b] shape[1,3] type: f32>`.
pub fn describe(kind: &str, o: &Output) -> String {
    let names: Vec<String> = port_names(o).into_iter().collect();
    format!(
        "<{kind}: names[{}] shape{} type: {}>",
        names.join(", "),
        o.shape(),
        o.element_type()
    )
}

fn key(o: &Output) -> (u64, usize) {
    (o.node.id(), o.index)
}

#[pymethods]
impl PyConstOutput {
    /// The producing node.
    fn get_node(&self) -> PyNode {
        PyNode(self.0.node.clone())
    }
    /// The producing node.
    #[getter(node)]
    fn prop_node(&self) -> PyNode {
        self.get_node()
    }
    /// The port index on its node.
    fn get_index(&self) -> usize {
        self.0.index
    }
    /// The port index on its node.
    #[getter(index)]
    fn prop_index(&self) -> usize {
        self.0.index
    }
    /// The element type.
    fn get_element_type(&self) -> PyType {
        PyType(self.0.element_type())
    }
    /// The element type.
    #[getter(element_type)]
    fn prop_element_type(&self) -> PyType {
        self.get_element_type()
    }
    /// The static shape; raises when dynamic.
    fn get_shape(&self) -> PyResult<PyShape> {
        self.0
            .shape()
            .to_static()
            .map(PyShape)
            .ok_or_else(|| PyRuntimeError::new_err("to_shape was called on a dynamic shape."))
    }
    /// The static shape; raises when dynamic.
    #[getter(shape)]
    fn prop_shape(&self) -> PyResult<PyShape> {
        self.get_shape()
    }
    /// The partial shape.
    fn get_partial_shape(&self) -> PyPartialShape {
        PyPartialShape(self.0.shape())
    }
    /// The partial shape.
    #[getter(partial_shape)]
    fn prop_partial_shape(&self) -> PyPartialShape {
        self.get_partial_shape()
    }
    /// The tensor names.
    fn get_names(&self) -> BTreeSet<String> {
        port_names(&self.0)
    }
    /// The tensor names.
    #[getter(names)]
    fn prop_names(&self) -> BTreeSet<String> {
        self.get_names()
    }
    /// The first tensor name; raises when there is none.
    fn get_any_name(&self) -> PyResult<String> {
        port_names(&self.0).into_iter().next().ok_or_else(|| {
            PyRuntimeError::new_err("Attempt to get a name for a Tensor without names")
        })
    }
    /// The first tensor name; raises when there is none.
    #[getter(any_name)]
    fn prop_any_name(&self) -> PyResult<String> {
        self.get_any_name()
    }
    /// The port's runtime info as a dict of strings (nested sections as dicts); `layout` holds a port layout.
    fn get_rt_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let port = self.0.node.port(self.0.index).py()?;
        super::model::rt_info_to_py(py, &port.rt_info)
    }
    /// Sets a runtime-info string at a path (a key or a list of keys), as `Model.set_rt_info` does.
    fn set_rt_info(&self, value: &Bound<'_, PyAny>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let keys = super::model::rt_path(path)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let value = RtValue::Str(value.str()?.to_string());
        self.0
            .node
            .update_port(self.0.index, |p| set_path(&mut p.rt_info, &refs, value))
            .py()
    }
    fn __hash__(&self) -> u64 {
        super::dimension::hash_of(&key(&self.0))
    }
    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(o) = other.cast::<PyConstOutput>() else {
            return Ok(py.NotImplemented());
        };
        let b = op.matches(key(&self.0).cmp(&key(&o.get().0)));
        Ok(pyo3::types::PyBool::new(py, b)
            .to_owned()
            .into_any()
            .unbind())
    }
    fn __repr__(&self) -> String {
        describe("ConstOutput", &self.0)
    }
}

#[pymethods]
impl PyOutput {
    /// Replaces the tensor names.
    fn set_names(slf: PyRef<'_, Self>, names: BTreeSet<String>) -> PyResult<()> {
        target(&slf.as_super().0).set_names(names).py()
    }
    /// Adds tensor names.
    fn add_names(slf: PyRef<'_, Self>, names: BTreeSet<String>) -> PyResult<()> {
        target(&slf.as_super().0).add_names(names).py()
    }
    fn __repr__(slf: PyRef<'_, Self>) -> String {
        describe("Output", &slf.as_super().0)
    }
}

/// The port that owns the names of `o` (the consumed tensor for a Result's output).
fn target(o: &Output) -> Output {
    if o.node.type_name() == "Result"
        && let Ok(src) = o.node.input(0)
    {
        return src;
    }
    o.clone()
}
