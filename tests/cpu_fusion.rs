//! The CPU plan's convolution and MatMul epilogues: bias, residual add and activation chains run as one step
//! and compute what the reference evaluation of the unfused graph computes.

use ferrovino::ir::interpret::evaluate_model;
use ferrovino::ir::{ElementType, IrAttributeReader, Model, Node, Output, PartialShape, Tensor};
use ferrovino::ops::Op;
use ferrovino::ops::activation::Clamp;
use ferrovino::ops::conv::{ConvAttrs, Convolution, GroupConvolution};
use ferrovino::ops::linalg::MatMul;
use ferrovino::ops::registry::create;
use ferrovino::ops::structure::{Constant, Parameter, ResultOp};
use ferrovino::plugins::cpu::CpuPlugin;
use ferrovino::runtime::{Config, InferRequest, Plugin};

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 500.0
                - 2.0
        })
        .collect()
}

fn node(op: Box<dyn Op>, inputs: &[&Output]) -> Output {
    Node::new(op, inputs.iter().map(|o| (*o).clone()).collect())
        .unwrap()
        .output(0)
}

fn named(name: &str, inputs: &[&Output]) -> Output {
    node(create(name, 16).unwrap(), inputs)
}

fn constant(shape: &[usize], seed: u32) -> Output {
    let n = shape.iter().product();
    node(
        Box::new(Constant::new(
            Tensor::from_vec(shape, values(n, seed)).unwrap(),
        )),
        &[],
    )
}

fn parameter(shape: &[usize]) -> (Node, Output) {
    let p = Parameter::new(ElementType::F32, PartialShape::from_static(shape));
    let n = Node::new(Box::new(p), vec![]).unwrap();
    let o = n.output(0);
    (n, o)
}

fn attrs() -> ConvAttrs {
    ConvAttrs {
        strides: vec![1, 1],
        dilations: vec![1, 1],
        pads_begin: vec![1, 1],
        pads_end: vec![1, 1],
        ..ConvAttrs::default()
    }
}

/// Conv 3x3 (8 → 8 channels) or depthwise, plus a bias Add.
fn conv_bias(x: &Output, depthwise: bool) -> Output {
    let y = if depthwise {
        node(
            Box::new(GroupConvolution { attrs: attrs() }),
            &[x, &constant(&[8, 1, 1, 3, 3], 5)],
        )
    } else {
        node(
            Box::new(Convolution { attrs: attrs() }),
            &[x, &constant(&[8, 8, 3, 3], 5)],
        )
    };
    named("Add", &[&y, &constant(&[1, 8, 1, 1], 9)])
}

/// Runs `out` of a model with one [1, 8, 6, 6] input on the CPU plugin and through the reference evaluation;
/// returns the executed (type, kernel) steps after checking the values agree.
fn check(params: Vec<Node>, out: Output) -> Vec<(String, String)> {
    let r = Node::new(Box::new(ResultOp), vec![out]).unwrap();
    let model = Model::new(vec![r], vec![], params.clone(), "fusion").unwrap();
    let inputs: Vec<Tensor> = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let shape = p.output(0).shape().to_static().unwrap();
            let n = shape.iter().product();
            Tensor::from_vec(&shape, values(n, 100 + i as u32)).unwrap()
        })
        .collect();
    let want = evaluate_model(&model, &inputs).unwrap();
    let cfg = Config::from([("PERF_COUNT".to_string(), true.into())]);
    let mut req = InferRequest::new(CpuPlugin::default().compile(&model, &cfg).unwrap());
    for (i, t) in inputs.into_iter().enumerate() {
        req.set_input(i, t).unwrap();
    }
    for _ in 0..2 {
        req.infer().unwrap();
        let got = req.output(0).unwrap().typed::<f32>().unwrap().to_vec();
        for (a, b) in want[0].typed::<f32>().unwrap().iter().zip(&got) {
            assert!((a - b).abs() <= 1e-4 + 1e-4 * a.abs(), "{a} vs {b}");
        }
    }
    req.state()
        .profile
        .iter()
        .map(|p| (p.node_type.clone(), p.exec_type.clone()))
        .collect()
}

fn only_fused_conv(steps: &[(String, String)]) {
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].1, "conv_f32_fused", "{steps:?}");
}

#[test]
fn bias_residual_and_relu_fuse() {
    let (p, x) = parameter(&[1, 8, 6, 6]);
    let y = named("Relu", &[&named("Add", &[&conv_bias(&x, false), &x])]);
    only_fused_conv(&check(vec![p], y));
}

#[test]
fn clamp_fuses_after_a_depthwise_convolution() {
    let (p, x) = parameter(&[1, 8, 6, 6]);
    let clamp = Clamp { min: 0.0, max: 1.5 };
    let y = node(Box::new(clamp), &[&conv_bias(&x, true)]);
    only_fused_conv(&check(vec![p], y));
}

#[test]
fn swish_fuses() {
    let (p, x) = parameter(&[1, 8, 6, 6]);
    let t = conv_bias(&x, false);
    let y = named("Multiply", &[&t, &named("Sigmoid", &[&t])]);
    only_fused_conv(&check(vec![p], y));
}

#[test]
fn a_residual_computed_after_the_convolution_is_not_fused() {
    let (p, x) = parameter(&[1, 8, 6, 6]);
    let (q, z) = parameter(&[1, 8, 6, 6]);
    // The residual comes from a node the plan orders after the convolution, so only the bias fuses.
    let late = named("Relu", &[&z]);
    let y = named("Add", &[&conv_bias(&x, false), &late]);
    let steps = check(vec![p, q], y);
    assert!(steps.iter().any(|s| s.0 == "Add"), "{steps:?}");
}

#[test]
fn a_value_read_twice_stops_the_chain() {
    let (p, x) = parameter(&[1, 8, 6, 6]);
    let t = conv_bias(&x, false);
    // The biased value is also read by the Multiply: the Relu cannot overwrite it.
    let y = named("Multiply", &[&named("Relu", &[&t]), &t]);
    let steps = check(vec![p], y);
    assert!(steps.iter().any(|s| s.0 == "Relu"), "{steps:?}");
}

/// MatMul of a [2, 5, 24] input by constant [24, 20] weights (transposed when `transpose_b`), plus a bias Add
/// along the last axis.
fn matmul_bias(x: &Output, transpose_b: bool, bias_shape: &[usize]) -> Output {
    let w = if transpose_b {
        constant(&[20, 24], 5)
    } else {
        constant(&[24, 20], 5)
    };
    let mm = MatMul {
        transpose_a: false,
        transpose_b,
    };
    named(
        "Add",
        &[&node(Box::new(mm), &[x, &w]), &constant(bias_shape, 9)],
    )
}

fn only_fused_matmul(steps: &[(String, String)]) {
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0].1, "gemm_f32_fused", "{steps:?}");
}

#[test]
fn matmul_bias_residual_and_gelu_fuse() {
    let (p, x) = parameter(&[2, 5, 24]);
    let (q, r) = parameter(&[2, 5, 20]);
    for (transpose_b, mode) in [(false, "erf"), (true, "tanh")] {
        let sum = named("Add", &[&matmul_bias(&x, transpose_b, &[20]), &r]);
        let mut gelu = create("Gelu", 7).unwrap();
        let attrs = [("approximation_mode".to_string(), mode.to_string())];
        gelu.visit_attributes(&mut IrAttributeReader::new(&attrs))
            .unwrap();
        let y = node(gelu, &[&sum]);
        only_fused_matmul(&check(vec![p.clone(), q.clone()], y));
    }
}

#[test]
fn matmul_bias_and_relu_fuse_but_not_a_bias_along_rows() {
    let (p, x) = parameter(&[2, 5, 24]);
    let y = named("Relu", &[&matmul_bias(&x, false, &[1, 1, 20])]);
    only_fused_matmul(&check(vec![p.clone()], y));
    // A constant that varies along the rows is not a per-column bias: the Add stays a step of its own.
    let y = matmul_bias(&x, false, &[5, 1]);
    let steps = check(vec![p], y);
    assert!(steps.iter().any(|s| s.0 == "Add"), "{steps:?}");
}
