//! An infer request: input and output tensors bound to one compiled model.

use super::plugin::{CompiledModel, RequestState};
use crate::error::{Error, Result};
use crate::ir::shape::fmt_shape;
use crate::ir::{ElementType, PartialShape, Tensor};
use crate::ops::misc::ReadValue;
use std::sync::Arc;

/// Holds tensors for one compiled model and runs inferences on them.
pub struct InferRequest {
    compiled: Arc<dyn CompiledModel>,
    inputs: Vec<Option<Tensor>>,
    outputs: Vec<Option<Tensor>>,
    state: RequestState,
}

impl InferRequest {
    /// A request with no tensors set yet.
    pub fn new(compiled: Arc<dyn CompiledModel>) -> InferRequest {
        let n_out = compiled.model().results.len();
        // Inputs with a default value start bound to it.
        let inputs = compiled
            .model()
            .parameters
            .iter()
            .map(crate::ops::structure::parameter_default)
            .collect();
        InferRequest {
            compiled,
            inputs,
            outputs: vec![None; n_out],
            state: RequestState::default(),
        }
    }

    /// The compiled model.
    pub fn compiled_model(&self) -> &Arc<dyn CompiledModel> {
        &self.compiled
    }

    /// Binds the tensor of input `i`, checking its element type and shape against the model.
    pub fn set_input(&mut self, i: usize, t: Tensor) -> Result<()> {
        let model = self.compiled.model();
        let p = model.parameters.get(i).ok_or_else(|| {
            Error::NotFound(format!(
                "model has {} inputs, there is no input {i}",
                model.parameters.len()
            ))
        })?;
        let port = p.output(0);
        let name = model.input_label(i);
        let et = port.element_type();
        if et.is_static() && t.element_type() != et {
            return Err(Error::InvalidArgument(format!(
                "input '{name}' (index {i}): tensor has element type {}, expected {et}",
                t.element_type()
            )));
        }
        let shape = port.shape();
        if !crate::ir::PartialShape::from_static(t.shape()).refines(&shape) {
            return Err(Error::Shape(format!(
                "input '{name}' (index {i}): tensor has shape {}, expected {shape}",
                fmt_shape(t.shape())
            )));
        }
        self.inputs[i] = Some(t);
        Ok(())
    }

    /// The tensor bound to input `i`, if any.
    pub fn input(&self, i: usize) -> Option<&Tensor> {
        self.inputs.get(i).and_then(|t| t.as_ref())
    }

    /// The tensor of output `i` from the last inference.
    pub fn output(&self, i: usize) -> Result<&Tensor> {
        self.outputs
            .get(i)
            .and_then(|t| t.as_ref())
            .ok_or_else(|| Error::NotFound(format!("output {i} has no tensor: run infer() first")))
    }

    /// Replaces the tensor of output `i` (a preallocated destination): the next inference writes into it.
    pub fn set_output(&mut self, i: usize, t: Tensor) -> Result<()> {
        let slot = self
            .outputs
            .get_mut(i)
            .ok_or_else(|| Error::NotFound(format!("there is no output {i}")))?;
        *slot = Some(t);
        Ok(())
    }

    /// Runs one inference with the bound inputs.
    pub fn infer(&mut self) -> Result<()> {
        let model = self.compiled.model();
        let mut ins = Vec::with_capacity(self.inputs.len());
        for (i, t) in self.inputs.iter().enumerate() {
            let t = t.as_ref().ok_or_else(|| {
                let name = model.input_label(i);
                Error::InvalidArgument(format!("input '{name}' (index {i}) has no tensor set"))
            })?;
            ins.push(t.clone());
        }
        let outs = self.compiled.infer(&ins, &mut self.state)?;
        for (slot, t) in self.outputs.iter_mut().zip(outs) {
            match slot {
                Some(dst) if dst.shape() == t.shape() && dst.element_type() == t.element_type() => {
                    dst.bytes_mut().copy_from_slice(t.bytes());
                }
                _ => *slot = Some(t),
            }
        }
        Ok(())
    }

    /// Per-request state (variables).
    pub fn state(&mut self) -> &mut RequestState {
        &mut self.state
    }

    /// The variables of the compiled model, in the order of their first ReadValue.
    pub fn variables(&self) -> Result<Vec<Variable>> {
        let mut found: Vec<Variable> = Vec::new();
        for node in self.compiled.model().ordered_ops()? {
            let op = node.op();
            let Some(rv) = op.as_any().downcast_ref::<ReadValue>() else {
                continue;
            };
            if found.iter().any(|v| v.id == rv.variable_id) {
                continue;
            }
            let port = node.output(0);
            found.push(Variable {
                id: rv.variable_id.clone(),
                element_type: port.element_type(),
                shape: port.shape(),
            });
        }
        Ok(found)
    }

    /// The variable named `id`.
    fn variable(&self, id: &str) -> Result<Variable> {
        self.variables()?
            .into_iter()
            .find(|v| v.id == id)
            .ok_or_else(|| Error::NotFound(format!("the model has no variable '{id}'")))
    }

    /// The current value of variable `id`: the last value assigned or set, else zeros of the variable's shape
    /// (dynamic dimensions taken as 0), as OpenVINO reports a variable never written.
    pub fn variable_value(&self, id: &str) -> Result<Tensor> {
        if let Some(t) = self.state.variables.get(id) {
            return Ok(t.clone());
        }
        let v = self.variable(id)?;
        let shape: Vec<usize> = match v.shape.dims() {
            Some(dims) => dims
                .iter()
                .map(|d| if d.is_static() { d.min() as usize } else { 0 })
                .collect(),
            None => vec![0],
        };
        let et = if v.element_type.is_static() {
            v.element_type
        } else {
            ElementType::F32
        };
        Ok(Tensor::zeros(et, &shape))
    }

    /// Sets variable `id` (a copy of `value`, converted to the variable's element type); the next inference's
    /// ReadValue reads it instead of its initial value.
    pub fn set_variable(&mut self, id: &str, value: &Tensor) -> Result<()> {
        let v = self.variable(id)?;
        crate::ensure!(
            PartialShape::from_static(value.shape()).refines(&v.shape),
            Shape,
            "variable '{id}' has shape {}, the new state has shape {}",
            v.shape,
            fmt_shape(value.shape())
        );
        let copy = if v.element_type.is_static() && value.element_type() != v.element_type {
            Tensor::from_f64s(v.element_type, value.shape(), &value.to_f64_vec())?
        } else {
            Tensor::from_bytes(value.element_type(), value.shape(), value.bytes())?
        };
        self.state.variables.insert(id.to_string(), copy);
        Ok(())
    }

    /// Resets variable `id`: the next inference reads its initial value again.
    pub fn reset_variable(&mut self, id: &str) -> Result<()> {
        self.variable(id)?;
        self.state.variables.remove(id);
        Ok(())
    }

    /// Resets every variable of this request.
    pub fn reset_state(&mut self) {
        self.state.variables.clear();
    }
}

/// A variable of a stateful model: its id, element type and shape.
#[derive(Debug, Clone)]
pub struct Variable {
    /// The variable id (`variable_id` of its ReadValue and Assign nodes).
    pub id: String,
    /// Element type of its value.
    pub element_type: ElementType,
    /// Shape of its value.
    pub shape: PartialShape,
}
