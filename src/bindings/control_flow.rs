//! Builders of the sub-graph ops: `make_if` and `make_loop` create If-8 and Loop-5 nodes from body Models and
//! port maps (the ONNX frontend and the opset builders use them).

use super::errors::guarded;
use super::model::PyModel;
use super::node::PyNode;
use super::output::port_of;
use crate::ir::{Model, Node, Output};
use crate::ops::Op;
use crate::ops::control_flow::{If, InputMap, Loop, LoopInput, LoopOutput, OutputMap};
use pyo3::prelude::*;

/// A private copy of a body, so that later edits of the Python model do not reach the op.
fn own_body(body: &Bound<'_, PyModel>) -> PyResult<Model> {
    guarded(|| body.borrow().0.deep_clone())
}

/// Creates the node with its inputs and optional friendly name.
fn build(op: Box<dyn Op>, inputs: Vec<Output>, name: Option<&str>) -> PyResult<PyNode> {
    guarded(|| match name {
        Some(n) => Node::with_name(op, inputs, n),
        None => Node::new(op, inputs),
    })
    .map(PyNode)
}

/// Creates an If-8 node.
///
/// `inputs` lists `(value, then_parameter, else_parameter)`: the value becomes op input 1, 2, … and feeds the
/// given body Parameter indices (`None` where a body does not read it). `outputs` lists
/// `(then_result, else_result)`: the body Result indices giving op output 0, 1, ….
#[pyfunction]
#[pyo3(signature = (condition, then_body, else_body, inputs, outputs, name=None))]
pub fn make_if(
    condition: &Bound<'_, PyAny>,
    then_body: &Bound<'_, PyModel>,
    else_body: &Bound<'_, PyModel>,
    inputs: Vec<(Bound<'_, PyAny>, Option<usize>, Option<usize>)>,
    outputs: Vec<(usize, usize)>,
    name: Option<&str>,
) -> PyResult<PyNode> {
    let mut op = If {
        then_body: own_body(then_body)?,
        else_body: own_body(else_body)?,
        ..If::default()
    };
    let mut ports = vec![port_of(condition)?];
    for (value, then_p, else_p) in &inputs {
        let input = ports.len();
        ports.push(port_of(value)?);
        let map = |parameter| InputMap { input, parameter };
        op.then_inputs.extend(then_p.map(map));
        op.else_inputs.extend(else_p.map(map));
    }
    for (output, (t, e)) in outputs.into_iter().enumerate() {
        op.then_outputs.push(OutputMap { output, result: t });
        op.else_outputs.push(OutputMap { output, result: e });
    }
    build(Box::new(op), ports, name)
}

/// Creates a Loop-5 node.
///
/// `inputs` lists `(value, parameter, back_edge)`: the value becomes op input 2, 3, … and feeds body Parameter
/// `parameter`; `back_edge` (a body Result index) replaces it on later iterations, `None` keeps it invariant.
/// `outputs` lists `(result, axis)`: body Result `result` gives op output 0, 1, … — its last value when `axis`
/// is `None`, else every iteration's value concatenated along `axis`. `current_iteration` is the body
/// Parameter receiving the iteration number and `body_condition` the body Result deciding whether to go on.
#[pyfunction]
#[pyo3(signature = (trip_count, condition, body, inputs, outputs, current_iteration=None, body_condition=None, name=None))]
#[allow(clippy::too_many_arguments)]
pub fn make_loop(
    trip_count: &Bound<'_, PyAny>,
    condition: &Bound<'_, PyAny>,
    body: &Bound<'_, PyModel>,
    inputs: Vec<(Bound<'_, PyAny>, usize, Option<usize>)>,
    outputs: Vec<(usize, Option<i64>)>,
    current_iteration: Option<usize>,
    body_condition: Option<usize>,
    name: Option<&str>,
) -> PyResult<PyNode> {
    let mut op = Loop {
        body: own_body(body)?,
        current_iteration,
        body_condition,
        ..Loop::default()
    };
    let mut ports = vec![port_of(trip_count)?, port_of(condition)?];
    for (value, parameter, back_edge) in &inputs {
        let map = InputMap {
            input: ports.len(),
            parameter: *parameter,
        };
        ports.push(port_of(value)?);
        op.inputs.push(match back_edge {
            Some(r) => LoopInput::Merged { map, back_edge: *r },
            None => LoopInput::Invariant(map),
        });
    }
    op.outputs = outputs
        .into_iter()
        .enumerate()
        .map(|(output, (result, concat_axis))| LoopOutput {
            map: OutputMap { output, result },
            concat_axis,
        })
        .collect();
    build(Box::new(op), ports, name)
}

/// The value of `output` when it is known at compile time (constants and what folds from them, such as shape
/// computations), flattened to floats; `None` when it is only known at run time. Frontends use it to pick an
/// If branch once the condition is known.
#[pyfunction]
pub fn known_value(output: &Bound<'_, PyAny>) -> PyResult<Option<Vec<f64>>> {
    let port = port_of(output)?;
    let desc = guarded(|| port.desc())?;
    Ok(desc.value.map(|t| t.to_f64_vec()))
}
