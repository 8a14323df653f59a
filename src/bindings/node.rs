//! `Node`: a graph node (an op with its input connections and output ports).

use super::element_type::{PyType, parameter_type_name};
use super::errors::{IntoPyResult, guarded};
use super::factory::{attr_to_py, set_attributes};
use super::input::PyInput;
use super::layout::{PyLayout, extract_layout};
use super::output::{PyOutput, output, outputs};
use super::partial_shape::PyPartialShape;
use super::shape::PyShape;
use crate::Error;
use crate::ir::rt_info::RtValue;
use crate::ir::{AttributeCollector, Layout, Node};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The port rt_info key holding a layout.
const LAYOUT: &str = "layout";

/// A node of a model graph (`<Relu: 'relu1' ([1,3])>`).
#[pyclass(module = "ferrovino", name = "Node", subclass, frozen)]
pub struct PyNode(pub Node);

/// An op's name and the opset its version appeared in (`type_info.name`, `type_info.version_id`).
#[pyclass(module = "ferrovino", name = "DiscreteTypeInfo", frozen)]
pub struct PyTypeInfo {
    /// The op class name.
    #[pyo3(get)]
    name: &'static str,
    /// `opsetN`.
    #[pyo3(get)]
    version_id: &'static str,
}

#[pymethods]
impl PyTypeInfo {
    fn __repr__(&self) -> String {
        format!("<DiscreteTypeInfo: {} {}>", self.name, self.version_id)
    }
}

impl PyNode {
    fn port(&self, i: usize) -> PyResult<crate::ir::PortInfo> {
        self.0.port(i).py()
    }

    fn input_port(&self, i: usize) -> PyResult<crate::ir::Output> {
        self.0.input(i).py()
    }
}

#[pymethods]
impl PyNode {
    /// The layout of output 0 (a Parameter's layout; the empty `Layout()` when none is set).
    fn get_layout(&self) -> PyResult<PyLayout> {
        let port = self.0.port(0).py()?;
        let layout = match port.rt_info.get(LAYOUT) {
            Some(RtValue::Str(text)) => Layout::parse(text).py()?,
            _ => Layout::default(),
        };
        Ok(PyLayout(layout))
    }
    /// Sets the layout of output 0 (kept in the port's rt_info as `layout`, where IR files store it).
    fn set_layout(&self, layout: &Bound<'_, PyAny>) -> PyResult<()> {
        let layout = extract_layout(layout)?;
        self.0
            .update_port(0, |p| {
                if layout.is_empty() {
                    p.rt_info.remove(LAYOUT);
                } else {
                    p.rt_info
                        .insert(LAYOUT.into(), RtValue::Str(layout.to_string()));
                }
            })
            .py()
    }
    /// The op class name (`Relu`).
    fn get_type_name(&self) -> &'static str {
        self.0.type_name()
    }
    /// The op name and version.
    #[getter(type_info)]
    fn prop_type_info(&self) -> PyTypeInfo {
        let t = self.0.type_info();
        PyTypeInfo {
            name: t.name,
            version_id: t.version,
        }
    }
    /// The op name and version.
    fn get_type_info(&self) -> PyTypeInfo {
        self.prop_type_info()
    }
    /// The friendly name (`<Type>_<id>` unless set).
    #[getter(friendly_name)]
    fn prop_friendly_name(&self) -> String {
        self.0.friendly_name()
    }
    /// Sets the friendly name.
    #[setter(friendly_name)]
    fn set_friendly_name_prop(&self, name: &str) {
        self.0.set_friendly_name(name)
    }
    /// The friendly name.
    fn get_friendly_name(&self) -> String {
        self.0.friendly_name()
    }
    /// The friendly name (OpenVINO's unique name is not tracked separately).
    fn get_name(&self) -> String {
        self.0.friendly_name()
    }
    /// Sets the friendly name.
    fn set_friendly_name(&self, name: &str) {
        self.0.set_friendly_name(name)
    }
    /// The attributes as a dict (IR names → Python values).
    fn get_attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut collector = AttributeCollector::default();
        let mut op = self.0.op().clone_op();
        guarded(|| op.visit_attributes(&mut collector))?;
        let d = PyDict::new(py);
        for (k, v) in &collector.values {
            d.set_item(k, attr_to_py(py, v)?)?;
        }
        Ok(d)
    }
    /// Sets one attribute and re-runs shape inference.
    fn set_attribute(&self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = PyDict::new(value.py());
        d.set_item(name, value)?;
        let mut op = self.0.op().clone_op();
        set_attributes(op.as_mut(), &d)?;
        let previous = std::mem::replace(&mut *self.0.op_mut(), op);
        if let Err(e) = guarded(|| self.0.validate()) {
            *self.0.op_mut() = previous;
            return Err(e);
        }
        Ok(())
    }
    /// Number of inputs.
    fn get_input_size(&self) -> usize {
        self.0.input_count()
    }
    /// Number of outputs.
    fn get_output_size(&self) -> usize {
        self.0.output_count()
    }
    /// Input `i`.
    fn input(&self, i: usize) -> PyResult<PyInput> {
        self.input_port(i)?;
        Ok(PyInput {
            node: self.0.clone(),
            index: i,
        })
    }
    /// Every input.
    fn inputs(&self) -> Vec<PyInput> {
        (0..self.0.input_count())
            .map(|i| PyInput {
                node: self.0.clone(),
                index: i,
            })
            .collect()
    }
    /// The output feeding input `i`.
    fn input_value(&self, py: Python<'_>, i: usize) -> PyResult<Py<PyOutput>> {
        output(py, self.input_port(i)?)
    }
    /// The outputs feeding every input.
    fn input_values(&self, py: Python<'_>) -> PyResult<Vec<Py<PyOutput>>> {
        outputs(py, self.0.inputs())
    }
    /// Output port `i`.
    fn output(&self, py: Python<'_>, i: usize) -> PyResult<Py<PyOutput>> {
        self.port(i)?;
        output(py, self.0.output(i))
    }
    /// Every output port.
    fn outputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyOutput>>> {
        outputs(py, self.0.outputs())
    }
    /// Element type of output `i`.
    fn get_output_element_type(&self, i: usize) -> PyResult<PyType> {
        Ok(PyType(self.port(i)?.desc.element_type))
    }
    /// Partial shape of output `i`.
    fn get_output_partial_shape(&self, i: usize) -> PyResult<PyPartialShape> {
        Ok(PyPartialShape(self.port(i)?.desc.shape))
    }
    /// Static shape of output `i`; raises when dynamic.
    fn get_output_shape(&self, i: usize) -> PyResult<PyShape> {
        static_shape(&self.port(i)?.desc.shape)
    }
    /// Element type of input `i`.
    fn get_input_element_type(&self, i: usize) -> PyResult<PyType> {
        Ok(PyType(self.input_port(i)?.element_type()))
    }
    /// Partial shape of input `i`.
    fn get_input_partial_shape(&self, i: usize) -> PyResult<PyPartialShape> {
        Ok(PyPartialShape(self.input_port(i)?.shape()))
    }
    /// Static shape of input `i`; raises when dynamic.
    fn get_input_shape(&self, i: usize) -> PyResult<PyShape> {
        static_shape(&self.input_port(i)?.shape())
    }
    /// The element type of the single output.
    fn get_element_type(&self) -> PyResult<PyType> {
        if self.0.output_count() != 1 {
            return Err(Error::InvalidArgument(format!(
                "get_element_type() needs a node with one output; {} has {}",
                self.0.describe(),
                self.0.output_count()
            )))
            .py();
        }
        self.get_output_element_type(0)
    }
    /// Node runtime info as a dict of strings (nested sections as dicts).
    fn get_rt_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        super::model::rt_info_to_py(py, &self.0.rt_info())
    }
    /// A Constant's values as a numpy array of its shape (packed sub-byte types as their bytes), read-only unless
    /// `copy`; converted to `dtype` when given. (ferrovino hands out a copy: the Constant's bytes may be a read-only
    /// map of the weights file.)
    #[pyo3(signature = (*, dtype=None, copy=false))]
    fn get_data<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut array = super::tensor::to_numpy(py, &self.constant_value()?)?;
        if let Some(dtype) = dtype {
            array = array.call_method1("astype", (dtype,))?;
        }
        if !copy {
            array.getattr("flags")?.setattr("writeable", false)?;
        }
        Ok(array)
    }
    /// A Constant's values (read-only), as `get_data()`.
    #[getter(data)]
    fn prop_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.get_data(py, None, false)
    }
    /// A Constant's values as a one-dimensional array.
    fn get_vector<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.get_data(py, None, true)?.call_method0("ravel")
    }
    /// The size of a Constant's values in bytes.
    fn get_byte_size(&self) -> PyResult<usize> {
        Ok(self.constant_value()?.byte_size())
    }
    fn __repr__(&self) -> String {
        let shapes: Vec<String> = self
            .0
            .outputs()
            .iter()
            .map(|o| o.shape().to_string())
            .collect();
        let mut detail = shapes.join(", ");
        if self.0.type_name() == "Parameter" {
            let et = self
                .0
                .outputs()
                .first()
                .map(|o| o.element_type())
                .unwrap_or_default();
            detail = format!("{detail}, {}", parameter_type_name(et));
        }
        format!(
            "<{}: '{}' ({detail})>",
            self.0.type_name(),
            self.0.friendly_name()
        )
    }
}

impl PyNode {
    /// The value of a Constant node (sharing its bytes); a TypeError naming the node for any other.
    fn constant_value(&self) -> PyResult<crate::ir::Tensor> {
        self.0
            .op()
            .as_any()
            .downcast_ref::<crate::ops::structure::Constant>()
            .map(|c| c.value.clone())
            .ok_or_else(|| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "{} holds no data: only Constant nodes do",
                    self.0.describe()
                ))
            })
    }
}

fn static_shape(s: &crate::ir::PartialShape) -> PyResult<PyShape> {
    s.to_static()
        .map(PyShape)
        .ok_or_else(|| PyRuntimeError::new_err("to_shape was called on a dynamic shape."))
}
