//! MatMul weights larger than one storage binding may be (lavapipe's 128 MiB: the classifier layers of AlexNet,
//! ZFNet, VGG) are cut into column blocks that fit: `MatMul(A, W)` with a constant 2-D `W` becomes the
//! Concat, along the last axis, of `MatMul(A, W[:, block])` — each block a constant of its own, copied out on the
//! host — so every piece runs on the existing MatMul and Concat kernels and the sums are unchanged.

use super::context::Caps;
use crate::error::Result;
use crate::ir::{Model, Node, Tensor};
use crate::ops::data_movement::Concat;
use crate::ops::linalg::MatMul;
use crate::ops::registry::create;
use crate::transformations::{constant_node, constant_value, replace_outputs};
use std::collections::HashMap;

/// Splits every constant 2-D MatMul weight over the caps' binding limit into blocks of output columns.
pub fn split_oversized_weights(model: &Model, caps: &Caps) -> Result<bool> {
    let limit = caps.max_storage_binding.min(caps.max_buffer_size);
    let mut replacements = HashMap::new();
    for node in model.ordered_ops()? {
        let Some(mm) = node.op().as_any().downcast_ref::<MatMul>().cloned() else {
            continue;
        };
        let inputs = node.inputs();
        let [a, b] = inputs.as_slice() else {
            continue;
        };
        let Some(w) = constant_value(b) else {
            continue;
        };
        let bytes = w.len() as u64 * 4;
        if w.rank() != 2 || a.shape().rank().is_none_or(|r| r < 2) || bytes <= limit {
            continue;
        }
        // Output columns are W's columns, or its rows when it is read transposed.
        let col_axis = if mm.transpose_b { 0 } else { 1 };
        let cols = w.shape()[col_axis];
        let per_col = bytes / cols.max(1) as u64;
        let block = usize::try_from(limit / per_col.max(1)).unwrap_or(usize::MAX);
        if block == 0 || block >= cols {
            continue;
        }
        let name = node.friendly_name();
        let mut pieces = Vec::new();
        for (i, start) in (0..cols).step_by(block).enumerate() {
            let end = (start + block).min(cols);
            let piece = constant_node(columns(&w, col_axis, start, end)?, &format!("{name}/w{i}"))?;
            let product = Node::with_name(
                Box::new(mm.clone()),
                vec![a.clone(), piece.output(0)],
                &format!("{name}/part{i}"),
            )?;
            pieces.push(product.output(0));
        }
        let joined = Node::with_name(Box::new(Concat { axis: -1 }), pieces, &name)?;
        replacements.insert((node.id(), 0), joined.output(0));
    }
    let changed = !replacements.is_empty();
    replace_outputs(model, &replacements)?;
    Ok(changed)
}

/// Indices `start..end` of `axis` of a 2-D tensor, as a contiguous tensor (the Slice op's own evaluation).
fn columns(w: &Tensor, axis: usize, start: usize, end: usize) -> Result<Tensor> {
    let scalar = |v: usize| Tensor::from_vec(&[1], vec![v as i64]);
    let slice = create("Slice", 8)?;
    let (start, end, step, axis) = (scalar(start)?, scalar(end)?, scalar(1)?, scalar(axis)?);
    let mut out = slice.evaluate(&[w, &start, &end, &step, &axis])?;
    Ok(out.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Op;
    use crate::ops::structure::ResultOp;
    use crate::plugins::cpu::kernels::testing::Lcg;
    use crate::plugins::gpu::context;
    use crate::plugins::gpu::kernels::testing::{f32_parameter, have_gpu};
    use crate::plugins::gpu::plan::GpuPlan;

    fn matmul(transpose_b: bool, w: &Tensor) -> Model {
        let p = f32_parameter(&[2, 3, 8]);
        let w = constant_node(w.clone(), "w").unwrap();
        let mm = Node::with_name(
            Box::new(MatMul {
                transpose_a: false,
                transpose_b,
            }),
            vec![p.output(0), w.output(0)],
            "fc",
        )
        .unwrap();
        let r = Node::new(Box::new(ResultOp), vec![mm.output(0)]).unwrap();
        Model::new(vec![r], vec![], vec![p], "fc").unwrap()
    }

    #[test]
    fn oversized_weights_become_column_blocks_with_the_same_product() {
        let mut rng = Lcg(12);
        let x = rng.tensor(&[2, 3, 8]);
        let mut caps = Caps::baseline();
        // 8 x 10 f32 weights are 320 bytes: blocks of 3 columns (96 bytes) fit a 100-byte binding.
        caps.max_storage_binding = 100;
        for transpose_b in [false, true] {
            let w = rng.tensor(if transpose_b { &[10, 8] } else { &[8, 10] });
            let model = matmul(transpose_b, &w);
            let want = MatMul {
                transpose_a: false,
                transpose_b,
            }
            .evaluate(&[&x, &w])
            .unwrap()
            .remove(0);
            assert!(split_oversized_weights(&model, &caps).unwrap());
            let ops = model.ordered_ops().unwrap();
            let parts = ops.iter().filter(|n| n.type_name() == "MatMul").count();
            assert_eq!(parts, 4);
            let last = ops.iter().find(|n| n.type_name() == "Concat").unwrap();
            assert_eq!(last.friendly_name(), "fc");
            // Nothing left over the limit: a second run changes nothing.
            assert!(!split_oversized_weights(&model, &caps).unwrap());
            if !have_gpu() {
                continue;
            }
            let plan =
                GpuPlan::build(&model, context::adapter("").unwrap().device().unwrap()).unwrap();
            let mut memory = plan.new_memory().unwrap();
            let got = plan
                .run(std::slice::from_ref(&x), &mut memory, None)
                .unwrap()
                .remove(0);
            assert_eq!(got.shape(), want.shape());
            for (g, w) in got.to_f64_vec().iter().zip(want.to_f64_vec()) {
                assert!((g - w).abs() <= 1e-4 + 1e-3 * w.abs(), "{g} vs {w}");
            }
        }
    }
}
