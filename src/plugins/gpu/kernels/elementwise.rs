//! Elementwise kernels generated from the op rows: a unary or binary op's WGSL expression (the `wgsl` column of
//! `ops::unary::UNARY_ROWS` and `ops::binary::BINARY_ROWS`) becomes a function in a generated shader that reads
//! every input with numpy broadcasting and writes one output element per invocation. Convert between f32 and
//! the integer types, and the activations with attributes (Clamp, Elu, Gelu, Swish with a constant beta), are
//! more such functions, their parameters written into the expression.

use super::{Binding, Dispatch, GpuKernel, dims, grid, param, storage_type};
use crate::error::{Error, Result};
use crate::ir::ElementType;
use crate::ir::shape::num_elements;
use crate::ops::activation::{Clamp, Elu, Gelu, GeluApproximation, Swish};
use crate::ops::binary::Binary;
use crate::ops::elementwise::AutoBroadcast;
use crate::ops::structure::Convert;
use crate::ops::unary::Unary;
use crate::ops::{Op, TensorDesc};
use crate::plugins::gpu::context::Caps;
use crate::plugins::gpu::pipelines::PipelineKey;
use std::sync::Arc;

/// The helper functions every generated shader starts with (`shaders/elementwise.wgsl`).
pub const HELPERS: &str = include_str!("../shaders/elementwise.wgsl");

/// Invocations per workgroup of the generated shaders (within WebGPU's guaranteed minimum of 256).
const WORKGROUP: u32 = 64;

/// Binary ops whose WGSL expression also holds for i32 operands.
const INTEGER_SAFE: &[&str] = &["Add", "Subtract", "Multiply", "Maximum", "Minimum"];

/// One function of an elementwise shader: `fn name(params) -> out { return expr; }`.
#[derive(Debug, Clone)]
pub struct ScalarFn {
    /// Parameter names with their WGSL types.
    pub params: Vec<(&'static str, &'static str)>,
    /// Return type.
    pub out: &'static str,
    /// The WGSL expression over the parameters.
    pub expr: String,
}

impl ScalarFn {
    /// The function of a unary row (on `x`) or a binary row (on `a`, `b`), all of type `ty`.
    pub fn new(
        names: &[&'static str],
        ty: &'static str,
        out: &'static str,
        expr: &str,
    ) -> ScalarFn {
        ScalarFn {
            params: names.iter().map(|n| (*n, ty)).collect(),
            out,
            expr: expr.to_string(),
        }
    }

    fn declare(&self, name: &str) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect();
        format!(
            "fn {name}({}) -> {} {{\n    return {};\n}}\n",
            params.join(", "),
            self.out,
            self.expr
        )
    }
}

/// One function of a chain; `chained`: the parameter fed by the previous stage's result (None for the first
/// stage, whose parameters all read kernel inputs). Other parameters read the next kernel inputs in order.
#[derive(Debug, Clone)]
struct Stage {
    f: ScalarFn,
    chained: Option<usize>,
}

/// An elementwise computation: one op, or a chain of ops each feeding the next (fused into one shader), with
/// the kernel inputs (shape, WGSL type) it reads and the output shape.
#[derive(Debug, Clone)]
pub struct Chain {
    label: String,
    stages: Vec<Stage>,
    inputs: Vec<(Vec<usize>, &'static str)>,
    out: Vec<usize>,
}

impl Chain {
    /// How many kernel inputs the chain reads: the node's leading inputs (later ones, such as Swish's beta, are
    /// constants written into the shader).
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// `next` (one op) applied to this chain's result, which feeds its input `position`; None when the
    /// shapes differ (the fused chain computes every stage at the output's shape) or the types do not meet.
    pub fn then(mut self, next: Chain, position: usize) -> Option<Chain> {
        let [stage] = <[Stage; 1]>::try_from(next.stages).ok()?;
        let last = self.stages.last()?;
        let fed = stage.f.params.get(position)?;
        if next.out != self.out || fed.1 != last.f.out {
            return None;
        }
        self.inputs.extend(
            next.inputs
                .into_iter()
                .enumerate()
                .filter(|(k, _)| *k != position)
                .map(|(_, i)| i),
        );
        self.label = format!(
            "{}+{}",
            self.label,
            next.label.trim_start_matches("eltwise_")
        );
        self.stages.push(Stage {
            f: stage.f,
            chained: Some(position),
        });
        Some(self)
    }

    /// The kernel computing the chain.
    pub fn kernel(&self) -> Box<dyn GpuKernel> {
        let count = num_elements(&self.out);
        let access: Vec<Access> = self
            .inputs
            .iter()
            .map(|(s, _)| match num_elements(s) {
                1 => Access::Scalar,
                n if n == count => Access::Full,
                _ => Access::Strided,
            })
            .collect();
        let types: Vec<&str> = self.inputs.iter().map(|(_, t)| *t).collect();
        Box::new(ElementwiseKernel {
            label: self.label.clone(),
            source: generate(&self.stages, &types, &access).into(),
            inputs: self.inputs.iter().map(|(s, _)| s.clone()).collect(),
            out: self.out.clone(),
        })
    }
}

/// An elementwise kernel: `out[i] = f(in0[..], in1[..], …)` with the inputs broadcast to the output shape.
#[derive(Debug)]
pub struct ElementwiseKernel {
    label: String,
    source: Arc<str>,
    inputs: Vec<Vec<usize>>,
    out: Vec<usize>,
}

impl ElementwiseKernel {
    /// `[count, rank, out dims…, per input: its broadcast strides…]`.
    fn params(&self) -> Result<Vec<u32>> {
        let rank = self.out.len();
        let mut p = vec![
            param(num_elements(&self.out), "element count")?,
            param(rank, "rank")?,
        ];
        for &d in &self.out {
            p.push(param(d, "dimension")?);
        }
        for shape in &self.inputs {
            let pad = rank.saturating_sub(shape.len());
            let strides = crate::ir::shape::strides(shape);
            for axis in 0..rank {
                let stride = match axis.checked_sub(pad) {
                    Some(a) if shape.get(a).is_some_and(|&d| d != 1) => {
                        strides.get(a).copied().unwrap_or(0)
                    }
                    _ => 0,
                };
                p.push(param(stride, "stride")?);
            }
        }
        Ok(p)
    }
}

impl GpuKernel for ElementwiseKernel {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn dispatches(&self, caps: &Caps) -> Result<Vec<Dispatch>> {
        let count = num_elements(&self.out) as u64;
        if count == 0 {
            return Ok(Vec::new());
        }
        if caps.max_workgroup_size[0] < WORKGROUP || caps.max_invocations < WORKGROUP {
            return Err(Error::Device(format!(
                "GPU: the adapter allows fewer than {WORKGROUP} invocations per workgroup"
            )));
        }
        let n = self.inputs.len();
        let mut bindings: Vec<Binding> = (0..n).map(Binding::Input).collect();
        bindings.push(Binding::Output(0));
        bindings.push(Binding::Params(self.params()?));
        Ok(vec![Dispatch {
            pipeline: PipelineKey::new(self.source.clone(), "main", &[]),
            bindings,
            workgroups: grid(count.div_ceil(u64::from(WORKGROUP)), caps)?,
        }])
    }
}

/// How a generated shader reads one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// At the output index (the input has the output's shape).
    Full,
    /// At 0 (one element).
    Scalar,
    /// Through broadcast strides.
    Strided,
}

/// The shader applying the stages to inputs of WGSL types `types`, each read as `access` says.
fn generate(stages: &[Stage], types: &[&str], access: &[Access]) -> String {
    let n = types.len();
    let mut s = String::from(HELPERS);
    s.push('\n');
    for (j, stage) in stages.iter().enumerate() {
        s.push_str(&stage.f.declare(&format!("op{j}")));
    }
    let out_ty = stages.last().map_or("f32", |st| st.f.out);
    for (k, t) in types.iter().enumerate() {
        s.push_str(&format!(
            "@group(0) @binding({k}) var<storage, read> in{k}: array<{t}>;\n"
        ));
    }
    s.push_str(&format!(
        "@group(0) @binding({n}) var<storage, read_write> out0: array<{out_ty}>;\n"
    ));
    s.push_str(&format!(
        "@group(0) @binding({}) var<storage, read> p: array<u32>;\n\n",
        n + 1
    ));
    s.push_str(&format!(
        "@compute @workgroup_size({WORKGROUP})\nfn main(@builtin(global_invocation_id) gid: vec3<u32>, \
         @builtin(num_workgroups) nwg: vec3<u32>) {{\n    let i = gid.x + gid.y * nwg.x * {WORKGROUP}u;\n    \
         if (i >= p[0]) {{\n        return;\n    }}\n"
    ));
    let strided: Vec<usize> = (0..n).filter(|&k| access[k] == Access::Strided).collect();
    if !strided.is_empty() {
        s.push_str("    let rank = p[1];\n    var rem = i;\n");
        for k in &strided {
            s.push_str(&format!("    var o{k} = 0u;\n"));
        }
        s.push_str(
            "    for (var d = rank; d > 0u; d = d - 1u) {\n        let c = rem % p[1u + d];\n        \
             rem = rem / p[1u + d];\n",
        );
        for k in &strided {
            s.push_str(&format!(
                "        o{k} = o{k} + c * p[1u + rank * {}u + d];\n",
                k + 1
            ));
        }
        s.push_str("    }\n");
    }
    let mut reads = (0..n).map(|k| match access[k] {
        Access::Full => format!("in{k}[i]"),
        Access::Scalar => format!("in{k}[0]"),
        Access::Strided => format!("in{k}[o{k}]"),
    });
    for (j, stage) in stages.iter().enumerate() {
        let args: Vec<String> = (0..stage.f.params.len())
            .map(|p| match stage.chained {
                Some(c) if c == p => format!("r{}", j.saturating_sub(1)),
                _ => reads.next().unwrap_or_else(|| "0".into()),
            })
            .collect();
        s.push_str(&format!("    let r{j} = op{j}({});\n", args.join(", ")));
    }
    s.push_str(&format!(
        "    out0[i] = r{};\n}}\n",
        stages.len().saturating_sub(1)
    ));
    s
}

/// The elementwise kernel of a node, when its op and types have one.
pub fn select(
    op: &dyn Op,
    inputs: &[TensorDesc],
    outputs: &[TensorDesc],
) -> Option<Box<dyn GpuKernel>> {
    chain(op, inputs, outputs).map(|c| c.kernel())
}

/// The one-op chain of a node, when its op and types have an elementwise kernel (the plan extends chains to
/// fuse a node into the elementwise node that feeds it).
pub fn chain(op: &dyn Op, inputs: &[TensorDesc], outputs: &[TensorDesc]) -> Option<Chain> {
    let out_desc = outputs.first()?;
    let out = dims(out_desc)?;
    let out_ty = storage_type(out_desc.element_type)?;
    let any = op.as_any();
    let f = if let Some(u) = any.downcast_ref::<Unary>() {
        let expr = u.row.wgsl?;
        (inputs.first()?.element_type == ElementType::F32)
            .then(|| ScalarFn::new(&["x"], "f32", "f32", expr))?
    } else if let Some(b) = any.downcast_ref::<Binary>() {
        binary_fn(b, inputs.first()?.element_type)?
    } else if any.downcast_ref::<Convert>().is_some() {
        let from = storage_type(inputs.first()?.element_type)?;
        ScalarFn::new(&["x"], from, out_ty, &format!("{out_ty}(x)"))
    } else {
        let expr = activation(op, inputs)?;
        (inputs.first()?.element_type == ElementType::F32)
            .then(|| ScalarFn::new(&["x"], "f32", "f32", &expr))?
    };
    // Inputs past the function's parameters (Swish's beta) are constants written into the expression.
    let shaped = inputs
        .iter()
        .take(f.params.len())
        .map(|d| Some((dims(d)?, storage_type(d.element_type)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Chain {
        label: format!("eltwise_{}_{out_ty}", op.type_info().name.to_lowercase()),
        stages: vec![Stage { f, chained: None }],
        inputs: shaped,
        out,
    })
}

/// A WGSL float literal of `v` (f32 range; NaN as 0).
fn literal(v: f64) -> String {
    let v = if v.is_nan() { 0.0 } else { v as f32 };
    format!("{:e}", v.clamp(f32::MIN, f32::MAX))
}

/// Gelu's expression on `x`.
fn gelu(mode: GeluApproximation) -> &'static str {
    match mode {
        GeluApproximation::Erf => "0.5 * x * (1.0 + fv_erf(x * 0.70710678118654752))",
        GeluApproximation::Tanh => {
            "0.5 * x * (1.0 + fv_tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)))"
        }
    }
}

/// The expression (on an f32 `x`) of an activation with attributes or constant scalar inputs.
fn activation(op: &dyn Op, inputs: &[TensorDesc]) -> Option<String> {
    let any = op.as_any();
    if let Some(c) = any.downcast_ref::<Clamp>() {
        return Some(format!("clamp(x, {}, {})", literal(c.min), literal(c.max)));
    }
    if let Some(e) = any.downcast_ref::<Elu>() {
        return Some(format!(
            "select({} * (exp(x) - 1.0), x, x >= 0.0)",
            literal(e.alpha)
        ));
    }
    if let Some(g) = any.downcast_ref::<Gelu>() {
        return Some(gelu(g.approximation_mode).into());
    }
    any.downcast_ref::<Swish>()?;
    let beta = match inputs.get(1) {
        Some(d) => {
            let t = d.value.as_ref()?;
            (t.len() == 1).then(|| t.get_f64(0))?
        }
        None => 1.0,
    };
    Some(format!("x * fv_sigmoid({} * x)", literal(beta)))
}

/// The function of a binary op on f32, or on i32 for the ops whose expression holds for integers.
fn binary_fn(b: &Binary, t: ElementType) -> Option<ScalarFn> {
    if b.auto_broadcast == AutoBroadcast::Pdpd {
        return None;
    }
    let expr = b.row.wgsl?;
    let ty = match t {
        ElementType::F32 => "f32",
        ElementType::I32 | ElementType::I64 if INTEGER_SAFE.contains(&b.row.name) => "i32",
        _ => return None,
    };
    Some(ScalarFn::new(&["a", "b"], ty, ty, expr))
}

/// Every generated shader (each unary and binary row on its types, Convert, with and without broadcasting), for
/// the naga check.
pub fn all_generated() -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut add = |name: String, f: ScalarFn, n: usize| {
        for access in [Access::Full, Access::Scalar, Access::Strided] {
            let types: Vec<&str> = f.params.iter().map(|(_, t)| *t).collect();
            let stages = [Stage {
                f: f.clone(),
                chained: None,
            }];
            out.push((name.clone(), generate(&stages, &types, &vec![access; n])));
        }
    };
    for row in crate::ops::unary::UNARY_ROWS {
        if let Some(e) = row.wgsl {
            add(
                row.name.to_string(),
                ScalarFn::new(&["x"], "f32", "f32", e),
                1,
            );
        }
    }
    for row in crate::ops::binary::BINARY_ROWS {
        if let Some(e) = row.wgsl {
            add(
                row.name.to_string(),
                ScalarFn::new(&["a", "b"], "f32", "f32", e),
                2,
            );
            if INTEGER_SAFE.contains(&row.name) {
                add(
                    row.name.to_string(),
                    ScalarFn::new(&["a", "b"], "i32", "i32", e),
                    2,
                );
            }
        }
    }
    add(
        "Divide".into(),
        ScalarFn::new(&["a", "b"], "f32", "f32", "a / b"),
        2,
    );
    add(
        "Convert".into(),
        ScalarFn::new(&["x"], "f32", "i32", "i32(x)"),
        1,
    );
    add(
        "Convert".into(),
        ScalarFn::new(&["x"], "i32", "f32", "f32(x)"),
        1,
    );
    let activations: [Box<dyn Op>; 4] = [
        Box::new(Clamp {
            min: -1.5,
            max: f64::INFINITY,
        }),
        Box::new(Elu { alpha: 0.3 }),
        Box::new(Swish),
        Box::new(Clamp {
            min: 1e-30,
            max: 1e30,
        }),
    ];
    for op in activations {
        let e = activation(op.as_ref(), &[])?;
        add(
            op.type_info().name.to_string(),
            ScalarFn::new(&["x"], "f32", "f32", &e),
            1,
        );
    }
    for mode in [GeluApproximation::Erf, GeluApproximation::Tanh] {
        add(
            "Gelu".into(),
            ScalarFn::new(&["x"], "f32", "f32", gelu(mode)),
            1,
        );
    }
    // A fused chain: Add, then Relu, then Multiply with the chain in its second operand.
    let stages = [
        Stage {
            f: ScalarFn::new(&["a", "b"], "f32", "f32", "a + b"),
            chained: None,
        },
        Stage {
            f: ScalarFn::new(&["x"], "f32", "f32", "max(x, 0.0)"),
            chained: Some(0),
        },
        Stage {
            f: ScalarFn::new(&["a", "b"], "f32", "f32", "a * b"),
            chained: Some(1),
        },
    ];
    let access = [Access::Full, Access::Strided, Access::Scalar];
    out.push((
        "Add+Relu+Multiply".into(),
        generate(&stages, &["f32"; 3], &access),
    ));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Tensor;
    use crate::ir::{AttrValue, AttributeSetter};
    use crate::ops::registry::create;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::kernels::testing::{check_against_reference, validate_wgsl};

    #[test]
    fn every_shader_validates() {
        for (name, source) in crate::plugins::gpu::kernels::SHADER_FILES {
            validate_wgsl(name, source).unwrap();
        }
        for (name, source) in all_generated().unwrap() {
            validate_wgsl(&name, &source).unwrap();
        }
    }

    #[test]
    fn unary_rows_match_reference() {
        let mut rng = Lcg(7);
        let x = rng.tensor(&[3, 5]);
        for row in crate::ops::unary::UNARY_ROWS
            .iter()
            .filter(|r| r.wgsl.is_some())
        {
            // Inverse hyperbolics need their domains.
            let x = match row.name {
                "Acosh" => Tensor::from_f64s(ElementType::F32, &[3], &[1.0, 2.5, 7.0]).unwrap(),
                "Log" | "Sqrt" => {
                    Tensor::from_f64s(ElementType::F32, &[3], &[0.1, 2.5, 7.0]).unwrap()
                }
                _ => x.clone(),
            };
            check_against_reference(|| create(row.name, 16).unwrap(), &[x], &[]);
        }
    }

    #[test]
    fn binary_rows_broadcast() {
        let mut rng = Lcg(11);
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 3, 4], &[4]),
            (&[2, 1, 4], &[3, 1]),
            (&[5], &[]),
        ];
        for name in [
            "Add",
            "Subtract",
            "Multiply",
            "Divide",
            "Maximum",
            "Minimum",
            "SquaredDifference",
            "Power",
        ] {
            for (i, (a, b)) in cases.iter().enumerate() {
                let (x, mut y) = (rng.tensor(a), rng.tensor(b));
                if name == "Power" {
                    y = Tensor::from_f64s(ElementType::F32, b, &vec![2.0; y.len()]).unwrap();
                }
                check_against_reference(
                    || create(name, 16).unwrap(),
                    &[x, y],
                    &[false, i % 2 == 1],
                );
            }
        }
    }

    #[test]
    fn remainders_of_signed_zeros_and_infinities() {
        let inf = f32::INFINITY;
        let a = [0.0f32, -0.0, -3.0, 3.0, -1.0, 1.0, 7.5, -7.5, inf, 1.0, 5.0];
        let b = [-2.0f32, 2.0, inf, inf, -inf, -inf, 2.0, 2.0, 2.0, 0.0, -3.0];
        let x = Tensor::from_vec(&[a.len()], a.to_vec()).unwrap();
        let y = Tensor::from_vec(&[b.len()], b.to_vec()).unwrap();
        for name in ["FloorMod", "Mod"] {
            check_against_reference(
                || create(name, 1).unwrap(),
                &[x.clone(), y.clone()],
                &[false, false],
            );
        }
    }

    #[test]
    fn activations_match_reference() {
        let x = Lcg(3).tensor(&[4, 7]);
        let beta = Tensor::from_vec(&[], vec![1.7f32]).unwrap();
        check_against_reference(
            || {
                Box::new(Clamp {
                    min: -0.3,
                    max: 0.5,
                })
            },
            std::slice::from_ref(&x),
            &[],
        );
        check_against_reference(
            || Box::new(Elu { alpha: 0.7 }),
            std::slice::from_ref(&x),
            &[],
        );
        check_against_reference(|| Box::new(Swish), std::slice::from_ref(&x), &[]);
        check_against_reference(|| Box::new(Swish), &[x.clone(), beta], &[false, true]);
        for opset in [2, 7] {
            check_against_reference(
                || create("Gelu", opset).unwrap(),
                std::slice::from_ref(&x),
                &[],
            );
        }
        let tanh = || {
            let mut g = create("Gelu", 7).unwrap();
            let values = [(
                "approximation_mode".to_string(),
                AttrValue::Str("TANH".into()),
            )];
            g.visit_attributes(&mut AttributeSetter::new(&values))
                .unwrap();
            g
        };
        check_against_reference(tanh, &[x], &[]);
    }

    #[test]
    fn integer_add_and_convert() {
        let a = Tensor::from_vec(&[2, 2], vec![1i64, -2, 3, 40]).unwrap();
        let b = Tensor::from_vec(&[2], vec![5i64, 6]).unwrap();
        check_against_reference(|| create("Add", 1).unwrap(), &[a, b], &[]);
        let x = Tensor::from_vec(&[4], vec![1.7f32, -2.5, 3.0, 0.2]).unwrap();
        check_against_reference(
            || {
                Box::new(Convert {
                    destination_type: ElementType::I32,
                })
            },
            &[x],
            &[],
        );
    }
}
