//! `CompiledModel`: a model compiled for one device; creates infer requests.

use super::errors::{IntoPyResult, guarded};
use super::infer_request::PyInferRequest;
use super::model::{PyModel, model_repr, port_by_key};
use super::output::{PyConstOutput, const_output};
use super::properties::property_to_py;
use crate::Error;
use crate::runtime::CompiledModel;
use crate::runtime::properties::compiled_model_property;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// A compiled model (`core.compile_model(model, "CPU")`).
#[pyclass(module = "ferrovino", name = "CompiledModel", subclass, frozen)]
pub struct PyCompiledModel(pub Arc<dyn CompiledModel>);

#[pymethods]
impl PyCompiledModel {
    /// Another handle to the same compiled model.
    #[new]
    fn new(other: &Bound<'_, PyCompiledModel>) -> PyCompiledModel {
        PyCompiledModel(other.get().0.clone())
    }
    /// The model inputs.
    #[getter]
    fn inputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyConstOutput>>> {
        self.0
            .model()
            .inputs()
            .into_iter()
            .map(|o| const_output(py, o))
            .collect()
    }
    /// The model outputs.
    #[getter]
    fn outputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyConstOutput>>> {
        self.0
            .model()
            .outputs()
            .into_iter()
            .map(|o| const_output(py, o))
            .collect()
    }
    /// Input by index or tensor name (no argument: the only input).
    #[pyo3(signature = (key=None))]
    fn input(&self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyConstOutput>> {
        const_output(py, port_by_key(self.0.model(), key, true)?)
    }
    /// Output by index or tensor name (no argument: the only output).
    #[pyo3(signature = (key=None))]
    fn output(
        &self,
        py: Python<'_>,
        key: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyConstOutput>> {
        const_output(py, port_by_key(self.0.model(), key, false)?)
    }
    /// A new infer request.
    fn create_infer_request(&self) -> PyInferRequest {
        PyInferRequest::create(self.0.clone())
    }
    /// The executed graph: one `ExecutionNode` per step the device runs, with `layerType`, `primitiveType` and
    /// `originalLayersNames` (the nodes fused into it) in its rt_info.
    fn get_runtime_model(&self) -> PyResult<PyModel> {
        guarded(|| crate::runtime::exec_graph::runtime_model(self.0.as_ref())).map(PyModel)
    }
    /// Reads a compiled-model property (`SUPPORTED_PROPERTIES` lists every key it answers).
    fn get_property<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = name.str()?.to_string();
        let v = guarded(|| compiled_model_property(self.0.as_ref(), &key))?;
        property_to_py(py, &v)
    }
    /// Compiled models take no property changes after compilation.
    fn set_property(&self, properties: &Bound<'_, PyDict>) -> PyResult<()> {
        let keys: Vec<String> = properties
            .keys()
            .iter()
            .map(|k| k.str().map(|s| s.to_string()))
            .collect::<PyResult<_>>()?;
        Err(Error::Unsupported(format!(
            "It's not possible to set property of an already compiled model ({}). Set property to \
             Core::compile_model during compilation",
            keys.join(", ")
        )))
        .py()
    }
    fn __repr__(&self) -> String {
        model_repr("CompiledModel:", self.0.model())
    }
}
