//! `Input`: an input port of a node (which output feeds it, and its type and shape).

use super::element_type::PyType;
use super::errors::IntoPyResult;
use super::node::PyNode;
use super::output::{PyOutput, output, port_of};
use super::partial_shape::PyPartialShape;
use crate::ir::{Node, Output};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Input `index` of `node` (`<Input: shape[1,3] type: f32>`).
#[pyclass(module = "ferrovino", name = "Input", frozen)]
pub struct PyInput {
    /// The consuming node.
    pub node: Node,
    /// The input index.
    pub index: usize,
}

impl PyInput {
    fn source(&self) -> PyResult<Output> {
        self.node.input(self.index).py()
    }
}

#[pymethods]
impl PyInput {
    /// The consuming node.
    fn get_node(&self) -> PyNode {
        PyNode(self.node.clone())
    }
    /// The input index.
    fn get_index(&self) -> usize {
        self.index
    }
    /// The output feeding this input.
    fn get_source_output(&self, py: Python<'_>) -> PyResult<Py<PyOutput>> {
        output(py, self.source()?)
    }
    /// Connects another output to this input and re-runs shape inference of the node.
    fn replace_source_output(&self, new_source: &Bound<'_, PyAny>) -> PyResult<()> {
        self.node.set_input(self.index, port_of(new_source)?).py()?;
        self.node.validate().py()
    }
    /// The element type.
    fn get_element_type(&self) -> PyResult<PyType> {
        Ok(PyType(self.source()?.element_type()))
    }
    /// The partial shape.
    fn get_partial_shape(&self) -> PyResult<PyPartialShape> {
        Ok(PyPartialShape(self.source()?.shape()))
    }
    /// The static shape; raises when dynamic.
    fn get_shape(&self) -> PyResult<super::shape::PyShape> {
        self.source()?
            .shape()
            .to_static()
            .map(super::shape::PyShape)
            .ok_or_else(|| PyRuntimeError::new_err("to_shape was called on a dynamic shape."))
    }
    fn __repr__(&self) -> PyResult<String> {
        let s = self.source()?;
        Ok(format!(
            "<Input: shape{} type: {}>",
            s.shape(),
            s.element_type()
        ))
    }
}
