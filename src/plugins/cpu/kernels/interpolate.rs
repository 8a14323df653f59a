//! f32 Interpolate-4/-11 kernel for 4-D NCHW tensors in nearest, linear and linear_onnx modes: the per-axis taps
//! are built once per run, then each N·C plane is resized by a horizontal and a vertical pass, planes in parallel;
//! where every tap is a single source value (nearest), output rows are gathered from their source row, or copied
//! from the row above when both read the same one. Cases outside that shape (batch or channel resizing, empty
//! planes) run the reference evaluation.

use super::{Kernel, take_output};
use crate::error::Result;
use crate::ir::{ElementType, Tensor};
use crate::ops::interpolate::{Interpolate, InterpolateMode, Taps};
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;

/// Picks the kernel for f32 rank-4 Interpolate-4/-11 in nearest, linear or linear_onnx mode without padding.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let interp = op.as_any().downcast_ref::<Interpolate>()?;
    let data = inputs.first()?;
    let mode_ok = matches!(
        interp.attrs.mode,
        InterpolateMode::Nearest | InterpolateMode::Linear | InterpolateMode::LinearOnnx
    );
    let no_pads = interp
        .attrs
        .pads_begin
        .iter()
        .chain(&interp.attrs.pads_end)
        .all(|&p| p == 0);
    (data.element_type == ElementType::F32 && data.rank() == Some(4) && mode_ok && no_pads)
        .then(|| Box::new(InterpolateKernel(interp.clone())) as Box<dyn Kernel>)
}

/// The NCHW f32 resize kernel.
#[derive(Debug)]
struct InterpolateKernel(Interpolate);

/// Resizes one H×W plane into `dst` (oh×ow) through `tmp` (h×ow).
fn resize_plane(
    plane: &[f32],
    w: usize,
    taps_h: &[Taps],
    taps_w: &[Taps],
    tmp: &mut [f32],
    dst: &mut [f32],
) {
    let ow = taps_w.len();
    for (row, out) in plane.chunks_exact(w).zip(tmp.chunks_exact_mut(ow)) {
        for (o, t) in out.iter_mut().zip(taps_w) {
            *o = t.iter().map(|&(j, wt)| wt * row[j]).sum();
        }
    }
    for (out, t) in dst.chunks_exact_mut(ow).zip(taps_h) {
        out.fill(0.0);
        for &(j, wt) in t {
            let src = &tmp[j * ow..(j + 1) * ow];
            out.iter_mut().zip(src).for_each(|(o, s)| *o += wt * s);
        }
    }
}

/// The source index of every output along an axis whose taps each read one value with weight 1 (nearest), or
/// `None`.
fn single_sources(taps: &[Taps]) -> Option<Vec<usize>> {
    taps.iter()
        .map(|t| match t.as_slice() {
            &[(j, 1.0)] => Some(j),
            _ => None,
        })
        .collect()
}

/// Resizes one H×W plane into `dst` (oh×ow) where output row `r` reads input row `rows[r]` and output column
/// `o` input column `cols[o]` (the caller checked them against the plane's sizes).
fn gather_plane(plane: &[f32], w: usize, rows: &[usize], cols: &[usize], dst: &mut [f32]) {
    let ow = cols.len();
    // Upscaling by a whole factor f: each input value fills f consecutive outputs.
    let factor = (ow / w.max(1)).max(1);
    let repeats = ow == w * factor && cols.iter().enumerate().all(|(o, &j)| j == o / factor);
    for r in 0..rows.len() {
        let (done, rest) = dst.split_at_mut(r * ow);
        let Some(out) = rest.get_mut(..ow) else {
            return;
        };
        if r > 0 && rows[r] == rows[r - 1] {
            out.copy_from_slice(&done[(r - 1) * ow..]);
            continue;
        }
        let row = &plane[rows[r] * w..(rows[r] + 1) * w];
        if repeats {
            for (run, &v) in out.chunks_exact_mut(factor).zip(row) {
                run.fill(v);
            }
        } else {
            for (o, &j) in out.iter_mut().zip(cols) {
                *o = row[j];
            }
        }
    }
}

impl Kernel for InterpolateKernel {
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let plan = self.0.plan(inputs)?;
        let x = inputs[0];
        let (p, o) = (&plan.padded, &plan.out);
        let planes_kept = p.len() == 4 && p[..2] == o[..2] && x.shape() == &p[..];
        if !planes_kept || x.element_type() != ElementType::F32 || o.contains(&0) || p.contains(&0)
        {
            return self.0.evaluate(inputs);
        }
        let (h, w, oh, ow) = (p[2], p[3], o[2], o[3]);
        let (taps_h, taps_w) = (plan.taps(2), plan.taps(3));
        let src = x.typed::<f32>()?;
        let mut y = take_output(spare, 0, ElementType::F32, o);
        let out = y.typed_mut::<f32>()?;
        let planes = out.par_chunks_mut(oh * ow).zip(src.par_chunks(h * w));
        let inside = |sources: &Vec<usize>, len: usize| sources.iter().all(|&j| j < len);
        match (single_sources(&taps_h), single_sources(&taps_w)) {
            (Some(rows), Some(cols)) if inside(&rows, h) && inside(&cols, w) => {
                planes.for_each(|(dst, plane)| gather_plane(plane, w, &rows, &cols, dst))
            }
            _ => planes.for_each_init(
                || vec![0f32; h * ow],
                |tmp, (dst, plane)| resize_plane(plane, w, &taps_h, &taps_w, tmp, dst),
            ),
        }
        Ok(vec![y])
    }
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "interpolate_nchw_f32"
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Lcg, assert_kernel_matches};
    use super::*;
    use crate::ops::interpolate::{CoordinateTransformMode, NearestMode, ShapeCalcMode};

    fn op(v11: bool, mode: InterpolateMode, calc: ShapeCalcMode) -> Interpolate {
        let mut op = Interpolate::new(v11);
        op.attrs.mode = mode;
        op.attrs.shape_calculation_mode = calc;
        op
    }

    fn ints(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn floats(v: &[f32]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn selected_for_nchw_f32_only() {
        let linear = op(true, InterpolateMode::Linear, ShapeCalcMode::Sizes);
        let desc = |et, s: &[usize]| TensorDesc::new(et, crate::ir::PartialShape::from_static(s));
        let sizes = TensorDesc::of_tensor(&ints(&[4, 4]));
        assert!(
            select(
                &linear,
                &[desc(ElementType::F32, &[1, 2, 3, 3]), sizes.clone()]
            )
            .is_some()
        );
        assert!(
            select(
                &linear,
                &[desc(ElementType::F16, &[1, 2, 3, 3]), sizes.clone()]
            )
            .is_none()
        );
        assert!(
            select(
                &linear,
                &[desc(ElementType::F32, &[2, 3, 3]), sizes.clone()]
            )
            .is_none()
        );
        let cubic = op(true, InterpolateMode::Cubic, ShapeCalcMode::Sizes);
        assert!(select(&cubic, &[desc(ElementType::F32, &[1, 2, 3, 3]), sizes]).is_none());
    }

    #[test]
    fn matches_reference_on_random_shapes() {
        let mut rng = Lcg(7);
        let modes = [
            InterpolateMode::Nearest,
            InterpolateMode::Linear,
            InterpolateMode::LinearOnnx,
        ];
        let transforms = [
            CoordinateTransformMode::HalfPixel,
            CoordinateTransformMode::AlignCorners,
            CoordinateTransformMode::Asymmetric,
            CoordinateTransformMode::PytorchHalfPixel,
        ];
        for (i, &mode) in modes.iter().cycle().take(12).enumerate() {
            let shape = [1 + i % 2, 1 + i % 3, 2 + i % 5, 3 + (i * 3) % 7];
            let x = rng.tensor(&shape);
            let mut sizes_op = op(true, mode, ShapeCalcMode::Sizes);
            sizes_op.attrs.coordinate_transformation_mode = transforms[i % transforms.len()];
            sizes_op.attrs.nearest_mode = [
                NearestMode::RoundPreferCeil,
                NearestMode::Floor,
                NearestMode::Simple,
            ][i % 3];
            sizes_op.attrs.antialias = i % 2 == 0;
            let target = ints(&[(1 + i * 2 % 9) as i64, (1 + i * 5 % 11) as i64]);
            assert_kernel_matches(
                &sizes_op,
                &[x.clone(), target, ints(&[2, 3])],
                &[false, true, true],
                1e-5,
                1e-5,
            );
            // Interpolate-4 with scales and negative-free axes given in reverse order.
            let scales_op = op(false, mode, ShapeCalcMode::Scales);
            let inputs = [x.clone(), ints(&[1, 1]), floats(&[0.6, 1.7]), ints(&[3, 2])];
            assert_kernel_matches(&scales_op, &inputs, &[false, true, true, true], 1e-5, 1e-5);
        }
    }

    /// Nearest upscaling by whole factors (each value repeated along the row, rows repeated), with the two
    /// coordinate conventions detectors use, and a downscale whose rows are all distinct.
    #[test]
    fn nearest_whole_factors_match_reference() {
        let mut rng = Lcg(11);
        let x = rng.tensor(&[1, 3, 4, 5]);
        let conventions = [
            (CoordinateTransformMode::Asymmetric, NearestMode::Floor),
            (
                CoordinateTransformMode::HalfPixel,
                NearestMode::RoundPreferFloor,
            ),
        ];
        for (transform, rounding) in conventions {
            for target in [[8, 10], [12, 15], [2, 3]] {
                let mut resize = op(true, InterpolateMode::Nearest, ShapeCalcMode::Sizes);
                resize.attrs.coordinate_transformation_mode = transform;
                resize.attrs.nearest_mode = rounding;
                assert_kernel_matches(
                    &resize,
                    &[x.clone(), ints(&target), ints(&[2, 3])],
                    &[false, true, true],
                    0.0,
                    0.0,
                );
            }
        }
    }

    #[test]
    fn falls_back_where_planes_change_or_are_empty() {
        let mut rng = Lcg(3);
        let all_axes = op(true, InterpolateMode::LinearOnnx, ShapeCalcMode::Sizes);
        // No axes input: every axis, here the channels too.
        let x = rng.tensor(&[1, 2, 3, 4]);
        assert_kernel_matches(
            &all_axes,
            &[x.clone(), ints(&[1, 3, 5, 2])],
            &[false, true],
            1e-6,
            1e-6,
        );
        assert_kernel_matches(
            &all_axes,
            &[x, ints(&[1, 2, 5, 2])],
            &[false, false],
            1e-6,
            1e-6,
        );
        let empty = Tensor::zeros(ElementType::F32, &[0, 2, 3, 4]);
        assert_kernel_matches(
            &all_axes,
            &[empty, ints(&[0, 2, 6, 8])],
            &[false, true],
            0.0,
            0.0,
        );
    }
}
