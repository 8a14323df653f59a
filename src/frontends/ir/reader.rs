//! Reads the layers and edges of one graph (`<net>`, or later a sub-graph `<body>`) into nodes.
//!
//! Layers are declared first, edges are checked against the declared ports, the layers are ordered with Kahn's
//! algorithm over the edges, and each layer becomes a node built from its inputs: the op comes from the
//! registry, its attributes from `<data>` through [`IrAttributeReader`], Constant bytes from the weights.
//! Declared ports are checked against what the op infers.

use super::legacy;
use super::names::split_names;
use super::rt::read_attributes;
use super::weights::Weights;
use super::xml::Element;
use crate::error::{Error, Result};
use crate::ir::{ElementType, IrAttributeReader, Node, Output, PartialShape, Tensor};
use crate::ops::registry::{create_from_ir, opset_number};
use crate::ops::structure::Constant;
use std::collections::{HashMap, VecDeque};
use std::fmt;

/// Op types whose bodies are sub-graphs; reading them is not supported yet.
const SUBGRAPH_TYPES: [&str; 3] = ["If", "Loop", "TensorIterator"];

/// The newest complete opset of OpenVINO 2026.4; an IR naming a newer one is rejected, as OpenVINO does.
const LATEST_OPSET: u32 = 16;

/// The ops of the next opset, which is still in development (`opset17` holds only these).
const NEXT_OPSET_OPS: [&str; 8] = [
    "BGRtoNV12",
    "Const",
    "Convert",
    "ErfInv",
    "GroupedMatMul",
    "Parameter",
    "RGBtoNV12",
    "ShapeOf",
];

/// Rejects an `opsetN` newer than the opsets OpenVINO defines (other spellings are left to the registry).
fn check_opset(type_name: &str, version: &str) -> Result<()> {
    let Some(n) = opset_number(version) else {
        return Ok(());
    };
    let known = n <= LATEST_OPSET || (n == LATEST_OPSET + 1 && NEXT_OPSET_OPS.contains(&type_name));
    if known {
        return Ok(());
    }
    Err(Error::Unsupported(format!(
        "{version} does not define {type_name} (the newest opset is opset{LATEST_OPSET})"
    )))
}

/// What reading a graph needs besides its XML element.
pub(crate) struct ReadContext<'w> {
    /// The weights Constants read from.
    pub weights: &'w Weights,
    /// The IR version (10 or 11).
    pub version: u32,
}

/// The nodes of a graph that a model (or a sub-graph body) is made of.
pub(crate) struct Graph {
    /// Parameters in document order.
    pub parameters: Vec<Node>,
    /// Results in document order.
    pub results: Vec<Node>,
    /// Sinks (Assign) in document order.
    pub sinks: Vec<Node>,
}

/// A declared port: its id and `<dim>` values, and its element for names and runtime info.
struct PortDecl<'a> {
    id: u64,
    dims: Vec<i64>,
    el: &'a Element,
}

/// A declared layer.
struct LayerDecl<'a> {
    el: &'a Element,
    id: u64,
    name: &'a str,
    type_name: &'a str,
    version: &'a str,
    inputs: Vec<PortDecl<'a>>,
    outputs: Vec<PortDecl<'a>>,
}

impl fmt::Display for LayerDecl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layer '{}' (id {}, type {})",
            self.name, self.id, self.type_name
        )
    }
}

impl LayerDecl<'_> {
    /// Adds this layer to an error's message; anything other than Unsupported becomes a Parse error.
    fn err(&self, e: Error) -> Error {
        match e {
            Error::Unsupported(m) => Error::Unsupported(format!("{self}: {m}")),
            Error::Io { .. } => e.context(self),
            other => Error::Parse(format!("{self}: {other}")),
        }
    }

    /// A Parse error about this layer.
    fn parse_err(&self, msg: impl fmt::Display) -> Error {
        Error::Parse(format!("{self}: {msg}"))
    }
}

/// One edge, resolved to layer indices and port positions.
struct Edge {
    from: usize,
    from_out: usize,
    to: usize,
    to_in: usize,
}

fn attr_u64(el: &Element, name: &str, what: &str) -> Result<u64> {
    let raw = el
        .attr(name)
        .ok_or_else(|| Error::Parse(format!("{what} has no '{name}' attribute")))?;
    raw.trim().parse().map_err(|_| {
        Error::Parse(format!(
            "{what}: '{name}' is '{raw}', expected a non-negative integer"
        ))
    })
}

fn parse_port(el: &Element) -> Result<PortDecl<'_>> {
    let id = attr_u64(el, "id", "a <port>")?;
    let dims = el
        .children_named("dim")
        .map(|d| match d.text.parse::<i64>() {
            Ok(v) if v >= -1 => Ok(v),
            _ => Err(Error::Parse(format!(
                "port {id}: dimension '{}' is not an integer >= -1",
                d.text
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PortDecl { id, dims, el })
}

fn parse_ports<'a>(layer: &'a Element, section: &str) -> Result<Vec<PortDecl<'a>>> {
    layer.child(section).map_or(Ok(Vec::new()), |s| {
        s.children_named("port").map(parse_port).collect()
    })
}

fn parse_layer(el: &Element) -> Result<LayerDecl<'_>> {
    let name = el.attr("name").unwrap_or_default();
    let id = attr_u64(el, "id", &format!("layer '{name}'"))?;
    let text = |attr: &str| {
        el.attr(attr).ok_or_else(|| {
            Error::Parse(format!(
                "layer '{name}' (id {id}) has no '{attr}' attribute"
            ))
        })
    };
    let mut decl = LayerDecl {
        el,
        id,
        name,
        type_name: text("type")?,
        version: text("version")?,
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    decl.inputs = parse_ports(el, "input").map_err(|e| decl.err(e))?;
    decl.outputs = parse_ports(el, "output").map_err(|e| decl.err(e))?;
    Ok(decl)
}

fn parse_layers(root: &Element) -> Result<(Vec<LayerDecl<'_>>, HashMap<u64, usize>)> {
    let layers_el = root
        .child("layers")
        .ok_or_else(|| Error::Parse(format!("<{}> has no <layers>", root.name)))?;
    let layers = layers_el
        .children_named("layer")
        .map(parse_layer)
        .collect::<Result<Vec<_>>>()?;
    let mut index = HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        if let Some(first) = index.insert(l.id, i) {
            return Err(l.parse_err(format!("its id is also used by {}", layers[first])));
        }
    }
    Ok((layers, index))
}

fn port_position(ports: &[PortDecl<'_>], id: u64) -> Option<usize> {
    ports.iter().position(|p| p.id == id)
}

fn port_ids(ports: &[PortDecl<'_>]) -> String {
    ports
        .iter()
        .map(|p| p.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_edge(
    el: &Element,
    n: usize,
    layers: &[LayerDecl<'_>],
    index: &HashMap<u64, usize>,
) -> Result<Edge> {
    let what = format!("edge #{n}");
    let [from_layer, from_port, to_layer, to_port] =
        ["from-layer", "from-port", "to-layer", "to-port"].map(|a| attr_u64(el, a, &what));
    let (from_layer, from_port, to_layer, to_port) = (from_layer?, from_port?, to_layer?, to_port?);
    let (from, to) = match (index.get(&from_layer), index.get(&to_layer)) {
        (Some(&f), Some(&t)) => (f, t),
        (Some(&f), None) => {
            return Err(layers[f].parse_err(format!(
                "{what} leads to layer {to_layer}, which does not exist"
            )));
        }
        (None, Some(&t)) => {
            return Err(layers[t].parse_err(format!(
                "{what} comes from layer {from_layer}, which does not exist"
            )));
        }
        (None, None) => {
            return Err(Error::Parse(format!(
                "{what} connects layers {from_layer} and {to_layer}, neither of which exists"
            )));
        }
    };
    let (src, dst) = (&layers[from], &layers[to]);
    let from_out = port_position(&src.outputs, from_port).ok_or_else(|| {
        src.parse_err(format!(
            "{what} leaves from output port {from_port}, which it does not declare (output ports: [{}])",
            port_ids(&src.outputs)
        ))
    })?;
    let to_in = port_position(&dst.inputs, to_port).ok_or_else(|| {
        dst.parse_err(format!(
            "{what} arrives at input port {to_port}, which it does not declare (input ports: [{}])",
            port_ids(&dst.inputs)
        ))
    })?;
    Ok(Edge {
        from,
        from_out,
        to,
        to_in,
    })
}

/// For each layer and each declared input, the (producer layer, output position) feeding it.
fn connect(
    root: &Element,
    layers: &[LayerDecl<'_>],
    index: &HashMap<u64, usize>,
) -> Result<Vec<Vec<(usize, usize)>>> {
    let mut sources: Vec<Vec<Option<(usize, usize)>>> =
        layers.iter().map(|l| vec![None; l.inputs.len()]).collect();
    let edges = root
        .child("edges")
        .map(|e| e.children_named("edge").collect::<Vec<_>>())
        .unwrap_or_default();
    for (n, el) in edges.into_iter().enumerate() {
        let e = parse_edge(el, n, layers, index)?;
        let slot = &mut sources[e.to][e.to_in];
        if slot.is_some() {
            let port = layers[e.to].inputs[e.to_in].id;
            return Err(layers[e.to]
                .parse_err(format!("input port {port} has more than one incoming edge")));
        }
        *slot = Some((e.from, e.from_out));
    }
    sources
        .into_iter()
        .zip(layers)
        .map(|(slots, l)| {
            slots
                .into_iter()
                .zip(&l.inputs)
                .map(|(s, p)| {
                    s.ok_or_else(|| {
                        l.parse_err(format!("input port {} has no incoming edge", p.id))
                    })
                })
                .collect()
        })
        .collect()
}

/// Kahn's algorithm over the edges, in document order among ready layers; errors name a layer on a cycle.
fn topological_order(
    layers: &[LayerDecl<'_>],
    sources: &[Vec<(usize, usize)>],
) -> Result<Vec<usize>> {
    let mut pending: Vec<usize> = sources.iter().map(Vec::len).collect();
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); layers.len()];
    for (to, srcs) in sources.iter().enumerate() {
        for &(from, _) in srcs {
            consumers[from].push(to);
        }
    }
    let mut ready: VecDeque<usize> = (0..layers.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(layers.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &c in &consumers[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.push_back(c);
            }
        }
    }
    if let Some(stuck) = (0..layers.len()).find(|&i| pending[i] > 0) {
        let count = pending.iter().filter(|&&p| p > 0).count();
        return Err(layers[stuck].parse_err(format!(
            "the edges form a cycle: this layer and {} other(s) depend on each other",
            count - 1
        )));
    }
    Ok(order)
}

/// Reads the graph under `root` (a `<net>`; the same layout as a sub-graph body).
pub(crate) fn read_graph(root: &Element, ctx: &ReadContext<'_>) -> Result<Graph> {
    let (layers, index) = parse_layers(root)?;
    let sources = connect(root, &layers, &index)?;
    let order = topological_order(&layers, &sources)?;
    let mut outputs: Vec<Vec<Output>> = vec![Vec::new(); layers.len()];
    let mut nodes: Vec<Option<Node>> = vec![None; layers.len()];
    for i in order {
        let inputs = sources[i]
            .iter()
            .map(|&(from, out)| {
                outputs[from].get(out).cloned().ok_or_else(|| {
                    layers[i].parse_err(format!(
                        "its producer {} has no output #{out}",
                        layers[from]
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (node, outs) = build_layer(&layers[i], inputs, ctx)?;
        outputs[i] = outs;
        nodes[i] = Some(node);
    }
    let of_type = |t: &str| -> Vec<Node> {
        layers
            .iter()
            .zip(&nodes)
            .filter(|(l, _)| l.type_name == t)
            .filter_map(|(_, n)| n.clone())
            .collect()
    };
    Ok(Graph {
        parameters: of_type("Parameter"),
        results: of_type("Result"),
        sinks: of_type("Assign"),
    })
}

/// Builds the node of one layer; returns it and the outputs its consumers connect to.
fn build_layer(
    decl: &LayerDecl<'_>,
    inputs: Vec<Output>,
    ctx: &ReadContext<'_>,
) -> Result<(Node, Vec<Output>)> {
    if SUBGRAPH_TYPES.contains(&decl.type_name) {
        return Err(decl.err(Error::Unsupported(format!(
            "sub-graph op {} ({}) is not supported yet",
            decl.type_name, decl.version
        ))));
    }
    let data: Vec<(String, String)> = decl
        .el
        .child("data")
        .map(|d| d.attrs.clone())
        .unwrap_or_default();
    check_opset(decl.type_name, decl.version).map_err(|e| decl.err(e))?;
    let mut op = create_from_ir(decl.type_name, decl.version).map_err(|e| decl.err(e))?;
    if op.as_any().is::<Constant>() {
        op = Box::new(Constant::new(
            read_constant(&data, ctx.weights).map_err(|e| decl.err(e))?,
        ));
    }
    op.visit_attributes(&mut IrAttributeReader::new(&data))
        .map_err(|e| decl.err(e))?;
    let widened = ctx.version == 10 && legacy::widen_f16_parameter(&mut op);
    // Inferring first reports the op's complaint about its inputs under this layer's IR description alone.
    let descs = inputs
        .iter()
        .map(Output::desc)
        .collect::<Result<Vec<_>>>()
        .map_err(|e| decl.err(e))?;
    op.infer(&descs).map_err(|e| decl.err(e))?;
    let node = Node::with_name(op, inputs, decl.name).map_err(|e| decl.err(e))?;
    check_outputs(decl, &node)?;
    annotate(decl, &node, ctx)?;
    let outs = if widened {
        vec![legacy::narrow_to_f16(&node).map_err(|e| decl.err(e))?]
    } else {
        node.outputs()
    };
    Ok((node, outs))
}

/// Checks the declared output ports against the op: their number, and static dims against static inferred dims.
fn check_outputs(decl: &LayerDecl<'_>, node: &Node) -> Result<()> {
    let inferred = node.output_count();
    let result_without_ports = decl.outputs.is_empty() && decl.type_name == "Result";
    if decl.outputs.len() != inferred && !result_without_ports {
        return Err(decl.parse_err(format!(
            "it declares {} output port(s) but the op produces {inferred}",
            decl.outputs.len()
        )));
    }
    for (i, port) in decl.outputs.iter().enumerate() {
        let shape = node.output(i).shape();
        if dims_contradict(&port.dims, &shape) {
            return Err(decl.parse_err(format!(
                "output port {} declares dims [{}] but the op infers {shape}",
                port.id,
                port.dims
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// True when declared `<dim>` values cannot describe `inferred`: a different rank (a port with no dims may be a
/// scalar or of dynamic rank, so it never contradicts), or a static dim that differs from a static inferred one.
fn dims_contradict(declared: &[i64], inferred: &PartialShape) -> bool {
    let Some(dims) = inferred.dims() else {
        return false;
    };
    if declared.is_empty() {
        return false;
    }
    declared.len() != dims.len()
        || declared
            .iter()
            .zip(dims)
            .any(|(&d, dim)| d >= 0 && dim.get().is_some_and(|v| v != d as u64))
}

/// Sets tensor names, Result `output_names`, and (IR v11 and later) layer and port runtime info.
fn annotate(decl: &LayerDecl<'_>, node: &Node, ctx: &ReadContext<'_>) -> Result<()> {
    for (i, port) in decl.outputs.iter().enumerate() {
        let names = port.el.attr("names").map(split_names).unwrap_or_default();
        let rt_info = if ctx.version >= 11 {
            read_attributes(port.el.child("rt_info"))
        } else {
            Default::default()
        };
        node.update_port(i, |p| {
            p.names.extend(names);
            p.rt_info = rt_info;
        })
        .map_err(|e| decl.err(e))?;
    }
    if ctx.version >= 11 {
        node.update_rt_info(|r| *r = read_attributes(decl.el.child("rt_info")));
        if let Some(names) = decl
            .el
            .attr("output_names")
            .map(split_names)
            .filter(|n| !n.is_empty())
        {
            node.input(0)
                .and_then(|src| src.add_names(names))
                .map_err(|e| decl.err(e))?;
        }
    }
    Ok(())
}

/// Reads a Constant's value: `element_type` and `shape` from `<data>` must match `size`, and
/// `[offset, offset + size)` must lie inside the weights.
fn read_constant(data: &[(String, String)], weights: &Weights) -> Result<Tensor> {
    let get = |k: &str| {
        data.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Error::Parse(format!("a Const needs '{k}' in <data>")))
    };
    let element_type: ElementType = get("element_type")?.parse()?;
    if !element_type.is_static() {
        return Err(Error::Parse(
            "a Const cannot have a dynamic element_type".into(),
        ));
    }
    let shape = PartialShape::parse_ir(get("shape")?)?
        .to_static()
        .ok_or_else(|| {
            Error::Parse(format!(
                "a Const needs a static shape, got '{}'",
                get("shape").unwrap_or("")
            ))
        })?;
    let number = |k: &str| -> Result<usize> {
        let raw = get(k)?;
        raw.trim()
            .parse()
            .map_err(|_| Error::Parse(format!("'{k}' is '{raw}', expected a non-negative integer")))
    };
    let (offset, size) = (number("offset")?, number("size")?);
    let need = packed_size(element_type, &shape).ok_or_else(|| {
        Error::Parse(format!(
            "a {element_type} tensor of shape {shape:?} is too large"
        ))
    })?;
    if need != size {
        return Err(Error::Parse(format!(
            "a {element_type} tensor of shape {shape:?} needs {need} bytes but size is {size}"
        )));
    }
    weights.tensor(element_type, &shape, offset, size)
}

/// Bytes needed for `shape` of `t`, or `None` on overflow.
fn packed_size(t: ElementType, shape: &[usize]) -> Option<usize> {
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    Some(count.checked_mul(t.bitwidth())?.div_ceil(8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Dimension;

    #[test]
    fn contradiction_needs_static_dims_on_both_sides() {
        let inferred = PartialShape::new(vec![
            Dimension::DYNAMIC,
            Dimension::new(8),
            Dimension::interval(16, Some(64)).unwrap(),
        ]);
        assert!(!dims_contradict(&[-1, 8, -1], &inferred));
        assert!(!dims_contradict(&[4, 8, 32], &inferred));
        assert!(dims_contradict(&[-1, 7, -1], &inferred));
        assert!(dims_contradict(&[-1, 8], &inferred));
        assert!(!dims_contradict(&[], &inferred));
        assert!(!dims_contradict(&[1, 2], &PartialShape::dynamic_rank()));
    }

    #[test]
    fn opsets_newer_than_openvino_are_rejected() {
        assert!(check_opset("Relu", "opset16").is_ok());
        assert!(check_opset("Convert", "opset17").is_ok());
        assert!(matches!(
            check_opset("Relu", "opset17"),
            Err(Error::Unsupported(_))
        ));
        assert!(
            matches!(check_opset("Relu", "opset99"), Err(Error::Unsupported(m)) if m.contains("opset99"))
        );
        assert!(check_opset("Relu", "extension").is_ok());
    }

    #[test]
    fn packed_sizes_check_overflow() {
        assert_eq!(packed_size(ElementType::U4, &[5]), Some(3));
        assert_eq!(packed_size(ElementType::F32, &[]), Some(4));
        assert_eq!(packed_size(ElementType::F32, &[usize::MAX, 2]), None);
    }
}
