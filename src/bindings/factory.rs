//! The node factory the opset builders call (`make_node`, `make_constant`, `make_parameter`) and the conversion
//! of attribute values between Python and [`AttrValue`].

use super::element_type::{PyType, extract_element_type, numpy_name};
use super::errors::{IntoPyResult, guarded};
use super::node::PyNode;
use super::output::port_of;
use super::partial_shape::{PyPartialShape, extract_partial_shape};
use super::tensor::{array_element_type, wrap_array};
use crate::Error;
use crate::ir::{
    AttrValue, Attribute, AttributeCollector, AttributeVisitor, ElementType, Node, Tensor,
};
use crate::ops::Op;
use crate::ops::structure::{Constant, Parameter};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

/// Converts an attribute value to its Python form (lists for lists, `str` type names, shapes as lists of ints).
pub fn attr_to_py<'py>(py: Python<'py>, v: &AttrValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        AttrValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        AttrValue::Int(i) => i.into_pyobject(py)?.into_any(),
        AttrValue::Float(f) => f.into_pyobject(py)?.into_any(),
        AttrValue::Str(s) => s.into_pyobject(py)?.into_any(),
        AttrValue::Ints(v) => v.into_pyobject(py)?.into_any(),
        AttrValue::Floats(v) => v.into_pyobject(py)?.into_any(),
        AttrValue::Strs(v) => v.into_pyobject(py)?.into_any(),
        AttrValue::Type(t) => t.name().into_pyobject(py)?.into_any(),
        AttrValue::Shape(s) => match s.dims() {
            Some(d) => d
                .iter()
                .map(|x| x.to_i64())
                .collect::<Vec<_>>()
                .into_pyobject(py)?
                .into_any(),
            None => s.to_string().into_pyobject(py)?.into_any(),
        },
    })
}

/// Python scalars in their most natural attribute kind (used when the op's current value gives no guidance).
fn natural(obj: &Bound<'_, PyAny>) -> PyResult<AttrValue> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(AttrValue::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(AttrValue::Int(obj.extract()?));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(AttrValue::Float(obj.extract()?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(AttrValue::Str(s.to_cow()?.to_string()));
    }
    if let Ok(t) = obj.cast::<PyType>() {
        return Ok(AttrValue::Type(t.get().0));
    }
    if let Ok(s) = obj.cast::<PyPartialShape>() {
        return Ok(AttrValue::Shape(s.borrow().0.clone()));
    }
    if let Ok(v) = obj.extract::<i64>() {
        return Ok(AttrValue::Int(v));
    }
    obj.extract::<f64>().map(AttrValue::Float).map_err(|_| {
        PyTypeError::new_err(format!(
            "unsupported attribute value of type {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// Converts a Python value to an attribute value of the kind the op expects (`like` is the current value).
fn py_to_attr(obj: &Bound<'_, PyAny>, like: &AttrValue) -> PyResult<AttrValue> {
    // numpy arrays and scalars become plain Python values first.
    let obj = if obj.hasattr("tolist")? && !obj.is_instance_of::<PyList>() {
        obj.call_method0("tolist")?
    } else {
        obj.clone()
    };
    let is_seq = obj.is_instance_of::<PyList>() || obj.is_instance_of::<pyo3::types::PyTuple>();
    Ok(match like {
        AttrValue::Ints(_) if is_seq => AttrValue::Ints(obj.extract()?),
        AttrValue::Floats(_) if is_seq => AttrValue::Floats(obj.extract()?),
        AttrValue::Strs(_) if is_seq => AttrValue::Strs(obj.extract()?),
        AttrValue::Float(_) if !obj.is_instance_of::<PyString>() => {
            AttrValue::Float(obj.extract()?)
        }
        AttrValue::Type(_) => AttrValue::Type(extract_element_type(&obj)?),
        AttrValue::Shape(_) => AttrValue::Shape(extract_partial_shape(&obj)?),
        AttrValue::Str(_) if obj.is_instance_of::<PyType>() => {
            AttrValue::Str(obj.cast::<PyType>()?.get().0.name().into())
        }
        _ if is_seq => natural_list(&obj)?,
        _ => natural(&obj)?,
    })
}

/// A Python value as an attribute of its own natural kind (`like` a kind no conversion arm treats specially).
pub(crate) fn natural_attr(obj: &Bound<'_, PyAny>) -> PyResult<AttrValue> {
    py_to_attr(obj, &AttrValue::Bool(false))
}

/// A list in its natural kind: ints, then reals, then strings.
fn natural_list(obj: &Bound<'_, PyAny>) -> PyResult<AttrValue> {
    if let Ok(v) = obj.extract::<Vec<i64>>() {
        return Ok(AttrValue::Ints(v));
    }
    if let Ok(v) = obj.extract::<Vec<f64>>() {
        return Ok(AttrValue::Floats(v));
    }
    Ok(AttrValue::Strs(obj.extract()?))
}

/// Sets attributes from Python values, remembering the first Python error (to re-raise it with its class).
struct PySetter<'a, 'py> {
    values: Vec<(String, Bound<'py, PyAny>)>,
    used: Vec<bool>,
    failure: &'a mut Option<PyErr>,
}

impl AttributeVisitor for PySetter<'_, '_> {
    fn on(&mut self, name: &str, attr: &mut dyn Attribute) -> crate::Result<()> {
        let Some(i) = self.values.iter().position(|(n, _)| n == name) else {
            return Ok(());
        };
        self.used[i] = true;
        let value = match py_to_attr(&self.values[i].1, &attr.get()) {
            Ok(v) => v,
            Err(e) => {
                let msg = e.to_string();
                *self.failure = Some(e);
                return Err(Error::InvalidArgument(format!("attribute '{name}': {msg}")));
            }
        };
        attr.set(value)
            .map_err(|e| e.context(format!("attribute '{name}'")))
    }
}

/// Sets the attributes in `attributes` on `op` through its `visit_attributes`; unknown names are an error naming the op.
pub fn set_attributes(op: &mut dyn Op, attributes: &Bound<'_, PyDict>) -> PyResult<()> {
    let values: Vec<(String, Bound<'_, PyAny>)> = attributes
        .iter()
        .map(|(k, v)| Ok((k.extract::<String>()?, v)))
        .collect::<PyResult<_>>()?;
    let mut failure = None;
    let mut setter = PySetter {
        used: vec![false; values.len()],
        values,
        failure: &mut failure,
    };
    let result = guarded(|| op.visit_attributes(&mut setter));
    let unknown: Vec<String> = setter
        .values
        .iter()
        .zip(&setter.used)
        .filter(|(_, u)| !**u)
        .map(|((n, _), _)| n.clone())
        .collect();
    if let Some(e) = failure {
        return Err(e);
    }
    result?;
    if !unknown.is_empty() {
        let mut known = AttributeCollector::default();
        let mut probe = op.clone_op();
        guarded(|| probe.visit_attributes(&mut known))?;
        let t = op.type_info();
        let names: Vec<&str> = known.values.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::InvalidArgument(format!(
            "op {}-{} has no attribute(s) {} (its attributes: {})",
            t.name,
            t.version,
            unknown.join(", "),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )))
        .py();
    }
    Ok(())
}

fn named_node(
    op: Box<dyn Op>,
    inputs: Vec<crate::ir::Output>,
    name: Option<&str>,
) -> PyResult<PyNode> {
    guarded(|| match name {
        Some(n) => Node::with_name(op, inputs, n),
        None => Node::new(op, inputs),
    })
    .map(PyNode)
}

/// Creates node `type_name` as opset `opset` defines it, with the given inputs and attributes.
#[pyfunction]
#[pyo3(signature = (type_name, opset, inputs, attributes, name=None))]
pub fn make_node(
    type_name: &str,
    opset: u32,
    inputs: &Bound<'_, PyAny>,
    attributes: &Bound<'_, PyDict>,
    name: Option<&str>,
) -> PyResult<PyNode> {
    let mut op = crate::ops::registry::create(type_name, opset).py()?;
    set_attributes(op.as_mut(), attributes)?;
    let ports = inputs
        .try_iter()?
        .map(|i| port_of(&i?))
        .collect::<PyResult<Vec<_>>>()?;
    named_node(op, ports, name)
}

/// True for element types whose numpy arrays a tensor can view as they are (not the packed sub-byte types, the
/// narrow floats or bfloat16, whose arrays go through a conversion below).
fn shareable(et: ElementType) -> bool {
    !et.is_sub_byte() && !et.is_narrow_float() && et != ElementType::BF16
}

/// The tensor of a read-only `numpy.memmap` over a region of a file (what the ONNX frontend makes of large
/// initializers), mapped again here so the tensor knows its bytes are a file's: packing can then release their
/// pages ([`Tensor::release_mapped_pages`]), and a region misaligned for its type is not copied up front.
/// `None` for any other array (a view into a memmap included), or where the file cannot be mapped again.
fn mapped_file_tensor(
    array: &Bound<'_, PyAny>,
    element_type: Option<ElementType>,
) -> PyResult<Option<Tensor>> {
    let py = array.py();
    if !array.is_instance(&py.import("numpy")?.getattr("memmap")?)? {
        return Ok(None);
    }
    let whole_region = array
        .getattr("base")?
        .is_instance(&py.import("mmap")?.getattr("mmap")?)?;
    let mode: Option<String> = array.getattr("mode")?.extract().ok();
    let path: Option<std::path::PathBuf> = array.getattr("filename")?.extract().ok();
    let c_contiguous: bool = array.getattr("flags")?.getattr("c_contiguous")?.extract()?;
    let native_order: bool = array.getattr("dtype")?.getattr("isnative")?.extract()?;
    let (Some("r"), Some(path), true, true, true) = (
        mode.as_deref(),
        path,
        whole_region,
        c_contiguous,
        native_order,
    ) else {
        return Ok(None);
    };
    let et = array_element_type(array)?;
    if element_type.is_some_and(|t| t != et) || !shareable(et) {
        return Ok(None);
    }
    let offset: u64 = array.getattr("offset")?.extract()?;
    let nbytes: usize = array.getattr("nbytes")?.extract()?;
    let shape: Vec<usize> = array.getattr("shape")?.extract()?;
    if nbytes == 0 {
        return Ok(None);
    }
    let Ok(file) = std::fs::File::open(&path) else {
        return Ok(None);
    };
    // SAFETY: a read-only map of the region numpy maps read-only too; nothing writes through either.
    let Ok(map) = (unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(nbytes)
            .map(&file)
    }) else {
        return Ok(None);
    };
    Tensor::from_mapped(et, &shape, std::sync::Arc::new(map), 0, nbytes)
        .map(Some)
        .py()
}

/// A tensor holding `array`'s values (converted to `element_type` when given). A read-only array of the right dtype
/// (a memory-mapped weights file) is shared, not copied; any other array is copied, so later writes to it do not
/// reach the tensor.
fn tensor_of_array(
    array: &Bound<'_, PyAny>,
    element_type: Option<ElementType>,
) -> PyResult<Tensor> {
    if let Some(mapped) = mapped_file_tensor(array, element_type)? {
        return Ok(mapped);
    }
    let np = array.py().import("numpy")?;
    let kw = PyDict::new(array.py());
    kw.set_item("order", "C")?;
    let arr = np.call_method("asarray", (array,), Some(&kw))?;
    let src = array_element_type(&arr)?;
    let et = element_type.unwrap_or(src);
    let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
    let writeable: bool = arr.getattr("flags")?.getattr("writeable")?.extract()?;
    if !writeable
        && et == src
        && shareable(et)
        && let Ok(shared) = wrap_array(arr.clone(), et, &shape, true)
    {
        return Ok(shared.inner);
    }
    match numpy_name(et) {
        Some(dtype) if !et.is_sub_byte() && !et.is_narrow_float() && et != ElementType::BF16 => {
            let bytes = arr
                .call_method1("astype", (dtype,))?
                .call_method0("tobytes")?;
            Tensor::from_bytes(et, &shape, bytes.cast::<pyo3::types::PyBytes>()?.as_bytes()).py()
        }
        _ => {
            let values: Vec<f64> = arr
                .call_method1("astype", ("float64",))?
                .call_method0("ravel")?
                .extract()?;
            Tensor::from_f64s(et, &shape, &values).py()
        }
    }
}

/// Creates a Constant holding a copy of `array` (converted to `element_type` when given).
#[pyfunction]
#[pyo3(signature = (array, element_type=None, name=None))]
pub fn make_constant(
    array: &Bound<'_, PyAny>,
    element_type: Option<&Bound<'_, PyAny>>,
    name: Option<&str>,
) -> PyResult<PyNode> {
    let element_type = element_type.map(extract_element_type).transpose()?;
    let tensor = tensor_of_array(array, element_type)?;
    named_node(Box::new(Constant::new(tensor)), vec![], name)
}

/// Creates a Parameter (a model input) of the given element type and shape; `default` (an array) is the value an
/// infer request uses until the input is set (an ONNX initializer that is also a graph input).
#[pyfunction]
#[pyo3(signature = (element_type, shape, name=None, default=None))]
pub fn make_parameter(
    element_type: &Bound<'_, PyAny>,
    shape: &Bound<'_, PyAny>,
    name: Option<&str>,
    default: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyNode> {
    let element_type = extract_element_type(element_type)?;
    let op = Parameter {
        element_type,
        shape: extract_partial_shape(shape)?,
        default: default
            .map(|d| tensor_of_array(d, Some(element_type)))
            .transpose()?,
    };
    named_node(Box::new(op), vec![], name)
}
