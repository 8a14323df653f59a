//! What a compiled model executes, as OpenVINO shows it: per-node profiling of an inference
//! (`InferRequest.get_profiling_info`) and the runtime model (`CompiledModel.get_runtime_model`), one
//! `ExecutionNode` per executed step with `layerType`, `primitiveType` and `originalLayersNames` in its rt_info.

use super::plugin::{CompiledModel, ExecutedStep, ProfileEntry};
use crate::error::{Error, Result};
use crate::ir::AttributeVisitor;
use crate::ir::rt_info::RtValue;
use crate::ir::{Model, Node, Output, Tensor};
use crate::ops::structure::{Parameter, ResultOp};
use crate::ops::{Op, TensorDesc, TypeInfo};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Whether a node ran in the profiled inference (`ProfilingInfo.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStatus {
    /// Not run: a model input or output, a node fused into another step, or no inference profiled yet.
    NotRun,
    /// Removed by the compiler.
    OptimizedOut,
    /// Ran, taking the reported time.
    Executed,
}

/// One line of a profiling report.
#[derive(Debug, Clone)]
pub struct ProfilingInfo {
    /// Friendly name of the node.
    pub node_name: String,
    /// Op type of the node.
    pub node_type: String,
    /// The kernel that ran it (`unknown_f32` for inputs and outputs, `undef` for a fused node).
    pub exec_type: String,
    /// Whether it ran.
    pub status: ProfileStatus,
    /// Wall-clock time.
    pub real_time: Duration,
    /// CPU time (the wall-clock time of the thread that ran it).
    pub cpu_time: Duration,
}

impl ProfilingInfo {
    /// A line for a node that did not run.
    fn not_run(node: &Node, exec_type: String) -> ProfilingInfo {
        ProfilingInfo {
            node_name: node.friendly_name(),
            node_type: node.type_name().to_string(),
            exec_type,
            status: ProfileStatus::NotRun,
            real_time: Duration::ZERO,
            cpu_time: Duration::ZERO,
        }
    }
}

/// `unknown_<type>`: OpenVINO's exec type of the nodes no kernel runs (inputs, outputs, constants).
fn unknown_exec_type(port: &Output) -> String {
    format!("unknown_{}", port.element_type())
}

/// The profiling report of the last inference, in execution order: model inputs (not run), each executed step
/// with its time (not run when the inference was not profiled), the nodes fused into a step right after it
/// (not run, exec type `undef`, as OpenVINO lists an activation fused into a convolution), and the model
/// outputs (not run). A device that does not list its steps reports its profile entries as they are.
pub fn profiling_info(
    compiled: &dyn CompiledModel,
    profile: &[ProfileEntry],
) -> Result<Vec<ProfilingInfo>> {
    let steps = compiled.executed_steps();
    if steps.is_empty() {
        return Ok(profile.iter().map(executed).collect());
    }
    let index: HashMap<u64, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.node.id(), i))
        .collect();
    let mut report = Vec::new();
    for node in compiled.model().ordered_ops()? {
        if matches!(node.type_name(), "Parameter" | "Result") {
            let port = if node.type_name() == "Result" {
                node.input(0)?
            } else {
                node.output(0)
            };
            report.push(ProfilingInfo::not_run(&node, unknown_exec_type(&port)));
            continue;
        }
        let Some((i, step)) = index
            .get(&node.id())
            .and_then(|&i| Some((i, steps.get(i)?)))
        else {
            continue;
        };
        report.push(match profile.get(i) {
            Some(e) if e.node_name == node.friendly_name() => executed(e),
            _ => ProfilingInfo::not_run(&node, step.exec_type.clone()),
        });
        report.extend(
            step.absorbed
                .iter()
                .map(|n| ProfilingInfo::not_run(n, "undef".into())),
        );
    }
    Ok(report)
}

/// The report line of an executed step.
fn executed(e: &ProfileEntry) -> ProfilingInfo {
    ProfilingInfo {
        node_name: e.node_name.clone(),
        node_type: e.node_type.clone(),
        exec_type: e.exec_type.clone(),
        status: ProfileStatus::Executed,
        real_time: e.real_time,
        cpu_time: e.real_time,
    }
}

/// A node of a runtime model: it stands for one executed step (or a constant it reads) and only describes it.
#[derive(Debug, Clone)]
pub struct ExecutionNode {
    outputs: Vec<TensorDesc>,
}

impl Op for ExecutionNode {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ExecutionNode", "experimental")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, _inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Ok(self.outputs.clone())
    }
    fn evaluate(&self, _inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        Err(Error::Unsupported(
            "an ExecutionNode of a runtime model describes an executed step; it cannot be evaluated".into(),
        ))
    }
    fn is_foldable(&self) -> bool {
        false
    }
}

/// The `layerType` of a step: its op type, with OpenVINO's names for the state ops.
fn layer_type(node: &Node) -> &'static str {
    match node.type_name() {
        "ReadValue" => "MemoryInput",
        "Assign" => "MemoryOutput",
        other => other,
    }
}

/// Builds the runtime model of a compiled model (see [`runtime_model`]).
struct Builder {
    /// Original (node id, port) → the port of the runtime model that holds its value.
    ports: HashMap<(u64, usize), Output>,
    /// The next `execOrder`.
    order: usize,
}

impl Builder {
    /// Sets the rt_info OpenVINO gives every node of a runtime model.
    fn annotate(&mut self, node: &Node, layer_type: &str, primitive: &str, original: &[String]) {
        let precisions = node
            .outputs()
            .iter()
            .map(|o| o.element_type().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let runtime_precision = node
            .outputs()
            .first()
            .map(|o| o.element_type().to_string())
            .unwrap_or_default();
        let entries = [
            ("execOrder", self.order.to_string()),
            ("layerType", layer_type.to_string()),
            ("originalLayersNames", original.join(",")),
            ("outputPrecisions", precisions),
            ("primitiveType", primitive.to_string()),
            ("runtimePrecision", runtime_precision),
        ];
        self.order += 1;
        node.update_rt_info(|info| {
            for (k, v) in entries {
                info.insert(k.to_string(), RtValue::Str(v));
            }
        });
    }

    /// The runtime port of an original port; a value no step computes (a constant, folded at compile time)
    /// becomes a `Const` node named after its producer.
    fn port(&mut self, src: &Output) -> Result<Output> {
        let key = (src.node.id(), src.index);
        if let Some(p) = self.ports.get(&key) {
            return Ok(p.clone());
        }
        let op = ExecutionNode {
            outputs: vec![src.desc()?],
        };
        let name = src.node.friendly_name();
        let node = Node::with_name(Box::new(op), vec![], &name)?;
        let primitive = unknown_exec_type(src);
        self.annotate(&node, "Const", &primitive, std::slice::from_ref(&name));
        let port = node.output(0);
        self.ports.insert(key, port.clone());
        Ok(port)
    }

    /// An input of the model.
    fn parameter(&mut self, p: &Node) -> Result<Node> {
        let src = p.output(0);
        let op = Parameter::new(src.element_type(), src.shape());
        let node = Node::with_name(Box::new(op), vec![], &p.friendly_name())?;
        node.output(0).set_names(src.names())?;
        let primitive = unknown_exec_type(&src);
        self.annotate(&node, "Input", &primitive, &[p.friendly_name()]);
        self.ports.insert((p.id(), 0), node.output(0));
        Ok(node)
    }

    /// The ExecutionNode of a step: it reads every value the step's nodes read from outside the step.
    fn step(&mut self, step: &ExecutedStep) -> Result<Node> {
        let members: Vec<&Node> = std::iter::once(&step.node).chain(&step.absorbed).collect();
        let inside: HashSet<u64> = members.iter().map(|n| n.id()).collect();
        let mut inputs = Vec::new();
        for src in members.iter().flat_map(|n| n.inputs()) {
            if !inside.contains(&src.node.id()) {
                inputs.push(self.port(&src)?);
            }
        }
        let last = members.last().copied().unwrap_or(&step.node);
        let outputs = last.outputs();
        let op = ExecutionNode {
            outputs: outputs.iter().map(Output::desc).collect::<Result<_>>()?,
        };
        let node = Node::with_name(Box::new(op), inputs, &step.node.friendly_name())?;
        for (i, o) in outputs.iter().enumerate() {
            node.output(i).set_names(o.names())?;
            self.ports.insert((last.id(), i), node.output(i));
        }
        for n in &members {
            self.ports.insert((n.id(), 0), node.output(0));
        }
        let original: Vec<String> = members.iter().map(|n| n.friendly_name()).collect();
        self.annotate(&node, layer_type(&step.node), &step.exec_type, &original);
        Ok(node)
    }

    /// An output of the model.
    fn result(&mut self, r: &Node) -> Result<Node> {
        let src = r.input(0)?;
        let port = self.port(&src)?;
        let node = Node::with_name(Box::new(ResultOp), vec![port], &r.friendly_name())?;
        let primitive = unknown_exec_type(&src);
        self.annotate(&node, "Output", &primitive, &[r.friendly_name()]);
        Ok(node)
    }
}

/// The graph a compiled model executes: its inputs, one `ExecutionNode` per executed step (reading `Const`
/// nodes for values known at compile time), its outputs. Each node's rt_info holds `execOrder`, `layerType`
/// (`Input`, `Output`, `Const` or the op type), `primitiveType` (the kernel), `originalLayersNames` (the node and
/// the nodes fused into it), `outputPrecisions` and `runtimePrecision`. A device that does not list its steps
/// shows the model as compiled.
pub fn runtime_model(compiled: &dyn CompiledModel) -> Result<Model> {
    let model = compiled.model();
    let steps = compiled.executed_steps();
    if steps.is_empty() {
        return model.deep_clone();
    }
    let by_node: HashMap<u64, &ExecutedStep> = steps.iter().map(|s| (s.node.id(), s)).collect();
    let mut b = Builder {
        ports: HashMap::new(),
        order: 0,
    };
    let parameters = model
        .parameters
        .iter()
        .map(|p| b.parameter(p))
        .collect::<Result<Vec<_>>>()?;
    let mut executed: HashMap<u64, Node> = HashMap::new();
    for node in model.ordered_ops()? {
        if let Some(step) = by_node.get(&node.id()) {
            executed.insert(node.id(), b.step(step)?);
        }
    }
    let results = model
        .results
        .iter()
        .map(|r| b.result(r))
        .collect::<Result<Vec<_>>>()?;
    let sinks = model
        .sinks
        .iter()
        .filter_map(|s| executed.get(&s.id()).cloned())
        .collect();
    let mut runtime = Model::new(results, sinks, parameters, &model.name)?;
    runtime.rt_info = model.rt_info.clone();
    Ok(runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ElementType, PartialShape};
    use crate::ops::registry::create;
    use crate::plugins::cpu::CpuPlugin;
    use crate::runtime::{Config, InferRequest, Plugin, PropertyValue};
    use std::sync::Arc;

    /// x → Relu → Add(1) → Result.
    fn relu_add() -> Model {
        let p = Parameter::new(ElementType::F32, PartialShape::from_static(&[2, 3]));
        let x = Node::with_name(Box::new(p), vec![], "x").unwrap();
        let relu = Node::with_name(create("Relu", 1).unwrap(), vec![x.output(0)], "relu").unwrap();
        let one = Tensor::from_vec(&[1], vec![1.0f32]).unwrap();
        let c = Node::new(Box::new(crate::ops::structure::Constant::new(one)), vec![]).unwrap();
        let add = Node::with_name(
            create("Add", 1).unwrap(),
            vec![relu.output(0), c.output(0)],
            "add",
        )
        .unwrap();
        let r = Node::with_name(Box::new(ResultOp), vec![add.output(0)], "out").unwrap();
        Model::new(vec![r], vec![], vec![x], "relu_add").unwrap()
    }

    fn compiled(perf_count: bool) -> Arc<dyn CompiledModel> {
        let config = Config::from([("PERF_COUNT".to_string(), PropertyValue::Bool(perf_count))]);
        CpuPlugin::default().compile(&relu_add(), &config).unwrap()
    }

    fn report(perf_count: bool) -> Vec<ProfilingInfo> {
        let compiled = compiled(perf_count);
        let mut req = InferRequest::new(compiled.clone());
        req.set_input(0, Tensor::from_vec(&[2, 3], vec![1.0f32; 6]).unwrap())
            .unwrap();
        req.infer().unwrap();
        let profile = req.state().profile.clone();
        profiling_info(compiled.as_ref(), &profile).unwrap()
    }

    #[test]
    fn profiling_lists_inputs_steps_and_outputs_in_order() {
        let lines = report(true);
        let summary: Vec<(&str, &str, ProfileStatus)> = lines
            .iter()
            .map(|p| (p.node_name.as_str(), p.node_type.as_str(), p.status))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("x", "Parameter", ProfileStatus::NotRun),
                ("relu", "Relu", ProfileStatus::Executed),
                ("add", "Add", ProfileStatus::Executed),
                ("out", "Result", ProfileStatus::NotRun),
            ]
        );
        assert_eq!(lines[0].exec_type, "unknown_f32");
        assert_eq!(lines[1].cpu_time, lines[1].real_time);
    }

    #[test]
    fn without_perf_count_nothing_is_executed() {
        let lines = report(false);
        assert_eq!(lines.len(), 4);
        assert!(lines.iter().all(|p| p.status == ProfileStatus::NotRun));
        assert!(lines.iter().all(|p| p.real_time == Duration::ZERO));
    }

    #[test]
    fn runtime_model_has_one_node_per_step() {
        let m = runtime_model(compiled(false).as_ref()).unwrap();
        let ops = m.ordered_ops().unwrap();
        let layer = |n: &Node| match n.rt_info().get("layerType") {
            Some(RtValue::Str(s)) => s.clone(),
            _ => String::new(),
        };
        let seen: Vec<(String, &str, String)> = ops
            .iter()
            .map(|n| (n.friendly_name(), n.type_name(), layer(n)))
            .collect();
        let expect =
            |name: &str, ty: &'static str, layer: &str| (name.to_string(), ty, layer.to_string());
        assert!(seen.contains(&expect("x", "Parameter", "Input")));
        assert!(seen.contains(&expect("relu", "ExecutionNode", "Relu")));
        assert!(seen.contains(&expect("add", "ExecutionNode", "Add")));
        assert!(seen.contains(&expect("out", "Result", "Output")));
        // The constant the Add reads is a Const node.
        assert!(seen.iter().any(|(_, _, l)| l == "Const"));
        assert_eq!(m.outputs()[0].shape(), PartialShape::from_static(&[2, 3]));
        let add = ops.iter().find(|n| n.friendly_name() == "add").unwrap();
        assert!(add.op().evaluate(&[]).is_err());
    }
}
