//! `Tensor`: a tensor whose bytes live in a numpy array, so `data` is always a view without a copy and a
//! tensor built with `shared_memory=True` reads and writes the caller's array.
//!
//! Every Python-visible tensor is backed by a C-contiguous numpy array (the "storage array"): for byte-sized types
//! it has the tensor's shape and dtype; for packed types (u1, u4, i4) it holds the packed bytes. The Rust
//! [`Tensor`] inside borrows that array's buffer through [`Tensor::from_foreign`], keeping the array alive.

use super::element_type::{
    PyType, extract_element_type, from_ml_dtypes_name, from_numpy_name, numpy_name,
};
use super::errors::IntoPyResult;
use super::output::port_of;
use super::shape::{PyShape, extract_shape};
use crate::Error;
use crate::ir::shape::{fmt_shape, num_elements, strides};
use crate::ir::{ElementType, Tensor};
use numpy::npyffi::{self, NPY_ARRAY_WRITEABLE, NPY_ORDER, PY_ARRAY_API, npy_intp};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

/// A tensor (`Tensor(array, shared_memory=False)`, `Tensor(Type.f32, [1, 3])`).
#[pyclass(module = "ferrovino", name = "Tensor")]
pub struct PyTensor {
    /// The tensor; its bytes are those of `array`.
    pub inner: Tensor,
    array: Py<PyAny>,
    shared: bool,
}

/// The shape of the storage array of a tensor: the tensor's shape, or its byte count for packed types.
fn storage_shape(et: ElementType, shape: &[usize]) -> Vec<usize> {
    if et.is_sub_byte() {
        vec![et.bytes_for(num_elements(shape))]
    } else {
        shape.to_vec()
    }
}

fn dtype_name(et: ElementType) -> PyResult<&'static str> {
    numpy_name(et)
        .ok_or_else(|| PyTypeError::new_err("a tensor cannot have the dynamic element type"))
}

/// A zero-filled storage array for a tensor of `et` and `shape`.
fn zeros_array<'py>(
    py: Python<'py>,
    et: ElementType,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?
        .call_method1("zeros", (storage_shape(et, shape), dtype_name(et)?))
}

/// A new C-contiguous storage array for a tensor of `et` and `shape`, its values not initialised: made through
/// numpy's C API, without the Python-level calls of `numpy.empty` (an inference's outputs are copied into such
/// arrays, and each Python-level call costs tens of microseconds when the interpreter's caches are cold).
fn empty_array<'py>(
    py: Python<'py>,
    et: ElementType,
    shape: &[usize],
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let descr = PyArrayDescr::new(py, dtype_name(et)?)?;
    let mut dims = storage_shape(et, shape)
        .into_iter()
        .map(|d| {
            npy_intp::try_from(d).map_err(|_| Error::Shape(format!("dimension {d} is too large")))
        })
        .collect::<crate::Result<Vec<npy_intp>>>()
        .py()?;
    let nd = std::ffi::c_int::try_from(dims.len())
        .map_err(|_| PyRuntimeError::new_err("too many dimensions for numpy"))?;
    // SAFETY: PyArray_NewFromDescr takes over the reference to `descr` and reads `nd` dimensions from `dims`;
    // with null strides and data it allocates a C-contiguous buffer of its own. A null result means a Python
    // exception is set, which `from_owned_ptr_or_err` returns.
    unsafe {
        let ptr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.into_dtype_ptr(),
            nd,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        );
        Ok(Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked())
    }
}

/// The address of an array's first byte and whether it is read-only (read from the array object itself).
fn buffer_address(arr: &Bound<'_, PyUntypedArray>) -> (usize, bool) {
    // SAFETY: `as_array_ptr` is the array object `arr` holds a reference to, valid while `arr` lives.
    let obj = unsafe { &*arr.as_array_ptr() };
    (
        obj.fields.data as usize,
        obj.fields.flags & NPY_ARRAY_WRITEABLE == 0,
    )
}

/// Wraps a C-contiguous, aligned numpy array (not copied) as a tensor of `et` and `shape`.
pub(crate) fn wrap_array(
    arr: Bound<'_, PyAny>,
    et: ElementType,
    shape: &[usize],
    shared: bool,
) -> PyResult<PyTensor> {
    let a = arr.cast::<PyUntypedArray>()?;
    if !a.is_c_contiguous() {
        return Err(PyRuntimeError::new_err(
            "SHARED MEMORY MODE FOR THIS TENSOR IS NOT APPLICABLE! Passed numpy array must be C contiguous.",
        ));
    }
    if !a.is_aligned() {
        return Err(PyRuntimeError::new_err(
            "the numpy array is not aligned for its element type",
        ));
    }
    let nbytes = a.len() * a.dtype().itemsize();
    let need = et.bytes_for(num_elements(shape));
    if nbytes != need {
        return Err(PyRuntimeError::new_err(format!(
            "the array holds {nbytes} bytes but a {et} tensor of shape {} needs {need}",
            fmt_shape(shape)
        )));
    }
    let (addr, readonly) = buffer_address(a);
    let owner: Py<PyAny> = arr.clone().unbind();
    // SAFETY: `addr` is the start of the array's `nbytes`-byte C-contiguous, aligned buffer (checked above); the
    // tensor keeps the array alive through `owner`, and numpy never moves the buffer of an array that is
    // referenced elsewhere. The buffer is lent as writable only when numpy says it is writeable.
    let inner = unsafe {
        Tensor::from_foreign(
            et,
            shape,
            addr as *mut u8,
            nbytes,
            !readonly,
            Box::new(owner),
        )
    };
    Ok(PyTensor {
        inner,
        array: arr.unbind(),
        shared,
    })
}

/// Copies a Rust tensor into a new numpy array of its dtype and shape (packed types as bytes).
pub fn to_numpy<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let arr = empty_array(py, t.element_type(), t.shape())?;
    let src = t.bytes();
    let (addr, _) = buffer_address(&arr);
    let size = arr.len() * arr.dtype().itemsize();
    if size != src.len() {
        return Err(PyRuntimeError::new_err(format!(
            "a {} tensor of shape {} holds {} bytes, its numpy array {size}",
            t.element_type(),
            fmt_shape(t.shape()),
            src.len()
        )));
    }
    if !src.is_empty() {
        // SAFETY: the array was just created, C-contiguous and writable, with exactly `src.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), addr as *mut u8, src.len()) };
    }
    Ok(arr.into_any())
}

/// A Python tensor holding a copy of a Rust tensor.
pub fn from_rust(py: Python<'_>, t: &Tensor) -> PyResult<PyTensor> {
    let arr = to_numpy(py, t)?;
    wrap_array(arr, t.element_type(), t.shape(), false)
}

/// A Python tensor of the given type and shape, zero-filled.
pub fn zeros(py: Python<'_>, et: ElementType, shape: &[usize]) -> PyResult<PyTensor> {
    wrap_array(zeros_array(py, et, shape)?, et, shape, false)
}

/// The element type of a builtin numpy dtype in the machine's byte order, read from the descriptor itself (kind
/// and size); `None` for other dtypes, which go by name.
fn builtin_element_type(descr: &Bound<'_, PyArrayDescr>) -> Option<ElementType> {
    if descr.is_native_byteorder() == Some(false) {
        return None;
    }
    Some(match (descr.kind(), descr.itemsize()) {
        (b'b', 1) => ElementType::Boolean,
        (b'f', 2) => ElementType::F16,
        (b'f', 4) => ElementType::F32,
        (b'f', 8) => ElementType::F64,
        (b'i', 1) => ElementType::I8,
        (b'i', 2) => ElementType::I16,
        (b'i', 4) => ElementType::I32,
        (b'i', 8) => ElementType::I64,
        (b'u', 1) => ElementType::U8,
        (b'u', 2) => ElementType::U16,
        (b'u', 4) => ElementType::U32,
        (b'u', 8) => ElementType::U64,
        _ => return None,
    })
}

/// The element type matching a numpy array's dtype (ml_dtypes' narrow types included).
pub fn array_element_type(arr: &Bound<'_, PyAny>) -> PyResult<ElementType> {
    if let Some(et) = arr
        .cast::<PyUntypedArray>()
        .ok()
        .and_then(|a| builtin_element_type(&a.dtype()))
    {
        return Ok(et);
    }
    let name: String = arr.getattr("dtype")?.getattr("name")?.extract()?;
    from_numpy_name(&name)
        .or_else(|| from_ml_dtypes_name(&name))
        .ok_or_else(|| PyTypeError::new_err(format!("numpy dtype '{name}' is not supported")))
}

/// A tensor holding the values of an ml_dtypes array of a narrow type (always a copy: ml_dtypes stores one
/// value per byte, ferrovino packs 2- and 4-bit types).
fn from_ml_dtypes_array(arr: &Bound<'_, PyAny>, et: ElementType) -> PyResult<PyTensor> {
    let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
    let values: Vec<f64> = arr
        .call_method1("astype", ("float64",))?
        .call_method1("reshape", (-1,))?
        .extract()?;
    from_rust(arr.py(), &Tensor::from_f64s(et, &shape, &values).py()?)
}

/// A tensor sharing `value`'s memory when `value` is a numpy array of `et`'s own dtype with at least one
/// dimension, C-contiguous, aligned, writeable and in the machine's byte order (what `Tensor(value,
/// shared_memory=True)` makes of it); `None` for anything else.
pub(crate) fn shared_tensor_of(
    value: &Bound<'_, PyAny>,
    et: ElementType,
) -> PyResult<Option<PyTensor>> {
    let Ok(arr) = value.cast::<PyUntypedArray>() else {
        return Ok(None);
    };
    if arr.ndim() == 0
        || !arr.is_c_contiguous()
        || !arr.is_aligned()
        || buffer_address(arr).1
        || builtin_element_type(&arr.dtype()) != Some(et)
    {
        return Ok(None);
    }
    let shape = arr.shape().to_vec();
    wrap_array(value.clone(), et, &shape, true).map(Some)
}

/// A tensor over a numpy array: shared when possible and asked for, otherwise a C-contiguous copy (in the
/// machine's byte order). ml_dtypes arrays of narrow types (`float8_e4m3fn`, `int2`, …) are copied into tensors
/// of the matching type.
pub fn from_array(arr: &Bound<'_, PyUntypedArray>, shared_memory: bool) -> PyResult<PyTensor> {
    if arr.dtype().is_native_byteorder() == Some(false) {
        // Tensors hold values in the machine's byte order: a copy converts them; sharing cannot.
        if shared_memory {
            return Err(PyRuntimeError::new_err(
                "SHARED MEMORY MODE FOR THIS TENSOR IS NOT APPLICABLE! Passed numpy array must be in the machine's byte order.",
            ));
        }
        let native = arr.dtype().call_method1("newbyteorder", ("=",))?;
        let converted = arr.call_method1("astype", (native,))?;
        return from_array(converted.cast::<PyUntypedArray>()?, false);
    }
    let et = match builtin_element_type(&arr.dtype()) {
        Some(et) => et,
        None => {
            let dtype_name: String = arr.dtype().getattr("name")?.extract()?;
            if let Some(et) = from_ml_dtypes_name(&dtype_name) {
                return from_ml_dtypes_array(arr, et);
            }
            array_element_type(arr)?
        }
    };
    let shape = arr.shape().to_vec();
    let storage = if shared_memory {
        arr.clone().into_any()
    } else {
        // SAFETY: `arr` is a live array object; PyArray_NewCopy returns a new reference to a C-ordered copy,
        // or null with a Python exception set.
        unsafe {
            let copy =
                PY_ARRAY_API.PyArray_NewCopy(arr.py(), arr.as_array_ptr(), NPY_ORDER::NPY_CORDER);
            Bound::from_owned_ptr_or_err(arr.py(), copy)?
        }
    };
    wrap_array(storage, et, &shape, shared_memory)
}

impl PyTensor {
    fn resize(&mut self, py: Python<'_>, shape: Vec<usize>) -> PyResult<()> {
        let et = self.inner.element_type();
        if num_elements(&shape) == self.inner.len() {
            let view = self
                .array
                .bind(py)
                .call_method1("reshape", (storage_shape(et, &shape),))?;
            self.inner = self.inner.reshaped(&shape).py()?;
            self.array = view.unbind();
            return Ok(());
        }
        if self.shared {
            return Err(PyRuntimeError::new_err(format!(
                "Could set new shape: {} (the tensor shares a buffer of {} elements)",
                fmt_shape(&shape),
                self.inner.len()
            )));
        }
        *self = zeros(py, et, &shape)?;
        Ok(())
    }
}

#[pymethods]
impl PyTensor {
    /// `Tensor(array, shared_memory=False)`, `Tensor(array, shape, type)` (a reinterpreting shared view),
    /// `Tensor(type, shape)`, `Tensor(list)` or `Tensor(port)`.
    #[new]
    #[pyo3(signature = (*args, shared_memory=false))]
    fn new(py: Python<'_>, args: &Bound<'_, PyTuple>, shared_memory: bool) -> PyResult<PyTensor> {
        let first = args
            .get_item(0)
            .map_err(|_| PyTypeError::new_err("Tensor() needs at least one argument"))?;
        match args.len() {
            1 if first.cast::<PyUntypedArray>().is_ok() => {
                from_array(first.cast::<PyUntypedArray>()?, shared_memory)
            }
            1 if first.is_instance_of::<PyList>() || first.hasattr("__array__")? => {
                let array = py.import("numpy")?.call_method1("array", (first,))?;
                from_array(array.cast::<PyUntypedArray>()?, false)
            }
            1 => {
                let port = port_of(&first)?;
                let shape = port.shape().expect_static("Tensor(port)").py()?;
                zeros(py, port.element_type(), &shape)
            }
            2 => {
                let et = extract_element_type(&first)?;
                zeros(py, et, &extract_shape(&args.get_item(1)?)?)
            }
            3 => {
                let shape = extract_shape(&args.get_item(1)?)?;
                let et = extract_element_type(&args.get_item(2)?)?;
                let flat = first
                    .call_method1("reshape", (-1,))?
                    .call_method1("view", ("uint8",))?;
                wrap_array(flat, et, &shape, true)
            }
            n => Err(PyTypeError::new_err(format!(
                "Tensor() takes 1 to 3 positional arguments ({n} given)"
            ))),
        }
    }

    /// The values as a numpy array sharing this tensor's memory (packed types as bytes, bf16 as float16).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.array.bind(py).call_method0("view")
    }
    /// The shape.
    #[getter(shape)]
    fn prop_shape(&self) -> PyShape {
        PyShape(self.inner.shape().to_vec())
    }
    /// Sets the shape: same element count reshapes in place; a different count reallocates (not for shared buffers).
    #[setter(shape)]
    fn set_shape_prop(&mut self, py: Python<'_>, shape: &Bound<'_, PyAny>) -> PyResult<()> {
        self.resize(py, extract_shape(shape)?)
    }
    /// The shape.
    fn get_shape(&self) -> PyShape {
        self.prop_shape()
    }
    /// Sets the shape (see the `shape` property).
    fn set_shape(&mut self, py: Python<'_>, shape: &Bound<'_, PyAny>) -> PyResult<()> {
        self.resize(py, extract_shape(shape)?)
    }
    /// The element type.
    #[getter(element_type)]
    fn prop_element_type(&self) -> PyType {
        PyType(self.inner.element_type())
    }
    /// The element type.
    fn get_element_type(&self) -> PyType {
        self.prop_element_type()
    }
    /// The number of elements.
    #[getter(size)]
    fn prop_size(&self) -> usize {
        self.inner.len()
    }
    /// The number of elements.
    fn get_size(&self) -> usize {
        self.inner.len()
    }
    /// The size in bytes (packed for sub-byte types).
    #[getter(byte_size)]
    fn prop_byte_size(&self) -> usize {
        self.inner.byte_size()
    }
    /// The size in bytes (packed for sub-byte types).
    fn get_byte_size(&self) -> usize {
        self.inner.byte_size()
    }
    /// Strides in bytes; raises for types narrower than a byte.
    #[getter(strides)]
    fn prop_strides(&self) -> PyResult<Vec<usize>> {
        let et = self.inner.element_type();
        if et.is_sub_byte() {
            return Err(Error::Unsupported(format!(
                "strides are not defined for the packed type {et}"
            )))
            .py();
        }
        Ok(strides(self.inner.shape())
            .into_iter()
            .map(|s| s * et.size())
            .collect())
    }
    /// Strides in bytes; raises for types narrower than a byte.
    fn get_strides(&self) -> PyResult<Vec<usize>> {
        self.prop_strides()
    }
    /// True: tensors are always dense.
    fn is_continuous(&self) -> bool {
        true
    }
    /// Copies this tensor's values into `target` (same type; `target` is reshaped when needed).
    fn copy_to(&self, py: Python<'_>, target: &Bound<'_, PyTensor>) -> PyResult<()> {
        let src = self.array.bind(py).clone();
        target.borrow_mut().copy_from(py, &src)
    }
    /// Copies values from a tensor, array or list into this tensor (reshaping it when the shape differs).
    fn copy_from(&mut self, py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<()> {
        let arr = match source.cast::<PyTensor>() {
            Ok(t) => {
                let t = t.borrow();
                if t.inner.element_type() != self.inner.element_type() {
                    return Err(Error::InvalidArgument(format!(
                        "cannot copy a {} tensor into a {} tensor",
                        t.inner.element_type(),
                        self.inner.element_type()
                    )))
                    .py();
                }
                self.resize(py, t.inner.shape().to_vec())?;
                t.array.bind(py).clone()
            }
            Err(_) => {
                let arr = py.import("numpy")?.call_method1("asarray", (source,))?;
                self.resize(py, arr.getattr("shape")?.extract()?)?;
                arr
            }
        };
        let dst = self.array.bind(py);
        dst.set_item(
            py.Ellipsis(),
            arr.call_method1("reshape", (dst.getattr("shape")?,))?,
        )
    }
    fn __copy__(&self, py: Python<'_>) -> PyTensor {
        PyTensor {
            inner: self.inner.clone(),
            array: self.array.clone_ref(py),
            shared: true,
        }
    }
    fn __deepcopy__(&self, py: Python<'_>, _memo: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        from_rust(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Tensor: shape{} type: {}>",
            fmt_shape(self.inner.shape()),
            self.inner.element_type()
        )
    }
}
