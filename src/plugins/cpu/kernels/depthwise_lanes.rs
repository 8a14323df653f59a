//! Depthwise 2-D convolution with sixteen channels in the lanes of an AVX-512 register (x86-64), for output
//! planes of at most 32x32, where [`super::depthwise`]'s per-channel work (laying out, storing, its stride
//! phases) weighs as much as the sums, and whose filters [`super::depthwise_rows`] does not take (dilated,
//! not square, other sizes and strides).
//!
//! A task takes sixteen channels of one batch. Their input planes are interleaved once, 16 × 16 blocks at a
//! time through register transposes, into a zero-padded copy holding one vector of sixteen channels per
//! position; every output position is then a sum of one fused multiply-add per tap of whole vectors, any
//! stride or dilation being only a different address, started from the bias and clamped in registers; up to
//! sixteen positions of an output row (or, with unit strides and short rows, sixteen consecutive positions of
//! the padded grid across rows) are transposed back and stored as runs of each channel's NCHW plane.

use super::{transpose16, with_scratch};
use crate::ops::conv::Axis;
use rayon::prelude::*;

/// Channels per task: the lanes of one vector.
pub const LANES: usize = 16;
/// The largest output plane this path takes (larger planes keep enough work per channel for
/// [`super::depthwise`], which needs no transposes).
const MAX_OUTPUT_PLANE: usize = 32 * 32;

/// Whether [`convolve`] runs the depthwise convolution of `axes` (depth, height, width): the CPU has
/// AVX-512F, the depth axis is trivial and the output plane small.
pub fn suits(axes: &[Axis; 3]) -> bool {
    let [d, h, w] = axes;
    let trivial_depth = d.input == 1 && d.output == 1 && d.kernel == 1 && d.pad_begin == 0;
    super::direct_conv::available()
        && trivial_depth
        && h.output * w.output <= MAX_OUTPUT_PLANE
        && h.output > 0
        && w.output > 0
}

/// The padded copy of one task's input planes: the rows and columns the outputs reach.
#[derive(Debug, Clone, Copy)]
pub struct Padded {
    /// Rows of the copy.
    pub rows: usize,
    /// Columns of the copy.
    pub cols: usize,
}

impl Padded {
    /// Values of the copy: a vector per position, and the slack that the last row's block of sixteen
    /// positions reads past its end (`stride` columns apart).
    fn len(&self, stride: usize) -> usize {
        (self.rows * self.cols + LANES * stride + 1) * LANES
    }

    fn new(h: &Axis, w: &Axis) -> Padded {
        let reach = |a: &Axis| (a.output - 1) * a.stride + (a.kernel.max(1) - 1) * a.dilation + 1;
        Padded {
            rows: reach(h),
            cols: reach(w),
        }
    }
}

/// Depthwise convolution of `x` (`jobs` channel planes, batches one after another, `groups` channels per
/// batch) with `w` (each channel's taps) into `out`, each output starting from `bias[channel]` (zero when
/// `bias` is empty) and clamped to `bounds` when given. Call only where [`suits`] holds (it returns at once
/// where the buffers do not match the geometry).
pub fn convolve(
    x: &[f32],
    w: &[f32],
    axes: &[Axis; 3],
    groups: usize,
    bias: &[f32],
    bounds: Option<(f32, f32)>,
    out: &mut [f32],
) {
    let [_, h, wd] = axes;
    let (isz, osz) = (h.input * wd.input, h.output * wd.output);
    let taps = h.kernel * wd.kernel;
    let groups = groups.max(1);
    if osz == 0 || !out.len().is_multiple_of(groups * osz) || x.len() != out.len() / osz * isz {
        return;
    }
    let padded = Padded::new(h, wd);
    // Items: (batch, first channel, the output planes of up to LANES channels).
    let mut items: Vec<(usize, usize, &mut [f32])> = Vec::new();
    for (b, planes) in out.chunks_mut(groups * osz).enumerate() {
        for (i, block) in planes.chunks_mut(LANES * osz).enumerate() {
            items.push((b, i * LANES, block));
        }
    }
    let copy_len = padded.len(wd.stride);
    let scratch_len = copy_len + taps * LANES + LANES;
    items.into_par_iter().for_each(|(b, c0, dst)| {
        let count = dst.len() / osz;
        let first = (b * groups + c0) * isz;
        let Some(xs) = x.get(first..first + count * isz) else {
            return;
        };
        let Some(ws) = w.get(c0 * taps..(c0 + count) * taps) else {
            return;
        };
        let biases = bias.get(c0..c0 + count).unwrap_or(&[]);
        with_scratch(scratch_len, |scratch| {
            let (copy, rest) = scratch.split_at_mut(copy_len);
            let (lane_weights, lane_bias) = rest.split_at_mut(taps * LANES);
            // Tap t's weights of the sixteen channels side by side; missing channels weigh zero.
            lane_weights.fill(0.0);
            for (c, channel) in ws.chunks_exact(taps.max(1)).enumerate() {
                for (t, &v) in channel.iter().enumerate() {
                    lane_weights[t * LANES + c] = v;
                }
            }
            lane_bias.fill(0.0);
            lane_bias[..biases.len()].copy_from_slice(biases);
            let task = Task {
                x: xs,
                channels: count,
                h: *h,
                w: *wd,
                padded,
                weights: lane_weights,
                bias: lane_bias,
                bounds,
            };
            if super::direct_conv::available() {
                // SAFETY: the CPU has AVX-512F; `copy` holds the padded planes and `dst` the task's output
                // planes.
                unsafe { task.run(copy, dst) };
            }
        });
    });
}

/// One task: up to [`LANES`] channels of one batch.
struct Task<'a> {
    /// The channels' input planes, one after another.
    x: &'a [f32],
    /// Channels in the task (at most [`LANES`]).
    channels: usize,
    /// The height axis.
    h: Axis,
    /// The width axis.
    w: Axis,
    /// The padded copy's extent.
    padded: Padded,
    /// `taps × LANES`: tap `t`'s weight of channel `c` at `t · LANES + c` (zero past the task's channels).
    weights: &'a [f32],
    /// The channels' biases (`LANES` values).
    bias: &'a [f32],
    /// The clamp, if any.
    bounds: Option<(f32, f32)>,
}

impl Task<'_> {
    /// Interleaves the input into `copy`, then computes and stores every output into `out` (the channels'
    /// output planes).
    ///
    /// # Safety
    /// The CPU has AVX-512F; `copy` holds `padded.rows · padded.cols · LANES` values, `out` the task's output
    /// planes, `x` its input planes.
    #[target_feature(enable = "avx512f")]
    unsafe fn run(&self, copy: &mut [f32], out: &mut [f32]) {
        let osz = self.h.output * self.w.output;
        let isz = self.h.input * self.w.input;
        let n = self.channels;
        if copy.len() < self.padded.len(self.w.stride)
            || out.len() < n * osz
            || self.x.len() < n * isz
            || self.weights.len() < self.h.kernel * self.w.kernel * LANES
            || self.bias.len() < LANES
        {
            return;
        }
        // SAFETY: the sizes just checked.
        unsafe {
            self.interleave(copy);
            match (self.bounds.is_some(), self.w.stride) {
                (true, 1) => self.sums::<true, 1>(copy, out),
                (true, 2) => self.sums::<true, 2>(copy, out),
                (true, _) => self.sums::<true, 0>(copy, out),
                (false, 1) => self.sums::<false, 1>(copy, out),
                (false, 2) => self.sums::<false, 2>(copy, out),
                (false, _) => self.sums::<false, 0>(copy, out),
            }
        }
    }

    /// Writes each input position's sixteen channel values as one vector at its padded position in `copy`
    /// (input columns and rows the outputs never reach are left out), and zeros everywhere else (the slack
    /// included).
    ///
    /// # Safety
    /// As [`Task::run`], sizes checked.
    #[target_feature(enable = "avx512f")]
    unsafe fn interleave(&self, copy: &mut [f32]) {
        use std::arch::x86_64::*;
        let (width, isz) = (self.w.input, self.h.input * self.w.input);
        let (cols, pad_left) = (self.padded.cols, self.w.pad_begin);
        let reached = width.min(cols.saturating_sub(pad_left));
        // Zeros where no input value lands: the padding rows (and the slack after them), and the padding
        // columns of the rows in between.
        let row_len = cols * LANES;
        let first = self.h.pad_begin.min(self.padded.rows);
        let last = (self.h.pad_begin + self.h.input).min(self.padded.rows);
        let (top, rest) = copy.split_at_mut((first * row_len).min(copy.len()));
        top.fill(0.0);
        let (middle, bottom) = rest.split_at_mut(((last - first) * row_len).min(rest.len()));
        bottom.fill(0.0);
        for row in middle.chunks_exact_mut(row_len.max(1)) {
            let (left, inside) = row.split_at_mut((pad_left * LANES).min(row_len));
            left.fill(0.0);
            if let Some(right) = inside.get_mut(reached * LANES..) {
                right.fill(0.0);
            }
        }
        for ih in 0..self.h.input {
            let row = ih + self.h.pad_begin;
            if row >= self.padded.rows {
                break;
            }
            for iw0 in (0..reached).step_by(LANES) {
                let run = (reached - iw0).min(LANES);
                let mask: __mmask16 = ((1u32 << run) - 1) as __mmask16;
                let mut lanes = [_mm512_setzero_ps(); LANES];
                for (c, v) in lanes.iter_mut().enumerate().take(self.channels) {
                    // SAFETY: `run` values of channel c's row ih from column iw0 (within the plane).
                    *v = unsafe {
                        _mm512_maskz_loadu_ps(mask, self.x.as_ptr().add(c * isz + ih * width + iw0))
                    };
                }
                let positions = transpose16(lanes);
                for (j, v) in positions.iter().enumerate().take(run) {
                    let at = (row * cols + pad_left + iw0 + j) * LANES;
                    // SAFETY: row < rows and pad_left + iw0 + j < cols: within `copy`.
                    unsafe { _mm512_storeu_ps(copy.as_mut_ptr().add(at), *v) };
                }
            }
        }
    }

    /// Every output position's vector of sixteen channels: the bias plus one multiply-add per tap, clamped
    /// when `CLAMP`; blocks of sixteen positions (`S`: the width stride when it is 1 or 2, 0 for any other),
    /// transposed back into runs of each channel's plane. A block covers up to sixteen positions of one output
    /// row, or, with unit strides where that takes fewer blocks (rows of 7), sixteen consecutive positions of
    /// the padded grid across rows, whose positions past a row's end are dropped.
    ///
    /// # Safety
    /// As [`Task::run`], sizes checked (the copy's slack included); `copy` interleaved.
    #[target_feature(enable = "avx512f")]
    unsafe fn sums<const CLAMP: bool, const S: usize>(&self, copy: &[f32], out: &mut [f32]) {
        use std::arch::x86_64::*;
        let (h, w) = (&self.h, &self.w);
        let (osz, cols) = (h.output * w.output, self.padded.cols);
        let step = if S == 0 { w.stride } else { S };
        let dst = out.as_mut_ptr();
        // Stores lanes `first..` of the mask to channel c's output plane from position `at` on (lane 0 would
        // go `first` values before `at`, where nothing is stored).
        let store = |c: usize, at: usize, first: usize, mask: __mmask16, v: __m512| {
            // SAFETY (callers): the mask's lanes land within channel c's output plane, `c · osz` into `out`.
            unsafe {
                _mm512_mask_storeu_ps(dst.wrapping_add(c * osz + at).wrapping_sub(first), mask, v)
            }
        };
        let across = (h.output - 1) * cols + w.output;
        if S == 1 && h.stride == 1 && across.div_ceil(LANES) < h.output * w.output.div_ceil(LANES) {
            for q0 in (0..across).step_by(LANES) {
                // SAFETY: positions q0.. of the grid read within the copy and its slack (`run`'s checks).
                let channels = unsafe { self.block::<CLAMP>(copy, q0, 1) };
                let mut q = q0;
                while q < (q0 + LANES).min(across) {
                    let (oh, ow) = (q / cols, q % cols);
                    let end = (oh * cols + w.output).min(q0 + LANES);
                    if ow < w.output {
                        let (first, last) = (q - q0, end - q0);
                        let mask = (((1u32 << last) - 1) & !((1u32 << first) - 1)) as __mmask16;
                        for (c, v) in channels.iter().enumerate().take(self.channels) {
                            store(c, oh * w.output + ow, first, mask, *v);
                        }
                    }
                    q = (oh + 1) * cols;
                }
            }
            return;
        }
        for oh in 0..h.output {
            for ow0 in (0..w.output).step_by(LANES) {
                let count = (w.output - ow0).min(LANES);
                let first = oh * h.stride * cols + ow0 * w.stride;
                // SAFETY: the windows of the row's positions lie inside the copy, whose extent is the
                // outputs' reach; positions past the row read at most 16 · step values further, into the
                // copy's slack.
                let channels = unsafe { self.block::<CLAMP>(copy, first, step) };
                let mask: __mmask16 = ((1u32 << count) - 1) as __mmask16;
                for (c, v) in channels.iter().enumerate().take(self.channels) {
                    store(c, oh * w.output + ow0, 0, mask, *v);
                }
            }
        }
    }

    /// The sums of sixteen positions whose first taps sit at grid positions `first`, `first + step`, …: the
    /// bias plus one multiply-add per tap, clamped when `CLAMP`, transposed into one vector per channel.
    ///
    /// # Safety
    /// As [`Task::sums`]: every tap of the sixteen positions lies within the copy and its slack.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const CLAMP: bool>(
        &self,
        copy: &[f32],
        first: usize,
        step: usize,
    ) -> [std::arch::x86_64::__m512; LANES] {
        use std::arch::x86_64::*;
        let (h, w, cols) = (&self.h, &self.w, self.padded.cols);
        // SAFETY: LANES biases (checked by `run`).
        let mut acc = [unsafe { _mm512_loadu_ps(self.bias.as_ptr()) }; LANES];
        let src = copy.as_ptr();
        for kh in 0..h.kernel {
            for kw in 0..w.kernel {
                let tap = kh * w.kernel + kw;
                let at = (first + kh * h.dilation * cols + kw * w.dilation) * LANES;
                // SAFETY: the caller's bound on the taps; the tap's weights are within `weights`.
                unsafe {
                    let weights = _mm512_loadu_ps(self.weights.as_ptr().add(tap * LANES));
                    let row = src.add(at);
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(
                            weights,
                            _mm512_loadu_ps(row.add(j * step * LANES)),
                            *a,
                        );
                    }
                }
            }
        }
        if CLAMP {
            let (lo, hi) = self.bounds.unwrap_or((0.0, 0.0));
            let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
            for a in acc.iter_mut() {
                *a = _mm512_min_ps(_mm512_max_ps(*a, lo), hi);
            }
        }
        transpose16(acc)
    }
}
