//! What the cargo benches share: single-node models run through the CPU plugin, and median timing.

use ferrovino::ir::{ElementType, Model, Node, PartialShape, Tensor};
use ferrovino::ops::Op;
use ferrovino::ops::activation::Clamp;
use ferrovino::ops::registry::create;
use ferrovino::ops::structure::{Constant, Parameter, ResultOp};
use ferrovino::plugins::cpu::CpuPlugin;
use ferrovino::runtime::{Config, InferRequest, Plugin};
use std::time::{Duration, Instant};

/// Deterministic values in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// A compiled model: `op(x, constant)` with `x` a Parameter of `input_shape` and the constant (weights, packed
/// at compile time) of `weight_shape`; with `bias_relu6`, the op's output goes on through an Add of a bias per
/// channel (`weight_shape[0]` values) and a Clamp to [0, 6] (MobileNet's epilogue, which the CPU plugin fuses
/// into convolutions). Its request has `x` bound to random values.
pub fn op_request(
    op: Box<dyn Op>,
    input_shape: &[usize],
    weight_shape: &[usize],
    bias_relu6: bool,
) -> InferRequest {
    let build = || -> ferrovino::Result<InferRequest> {
        let p = Parameter::new(ElementType::F32, PartialShape::from_static(input_shape));
        let x = Node::new(Box::new(p), vec![])?;
        let n: usize = weight_shape.iter().product();
        let w = Tensor::from_vec(weight_shape, values(n, 7))?;
        let w = Node::new(Box::new(Constant::new(w)), vec![])?;
        let mut y = Node::new(op, vec![x.output(0), w.output(0)])?;
        if bias_relu6 {
            let channels = weight_shape.first().copied().unwrap_or(1);
            let b = Tensor::from_vec(&[1, channels, 1, 1], values(channels, 5))?;
            let b = Node::new(Box::new(Constant::new(b)), vec![])?;
            let added = Node::new(create("Add", 1)?, vec![y.output(0), b.output(0)])?;
            let clamp = Box::new(Clamp { min: 0.0, max: 6.0 });
            y = Node::new(clamp, vec![added.output(0)])?;
        }
        let r = Node::new(Box::new(ResultOp), vec![y.output(0)])?;
        let model = Model::new(vec![r], vec![], vec![x], "bench")?;
        let mut req = InferRequest::new(CpuPlugin::default().compile(&model, &Config::new())?);
        let n: usize = input_shape.iter().product();
        req.set_input(0, Tensor::from_vec(input_shape, values(n, 3))?)?;
        Ok(req)
    };
    match build() {
        Ok(req) => req,
        Err(e) => panic!("building the benchmark model failed: {e}"),
    }
}

/// The median time of `f` over enough runs to fill about `budget` (at least 5 runs, after one warm-up).
pub fn median_time(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 5 || (started.elapsed() < budget && times.len() < 1000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// Runs one inference, panicking with the error (a benchmark has no one to report to).
pub fn infer(req: &mut InferRequest) {
    if let Err(e) = req.infer() {
        panic!("inference failed: {e}");
    }
}
