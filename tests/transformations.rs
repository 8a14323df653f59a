//! Compile-time passes: the rewritten graph has the expected ops and computes what the original computed.

use ferrovino::ir::{ElementType, Model, Node, Output, PartialShape, Tensor};
use ferrovino::ops::registry::create;
use ferrovino::ops::structure::{Constant, Parameter, ResultOp};
use ferrovino::plugins::cpu::CpuPlugin;
use ferrovino::runtime::{Config, InferRequest, Plugin};
use ferrovino::transformations::run_common_passes;

fn constant_from(shape: &[usize], value: impl Fn(u32) -> f32) -> Output {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n as u32).map(value).collect();
    let c = Constant::new(Tensor::from_vec(shape, v).unwrap());
    Node::new(Box::new(c), vec![]).unwrap().output(0)
}

fn constant(shape: &[usize], seed: u32) -> Output {
    constant_from(shape, |i| {
        ((i.wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0
    })
}

fn positive(shape: &[usize], seed: u32) -> Output {
    constant_from(shape, |i| {
        0.5 + ((i.wrapping_mul(40503) ^ seed) % 100) as f32 / 100.0
    })
}

/// x → Convolution → BatchNormInference-5 → Relu, and a BatchNorm-1 on a second branch with no convolution.
fn conv_bn_model() -> Model {
    let p = Parameter::new(ElementType::F32, PartialShape::from_static(&[1, 3, 6, 6]));
    let x = Node::with_name(Box::new(p), vec![], "x").unwrap();
    let mut conv = create("Convolution", 1).unwrap();
    let attrs: Vec<(String, String)> = [
        ("strides", "1,1"),
        ("dilations", "1,1"),
        ("pads_begin", "1,1"),
        ("pads_end", "1,1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    conv.visit_attributes(&mut ferrovino::ir::IrAttributeReader::new(&attrs))
        .unwrap();
    let conv = Node::new(conv, vec![x.output(0), constant(&[4, 3, 3, 3], 1)]).unwrap();
    let bn_inputs = vec![
        conv.output(0),
        positive(&[4], 2),
        constant(&[4], 3),
        constant(&[4], 4),
        positive(&[4], 5),
    ];
    let bn = Node::with_name(create("BatchNormInference", 5).unwrap(), bn_inputs, "bn").unwrap();
    let relu = Node::new(create("Relu", 1).unwrap(), vec![bn.output(0)]).unwrap();
    let bn1_inputs = vec![
        positive(&[3], 6),
        constant(&[3], 7),
        x.output(0),
        constant(&[3], 8),
        positive(&[3], 9),
    ];
    let bn1 = Node::new(create("BatchNormInference", 1).unwrap(), bn1_inputs).unwrap();
    let results = [relu, bn1].map(|n| Node::new(Box::new(ResultOp), vec![n.output(0)]).unwrap());
    Model::new(results.to_vec(), vec![], vec![x], "conv_bn").unwrap()
}

fn run(model: &Model, x: &Tensor) -> Vec<Vec<f32>> {
    let mut req = InferRequest::new(CpuPlugin::default().compile(model, &Config::new()).unwrap());
    req.set_input(0, x.clone()).unwrap();
    req.infer().unwrap();
    (0..2)
        .map(|i| req.output(i).unwrap().typed::<f32>().unwrap().to_vec())
        .collect()
}

#[test]
fn batch_norm_folds_into_the_convolution_and_keeps_the_values() {
    let model = conv_bn_model();
    let x = Tensor::from_vec(
        &[1, 3, 6, 6],
        (0..108).map(|i| (i % 13) as f32 / 6.0 - 1.0).collect(),
    )
    .unwrap();
    // The reference: every node evaluated one by one, without passes.
    let mut values = std::collections::HashMap::new();
    for n in model.ordered_ops().unwrap() {
        let outs = if n.type_name() == "Parameter" {
            vec![x.clone()]
        } else {
            let ins: Vec<Tensor> = n
                .inputs()
                .iter()
                .map(|o| values.get(&(o.node.id(), o.index)).cloned().unwrap())
                .collect();
            n.op().evaluate(&ins.iter().collect::<Vec<_>>()).unwrap()
        };
        for (i, t) in outs.into_iter().enumerate() {
            values.insert((n.id(), i), t);
        }
    }
    let want: Vec<Vec<f32>> = model
        .results
        .iter()
        .map(|r| values[&(r.id(), 0)].typed::<f32>().unwrap().to_vec())
        .collect();

    let transformed = model.deep_clone().unwrap();
    run_common_passes(&transformed).unwrap();
    let types: Vec<&str> = transformed
        .ordered_ops()
        .unwrap()
        .iter()
        .map(|n| n.type_name())
        .collect();
    assert!(!types.contains(&"BatchNormInference"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "Multiply").count(),
        1,
        "only the branch without a conv keeps its scale: {types:?}"
    );
    assert_eq!(
        transformed.output_names(0).unwrap(),
        model.output_names(0).unwrap()
    );

    let got = run(&model, &x);
    for (w, g) in want.iter().zip(&got) {
        for (a, b) in w.iter().zip(g) {
            assert!((a - b).abs() <= 1e-5 + 1e-5 * a.abs(), "{a} vs {b}");
        }
    }
}

#[test]
fn the_cpu_plan_runs_conv_bias_relu_as_one_step() {
    let model = conv_bn_model();
    let cfg = Config::from([("PERF_COUNT".to_string(), true.into())]);
    let mut req = InferRequest::new(CpuPlugin::default().compile(&model, &cfg).unwrap());
    req.set_input(0, Tensor::zeros(ElementType::F32, &[1, 3, 6, 6]))
        .unwrap();
    req.infer().unwrap();
    let steps: Vec<(String, String)> = req
        .state()
        .profile
        .iter()
        .map(|p| (p.node_type.clone(), p.exec_type.clone()))
        .collect();
    assert!(
        steps.contains(&("Convolution".into(), "conv_f32_fused".into())),
        "{steps:?}"
    );
    // Only the branch without a convolution keeps its elementwise steps (scale and shift of BatchNorm-1).
    assert!(!steps.iter().any(|(t, _)| t == "Relu"), "{steps:?}");
    assert_eq!(
        steps.iter().filter(|(t, _)| t == "Add").count(),
        1,
        "{steps:?}"
    );
}
