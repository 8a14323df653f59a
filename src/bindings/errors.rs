//! The one mapping from [`crate::Error`] categories to Python exception classes, and the guards that keep
//! Rust panics from crossing into Python.
//!
//! Every class derives from `FerrovinoError`, itself a `RuntimeError`, as OpenVINO raises `RuntimeError`
//! for runtime failures. Bad argument *types* are reported as `TypeError` by the converters instead.

use crate::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

create_exception!(
    ferrovino,
    FerrovinoError,
    PyRuntimeError,
    "Base class of every ferrovino runtime error."
);
create_exception!(
    ferrovino,
    ParseError,
    FerrovinoError,
    "A model file or attribute could not be parsed."
);
create_exception!(
    ferrovino,
    UnsupportedError,
    FerrovinoError,
    "An op, version, type or feature is not supported."
);
create_exception!(
    ferrovino,
    ShapeError,
    FerrovinoError,
    "Shapes or element types do not agree."
);
create_exception!(
    ferrovino,
    InvalidArgumentError,
    FerrovinoError,
    "An argument has the wrong value."
);
create_exception!(
    ferrovino,
    DeviceError,
    FerrovinoError,
    "A device failed or is not available."
);
create_exception!(
    ferrovino,
    IoError,
    FerrovinoError,
    "Reading or writing a file failed."
);
create_exception!(
    ferrovino,
    NotFoundError,
    FerrovinoError,
    "A tensor name, port or property was not found."
);
create_exception!(
    ferrovino,
    InternalError,
    FerrovinoError,
    "A broken invariant inside the runtime (a bug)."
);

/// Converts a runtime error into the exception of its category.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Parse(_) => ParseError::new_err(msg),
        Error::Unsupported(_) => UnsupportedError::new_err(msg),
        Error::Shape(_) => ShapeError::new_err(msg),
        Error::InvalidArgument(_) => InvalidArgumentError::new_err(msg),
        Error::Device(_) => DeviceError::new_err(msg),
        Error::Io { .. } => IoError::new_err(msg),
        Error::NotFound(_) => NotFoundError::new_err(msg),
        Error::Internal(_) => InternalError::new_err(msg),
    }
}

/// Shorthand for converting a crate result at the boundary.
pub trait IntoPyResult<T> {
    /// Maps the error through [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f`, turning a panic into `InternalError` and an `Err` into its exception class.
pub fn guarded<T>(f: impl FnOnce() -> crate::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.py(),
        Err(p) => Err(InternalError::new_err(format!(
            "internal error (panic): {}",
            panic_message(p.as_ref())
        ))),
    }
}

/// Runs `f` with the interpreter released (other Python threads keep running), guarded as [`guarded`].
pub fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> crate::Result<T> + Send,
) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| {
            InternalError::new_err(format!(
                "internal error (panic): {}",
                panic_message(p.as_ref())
            ))
        })?
        .py()
}

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FerrovinoError", py.get_type::<FerrovinoError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add(
        "InvalidArgumentError",
        py.get_type::<InvalidArgumentError>(),
    )?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}
