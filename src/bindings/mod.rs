//! PyO3 bindings: one file per Python class, converting types and nothing else. The native module is
//! `ferrovino._native`; the `ferrovino` Python package re-exports it and adds the pure-Python glue (input
//! normalisation, `OVDict`, the opset builders).

mod compiled_model;
mod control_flow;
mod core;
mod custom_op;
mod dimension;
mod element_type;
mod errors;
mod factory;
mod infer_request;
mod input;
mod layout;
mod model;
mod node;
mod output;
mod partial_shape;
mod properties;
mod shape;
mod tensor;
mod variables;

use errors::detached;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Writes a model as IR v11 (`xml` and `bin`, by default `xml` with `.bin`), f32 weights compressed to f16 unless
/// `compress_to_fp16` is false.
#[pyfunction]
#[pyo3(signature = (model, xml_path, bin_path=None, compress_to_fp16=false))]
fn write_model(
    py: Python<'_>,
    model: &Bound<'_, model::PyModel>,
    xml_path: PathBuf,
    bin_path: Option<PathBuf>,
    compress_to_fp16: bool,
) -> PyResult<()> {
    let m = model.borrow().0.clone();
    let bin = bin_path
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| xml_path.with_extension("bin"));
    detached(py, || {
        crate::frontends::ir::write_model(&m, &xml_path, &bin, compress_to_fp16)
    })
}

/// Serializes a model to IR v11 in memory: `(xml_text, weights_bytes)`.
#[pyfunction]
#[pyo3(signature = (model, compress_to_fp16=false))]
fn serialize_to_bytes<'py>(
    py: Python<'py>,
    model: &Bound<'_, model::PyModel>,
    compress_to_fp16: bool,
) -> PyResult<(String, Bound<'py, pyo3::types::PyBytes>)> {
    let m = model.borrow().0.clone();
    let (xml, bin) = detached(py, || crate::frontends::ir::serialize(&m, compress_to_fp16))?;
    Ok((xml, pyo3::types::PyBytes::new(py, &bin)))
}

/// The skeleton of the ONNX file at `path`, its large initializers referring to their bytes in the file (see
/// `frontends::onnx_skeleton`), or `None` when none is large enough to move.
#[pyfunction]
fn onnx_skeleton<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<Option<Bound<'py, pyo3::types::PyBytes>>> {
    let location = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .unwrap_or_default();
    let skeleton = detached(py, || {
        let io = |source| crate::error::Error::Io {
            context: format!("reading ONNX model '{}'", path.display()),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 || location.is_empty() {
            return Ok(None);
        }
        // SAFETY: the map is read-only and dropped before this returns; the file is only read.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        crate::frontends::onnx_skeleton::skeleton(&map, &location)
    })?;
    Ok(skeleton.map(|bytes| pyo3::types::PyBytes::new(py, &bytes)))
}

/// The runtime version.
#[pyfunction]
fn get_version() -> &'static str {
    crate::runtime::core::VERSION
}

/// The native module `ferrovino._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<element_type::PyType>()?;
    m.add_class::<dimension::PyDimension>()?;
    m.add_class::<partial_shape::PyPartialShape>()?;
    m.add_class::<shape::PyShape>()?;
    m.add_class::<layout::PyLayout>()?;
    m.add_class::<tensor::PyTensor>()?;
    m.add_class::<node::PyNode>()?;
    m.add_class::<node::PyTypeInfo>()?;
    m.add_class::<custom_op::PyCustomOp>()?;
    m.add_class::<custom_op::PyAttributeVisitor>()?;
    m.add_class::<input::PyInput>()?;
    m.add_class::<output::PyConstOutput>()?;
    m.add_class::<output::PyOutput>()?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<core::PyCore>()?;
    m.add_class::<compiled_model::PyCompiledModel>()?;
    m.add_class::<infer_request::PyInferRequest>()?;
    m.add_class::<infer_request::PyVariableState>()?;
    m.add_function(wrap_pyfunction!(factory::make_node, m)?)?;
    m.add_function(wrap_pyfunction!(factory::make_constant, m)?)?;
    m.add_function(wrap_pyfunction!(factory::make_parameter, m)?)?;
    m.add_function(wrap_pyfunction!(control_flow::make_if, m)?)?;
    m.add_function(wrap_pyfunction!(control_flow::make_loop, m)?)?;
    m.add_function(wrap_pyfunction!(control_flow::known_value, m)?)?;
    m.add_function(wrap_pyfunction!(write_model, m)?)?;
    m.add_function(wrap_pyfunction!(serialize_to_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(get_version, m)?)?;
    m.add_function(wrap_pyfunction!(onnx_skeleton, m)?)?;
    Ok(())
}
