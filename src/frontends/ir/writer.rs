//! Writes a model as IR v11: layers in topological order, ports numbered inputs first then outputs,
//! attributes from [`AttributeCollector`], Constant bytes appended to the weights with identical blobs shared.

use super::compress::compress_to_f16;
use super::names::join_names;
use super::rt::{write_attributes, write_model_section};
use super::xml::XmlWriter;
use crate::error::{Error, Result};
use crate::ir::rt_info::DECOMPRESSION;
use crate::ir::{
    AttributeCollector, ElementType, Model, Node, Output, PartialShape, RtInfo, RtValue, Tensor,
};
use crate::ops::registry::ir_name;
use crate::ops::structure::Constant;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

/// The weights being written: payloads concatenated, identical payloads stored once.
#[derive(Default)]
struct BinWriter {
    data: Vec<u8>,
    seen: HashMap<(usize, u64), Vec<usize>>,
}

impl BinWriter {
    /// Appends `bytes` unless an identical blob is already stored; returns its offset.
    fn append(&mut self, bytes: &[u8]) -> usize {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let key = (bytes.len(), h.finish());
        let offsets = self.seen.entry(key).or_default();
        if let Some(&off) = offsets
            .iter()
            .find(|&&off| self.data.get(off..off + bytes.len()) == Some(bytes))
        {
            return off;
        }
        let off = self.data.len();
        self.data.extend_from_slice(bytes);
        offsets.push(off);
        off
    }
}

/// One port as written: `precision`, `names`, runtime info and `<dim>`s.
struct PortXml {
    element_type: ElementType,
    shape: PartialShape,
    names: BTreeSet<String>,
    rt_info: RtInfo,
}

impl PortXml {
    fn of_output(node: &Node, index: usize) -> Result<PortXml> {
        let p = node.port(index)?;
        Ok(PortXml {
            element_type: p.desc.element_type,
            shape: p.desc.shape,
            names: p.names,
            rt_info: p.rt_info,
        })
    }

    fn plain(element_type: ElementType, shape: PartialShape) -> PortXml {
        PortXml {
            element_type,
            shape,
            names: BTreeSet::new(),
            rt_info: RtInfo::new(),
        }
    }
}

/// One `<layer>` as written.
struct LayerXml {
    name: String,
    type_name: String,
    version: String,
    output_names: Option<String>,
    data: Vec<(String, String)>,
    rt_info: RtInfo,
    inputs: Vec<PortXml>,
    outputs: Vec<PortXml>,
}

/// Where the outputs of a written node are: its layer id and the port id of its output 0.
#[derive(Clone, Copy)]
struct Written {
    layer: usize,
    first_port: usize,
}

/// An output port in the written file: `[layer id, port id]`.
type PortRef = [usize; 2];

struct Serializer {
    w: XmlWriter,
    bin: BinWriter,
    written: HashMap<u64, Written>,
    edges: Vec<[usize; 4]>,
    next_id: usize,
    compress: bool,
    consumers: HashMap<u64, Vec<Node>>,
}

/// Serializes `model` to IR v11 text and weights; with `compress_to_fp16`, f32/f64 Constants are stored as f16
/// followed by a decompression Convert, as OpenVINO's `save_model` does.
pub(crate) fn serialize(model: &Model, compress_to_fp16: bool) -> Result<(String, Vec<u8>)> {
    let ops = model.ordered_ops()?;
    let mut consumers: HashMap<u64, Vec<Node>> = HashMap::new();
    for n in &ops {
        for i in n.inputs() {
            consumers.entry(i.node.id()).or_default().push(n.clone());
        }
    }
    let mut s = Serializer {
        w: XmlWriter::new(),
        bin: BinWriter::default(),
        written: HashMap::new(),
        edges: Vec::new(),
        next_id: 0,
        compress: compress_to_fp16,
        consumers,
    };
    s.w.open("net", &[("name", &model.name), ("version", "11")]);
    s.w.open("layers", &[]);
    for node in &ops {
        s.node(node)?;
    }
    s.w.close("layers");
    s.write_edges();
    write_model_section(&mut s.w, &model.rt_info);
    s.w.close("net");
    Ok((s.w.finish(), s.bin.data))
}

impl Serializer {
    fn node(&mut self, node: &Node) -> Result<()> {
        if matches!(node.type_name(), "If" | "Loop" | "TensorIterator") {
            return Err(crate::error::Error::Unsupported(format!(
                "{}: writing ops with sub-graphs (If, Loop, TensorIterator) to IR is not supported yet",
                node.describe()
            )));
        }
        let constant = node
            .op()
            .as_any()
            .downcast_ref::<Constant>()
            .map(|c| c.value.clone());
        match constant {
            Some(value) => self.constant(node, value),
            None => {
                let layer = self.generic_layer(node)?;
                let inputs = node
                    .inputs()
                    .iter()
                    .map(|o| self.source(o))
                    .collect::<Result<Vec<_>>>()?;
                let id = self.emit(layer, &inputs);
                self.record(node, id, node.input_count());
                Ok(())
            }
        }
    }

    fn generic_layer(&self, node: &Node) -> Result<LayerXml> {
        let mut collector = AttributeCollector::default();
        node.op().clone_op().visit_attributes(&mut collector)?;
        let info = node.type_info();
        let is_result = info.name == "Result";
        let output_names = if is_result {
            Some(join_names(&node.input(0)?.names())).filter(|s| !s.is_empty())
        } else {
            None
        };
        let inputs = node
            .inputs()
            .iter()
            .map(|o| o.desc().map(|d| PortXml::plain(d.element_type, d.shape)))
            .collect::<Result<Vec<_>>>()?;
        let outputs = if is_result {
            Vec::new()
        } else {
            (0..node.output_count())
                .map(|i| PortXml::of_output(node, i))
                .collect::<Result<Vec<_>>>()?
        };
        Ok(LayerXml {
            name: node.friendly_name(),
            type_name: ir_name(info.name).to_string(),
            version: info.version.to_string(),
            output_names,
            data: collector
                .values
                .into_iter()
                .map(|(k, v)| (k, v.to_ir()))
                .collect(),
            rt_info: node.rt_info(),
            inputs,
            outputs,
        })
    }

    /// Writes a Constant, compressed to f16 plus a decompression Convert when asked and worthwhile.
    fn constant(&mut self, node: &Node, value: Tensor) -> Result<()> {
        let compressed = if self.compress && self.may_compress(node) {
            compress_to_f16(&value)?
        } else {
            None
        };
        let mut port = PortXml::of_output(node, 0)?;
        let Some(half) = compressed else {
            let layer = self.const_layer(node.friendly_name(), &value, node.rt_info(), port);
            let id = self.emit(layer, &[]);
            self.record(node, id, 0);
            return Ok(());
        };
        let shape = port.shape.clone();
        let half_port = PortXml::plain(ElementType::F16, shape.clone());
        let const_layer = self.const_layer(
            format!("{}_compressed", node.friendly_name()),
            &half,
            node.rt_info(),
            half_port,
        );
        let const_id = self.emit(const_layer, &[]);
        port.element_type = value.element_type();
        let convert = LayerXml {
            name: node.friendly_name(),
            type_name: "Convert".into(),
            version: "opset1".into(),
            output_names: None,
            data: vec![(
                "destination_type".into(),
                value.element_type().name().into(),
            )],
            rt_info: [(DECOMPRESSION.to_string(), RtValue::Str(String::new()))].into(),
            inputs: vec![PortXml::plain(ElementType::F16, shape)],
            outputs: vec![port],
        };
        let convert_id = self.emit(convert, &[[const_id, 0]]);
        self.record(node, convert_id, 1);
        Ok(())
    }

    /// False for Constants marked to keep their precision or already feeding a decompression Convert.
    fn may_compress(&self, node: &Node) -> bool {
        let feeds_decompression = self.consumers.get(&node.id()).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_name() == "Convert" && c.rt_info().contains_key(DECOMPRESSION))
        });
        !feeds_decompression && !node.rt_info().contains_key("disable_fp16_compression")
    }

    fn const_layer(
        &mut self,
        name: String,
        value: &Tensor,
        rt_info: RtInfo,
        port: PortXml,
    ) -> LayerXml {
        let offset = self.bin.append(value.bytes());
        let shape = value
            .shape()
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        LayerXml {
            name,
            type_name: ir_name("Constant").to_string(),
            version: "opset1".into(),
            output_names: None,
            data: vec![
                ("element_type".into(), value.element_type().name().into()),
                ("shape".into(), shape),
                ("offset".into(), offset.to_string()),
                ("size".into(), value.bytes().len().to_string()),
            ],
            rt_info,
            inputs: Vec::new(),
            outputs: vec![port],
        }
    }

    /// Remembers that `node`'s outputs are the ports of layer `layer` from `first_port` on.
    fn record(&mut self, node: &Node, layer: usize, first_port: usize) {
        self.written
            .insert(node.id(), Written { layer, first_port });
    }

    /// The written port of an already written output.
    fn source(&self, o: &Output) -> Result<PortRef> {
        let w = self.written.get(&o.node.id()).ok_or_else(|| {
            Error::Internal(format!(
                "{} is used before it is written",
                o.node.describe()
            ))
        })?;
        Ok([w.layer, w.first_port + o.index])
    }

    /// Writes a layer whose inputs come from the `inputs` ports; returns its id.
    fn emit(&mut self, layer: LayerXml, inputs: &[PortRef]) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        for (port, [from_layer, from_port]) in inputs.iter().enumerate() {
            self.edges.push([*from_layer, *from_port, id, port]);
        }
        let id_text = id.to_string();
        let mut attrs = vec![
            ("id", id_text.as_str()),
            ("name", &layer.name),
            ("type", &layer.type_name),
        ];
        attrs.push(("version", &layer.version));
        if let Some(names) = &layer.output_names {
            attrs.push(("output_names", names));
        }
        self.w.open("layer", &attrs);
        if !layer.data.is_empty() {
            let data: Vec<(&str, &str)> = layer
                .data
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            self.w.empty("data", &data);
        }
        write_attributes(&mut self.w, &layer.rt_info);
        self.ports("input", &layer.inputs, 0);
        self.ports("output", &layer.outputs, layer.inputs.len());
        self.w.close("layer");
        id
    }

    fn ports(&mut self, section: &str, ports: &[PortXml], first_id: usize) {
        if ports.is_empty() {
            return;
        }
        self.w.open(section, &[]);
        for (i, p) in ports.iter().enumerate() {
            let id = (first_id + i).to_string();
            let precision = p.element_type.precision_name();
            let names = join_names(&p.names);
            let mut attrs = vec![("id", id.as_str()), ("precision", precision.as_str())];
            if !names.is_empty() {
                attrs.push(("names", &names));
            }
            let dims: Vec<String> = p
                .shape
                .dims()
                .unwrap_or_default()
                .iter()
                .map(|d| d.get().map_or(-1, |v| v as i64).to_string())
                .collect();
            if dims.is_empty() && p.rt_info.is_empty() {
                self.w.empty("port", &attrs);
                continue;
            }
            self.w.open("port", &attrs);
            write_attributes(&mut self.w, &p.rt_info);
            for d in &dims {
                self.w.text_element("dim", d);
            }
            self.w.close("port");
        }
        self.w.close(section);
    }

    fn write_edges(&mut self) {
        self.edges.sort_unstable();
        self.w.open("edges", &[]);
        for [fl, fp, tl, tp] in &self.edges {
            let v = [fl, fp, tl, tp].map(|x| x.to_string());
            self.w.empty(
                "edge",
                &[
                    ("from-layer", &v[0]),
                    ("from-port", &v[1]),
                    ("to-layer", &v[2]),
                    ("to-port", &v[3]),
                ],
            );
        }
        self.w.close("edges");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_blobs_are_stored_once() {
        let mut b = BinWriter::default();
        assert_eq!(b.append(&[1, 2, 3]), 0);
        assert_eq!(b.append(&[4, 5]), 3);
        assert_eq!(b.append(&[1, 2, 3]), 0);
        assert_eq!(b.append(&[]), 5);
        assert_eq!(b.data, [1, 2, 3, 4, 5]);
    }
}
