//! The GPU plugin end to end through `Core` on lavapipe or a real GPU: skipped (with the reason printed) when no
//! adapter exists, and failing then under FERROVINO_REQUIRE_GPU=1 (CI).
#![cfg(feature = "gpu")]

use ferrovino::ir::{ElementType, Model, Node, PartialShape, Tensor};
use ferrovino::ops::linalg::MatMul;
use ferrovino::ops::registry::create;
use ferrovino::ops::structure::{Constant, Parameter, ResultOp};
use ferrovino::plugins::gpu::context;
use ferrovino::plugins::gpu::context::have_gpu_for_tests as have_gpu;
use ferrovino::runtime::core::Core;
use ferrovino::runtime::properties::{PropertyValue, keys};
use ferrovino::runtime::{Config, InferRequest};
use std::time::Instant;

fn values(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0
                - 1.0
        })
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

fn constant(t: Tensor) -> Node {
    Node::new(Box::new(Constant::new(t)), vec![]).unwrap()
}

fn op(name: &str, opset: u32, inputs: &[&Node]) -> Node {
    Node::new(
        create(name, opset).unwrap(),
        inputs.iter().map(|n| n.output(0)).collect(),
    )
    .unwrap()
}

fn matmul(a: &Node, b: &Node) -> Node {
    let mm = MatMul {
        transpose_a: false,
        transpose_b: false,
    };
    Node::new(Box::new(mm), vec![a.output(0), b.output(0)]).unwrap()
}

/// x[2, 3, 8] → reshape [6, 8] → MatMul 8x16 + bias → Relu → MatMul 16x4 + bias → Sigmoid, and `tail` after it.
fn mlp(tail: Option<&str>) -> Model {
    let p = Parameter::new(ElementType::F32, PartialShape::from_static(&[2, 3, 8]));
    let x = Node::with_name(Box::new(p), vec![], "x").unwrap();
    let shape = constant(Tensor::from_vec(&[2], vec![6i64, 8]).unwrap());
    let flat = op("Reshape", 1, &[&x, &shape]);
    let h = op(
        "Relu",
        1,
        &[&op(
            "Add",
            1,
            &[
                &matmul(&flat, &constant(values(&[8, 16], 1))),
                &constant(values(&[16], 2)),
            ],
        )],
    );
    let mut y = op(
        "Sigmoid",
        1,
        &[&op(
            "Add",
            1,
            &[
                &matmul(&h, &constant(values(&[16, 4], 3))),
                &constant(values(&[4], 4)),
            ],
        )],
    );
    if let Some(t) = tail {
        let axis = constant(Tensor::from_vec(&[], vec![1i64]).unwrap());
        y = op(t, 3, &[&y, &axis]);
        y.set_friendly_name("the_tail");
    }
    let r = Node::new(Box::new(ResultOp), vec![y.output(0)]).unwrap();
    Model::new(vec![r], vec![], vec![x], "mlp").unwrap()
}

fn run(core: &Core, model: &Model, device: &str, x: &Tensor) -> Tensor {
    let compiled = core.compile_model(model, device, &Config::new()).unwrap();
    let mut req = InferRequest::new(compiled);
    req.set_input(0, x.clone()).unwrap();
    req.infer().unwrap();
    req.output(0).unwrap().clone()
}

fn compile_error(core: &Core, model: &Model) -> String {
    match core.compile_model(model, "GPU", &Config::new()) {
        Ok(_) => panic!("compiling on GPU should fail"),
        Err(e) => e.to_string(),
    }
}

fn assert_close(want: &Tensor, got: &Tensor) {
    assert_eq!(want.shape(), got.shape());
    for (i, (a, b)) in want.to_f64_vec().iter().zip(got.to_f64_vec()).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 + 1e-3 * a.abs(),
            "element {i}: CPU {a}, GPU {b}"
        );
    }
}

#[test]
fn gpu_is_listed_with_its_properties() {
    let core = Core::new();
    let listed = core
        .available_devices()
        .iter()
        .any(|d| d.starts_with("GPU"));
    assert_eq!(listed, !context::adapters().is_empty());
    if !have_gpu() {
        let e = compile_error(&core, &mlp(None));
        assert!(e.contains("no GPU adapter"), "{e}");
        return;
    }
    let name = core.get_property("GPU", keys::FULL_DEVICE_NAME).unwrap();
    assert_eq!(name.to_string(), context::adapters()[0].info.name);
    let caps = core
        .get_property("GPU", keys::OPTIMIZATION_CAPABILITIES)
        .unwrap();
    assert!(caps.to_string().contains("FP32"), "{caps}");
    let t = core
        .get_property("GPU", keys::DEVICE_TYPE)
        .unwrap()
        .to_string();
    assert!(t == "integrated" || t == "discrete", "{t}");
    assert!(core.get_property("GPU", "NO_SUCH_KEY").is_err());
    assert!(matches!(
        core.get_property("GPU", keys::SUPPORTED_PROPERTIES)
            .unwrap(),
        PropertyValue::Map(_)
    ));
}

#[test]
fn mlp_matches_cpu_and_repeats() {
    if !have_gpu() {
        return;
    }
    let core = Core::new();
    let model = mlp(None);
    let compiled = core.compile_model(&model, "GPU", &Config::new()).unwrap();
    let mut req = InferRequest::new(compiled);
    for seed in 0..3 {
        let x = values(&[2, 3, 8], 100 + seed);
        req.set_input(0, x.clone()).unwrap();
        req.infer().unwrap();
        assert_close(&run(&core, &model, "CPU", &x), req.output(0).unwrap());
    }
}

#[test]
fn unsupported_nodes_are_listed_and_hetero_runs_them_on_cpu() {
    if !have_gpu() {
        return;
    }
    let core = Core::new();
    let model = mlp(Some("CumSum"));
    let e = compile_error(&core, &model);
    assert!(
        e.contains("the_tail (CumSum, f32)") && e.contains("HETERO:GPU,CPU"),
        "{e}"
    );
    let q = core.query_model(&model, "GPU", &Config::new()).unwrap();
    assert!(!q.contains_key("the_tail") && q.values().all(|d| d == "GPU"));
    let x = values(&[2, 3, 8], 5);
    assert_close(
        &run(&core, &model, "CPU", &x),
        &run(&core, &model, "HETERO:GPU,CPU", &x),
    );
}

#[test]
fn matmul_figures() {
    if !have_gpu() {
        return;
    }
    let n = 512;
    let p = Parameter::new(ElementType::F32, PartialShape::from_static(&[n, n]));
    let x = Node::new(Box::new(p), vec![]).unwrap();
    let y = matmul(&x, &constant(values(&[n, n], 9)));
    let r = Node::new(Box::new(ResultOp), vec![y.output(0)]).unwrap();
    let model = Model::new(vec![r], vec![], vec![x], "mm").unwrap();
    let compiled = Core::new()
        .compile_model(&model, "GPU", &Config::new())
        .unwrap();
    let mut req = InferRequest::new(compiled);
    req.set_input(0, values(&[n, n], 8)).unwrap();
    req.infer().unwrap();
    // The best of a few runs (the machine may be shared).
    let secs = (0..5)
        .map(|_| {
            let start = Instant::now();
            req.infer().unwrap();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "MatMul {n}x{n}x{n} on '{}': {:.2} ms, {:.2} GFLOP/s (with upload and read-back)",
        context::adapters()[0].info.name,
        secs * 1e3,
        2.0 * (n * n * n) as f64 / secs / 1e9
    );
}

#[test]
fn auto_leaves_software_gpus_out() {
    if !have_gpu() {
        return;
    }
    let software = context::adapters()
        .iter()
        .all(|a| a.info.device_type == wgpu::DeviceType::Cpu);
    if !software {
        return;
    }
    let compiled = Core::new()
        .compile_model(&mlp(None), "AUTO", &Config::new())
        .unwrap();
    let devices = compiled
        .get_property(keys::EXECUTION_DEVICES)
        .unwrap()
        .to_string();
    assert!(
        devices.contains("CPU") && !devices.contains("GPU"),
        "{devices}"
    );
}

#[test]
fn the_device_id_in_the_name_selects_the_adapter() {
    if !have_gpu() {
        return;
    }
    let core = Core::new();
    let model = mlp(None);
    let x = values(&[2, 3, 8], 7);
    assert_close(
        &run(&core, &model, "CPU", &x),
        &run(&core, &model, "GPU.0", &x),
    );
    let count = ferrovino::plugins::gpu::context::adapters().len();
    let missing = format!("GPU.{count}");
    let e = match core.compile_model(&model, &missing, &Config::new()) {
        Ok(_) => panic!("{missing} does not exist and should not compile"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(&count.to_string()), "{e}");
}
