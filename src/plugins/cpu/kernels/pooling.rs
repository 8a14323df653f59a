//! f32 MaxPool (every version, indices included) and AvgPool kernels: problems lifted to three spatial axes,
//! window taps clipped to the input once per output row instead of tested per tap, parallel over N·C planes.
//! MaxPool without indices (version 1, or a later one whose indices nobody reads) takes the running max of one
//! input run per tap over each output row, which vectorises.

use super::conv::{PhasedRows, ow_range, tap_range, tap_source};
use super::reduction::sum_f32;
use super::{Kernel, math, max_pool_stride2, take_output, with_scratch};
use crate::error::Result;
use crate::ir::{ElementType, Tensor};
use crate::ops::conv::{Axis, lift3};
use crate::ops::pooling::{AvgPool, MaxPool, empty_window_max};
use crate::ops::util::check_input_count;
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;

/// Input values an AvgPool task takes (whole planes, at least one).
const TASK_VALUES: usize = 1 << 14;

/// Picks the f32 MaxPool or AvgPool kernel.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    if inputs.len() != 1 || inputs[0].element_type != ElementType::F32 {
        return None;
    }
    let any = op.as_any();
    if let Some(m) = any.downcast_ref::<MaxPool>() {
        return Some(Box::new(MaxPoolKernel {
            op: m.clone(),
            indices: m.has_indices(),
        }));
    }
    any.downcast_ref::<AvgPool>()
        .map(|a| Box::new(AvgPoolKernel(a.clone())) as Box<dyn Kernel>)
}

/// The f32 MaxPool kernel for a node whose indices output nobody reads: it produces the values only (one
/// output), so the plan must give the node no slot for its indices.
pub fn select_values_only(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let m = op.as_any().downcast_ref::<MaxPool>()?;
    let [x] = inputs else { return None };
    (x.element_type == ElementType::F32).then(|| {
        Box::new(MaxPoolKernel {
            op: m.clone(),
            indices: false,
        }) as Box<dyn Kernel>
    })
}

/// Plane geometry shared by the pooling kernels.
struct Planes {
    axes: [Axis; 3],
    in_size: usize,
    out_size: usize,
    count: usize,
    out_shape: Vec<usize>,
}

impl Planes {
    fn new(shape: &[usize], axes: &[Axis]) -> Result<Planes> {
        let lifted = lift3(axes)?;
        let mut out_shape = shape[..2].to_vec();
        out_shape.extend(axes.iter().map(|a| a.output));
        Ok(Planes {
            axes: lifted,
            in_size: lifted.iter().map(|a| a.input).product(),
            out_size: lifted.iter().map(|a| a.output).product(),
            count: shape[0] * shape[1],
            out_shape,
        })
    }

    /// Calls `f(flat_output, taps_d, taps_h, taps_w, [od, oh, ow])` for every output position of one plane.
    fn for_each_window(&self, mut f: impl FnMut(usize, [std::ops::Range<usize>; 3], [usize; 3])) {
        let a = &self.axes;
        let mut i = 0;
        for od in 0..a[0].output {
            let rd = tap_range(&a[0], od);
            for oh in 0..a[1].output {
                let rh = tap_range(&a[1], oh);
                for ow in 0..a[2].output {
                    f(
                        i,
                        [rd.clone(), rh.clone(), tap_range(&a[2], ow)],
                        [od, oh, ow],
                    );
                    i += 1;
                }
            }
        }
    }

    /// True when a plane has one window, which covers its input exactly (no padding, every tap once).
    fn is_global(&self) -> bool {
        self.axes.iter().all(|a| {
            a.output == 1
                && a.kernel == a.input
                && a.dilation == 1
                && a.pad_begin == 0
                && a.pad_end == 0
        })
    }

    /// True when every window holds at least one input value (padding alone never makes a window).
    fn no_empty_window(&self) -> bool {
        self.axes
            .iter()
            .all(|a| (0..a.output).all(|o| !tap_range(a, o).is_empty()))
    }

    /// The offset within the plane of taps `k` of output `o`.
    fn offset(&self, o: [usize; 3], k: [usize; 3]) -> usize {
        let a = &self.axes;
        let d = tap_source(&a[0], o[0], k[0]);
        let h = tap_source(&a[1], o[1], k[1]);
        (d * a[1].input + h) * a[2].input + tap_source(&a[2], o[2], k[2])
    }
}

/// The f32 MaxPool kernel.
#[derive(Debug)]
struct MaxPoolKernel {
    op: MaxPool,
    /// Whether it computes (and returns) the indices output.
    indices: bool,
}

impl Kernel for MaxPoolKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        let (axes, axis_size) = self.op.resolve(x.shape())?;
        let p = Planes::new(x.shape(), &axes)?;
        let xs = x.typed::<f32>()?;
        let mut values = take_output(spare, 0, ElementType::F32, &p.out_shape);
        if !self.indices && p.no_empty_window() {
            if p.out_size > 0 {
                let runs = WidthRuns::new(&p.axes[2]);
                values
                    .typed_mut::<f32>()?
                    .par_chunks_mut(p.out_size)
                    .enumerate()
                    .for_each(|(c, v)| {
                        let base = c * p.in_size;
                        max_values_plane(&p, &runs, &xs[base..base + p.in_size], v);
                    });
            }
            return Ok(vec![values]);
        }
        let mut indices = vec![0i64; p.count * p.out_size];
        if p.out_size > 0 {
            let vs = values.typed_mut::<f32>()?;
            vs.par_chunks_mut(p.out_size)
                .zip(indices.par_chunks_mut(p.out_size))
                .enumerate()
                .for_each(|(c, (v, idx))| {
                    let base = c * p.in_size;
                    max_plane(&p, &xs[base..base + p.in_size], v, idx);
                    for i in idx.iter_mut() {
                        *i = ((base + *i as usize) % axis_size.max(1)) as i64;
                    }
                });
        }
        let mut out = vec![values];
        if self.indices {
            out.push(Tensor::from_i64s(
                self.op.index_element_type,
                &p.out_shape,
                &indices,
            )?);
        }
        Ok(out)
    }
    fn name(&self) -> &'static str {
        "max_pool_f32"
    }
}

/// Max over each window of one plane, values only, when no window is all padding. 2-D windows with stride 2
/// along the width run [`max_pool_stride2`] where the CPU has AVX-512F, 2-D windows with unit strides run
/// [`max_unit_stride`]; otherwise the plane's rows are laid out split into stride phases
/// ([`PhasedRows`]), so that the input values one tap reads for a row of outputs are contiguous, and each
/// output row starts at -inf and takes, per tap, the max with that run.
fn max_values_plane(p: &Planes, runs: &WidthRuns, x: &[f32], v: &mut [f32]) {
    if max_pool_stride2::suits(&p.axes) {
        with_scratch(max_pool_stride2::scratch_len(&p.axes), |row| {
            max_pool_stride2::max_plane(&p.axes, x, row, v)
        });
        return;
    }
    if let Some(grid) = UnitStrideGrid::of(&p.axes) {
        with_scratch(grid.scratch_len(), |scratch| {
            max_unit_stride_best(&p.axes, &grid, x, scratch, v)
        });
        return;
    }
    let rows = p.axes[0].input * p.axes[1].input;
    with_scratch(rows * runs.layout.row_len, |phased| {
        max_values_rows_best(p, runs, x, phased, v)
    });
}

/// The padded plane of a 2-D max pool with strides and dilations of 1 (YOLO's SPPF): `rows × pitch` values,
/// exactly the extent the windows cover, so that an output `(r, c)`'s window starts at `r · pitch + c` and
/// the plane can be swept as one long run.
struct UnitStrideGrid {
    rows: usize,
    pitch: usize,
}

impl UnitStrideGrid {
    /// The grid of `a` (depth, height, width) where the depth axis is trivial and the others have strides and
    /// dilations of 1.
    fn of(a: &[Axis; 3]) -> Option<UnitStrideGrid> {
        let unit = |x: &Axis| x.stride == 1 && x.dilation == 1 && x.kernel >= 1 && x.output >= 1;
        let trivial_depth = a[0].input == 1 && a[0].output == 1 && a[0].kernel == 1;
        (trivial_depth && unit(&a[1]) && unit(&a[2])).then(|| UnitStrideGrid {
            rows: a[1].output + a[1].kernel - 1,
            pitch: a[2].output + a[2].kernel - 1,
        })
    }

    /// Scratch values [`max_unit_stride`] needs: the padded plane and its row maxima.
    fn scratch_len(&self) -> usize {
        2 * self.rows * self.pitch
    }
}

/// Max pool of one plane on a [`UnitStrideGrid`], separably: the input is laid into the grid among -inf
/// padding, the maxima of each `kw` consecutive values are taken along the whole grid as one run (those that
/// straddle two rows are never read), then the maxima of `kh` of those a row apart, whose first `ow` of every
/// row are the outputs. `kh + kw` vector passes instead of `kh · kw`, and no short rows. A NaN input is
/// skipped (f32::max), as the reference does.
#[inline(always)]
fn max_unit_stride(
    a: &[Axis; 3],
    grid: &UnitStrideGrid,
    x: &[f32],
    scratch: &mut [f32],
    v: &mut [f32],
) {
    let (h, w) = (&a[1], &a[2]);
    let (pitch, len) = (grid.pitch, grid.rows * grid.pitch);
    let Some((padded, across)) = scratch.get_mut(..2 * len).map(|s| s.split_at_mut(len)) else {
        return;
    };
    padded.fill(f32::NEG_INFINITY);
    let width = w.input.min(pitch.saturating_sub(w.pad_begin));
    for (i, src) in x.chunks_exact(w.input.max(1)).enumerate() {
        let at = (h.pad_begin + i) * pitch + w.pad_begin;
        if let Some(dst) = padded.get_mut(at..at + width) {
            dst.copy_from_slice(&src[..width]);
        }
    }
    across.fill(f32::NEG_INFINITY);
    for k in 0..w.kernel {
        for (m, value) in across.iter_mut().zip(&padded[k..]) {
            *m = m.max(*value);
        }
    }
    // The vertical pass reuses `padded` for its result: output row r at r · pitch.
    let outputs = (h.output - 1) * pitch + w.output;
    let down = &mut padded[..outputs];
    down.fill(f32::NEG_INFINITY);
    for k in 0..h.kernel {
        for (m, value) in down.iter_mut().zip(&across[k * pitch..]) {
            *m = m.max(*value);
        }
    }
    for (r, out) in v.chunks_exact_mut(w.output).enumerate() {
        out.copy_from_slice(&down[r * pitch..r * pitch + w.output]);
    }
}

math::best_isa_fn! {
    /// [`max_unit_stride`] compiled for the best ISA.
    fn max_unit_stride_best[](
        a: &[Axis; 3],
        grid: &UnitStrideGrid,
        x: &[f32],
        scratch: &mut [f32],
        v: &mut [f32],
    ) => max_unit_stride
}

/// [`max_values_plane`]'s work, `phased` holding the laid-out rows (a function of its own, not a closure, so
/// that its loops compile for the best ISA).
#[inline(always)]
fn max_values_rows(p: &Planes, runs: &WidthRuns, x: &[f32], phased: &mut [f32], v: &mut [f32]) {
    let a = &p.axes;
    let (oh_n, iw, layout) = (a[1].output.max(1), a[2].input, &runs.layout);
    for (src, out) in x
        .chunks_exact(iw.max(1))
        .zip(phased.chunks_exact_mut(layout.row_len))
    {
        layout.fill(src, out);
    }
    for (l, line) in v.chunks_exact_mut(a[2].output.max(1)).enumerate() {
        let (od, oh) = (l / oh_n, l % oh_n);
        line.fill(f32::NEG_INFINITY);
        for kd in tap_range(&a[0], od) {
            let d = tap_source(&a[0], od, kd);
            for kh in tap_range(&a[1], oh) {
                let row = (d * a[1].input + tap_source(&a[1], oh, kh)) * layout.row_len;
                for (outs, offset) in &runs.taps {
                    let from = row + offset + outs.start;
                    let reads = phased.get(from..from + outs.len()).unwrap_or(&[]);
                    for (o, value) in line[outs.clone()].iter_mut().zip(reads) {
                        // f32::max skips a NaN input, as the reference does. (A compare-and-select that
                        // keeps `*o` is turned into a masked store, microcoded and slow on AMD CPUs.)
                        *o = o.max(*value);
                    }
                }
            }
        }
    }
}

math::best_isa_fn! {
    /// [`max_values_rows`] compiled for the best ISA.
    fn max_values_rows_best[](
        p: &Planes,
        runs: &WidthRuns,
        x: &[f32],
        phased: &mut [f32],
        v: &mut [f32],
    ) => max_values_rows
}

/// The phased row layout of [`max_values_plane`] and, per tap along the width, the outputs it reaches in the
/// input and where output 0 reads it in a laid-out row (taps reaching no output left out): the same for every
/// plane of a run.
struct WidthRuns {
    layout: PhasedRows,
    taps: Vec<(std::ops::Range<usize>, usize)>,
}

impl WidthRuns {
    fn new(aw: &Axis) -> WidthRuns {
        let layout = PhasedRows::new(aw);
        let taps = (0..aw.kernel)
            .map(|kw| (ow_range(aw, kw), layout.tap_offset(aw, kw)))
            .filter(|(outs, _)| !outs.is_empty())
            .collect();
        WidthRuns { layout, taps }
    }
}

/// Max over each window of one plane; `idx` receives offsets within the plane (0 for all-padding windows).
fn max_plane(p: &Planes, x: &[f32], v: &mut [f32], idx: &mut [i64]) {
    p.for_each_window(|i, [rd, rh, rw], o| {
        let mut best = (empty_window_max::<f32>(), 0usize, false);
        for kd in rd {
            for kh in rh.clone() {
                for kw in rw.clone() {
                    let off = p.offset(o, [kd, kh, kw]);
                    if !best.2 || x[off] > best.0 {
                        best = (x[off], off, true);
                    }
                }
            }
        }
        v[i] = best.0;
        idx[i] = best.1 as i64;
    });
}

/// The f32 AvgPool kernel.
#[derive(Debug)]
struct AvgPoolKernel(AvgPool);

impl Kernel for AvgPoolKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        let axes = self.0.resolve(x.shape())?;
        let p = Planes::new(x.shape(), &axes)?;
        let xs = x.typed::<f32>()?;
        let mut out = take_output(spare, 0, ElementType::F32, &p.out_shape);
        if p.out_size == 0 {
            return Ok(vec![out]);
        }
        if p.in_size == 0 {
            // Empty planes: every window is padding alone.
            for v in out.typed_mut::<f32>()?.chunks_exact_mut(p.out_size) {
                avg_plane(&p, &[], self.0.exclude_pad, v);
            }
            return Ok(vec![out]);
        }
        // Whole planes per task, about TASK_VALUES input values each.
        let planes = (TASK_VALUES / p.in_size).max(1);
        let tasks = out
            .typed_mut::<f32>()?
            .par_chunks_mut(planes * p.out_size)
            .zip(xs.par_chunks(planes * p.in_size));
        if p.is_global() {
            // One window covering each plane exactly (GlobalAveragePool): a vectorised sum per plane.
            let count = p.in_size as f32;
            tasks.for_each(|(v, x)| {
                for (o, plane) in v.iter_mut().zip(x.chunks_exact(p.in_size)) {
                    *o = sum_f32(plane) / count;
                }
            });
        } else {
            let exclude = self.0.exclude_pad;
            tasks.for_each(|(v, x)| {
                for (o, plane) in v
                    .chunks_exact_mut(p.out_size)
                    .zip(x.chunks_exact(p.in_size))
                {
                    avg_plane(&p, plane, exclude, o);
                }
            });
        }
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "avg_pool_f32"
    }
}

/// The number of taps of output `o` inside the padded input along axis `a`.
fn padded_taps(a: &Axis, o: usize) -> usize {
    (a.pad_begin + a.input + a.pad_end)
        .saturating_sub(o * a.stride)
        .div_ceil(a.dilation)
        .min(a.kernel)
}

/// Average over each window of one plane (sum in f32, divided by the tap count that `exclude_pad` selects).
fn avg_plane(p: &Planes, x: &[f32], exclude_pad: bool, v: &mut [f32]) {
    let a = &p.axes;
    p.for_each_window(|i, [rd, rh, rw], o| {
        let count = if exclude_pad {
            rd.len() * rh.len() * rw.len()
        } else {
            (0..3).map(|d| padded_taps(&a[d], o[d])).product()
        };
        let mut sum = 0.0f32;
        for kd in rd {
            for kh in rh.clone() {
                for kw in rw.clone() {
                    sum += x[p.offset(o, [kd, kh, kw])];
                }
            }
        }
        v[i] = sum / count as f32;
    });
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Lcg, assert_kernel_matches};
    use super::*;
    use crate::ops::conv::{AutoPad, RoundingType};
    use crate::ops::pooling::PoolAttrs;

    fn attrs(
        k: &[i64],
        s: &[i64],
        d: &[i64],
        pb: &[i64],
        pe: &[i64],
        rt: RoundingType,
        ap: AutoPad,
    ) -> PoolAttrs {
        PoolAttrs {
            kernel: k.to_vec(),
            strides: s.to_vec(),
            dilations: d.to_vec(),
            pads_begin: pb.to_vec(),
            pads_end: pe.to_vec(),
            rounding_type: rt,
            auto_pad: ap,
        }
    }

    #[test]
    fn max_pool_ties_and_nans_pick_what_the_reference_picks() {
        // Values from a few levels so that windows hold ties, and NaN at the start of some windows and in the
        // middle of others.
        // Rows of 40: stride-2 windows span several vectors of the AVX-512 path.
        let values: Vec<f32> = (0..2 * 7 * 40)
            .map(|i| match i % 11 {
                3 | 8 => f32::NAN,
                k => (k % 3) as f32,
            })
            .collect();
        // The values-only kernels skip a NaN wherever it falls: the reference's values with NaN read as -inf.
        let skipped: Vec<f32> = values
            .iter()
            .map(|&v| if v.is_nan() { f32::NEG_INFINITY } else { v })
            .collect();
        let skipped = Tensor::from_vec(&[1, 2, 7, 40], skipped).unwrap();
        let x = [Tensor::from_vec(&[1, 2, 7, 40], values).unwrap()];
        for (kernel, strides, pads) in [
            ([3, 3], [1, 1], [1, 1]),
            ([2, 3], [2, 1], [0, 2]),
            ([3, 3], [2, 2], [1, 1]),
            ([2, 5], [1, 2], [0, 2]),
        ] {
            let mut m = MaxPool::new(8);
            m.attrs = attrs(
                &kernel,
                &strides,
                &[1, 1],
                &pads,
                &pads,
                RoundingType::Ceil,
                AutoPad::Explicit,
            );
            assert_kernel_matches(&m, &x, &[], 0.0, 0.0);
            values_only_matches_reference(&m, &x[0], &skipped);
        }
    }

    #[test]
    fn kernels_match_reference() {
        let mut rng = Lcg(11);
        let rts = [
            RoundingType::Floor,
            RoundingType::Ceil,
            RoundingType::CeilTorch,
        ];
        let aps = [
            AutoPad::Explicit,
            AutoPad::SameUpper,
            AutoPad::SameLower,
            AutoPad::Valid,
        ];
        let shapes: [(&[usize], PoolAttrs); 11] = [
            // A window covering the whole plane (GlobalAveragePool's) under explicit and VALID padding, and
            // the padded windows the other padding modes make of it.
            (
                &[2, 3, 7, 7],
                attrs(
                    &[7, 7],
                    &[1, 1],
                    &[1, 1],
                    &[0, 0],
                    &[0, 0],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            // Stride 2 along the width (the AVX-512 path where there is one): ResNet's 3x3/2 over rows of two
            // vectors and a masked tail, and a 1-D window of 5 whose left padding is 2.
            (
                &[1, 3, 9, 37],
                attrs(
                    &[3, 3],
                    &[2, 2],
                    &[1, 1],
                    &[1, 1],
                    &[1, 1],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[2, 2, 70],
                attrs(
                    &[5],
                    &[2],
                    &[1],
                    &[2],
                    &[2],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            // Strides of 1 (the separable path): YOLO's SPPF 5x5, an asymmetric 3x2 window, and 1-D.
            (
                &[1, 3, 7, 9],
                attrs(
                    &[5, 5],
                    &[1, 1],
                    &[1, 1],
                    &[2, 2],
                    &[2, 2],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[2, 2, 6, 5],
                attrs(
                    &[3, 2],
                    &[1, 1],
                    &[1, 1],
                    &[1, 0],
                    &[0, 1],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[2, 3, 17],
                attrs(
                    &[4],
                    &[1],
                    &[1],
                    &[1],
                    &[2],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[2, 3, 9, 11],
                attrs(
                    &[3, 2],
                    &[2, 2],
                    &[1, 2],
                    &[1, 0],
                    &[1, 1],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[1, 4, 5, 5],
                attrs(
                    &[2, 2],
                    &[2, 2],
                    &[],
                    &[1, 1],
                    &[1, 1],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[3, 2, 13],
                attrs(
                    &[4],
                    &[3],
                    &[2],
                    &[2],
                    &[3],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[1, 2, 4, 6, 5],
                attrs(
                    &[2, 3, 2],
                    &[1, 2, 2],
                    &[1, 1, 2],
                    &[0, 1, 1],
                    &[1, 1, 0],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
            (
                &[0, 3, 6, 6],
                attrs(
                    &[2, 2],
                    &[2, 2],
                    &[],
                    &[],
                    &[],
                    RoundingType::Floor,
                    AutoPad::Explicit,
                ),
            ),
        ];
        for (shape, base) in &shapes {
            let x = [rng.tensor(shape)];
            for rt in rts {
                for ap in aps {
                    let a = PoolAttrs {
                        rounding_type: rt,
                        auto_pad: ap,
                        ..base.clone()
                    };
                    for version in [1, 8, 14] {
                        let mut m = MaxPool::new(version);
                        m.attrs = a.clone();
                        if version == 1 {
                            m.attrs.dilations.clear();
                        }
                        for axis in [0, 1, -1] {
                            m.axis = axis;
                            if m.infer(&[TensorDesc::of_tensor(&x[0])]).is_ok() {
                                assert_kernel_matches(&m, &x, &[], 0.0, 0.0);
                                values_only_matches_reference(&m, &x[0], &x[0]);
                            }
                        }
                    }
                    for exclude_pad in [true, false] {
                        let mut p = AvgPool::new(16);
                        (p.attrs, p.exclude_pad) = (a.clone(), exclude_pad);
                        assert_kernel_matches(&p, &x, &[], 1e-5, 1e-5);
                    }
                }
            }
        }
    }

    #[test]
    fn global_average_pool_matches_reference() {
        let mut rng = Lcg(5);
        // Many planes per task; planes larger than a task; a 1-D and a 3-D window.
        let cases: [(&[usize], &[i64]); 4] = [
            (&[1, 2048, 7, 7], &[7, 7]),
            (&[1, 3, 130, 131], &[130, 131]),
            (&[2, 5, 9], &[9]),
            (&[1, 2, 3, 4, 5], &[3, 4, 5]),
        ];
        for (shape, kernel) in cases {
            let x = [rng.tensor(shape)];
            let zeros = vec![0i64; kernel.len()];
            let ones = vec![1i64; kernel.len()];
            for exclude_pad in [true, false] {
                let mut p = AvgPool::new(16);
                p.exclude_pad = exclude_pad;
                p.attrs = attrs(
                    kernel,
                    &ones,
                    &ones,
                    &zeros,
                    &zeros,
                    RoundingType::Floor,
                    AutoPad::Explicit,
                );
                assert_kernel_matches(&p, &x, &[], 1e-5, 1e-5);
            }
        }
    }

    /// Planes of no values padded into windows: the windows' averages over their padding (0), as the reference
    /// says, in every output value, none left as the recycled output buffer held it.
    #[test]
    fn average_pool_of_empty_planes_averages_the_padding() {
        let x = Tensor::from_vec(&[1, 2, 0, 0], Vec::<f32>::new()).unwrap();
        let mut p = AvgPool::new(16);
        p.exclude_pad = false;
        p.attrs = attrs(
            &[2, 2],
            &[1, 1],
            &[1, 1],
            &[1, 1],
            &[1, 1],
            RoundingType::Floor,
            AutoPad::Explicit,
        );
        let want = p.evaluate(&[&x]).unwrap();
        let kernel = select(&p, &[TensorDesc::of_tensor(&x)]).unwrap();
        let stale = Tensor::from_vec(want[0].shape(), vec![7.0f32; want[0].len()]).unwrap();
        let got = kernel.run_recycling(&[&x], &mut [Some(stale)]).unwrap();
        assert_eq!(
            want[0].typed::<f32>().unwrap(),
            got[0].typed::<f32>().unwrap()
        );
    }

    /// The values-only kernel returns on `x` exactly the reference's values on `expected_from` (and nothing
    /// else).
    fn values_only_matches_reference(m: &MaxPool, x: &Tensor, expected_from: &Tensor) {
        let kernel = select_values_only(m, &[TensorDesc::of_tensor(x)]).unwrap();
        let got = kernel.run(&[x]).unwrap();
        let want = m.evaluate(&[expected_from]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].shape(), want[0].shape());
        assert_eq!(
            got[0].typed::<f32>().unwrap(),
            want[0].typed::<f32>().unwrap()
        );
    }

    #[test]
    fn selection() {
        let d = TensorDesc::new(
            ElementType::F32,
            crate::ir::PartialShape::from_static(&[1, 1, 4]),
        );
        assert_eq!(
            super::super::select(&MaxPool::new(8), std::slice::from_ref(&d)).name(),
            "max_pool_f32"
        );
        assert_eq!(
            super::super::select(&AvgPool::new(1), std::slice::from_ref(&d)).name(),
            "avg_pool_f32"
        );
        let h = TensorDesc::new(
            ElementType::F16,
            crate::ir::PartialShape::from_static(&[1, 1, 4]),
        );
        assert!(select(&MaxPool::new(8), &[h]).is_none());
        let k = super::super::select(&MaxPool::new(8), &[d]);
        assert!(
            k.run(&[&Tensor::zeros(ElementType::F32, &[1, 1, 4])])
                .is_err()
        );
    }
}
