//! Lowering a model for the GPU: every node is folded on the host (constant sub-graphs and values shape
//! inference already knows), aliased (Reshape-like nodes share their input's buffer), given a kernel (elementwise
//! nodes fusing into the chain that feeds them), or refused. Compiling needs no refusal; `query_model` reports
//! what lowering accepts, so the two never disagree.

use super::context::Caps;
use super::kernels::elementwise::{self, Chain};
use super::kernels::{self, GpuKernel, storage_type};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements};
use crate::ir::{ElementType, Model, Node, Tensor};
use crate::ops::TensorDesc;
use crate::ops::binary::Binary;
use crate::ops::elementwise::AutoBroadcast;
use std::collections::HashMap;

/// Op types whose output is their first input's bytes with another shape: aliased, not copied.
const ALIASES: &[&str] = &["Reshape", "Squeeze", "Unsqueeze"];

/// The kernel of a Reshape-like node: its output shares its input's buffer, nothing runs.
#[derive(Debug)]
struct Alias;

impl GpuKernel for Alias {
    fn name(&self) -> String {
        "alias".into()
    }

    fn dispatches(&self, _caps: &Caps) -> Result<Vec<super::kernels::Dispatch>> {
        Ok(Vec::new())
    }
}

/// A node while lowering: its kernel and the values it reads and writes.
pub(super) struct Lowered {
    /// The node (the last one of a fused chain).
    pub node: Node,
    /// Its kernel.
    pub kernel: Box<dyn GpuKernel>,
    /// Values read, in the kernel's input order.
    pub inputs: Vec<usize>,
    /// Values written.
    pub outputs: Vec<usize>,
    /// The elementwise chain the kernel computes, when it is one (another elementwise node may fuse into it).
    chain: Option<Chain>,
    /// Nodes fused into this step, in chain order.
    pub absorbed: Vec<Node>,
}

/// Elementwise steps whose output a later elementwise node may fuse with: output value → index in the steps.
#[derive(Default)]
struct Fusion {
    producers: HashMap<usize, usize>,
    /// Every step with one output: output value → index in the steps.
    single: HashMap<usize, usize>,
    /// Readers of every node output (Results included).
    readers: HashMap<(u64, usize), usize>,
}

impl Fusion {
    fn new(order: &[Node]) -> Fusion {
        let mut readers: HashMap<(u64, usize), usize> = HashMap::new();
        for o in order.iter().flat_map(|n| n.inputs()) {
            *readers.entry((o.node.id(), o.index)).or_default() += 1;
        }
        Fusion {
            producers: HashMap::new(),
            single: HashMap::new(),
            readers,
        }
    }

    /// `step` fused into the elementwise step that computes one of its inputs, when that value has no other
    /// reader and the shapes and types chain (the producer's slot is emptied); else `step` as it is.
    fn fuse(&self, steps: &mut [Option<Lowered>], step: Lowered) -> Lowered {
        let Some(chain) = &step.chain else {
            return step;
        };
        for (k, v) in step.inputs.iter().enumerate() {
            let Some(&idx) = self.producers.get(v) else {
                continue;
            };
            let Some(producer) = steps.get(idx).and_then(Option::as_ref) else {
                continue;
            };
            if self.readers.get(&(producer.node.id(), 0)) != Some(&1) {
                continue;
            }
            let Some(fused) = producer
                .chain
                .clone()
                .and_then(|c| c.then(chain.clone(), k))
            else {
                continue;
            };
            let Some(producer) = steps.get_mut(idx).and_then(Option::take) else {
                continue;
            };
            let mut inputs = producer.inputs;
            inputs.extend(
                step.inputs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != k)
                    .map(|(_, &v)| v),
            );
            let mut absorbed = producer.absorbed;
            absorbed.push(producer.node);
            return Lowered {
                node: step.node,
                kernel: fused.kernel(),
                inputs,
                outputs: step.outputs,
                chain: Some(fused),
                absorbed,
            };
        }
        step
    }

    /// Records a step that later nodes may fuse with.
    fn record(&mut self, index: usize, step: &Lowered) {
        if let [out] = step.outputs.as_slice() {
            self.single.insert(*out, index);
            if step.chain.is_some() {
                self.producers.insert(*out, index);
            }
        }
    }

    /// Fuses `node`, an f32 Add of a per-channel constant (shape `[C, 1, ...]` against the output's axis 1) to
    /// the only use of a step's output, into that step when its kernel can add a bias; true when it did.
    fn fuse_bias(
        &mut self,
        steps: &mut [Option<Lowered>],
        node: &Node,
        ins: &[usize],
        values: &mut Values,
    ) -> Result<bool> {
        let out = node.output(0);
        let (Some(shape), "Add", [_, _]) = (out.shape().to_static(), node.type_name(), ins) else {
            return Ok(false);
        };
        let numpy = node
            .op()
            .as_any()
            .downcast_ref::<Binary>()
            .is_some_and(|b| b.auto_broadcast == AutoBroadcast::Numpy);
        if !numpy || out.element_type() != ElementType::F32 || shape.len() < 2 {
            return Ok(false);
        }
        for (k, &v) in ins.iter().enumerate() {
            let (Some(&index), Some(bias)) = (self.single.get(&v), values.known.get(&ins[1 - k]))
            else {
                continue;
            };
            let Some(step) = steps.get(index).and_then(Option::as_ref) else {
                continue;
            };
            let per_channel = bias.element_type() == ElementType::F32
                && bias.len() == shape[1]
                && bias.rank() <= shape.len()
                && bias
                    .shape()
                    .iter()
                    .enumerate()
                    .all(|(i, &d)| d == 1 || shape.len() - bias.rank() + i == 1);
            let alone = self.readers.get(&(step.node.id(), 0)) == Some(&1);
            let fits = per_channel && alone && values.types[v].1 == shape;
            let kernel = if fits { step.kernel.with_bias() } else { None };
            let (Some(kernel), Some(step)) =
                (kernel, steps.get_mut(index).and_then(Option::as_mut))
            else {
                continue;
            };
            let value = values.add(node, 0, None)?;
            step.kernel = kernel;
            step.inputs.push(ins[1 - k]);
            step.outputs = vec![value];
            step.absorbed.push(node.clone());
            self.single.remove(&v);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Why the GPU cannot run a node.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Refusal {
    /// An input or output has a dynamic shape.
    DynamicShape,
    /// No kernel family takes the node with these types, shapes and attributes.
    NoKernel,
    /// A tensor is larger than one storage binding may be: its shape and bytes, and the limit.
    OverBindingLimit(Vec<usize>, u64, u64),
}

/// A refused node as the compile error lists it: name, type, output types and why.
fn describe_refused(node: &Node, why: &Refusal) -> String {
    let types: Vec<String> = node
        .outputs()
        .iter()
        .map(|o| format!("{:?}", o.element_type()).to_lowercase())
        .collect();
    let why = match why {
        Refusal::NoKernel => String::new(),
        Refusal::DynamicShape => ", dynamic shape".into(),
        Refusal::OverBindingLimit(shape, bytes, limit) => format!(
            ", a tensor of {} is {bytes} bytes, over the adapter's storage binding limit of {limit} bytes",
            fmt_shape(shape)
        ),
    };
    format!(
        "{} ({}, {}{why})",
        node.friendly_name(),
        node.type_name(),
        types.join("/")
    )
}

/// The first of `descs` larger than one storage binding may be (4 bytes an element on the GPU).
fn over_binding_limit(descs: &[TensorDesc], caps: &Caps) -> Option<Refusal> {
    let limit = caps.max_storage_binding.min(caps.max_buffer_size);
    descs.iter().find_map(|d| {
        let shape = d.shape.to_static()?;
        let bytes = num_elements(&shape) as u64 * 4;
        (bytes > limit).then_some(Refusal::OverBindingLimit(shape, bytes, limit))
    })
}

/// The values of a lowered graph: their types and static shapes, which share a buffer, which are known.
#[derive(Default)]
pub(super) struct Values {
    ids: HashMap<(u64, usize), usize>,
    /// Element type and shape of every value (empty for the outputs of refused nodes).
    pub types: Vec<(ElementType, Vec<usize>)>,
    /// Alias value → the value whose buffer it shares.
    pub root: Vec<usize>,
    /// Values known at compile time.
    pub known: HashMap<usize, Tensor>,
}

impl Values {
    fn push(
        &mut self,
        key: (u64, usize),
        et: ElementType,
        shape: Vec<usize>,
        root: Option<usize>,
    ) -> usize {
        let id = self.types.len();
        self.types.push((et, shape));
        self.root.push(root.unwrap_or(id));
        self.ids.insert(key, id);
        id
    }

    /// A new value for output `index` of `node`, whose shape is static; `root` is the value it aliases.
    fn add(&mut self, node: &Node, index: usize, root: Option<usize>) -> Result<usize> {
        let out = node.output(index);
        let shape = out.shape().to_static().ok_or_else(|| {
            Error::Internal(format!(
                "GPU: {} has a dynamic output shape",
                node.describe()
            ))
        })?;
        Ok(self.push((node.id(), index), out.element_type(), shape, root))
    }

    /// A new value for output `index` of `node` known to be `t`.
    fn add_known(&mut self, node: &Node, index: usize, t: Tensor) -> usize {
        let id = self.push(
            (node.id(), index),
            t.element_type(),
            t.shape().to_vec(),
            None,
        );
        self.known.insert(id, t);
        id
    }

    /// A placeholder value for an output of a node the GPU does not run.
    fn add_refused(&mut self, node: &Node, index: usize) -> usize {
        let out = node.output(index);
        let shape = out.shape().to_static().unwrap_or_default();
        self.push((node.id(), index), out.element_type(), shape, None)
    }

    /// The value of a node output.
    pub fn of(&self, node: &Node, index: usize) -> Result<usize> {
        self.ids.get(&(node.id(), index)).copied().ok_or_else(|| {
            Error::Internal(format!(
                "GPU: {} output {index} has no value",
                node.describe()
            ))
        })
    }

    fn input_ids(&self, node: &Node) -> Result<Vec<usize>> {
        node.inputs()
            .iter()
            .map(|o| self.of(&o.node, o.index))
            .collect()
    }

    /// Input descriptors of a node, with the values known at compile time.
    fn input_descs(&self, node: &Node, ins: &[usize]) -> Result<Vec<TensorDesc>> {
        node.inputs()
            .iter()
            .zip(ins)
            .map(|(o, s)| {
                let mut d = o.desc()?;
                d.value = self.known.get(s).cloned();
                Ok(d)
            })
            .collect()
    }
}

/// A model lowered for the GPU.
pub(super) struct LoweredGraph {
    /// Every value.
    pub values: Values,
    /// The steps, in execution order.
    pub steps: Vec<Lowered>,
    /// Nodes the GPU cannot run and why, in order.
    pub refused: Vec<(Node, Refusal)>,
}

impl LoweredGraph {
    /// The compile error listing the refused nodes, or None when there are none.
    pub fn refusal(&self) -> Option<Error> {
        if self.refused.is_empty() {
            return None;
        }
        let list: Vec<String> = self
            .refused
            .iter()
            .map(|(node, why)| describe_refused(node, why))
            .collect();
        Some(Error::Unsupported(format!(
            "GPU: no GPU kernel for {} node(s): {}; compile on HETERO:GPU,CPU to run them on the CPU",
            list.len(),
            list.join(", ")
        )))
    }
}

/// Whether every input and output of a node is static and of a type the GPU stores.
fn storable(descs: &[TensorDesc], outs: &[TensorDesc]) -> bool {
    descs
        .iter()
        .chain(outs)
        .all(|d| d.shape.is_static() && storage_type(d.element_type).is_some())
}

/// Lowers a (transformed) model node by node for an adapter with these caps.
pub(super) fn lower(model: &Model, caps: &Caps) -> Result<LoweredGraph> {
    let mut values = Values::default();
    let mut steps: Vec<Option<Lowered>> = Vec::new();
    let mut refused = Vec::new();
    let order = model.ordered_ops()?;
    let mut fusion = Fusion::new(&order);
    for node in order {
        let ty = node.type_name();
        let ins = values.input_ids(&node)?;
        match ty {
            "Parameter" => {
                if node.output(0).shape().is_static() {
                    values.add(&node, 0, None)?;
                } else {
                    values.add_refused(&node, 0);
                    refused.push((node, Refusal::DynamicShape));
                }
                continue;
            }
            "Result" => {
                let src = *ins
                    .first()
                    .ok_or_else(|| Error::Internal("Result without input".into()))?;
                values.ids.insert((node.id(), 0), src);
                continue;
            }
            _ => {}
        }
        let op = node.op();
        let all_known = !ins.is_empty() && ins.iter().all(|s| values.known.contains_key(s));
        if (ty == "Constant" || all_known) && op.is_foldable() {
            let vals: Vec<&Tensor> = ins.iter().filter_map(|s| values.known.get(s)).collect();
            let outs = op.evaluate(&vals).map_err(|e| e.context(node.describe()))?;
            for (i, t) in outs.into_iter().enumerate() {
                values.add_known(&node, i, t);
            }
            continue;
        }
        let outs: Vec<TensorDesc> = (0..node.output_count())
            .map(|i| node.output(i).desc())
            .collect::<Result<_>>()?;
        // Values shape inference already knows (ShapeOf of a static shape and what follows from it) are
        // constants too.
        if op.is_foldable() && outs.iter().all(|d| d.value.is_some()) {
            for (i, d) in outs.into_iter().enumerate() {
                if let Some(t) = d.value {
                    values.add_known(&node, i, t);
                }
            }
            continue;
        }
        let descs = values.input_descs(&node, &ins)?;
        let static_ok = storable(&descs, &outs);
        if static_ok && ALIASES.contains(&ty) {
            let src = ins.first().copied();
            let root = src.map(|s| values.root[s]);
            let out = values.add(&node, 0, root)?;
            drop(op);
            // A step without dispatches, so that the runtime model and the profile show the node.
            steps.push(Some(Lowered {
                node,
                kernel: Box::new(Alias),
                inputs: src.into_iter().collect(),
                outputs: vec![out],
                chain: None,
                absorbed: Vec::new(),
            }));
            continue;
        }
        drop(op);
        if static_ok && fusion.fuse_bias(&mut steps, &node, &ins, &mut values)? {
            continue;
        }
        let op = node.op();
        let chain = static_ok
            .then(|| elementwise::chain(op.as_ref(), &descs, &outs))
            .flatten();
        let kernel = match &chain {
            Some(c) => Some(c.kernel()),
            None => static_ok
                .then(|| kernels::select(op.as_ref(), &descs, &outs))
                .flatten(),
        };
        drop(op);
        let dynamic = descs.iter().chain(&outs).any(|d| !d.shape.is_static());
        let verdict = match kernel {
            _ if dynamic => Err(Refusal::DynamicShape),
            None => Err(Refusal::NoKernel),
            Some(k) => over_binding_limit(&[descs, outs].concat(), caps).map_or(Ok(k), Err),
        };
        let kernel = match verdict {
            Ok(kernel) => kernel,
            Err(why) => {
                for i in 0..node.output_count() {
                    values.add_refused(&node, i);
                }
                refused.push((node, why));
                continue;
            }
        };
        let outputs = (0..node.output_count())
            .map(|i| values.add(&node, i, None))
            .collect::<Result<Vec<_>>>()?;
        let mut ins = ins;
        if let Some(c) = &chain {
            // A chain's kernel inputs, which fusion extends, are the ones it reads.
            ins.truncate(c.input_count());
        }
        let step = Lowered {
            node,
            kernel,
            inputs: ins,
            outputs,
            chain,
            absorbed: Vec::new(),
        };
        let step = fusion.fuse(&mut steps, step);
        fusion.record(steps.len(), &step);
        steps.push(Some(step));
    }
    Ok(LoweredGraph {
        values,
        steps: steps.into_iter().flatten().collect(),
        refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::create;
    use crate::ops::structure::ResultOp;
    use crate::plugins::gpu::kernels::testing::{constant, f32_parameter};

    /// x [2, 6] -> Relu -> Reshape to a shape computed from ShapeOf(x) -> CumSum.
    fn model() -> Model {
        let p = f32_parameter(&[2, 6]);
        let relu = Node::new(create("Relu", 1).unwrap(), vec![p.output(0)]).unwrap();
        let shape = Node::new(create("ShapeOf", 3).unwrap(), vec![p.output(0)]).unwrap();
        let axis0 = Tensor::from_vec(&[1], vec![0i64]).unwrap();
        let target = Node::new(
            create("Reverse", 1).unwrap(),
            vec![shape.output(0), constant(axis0).output(0)],
        )
        .unwrap();
        let reshape = Node::new(
            create("Reshape", 1).unwrap(),
            vec![relu.output(0), target.output(0)],
        )
        .unwrap();
        let axis = constant(Tensor::from_vec(&[], vec![0i64]).unwrap());
        let cumsum = Node::new(
            create("CumSum", 3).unwrap(),
            vec![reshape.output(0), axis.output(0)],
        )
        .unwrap();
        let r = Node::new(Box::new(ResultOp), vec![cumsum.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p], "lowering").unwrap()
    }

    #[test]
    fn shape_arithmetic_folds_aliases_share_and_refusals_say_why() {
        let graph = lower(&model(), &Caps::baseline()).unwrap();
        // ShapeOf and the arithmetic on it fold, the Reshape aliases Relu's buffer (a step that dispatches
        // nothing), one refusal.
        let steps: Vec<(&str, String)> = graph
            .steps
            .iter()
            .map(|l| (l.node.type_name(), l.kernel.name()))
            .collect();
        assert_eq!(
            steps,
            [
                ("Relu", "eltwise_relu_f32".into()),
                ("Reshape", "alias".into())
            ]
        );
        let refused: Vec<_> = graph
            .refused
            .iter()
            .map(|(n, why)| (n.type_name().to_string(), why.clone()))
            .collect();
        assert_eq!(refused, vec![("CumSum".to_string(), Refusal::NoKernel)]);
        let e = graph.refusal().unwrap().to_string();
        assert!(
            e.contains("(CumSum, f32)") && e.contains("HETERO:GPU,CPU"),
            "{e}"
        );
    }

    #[test]
    fn tensors_over_the_binding_limit_are_refused_with_shape_and_limit() {
        let mut caps = Caps::baseline();
        caps.max_storage_binding = 16;
        let graph = lower(&model(), &caps).unwrap();
        assert_eq!(graph.refused.len(), 2);
        assert_eq!(
            graph.refused[0].1,
            Refusal::OverBindingLimit(vec![2, 6], 48, 16)
        );
        let e = graph.refusal().unwrap().to_string();
        assert!(
            e.contains("a tensor of [2,6] is 48 bytes") && e.contains("limit of 16 bytes"),
            "{e}"
        );
    }
}
