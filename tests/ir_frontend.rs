//! The IR frontend: reading the files OpenVINO wrote (tests/data/ir, copied from the shared reference), round
//! trips through the writer, and every kind of malformed file.

use ferrovino::Error;
use ferrovino::frontends::ir::{Weights, read_model, read_model_from_path, serialize};
use ferrovino::ir::rt_info::{DECOMPRESSION, get_path};
use ferrovino::ir::{ElementType, Model, Node, PartialShape, RtValue, Tensor};
use ferrovino::ops::structure::{Constant, ResultOp};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ir")
        .join(name)
}

fn example(name: &str) -> Model {
    read_model_from_path(&data(&format!("{name}.xml")), None).unwrap()
}

fn names(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn node_named(m: &Model, name: &str) -> Node {
    m.ordered_ops()
        .unwrap()
        .into_iter()
        .find(|n| n.friendly_name() == name)
        .unwrap()
}

fn constant_value(n: &Node) -> Tensor {
    n.op()
        .as_any()
        .downcast_ref::<Constant>()
        .unwrap()
        .value
        .clone()
}

fn f32_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn reads_v11_example() {
    let m = example("example_v11");
    assert_eq!(m.name, "example");
    assert_eq!(m.inputs()[0].names(), names(&["image", "input"]));
    assert_eq!(
        m.inputs()[0].shape(),
        PartialShape::parse_ir("?,3,16..64,32").unwrap()
    );
    assert_eq!(m.output_names(0).unwrap(), names(&["logits"]));
    assert_eq!(m.outputs()[0].element_type(), ElementType::F32);
    assert_eq!(m.outputs()[0].shape().rank(), Some(2));
    assert_eq!(
        get_path(&m.rt_info, &["framework", "name"]),
        Some(&RtValue::Str("demo".into()))
    );
    assert_eq!(m.rt_info.get("version"), Some(&RtValue::Str("11".into())));
    let bin = std::fs::read(data("example_v11.bin")).unwrap();
    let w = constant_value(&node_named(&m, "conv.weight"));
    assert_eq!(w.shape(), &[8, 3, 3, 3]);
    assert_eq!(w.typed::<f32>().unwrap(), f32_le(&bin[..864]).as_slice());
    let shape = constant_value(&node_named(&m, "shape"));
    assert_eq!(shape.to_i64_vec().len(), 2);
    assert_eq!(node_named(&m, "relu").type_name(), "Relu");
}

#[test]
fn reads_v10_example_with_legacy_names() {
    let m = example("example_v10");
    assert_eq!(m.output_names(0).unwrap(), names(&["flatten", "logits"]));
    assert_eq!(m.inputs()[0].names(), names(&["image", "input"]));
    assert_eq!(m.rt_info.get("version"), Some(&RtValue::Str("10".into())));
    assert_eq!(
        m.ordered_ops().unwrap().len(),
        9,
        "no conversion is needed for f32 inputs and outputs"
    );
}

#[test]
fn v10_converts_f16_inputs_and_non_f32_outputs() {
    let m = example("v10_legacy_types");
    let input = &m.parameters[0];
    assert_eq!(input.output(0).element_type(), ElementType::F32);
    assert_eq!(input.output(0).names(), names(&["x", "xt"]));
    let consumers: Vec<Node> = m
        .ordered_ops()
        .unwrap()
        .into_iter()
        .filter(|n| n.inputs().iter().any(|i| i.node == *input))
        .collect();
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0].type_name(), "Convert");
    assert_eq!(consumers[0].output(0).element_type(), ElementType::F16);

    assert_eq!(m.outputs()[0].element_type(), ElementType::I32);
    assert_eq!(m.output_names(0).unwrap(), names(&["sh", "shp"]));
    let producer = m.results[0].input(0).unwrap().node;
    assert_eq!(
        (producer.type_name(), producer.friendly_name().as_str()),
        ("Convert", "sh")
    );
    assert_eq!(producer.input(0).unwrap().node.type_name(), "ShapeOf");
    assert_ne!(producer.input(0).unwrap().node.friendly_name(), "sh");

    assert_eq!(m.outputs()[1].element_type(), ElementType::F32);
    assert_eq!(m.output_names(1).unwrap(), names(&["cv"]));
}

#[test]
fn reads_fp16_compressed_example() {
    let m = example("example_saved_fp16");
    let convert = node_named(&m, "conv.weight");
    assert_eq!(convert.type_name(), "Convert");
    assert!(convert.rt_info().contains_key(DECOMPRESSION));
    let c = constant_value(&node_named(&m, "conv.weight_compressed"));
    assert_eq!(c.element_type(), ElementType::F16);
    assert_eq!(convert.output(0).element_type(), ElementType::F32);
    assert!(m.rt_info.contains_key("OpenVINO Runtime"));
}

#[test]
fn reads_mixed_offsets_and_packed_types() {
    let m = example("mixed");
    assert_eq!(
        constant_value(&node_named(&m, "u4c")).to_i64_vec(),
        [1, 2, 3, 4, 5]
    );
    let bools = constant_value(&node_named(&m, "bools"));
    assert_eq!(bools.element_type(), ElementType::Boolean);
    assert_eq!(bools.shape(), &[3]);
    let scalar = constant_value(&node_named(&m, "scalar"));
    assert_eq!(scalar.shape(), &[] as &[usize]);
    let bin = std::fs::read(data("mixed.bin")).unwrap();
    assert_eq!(
        scalar.typed::<f32>().unwrap(),
        f32_le(&bin[6..10]).as_slice()
    );
    assert!(m.inputs()[0].shape().rank().is_none());
    let outs: Vec<BTreeSet<String>> = (0..3).map(|i| m.output_names(i).unwrap()).collect();
    assert_eq!(
        outs,
        [
            names(&["Result_10"]),
            names(&["Result_11"]),
            names(&["Result_12"])
        ]
    );
    assert_eq!(m.outputs()[2].element_type(), ElementType::I32);
}

#[test]
fn sub_graph_ops_are_unsupported_for_now() {
    for (file, op) in [("if", "If"), ("loop", "Loop")] {
        let err = read_model_from_path(&data(&format!("{file}.xml")), None).unwrap_err();
        match err {
            Error::Unsupported(m) => assert!(m.contains(&format!("type {op}")), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

/// Reads back what the writer produced.
fn round_trip(m: &Model, compress: bool) -> (Model, String, Vec<u8>) {
    let (xml, bin) = serialize(m, compress).unwrap();
    let back = read_model(
        xml.as_bytes(),
        Weights::Bytes(Tensor::from_vec(&[bin.len()], bin.clone()).unwrap()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{xml}"));
    (back, xml, bin)
}

fn assert_same_graph(a: &Model, b: &Model) {
    let (oa, ob) = (a.ordered_ops().unwrap(), b.ordered_ops().unwrap());
    assert_eq!(oa.len(), ob.len());
    for (x, y) in oa.iter().zip(&ob) {
        assert_eq!(x.friendly_name(), y.friendly_name());
        assert_eq!(x.type_info(), y.type_info());
        assert_eq!(x.rt_info(), y.rt_info(), "{}", x.friendly_name());
        for (px, py) in x.outputs().iter().zip(y.outputs()) {
            assert_eq!(px.element_type(), py.element_type());
            assert_eq!(px.shape(), py.shape());
            if x.type_name() != "Result" {
                assert_eq!(px.names(), py.names(), "{}", x.friendly_name());
            }
        }
        if let Some(c) = x.op().as_any().downcast_ref::<Constant>() {
            assert_eq!(c.value.bytes(), constant_value(y).bytes());
        }
    }
    for i in 0..a.results.len() {
        assert_eq!(a.output_names(i).unwrap(), b.output_names(i).unwrap());
    }
    let mut rt = a.rt_info.clone();
    rt.insert("version".into(), RtValue::Str("11".into()));
    assert_eq!(rt, b.rt_info);
}

#[test]
fn round_trips_every_example() {
    for name in ["example_v11", "example_saved_fp16", "mixed"] {
        let m = example(name);
        let (back, xml, _) = round_trip(&m, false);
        assert!(xml.contains("<net name=\"") && xml.contains("version=\"11\""));
        assert_same_graph(&m, &back);
    }
}

#[test]
fn writes_ports_precisions_and_dims_like_openvino() {
    let (xml, bin) = serialize(&example("example_v11"), false).unwrap();
    let expected = std::fs::read_to_string(data("example_v11.xml")).unwrap();
    assert_eq!(xml, expected);
    assert_eq!(bin, std::fs::read(data("example_v11.bin")).unwrap());
}

#[test]
fn compress_to_fp16_matches_openvino_save_model() {
    let m = example("example_v11");
    let (xml, bin) = serialize(&m, true).unwrap();
    let mut expected = std::fs::read_to_string(data("example_saved_fp16.xml")).unwrap();
    let runtime_info = expected
        .lines()
        .find(|l| l.contains("OpenVINO Runtime"))
        .unwrap()
        .to_string();
    expected = expected.replace(&format!("{runtime_info}\n"), "");
    assert_eq!(xml, expected);
    assert_eq!(bin, std::fs::read(data("example_saved_fp16.bin")).unwrap());
    let (back, _, _) = round_trip(&m, true);
    let w = constant_value(&node_named(&back, "conv.weight_compressed"));
    let orig = constant_value(&node_named(&m, "conv.weight"));
    for (a, b) in w.to_f64_vec().iter().zip(orig.to_f64_vec()) {
        assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0));
    }
}

#[test]
fn identical_constants_share_their_bytes() {
    let value = Tensor::from_vec(&[4], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let results: Vec<Node> = ["a", "b"]
        .iter()
        .map(|n| {
            let c = Node::with_name(Box::new(Constant::new(value.clone())), vec![], n).unwrap();
            c.output(0).add_names([format!("{n}_out")]).unwrap();
            Node::new(Box::new(ResultOp), vec![c.output(0)]).unwrap()
        })
        .collect();
    let m = Model::new(results, vec![], vec![], "dedup").unwrap();
    let (back, xml, bin) = round_trip(&m, false);
    assert_eq!(bin.len(), 16);
    assert_eq!(xml.matches("offset=\"0\" size=\"16\"").count(), 2);
    assert_same_graph(&m, &back);
    let (_, _, half) = round_trip(&m, true);
    assert_eq!(half.len(), 8);
}

// ---- malformed files ----

const TEMPLATE: &str = r#"<?xml version="1.0"?>
<net name="t" version="11">
 <layers>
  <layer id="0" name="x" type="Parameter" version="opset1">
   <data shape="2,3" element_type="f32"/>
   <output><port id="0" precision="FP32" names="x"><dim>2</dim><dim>3</dim></port></output>
  </layer>
  <layer id="1" name="shape" type="ShapeOf" version="opset3">
   <data output_type="i64"/>
   <input><port id="0"><dim>2</dim><dim>3</dim></port></input>
   <output><port id="1" precision="I64"><dim>2</dim></port></output>
  </layer>
  <layer id="2" name="c" type="Const" version="opset1">
   <data element_type="f32" shape="2" offset="0" size="8"/>
   <output><port id="0" precision="FP32"><dim>2</dim></port></output>
  </layer>
  <layer id="3" name="cvt" type="Convert" version="opset1">
   <data destination_type="i64"/>
   <input><port id="0"><dim>2</dim></port></input>
   <output><port id="1" precision="I64" names="cvt"><dim>2</dim></port></output>
  </layer>
  <layer id="4" name="r0" type="Result" version="opset1"><input><port id="0"><dim>2</dim></port></input></layer>
  <layer id="5" name="r1" type="Result" version="opset1"><input><port id="0"><dim>2</dim></port></input></layer>
 </layers>
 <edges>
  <edge from-layer="0" from-port="0" to-layer="1" to-port="0"/>
  <edge from-layer="1" from-port="1" to-layer="4" to-port="0"/>
  <edge from-layer="2" from-port="0" to-layer="3" to-port="0"/>
  <edge from-layer="3" from-port="1" to-layer="5" to-port="0"/>
 </edges>
</net>
"#;

fn weights(n: usize) -> Weights {
    let values: Vec<f32> = (0..n).map(|i| i as f32 + 0.5).collect();
    Weights::Bytes(Tensor::from_vec(&[n], values).unwrap())
}

fn read_patched(from: &str, to: &str, w: Weights) -> ferrovino::Result<Model> {
    assert!(TEMPLATE.contains(from), "{from}");
    read_model(TEMPLATE.replacen(from, to, 1).as_bytes(), w)
}

#[derive(Debug)]
enum Kind {
    Parse,
    Unsupported,
}

fn expect_error(r: ferrovino::Result<Model>, kind: Kind, mentions: &[&str]) {
    let msg = match (r, &kind) {
        (Err(Error::Parse(m)), Kind::Parse) | (Err(Error::Unsupported(m)), Kind::Unsupported) => m,
        (other, _) => panic!("expected a {kind:?} error, got {other:?}"),
    };
    for word in mentions {
        assert!(msg.contains(word), "'{msg}' should mention '{word}'");
    }
}

#[test]
fn the_template_is_valid() {
    let m = read_model(TEMPLATE.as_bytes(), weights(2)).unwrap();
    assert_eq!(
        constant_value(&node_named(&m, "c")).to_f64_vec(),
        [0.5, 1.5]
    );
    assert_eq!(m.output_names(1).unwrap(), names(&["cvt"]));
    assert_eq!(m.outputs()[1].element_type(), ElementType::I64);
}

#[test]
fn weights_are_bounds_checked() {
    let c = "layer 'c' (id 2, type Const)";
    expect_error(
        read_model(TEMPLATE.as_bytes(), weights(1)),
        Kind::Parse,
        &[c, "past the end"],
    );
    let far = r#"offset="18446744073709551615" size="8""#;
    expect_error(
        read_patched(r#"offset="0" size="8""#, far, weights(2)),
        Kind::Parse,
        &[c, "past the end"],
    );
    expect_error(
        read_model(TEMPLATE.as_bytes(), Weights::None),
        Kind::Parse,
        &[c, "weights"],
    );
    expect_error(
        read_patched(r#"size="8""#, r#"size="12""#, weights(3)),
        Kind::Parse,
        &[c, "needs 8 bytes"],
    );
    expect_error(
        read_patched(r#"shape="2" offset"#, r#"shape="?" offset"#, weights(2)),
        Kind::Parse,
        &[c, "static"],
    );
}

const NO_CONSTANTS: &str = r#"<net name="n" version="11"><layers>
  <layer id="0" name="x" type="Parameter" version="opset1"><data shape="2" element_type="f32"/>
   <output><port id="0" precision="FP32"><dim>2</dim></port></output></layer>
  <layer id="1" name="r" type="Result" version="opset1"><input><port id="0"><dim>2</dim></port></input></layer>
 </layers><edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/></edges></net>"#;

#[test]
fn missing_bin_is_fine_without_constants() {
    let dir = std::env::temp_dir().join(format!("ferrovino_ir_nobin_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xml = dir.join("m.xml");
    std::fs::write(&xml, NO_CONSTANTS).unwrap();
    let m = read_model_from_path(&xml, None).unwrap();
    assert_eq!(m.output_names(0).unwrap(), BTreeSet::new());
    std::fs::write(&xml, TEMPLATE).unwrap();
    expect_error(
        read_model_from_path(&xml, None),
        Kind::Parse,
        &["layer 'c' (id 2, type Const)", "weights"],
    );
    assert!(matches!(
        read_model_from_path(&xml, Some(&dir.join("absent.bin"))),
        Err(Error::Io { .. })
    ));
    std::fs::write(dir.join("m.bin"), [0u8; 4]).unwrap();
    expect_error(
        read_model_from_path(&xml, None),
        Kind::Parse,
        &["layer 'c' (id 2, type Const)", "past the end"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_element_type_op_and_version() {
    let c = "layer 'c' (id 2, type Const)";
    expect_error(
        read_patched(
            r#"element_type="f32" shape="2""#,
            r#"element_type="f9" shape="2""#,
            weights(2),
        ),
        Kind::Unsupported,
        &[c, "f9"],
    );
    let cvt = r#"name="cvt" type="Convert" version="opset1""#;
    expect_error(
        read_patched(
            cvt,
            r#"name="cvt" type="FooBar" version="opset1""#,
            weights(2),
        ),
        Kind::Unsupported,
        &["layer 'cvt' (id 3, type FooBar)", "FooBar"],
    );
    expect_error(
        read_patched(
            cvt,
            r#"name="cvt" type="Convert" version="opset0""#,
            weights(2),
        ),
        Kind::Unsupported,
        &["layer 'cvt'", "opset0"],
    );
    expect_error(
        read_patched(
            cvt,
            r#"name="cvt" type="Convert" version="opset99""#,
            weights(2),
        ),
        Kind::Unsupported,
        &["layer 'cvt'", "opset99"],
    );
    expect_error(
        read_patched(
            cvt,
            r#"name="cvt" type="Convert" version="experimental""#,
            weights(2),
        ),
        Kind::Unsupported,
        &["layer 'cvt'", "experimental"],
    );
    expect_error(
        read_patched(
            r#"destination_type="i64""#,
            r#"destination_type="i65""#,
            weights(2),
        ),
        Kind::Unsupported,
        &["layer 'cvt'", "i65"],
    );
    expect_error(
        read_patched(
            r#"output_type="i64""#,
            r#"output_type="sideways""#,
            weights(2),
        ),
        Kind::Unsupported,
        &["layer 'shape'"],
    );
    expect_error(
        read_patched(r#"version="11""#, r#"version="12""#, weights(2)),
        Kind::Unsupported,
        &["IR version '12'"],
    );
}

#[test]
fn dangling_edges() {
    let edge = r#"<edge from-layer="2" from-port="0" to-layer="3" to-port="0"/>"#;
    expect_error(
        read_patched(
            edge,
            r#"<edge from-layer="2" from-port="0" to-layer="9" to-port="0"/>"#,
            weights(2),
        ),
        Kind::Parse,
        &[
            "layer 'c' (id 2, type Const)",
            "layer 9, which does not exist",
        ],
    );
    expect_error(
        read_patched(
            edge,
            r#"<edge from-layer="9" from-port="0" to-layer="3" to-port="0"/>"#,
            weights(2),
        ),
        Kind::Parse,
        &[
            "layer 'cvt' (id 3, type Convert)",
            "layer 9, which does not exist",
        ],
    );
    expect_error(
        read_patched(
            edge,
            r#"<edge from-layer="2" from-port="5" to-layer="3" to-port="0"/>"#,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'c' (id 2, type Const)", "output port 5"],
    );
    expect_error(
        read_patched(
            edge,
            r#"<edge from-layer="2" from-port="0" to-layer="3" to-port="4"/>"#,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'cvt' (id 3, type Convert)", "input port 4"],
    );
    expect_error(
        read_patched(edge, "", weights(2)),
        Kind::Parse,
        &["layer 'cvt' (id 3, type Convert)", "no incoming edge"],
    );
    let twice =
        format!("{edge}<edge from-layer=\"2\" from-port=\"0\" to-layer=\"3\" to-port=\"0\"/>");
    expect_error(
        read_patched(edge, &twice, weights(2)),
        Kind::Parse,
        &["layer 'cvt'", "more than one incoming edge"],
    );
    expect_error(
        read_patched(
            edge,
            r#"<edge from-layer="2" to-layer="3" to-port="0"/>"#,
            weights(2),
        ),
        Kind::Parse,
        &["from-port"],
    );
}

#[test]
fn cyclic_edges() {
    let edge = r#"<edge from-layer="2" from-port="0" to-layer="3" to-port="0"/>"#;
    expect_error(
        read_patched(
            edge,
            r#"<edge from-layer="3" from-port="1" to-layer="3" to-port="0"/>"#,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'cvt' (id 3, type Convert)", "cycle"],
    );
}

#[test]
fn duplicate_ids() {
    expect_error(
        read_patched(r#"<layer id="3""#, r#"<layer id="2""#, weights(2)),
        Kind::Parse,
        &[
            "layer 'cvt' (id 2, type Convert)",
            "layer 'c' (id 2, type Const)",
        ],
    );
}

#[test]
fn port_count_mismatch() {
    let port = r#"<port id="1" precision="I64"><dim>2</dim></port></output>"#;
    let two = r#"<port id="1" precision="I64"><dim>2</dim></port><port id="2" precision="I64"><dim>2</dim></port></output>"#;
    expect_error(
        read_patched(port, two, weights(2)),
        Kind::Parse,
        &[
            "layer 'shape' (id 1, type ShapeOf)",
            "2 output port(s)",
            "produces 1",
        ],
    );
    let extra_input =
        r#"<input><port id="0"><dim>2</dim><dim>3</dim></port><port id="5"/></input>"#;
    expect_error(
        read_patched(
            r#"<input><port id="0"><dim>2</dim><dim>3</dim></port></input>"#,
            extra_input,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'shape' (id 1, type ShapeOf)", "input port 5"],
    );
}

#[test]
fn shape_contradiction() {
    let declared = r#"<port id="1" precision="I64"><dim>2</dim></port></output>"#;
    expect_error(
        read_patched(
            declared,
            r#"<port id="1" precision="I64"><dim>3</dim></port></output>"#,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'shape' (id 1, type ShapeOf)", "dims [3]", "[2]"],
    );
    expect_error(
        read_patched(
            declared,
            r#"<port id="1" precision="I64"><dim>2</dim><dim>1</dim></port></output>"#,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'shape'", "dims [2, 1]"],
    );
    let dynamic = read_patched(
        declared,
        r#"<port id="1" precision="I64"><dim>-1</dim></port></output>"#,
        weights(2),
    );
    assert!(dynamic.is_ok(), "-1 never contradicts: {dynamic:?}");
    expect_error(
        read_patched(
            declared,
            r#"<port id="1" precision="I64"><dim>-2</dim></port></output>"#,
            weights(2),
        ),
        Kind::Parse,
        &["layer 'shape'", "-2"],
    );
}

#[test]
fn malformed_xml() {
    let cut = &TEMPLATE[..TEMPLATE.len() / 2];
    expect_error(
        read_model(cut.as_bytes(), weights(2)),
        Kind::Parse,
        &["malformed IR XML"],
    );
    expect_error(
        read_model(b"<net version=\"11\"><layers></edges></net>", weights(2)),
        Kind::Parse,
        &["malformed IR XML"],
    );
    expect_error(
        read_model(b"<model/>", weights(2)),
        Kind::Parse,
        &["<model>"],
    );
    expect_error(
        read_patched(r#"<layer id="3""#, r#"<layer id="three""#, weights(2)),
        Kind::Parse,
        &["layer 'cvt'", "'three'"],
    );
    expect_error(
        read_patched(r#" type="Convert""#, "", weights(2)),
        Kind::Parse,
        &["layer 'cvt' (id 3)", "'type'"],
    );
}

#[test]
fn op_validation_errors_name_the_layer() {
    let one = r#"<input><port id="0"><dim>2</dim></port></input>
   <output><port id="1" precision="I64" names="cvt">"#;
    let two = r#"<input><port id="0"><dim>2</dim></port><port id="7"><dim>2</dim></port></input>
   <output><port id="1" precision="I64" names="cvt">"#;
    let edge = r#"<edge from-layer="2" from-port="0" to-layer="3" to-port="0"/>"#;
    let edges = format!(r#"{edge}<edge from-layer="0" from-port="0" to-layer="3" to-port="7"/>"#);
    let xml = TEMPLATE.replacen(one, two, 1).replacen(edge, &edges, 1);
    let err = read_model(xml.as_bytes(), weights(2)).unwrap_err();
    let expected = "layer 'cvt' (id 3, type Convert): expected 1 inputs, got 2";
    assert!(matches!(&err, Error::Parse(m) if m == expected), "{err:?}");
}
