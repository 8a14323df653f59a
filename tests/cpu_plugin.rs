//! The CPU plugin end to end on small graphs built with the Rust API.

use ferrovino::ir::{ElementType, Model, Node, PartialShape, Tensor};
use ferrovino::ops::registry::create;
use ferrovino::ops::structure::{Constant, Parameter, ResultOp};
use ferrovino::plugins::cpu::CpuPlugin;
use ferrovino::runtime::{Config, InferRequest, Plugin};

fn parameter(shape: &str) -> Node {
    let p = Parameter::new(ElementType::F32, PartialShape::parse_ir(shape).unwrap());
    Node::with_name(Box::new(p), vec![], "x").unwrap()
}

fn op(name: &str, inputs: &[&Node]) -> Node {
    Node::new(
        create(name, 16).unwrap(),
        inputs.iter().map(|n| n.output(0)).collect(),
    )
    .unwrap()
}

fn model_relu_add() -> Model {
    let x = parameter("?,3");
    let c = Node::new(
        Box::new(Constant::new(
            Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap(),
        )),
        vec![],
    )
    .unwrap();
    // A constant sub-graph (c * c) that compile folds.
    let cc = op("Multiply", &[&c, &c]);
    let y = op("Relu", &[&op("Add", &[&x, &cc])]);
    let r = Node::new(Box::new(ResultOp), vec![y.output(0)]).unwrap();
    Model::new(vec![r], vec![], vec![x], "m").unwrap()
}

#[test]
fn compiles_and_runs_with_dynamic_batch() {
    let m = model_relu_add();
    let compiled = CpuPlugin::default().compile(&m, &Config::new()).unwrap();
    let mut req = InferRequest::new(compiled);
    for batch in [1usize, 4, 0] {
        let x = Tensor::from_vec(&[batch, 3], vec![-10.0f32; batch * 3]).unwrap();
        req.set_input(0, x).unwrap();
        req.infer().unwrap();
        let y = req.output(0).unwrap();
        assert_eq!(y.shape(), &[batch, 3]);
        if batch > 0 {
            assert_eq!(&y.typed::<f32>().unwrap()[..3], &[0.0, 0.0, 0.0]);
        }
    }
    let x = Tensor::from_vec(&[1, 3], vec![0.0f32; 3]).unwrap();
    req.set_input(0, x).unwrap();
    req.infer().unwrap();
    assert_eq!(
        req.output(0).unwrap().typed::<f32>().unwrap(),
        &[1.0, 4.0, 9.0]
    );
}

#[test]
fn wrong_input_type_or_shape_is_a_clear_error() {
    let m = model_relu_add();
    let compiled = CpuPlugin::default().compile(&m, &Config::new()).unwrap();
    let mut req = InferRequest::new(compiled);
    let e = req
        .set_input(0, Tensor::from_vec(&[1, 3], vec![0i32; 3]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input 'x'") && e.contains("i32") && e.contains("f32"),
        "{e}"
    );
    let e = req
        .set_input(0, Tensor::from_vec(&[1, 4], vec![0f32; 4]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("[1,4]") && e.contains("[?,3]"), "{e}");
    assert!(req.infer().is_err());
}

#[test]
fn unknown_config_key_is_rejected() {
    let m = model_relu_add();
    let cfg = Config::from([("NOT_A_KEY".to_string(), "1".into())]);
    let e = CpuPlugin::default()
        .compile(&m, &cfg)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("NOT_A_KEY"), "{e}");
}

#[test]
fn perf_count_times_every_executed_node() {
    let m = model_relu_add();
    let x = Tensor::from_vec(&[2, 3], vec![1.0f32; 6]).unwrap();
    for (enabled, expected) in [(true, vec!["Add", "Relu"]), (false, vec![])] {
        let cfg = Config::from([("PERF_COUNT".to_string(), enabled.into())]);
        let mut req = InferRequest::new(CpuPlugin::default().compile(&m, &cfg).unwrap());
        req.set_input(0, x.clone()).unwrap();
        req.infer().unwrap();
        let types: Vec<String> = req
            .state()
            .profile
            .iter()
            .map(|p| p.node_type.clone())
            .collect();
        assert_eq!(types, expected);
    }
}

#[test]
fn an_input_with_a_default_needs_no_tensor_until_overridden() {
    let mut p = Parameter::new(ElementType::F32, PartialShape::from_static(&[2]));
    p.default = Some(Tensor::from_vec(&[2], vec![1.0f32, 2.0]).unwrap());
    let x = Node::with_name(Box::new(p), vec![], "x").unwrap();
    let r = Node::new(Box::new(ResultOp), vec![op("Relu", &[&x]).output(0)]).unwrap();
    let m = Model::new(vec![r], vec![], vec![x], "defaults").unwrap();
    let mut req = InferRequest::new(CpuPlugin::default().compile(&m, &Config::new()).unwrap());
    req.infer().unwrap();
    assert_eq!(req.output(0).unwrap().typed::<f32>().unwrap(), &[1.0, 2.0]);
    req.set_input(0, Tensor::from_vec(&[2], vec![-1.0f32, 3.0]).unwrap())
        .unwrap();
    req.infer().unwrap();
    assert_eq!(req.output(0).unwrap().typed::<f32>().unwrap(), &[0.0, 3.0]);
}

/// Inferences on one request, which reuse the first one's intermediate buffers, compute the right values, with
/// a Reshape (a view of its input) in the graph.
#[test]
fn reused_buffers_respect_views_across_inferences() {
    let x = parameter("2,6");
    let a = op("Relu", &[&x]);
    let target = Node::new(
        Box::new(Constant::new(
            Tensor::from_vec(&[2], vec![2i64, 6]).unwrap(),
        )),
        vec![],
    )
    .unwrap();
    let view = op("Reshape", &[&a, &target]);
    let c = op("Abs", &[&op("Negative", &[&x])]);
    let d = op("Add", &[&view, &c]);
    let r = Node::new(Box::new(ResultOp), vec![d.output(0)]).unwrap();
    let m = Model::new(vec![r], vec![], vec![x], "views").unwrap();
    let mut req = InferRequest::new(CpuPlugin::default().compile(&m, &Config::new()).unwrap());
    for round in 0..3 {
        let xs: Vec<f32> = (0..12)
            .map(|i| (i as f32 - 5.5) * (round as f32 + 1.0))
            .collect();
        req.set_input(0, Tensor::from_vec(&[2, 6], xs.clone()).unwrap())
            .unwrap();
        req.infer().unwrap();
        let want: Vec<f32> = xs.iter().map(|v| v.max(0.0) + v.abs()).collect();
        assert_eq!(req.output(0).unwrap().typed::<f32>().unwrap(), &want[..]);
    }
}

/// The THROUGHPUT hint gives one stream per core unless NUM_STREAMS was chosen; OPTIMAL_NUMBER_OF_INFER_REQUESTS
/// follows the streams.
#[test]
fn throughput_hint_and_num_streams() {
    let m = model_relu_add();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let compile = |pairs: &[(&str, ferrovino::runtime::properties::PropertyValue)]| {
        let cfg: Config = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        CpuPlugin::default().compile(&m, &cfg).unwrap()
    };
    let int = |c: &std::sync::Arc<dyn ferrovino::runtime::CompiledModel>, key: &str| {
        c.get_property(key).unwrap().as_int(key).unwrap()
    };
    let throughput = ("PERFORMANCE_HINT", "THROUGHPUT".into());
    let c = compile(std::slice::from_ref(&throughput));
    assert_eq!(int(&c, "NUM_STREAMS"), cores);
    assert_eq!(int(&c, "OPTIMAL_NUMBER_OF_INFER_REQUESTS"), cores);
    let c = compile(&[throughput, ("NUM_STREAMS", 1i64.into())]);
    assert_eq!(int(&c, "NUM_STREAMS"), 1);
    let c = compile(&[("PERFORMANCE_HINT", "LATENCY".into())]);
    assert_eq!(int(&c, "OPTIMAL_NUMBER_OF_INFER_REQUESTS"), 1);
    assert_eq!(int(&c, "INFERENCE_NUM_THREADS"), cores);
}

/// A MaxPool-8 whose indices nobody reads computes its values only; read indices are still produced. Both
/// agree with the op's reference evaluation.
#[test]
fn max_pool_indices_only_when_read() {
    use ferrovino::ops::Op;
    use ferrovino::ops::pooling::{MaxPool, PoolAttrs};
    let mut pool = MaxPool::new(8);
    pool.attrs = PoolAttrs {
        kernel: vec![3, 3],
        strides: vec![2, 2],
        dilations: vec![1, 1],
        pads_begin: vec![1, 1],
        pads_end: vec![1, 1],
        ..PoolAttrs::default()
    };
    let xs: Vec<f32> = (0..2 * 9 * 9)
        .map(|i| ((i * 37) % 23) as f32 - 11.0)
        .collect();
    let x_value = Tensor::from_vec(&[1, 2, 9, 9], xs).unwrap();
    let want = pool.evaluate(&[&x_value]).unwrap();
    for read_indices in [false, true] {
        let x = parameter("1,2,9,9");
        let node = Node::new(Box::new(pool.clone()), vec![x.output(0)]).unwrap();
        let mut results = vec![Node::new(Box::new(ResultOp), vec![node.output(0)]).unwrap()];
        if read_indices {
            results.push(Node::new(Box::new(ResultOp), vec![node.output(1)]).unwrap());
        }
        let m = Model::new(results, vec![], vec![x], "pool").unwrap();
        let cfg = Config::from([("PERF_COUNT".to_string(), true.into())]);
        let mut req = InferRequest::new(CpuPlugin::default().compile(&m, &cfg).unwrap());
        req.set_input(0, x_value.clone()).unwrap();
        req.infer().unwrap();
        let values = req.output(0).unwrap();
        assert_eq!(values.shape(), want[0].shape());
        assert_eq!(
            values.typed::<f32>().unwrap(),
            want[0].typed::<f32>().unwrap()
        );
        if read_indices {
            let indices = req.output(1).unwrap();
            assert_eq!(
                indices.typed::<i64>().unwrap(),
                want[1].typed::<i64>().unwrap()
            );
        }
        let kernels: Vec<String> = req
            .state()
            .profile
            .iter()
            .map(|p| p.exec_type.clone())
            .collect();
        assert_eq!(kernels, ["max_pool_f32"]);
    }
}
