//! The exact GELU that ONNX exporters spell out, `0.5 · x · (1 + erf(x / √2))` in any grouping of its
//! products, becomes one Gelu (erf mode): one vectorised pass instead of five elementwise ops, and a single
//! rounding of the result.

use crate::error::Result;
use crate::ir::{Model, Node, Output};
use crate::ops::registry::create;
use crate::transformations::{Readers, constant_value, is_binary, is_unary, replace_outputs};
use std::collections::HashMap;

/// Replaces every decomposed exact GELU with a Gelu-7 node.
pub fn fuse_gelu(model: &Model) -> Result<bool> {
    let ops = model.ordered_ops()?;
    let graph = Graph {
        readers: Readers::of_graph(&ops),
    };
    let mut replacements = HashMap::new();
    for erf in &ops {
        if let Some((x, last)) = graph.gelu_at(erf) {
            let gelu = Node::new(create("Gelu", 7)?, vec![x])?;
            gelu.set_friendly_name(&last.friendly_name());
            replacements.insert((last.id(), 0), gelu.output(0));
        }
    }
    let changed = !replacements.is_empty();
    replace_outputs(model, &replacements)?;
    Ok(changed)
}

/// Who reads what.
struct Graph {
    readers: Readers,
}

/// True when `o` is a constant holding one value close to `want`.
fn is_scalar(o: &Output, want: f64) -> bool {
    constant_value(o).is_some_and(|t| {
        let v = t.to_f64_vec();
        v.len() == 1 && (v[0] - want).abs() <= 1e-4 * want.abs()
    })
}

/// The input of a binary `node` other than `o`.
fn other(node: &Node, o: &Output) -> Option<Output> {
    let inputs = node.inputs();
    match inputs.as_slice() {
        [a, b] if a == o => Some(b.clone()),
        [a, b] if b == o => Some(a.clone()),
        _ => None,
    }
}

impl Graph {
    /// When `erf` is the Erf of a decomposed GELU: its input `x` and the node computing the result.
    fn gelu_at(&self, erf: &Node) -> Option<(Output, Node)> {
        let is_erf = is_unary(erf, "Erf");
        if !is_erf {
            return None;
        }
        // x / √2 or x · (1/√2).
        let scaled = erf.inputs().into_iter().next()?;
        let scale = &scaled.node;
        let x = match scale.inputs().as_slice() {
            [x, c] if is_binary(scale, "Divide") && is_scalar(c, std::f64::consts::SQRT_2) => {
                x.clone()
            }
            [a, b] if is_binary(scale, "Multiply") => {
                let half_sqrt2 = std::f64::consts::FRAC_1_SQRT_2;
                if is_scalar(b, half_sqrt2) {
                    a.clone()
                } else if is_scalar(a, half_sqrt2) {
                    b.clone()
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        self.readers.sole(&scaled)?;
        // 1 + erf(..).
        let add = self.readers.sole(&erf.output(0))?;
        if !is_binary(add, "Add") || !is_scalar(&other(add, &erf.output(0))?, 1.0) {
            return None;
        }
        let sum = add.output(0);
        let m1 = self.readers.sole(&sum)?;
        if !is_binary(m1, "Multiply") {
            return None;
        }
        let o = other(m1, &sum)?;
        let last = if o == x {
            // (x · (1 + erf)) · 0.5
            let m2 = self.readers.sole(&m1.output(0))?;
            (is_binary(m2, "Multiply") && is_scalar(&other(m2, &m1.output(0))?, 0.5))
                .then_some(m2)?
        } else if is_scalar(&o, 0.5) {
            // ((1 + erf) · 0.5) · x
            let m2 = self.readers.sole(&m1.output(0))?;
            (is_binary(m2, "Multiply") && other(m2, &m1.output(0))? == x).then_some(m2)?
        } else {
            // (x · 0.5) · (1 + erf)
            let half = &o.node;
            let factor = other(half, &x)?;
            (is_binary(half, "Multiply")
                && is_scalar(&factor, 0.5)
                && self.readers.sole(&o).is_some())
            .then_some(m1)?
        };
        Some((x, last.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::interpret::evaluate_model;
    use crate::ir::{ElementType, PartialShape, Tensor};
    use crate::ops::structure::{Constant, Parameter, ResultOp};

    fn op(name: &str, inputs: &[&Output]) -> Output {
        let inputs = inputs.iter().map(|o| (*o).clone()).collect();
        Node::new(create(name, 13).unwrap(), inputs)
            .unwrap()
            .output(0)
    }

    fn scalar(v: f32) -> Output {
        let t = Tensor::from_vec(&[], vec![v]).unwrap();
        Node::new(Box::new(Constant::new(t)), vec![])
            .unwrap()
            .output(0)
    }

    /// 0.5·x·(1 + erf(x/√2)) grouped as `group` says, after a Relu so that x is not a Parameter.
    fn model(group: usize, shared_x: bool) -> Model {
        let p = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[2, 5]),
            )),
            vec![],
        )
        .unwrap();
        let x = op("Relu", &[&p.output(0)]);
        let x = op("Add", &[&x, &scalar(-0.5)]);
        let e = op(
            "Erf",
            &[&op("Divide", &[&x, &scalar(std::f32::consts::SQRT_2)])],
        );
        let one_plus = op("Add", &[&scalar(1.0), &e]);
        let y = match group {
            0 => op(
                "Multiply",
                &[&op("Multiply", &[&x, &one_plus]), &scalar(0.5)],
            ),
            1 => op(
                "Multiply",
                &[&op("Multiply", &[&one_plus, &scalar(0.5)]), &x],
            ),
            _ => op(
                "Multiply",
                &[&op("Multiply", &[&x, &scalar(0.5)]), &one_plus],
            ),
        };
        let mut results = vec![Node::new(Box::new(ResultOp), vec![y]).unwrap()];
        if shared_x {
            results.push(Node::new(Box::new(ResultOp), vec![e]).unwrap());
        }
        Model::new(results, vec![], vec![p], "gelu").unwrap()
    }

    fn types(m: &Model) -> Vec<&'static str> {
        m.ordered_ops()
            .unwrap()
            .iter()
            .map(|n| n.type_name())
            .collect()
    }

    #[test]
    fn every_grouping_becomes_one_gelu_with_the_same_values() {
        let x = Tensor::from_vec(
            &[2, 5],
            vec![-3.0f32, -1.0, -0.2, 0.0, 0.3, 0.7, 1.1, 2.0, 4.0, 9.0],
        )
        .unwrap();
        for group in 0..3 {
            let m = model(group, false);
            let want = evaluate_model(&m, std::slice::from_ref(&x)).unwrap();
            assert!(fuse_gelu(&m).unwrap(), "grouping {group}");
            let t = types(&m);
            assert!(t.contains(&"Gelu") && !t.contains(&"Erf"), "{t:?}");
            let got = evaluate_model(&m, std::slice::from_ref(&x)).unwrap();
            let (w, g) = (
                want[0].typed::<f32>().unwrap(),
                got[0].typed::<f32>().unwrap(),
            );
            for (a, b) in w.iter().zip(g) {
                assert!((a - b).abs() <= 1e-6, "grouping {group}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn an_intermediate_read_elsewhere_blocks_the_fusion() {
        let m = model(0, true);
        assert!(!fuse_gelu(&m).unwrap());
        assert!(types(&m).contains(&"Erf"));
    }
}
