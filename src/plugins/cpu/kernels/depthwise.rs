//! Depthwise convolution: one input and one output channel per group (MobileNet's 3x3 layers), 1-D to 3-D,
//! any stride, dilation and padding.
//!
//! Each channel's input is laid out once in a zero-padded copy split into stride phases: phase `(pd, ph, pw)`
//! holds the padded positions `(pd + i·sd, ph + j·sh, pw + k·sw)`. Numbering the outputs along the phase rows
//! (`(od·rows + oh)·pitch + ow`, the [`Plan`]'s positions), every tap reads one contiguous run of a phase,
//! starting a fixed offset from the output's number. So the whole channel is a sum of shifted runs: blocks of
//! 64 positions are summed over the taps in registers and stored once; the few positions that fall in a row's
//! padding columns are computed and dropped. The padding of the copy is written once per task and stays zero,
//! since every channel rewrites the same interior. Tasks take whole runs of channels (threads split channels,
//! not rows) and apply the epilogue to their channels while they are in cache.

use super::conv::split_in_two_phases;
use super::epilogue::Epilogue;
use super::{math, with_scratch};
use crate::ops::conv::Axis;
use rayon::prelude::*;

/// Output positions summed in registers at once (eight 8-lane vectors).
const BLOCK: usize = 64;
/// The narrower block that finishes a channel's positions (and the multiple its position count is rounded to).
const TAIL: usize = 8;
/// The most taps one pass over a channel sums in registers; filters with more taps take several passes.
const TAP_GROUP: usize = 64;
/// Parallel tasks per thread: enough that uneven tasks still keep every thread busy.
const TASKS_PER_THREAD: usize = 4;

/// How one channel's input is laid out and its outputs numbered; `axes` are depth, height and width.
#[derive(Debug)]
struct Plan {
    axes: [Axis; 3],
    /// Positions along each axis in one phase: the padded positions the outputs reach, divided by the stride.
    extent: [usize; 3],
    /// Values in one phase.
    phase_len: usize,
    /// Phases: the product of the strides.
    phases: usize,
    /// Output positions numbered along the phase rows (padding columns included), rounded up to [`TAIL`].
    positions: usize,
    /// The filter's taps.
    taps: usize,
}

impl Plan {
    fn new(axes: &[Axis; 3]) -> Plan {
        let extent = axes.map(|a| {
            let reach = (a.output.max(1) - 1) * a.stride + (a.kernel.max(1) - 1) * a.dilation + 1;
            reach.div_ceil(a.stride.max(1))
        });
        let [od, oh, ow] = axes.map(|a| a.output);
        let last = ((od.max(1) - 1) * extent[1] + oh.max(1) - 1) * extent[2] + ow;
        Plan {
            axes: *axes,
            extent,
            phase_len: extent.iter().product(),
            phases: axes.iter().map(|a| a.stride.max(1)).product(),
            positions: last.next_multiple_of(TAIL),
            taps: axes.iter().map(|a| a.kernel).product(),
        }
    }

    /// Values of the phased copy.
    fn layout_len(&self) -> usize {
        self.phases * self.phase_len
    }

    /// Scratch memory one task needs: the phased copy, slack for the last block's reads, and two buffers of
    /// summed positions (one channel's sums are stored while the next channel's are summed, so that the stores
    /// do not wait for the sums' writes to reach the cache).
    fn scratch_len(&self) -> usize {
        self.layout_len() + BLOCK + 2 * self.positions
    }

    /// Where in the phased copy output position 0 reads tap `t` (taps in filter order); position `p` reads `p`
    /// further.
    fn tap_offset(&self, t: usize) -> usize {
        let [_, ah, aw] = &self.axes;
        let k = [
            t / (ah.kernel * aw.kernel),
            (t / aw.kernel) % ah.kernel,
            t % aw.kernel,
        ];
        let shift = [0, 1, 2].map(|i| k[i] * self.axes[i].dilation);
        let s = self.axes.map(|a| a.stride.max(1));
        let phase = ((shift[0] % s[0]) * s[1] + shift[1] % s[1]) * s[2] + shift[2] % s[2];
        let within = ((shift[0] / s[0]) * self.extent[1] + shift[1] / s[1]) * self.extent[2]
            + shift[2] / s[2];
        phase * self.phase_len + within
    }
}

/// Depthwise convolution of `x` (`jobs` channels of `[D, H, W]`, batches one after another) with `w` (the taps
/// of each of `groups` channels) into `out`; the epilogue's channel of job `j` is `j % groups`, and `residual`
/// (empty without one) has the output's shape.
pub fn convolve(
    x: &[f32],
    w: &[f32],
    axes: &[Axis; 3],
    groups: usize,
    epilogue: &Epilogue,
    residual: &[f32],
    out: &mut [f32],
) {
    let plan = Plan::new(axes);
    let groups = groups.max(1);
    let isz: usize = axes.iter().map(|a| a.input).product();
    let osz: usize = axes.iter().map(|a| a.output).product();
    let jobs = out.len() / osz.max(1);
    if osz == 0 || jobs == 0 {
        return;
    }
    let per_task = jobs.div_ceil(rayon::current_num_threads() * TASKS_PER_THREAD);
    out.par_chunks_mut(per_task * osz)
        .enumerate()
        .for_each(|(task, dst)| {
            let first = task * per_task;
            let count = dst.len() / osz;
            let xs = x.get(first * isz..(first + count) * isz).unwrap_or(&[]);
            with_scratch(plan.scratch_len(), |scratch| {
                // The padding (and the slack the last block reads) must be zero; the sums are overwritten.
                scratch[..plan.layout_len() + BLOCK].fill(0.0);
                channels_best(&plan, xs, w, first, groups, dst, scratch);
            });
            // The epilogue per run of channels of one batch (its channel numbers restart with each batch).
            let mut j = first;
            while j < first + count {
                let end = ((j / groups + 1) * groups).min(first + count);
                let block = &mut dst[(j - first) * osz..(end - first) * osz];
                let r = residual.get(j * osz..end * osz).unwrap_or(&[]);
                epilogue.apply(block, j % groups, osz, r);
                j = end;
            }
        });
}

math::best_isa_fn! {
    /// [`channels`] compiled for the best ISA.
    fn channels_best[](plan: &Plan, x: &[f32], w: &[f32], first: usize, groups: usize, dst: &mut [f32], scratch: &mut [f32])
        => channels
}

/// Convolves the channels `first..` whose inputs are `x` into `dst` (one output block per channel); `scratch`
/// is [`Plan::scratch_len`] long, its phased copy and slack zero.
#[inline(always)]
fn channels(
    plan: &Plan,
    x: &[f32],
    w: &[f32],
    first: usize,
    groups: usize,
    dst: &mut [f32],
    scratch: &mut [f32],
) {
    let isz: usize = plan.axes.iter().map(|a| a.input).product();
    let osz: usize = plan.axes.iter().map(|a| a.output).product();
    let (layout, sums) = scratch.split_at_mut(plan.layout_len() + BLOCK);
    let (mut current, mut previous) = sums.split_at_mut(plan.positions);
    let mut pending: Option<&mut [f32]> = None;
    // The offsets of the first group of taps, the same for every channel (the others, rare, are computed as
    // they are needed).
    let mut offsets = [0usize; TAP_GROUP];
    for (t, o) in offsets.iter_mut().take(plan.taps).enumerate() {
        *o = plan.tap_offset(t);
    }
    let offsets = &offsets[..plan.taps.min(TAP_GROUP)];
    for (c, (src, out)) in x
        .chunks_exact(isz.max(1))
        .zip(dst.chunks_exact_mut(osz))
        .enumerate()
    {
        let channel = (first + c) % groups.max(1);
        let Some(taps) = w.get(channel * plan.taps..(channel + 1) * plan.taps) else {
            return;
        };
        lay_out(plan, src, layout);
        // The taps in groups, each group's offsets and weights side by side in registers' reach.
        for (group, start) in (0..plan.taps.max(1)).step_by(TAP_GROUP).enumerate() {
            let end = (start + TAP_GROUP).min(plan.taps);
            let mut pairs = [(0usize, 0.0f32); TAP_GROUP];
            for ((t, pair), &weight) in (start..end).zip(pairs.iter_mut()).zip(&taps[start..end]) {
                let offset = offsets
                    .get(t)
                    .copied()
                    .unwrap_or_else(|| plan.tap_offset(t));
                *pair = (offset, weight);
            }
            sum_taps(layout, &pairs[..end - start], current, group > 0);
        }
        if let Some(done) = pending.replace(out) {
            store(plan, previous, done);
        }
        std::mem::swap(&mut current, &mut previous);
    }
    if let Some(done) = pending {
        store(plan, previous, done);
    }
}

/// Writes one channel's input into the interior of the phased copy (whose padding stays as it is: zero).
#[inline(always)]
fn lay_out(plan: &Plan, src: &[f32], layout: &mut [f32]) {
    let [ad, ah, aw] = &plan.axes;
    let [sd, sh, sw] = plan.axes.map(|a| a.stride.max(1));
    // Input columns inside the reach of the outputs; the ones past it are never read.
    let cols = aw
        .input
        .min((plan.extent[2] * sw).saturating_sub(aw.pad_begin));
    let (pl, n) = (plan.phase_len, plan.extent[2]);
    // Padded depth and height of the row, each as (phase, index within the phase), stepped without divisions.
    let step = |(phase, index): (usize, usize), stride: usize| {
        if phase + 1 == stride {
            (0, index + 1)
        } else {
            (phase + 1, index)
        }
    };
    let (mut depth, mut height) = ((ad.pad_begin % sd, ad.pad_begin / sd), (0, 0));
    for (r, row) in src.chunks_exact(aw.input.max(1)).enumerate() {
        if r % ah.input.max(1) == 0 {
            if r > 0 {
                depth = step(depth, sd);
            }
            height = (ah.pad_begin % sh, ah.pad_begin / sh);
        } else {
            height = step(height, sh);
        }
        if depth.1 >= plan.extent[0] || height.1 >= plan.extent[1] {
            continue;
        }
        let phase = (depth.0 * sh + height.0) * sw;
        let base = phase * pl + (depth.1 * plan.extent[1] + height.1) * n;
        let row = &row[..cols];
        match sw {
            1 => {
                let at = base + aw.pad_begin;
                if let Some(d) = layout.get_mut(at..at + cols) {
                    copy_run(d, row);
                }
            }
            2 => {
                let (even, odd) = layout.split_at_mut((base + pl).min(layout.len()));
                split_in_two_phases(
                    row,
                    aw.pad_begin,
                    even.get_mut(base..).unwrap_or(&mut []),
                    odd,
                );
            }
            _ => {
                for (i, &v) in row.iter().enumerate() {
                    let p = aw.pad_begin + i;
                    if let Some(slot) = layout.get_mut(base + (p % sw) * pl + p / sw) {
                        *slot = v;
                    }
                }
            }
        }
    }
}

/// `sums[p] (+)= Σ weight · layout[offset + p]` over the `(offset, weight)` taps, for every position `p`
/// (adding to `sums` when `accumulate`), in register blocks of [`BLOCK`] then [`TAIL`] positions.
#[inline(always)]
fn sum_taps(layout: &[f32], taps: &[(usize, f32)], sums: &mut [f32], accumulate: bool) {
    let mut blocks = sums.chunks_exact_mut(BLOCK);
    let mut at = 0;
    for out in &mut blocks {
        sum_block::<BLOCK>(layout, taps, at, out, accumulate);
        at += BLOCK;
    }
    for out in blocks.into_remainder().chunks_exact_mut(TAIL) {
        sum_block::<TAIL>(layout, taps, at, out, accumulate);
        at += TAIL;
    }
}

/// One block of [`sum_taps`]: positions `at..at + B`.
#[inline(always)]
fn sum_block<const B: usize>(
    layout: &[f32],
    taps: &[(usize, f32)],
    at: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    let mut acc = [0.0f32; B];
    if accumulate && out.len() == B {
        acc.copy_from_slice(out);
    }
    for &(offset, wv) in taps {
        let from = offset + at;
        let Some(src) = layout.get(from..from + B) else {
            continue;
        };
        for l in 0..B {
            acc[l] += wv * src[l];
        }
    }
    if let Ok(full) = <&mut [f32; B]>::try_from(out) {
        *full = acc;
    }
}

/// Copies the positions that are outputs (not padding columns or rows) from `sums` into the channel's output.
#[inline(always)]
fn store(plan: &Plan, sums: &[f32], out: &mut [f32]) {
    let [od, oh, ow] = plan.axes.map(|a| a.output);
    let pitch = plan.extent[2];
    let mut lines = out.chunks_exact_mut(ow.max(1));
    for d in 0..od {
        for (h, dst) in (0..oh).zip(&mut lines) {
            let at = (d * plan.extent[1] + h) * pitch;
            if let Some(src) = sums.get(at..at + ow) {
                copy_run(dst, src);
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short runs of small planes: in 8- or 4-value pieces (the last one
/// overlapping the one before) rather than through a call to `memcpy`.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    fn piece<const N: usize>(dst: &mut [f32], src: &[f32], at: usize) {
        if let (Some(d), Some(s)) = (dst.get_mut(at..at + N), src.get(at..at + N)) {
            d.copy_from_slice(s);
        }
    }
    let n = src.len().min(dst.len());
    match n {
        64.. => dst[..n].copy_from_slice(&src[..n]),
        8.. => {
            for at in (0..n - 8).step_by(8) {
                piece::<8>(dst, src, at);
            }
            piece::<8>(dst, src, n - 8);
        }
        4.. => {
            piece::<4>(dst, src, 0);
            piece::<4>(dst, src, n - 4);
        }
        _ => dst[..n].copy_from_slice(&src[..n]),
    }
}
