//! `Model`: parameters and results of a graph, with OpenVINO's construction rules (non-Result outputs get wrapped
//! in Results; unnamed input and output tensors are named after their nodes) and `reshape` in every accepted form.

use super::element_type::PyType;
use super::errors::{IntoPyResult, guarded};
use super::node::PyNode;
use super::output::{PyConstOutput, PyOutput, describe, output, outputs, port_of};
use super::partial_shape::{PyPartialShape, extract_partial_shape};
use super::shape::PyShape;
use crate::Error;
use crate::ir::rt_info::{RtValue, get_path, set_path};
use crate::ir::{Model, Node, Output, PartialShape, RtInfo};
use crate::transformations::make_stateful;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::sync::atomic::{AtomicUsize, Ordering};

static MODEL_COUNT: AtomicUsize = AtomicUsize::new(0);

/// A model (`Model(results, parameters, name="")`).
#[pyclass(module = "ferrovino", name = "Model", subclass)]
pub struct PyModel(pub Model);

/// Converts runtime info into nested dicts of strings.
pub fn rt_info_to_py<'py>(py: Python<'py>, info: &RtInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in info {
        match v {
            RtValue::Str(s) => d.set_item(k, s)?,
            RtValue::Map(m) => d.set_item(k, rt_info_to_py(py, m)?)?,
        }
    }
    Ok(d)
}

/// A runtime-info path: one key, or a list of keys.
pub fn rt_path(path: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    match path.cast::<PyString>() {
        Ok(s) => Ok(vec![s.to_cow()?.to_string()]),
        Err(_) => path.extract(),
    }
}

/// Wraps a port in a Result unless its node already is one.
fn as_result(port: Output) -> crate::Result<Node> {
    if port.node.type_name() == "Result" {
        return Ok(port.node);
    }
    Node::new(crate::ops::registry::create("Result", 1)?, vec![port])
}

/// Names unnamed parameter tensors after their node and unnamed output tensors after their Result, as OpenVINO does.
fn name_unnamed_tensors(m: &Model) -> crate::Result<()> {
    for p in &m.parameters {
        let port = p.output(0);
        if port.names().is_empty() {
            port.add_names([p.friendly_name()])?;
        }
    }
    for r in &m.results {
        let src = r.input(0)?;
        if src.names().is_empty() {
            src.add_names([r.friendly_name()])?;
        }
    }
    Ok(())
}

fn nodes_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<pyo3::types::PyTuple>() {
        obj.try_iter()?.collect()
    } else {
        Ok(vec![obj.clone()])
    }
}

/// Input (`is_input`) or output of `m` by index or tensor name; with no key, the only one.
pub fn port_by_key(m: &Model, key: Option<&Bound<'_, PyAny>>, is_input: bool) -> PyResult<Output> {
    let (ports, what) = if is_input {
        (m.inputs(), "input")
    } else {
        (m.outputs(), "output")
    };
    let index = match key {
        None if ports.len() == 1 => 0,
        None => {
            return Err(PyRuntimeError::new_err(format!(
                "{what}() must be called with an index or a name on a model with {} {what}s",
                ports.len()
            )));
        }
        Some(k) => match k.cast::<PyString>() {
            Ok(s) if is_input => m.input_index(&s.to_cow()?).py()?,
            Ok(s) => m.output_index(&s.to_cow()?).py()?,
            Err(_) => k
                .extract::<usize>()
                .map_err(|_| PyTypeError::new_err(format!("{what}() takes an int or a str")))?,
        },
    };
    ports.get(index).cloned().ok_or_else(|| {
        PyRuntimeError::new_err(format!(
            "model has {} {what}s, there is no {what} {index}",
            ports.len()
        ))
    })
}

impl PyModel {
    fn output_port(&self, i: usize) -> PyResult<Output> {
        self.0.outputs().get(i).cloned().ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "model has {} outputs, there is no output {i}",
                self.0.results.len()
            ))
        })
    }

    fn input_index_of(&self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(s) = key.cast::<PyString>() {
            return self.0.input_index(&s.to_cow()?).py();
        }
        if key.is_instance_of::<PyConstOutput>() || key.is_instance_of::<PyNode>() {
            let port = port_of(key)?;
            return self
                .0
                .parameters
                .iter()
                .position(|p| *p == port.node)
                .ok_or_else(|| {
                    PyRuntimeError::new_err(format!(
                        "{} is not an input of this model",
                        port.node.describe()
                    ))
                });
        }
        key.extract::<usize>().map_err(|_| {
            PyTypeError::new_err("reshape keys must be input indices, tensor names or ports")
        })
    }
}

#[pymethods]
impl PyModel {
    /// `Model(results, parameters, name="")`, `Model(results, sinks, parameters, name="")`, each optionally with
    /// the declared `variables` (`op.util.Variable`s) after the parameters: results are Nodes or Outputs (wrapped in
    /// Results when needed); sinks are the Assign nodes (or their outputs) of a stateful model; declared variables
    /// must include every variable the graph uses.
    #[new]
    #[pyo3(signature = (results, *args, name=None, sinks=None, parameters=None, variables=None))]
    fn new(
        results: &Bound<'_, PyAny>,
        args: &Bound<'_, pyo3::types::PyTuple>,
        name: Option<String>,
        sinks: Option<Bound<'_, PyAny>>,
        parameters: Option<Bound<'_, PyAny>>,
        variables: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyModel> {
        let mut lists: Vec<Bound<'_, PyAny>> = args.iter().collect();
        let mut name = name;
        if let Some(last) = lists.last().filter(|l| l.is_instance_of::<PyString>()) {
            name = Some(last.extract()?);
            lists.pop();
        }
        let mut lists = lists.into_iter();
        let (sinks, parameters, variables) = match (lists.next(), lists.next(), lists.next()) {
            (None, _, _) => (sinks, parameters, variables),
            (Some(p), None, _) => (sinks, Some(p), variables),
            (Some(p), Some(v), None) if super::variables::is_variable_list(&v)? => {
                (sinks, Some(p), Some(v))
            }
            (Some(s), Some(p), None) => (Some(s), Some(p), variables),
            (Some(s), Some(p), Some(v)) => (Some(s), Some(p), Some(v)),
        };
        if lists.next().is_some() {
            return Err(PyTypeError::new_err(
                "Model(results, [sinks,] parameters, [variables,] name='') takes at most 5 arguments",
            ));
        }
        let declared = variables
            .map(|v| {
                nodes_of(&v)?
                    .iter()
                    .map(super::variables::from_py)
                    .collect::<PyResult<Vec<_>>>()
            })
            .transpose()?;
        let parameters = parameters
            .ok_or_else(|| PyTypeError::new_err("Model() needs the list of parameters"))?;
        let name = name.unwrap_or_default();
        let sink_nodes = match sinks {
            Some(s) => nodes_of(&s)?
                .iter()
                .map(|n| port_of(n).map(|p| p.node))
                .collect::<PyResult<Vec<_>>>()?,
            None => Vec::new(),
        };
        let ports = nodes_of(results)?
            .iter()
            .map(port_of)
            .collect::<PyResult<Vec<_>>>()?;
        let params = nodes_of(&parameters)?
            .iter()
            .map(|p| {
                p.cast::<PyNode>()
                    .map(|n| n.get().0.clone())
                    .map_err(|_| PyTypeError::new_err("parameters must be Parameter nodes"))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let id = MODEL_COUNT.fetch_add(1, Ordering::Relaxed);
        let name = if name.is_empty() {
            format!("Model{id}")
        } else {
            name.to_string()
        };
        guarded(|| {
            let results = ports
                .into_iter()
                .map(as_result)
                .collect::<crate::Result<Vec<_>>>()?;
            let mut m = Model::new(results, sink_nodes, params, &name)?;
            name_unnamed_tensors(&m)?;
            if let Some(declared) = declared {
                super::variables::check_declared(&m, &declared)?;
                m.variables = Some(declared);
            }
            Ok(PyModel(m))
        })
    }

    /// The model inputs (output 0 of each Parameter).
    #[getter]
    fn inputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyOutput>>> {
        outputs(py, self.0.inputs())
    }
    /// The model outputs (output 0 of each Result).
    #[getter]
    fn outputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyOutput>>> {
        outputs(py, self.0.outputs())
    }
    /// Input by index or tensor name (no argument: the only input).
    #[pyo3(signature = (key=None))]
    fn input(&self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyOutput>> {
        output(py, port_by_key(&self.0, key, true)?)
    }
    /// Output by index or tensor name (no argument: the only output).
    #[pyo3(signature = (key=None))]
    fn output(&self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyOutput>> {
        output(py, port_by_key(&self.0, key, false)?)
    }
    /// The Parameter nodes.
    fn get_parameters(&self) -> Vec<PyNode> {
        self.0.parameters.iter().cloned().map(PyNode).collect()
    }
    /// The Parameter nodes.
    #[getter(parameters)]
    fn prop_parameters(&self) -> Vec<PyNode> {
        self.get_parameters()
    }
    /// The sinks (Assign nodes of a stateful model).
    fn get_sinks(&self) -> Vec<PyNode> {
        self.0.sinks.iter().cloned().map(PyNode).collect()
    }
    /// The sinks (Assign nodes of a stateful model).
    #[getter(sinks)]
    fn prop_sinks(&self) -> Vec<PyNode> {
        self.get_sinks()
    }
    /// The variables of the model's state (`op.util.Variable`s): the declared ones, else those its ReadValue and
    /// Assign nodes name.
    fn get_variables<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        guarded(|| super::variables::model_variables(&self.0))?
            .iter()
            .map(|v| super::variables::to_py(py, v))
            .collect()
    }
    /// The variables of the model's state (see `get_variables`).
    #[getter(variables)]
    fn prop_variables<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.get_variables(py)
    }
    /// The variable with this id, or None.
    fn get_variable_by_id<'py>(
        &self,
        py: Python<'py>,
        variable_id: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        guarded(|| super::variables::model_variables(&self.0))?
            .iter()
            .find(|v| v.id == variable_id)
            .map(|v| super::variables::to_py(py, v))
            .transpose()
    }
    /// Declares more variables (a variable whose id is already declared replaces it).
    fn add_variables(&mut self, variables: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut declared = guarded(|| super::variables::model_variables(&self.0))?;
        for v in nodes_of(variables)? {
            let info = super::variables::from_py(&v)?;
            declared.retain(|d| d.id != info.id);
            declared.push(info);
        }
        self.0.variables = Some(declared);
        Ok(())
    }
    /// Removes a variable from the declared ones (the nodes that use it are left as they are).
    fn remove_variable(&mut self, variable: &Bound<'_, PyAny>) -> PyResult<()> {
        let info = super::variables::from_py(variable)?;
        let mut declared = guarded(|| super::variables::model_variables(&self.0))?;
        declared.retain(|d| d.id != info.id);
        self.0.variables = Some(declared);
        Ok(())
    }
    /// The Result nodes.
    fn get_results(&self) -> Vec<PyNode> {
        self.0.results.iter().cloned().map(PyNode).collect()
    }
    /// The Result nodes.
    #[getter(results)]
    fn prop_results(&self) -> Vec<PyNode> {
        self.get_results()
    }
    /// Replaces parameter `parameter_index` by `parameter`; the old parameter's consumers now read the new one.
    fn replace_parameter(
        &mut self,
        parameter_index: usize,
        parameter: PyRef<'_, PyNode>,
    ) -> PyResult<()> {
        let node = parameter.0.clone();
        guarded(|| self.0.replace_parameter(parameter_index, node))
    }
    /// Appends parameters; a node must be a Parameter that the model does not list yet.
    fn add_parameters(&mut self, parameters: Vec<PyRef<'_, PyNode>>) -> PyResult<()> {
        for p in parameters {
            let node = p.0.clone();
            if node.type_name() != "Parameter" {
                return Err(Error::InvalidArgument(format!(
                    "add_parameters needs Parameter nodes, got {}",
                    node.describe()
                )))
                .py();
            }
            if self.0.parameter_index(&node).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "{} is already a parameter of the model",
                    node.describe()
                )))
                .py();
            }
            self.0.parameters.push(node);
        }
        Ok(())
    }
    /// Removes a parameter from the model's list (its consumers are left as they are).
    fn remove_parameter(&mut self, parameter: PyRef<'_, PyNode>) -> PyResult<()> {
        match self.0.parameter_index(&parameter.0) {
            Some(i) => {
                self.0.parameters.remove(i);
                Ok(())
            }
            None => Err(Error::NotFound(format!(
                "{} is not a parameter of the model",
                parameter.0.describe()
            )))
            .py(),
        }
    }
    /// Index of a Parameter (node or its output) among the model's parameters, or -1.
    fn get_parameter_index(&self, parameter: &Bound<'_, PyAny>) -> PyResult<i64> {
        let node = port_of(parameter)?.node;
        Ok(self
            .0
            .parameter_index(&node)
            .and_then(|i| i64::try_from(i).ok())
            .unwrap_or(-1))
    }
    /// Re-runs type and shape inference over the graph and checks that every Parameter used is listed.
    fn validate_nodes_and_infer_types(&self) -> PyResult<()> {
        guarded(|| {
            self.0.check_parameters()?;
            self.0.validate()
        })
    }
    /// Every node.
    fn get_ops(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        self.get_ordered_ops(py)
    }
    /// Every node in topological order (a custom op as its Python instance).
    fn get_ordered_ops(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        guarded(|| self.0.ordered_ops())?
            .into_iter()
            .map(|n| super::custom_op::node_to_py(py, n))
            .collect()
    }
    /// Number of outputs.
    fn get_output_size(&self) -> usize {
        self.0.results.len()
    }
    /// Element type of output `i`.
    fn get_output_element_type(&self, i: usize) -> PyResult<PyType> {
        Ok(PyType(self.output_port(i)?.element_type()))
    }
    /// Partial shape of output `i`.
    fn get_output_partial_shape(&self, i: usize) -> PyResult<PyPartialShape> {
        Ok(PyPartialShape(self.output_port(i)?.shape()))
    }
    /// Static shape of output `i`; raises when dynamic.
    fn get_output_shape(&self, i: usize) -> PyResult<PyShape> {
        self.output_port(i)?
            .shape()
            .to_static()
            .map(PyShape)
            .ok_or_else(|| PyRuntimeError::new_err("to_shape was called on a dynamic shape."))
    }
    /// The model name.
    #[getter(friendly_name)]
    fn prop_friendly_name(&self) -> String {
        self.0.name.clone()
    }
    /// Sets the model name.
    #[setter(friendly_name)]
    fn set_friendly_name_prop(&mut self, name: String) {
        self.0.name = name;
    }
    /// The model name.
    fn get_friendly_name(&self) -> String {
        self.0.name.clone()
    }
    /// The model name.
    fn get_name(&self) -> String {
        self.0.name.clone()
    }
    /// Sets the model name.
    fn set_friendly_name(&mut self, name: String) {
        self.0.name = name;
    }
    /// True when any shape in the model is not static.
    fn is_dynamic(&self) -> bool {
        self.0.is_dynamic()
    }
    /// Sets new input shapes: one shape for a single-input model, or `{index | name | port: shape}`.
    /// A shape is a PartialShape, a list of ints / -1 / (min, max) / Dimension / "a..b", or a string.
    #[pyo3(signature = (shapes, variables_shapes=None))]
    fn reshape(
        &self,
        shapes: &Bound<'_, PyAny>,
        variables_shapes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if variables_shapes.is_some_and(|v| v.len().unwrap_or(0) > 0) {
            return Err(Error::Unsupported(
                "reshape: variables_shapes is not supported".into(),
            ))
            .py();
        }
        let list: Vec<(usize, PartialShape)> = match shapes.cast::<PyDict>() {
            Ok(d) => d
                .iter()
                .map(|(k, v)| Ok((self.input_index_of(&k)?, extract_partial_shape(&v)?)))
                .collect::<PyResult<_>>()?,
            Err(_) => {
                if self.0.parameters.len() != 1 {
                    return Err(PyRuntimeError::new_err(format!(
                        "reshape with a single shape needs a model with one input; this one has {} (pass a dict)",
                        self.0.parameters.len()
                    )));
                }
                vec![(0, extract_partial_shape(shapes)?)]
            }
        };
        guarded(|| self.0.reshape(&list))
    }
    /// Applies MakeStateful: `pairs` lists `(parameter tensor name, result tensor name)` or
    /// `(Parameter node, Result node)` tuples (the `ferrovino.passes.MakeStateful` pass calls this).
    fn _make_stateful(&mut self, pairs: &Bound<'_, PyAny>) -> PyResult<()> {
        let (mut names, mut nodes) = (Vec::new(), Vec::new());
        for item in pairs.try_iter()? {
            let item = item?;
            if let Ok(pair) = item.extract::<(String, String)>() {
                names.push(pair);
                continue;
            }
            let (p, r): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            nodes.push((port_of(&p)?.node, port_of(&r)?.node));
        }
        let model = &mut self.0;
        guarded(|| {
            let mut pairs = make_stateful::pairs_by_names(model, &names)?;
            pairs.extend(make_stateful::pairs_of_nodes(&nodes));
            make_stateful::make_stateful(model, &pairs)
        })
    }
    /// A deep copy.
    fn clone(&self) -> PyResult<PyModel> {
        guarded(|| self.0.deep_clone()).map(PyModel)
    }
    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> PyResult<PyModel> {
        self.clone()
    }
    fn __copy__(&self) -> PyResult<PyModel> {
        Err(PyTypeError::new_err(
            "Cannot copy 'openvino.runtime.Model'. Please, use deepcopy instead.",
        ))
    }
    /// Runtime info: the whole tree, or the value at a path (a key or a list of keys).
    #[pyo3(signature = (path=None))]
    fn get_rt_info<'py>(
        &self,
        py: Python<'py>,
        path: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(path) = path else {
            return Ok(rt_info_to_py(py, &self.0.rt_info)?.into_any());
        };
        let keys = rt_path(path)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        match get_path(&self.0.rt_info, &refs) {
            Some(RtValue::Str(s)) => Ok(s.into_pyobject(py)?.into_any()),
            Some(RtValue::Map(m)) => Ok(rt_info_to_py(py, m)?.into_any()),
            None => Err(Error::NotFound(format!(
                "rt_info has no entry {}",
                keys.join("/")
            )))
            .py(),
        }
    }
    /// True when runtime info has an entry at the path.
    fn has_rt_info(&self, path: &Bound<'_, PyAny>) -> PyResult<bool> {
        let keys = rt_path(path)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        Ok(get_path(&self.0.rt_info, &refs).is_some())
    }
    /// Sets a runtime-info string at a path.
    fn set_rt_info(&mut self, value: &Bound<'_, PyAny>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let keys = rt_path(path)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        set_path(
            &mut self.0.rt_info,
            &refs,
            RtValue::Str(value.str()?.to_string()),
        );
        Ok(())
    }
    fn __repr__(&self) -> String {
        model_repr(&format!("Model: '{}'", self.0.name), &self.0)
    }
}

/// `<Head\ninputs[\n<ConstOutput: ...>,\n...\n]\noutputs[\n...\n]>`, as OpenVINO prints models.
pub fn model_repr(head: &str, m: &Model) -> String {
    let list = |ports: Vec<Output>| -> String {
        ports
            .iter()
            .map(|o| describe("ConstOutput", o))
            .collect::<Vec<_>>()
            .join(",\n")
    };
    format!(
        "<{head}\ninputs[\n{}\n]\noutputs[\n{}\n]>",
        list(m.inputs()),
        list(m.outputs())
    )
}
