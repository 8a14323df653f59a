//! Custom ops written in Python: `ferrovino.Op` (the native base of the Python class of the same name) and the
//! Rust [`PythonOp`] that calls back into the Python object for type inference, evaluation and attributes.
//!
//! A subclass instance is a `Node` whose op is a [`PythonOp`] holding the instance. Type inference runs
//! `validate_and_infer_types()` with the input descriptors of the call kept in a thread-local frame, so the
//! `get_input_*`/`set_output_type` calls it makes answer for that call (a node cloned into another graph shares
//! the instance but not its inputs). Evaluation hands numpy-backed `Tensor`s to `evaluate(outputs, inputs)`; the
//! interpreter is re-acquired for each call, so compiled models run these ops while the caller released it.
//! The op and its instance refer to each other, so a custom node lives as long as the interpreter.

use super::element_type::{PyType, extract_element_type};
use super::errors::{IntoPyResult, to_py};
use super::factory::{attr_to_py, natural_attr};
use super::node::PyNode;
use super::output::port_of;
use super::partial_shape::{PyPartialShape, extract_partial_shape};
use super::shape::PyShape;
use super::tensor::{from_rust, zeros};
use crate::error::{Error, Result};
use crate::ir::{AttrValue, Attribute, AttributeVisitor, ElementType, Node, PartialShape, Tensor};
use crate::ops::registry::ExtensionSource;
use crate::ops::{Op, TensorDesc, TypeInfo};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyTuple};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// The IR `version` of every custom op, as OpenVINO writes it.
const EXTENSION_VERSION: &str = "extension";

/// The type inference in progress on this thread for one custom op instance.
struct Frame {
    /// The address of the Python instance.
    obj: usize,
    /// The input descriptors of this inference.
    inputs: Vec<TensorDesc>,
    /// What `set_output_type` has set so far.
    outputs: Vec<Option<TensorDesc>>,
}

thread_local! {
    /// Type inferences in progress (nested when a `validate_and_infer_types` builds other custom nodes).
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
    /// The Python exception of the last failed callback, re-raised as itself where the caller is Python code.
    static LAST_ERROR: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// A `&'static` copy of a class name (one leaked string per distinct custom op class).
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

/// The op of a custom node: the Python instance whose methods define it.
#[derive(Clone)]
pub struct PythonOp {
    /// The class name (the IR `type`).
    name: &'static str,
    /// The instance; None until its `__init__` binds it.
    obj: Option<Arc<Py<PyAny>>>,
}

impl std::fmt::Debug for PythonOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PythonOp({})", self.name)
    }
}

impl PythonOp {
    /// The instance, or an error when the subclass's `__init__` never called `super().__init__(self, ...)`.
    fn instance<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        self.obj.as_ref().map(|o| o.bind(py).clone()).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "custom op {} is not initialised: its __init__ must call super().__init__(self, inputs)",
                self.name
            ))
        })
    }

    /// Keeps a Python exception for re-raising and describes it as an error naming the op and the method.
    fn failure(&self, method: &str, e: PyErr) -> Error {
        let msg = format!("custom op {}: {method} raised {e}", self.name);
        LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(e));
        Error::InvalidArgument(msg)
    }

    /// Runs `validate_and_infer_types()` with `inputs` as the inputs it sees.
    fn infer_with(&self, py: Python<'_>, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let obj = self.instance(py)?;
        FRAMES.with(|f| {
            f.borrow_mut().push(Frame {
                obj: obj.as_ptr() as usize,
                inputs: inputs.to_vec(),
                outputs: Vec::new(),
            })
        });
        let called = obj.call_method0("validate_and_infer_types");
        let frame = FRAMES.with(|f| f.borrow_mut().pop());
        called.map_err(|e| self.failure("validate_and_infer_types", e))?;
        let outputs = frame.map(|f| f.outputs).unwrap_or_default();
        outputs
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                d.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "custom op {}: validate_and_infer_types did not set the type of output {i}",
                        self.name
                    ))
                })
            })
            .collect()
    }

    /// Calls `evaluate(outputs, inputs)` and returns the output tensors, checked against type inference.
    fn evaluate_with(&self, py: Python<'_>, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let obj = self.instance(py)?;
        let has = obj
            .call_method0("has_evaluate")
            .and_then(|r| r.is_truthy())
            .map_err(|e| self.failure("has_evaluate", e))?;
        if !has {
            return Err(Error::Unsupported(format!(
                "custom op {} has no evaluate(), so no device can run it",
                self.name
            )));
        }
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .map(|t| TensorDesc::new(t.element_type(), PartialShape::from_static(t.shape())))
            .collect();
        let expected = self.infer_with(py, &descs)?;
        let py_err = |e: PyErr| self.failure("evaluate", e);
        let ins = inputs
            .iter()
            .map(|t| Py::new(py, from_rust(py, t)?))
            .collect::<PyResult<Vec<_>>>()
            .map_err(py_err)?;
        let outs = expected
            .iter()
            .map(|d| Py::new(py, zeros(py, d.element_type, &placeholder_shape(&d.shape))?))
            .collect::<PyResult<Vec<_>>>()
            .map_err(py_err)?;
        let ok = obj
            .call_method1(
                "evaluate",
                (
                    PyList::new(py, &outs).map_err(py_err)?,
                    PyList::new(py, &ins).map_err(py_err)?,
                ),
            )
            .map_err(py_err)?;
        if ok.is_instance_of::<PyBool>() && !ok.is_truthy().map_err(py_err)? {
            return Err(Error::InvalidArgument(format!(
                "custom op {}: evaluate returned False",
                self.name
            )));
        }
        outs.iter()
            .zip(&expected)
            .enumerate()
            .map(|(i, (t, d))| self.checked_output(i, &t.borrow(py).inner, d))
            .collect()
    }

    /// An owned copy of output `i` after checking it against what type inference promised.
    fn checked_output(&self, i: usize, t: &Tensor, expected: &TensorDesc) -> Result<Tensor> {
        let shape = PartialShape::from_static(t.shape());
        let type_ok = expected.element_type == ElementType::Dynamic
            || expected.element_type == t.element_type();
        if !type_ok || !expected.shape.compatible(&shape) {
            return Err(Error::Shape(format!(
                "custom op {}: evaluate produced output {i} as {} {shape}, but validate_and_infer_types gives {} {}",
                self.name,
                t.element_type(),
                expected.element_type,
                expected.shape
            )));
        }
        Tensor::from_bytes(t.element_type(), t.shape(), t.bytes())
    }
}

/// The shape an output tensor starts with: the inferred one, dynamic dims as 0 (evaluate sets the real shape).
fn placeholder_shape(shape: &PartialShape) -> Vec<usize> {
    match shape.dims() {
        Some(dims) => dims
            .iter()
            .map(|d| usize::try_from(d.to_i64()).unwrap_or(0))
            .collect(),
        None => vec![0],
    }
}

impl Op for PythonOp {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(self.name, EXTENSION_VERSION)
    }

    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.obj.is_none() {
            return Ok(());
        }
        Python::attach(|py| self.visit_with(py, v))
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        if self.obj.is_none() {
            return Ok(Vec::new());
        }
        Python::attach(|py| self.infer_with(py, inputs))
    }

    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        Python::attach(|py| self.evaluate_with(py, inputs))
    }
}

/// An attribute of a custom op, of whatever kind its Python value has.
struct DynAttr(AttrValue);

impl Attribute for DynAttr {
    fn get(&self) -> AttrValue {
        self.0.clone()
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        self.0 = match (&self.0, v) {
            (AttrValue::Float(_), AttrValue::Int(i)) => AttrValue::Float(i as f64),
            (AttrValue::Floats(_), AttrValue::Ints(v)) => {
                AttrValue::Floats(v.into_iter().map(|i| i as f64).collect())
            }
            (_, v) => v,
        };
        Ok(())
    }
}

/// What a custom op's `visit_attributes(visitor)` receives: `visitor.on_attributes(dict)` exposes the dict's
/// entries as attributes. The first pass records the dicts; when visiting changed values (reading an IR), a
/// second pass writes the new values into the dicts the op hands over again.
#[pyclass(module = "ferrovino", name = "AttributeVisitor", unsendable)]
pub struct PyAttributeVisitor {
    /// The dicts handed over in the recording pass.
    seen: RefCell<Vec<Py<PyDict>>>,
    /// The new values to write in the second pass.
    replay: Vec<(String, Py<PyAny>)>,
}

#[pymethods]
impl PyAttributeVisitor {
    /// Visits every entry of `attributes` (name → bool, int, float, str, list, Type or PartialShape).
    fn on_attributes(&self, py: Python<'_>, attributes: &Bound<'_, PyDict>) -> PyResult<()> {
        if self.replay.is_empty() {
            self.seen.borrow_mut().push(attributes.clone().unbind());
            return Ok(());
        }
        for (name, value) in &self.replay {
            if attributes.contains(name)? {
                attributes.set_item(name, value.bind(py))?;
            }
        }
        Ok(())
    }
}

impl PythonOp {
    /// Visits the attributes the instance's `visit_attributes` exposes (see [`PyAttributeVisitor`]).
    fn visit_with(&self, py: Python<'_>, v: &mut dyn AttributeVisitor) -> Result<()> {
        let obj = self.instance(py)?;
        let py_err = |e: PyErr| self.failure("visit_attributes", e);
        let recorder = Bound::new(
            py,
            PyAttributeVisitor {
                seen: RefCell::new(Vec::new()),
                replay: Vec::new(),
            },
        )
        .map_err(py_err)?;
        obj.call_method1("visit_attributes", (&recorder,))
            .map_err(py_err)?;
        let dicts = recorder.borrow().seen.take();
        let mut changed = Vec::new();
        for d in dicts {
            let items: Vec<(String, Bound<'_, PyAny>)> = d
                .bind(py)
                .iter()
                .map(|(k, val)| Ok((k.extract::<String>()?, val)))
                .collect::<PyResult<_>>()
                .map_err(py_err)?;
            for (name, value) in items {
                let before = natural_attr(&value).map_err(py_err)?;
                let mut attr = DynAttr(before.clone());
                v.on(&name, &mut attr)?;
                if attr.0 != before {
                    let new = attr_to_py(py, &attr.0).map_err(py_err)?;
                    d.bind(py).set_item(&name, &new).map_err(py_err)?;
                    changed.push((name, new.unbind()));
                }
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let replayer = Bound::new(
            py,
            PyAttributeVisitor {
                seen: RefCell::new(Vec::new()),
                replay: changed,
            },
        )
        .map_err(py_err)?;
        obj.call_method1("visit_attributes", (&replayer,))
            .map(|_| ())
            .map_err(py_err)
    }
}

/// The native base of `ferrovino.Op`: a `Node` whose op is the Python instance itself.
#[pyclass(module = "ferrovino", name = "Op", extends = PyNode, subclass, frozen)]
pub struct PyCustomOp;

/// Runs `f` on the type inference in progress for `obj` on this thread, if any.
fn in_frame<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
    let key = obj.as_ptr() as usize;
    FRAMES.with(|frames| {
        frames
            .borrow_mut()
            .iter_mut()
            .rev()
            .find(|fr| fr.obj == key)
            .map(f)
    })
}

/// The node behind a `ferrovino.Op` instance.
fn node_of(slf: &Bound<'_, PyCustomOp>) -> Node {
    slf.as_super().get().0.clone()
}

/// Input `i`'s descriptor: from the inference in progress, else from the node's current input.
fn input_desc(slf: &Bound<'_, PyCustomOp>, i: usize) -> PyResult<TensorDesc> {
    let from_frame = in_frame(slf.as_any(), |f| f.inputs.get(i).cloned());
    match from_frame {
        Some(Some(d)) => Ok(d),
        Some(None) => Err(PyRuntimeError::new_err(format!(
            "input {i} does not exist (the op has {} input(s))",
            in_frame(slf.as_any(), |f| f.inputs.len()).unwrap_or(0)
        ))),
        None => node_of(slf).input(i).and_then(|o| o.desc()).py(),
    }
}

/// The ports named by a list of outputs and nodes (a node stands for all its outputs).
fn ports_of(inputs: &Bound<'_, PyAny>) -> PyResult<Vec<crate::ir::Output>> {
    let mut ports = Vec::new();
    for item in inputs.try_iter()? {
        let item = item?;
        match item.cast::<PyNode>() {
            Ok(n) => ports.extend(n.get().0.outputs()),
            Err(_) => ports.push(port_of(&item)?),
        }
    }
    Ok(ports)
}

#[pymethods]
impl PyCustomOp {
    /// An unbound custom node; the subclass's `__init__` binds it with `super().__init__(self, inputs)`.
    #[new]
    #[pyo3(signature = (*args, **kwargs))]
    fn new(
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let _ = (args, kwargs);
        let op = PythonOp {
            name: "Op",
            obj: None,
        };
        let node = Node::new(Box::new(op), Vec::new()).py()?;
        Ok(PyClassInitializer::from(PyNode(node)).add_subclass(PyCustomOp))
    }
    /// Makes `py_obj` (the instance itself) the op of this node; its class name becomes the type name.
    fn _bind(slf: &Bound<'_, Self>, py_obj: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = intern(&py_obj.get_type().name()?.to_cow()?);
        *node_of(slf).op_mut() = Box::new(PythonOp {
            name,
            obj: Some(Arc::new(py_obj.clone().unbind())),
        });
        Ok(())
    }
    /// Connects the inputs (outputs, or nodes standing for all their outputs); call
    /// `constructor_validate_and_infer_types()` afterwards.
    fn set_arguments(slf: &Bound<'_, Self>, inputs: &Bound<'_, PyAny>) -> PyResult<()> {
        node_of(slf).set_inputs(ports_of(inputs)?);
        Ok(())
    }
    /// Connects input `index` to `output`.
    fn set_argument(
        slf: &Bound<'_, Self>,
        index: usize,
        output: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let node = node_of(slf);
        let port = port_of(output)?;
        let mut inputs = node.inputs();
        match index.cmp(&inputs.len()) {
            std::cmp::Ordering::Less => node.set_input(index, port).py(),
            std::cmp::Ordering::Equal => {
                inputs.push(port);
                node.set_inputs(inputs);
                Ok(())
            }
            std::cmp::Ordering::Greater => Err(PyRuntimeError::new_err(format!(
                "set_argument({index}) on a node with {} input(s)",
                inputs.len()
            ))),
        }
    }
    /// Runs type inference now (`validate_and_infer_types`); its Python exception is raised as itself.
    fn constructor_validate_and_infer_types(slf: &Bound<'_, Self>) -> PyResult<()> {
        LAST_ERROR.with(|e| e.borrow_mut().take());
        node_of(slf).validate().map_err(|e| {
            LAST_ERROR
                .with(|slot| slot.borrow_mut().take())
                .unwrap_or_else(|| to_py(e))
        })
    }
    /// Number of inputs.
    fn get_input_size(slf: &Bound<'_, Self>) -> usize {
        in_frame(slf.as_any(), |f| f.inputs.len()).unwrap_or_else(|| node_of(slf).input_count())
    }
    /// Element type of input `i`.
    fn get_input_element_type(slf: &Bound<'_, Self>, i: usize) -> PyResult<PyType> {
        Ok(PyType(input_desc(slf, i)?.element_type))
    }
    /// Partial shape of input `i`.
    fn get_input_partial_shape(slf: &Bound<'_, Self>, i: usize) -> PyResult<PyPartialShape> {
        Ok(PyPartialShape(input_desc(slf, i)?.shape))
    }
    /// Static shape of input `i`; raises when it is dynamic.
    fn get_input_shape(slf: &Bound<'_, Self>, i: usize) -> PyResult<PyShape> {
        input_desc(slf, i)?
            .shape
            .to_static()
            .map(PyShape)
            .ok_or_else(|| PyRuntimeError::new_err("to_shape was called on a dynamic shape."))
    }
    /// Sets the element type and partial shape of output `i` (inside `validate_and_infer_types`).
    fn set_output_type(
        slf: &Bound<'_, Self>,
        index: usize,
        element_type: &Bound<'_, PyAny>,
        shape: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let desc = TensorDesc::new(
            extract_element_type(element_type)?,
            extract_partial_shape(shape)?,
        );
        in_frame(slf.as_any(), |f| {
            if f.outputs.len() <= index {
                f.outputs.resize(index + 1, None);
            }
            f.outputs[index] = Some(desc);
        })
        .ok_or_else(outside_inference)
    }
    /// Sets the number of outputs (inside `validate_and_infer_types`).
    fn set_output_size(slf: &Bound<'_, Self>, size: usize) -> PyResult<()> {
        in_frame(slf.as_any(), |f| f.outputs.resize(size, None)).ok_or_else(outside_inference)
    }
}

fn outside_inference() -> PyErr {
    PyRuntimeError::new_err(
        "set_output_type/set_output_size can only be called from validate_and_infer_types",
    )
}

/// A node for Python: the custom op instance itself when the node is the one it built (as OpenVINO returns the
/// Python object), else a plain `Node`.
pub fn node_to_py(py: Python<'_>, node: Node) -> PyResult<Py<PyAny>> {
    let instance = {
        let op = node.op();
        op.as_any()
            .downcast_ref::<PythonOp>()
            .and_then(|p| p.obj.as_ref())
            .map(|o| o.bind(py).clone())
    };
    if let Some(obj) = instance
        && let Ok(custom) = obj.cast::<PyCustomOp>()
        && node_of(custom) == node
    {
        return Ok(obj.unbind());
    }
    Ok(Py::new(py, PyNode(node))?.into_any())
}

/// The custom op classes a `Core` knows (`Core.add_extension`), consulted when reading an IR.
pub struct PyExtensions(pub Vec<Py<PyAny>>);

impl ExtensionSource for PyExtensions {
    fn create(&self, type_name: &str, _version: &str) -> Option<Result<Box<dyn Op>>> {
        Python::attach(|py| {
            let cls = self.0.iter().map(|c| c.bind(py)).find(|c| {
                c.getattr("__name__")
                    .and_then(|n| n.extract::<String>())
                    .is_ok_and(|n| n == type_name)
            })?;
            Some(instantiate(cls, type_name))
        })
    }
}

/// A fresh instance of a custom op class (no inputs), as its op.
fn instantiate(cls: &Bound<'_, PyAny>, type_name: &str) -> Result<Box<dyn Op>> {
    let failed = |e: PyErr| {
        Error::InvalidArgument(format!(
            "custom op {type_name}: creating it with {type_name}() raised {e}"
        ))
    };
    let obj = cls.call0().map_err(failed)?;
    let custom = obj.cast::<PyCustomOp>().map_err(|e| failed(e.into()))?;
    let op = node_of(custom).op().clone_op();
    match op.as_any().downcast_ref::<PythonOp>() {
        Some(p) if p.obj.is_some() => Ok(op),
        _ => Err(Error::InvalidArgument(format!(
            "custom op {type_name}: its __init__ must call super().__init__(self, inputs)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Dimension;

    #[test]
    fn class_names_are_interned_once() {
        let a = intern("MyCustomOp");
        let b = intern(&String::from("MyCustomOp"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(intern("Other"), "Other");
    }

    #[test]
    fn output_placeholders_keep_static_dims_and_zero_the_dynamic_ones() {
        let dynamic = Dimension::from_i64(-1).unwrap();
        let shape = PartialShape::new(vec![Dimension::new(2), dynamic, Dimension::new(3)]);
        assert_eq!(placeholder_shape(&shape), vec![2, 0, 3]);
        assert_eq!(
            placeholder_shape(&PartialShape::from_static(&[])),
            Vec::<usize>::new()
        );
        assert_eq!(placeholder_shape(&PartialShape::dynamic_rank()), vec![0]);
    }

    #[test]
    fn dynamic_attributes_keep_their_kind_for_numbers() {
        let mut real = DynAttr(AttrValue::Float(1.0));
        real.parse_ir("2").unwrap();
        assert_eq!(real.get(), AttrValue::Float(2.0));
        real.set(AttrValue::Int(3)).unwrap();
        assert_eq!(real.get(), AttrValue::Float(3.0));
        let mut reals = DynAttr(AttrValue::Floats(vec![]));
        reals.set(AttrValue::Ints(vec![1, 2])).unwrap();
        assert_eq!(reals.get(), AttrValue::Floats(vec![1.0, 2.0]));
        let mut text = DynAttr(AttrValue::Str("a".into()));
        text.parse_ir("max").unwrap();
        assert_eq!(text.get(), AttrValue::Str("max".into()));
    }

    #[test]
    fn an_unbound_op_infers_no_outputs() {
        let op = PythonOp {
            name: "Op",
            obj: None,
        };
        assert!(op.infer(&[]).unwrap().is_empty());
        assert_eq!(op.type_info(), TypeInfo::new("Op", "extension"));
    }
}
