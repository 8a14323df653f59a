//! HETERO: splits a model among the devices of its list (`HETERO:GPU,CPU`, in fallback order) and runs the parts
//! one after another, each on its device.
//!
//! Every op goes to the device its rt_info `affinity` names (the user's choice), else to the first device of the
//! list whose `query_model` supports it. The parts come from a topological order that stays on one device for
//! as long as it can (so parallel branches of one device join one part); every part depends only on earlier
//! ones. Values crossing parts become Parameters and Results of the part models; Constants are copied into
//! every part that reads them; model Parameters and Results follow their ops.

use super::{AFFINITY, Devices, HETERO_NUMBER_OF_SUBMODELS, MODEL_DISTRIBUTION_POLICY};
use super::{OwnProperties, device_list};
use super::{infer_on, priorities};
use crate::error::{Error, Result};
use crate::ir::{Model, Node, Output, RtValue, Tensor};
use crate::ops::structure::{Parameter, ResultOp};
use crate::runtime::plugin::{CompiledModel, Plugin, RequestState};
use crate::runtime::properties::{Config, PropertyValue, keys};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The HETERO device.
pub struct HeteroPlugin {
    devices: Devices,
    props: OwnProperties,
}

/// Op types that are not computations: they follow the ops they feed or read.
fn is_structural(node: &Node) -> bool {
    matches!(node.type_name(), "Parameter" | "Constant" | "Result")
}

/// Where a part input or a model output comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A model input.
    Input(usize),
    /// Output `output` of part `part`.
    Part { part: usize, output: usize },
    /// A constant (a model output read straight from a Constant).
    Value(Tensor),
}

/// One part of a split model.
pub struct Part {
    /// Index of its device in the list.
    pub device: usize,
    /// The part's graph.
    pub model: Model,
    sources: Vec<Source>,
}

/// A model split among devices.
pub struct Split {
    /// The parts, in execution order.
    pub parts: Vec<Part>,
    outputs: Vec<Source>,
}

impl HeteroPlugin {
    /// HETERO over the physical `devices`.
    pub fn new(devices: Devices) -> HeteroPlugin {
        let defaults = Config::from([
            (
                keys::MULTI_DEVICE_PRIORITIES.into(),
                PropertyValue::from(""),
            ),
            (
                MODEL_DISTRIBUTION_POLICY.into(),
                PropertyValue::List(Vec::new()),
            ),
        ]);
        HeteroPlugin {
            devices,
            props: OwnProperties::new("HETERO", defaults),
        }
    }

    /// Device index (into `list`) of every op (not Parameters, Constants or Results), by node id.
    fn assign(
        &self,
        model: &Model,
        list: &[String],
        config: &Config,
    ) -> Result<HashMap<u64, usize>> {
        let queries = list
            .iter()
            .map(|d| {
                self.devices
                    .plugin(d)?
                    .query_model(model, &super::device_config(config, d))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut assignment = HashMap::new();
        for node in model.ordered_ops()? {
            if is_structural(&node) {
                continue;
            }
            let device = match node.rt_info().get(AFFINITY) {
                Some(RtValue::Str(wanted)) => list
                    .iter()
                    .position(|d| d == wanted || d.split('.').next() == Some(wanted))
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "{} has affinity '{wanted}', which is not among the HETERO devices {}",
                            node.describe(),
                            list.join(",")
                        ))
                    })?,
                _ => queries
                    .iter()
                    .position(|q| q.contains_key(&node.friendly_name()))
                    .ok_or_else(|| {
                        Error::Unsupported(format!(
                            "HETERO:{}: no device supports {}",
                            list.join(","),
                            node.describe()
                        ))
                    })?,
            };
            assignment.insert(node.id(), device);
        }
        Ok(assignment)
    }

    /// Splits `model` among the devices of `list`.
    pub fn split(&self, model: &Model, list: &[String], config: &Config) -> Result<Split> {
        let assignment = self.assign(model, list, config)?;
        let groups = group(model, &assignment)?;
        let sinks: HashSet<u64> = model.sinks.iter().map(Node::id).collect();
        let consumers = consumers(model)?;
        let mut produced: HashMap<(u64, usize), (usize, usize)> = HashMap::new();
        let mut parts = Vec::new();
        for (k, (device, nodes)) in groups.into_iter().enumerate() {
            let members: HashSet<u64> = nodes.iter().map(Node::id).collect();
            let mut builder = PartBuilder::new(model, &produced);
            for node in &nodes {
                builder.add(node)?;
            }
            let mut results = Vec::new();
            let mut exported = Vec::new();
            for node in &nodes {
                for port in 0..node.output_count() {
                    let readers = consumers.get(&(node.id(), port));
                    let leaves = readers.is_some_and(|r| {
                        r.iter()
                            .any(|c| c.type_name() == "Result" || !members.contains(&c.id()))
                    });
                    if leaves {
                        let out = builder.mapped(&node.output(port))?;
                        let result = Node::new(Box::new(ResultOp), vec![out])?;
                        exported.push(((node.id(), port), (k, results.len())));
                        results.push(result);
                    }
                }
            }
            let part_sinks = nodes
                .iter()
                .filter(|n| sinks.contains(&n.id()))
                .map(|n| builder.node(n))
                .collect::<Result<Vec<_>>>()?;
            let name = format!("{}_hetero_part{k}", model.name);
            let PartBuilder {
                params, sources, ..
            } = builder;
            produced.extend(exported);
            parts.push(Part {
                device,
                model: Model::new(results, part_sinks, params, &name)?,
                sources,
            });
        }
        let outputs = model
            .results
            .iter()
            .map(|r| source_of(model, &r.input(0)?, &produced))
            .collect::<Result<Vec<_>>>()?;
        Ok(Split { parts, outputs })
    }
}

/// Readers of every output, by (node id, port).
fn consumers(model: &Model) -> Result<HashMap<(u64, usize), Vec<Node>>> {
    let mut map: HashMap<(u64, usize), Vec<Node>> = HashMap::new();
    for node in model.ordered_ops()? {
        for input in node.inputs() {
            map.entry((input.node.id(), input.index))
                .or_default()
                .push(node.clone());
        }
    }
    Ok(map)
}

/// The ops grouped into parts: a topological order (Kahn's) that keeps taking ready ops of the current device
/// and switches device (starting a new part) only when none is ready.
fn group(model: &Model, assignment: &HashMap<u64, usize>) -> Result<Vec<(usize, Vec<Node>)>> {
    let order: Vec<Node> = model
        .ordered_ops()?
        .into_iter()
        .filter(|n| !is_structural(n))
        .collect();
    let position: HashMap<u64, usize> =
        order.iter().enumerate().map(|(i, n)| (n.id(), i)).collect();
    let mut waiting: Vec<usize> = vec![0; order.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
    for (i, node) in order.iter().enumerate() {
        let preds: HashSet<usize> = node
            .inputs()
            .iter()
            .filter_map(|o| position.get(&o.node.id()).copied())
            .collect();
        for p in preds {
            if let (Some(w), Some(d)) = (waiting.get_mut(i), dependents.get_mut(p)) {
                *w += 1;
                d.push(i);
            }
        }
    }
    let device_of = |i: usize| -> Result<usize> {
        order
            .get(i)
            .and_then(|n| assignment.get(&n.id()))
            .copied()
            .ok_or_else(|| Error::Internal("HETERO: an op has no device".into()))
    };
    let mut ready: Vec<usize> = (0..order.len()).filter(|&i| waiting[i] == 0).collect();
    let mut groups: Vec<(usize, Vec<Node>)> = Vec::new();
    while !ready.is_empty() {
        let current = groups.last().map(|(d, _)| *d);
        let mut pick = None;
        for (at, &i) in ready.iter().enumerate() {
            if Some(device_of(i)?) == current {
                pick = Some(at);
                break;
            }
        }
        let at = match pick {
            Some(at) => at,
            None => {
                let first = ready.iter().copied().min().unwrap_or_default();
                groups.push((device_of(first)?, Vec::new()));
                ready.iter().position(|&i| i == first).unwrap_or_default()
            }
        };
        let i = ready.remove(at);
        if let (Some((_, nodes)), Some(node)) = (groups.last_mut(), order.get(i)) {
            nodes.push(node.clone());
        }
        for &d in dependents.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(w) = waiting.get_mut(d) {
                *w -= 1;
                if *w == 0 {
                    let at = ready.partition_point(|&r| r < d);
                    ready.insert(at, d);
                }
            }
        }
    }
    Ok(groups)
}

/// Where a value read by a part or a model output comes from, outside the part.
fn source_of(
    model: &Model,
    output: &Output,
    produced: &HashMap<(u64, usize), (usize, usize)>,
) -> Result<Source> {
    if let Some(i) = model.parameter_index(&output.node) {
        return Ok(Source::Input(i));
    }
    if output.node.type_name() == "Constant" {
        let value = output.node.op().evaluate(&[])?;
        return value
            .into_iter()
            .nth(output.index)
            .map(Source::Value)
            .ok_or_else(|| Error::Internal("Constant without a value".into()));
    }
    produced
        .get(&(output.node.id(), output.index))
        .map(|&(part, output)| Source::Part { part, output })
        .ok_or_else(|| {
            Error::Internal(format!(
                "HETERO: {} is read before its part runs",
                output.node.describe()
            ))
        })
}

/// Builds one part's graph: copies of its ops, of the Constants they read, and Parameters for values from
/// outside.
struct PartBuilder<'a> {
    model: &'a Model,
    produced: &'a HashMap<(u64, usize), (usize, usize)>,
    /// Original node id → its copy in the part.
    copies: HashMap<u64, Node>,
    /// Original output → the part Parameter standing for it.
    inputs: HashMap<(u64, usize), Node>,
    params: Vec<Node>,
    sources: Vec<Source>,
}

impl<'a> PartBuilder<'a> {
    fn new(model: &'a Model, produced: &'a HashMap<(u64, usize), (usize, usize)>) -> Self {
        PartBuilder {
            model,
            produced,
            copies: HashMap::new(),
            inputs: HashMap::new(),
            params: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// The copy of a node already added.
    fn node(&self, node: &Node) -> Result<Node> {
        self.copies.get(&node.id()).cloned().ok_or_else(|| {
            Error::Internal(format!("HETERO: {} is not in its part", node.describe()))
        })
    }

    /// The part's value for an original output: a copied op's output, a copied Constant, or a Parameter.
    fn mapped(&mut self, output: &Output) -> Result<Output> {
        if let Some(copy) = self.copies.get(&output.node.id()) {
            return Ok(copy.output(output.index));
        }
        if output.node.type_name() == "Constant" {
            return Ok(self.copy(&output.node, Vec::new())?.output(output.index));
        }
        let key = (output.node.id(), output.index);
        if let Some(p) = self.inputs.get(&key) {
            return Ok(p.output(0));
        }
        let source = source_of(self.model, output, self.produced)?;
        let param = match source {
            Source::Input(_) => Node::with_name(
                output.node.op().clone_op(),
                Vec::new(),
                &output.node.friendly_name(),
            )?,
            _ => Node::new(
                Box::new(Parameter::new(output.element_type(), output.shape())),
                Vec::new(),
            )?,
        };
        param.output(0).set_names(output.names())?;
        self.inputs.insert(key, param.clone());
        self.params.push(param.clone());
        self.sources.push(source);
        Ok(param.output(0))
    }

    /// Copies an op of the part.
    fn add(&mut self, node: &Node) -> Result<()> {
        let inputs = node
            .inputs()
            .iter()
            .map(|o| self.mapped(o))
            .collect::<Result<Vec<_>>>()?;
        self.copy(node, inputs).map(|_| ())
    }

    /// A copy of `node` on `inputs` with its names and runtime info.
    fn copy(&mut self, node: &Node, inputs: Vec<Output>) -> Result<Node> {
        let copy = Node::with_name(node.op().clone_op(), inputs, &node.friendly_name())?;
        for i in 0..node.output_count() {
            let port = node.port(i)?;
            copy.update_port(i, |p| {
                p.names = port.names.clone();
                p.rt_info = port.rt_info.clone();
            })?;
        }
        let rt = node.rt_info();
        copy.update_rt_info(|r| *r = rt);
        self.copies.insert(node.id(), copy.clone());
        Ok(copy)
    }
}

impl Plugin for HeteroPlugin {
    fn name(&self) -> &str {
        "HETERO"
    }

    fn device_ids(&self) -> Vec<String> {
        Vec::new()
    }

    /// The device of every node (Parameters and Constants with their first reader, Results with their producer).
    fn query_model(&self, model: &Model, config: &Config) -> Result<BTreeMap<String, String>> {
        let config = self.props.merged(config)?;
        let list = priorities(&config, "HETERO")?;
        let assignment = self.assign(model, &list, &config)?;
        let consumers = consumers(model)?;
        let name = |i: usize| list.get(i).cloned().unwrap_or_default();
        let mut map = BTreeMap::new();
        for node in model.ordered_ops()? {
            let device = match assignment.get(&node.id()) {
                Some(&d) => Some(d),
                None if node.type_name() == "Result" => node
                    .inputs()
                    .first()
                    .and_then(|o| assignment.get(&o.node.id()).copied()),
                None => consumers
                    .get(&(node.id(), 0))
                    .and_then(|c| c.iter().find_map(|n| assignment.get(&n.id()).copied())),
            };
            if let Some(d) = device {
                map.insert(node.friendly_name(), name(d));
            }
        }
        Ok(map)
    }

    fn compile(&self, model: &Model, config: &Config) -> Result<Arc<dyn CompiledModel>> {
        let config = self.props.merged(config)?;
        let list = priorities(&config, "HETERO")?;
        let split = self.split(model, &list, &config)?;
        let mut devices = Vec::new();
        let mut parts = Vec::new();
        for part in split.parts {
            let device = list
                .get(part.device)
                .ok_or_else(|| Error::Internal("HETERO device index".into()))?;
            if !devices.contains(device) {
                devices.push(device.clone());
            }
            let compiled = self.devices.compile(device, &part.model, &config)?;
            parts.push((compiled, part.sources));
        }
        Ok(Arc::new(HeteroModel {
            model: model.deep_clone()?,
            parts,
            outputs: split.outputs,
            devices,
            priorities: list.join(","),
        }))
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        self.props.get(key)
    }

    fn set_property(&self, config: &Config) -> Result<()> {
        self.props.set(config)
    }
}

/// A model split among devices.
struct HeteroModel {
    model: Model,
    /// The compiled parts and where their inputs come from, in execution order.
    parts: Vec<(Arc<dyn CompiledModel>, Vec<Source>)>,
    outputs: Vec<Source>,
    /// The devices that run a part.
    devices: Vec<String>,
    priorities: String,
}

fn fetch(source: &Source, inputs: &[Tensor], values: &[Vec<Tensor>]) -> Result<Tensor> {
    match source {
        Source::Input(i) => inputs.get(*i).cloned(),
        Source::Part { part, output } => values.get(*part).and_then(|v| v.get(*output)).cloned(),
        Source::Value(t) => Some(t.clone()),
    }
    .ok_or_else(|| Error::Internal(format!("HETERO: no value for {source:?}")))
}

impl CompiledModel for HeteroModel {
    fn model(&self) -> &Model {
        &self.model
    }

    fn infer(&self, inputs: &[Tensor], state: &mut RequestState) -> Result<Vec<Tensor>> {
        state.profile.clear();
        let mut values: Vec<Vec<Tensor>> = Vec::with_capacity(self.parts.len());
        for (k, (compiled, sources)) in self.parts.iter().enumerate() {
            let part_inputs = sources
                .iter()
                .map(|s| fetch(s, inputs, &values))
                .collect::<Result<Vec<_>>>()?;
            values.push(infer_on(
                |_| Ok((k, compiled.as_ref())),
                &part_inputs,
                state,
            )?);
        }
        self.outputs
            .iter()
            .map(|s| fetch(s, inputs, &values))
            .collect()
    }

    fn get_property(&self, key: &str) -> Result<PropertyValue> {
        match key {
            keys::NETWORK_NAME => Ok(self.model.name.clone().into()),
            keys::EXECUTION_DEVICES => Ok(device_list(&self.devices)),
            HETERO_NUMBER_OF_SUBMODELS => Ok(PropertyValue::Int(self.parts.len() as i64)),
            keys::MULTI_DEVICE_PRIORITIES => Ok(self.priorities.clone().into()),
            keys::OPTIMAL_NUMBER_OF_INFER_REQUESTS => Ok(PropertyValue::Int(1)),
            keys::LOADED_FROM_CACHE => Ok(PropertyValue::Bool(false)),
            k => Err(Error::NotFound(format!(
                "HETERO compiled model: unsupported property '{k}'"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestPlugin;
    use super::*;
    use crate::ir::{ElementType, PartialShape};
    use crate::ops::registry::create;
    use crate::runtime::core::Core;
    use std::sync::atomic::Ordering;

    fn unary(name: &str, x: Output) -> Node {
        Node::new(create(name, 1).unwrap(), vec![x]).unwrap()
    }

    /// `exp(relu(x)) + relu(x)` and `abs(x)` (two outputs), with friendly names.
    fn model() -> Model {
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[3]),
            )),
            vec![],
        )
        .unwrap();
        p.set_friendly_name("x");
        p.output(0).set_names(["x".to_string()].into()).unwrap();
        let relu = unary("Relu", p.output(0));
        relu.set_friendly_name("relu");
        let exp = unary("Exp", relu.output(0));
        exp.set_friendly_name("exp");
        let add = Node::new(
            create("Add", 1).unwrap(),
            vec![exp.output(0), relu.output(0)],
        )
        .unwrap();
        add.set_friendly_name("add");
        let abs = unary("Abs", p.output(0));
        abs.set_friendly_name("abs");
        let r1 = Node::new(Box::new(ResultOp), vec![add.output(0)]).unwrap();
        let r2 = Node::new(Box::new(ResultOp), vec![abs.output(0)]).unwrap();
        Model::new(vec![r1, r2], vec![], vec![p], "m").unwrap()
    }

    fn core_with(plugin: TestPlugin) -> Core {
        Core::with_plugins(vec![
            Arc::new(crate::plugins::cpu::CpuPlugin::default()),
            Arc::new(plugin),
        ])
    }

    fn run(compiled: &dyn CompiledModel) -> Vec<Vec<f32>> {
        let x = Tensor::from_vec(&[3], vec![-1.0f32, 0.5, 2.0]).unwrap();
        compiled
            .infer(&[x], &mut RequestState::default())
            .unwrap()
            .iter()
            .map(|t| t.typed::<f32>().unwrap().to_vec())
            .collect()
    }

    fn expected() -> Vec<Vec<f32>> {
        let x = [-1.0f32, 0.5, 2.0];
        vec![
            x.iter().map(|v| v.max(0.0).exp() + v.max(0.0)).collect(),
            x.iter().map(|v| v.abs()).collect(),
        ]
    }

    fn close(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .all(|(x, y)| (x - y).abs() <= 1e-5 * y.abs().max(1.0))
    }

    #[test]
    fn ops_go_to_the_first_device_that_supports_them() {
        let npu = TestPlugin::new("NPU", &["Relu", "Add", "Abs"]);
        let log = npu.log.clone();
        let core = core_with(npu);
        let model = model();
        let q = core
            .query_model(&model, "HETERO:NPU,CPU", &Config::new())
            .unwrap();
        let device = |n: &str| q.get(n).map(String::as_str);
        assert_eq!(device("relu"), Some("NPU"));
        assert_eq!(device("exp"), Some("CPU"));
        assert_eq!(device("add"), Some("NPU"));
        assert_eq!(device("abs"), Some("NPU"));
        assert_eq!(device("x"), Some("NPU"));
        let compiled = core
            .compile_model(&model, "HETERO:NPU,CPU", &Config::new())
            .unwrap();
        // relu and abs (one part: both are ready at the start), exp on the CPU, then add.
        assert_eq!(
            compiled.get_property(HETERO_NUMBER_OF_SUBMODELS).unwrap(),
            PropertyValue::Int(3)
        );
        assert_eq!(
            compiled.get_property(keys::EXECUTION_DEVICES).unwrap(),
            device_list(&["NPU".into(), "CPU".into()])
        );
        assert!(close(&run(compiled.as_ref()), &expected()));
        assert_eq!(log.compiled.load(Ordering::SeqCst), 2);
        assert_eq!(log.inferences.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn affinities_override_the_query() {
        let core = core_with(TestPlugin::new("NPU", &["Relu", "Add", "Abs", "Exp"]));
        let model = model();
        let everything = core
            .compile_model(&model, "HETERO:NPU,CPU", &Config::new())
            .unwrap();
        assert_eq!(
            everything.get_property(HETERO_NUMBER_OF_SUBMODELS).unwrap(),
            PropertyValue::Int(1)
        );
        for n in model.ordered_ops().unwrap() {
            if n.friendly_name() == "exp" {
                n.update_rt_info(|r| r.insert(AFFINITY.into(), RtValue::Str("CPU".into())));
            }
        }
        let q = core
            .query_model(&model, "HETERO:NPU,CPU", &Config::new())
            .unwrap();
        assert_eq!(q.get("exp").map(String::as_str), Some("CPU"));
        let compiled = core
            .compile_model(&model, "HETERO:NPU,CPU", &Config::new())
            .unwrap();
        assert_eq!(
            compiled.get_property(HETERO_NUMBER_OF_SUBMODELS).unwrap(),
            PropertyValue::Int(3)
        );
        assert!(close(&run(compiled.as_ref()), &expected()));
        let e = core
            .compile_model(&model, "HETERO:NPU", &Config::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("affinity 'CPU'"), "{e}");
    }

    #[test]
    fn an_op_no_device_supports_is_an_error() {
        let core = core_with(TestPlugin::new("NPU", &["Relu"]));
        let e = core
            .compile_model(&model(), "HETERO:NPU", &Config::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no device supports") && e.contains("Exp"), "{e}");
        let cpu_only = core
            .compile_model(&model(), "HETERO:CPU", &Config::new())
            .unwrap();
        assert!(close(&run(cpu_only.as_ref()), &expected()));
        assert_eq!(
            cpu_only.get_property(HETERO_NUMBER_OF_SUBMODELS).unwrap(),
            PropertyValue::Int(1)
        );
    }
}
