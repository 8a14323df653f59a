//! `InferRequest`: binds tensors to a compiled model's inputs and outputs and runs inferences.
//!
//! Tensors handed to Python share memory with the request: an input tensor from `get_input_tensor` is the one the
//! next inference reads, and an output tensor from `get_output_tensor` is written in place by later inferences of
//! the same output shape.

use super::compiled_model::PyCompiledModel;
use super::errors::{IntoPyResult, detached};
use super::model::model_repr;
use super::output::{PyConstOutput, const_output, port_names, port_of};
use super::tensor::{PyTensor, shared_tensor_of, to_numpy, zeros};
use crate::Error;
use crate::ir::{Output, PartialShape};
use crate::runtime::exec_graph::{ProfileStatus, profiling_info};
use crate::runtime::{CompiledModel, InferRequest};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The state shared by every Python handle to one request.
struct RequestState {
    request: InferRequest,
    inputs: Vec<Option<Py<PyTensor>>>,
    outputs: Vec<Option<Py<PyTensor>>>,
    latency_ms: f64,
}

impl RequestState {
    /// Runs one inference, recording its latency.
    fn timed_infer(&mut self) -> crate::Result<()> {
        let start = Instant::now();
        self.request.infer()?;
        self.latency_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok(())
    }
}

/// An infer request (`compiled.create_infer_request()`).
#[pyclass(module = "ferrovino", name = "InferRequest", subclass, frozen)]
pub struct PyInferRequest {
    state: Arc<Mutex<RequestState>>,
    compiled: Arc<dyn CompiledModel>,
    /// Set from `_mark_busy` (start_async) until the asynchronous inference ends: every other call is refused.
    busy: Arc<AtomicBool>,
}

/// Which tensor a key designates.
#[derive(Clone, Copy)]
enum Slot {
    Input(usize),
    Output(usize),
}

impl PyInferRequest {
    /// A fresh request for a compiled model.
    pub fn create(compiled: Arc<dyn CompiledModel>) -> PyInferRequest {
        let n_in = compiled.model().parameters.len();
        let n_out = compiled.model().results.len();
        let state = RequestState {
            request: InferRequest::new(compiled.clone()),
            inputs: (0..n_in).map(|_| None).collect(),
            outputs: (0..n_out).map(|_| None).collect(),
            latency_ms: 0.0,
        };
        PyInferRequest {
            state: Arc::new(Mutex::new(state)),
            compiled,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Locks the request; a request running on another thread is reported as busy instead of blocking.
    fn lock(&self) -> PyResult<MutexGuard<'_, RequestState>> {
        if self.busy.load(Ordering::Acquire) {
            return Err(busy()).py();
        }
        self.state.try_lock().map_err(|_| busy()).py()
    }

    fn find_port(&self, port: &Output, ports: &[Output]) -> Option<usize> {
        ports.iter().position(|p| p == port).or_else(|| {
            let names = port_names(port);
            ports
                .iter()
                .position(|p| !names.is_empty() && !port_names(p).is_disjoint(&names))
        })
    }

    /// Resolves a tensor name or a port to an input or output.
    fn slot(&self, key: &Bound<'_, PyAny>) -> PyResult<Slot> {
        let model = self.compiled.model();
        if let Ok(s) = key.cast::<PyString>() {
            let name = s.to_cow()?;
            return model
                .input_index(&name)
                .map(Slot::Input)
                .or_else(|_| model.output_index(&name).map(Slot::Output))
                .map_err(|_| Error::NotFound(format!("Port for tensor name {name} was not found.")))
                .py();
        }
        let port = port_of(key).map_err(|_| {
            PyTypeError::new_err(format!(
                "a tensor key must be a name or a port, got {}",
                key.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        self.find_port(&port, &model.inputs())
            .map(Slot::Input)
            .or_else(|| self.find_port(&port, &model.outputs()).map(Slot::Output))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "Port {} was not found among the model's inputs and outputs.",
                    port.node.describe()
                ))
            })
            .py()
    }

    fn check_index(&self, i: usize, is_input: bool) -> PyResult<()> {
        let m = self.compiled.model();
        let (n, what) = if is_input {
            (m.parameters.len(), "inputs")
        } else {
            (m.results.len(), "outputs")
        };
        if i >= n {
            return Err(Error::NotFound(format!(
                "the model has {n} {what}; index {i} is out of range"
            )))
            .py();
        }
        Ok(())
    }

    /// A zero tensor matching a port (dynamic dimensions take their lower bound).
    fn blank(py: Python<'_>, port: &Output) -> PyResult<PyTensor> {
        let shape = match port.shape().dims() {
            Some(d) => d.iter().map(|x| x.min() as usize).collect(),
            None => vec![0],
        };
        zeros(py, port.element_type(), &shape)
    }

    fn input_tensor(&self, py: Python<'_>, i: usize) -> PyResult<Py<PyTensor>> {
        self.check_index(i, true)?;
        let mut st = self.lock()?;
        if let Some(t) = &st.inputs[i] {
            return Ok(t.clone_ref(py));
        }
        let port = self.compiled.model().inputs()[i].clone();
        let t = Self::blank(py, &port)?;
        let fits = PartialShape::from_static(t.inner.shape()).refines(&port.shape());
        if fits {
            st.request.set_input(i, t.inner.clone()).py()?;
        }
        let t = Py::new(py, t)?;
        if fits {
            st.inputs[i] = Some(t.clone_ref(py));
        }
        Ok(t)
    }

    fn output_tensor(&self, py: Python<'_>, i: usize) -> PyResult<Py<PyTensor>> {
        self.check_index(i, false)?;
        let mut st = self.lock()?;
        let current = st.request.output(i).ok().cloned();
        if let (Some(t), Some(cur)) = (&st.outputs[i], &current)
            && t.borrow(py).inner.shares_memory_with(cur)
        {
            return Ok(t.clone_ref(py));
        }
        let t = match &current {
            Some(cur) => super::tensor::from_rust(py, cur)?,
            None => Self::blank(py, &self.compiled.model().outputs()[i])?,
        };
        st.request.set_output(i, t.inner.clone()).py()?;
        let t = Py::new(py, t)?;
        st.outputs[i] = Some(t.clone_ref(py));
        Ok(t)
    }

    fn set_slot(&self, slot: Slot, tensor: &Bound<'_, PyTensor>) -> PyResult<()> {
        let inner = tensor.borrow().inner.clone();
        let mut st = self.lock()?;
        match slot {
            Slot::Input(i) => {
                self.check_index(i, true)?;
                st.request.set_input(i, inner).py()?;
                st.inputs[i] = Some(tensor.clone().unbind());
            }
            Slot::Output(i) => {
                self.check_index(i, false)?;
                st.request.set_output(i, inner).py()?;
                st.outputs[i] = Some(tensor.clone().unbind());
            }
        }
        Ok(())
    }

    fn tensor(&self, py: Python<'_>, slot: Slot) -> PyResult<Py<PyTensor>> {
        match slot {
            Slot::Input(i) => self.input_tensor(py, i),
            Slot::Output(i) => self.output_tensor(py, i),
        }
    }
}

/// One line of `_profiling_info`.
type ProfileRow = (String, String, String, u8, f64, f64);

/// The state of one variable of a request (`request.query_state()[i]`).
#[pyclass(module = "ferrovino", name = "VariableState", frozen)]
pub struct PyVariableState {
    request: PyInferRequest,
    name: String,
}

#[pymethods]
impl PyVariableState {
    /// The variable id.
    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
    /// The current value (zeros of the variable's shape until an inference assigns it).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<PyTensor> {
        let value = self
            .request
            .lock()?
            .request
            .variable_value(&self.name)
            .py()?;
        super::tensor::from_rust(py, &value)
    }
    /// Sets the value (a copy) the next inference reads.
    #[setter]
    fn set_state(&self, value: &Bound<'_, PyTensor>) -> PyResult<()> {
        let t = value.borrow().inner.clone();
        self.request
            .lock()?
            .request
            .set_variable(&self.name, &t)
            .py()
    }
    /// Back to the initial value.
    fn reset(&self) -> PyResult<()> {
        self.request.lock()?.request.reset_variable(&self.name).py()
    }
    fn __repr__(&self) -> String {
        "<VariableState>".into()
    }
}

/// OpenVINO's error for a call on a request that is running.
fn busy() -> Error {
    Error::Device("Infer Request is busy".into())
}

/// Splits `(index, tensor)` or `(tensor,)` arguments of `set_input_tensor`/`set_output_tensor`.
fn index_and_tensor<'py>(
    a: &Bound<'py, PyAny>,
    b: Option<&Bound<'py, PyTensor>>,
) -> PyResult<(usize, Bound<'py, PyTensor>)> {
    match b {
        Some(t) => Ok((a.extract()?, t.clone())),
        None => Ok((0, a.cast::<PyTensor>()?.clone())),
    }
}

#[pymethods]
impl PyInferRequest {
    /// Another handle to the same request.
    #[new]
    fn new(other: &Bound<'_, PyInferRequest>) -> PyInferRequest {
        let o = other.get();
        PyInferRequest {
            state: o.state.clone(),
            compiled: o.compiled.clone(),
            busy: o.busy.clone(),
        }
    }
    /// Runs one inference with the bound input tensors (the interpreter is released meanwhile).
    fn infer(&self, py: Python<'_>) -> PyResult<()> {
        let mut st = self.lock()?;
        let st = &mut *st;
        detached(py, || st.timed_infer())
    }
    /// Marks the request busy for an asynchronous inference (fails with "Infer Request is busy" if it is already).
    fn _mark_busy(&self) -> PyResult<()> {
        self.busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| busy())
            .py()
    }
    /// Runs the inference of a request marked busy (on the worker thread), then clears the mark.
    fn _infer_marked(&self, py: Python<'_>) -> PyResult<()> {
        let state = &self.state;
        let result = detached(py, || {
            state
                .lock()
                .map_err(|_| Error::Internal("infer request state poisoned by a panic".into()))?
                .timed_infer()
        });
        self.busy.store(false, Ordering::Release);
        result
    }
    /// `infer(inputs, share_inputs=True)` in one call, for a dict of tensor names to numpy arrays that can be
    /// shared as they are (see [`shared_tensor_of`]): binds them, runs one inference (the interpreter released)
    /// and returns copies of the outputs as numpy arrays. `None`, with nothing bound, where a key is not an
    /// input's name or a value cannot be shared as it is: `infer` then binds them by its general path.
    fn _infer_shared<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyDict>,
    ) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
        let model = self.compiled.model();
        let ports = model.inputs();
        let mut bound = Vec::with_capacity(inputs.len());
        for (key, value) in inputs.iter() {
            let Ok(name) = key.cast::<PyString>() else {
                return Ok(None);
            };
            let Ok(index) = model.input_index(&name.to_cow()?) else {
                return Ok(None);
            };
            let Some(et) = ports.get(index).map(Output::element_type) else {
                return Ok(None);
            };
            match shared_tensor_of(&value, et)? {
                Some(tensor) => bound.push((index, tensor)),
                None => return Ok(None),
            }
        }
        let mut st = self.lock()?;
        for (index, tensor) in bound {
            st.request.set_input(index, tensor.inner.clone()).py()?;
            st.inputs[index] = Some(Py::new(py, tensor)?);
        }
        let state = &mut *st;
        detached(py, || state.timed_infer())?;
        (0..model.results.len())
            .map(|i| to_numpy(py, st.request.output(i).py()?))
            .collect::<PyResult<Vec<_>>>()
            .map(Some)
    }
    /// Copies of every output of the last inference as numpy arrays (views of the output tensors when `share`).
    #[pyo3(signature = (share=false))]
    fn _output_arrays<'py>(
        &self,
        py: Python<'py>,
        share: bool,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let n = self.compiled.model().results.len();
        (0..n)
            .map(|i| {
                if share {
                    return self.output_tensor(py, i)?.bind(py).getattr("data");
                }
                let st = self.lock()?;
                to_numpy(py, st.request.output(i).py()?)
            })
            .collect()
    }
    /// The tensor of an input or output, by tensor name or port.
    fn get_tensor(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let slot = self.slot(key)?;
        self.tensor(py, slot)
    }
    /// Binds a tensor to an input or output, by tensor name or port.
    fn set_tensor(&self, key: &Bound<'_, PyAny>, tensor: &Bound<'_, PyTensor>) -> PyResult<()> {
        let slot = self.slot(key)?;
        self.set_slot(slot, tensor)
    }
    /// Binds several tensors: `{name | port | index: tensor}` (an index means an input).
    fn set_tensors(&self, tensors: &Bound<'_, PyDict>) -> PyResult<()> {
        for (k, v) in tensors.iter() {
            let slot = match k.extract::<usize>() {
                Ok(i) => Slot::Input(i),
                Err(_) => self.slot(&k)?,
            };
            self.set_slot(slot, v.cast::<PyTensor>()?)?;
        }
        Ok(())
    }
    /// Binds input tensors: `{index | name | port: tensor}`.
    fn set_input_tensors(&self, tensors: &Bound<'_, PyDict>) -> PyResult<()> {
        self.set_tensors(tensors)
    }
    /// The tensor of input `index` (allocated on first use).
    #[pyo3(signature = (index=0))]
    fn get_input_tensor(&self, py: Python<'_>, index: usize) -> PyResult<Py<PyTensor>> {
        self.input_tensor(py, index)
    }
    /// The tensor of output `index`.
    #[pyo3(signature = (index=0))]
    fn get_output_tensor(&self, py: Python<'_>, index: usize) -> PyResult<Py<PyTensor>> {
        self.output_tensor(py, index)
    }
    /// `set_input_tensor(tensor)` for a single-input model, or `set_input_tensor(index, tensor)`.
    #[pyo3(signature = (index_or_tensor, tensor=None))]
    fn set_input_tensor(
        &self,
        index_or_tensor: &Bound<'_, PyAny>,
        tensor: Option<&Bound<'_, PyTensor>>,
    ) -> PyResult<()> {
        let (i, t) = index_and_tensor(index_or_tensor, tensor)?;
        self.set_slot(Slot::Input(i), &t)
    }
    /// `set_output_tensor(tensor)` for a single-output model, or `set_output_tensor(index, tensor)`.
    #[pyo3(signature = (index_or_tensor, tensor=None))]
    fn set_output_tensor(
        &self,
        index_or_tensor: &Bound<'_, PyAny>,
        tensor: Option<&Bound<'_, PyTensor>>,
    ) -> PyResult<()> {
        let (i, t) = index_and_tensor(index_or_tensor, tensor)?;
        self.set_slot(Slot::Output(i), &t)
    }
    /// Every input tensor.
    #[getter]
    fn input_tensors(&self, py: Python<'_>) -> PyResult<Vec<Py<PyTensor>>> {
        (0..self.compiled.model().parameters.len())
            .map(|i| self.input_tensor(py, i))
            .collect()
    }
    /// Every output tensor.
    #[getter]
    fn output_tensors(&self, py: Python<'_>) -> PyResult<Vec<Py<PyTensor>>> {
        (0..self.compiled.model().results.len())
            .map(|i| self.output_tensor(py, i))
            .collect()
    }
    /// The model inputs.
    #[getter]
    fn model_inputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyConstOutput>>> {
        self.compiled
            .model()
            .inputs()
            .into_iter()
            .map(|o| const_output(py, o))
            .collect()
    }
    /// The model outputs.
    #[getter]
    fn model_outputs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyConstOutput>>> {
        self.compiled
            .model()
            .outputs()
            .into_iter()
            .map(|o| const_output(py, o))
            .collect()
    }
    /// Duration of the last inference in milliseconds.
    #[getter]
    fn latency(&self) -> PyResult<f64> {
        Ok(self.lock()?.latency_ms)
    }
    /// The compiled model this request belongs to.
    fn get_compiled_model(&self) -> PyCompiledModel {
        PyCompiledModel(self.compiled.clone())
    }
    /// One `VariableState` per variable of a stateful model (they act on this request's state).
    fn query_state(&self) -> PyResult<Vec<PyVariableState>> {
        let ids = self.lock()?.request.variables().py()?;
        Ok(ids
            .into_iter()
            .map(|v| PyVariableState {
                request: PyInferRequest {
                    state: self.state.clone(),
                    compiled: self.compiled.clone(),
                    busy: self.busy.clone(),
                },
                name: v.id,
            })
            .collect())
    }
    /// Resets every variable: the next inference reads the initial values.
    fn reset_state(&self) -> PyResult<()> {
        self.lock()?.request.reset_state();
        Ok(())
    }
    /// The profiling report of the last inference as `(node_name, node_type, exec_type, status, real_time_us,
    /// cpu_time_us)` tuples; `status` is 0 (not run), 1 (optimized out) or 2 (executed).
    fn _profiling_info(&self) -> PyResult<Vec<ProfileRow>> {
        let mut st = self.lock()?;
        let profile = st.request.state().profile.clone();
        let report = profiling_info(self.compiled.as_ref(), &profile).py()?;
        Ok(report
            .into_iter()
            .map(|p| {
                let status = match p.status {
                    ProfileStatus::NotRun => 0,
                    ProfileStatus::OptimizedOut => 1,
                    ProfileStatus::Executed => 2,
                };
                let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
                (
                    p.node_name,
                    p.node_type,
                    p.exec_type,
                    status,
                    us(p.real_time),
                    us(p.cpu_time),
                )
            })
            .collect())
    }
    fn __repr__(&self) -> String {
        model_repr("InferRequest:", self.compiled.model())
    }
}
