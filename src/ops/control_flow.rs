//! Control flow: If-8 (one of two bodies runs) and Loop-5 (a body runs while a condition holds).
//!
//! The bodies are [`Model`]s held by the op with port maps tying the op's inputs to body Parameters and body
//! Results to the op's outputs (the IR reader, the builder and frontends fill them); the reference evaluation
//! runs a body with [`evaluate_model`] and inference derives the outputs with [`infer_model`].

use super::data_movement::join_split::Concat;
use super::registry::Registry;
use super::util::check_input_count;
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::normalize_axis;
use crate::ir::{
    AttributeVisitor, Dimension, ElementType, Model, PartialShape, RtInfo, Tensor, evaluate_model,
    infer_model,
};

/// Registers If-8 and Loop-5.
pub fn register(r: &mut Registry) {
    r.add("If", 8, || Box::new(If::default()));
    r.add("Loop", 5, || Box::new(Loop::default()));
}

/// A body with no parameters and no results (the default before a reader or builder sets one).
fn empty_body() -> Model {
    Model {
        name: String::new(),
        parameters: vec![],
        results: vec![],
        sinks: vec![],
        rt_info: RtInfo::new(),
        variables: None,
    }
}

/// Which op input feeds which body Parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputMap {
    /// The op's input index.
    pub input: usize,
    /// The body Parameter index.
    pub parameter: usize,
}

/// Which body Result gives which op output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputMap {
    /// The op's output index.
    pub output: usize,
    /// The body Result index.
    pub result: usize,
}

/// The union of two shapes: dimensions equal in both stay, others become dynamic; different ranks give a
/// shape of dynamic rank.
pub fn join_shapes(a: &PartialShape, b: &PartialShape) -> PartialShape {
    match (a.dims(), b.dims()) {
        (Some(x), Some(y)) if x.len() == y.len() => PartialShape::new(
            x.iter()
                .zip(y)
                .map(|(p, q)| if p == q { *p } else { Dimension::DYNAMIC })
                .collect(),
        ),
        _ => PartialShape::dynamic_rank(),
    }
}

/// The union of two descriptors (no known value unless both are equal).
fn join_descs(a: &TensorDesc, b: &TensorDesc, what: &str) -> Result<TensorDesc> {
    let et = a.element_type.merge(b.element_type).ok_or_else(|| {
        Error::Shape(format!(
            "{what}: element types {} and {} differ",
            a.element_type, b.element_type
        ))
    })?;
    let value = match (&a.value, &b.value) {
        (Some(x), Some(y)) if x.shape() == y.shape() && x.bytes() == y.bytes() => Some(x.clone()),
        _ => None,
    };
    Ok(TensorDesc {
        element_type: et,
        shape: join_shapes(&a.shape, &b.shape),
        value,
    })
}

/// The body inputs: `items[i]` feeds the Parameter that `maps` ties to it; errors when a Parameter is left
/// unfed or an index is out of range.
fn body_inputs<T: Clone>(
    body: &Model,
    maps: &[InputMap],
    items: &[T],
    what: &str,
) -> Result<Vec<T>> {
    let mut fed: Vec<Option<T>> = vec![None; body.parameters.len()];
    for m in maps {
        let item = items.get(m.input).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{what}: input {} is mapped, but the op has {} inputs",
                m.input,
                items.len()
            ))
        })?;
        let slot = fed.get_mut(m.parameter).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{what}: body parameter {} is mapped, but the body has {}",
                m.parameter,
                body.parameters.len()
            ))
        })?;
        *slot = Some(item.clone());
    }
    fed.into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| {
                Error::InvalidArgument(format!("{what}: body parameter {i} is fed by no input"))
            })
        })
        .collect()
}

/// Output `o`'s body Result index under `maps`, or an error naming the body.
fn result_for(maps: &[OutputMap], o: usize, results: usize, what: &str) -> Result<usize> {
    let m = maps.iter().find(|m| m.output == o).ok_or_else(|| {
        Error::InvalidArgument(format!("{what}: output {o} is given by no body result"))
    })?;
    crate::ensure!(
        m.result < results,
        InvalidArgument,
        "{what}: output {o} maps to body result {}, but the body has {results}",
        m.result
    );
    Ok(m.result)
}

/// The number of outputs `maps` describe (one past the highest output index).
fn output_count(maps: &[OutputMap]) -> usize {
    maps.iter().map(|m| m.output + 1).max().unwrap_or(0)
}

/// Reads a scalar-like (one element) boolean or integer input as a truth value.
fn truth_of(t: &Tensor, what: &str) -> Result<bool> {
    crate::ensure!(
        t.len() == 1,
        InvalidArgument,
        "{what} must hold one element, got shape {:?}",
        t.shape()
    );
    Ok(t.get_f64(0) != 0.0)
}

/// Checks a condition input's descriptor: boolean, one element.
fn check_condition(d: &TensorDesc, what: &str) -> Result<()> {
    super::util::check_type(
        d.element_type,
        |t| t == ElementType::Boolean,
        "boolean",
        what,
    )?;
    check_single(&d.shape, what)
}

/// Errors unless the shape may hold exactly one element (a scalar or a 1-element tensor of any rank).
fn check_single(shape: &PartialShape, what: &str) -> Result<()> {
    if let Some(dims) = shape.dims() {
        crate::ensure!(
            dims.iter().all(|d| d.compatible(&Dimension::new(1))),
            Shape,
            "{what} must hold one element, got shape {shape}"
        );
    }
    Ok(())
}

/// If-8: runs `then_body` when the condition (input 0) holds, else `else_body`.
#[derive(Debug, Clone)]
pub struct If {
    /// The body run when the condition is true.
    pub then_body: Model,
    /// The body run when the condition is false.
    pub else_body: Model,
    /// Op inputs (1 and up) feeding `then_body`'s parameters.
    pub then_inputs: Vec<InputMap>,
    /// Op inputs (1 and up) feeding `else_body`'s parameters.
    pub else_inputs: Vec<InputMap>,
    /// `then_body` results giving the op's outputs.
    pub then_outputs: Vec<OutputMap>,
    /// `else_body` results giving the op's outputs.
    pub else_outputs: Vec<OutputMap>,
}

impl Default for If {
    fn default() -> Self {
        If {
            then_body: empty_body(),
            else_body: empty_body(),
            then_inputs: vec![],
            else_inputs: vec![],
            then_outputs: vec![],
            else_outputs: vec![],
        }
    }
}

impl If {
    /// The body, its input maps and output maps for one branch.
    fn branch(&self, cond: bool) -> (&Model, &[InputMap], &[OutputMap], &'static str) {
        if cond {
            (
                &self.then_body,
                &self.then_inputs,
                &self.then_outputs,
                "then_body",
            )
        } else {
            (
                &self.else_body,
                &self.else_inputs,
                &self.else_outputs,
                "else_body",
            )
        }
    }

    /// The op's output count; both branches must describe the same outputs.
    fn outputs(&self) -> Result<usize> {
        let n = output_count(&self.then_outputs);
        crate::ensure!(
            n == output_count(&self.else_outputs),
            InvalidArgument,
            "then_body gives {n} outputs, else_body gives {}",
            output_count(&self.else_outputs)
        );
        Ok(n)
    }

    /// Maps a branch's body results onto the op's outputs.
    fn pick<T: Clone>(&self, cond: bool, results: &[T]) -> Result<Vec<T>> {
        let (_, _, maps, what) = self.branch(cond);
        (0..self.outputs()?)
            .map(|o| {
                let r = result_for(maps, o, results.len(), what)?;
                Ok(results[r].clone())
            })
            .collect()
    }

    /// The output descriptors of one branch.
    fn infer_branch(&self, cond: bool, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let (body, maps, _, what) = self.branch(cond);
        let fed = body_inputs(body, maps, inputs, what)?;
        let results = infer_model(body, &fed).map_err(|e| e.context(what))?;
        self.pick(cond, &results)
    }
}

impl Op for If {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("If", "opset8")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, usize::MAX)?;
        check_condition(&inputs[0], "If condition (input 0)")?;
        if let Some(v) = &inputs[0].value {
            return self.infer_branch(truth_of(v, "If condition (input 0)")?, inputs);
        }
        let then = self.infer_branch(true, inputs)?;
        let other = self.infer_branch(false, inputs)?;
        then.iter()
            .zip(&other)
            .enumerate()
            .map(|(i, (a, b))| join_descs(a, b, &format!("If output {i}")))
            .collect()
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, usize::MAX)?;
        let cond = truth_of(inputs[0], "If condition (input 0)")?;
        let (body, maps, _, what) = self.branch(cond);
        let owned: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        let fed = body_inputs(body, maps, &owned, what)?;
        let results = evaluate_model(body, &fed).map_err(|e| e.context(what))?;
        self.pick(cond, &results)
    }
}

/// How a Loop input reaches its body Parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopInput {
    /// The same value on every iteration.
    Invariant(InputMap),
    /// The initial value; later iterations get body Result `back_edge` of the previous one.
    Merged {
        /// The input and its Parameter.
        map: InputMap,
        /// The body Result index fed back.
        back_edge: usize,
    },
}

impl LoopInput {
    /// The input → Parameter map.
    pub fn map(&self) -> InputMap {
        match self {
            LoopInput::Invariant(m) | LoopInput::Merged { map: m, .. } => *m,
        }
    }
}

/// A Loop output: the last iteration's value of a body Result, or every iteration's value concatenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopOutput {
    /// Output and body Result.
    pub map: OutputMap,
    /// `Some(axis)`: the per-iteration values are concatenated along `axis`; `None`: the last value.
    pub concat_axis: Option<i64>,
}

/// Loop-5: runs the body while iterations remain (input 0, the trip count; negative means unbounded) and the
/// condition holds (input 1, then the body's condition result).
#[derive(Debug, Clone)]
pub struct Loop {
    /// The loop body.
    pub body: Model,
    /// Inputs 2 and up and how they feed the body.
    pub inputs: Vec<LoopInput>,
    /// The op's outputs.
    pub outputs: Vec<LoopOutput>,
    /// The body Parameter receiving the iteration number, if any.
    pub current_iteration: Option<usize>,
    /// The body Result giving the condition to continue, if any (none: always continue).
    pub body_condition: Option<usize>,
}

impl Default for Loop {
    fn default() -> Self {
        Loop {
            body: empty_body(),
            inputs: vec![],
            outputs: vec![],
            current_iteration: None,
            body_condition: None,
        }
    }
}

/// The state of a running Loop: body parameter values and what each output has collected.
struct LoopState {
    params: Vec<Tensor>,
    last: Vec<Option<Tensor>>,
    slices: Vec<Vec<Tensor>>,
}

impl Loop {
    /// The input → Parameter maps, the iteration counter's excluded.
    fn input_maps(&self) -> Vec<InputMap> {
        self.inputs.iter().map(LoopInput::map).collect()
    }

    /// The body inputs from the op inputs, with `counter` feeding the current-iteration parameter.
    fn fed<T: Clone>(&self, items: &[T], counter: T) -> Result<Vec<T>> {
        let mut maps = self.input_maps();
        let mut all = items.to_vec();
        if let Some(p) = self.current_iteration {
            maps.push(InputMap {
                input: all.len(),
                parameter: p,
            });
            all.push(counter);
        }
        body_inputs(&self.body, &maps, &all, "Loop body")
    }

    /// The position in `outputs` of op output `o`.
    fn output_position(&self, o: usize) -> Result<usize> {
        self.outputs
            .iter()
            .position(|x| x.map.output == o)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("Loop output {o} is given by no body result"))
            })
    }

    /// The op input whose initial value body Result `result` replaces (through a back edge), if any.
    fn initial_of(&self, result: usize) -> Option<usize> {
        self.inputs.iter().find_map(|l| match l {
            LoopInput::Merged { map, back_edge } if *back_edge == result => Some(map.input),
            _ => None,
        })
    }

    /// The number of op outputs.
    fn output_count(&self) -> usize {
        output_count(&self.outputs.iter().map(|o| o.map).collect::<Vec<_>>())
    }

    /// The descriptor of the current-iteration parameter (its declared type, a scalar).
    fn counter_desc(&self) -> Result<TensorDesc> {
        let et = match self.current_iteration {
            Some(p) => counter_type(&self.body, p)?,
            None => ElementType::I64,
        };
        Ok(TensorDesc::new(et, PartialShape::from_static(&[])))
    }

    /// The body's result descriptors once merged inputs take the union of their initial and fed-back shapes.
    fn infer_body(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let mut descs = inputs.to_vec();
        for l in &self.inputs {
            if let LoopInput::Merged { map, .. } = l
                && let Some(d) = descs.get_mut(map.input)
            {
                d.value = None;
            }
        }
        let counter = self.counter_desc()?;
        for _ in 0..4 {
            let results = infer_model(&self.body, &self.fed(&descs, counter.clone())?)?;
            let mut changed = false;
            for l in &self.inputs {
                let LoopInput::Merged { map, back_edge } = l else {
                    continue;
                };
                let fed_back = results.get(*back_edge).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Loop back edge from missing body result {back_edge}"
                    ))
                })?;
                let d = descs.get_mut(map.input).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Loop input {} is mapped but missing",
                        map.input
                    ))
                })?;
                let joined = join_descs(
                    d,
                    fed_back,
                    &format!("Loop back edge to input {}", map.input),
                )?;
                if joined.shape != d.shape {
                    d.shape = joined.shape;
                    changed = true;
                }
            }
            if !changed {
                return Ok(results);
            }
        }
        Err(Error::Shape(
            "Loop body shapes do not settle across iterations".into(),
        ))
    }

    /// The number of iterations when it is known at compile time.
    fn known_iterations(&self, inputs: &[TensorDesc], results: &[TensorDesc]) -> Option<u64> {
        if !truth_of(inputs[1].value.as_ref()?, "").ok()? {
            return Some(0);
        }
        let trip = inputs[0].value.as_ref()?.to_i64_vec().first().copied()?;
        if trip == 0 {
            return Some(0);
        }
        let always = match self.body_condition {
            None => true,
            Some(r) => truth_of(results.get(r)?.value.as_ref()?, "").ok()?,
        };
        (always && trip >= 0).then_some(trip as u64)
    }

    /// Runs the body once and records its results; returns whether to continue.
    fn step(&self, state: &mut LoopState, fixed: &[Tensor], iteration: i64) -> Result<bool> {
        let counter = Tensor::from_i64s(self.counter_desc()?.element_type, &[], &[iteration])?;
        let mut items = fixed.to_vec();
        for (l, p) in self.inputs.iter().zip(&state.params) {
            if let Some(slot) = items.get_mut(l.map().input) {
                *slot = p.clone();
            }
        }
        let results = evaluate_model(&self.body, &self.fed(&items, counter)?)?;
        let get = |r: usize| {
            results
                .get(r)
                .ok_or_else(|| Error::InvalidArgument(format!("Loop body has no result {r}")))
        };
        for (k, o) in self.outputs.iter().enumerate() {
            let t = get(o.map.result)?.clone();
            match o.concat_axis {
                Some(_) => state.slices[k].push(t),
                None => state.last[k] = Some(t),
            }
        }
        for (l, p) in self.inputs.iter().zip(state.params.iter_mut()) {
            if let LoopInput::Merged { back_edge, .. } = l {
                *p = get(*back_edge)?.clone();
            }
        }
        match self.body_condition {
            Some(r) => truth_of(get(r)?, "Loop body condition"),
            None => Ok(true),
        }
    }

    /// The final value of output `k` after the loop.
    fn finish(&self, state: &LoopState, k: usize, initial: &[&Tensor]) -> Result<Tensor> {
        let o = &self.outputs[k];
        if let Some(axis) = o.concat_axis {
            return concat_slices(&state.slices[k], axis);
        }
        if let Some(t) = &state.last[k] {
            return Ok(t.clone());
        }
        // No iteration ran: a value fed back keeps its initial value.
        self.initial_of(o.map.result)
            .and_then(|i| initial.get(i))
            .map(|t| (*t).clone())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "Loop output {} has no value: no iteration ran and body result {} is not fed back",
                    o.map.output, o.map.result
                ))
            })
    }
}

/// The declared element type of the current-iteration Parameter (i64 when dynamic); must be an integer.
fn counter_type(body: &Model, p: usize) -> Result<ElementType> {
    let node = body.parameters.get(p).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "Loop current-iteration parameter {p} is out of range ({} parameters)",
            body.parameters.len()
        ))
    })?;
    let et = node.output(0).element_type();
    match et {
        ElementType::Dynamic => Ok(ElementType::I64),
        ElementType::I32 | ElementType::I64 => Ok(et),
        other => Err(Error::Shape(format!(
            "Loop current-iteration parameter has element type {other}, expected i32 or i64"
        ))),
    }
}

/// Concatenates per-iteration values along `axis` (an empty list is an error: the shape is unknown).
fn concat_slices(slices: &[Tensor], axis: i64) -> Result<Tensor> {
    let refs: Vec<&Tensor> = slices.iter().collect();
    crate::ensure!(
        !refs.is_empty(),
        InvalidArgument,
        "Loop ran no iteration, so a concatenated output has no shape"
    );
    let mut out = Concat { axis }.evaluate(&refs)?;
    out.pop()
        .ok_or_else(|| Error::Internal("Concat gave no output".into()))
}

/// The shape of a concatenated output: the body result's with `axis` scaled by the iteration count.
fn concat_shape(part: &PartialShape, axis: i64, iterations: Option<u64>) -> Result<PartialShape> {
    let Some(dims) = part.dims() else {
        return Ok(PartialShape::dynamic_rank());
    };
    let a = normalize_axis(axis, dims.len(), "Loop concatenated output")?;
    let mut dims = dims.to_vec();
    dims[a] = match (dims[a].get(), iterations) {
        (Some(n), Some(k)) => Dimension::new(n * k),
        _ => Dimension::DYNAMIC,
    };
    Ok(PartialShape::new(dims))
}

impl Op for Loop {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Loop", "opset5")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, usize::MAX)?;
        super::util::check_type(
            inputs[0].element_type,
            |t| matches!(t, ElementType::I32 | ElementType::I64),
            "i32 or i64",
            "Loop trip count (input 0)",
        )?;
        check_single(&inputs[0].shape, "Loop trip count (input 0)")?;
        check_condition(&inputs[1], "Loop execution condition (input 1)")?;
        let results = self.infer_body(inputs)?;
        if let Some(r) = self.body_condition {
            let d = results.get(r).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "Loop body condition is result {r}, which the body lacks"
                ))
            })?;
            check_condition(d, "Loop body condition")?;
        }
        let iterations = self.known_iterations(inputs, &results);
        (0..self.output_count())
            .map(|o| {
                let out = &self.outputs[self.output_position(o)?];
                let r = results.get(out.map.result).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Loop output {o} maps to missing body result {}",
                        out.map.result
                    ))
                })?;
                match (out.concat_axis, self.initial_of(out.map.result)) {
                    (Some(axis), _) => Ok(TensorDesc::new(
                        r.element_type,
                        concat_shape(&r.shape, axis, iterations)?,
                    )),
                    // The initial value when no iteration runs.
                    (None, Some(i)) if iterations != Some(0) => {
                        let mut d = join_descs(r, &inputs[i], &format!("Loop output {o}"))?;
                        d.value = None;
                        Ok(d)
                    }
                    (None, Some(i)) => Ok(TensorDesc::new(
                        inputs[i].element_type,
                        inputs[i].shape.clone(),
                    )),
                    (None, None) => Ok(TensorDesc::new(r.element_type, r.shape.clone())),
                }
            })
            .collect()
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, usize::MAX)?;
        let trip = inputs[0].to_i64_vec();
        crate::ensure!(
            trip.len() == 1,
            InvalidArgument,
            "Loop trip count must hold one element, got shape {:?}",
            inputs[0].shape()
        );
        let limit = if trip[0] < 0 { None } else { Some(trip[0]) };
        crate::ensure!(
            limit.is_some() || self.body_condition.is_some(),
            InvalidArgument,
            "Loop has an unbounded trip count and no body condition: it would never end"
        );
        let fixed: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        let mut state = LoopState {
            params: self
                .inputs
                .iter()
                .map(|l| {
                    fixed.get(l.map().input).cloned().ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "Loop input {} is mapped but missing",
                            l.map().input
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            last: vec![None; self.outputs.len()],
            slices: vec![vec![]; self.outputs.len()],
        };
        let mut go = truth_of(inputs[1], "Loop execution condition (input 1)")?;
        let mut i = 0i64;
        while go && limit.is_none_or(|n| i < n) {
            go = self.step(&mut state, &fixed, i)?;
            i += 1;
        }
        (0..self.output_count())
            .map(|o| self.finish(&state, self.output_position(o)?, inputs))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Node, Output};
    use crate::ops::registry::create;
    use crate::ops::structure::{Constant, Parameter};

    fn param(et: ElementType, shape: PartialShape) -> Node {
        Node::new(Box::new(Parameter::new(et, shape)), vec![]).unwrap()
    }

    fn f32_param() -> Node {
        param(ElementType::F32, PartialShape::dynamic_rank())
    }

    fn node(t: &str, opset: u32, inputs: Vec<Output>) -> Node {
        Node::new(create(t, opset).unwrap(), inputs).unwrap()
    }

    fn constant(t: Tensor) -> Output {
        Node::new(Box::new(Constant::new(t)), vec![])
            .unwrap()
            .output(0)
    }

    fn body(results: Vec<Output>, params: Vec<Node>) -> Model {
        let rs = results
            .into_iter()
            .map(|o| node("Result", 1, vec![o]))
            .collect();
        Model::new(rs, vec![], params, "body").unwrap()
    }

    fn f32s(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape, v).unwrap()
    }

    fn desc(et: ElementType, dims: &[usize]) -> TensorDesc {
        TensorDesc::new(et, PartialShape::from_static(dims))
    }

    /// then: a + b; else: a * 2 (reads only the first input).
    fn add_or_double() -> If {
        let (a, b) = (f32_param(), f32_param());
        let then_body = body(
            vec![node("Add", 1, vec![a.output(0), b.output(0)]).output(0)],
            vec![a, b],
        );
        let c = f32_param();
        let two = constant(f32s(&[], vec![2.0]));
        let else_body = body(
            vec![node("Multiply", 1, vec![c.output(0), two]).output(0)],
            vec![c],
        );
        If {
            then_body,
            else_body,
            then_inputs: vec![
                InputMap {
                    input: 1,
                    parameter: 0,
                },
                InputMap {
                    input: 2,
                    parameter: 1,
                },
            ],
            else_inputs: vec![InputMap {
                input: 1,
                parameter: 0,
            }],
            then_outputs: vec![OutputMap {
                output: 0,
                result: 0,
            }],
            else_outputs: vec![OutputMap {
                output: 0,
                result: 0,
            }],
        }
    }

    #[test]
    fn if_evaluates_the_chosen_branch() {
        let op = add_or_double();
        let x = f32s(&[2], vec![1.0, 2.0]);
        let y = f32s(&[2], vec![10.0, 20.0]);
        let t = boolean(true);
        let out = op.evaluate(&[&t, &x, &y]).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[11.0, 22.0]);
        let f = Tensor::from_bytes(ElementType::Boolean, &[1], &[0]).unwrap();
        let out = op.evaluate(&[&f, &x, &y]).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[2.0, 4.0]);
    }

    #[test]
    fn if_infer_joins_branches_unless_the_condition_is_known() {
        let op = add_or_double();
        let cond = desc(ElementType::Boolean, &[]);
        let out = op
            .infer(&[
                cond,
                desc(ElementType::F32, &[2]),
                desc(ElementType::F32, &[3, 2]),
            ])
            .unwrap();
        assert_eq!(out[0].shape, PartialShape::dynamic_rank());
        let same = op
            .infer(&[
                desc(ElementType::Boolean, &[1]),
                desc(ElementType::F32, &[2, 2]),
                desc(ElementType::F32, &[2]),
            ])
            .unwrap();
        assert_eq!(same[0].shape, PartialShape::from_static(&[2, 2]));
        let known = TensorDesc::of_tensor(&boolean(true));
        let out = op
            .infer(&[
                known,
                desc(ElementType::F32, &[2]),
                desc(ElementType::F32, &[3, 2]),
            ])
            .unwrap();
        assert_eq!(out[0].shape, PartialShape::from_static(&[3, 2]));
    }

    #[test]
    fn if_rejects_bad_conditions_and_maps() {
        let op = add_or_double();
        let f = desc(ElementType::F32, &[2]);
        assert!(
            op.infer(&[desc(ElementType::F32, &[]), f.clone(), f.clone()])
                .is_err()
        );
        assert!(
            op.infer(&[desc(ElementType::Boolean, &[2]), f.clone(), f.clone()])
                .is_err()
        );
        let mut bad = add_or_double();
        bad.then_inputs.pop();
        assert!(
            bad.infer(&[desc(ElementType::Boolean, &[]), f.clone(), f])
                .is_err()
        );
    }

    /// acc = acc + x each iteration; outputs: final acc and every acc concatenated along axis 0;
    /// continues while the iteration number is below `stop`.
    fn accumulate(stop: i64) -> Loop {
        let acc = f32_param();
        let x = f32_param();
        let it = param(ElementType::I64, PartialShape::from_static(&[]));
        let sum = node("Add", 1, vec![acc.output(0), x.output(0)]);
        let cond = node(
            "Less",
            1,
            vec![
                it.output(0),
                constant(Tensor::from_vec(&[], vec![stop]).unwrap()),
            ],
        );
        let zero = constant(Tensor::from_vec(&[1], vec![0i64]).unwrap());
        let slice = node("Unsqueeze", 1, vec![sum.output(0), zero]);
        Loop {
            body: body(
                vec![sum.output(0), cond.output(0), slice.output(0)],
                vec![acc, x, it],
            ),
            inputs: vec![
                LoopInput::Merged {
                    map: InputMap {
                        input: 2,
                        parameter: 0,
                    },
                    back_edge: 0,
                },
                LoopInput::Invariant(InputMap {
                    input: 3,
                    parameter: 1,
                }),
            ],
            outputs: vec![
                LoopOutput {
                    map: OutputMap {
                        output: 0,
                        result: 0,
                    },
                    concat_axis: None,
                },
                LoopOutput {
                    map: OutputMap {
                        output: 1,
                        result: 2,
                    },
                    concat_axis: Some(0),
                },
            ],
            current_iteration: Some(2),
            body_condition: Some(1),
        }
    }

    fn boolean(v: bool) -> Tensor {
        Tensor::from_bytes(ElementType::Boolean, &[], &[v as u8]).unwrap()
    }

    #[test]
    fn loop_runs_until_the_trip_count_or_the_condition() {
        let op = accumulate(100);
        let trip = Tensor::from_vec(&[], vec![3i64]).unwrap();
        let init = f32s(&[2], vec![0.0, 1.0]);
        let x = f32s(&[2], vec![1.0, 10.0]);
        let out = op.evaluate(&[&trip, &boolean(true), &init, &x]).unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[3.0, 31.0]);
        assert_eq!(out[1].shape(), &[3, 2]);
        assert_eq!(
            out[1].typed::<f32>().unwrap(),
            &[1.0, 11.0, 2.0, 21.0, 3.0, 31.0]
        );
        // Body condition `it < 1` stops after iterations 0 and 1; unbounded trip count.
        let unbounded = Tensor::from_vec(&[1], vec![-1i32]).unwrap();
        let out = accumulate(1)
            .evaluate(&[&unbounded, &boolean(true), &init, &x])
            .unwrap();
        assert_eq!(out[0].typed::<f32>().unwrap(), &[2.0, 21.0]);
    }

    #[test]
    fn loop_with_no_iteration_keeps_initial_values() {
        let op = accumulate(100);
        let trip = Tensor::from_vec(&[], vec![5i64]).unwrap();
        let init = f32s(&[2], vec![7.0, 8.0]);
        let x = f32s(&[2], vec![1.0, 1.0]);
        let outs = Loop {
            outputs: op.outputs[..1].to_vec(),
            ..op.clone()
        }
        .evaluate(&[&trip, &boolean(false), &init, &x])
        .unwrap();
        assert_eq!(outs[0].typed::<f32>().unwrap(), &[7.0, 8.0]);
        assert!(op.evaluate(&[&trip, &boolean(false), &init, &x]).is_err());
    }

    #[test]
    fn loop_infers_outputs() {
        let op = accumulate(100);
        let inputs = [
            TensorDesc::of_tensor(&Tensor::from_vec(&[], vec![4i64]).unwrap()),
            TensorDesc::of_tensor(&boolean(true)),
            desc(ElementType::F32, &[2]),
            desc(ElementType::F32, &[2]),
        ];
        let out = op.infer(&inputs).unwrap();
        assert_eq!(out[0].shape, PartialShape::from_static(&[2]));
        // The body condition is not constant, so the iteration count is unknown.
        assert_eq!(
            out[1].shape,
            PartialShape::new(vec![Dimension::DYNAMIC, Dimension::new(2)])
        );
        let mut no_cond = op.clone();
        no_cond.body_condition = None;
        let out = no_cond.infer(&inputs).unwrap();
        assert_eq!(out[1].shape, PartialShape::from_static(&[4, 2]));
        // A back edge whose shape grows makes the carried value's dimension dynamic.
        let mut growing = inputs.clone();
        growing[2] = desc(ElementType::F32, &[1]);
        let out = op.infer(&growing).unwrap();
        assert_eq!(out[0].shape, PartialShape::new(vec![Dimension::DYNAMIC]));
        growing[1] = TensorDesc::of_tensor(&boolean(false));
        assert_eq!(
            op.infer(&growing).unwrap()[0].shape,
            PartialShape::from_static(&[1])
        );
        let mut bad = inputs.clone();
        bad[0] = desc(ElementType::F32, &[]);
        assert!(op.infer(&bad).is_err());
    }

    #[test]
    fn loop_refuses_to_run_forever() {
        let mut op = accumulate(3);
        op.body_condition = None;
        let trip = Tensor::from_vec(&[], vec![-1i64]).unwrap();
        let v = f32s(&[1], vec![0.0]);
        assert!(op.evaluate(&[&trip, &boolean(true), &v, &v]).is_err());
    }
}
