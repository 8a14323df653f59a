//! `Core`: reads models, compiles them for a device and answers device queries.

use super::compiled_model::PyCompiledModel;
use super::errors::{detached, guarded};
use super::model::PyModel;
use super::properties::{optional_config, property_to_py, py_to_config};
use super::tensor::PyTensor;
use crate::Error;
use crate::ir::{ElementType, Model, Tensor};
use crate::runtime::Config;
use crate::runtime::core::{Compiled, Core, ModelSource};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The runtime's entry point (`Core()`).
#[pyclass(module = "ferrovino", name = "Core", subclass, frozen)]
pub struct PyCore(pub Arc<Core>);

/// The bytes of a `bytes` or `BytesIO` object.
fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(b.as_bytes().to_vec()));
    }
    if obj.hasattr("getvalue")? {
        return Ok(Some(
            obj.call_method0("getvalue")?
                .cast::<PyBytes>()?
                .as_bytes()
                .to_vec(),
        ));
    }
    Ok(None)
}

fn read(
    core: &Core,
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    weights: Option<&Bound<'_, PyAny>>,
) -> PyResult<Model> {
    if let Some(xml) = bytes_of(model)? {
        let w = match weights {
            None => None,
            Some(w) => Some(match (w.cast::<PyTensor>(), bytes_of(w)?) {
                (Ok(t), _) => t.borrow().inner.clone(),
                (Err(_), Some(b)) => {
                    guarded(|| Tensor::from_bytes(ElementType::U8, &[b.len()], &b))?
                }
                (Err(_), None) => {
                    return Err(PyTypeError::new_err(
                        "weights must be bytes, BytesIO or a Tensor",
                    ));
                }
            }),
        };
        return detached(py, || core.read_model_bytes(&xml, w));
    }
    let path: PathBuf = model
        .extract()
        .map_err(|_| PyTypeError::new_err("model must be a path, bytes or BytesIO"))?;
    let bin: Option<PathBuf> = weights.map(|w| w.extract()).transpose()?;
    detached(py, || core.read_model_path(&path, bin.as_deref()))
}

/// Compiles a model file through the cache: `reader()` (a Python callable returning a `Model`) reads it on a
/// miss; without a reader the file is read as IR.
fn compile_file(
    core: &Core,
    py: Python<'_>,
    path: &Path,
    reader: Option<Py<PyAny>>,
    device: &str,
    cfg: &Config,
) -> PyResult<Compiled> {
    let failure: Mutex<Option<PyErr>> = Mutex::new(None);
    let read = || -> crate::Result<Model> {
        let Some(reader) = &reader else {
            return core.read_model_path(path, None);
        };
        Python::attach(|py| {
            reader
                .call0(py)
                .and_then(|m| Ok(m.bind(py).cast::<PyModel>()?.borrow().0.clone()))
        })
        .map_err(|e| {
            let msg = e.to_string();
            if let Ok(mut slot) = failure.lock() {
                *slot = Some(e);
            }
            Error::InvalidArgument(format!("reading '{}' failed: {msg}", path.display()))
        })
    };
    let source = ModelSource::File { path, read: &read };
    let result = detached(py, || core.compile_source(source, device, cfg));
    match failure.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => result,
    }
}

/// Runs `f` with the custom op classes of `Core.add_extension` available to the IR reader.
fn with_classes<R>(classes: Vec<Py<PyAny>>, f: impl FnOnce() -> R) -> R {
    let source = std::rc::Rc::new(super::custom_op::PyExtensions(classes));
    crate::ops::registry::with_extensions(source, f)
}

impl PyCore {
    /// Compiles a model, model bytes or a model file (see `compile_model`).
    fn compile_any(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        device_name: Option<&str>,
        config: Option<&Bound<'_, PyDict>>,
        reader: Option<Py<PyAny>>,
    ) -> PyResult<(PyCompiledModel, Vec<String>)> {
        let cfg = optional_config(config)?;
        let device = device_name.unwrap_or("AUTO");
        let core = &self.0;
        let compiled = if let Ok(m) = model.cast::<PyModel>() {
            let m = m.borrow().0.clone();
            detached(py, || {
                core.compile_source(ModelSource::Model(&m), device, &cfg)
            })?
        } else if bytes_of(model)?.is_some() {
            let m = read(core, py, model, None)?;
            detached(py, || {
                core.compile_source(ModelSource::Model(&m), device, &cfg)
            })?
        } else {
            let path: PathBuf = model.extract().map_err(|_| {
                PyTypeError::new_err("model must be a Model, a path, bytes or BytesIO")
            })?;
            compile_file(core, py, &path, reader, device, &cfg)?
        };
        Ok((PyCompiledModel(compiled.model), compiled.warnings))
    }

    fn first_device(&self) -> crate::Result<String> {
        self.0
            .available_devices()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Device("no device available".into()))
    }
}

#[pymethods]
impl PyCore {
    /// `Core(xml_config_file="")` (the plugin configuration file is not used).
    #[new]
    #[pyo3(signature = (xml_config_file=""))]
    fn new(xml_config_file: &str) -> PyCore {
        let _ = xml_config_file;
        PyCore(Arc::new(Core::new()))
    }
    /// Physical devices (`CPU`, `GPU.0`, ...).
    #[getter(available_devices)]
    fn prop_available_devices(&self) -> Vec<String> {
        self.0.available_devices()
    }
    /// Physical devices (`CPU`, `GPU.0`, ...).
    fn get_available_devices(&self) -> Vec<String> {
        self.0.available_devices()
    }
    /// Reads an IR model from a path (`.bin` beside it unless `weights` is given) or from XML bytes and weight bytes;
    /// layers of a type no opset defines are built from the custom op classes in `extensions` (by class name).
    #[pyo3(signature = (model, weights=None, config=None, extensions=Vec::new()))]
    fn read_model(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        weights: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
        extensions: Vec<Py<PyAny>>,
    ) -> PyResult<PyModel> {
        optional_config(config)?;
        with_classes(extensions, || read(&self.0, py, model, weights)).map(PyModel)
    }
    /// Compiles a model, or a model file (read by `reader()` when given, else as IR), for a device; no device
    /// means AUTO. Returns the compiled model and the warnings of the model cache (`CACHE_DIR`): a file source is
    /// keyed by its path, size and modification time, so a cached compilation does not read it. A cached blob's
    /// custom ops come from the classes in `extensions`.
    #[pyo3(signature = (model, device_name=None, config=None, reader=None, extensions=Vec::new()))]
    fn compile_model(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        device_name: Option<&str>,
        config: Option<&Bound<'_, PyDict>>,
        reader: Option<Py<PyAny>>,
        extensions: Vec<Py<PyAny>>,
    ) -> PyResult<(PyCompiledModel, Vec<String>)> {
        with_classes(extensions, || {
            self.compile_any(py, model, device_name, config, reader)
        })
    }
    /// Imports a blob that `CompiledModel.export_model()` wrote; its custom ops come from the classes in
    /// `extensions`.
    #[pyo3(signature = (model_stream, device_name, config=None, extensions=Vec::new()))]
    fn import_model(
        &self,
        py: Python<'_>,
        model_stream: &Bound<'_, PyAny>,
        device_name: &str,
        config: Option<&Bound<'_, PyDict>>,
        extensions: Vec<Py<PyAny>>,
    ) -> PyResult<PyCompiledModel> {
        let cfg = optional_config(config)?;
        let blob = bytes_of(model_stream)?
            .ok_or_else(|| PyTypeError::new_err("import_model takes bytes or BytesIO"))?;
        let core = &self.0;
        with_classes(extensions, || {
            detached(py, || core.import_model(&blob, device_name, &cfg)).map(PyCompiledModel)
        })
    }
    /// The blob of a compiled model (`CompiledModel.export_model()`).
    #[staticmethod]
    fn _export_model<'py>(
        py: Python<'py>,
        compiled: &Bound<'_, PyCompiledModel>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let model = compiled.get().0.clone();
        let blob = detached(py, || crate::runtime::cache::export_blob(model.as_ref()))?;
        Ok(PyBytes::new(py, &blob))
    }
    /// Node friendly name → device that would run it.
    #[pyo3(signature = (model, device_name, config=None))]
    fn query_model(
        &self,
        model: &Bound<'_, PyModel>,
        device_name: &str,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<std::collections::BTreeMap<String, String>> {
        let cfg = optional_config(config)?;
        guarded(|| self.0.query_model(&model.borrow().0, device_name, &cfg))
    }
    /// `set_property(device, {key: value})`, or `set_property({key: value})` for every device.
    #[pyo3(signature = (device_name_or_properties, properties=None))]
    fn set_property(
        &self,
        device_name_or_properties: &Bound<'_, PyAny>,
        properties: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        if let Ok(d) = device_name_or_properties.cast::<PyDict>() {
            let cfg = py_to_config(d)?;
            return self
                .0
                .available_devices()
                .iter()
                .try_for_each(|dev| guarded(|| self.0.set_property(dev, &cfg)));
        }
        let device: String = device_name_or_properties.extract()?;
        let props = properties.ok_or_else(|| {
            PyTypeError::new_err("set_property(device, properties) needs a dict of properties")
        })?;
        let cfg = py_to_config(props)?;
        guarded(|| self.0.set_property(&device, &cfg))
    }
    /// `get_property(device, key)`, or `get_property(key)` answered by the first device.
    #[pyo3(signature = (device_name_or_property, property=None))]
    fn get_property<'py>(
        &self,
        py: Python<'py>,
        device_name_or_property: &Bound<'_, PyAny>,
        property: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let first = device_name_or_property.str()?.to_string();
        let (device, key) = match property {
            Some(p) => (first, p.str()?.to_string()),
            None => (guarded(|| self.first_device())?, first),
        };
        let v = guarded(|| self.0.get_property(&device, &key))?;
        property_to_py(py, &v)
    }
    /// Device name → version string of the devices behind `device_name`.
    fn get_versions(
        &self,
        device_name: &str,
    ) -> PyResult<std::collections::BTreeMap<String, String>> {
        guarded(|| self.0.versions(device_name))
    }
    fn __repr__(&self) -> String {
        format!(
            "<Core: available plugins[{}]>",
            self.0.available_devices().join(", ")
        )
    }
}
