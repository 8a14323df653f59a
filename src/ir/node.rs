//! Graph nodes: an op, its input connections and its output ports. Nodes are shared (`Arc`) so that builders,
//! models and Python objects can hold the same graph; their mutable parts sit behind locks.

use super::rt_info::RtInfo;
use super::{ElementType, PartialShape, Tensor};
use crate::error::{Error, Result};
use crate::ops::{Op, TensorDesc, TypeInfo};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Values larger than this many elements are not propagated at compile time (only shape-sized values are).
pub const MAX_PROPAGATED_ELEMENTS: usize = 1 << 16;

/// One output port: its descriptor, tensor names and runtime info.
#[derive(Debug, Clone)]
pub struct PortInfo {
    /// Element type, shape and (small) known value.
    pub desc: TensorDesc,
    /// Tensor names (the contract with users).
    pub names: BTreeSet<String>,
    /// Port runtime info.
    pub rt_info: RtInfo,
}

#[derive(Debug)]
struct NodeData {
    id: u64,
    op: RwLock<Box<dyn Op>>,
    inputs: RwLock<Vec<Output>>,
    outputs: RwLock<Vec<PortInfo>>,
    friendly_name: RwLock<Option<String>>,
    rt_info: RwLock<RtInfo>,
}

/// A shared handle to a graph node.
#[derive(Debug, Clone)]
pub struct Node(Arc<NodeData>);

/// An output port of a node.
#[derive(Debug, Clone)]
pub struct Output {
    /// The producing node.
    pub node: Node,
    /// The port index.
    pub index: usize,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Node {}
impl std::hash::Hash for Node {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.id.hash(h)
    }
}

impl PartialEq for Output {
    fn eq(&self, other: &Output) -> bool {
        self.node == other.node && self.index == other.index
    }
}
impl Eq for Output {}
impl std::hash::Hash for Output {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.node.hash(h);
        self.index.hash(h);
    }
}

impl Node {
    /// Creates a node and infers its outputs; errors name the op and its inputs.
    pub fn new(op: Box<dyn Op>, inputs: Vec<Output>) -> Result<Node> {
        Node::build(op, inputs, None)
    }

    /// Creates a node with a friendly name.
    pub fn with_name(op: Box<dyn Op>, inputs: Vec<Output>, name: &str) -> Result<Node> {
        Node::build(op, inputs, Some(name.to_string()))
    }

    fn build(op: Box<dyn Op>, inputs: Vec<Output>, name: Option<String>) -> Result<Node> {
        let node = Node(Arc::new(NodeData {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            op: RwLock::new(op),
            inputs: RwLock::new(inputs),
            outputs: RwLock::new(Vec::new()),
            friendly_name: RwLock::new(name),
            rt_info: RwLock::new(RtInfo::default()),
        }));
        node.validate()?;
        Ok(node)
    }

    /// A process-unique id.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The op's name and version.
    pub fn type_info(&self) -> TypeInfo {
        read(&self.0.op).type_info()
    }

    /// The op's class name.
    pub fn type_name(&self) -> &'static str {
        self.type_info().name
    }

    /// Read access to the op.
    pub fn op(&self) -> RwLockReadGuard<'_, Box<dyn Op>> {
        read(&self.0.op)
    }

    /// Write access to the op (attribute changes); call [`Node::validate`] afterwards.
    pub fn op_mut(&self) -> RwLockWriteGuard<'_, Box<dyn Op>> {
        write(&self.0.op)
    }

    /// A description for messages: `'conv1' (Convolution-opset1)`.
    pub fn describe(&self) -> String {
        let t = self.type_info();
        format!(
            "layer '{}' ({}-{})",
            self.friendly_name(),
            t.name,
            t.version
        )
    }

    /// The friendly name; defaults to `<Type>_<id>` as in OpenVINO.
    pub fn friendly_name(&self) -> String {
        read(&self.0.friendly_name)
            .clone()
            .unwrap_or_else(|| format!("{}_{}", self.type_name(), self.0.id))
    }

    /// Sets the friendly name.
    pub fn set_friendly_name(&self, name: &str) {
        *write(&self.0.friendly_name) = Some(name.to_string());
    }

    /// The input connections.
    pub fn inputs(&self) -> Vec<Output> {
        read(&self.0.inputs).clone()
    }

    /// Number of inputs.
    pub fn input_count(&self) -> usize {
        read(&self.0.inputs).len()
    }

    /// The producer of input `i`.
    pub fn input(&self, i: usize) -> Result<Output> {
        read(&self.0.inputs)
            .get(i)
            .cloned()
            .ok_or_else(|| Error::InvalidArgument(format!("{} has no input {i}", self.describe())))
    }

    /// Reconnects input `i`; call [`Node::validate`] (or revalidate the model) afterwards.
    pub fn set_input(&self, i: usize, src: Output) -> Result<()> {
        let mut ins = write(&self.0.inputs);
        let slot = ins
            .get_mut(i)
            .ok_or_else(|| Error::InvalidArgument(format!("no input {i}")))?;
        *slot = src;
        Ok(())
    }

    /// Replaces every input connection.
    pub fn set_inputs(&self, inputs: Vec<Output>) {
        *write(&self.0.inputs) = inputs;
    }

    /// Number of outputs.
    pub fn output_count(&self) -> usize {
        read(&self.0.outputs).len()
    }

    /// Output port `i`.
    pub fn output(&self, i: usize) -> Output {
        Output {
            node: self.clone(),
            index: i,
        }
    }

    /// Every output port.
    pub fn outputs(&self) -> Vec<Output> {
        (0..self.output_count()).map(|i| self.output(i)).collect()
    }

    /// Port info of output `i`.
    pub fn port(&self, i: usize) -> Result<PortInfo> {
        read(&self.0.outputs)
            .get(i)
            .cloned()
            .ok_or_else(|| Error::InvalidArgument(format!("{} has no output {i}", self.describe())))
    }

    /// Edits the port info of output `i`.
    pub fn update_port<R>(&self, i: usize, f: impl FnOnce(&mut PortInfo) -> R) -> Result<R> {
        let mut outs = write(&self.0.outputs);
        let p = outs
            .get_mut(i)
            .ok_or_else(|| Error::InvalidArgument(format!("no output {i}")))?;
        Ok(f(p))
    }

    /// Node runtime info.
    pub fn rt_info(&self) -> RtInfo {
        read(&self.0.rt_info).clone()
    }

    /// Edits node runtime info.
    pub fn update_rt_info<R>(&self, f: impl FnOnce(&mut RtInfo) -> R) -> R {
        f(&mut write(&self.0.rt_info))
    }

    /// Descriptors of every input, as their producers currently describe them.
    pub fn input_descs(&self) -> Result<Vec<TensorDesc>> {
        self.inputs().iter().map(|o| o.desc()).collect()
    }

    /// Re-runs type and shape inference (and compile-time value propagation) from the current inputs.
    pub fn validate(&self) -> Result<()> {
        let descs = self.input_descs().map_err(|e| e.context(self.describe()))?;
        let outs =
            infer_outputs(self.op().as_ref(), &descs).map_err(|e| e.context(self.describe()))?;
        let mut ports = write(&self.0.outputs);
        let old = std::mem::take(&mut *ports);
        *ports = outs
            .into_iter()
            .enumerate()
            .map(|(i, desc)| {
                let (names, rt_info) = old
                    .get(i)
                    .map(|p| (p.names.clone(), p.rt_info.clone()))
                    .unwrap_or_default();
                PortInfo {
                    desc,
                    names,
                    rt_info,
                }
            })
            .collect();
        Ok(())
    }
}

/// An op's output descriptors from its inputs' descriptors, with small outputs folded to known values when
/// every input value is known and the op allows folding (what [`Node::validate`] stores on the ports).
pub fn infer_outputs(op: &dyn Op, descs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
    let mut outs = op.infer(descs)?;
    let all_known = descs.iter().all(|d| d.value.is_some());
    let small = outs.iter().all(|o| {
        o.shape
            .to_static()
            .is_some_and(|s| super::shape::num_elements(&s) <= MAX_PROPAGATED_ELEMENTS)
    });
    if all_known
        && small
        && op.is_foldable()
        && outs.iter().any(|o| o.value.is_none())
        && !descs.is_empty()
    {
        let vals: Vec<&Tensor> = descs.iter().filter_map(|d| d.value.as_ref()).collect();
        if let Ok(res) = op.evaluate(&vals) {
            for (o, v) in outs.iter_mut().zip(res) {
                o.value = Some(v);
            }
        }
    }
    Ok(outs)
}

impl Output {
    /// The descriptor of this port.
    pub fn desc(&self) -> Result<TensorDesc> {
        Ok(self.node.port(self.index)?.desc)
    }

    /// Element type.
    pub fn element_type(&self) -> ElementType {
        self.desc()
            .map(|d| d.element_type)
            .unwrap_or(ElementType::Dynamic)
    }

    /// Partial shape.
    pub fn shape(&self) -> PartialShape {
        self.desc().map(|d| d.shape).unwrap_or_default()
    }

    /// Tensor names.
    pub fn names(&self) -> BTreeSet<String> {
        self.node
            .port(self.index)
            .map(|p| p.names)
            .unwrap_or_default()
    }

    /// Replaces the tensor names.
    pub fn set_names(&self, names: BTreeSet<String>) -> Result<()> {
        self.node.update_port(self.index, |p| p.names = names)
    }

    /// Adds tensor names.
    pub fn add_names(&self, names: impl IntoIterator<Item = String>) -> Result<()> {
        self.node.update_port(self.index, |p| p.names.extend(names))
    }

    /// Any one tensor name (the first in order), or an error when there is none.
    pub fn any_name(&self) -> Result<String> {
        self.names().into_iter().next().ok_or_else(|| {
            Error::NotFound(format!(
                "output {} of {} has no tensor names",
                self.index,
                self.node.describe()
            ))
        })
    }
}
