//! Depthwise convolution: one input and one output channel per group (MobileNet's 3x3 layers), 1-D to 3-D,
//! any stride, dilation and padding.
//!
//! Each channel's input is laid out once in a zero-padded copy split into stride phases: phase `(pd, ph, pw)`
//! holds the padded positions `(pd + i·sd, ph + j·sh, pw + k·sw)`. Numbering the outputs along the phase rows
//! (`(od·rows + oh)·pitch + ow`, the `Plan`'s positions), every tap reads one contiguous run of a phase,
//! starting a fixed offset from the output's number. So the whole channel is a sum of shifted runs: blocks of
//! 64 positions are summed over the taps in registers and stored once; the few positions that fall in a row's
//! padding columns are computed and dropped (on AVX-512, blocks of 128 positions in eight 16-lane registers with
//! fused multiply-adds). The padding of the copy is written once per task and stays zero, since every channel
//! rewrites the same interior. Tasks take whole runs of channels (threads split channels, not rows). A bias
//! and a clamp start and end the sums in registers; a residual or another activation is applied to each
//! task's channels after them, while they are in cache. Where the CPU has AVX-512, 2-D undilated square 3x3
//! (stride 1 or 2) and 5x5 (stride 1) filters run on `depthwise_rows` instead, straight from the input planes,
//! and other small 2-D planes with a register epilogue on `depthwise_lanes`.

use super::conv::split_in_two_phases;
use super::epilogue::{Activation, Epilogue};
#[cfg(target_arch = "x86_64")]
use super::{depthwise_lanes, depthwise_rows};
use super::{direct_conv, math, with_scratch};
use crate::ops::conv::Axis;
use rayon::prelude::*;

/// Output positions summed in registers at once (eight 8-lane vectors).
const BLOCK: usize = 64;
/// The narrower block that finishes a channel's positions (and the multiple its position count is rounded to):
/// one AVX-512 register.
const TAIL: usize = 16;
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
    /// Where in the phased copy output position 0 reads each tap (taps in filter order); position `p` reads
    /// `p` further.
    offsets: Vec<usize>,
}

impl Plan {
    fn new(axes: &[Axis; 3]) -> Plan {
        let extent = axes.map(|a| {
            let reach = (a.output.max(1) - 1) * a.stride + (a.kernel.max(1) - 1) * a.dilation + 1;
            reach.div_ceil(a.stride.max(1))
        });
        let [od, oh, ow] = axes.map(|a| a.output);
        let last = ((od.max(1) - 1) * extent[1] + oh.max(1) - 1) * extent[2] + ow;
        let mut plan = Plan {
            axes: *axes,
            extent,
            phase_len: extent.iter().product(),
            phases: axes.iter().map(|a| a.stride.max(1)).product(),
            positions: last.next_multiple_of(TAIL),
            taps: axes.iter().map(|a| a.kernel).product(),
            offsets: Vec::new(),
        };
        plan.offsets = (0..plan.taps).map(|t| plan.tap_offset(t)).collect();
        plan
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

    /// Where in the phased copy output position 0 reads tap `t` (see [`Plan::offsets`]).
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
    let groups = groups.max(1);
    let isz: usize = axes.iter().map(|a| a.input).product();
    let osz: usize = axes.iter().map(|a| a.output).product();
    let jobs = out.len() / osz.max(1);
    if osz == 0 || jobs == 0 {
        return;
    }
    // The bias and a clamp are applied in registers; a residual or another activation after the sums.
    let in_registers = !epilogue.residual
        && (epilogue.activation == Activation::Identity || epilogue.activation.bounds().is_some());
    #[cfg(target_arch = "x86_64")]
    if depthwise_rows::suits(axes) {
        depthwise_rows::convolve(x, w, axes, groups, epilogue, residual, out);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if in_registers && depthwise_lanes::suits(axes) {
        let bias = epilogue.bias.as_deref().unwrap_or(&[]);
        let bounds = epilogue.activation.bounds();
        depthwise_lanes::convolve(x, w, axes, groups, bias, bounds, out);
        return;
    }
    let plan = Plan::new(axes);
    let per_task = jobs.div_ceil(rayon::current_num_threads() * TASKS_PER_THREAD);
    let wide = direct_conv::available();
    out.par_chunks_mut(per_task * osz)
        .enumerate()
        .for_each(|(task, dst)| {
            let first = task * per_task;
            let count = dst.len() / osz;
            let task = Task {
                x: x.get(first * isz..(first + count) * isz).unwrap_or(&[]),
                w,
                first,
                groups,
                finish: in_registers.then_some(epilogue),
                wide,
            };
            with_scratch(plan.scratch_len(), |scratch| {
                // The padding (and the slack the last block reads) must be zero; the sums are overwritten.
                scratch[..plan.layout_len() + BLOCK].fill(0.0);
                channels_best(&plan, &task, dst, scratch);
            });
            if in_registers {
                return;
            }
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

/// One parallel task's run of channels: their inputs, the filter, and what finishes their outputs.
struct Task<'a> {
    /// The inputs of the task's channels, one after another.
    x: &'a [f32],
    /// The taps of every group's channel.
    w: &'a [f32],
    /// The job (batch × channel) number of the task's first channel.
    first: usize,
    /// Channels per batch.
    groups: usize,
    /// The epilogue when it is only a bias and a clamp, applied to the sums in registers (`None`: the
    /// caller applies it after the task).
    finish: Option<&'a Epilogue>,
    /// Whether the AVX-512 sums run.
    wide: bool,
}

math::best_isa_fn! {
    /// [`channels`] compiled for the best ISA.
    fn channels_best[](plan: &Plan, task: &Task, dst: &mut [f32], scratch: &mut [f32]) => channels
}

/// Convolves the task's channels into `dst` (one output block per channel); `scratch` is
/// [`Plan::scratch_len`] long, its phased copy and slack zero.
#[inline(always)]
fn channels(plan: &Plan, task: &Task, dst: &mut [f32], scratch: &mut [f32]) {
    let isz: usize = plan.axes.iter().map(|a| a.input).product();
    let osz: usize = plan.axes.iter().map(|a| a.output).product();
    let (layout, sums) = scratch.split_at_mut(plan.layout_len() + BLOCK);
    let (mut current, mut previous) = sums.split_at_mut(plan.positions);
    // The output block of the channel whose sums wait in `previous`.
    let mut pending: Option<&mut [f32]> = None;
    for (c, (src, out)) in task
        .x
        .chunks_exact(isz.max(1))
        .zip(dst.chunks_exact_mut(osz))
        .enumerate()
    {
        let channel = (task.first + c) % task.groups.max(1);
        let Some(weights) = task.w.get(channel * plan.taps..(channel + 1) * plan.taps) else {
            return;
        };
        lay_out(plan, src, layout);
        let finish = match task.finish {
            Some(e) => Finish {
                bias: e.bias_of(channel),
                bounds: e.activation.bounds(),
            },
            None => Finish::default(),
        };
        sum_taps(layout, &plan.offsets, weights, finish, current, task.wide);
        if let Some(done) = pending.replace(out) {
            store(plan, previous, done);
        }
        std::mem::swap(&mut current, &mut previous);
    }
    if let Some(done) = pending {
        store(plan, previous, done);
    }
}

/// What the sums of one channel start from and are clamped to before they are stored.
#[derive(Debug, Clone, Copy, Default)]
struct Finish {
    /// The channel's bias: the value the sums start from.
    bias: f32,
    /// `(lo, hi)`: the sums are stored as `min(max(sum, lo), hi)`.
    bounds: Option<(f32, f32)>,
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

/// `sums[p] = finish(Σ weights[t] · layout[offsets[t] + p])` over the taps `t`, for every position `p`, in
/// register blocks of [`BLOCK`] then [`TAIL`] positions, or with AVX-512 when `wide` (and every tap's reads
/// lie within `layout`).
#[inline(always)]
fn sum_taps(
    layout: &[f32],
    offsets: &[usize],
    weights: &[f32],
    finish: Finish,
    sums: &mut [f32],
    wide: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if wide
        && sums.len().is_multiple_of(TAIL)
        && offsets.len() == weights.len()
        && offsets.iter().all(|&o| o + sums.len() <= layout.len())
    {
        // SAFETY: the CPU has AVX-512 (`wide` comes from `direct_conv::available`); the reads and writes stay
        // within the bounds just checked.
        unsafe { avx512::sum_taps(layout, (offsets, weights), finish, sums) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = wide;
    let mut blocks = sums.chunks_exact_mut(BLOCK);
    let mut at = 0;
    for out in &mut blocks {
        sum_block::<BLOCK>(layout, (offsets, weights), finish, at, out);
        at += BLOCK;
    }
    for out in blocks.into_remainder().chunks_exact_mut(TAIL) {
        sum_block::<TAIL>(layout, (offsets, weights), finish, at, out);
        at += TAIL;
    }
}

/// One block of [`sum_taps`]: positions `at..at + B`.
#[inline(always)]
fn sum_block<const B: usize>(
    layout: &[f32],
    (offsets, weights): (&[usize], &[f32]),
    finish: Finish,
    at: usize,
    out: &mut [f32],
) {
    let mut acc = [finish.bias; B];
    for (&offset, &wv) in offsets.iter().zip(weights) {
        let from = offset + at;
        let Some(src) = layout.get(from..from + B) else {
            continue;
        };
        for l in 0..B {
            acc[l] += wv * src[l];
        }
    }
    if let Some((lo, hi)) = finish.bounds {
        acc = acc.map(|v| v.max(lo).min(hi));
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

/// The AVX-512 sums of [`sum_taps`].
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Finish, TAIL};
    use std::arch::x86_64::*;

    /// Positions one block sums in registers: `VECTORS` 16-lane vectors.
    const VECTORS: usize = 8;

    /// The taps: offsets into the phased copy and their weights.
    type Taps<'a> = (&'a [usize], &'a [f32]);

    /// [`super::sum_taps`] in blocks of `VECTORS` vectors of positions, then one block of the
    /// vectors that remain; the clamp is a compile-time choice, so that the sums stay in registers.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `sums.len()` is a multiple of [`TAIL`], there are as many weights as
    /// offsets, and `offset + sums.len() <= layout.len()` for every offset.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sum_taps(layout: &[f32], taps: Taps, finish: Finish, sums: &mut [f32]) {
        // SAFETY: the caller's bounds.
        unsafe {
            match finish.bounds {
                Some(_) => sums_with::<true>(layout, taps, finish, sums),
                None => sums_with::<false>(layout, taps, finish, sums),
            }
        }
    }

    /// [`sum_taps`] with (`CLAMP`) or without the clamp.
    ///
    /// # Safety
    /// As [`sum_taps`].
    #[inline(always)]
    unsafe fn sums_with<const CLAMP: bool>(
        layout: &[f32],
        taps: Taps,
        finish: Finish,
        sums: &mut [f32],
    ) {
        let n = sums.len();
        let mut at = 0;
        // SAFETY: positions `at..at + V·16` of `sums`, and of `layout` from each offset, for the blocks'
        // `V` vectors (the caller's bounds).
        unsafe {
            while at + VECTORS * TAIL <= n {
                let (src, dst) = (layout.as_ptr().add(at), sums.as_mut_ptr().add(at));
                block::<VECTORS, CLAMP>(src, taps, finish, dst);
                at += VECTORS * TAIL;
            }
            // The last positions in one block of as many vectors as remain (independent sums, not a chain
            // of one-vector blocks).
            let (src, dst) = (layout.as_ptr().add(at), sums.as_mut_ptr().add(at));
            match (n - at) / TAIL {
                0 => {}
                1 => block::<1, CLAMP>(src, taps, finish, dst),
                2 => block::<2, CLAMP>(src, taps, finish, dst),
                3 => block::<3, CLAMP>(src, taps, finish, dst),
                4 => block::<4, CLAMP>(src, taps, finish, dst),
                5 => block::<5, CLAMP>(src, taps, finish, dst),
                6 => block::<6, CLAMP>(src, taps, finish, dst),
                _ => block::<7, CLAMP>(src, taps, finish, dst),
            }
        }
    }

    /// `V` vectors of sums, from the bias, over the taps of the values from `src + offset`, clamped
    /// when `CLAMP` and stored at `dst`.
    ///
    /// # Safety
    /// `V·16` values are readable from `src + offset` for every offset and writable at `dst`.
    #[inline(always)]
    unsafe fn block<const V: usize, const CLAMP: bool>(
        src: *const f32,
        (offsets, weights): Taps,
        finish: Finish,
        dst: *mut f32,
    ) {
        // SAFETY: the caller's bounds.
        unsafe {
            let mut acc = [_mm512_set1_ps(finish.bias); V];
            for (&offset, &weight) in offsets.iter().zip(weights) {
                let w = _mm512_set1_ps(weight);
                let p = src.add(offset);
                for (v, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(w, _mm512_loadu_ps(p.add(v * 16)), *a);
                }
            }
            let (lo, hi) = finish.bounds.unwrap_or((0.0, 0.0));
            let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
            for (v, &a) in acc.iter().enumerate() {
                let a = if CLAMP {
                    _mm512_min_ps(_mm512_max_ps(a, lo), hi)
                } else {
                    a
                };
                _mm512_storeu_ps(dst.add(v * 16), a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of summing (the portable one, and AVX-512 where the CPU has it) give the taps' sums from the
    /// bias, clamped or not, for position counts that end in a remainder of every width.
    #[test]
    fn sums_match_the_plain_formula() {
        let layout: Vec<f32> = (0..600)
            .map(|i| ((i * 37) % 23) as f32 * 0.25 - 2.0)
            .collect();
        let offsets = [0, 1, 2, 40, 41, 42, 80, 81, 82];
        let weights: Vec<f32> = (0..9).map(|t| t as f32 * 0.1 - 0.3).collect();
        let clamped = Finish {
            bias: 0.5,
            bounds: Some((-1.0, 2.0)),
        };
        for n in (TAIL..=400).step_by(TAIL) {
            for finish in [Finish::default(), clamped] {
                for wide in [false, direct_conv::available()] {
                    let mut sums = vec![f32::NAN; n];
                    sum_taps(&layout, &offsets, &weights, finish, &mut sums, wide);
                    for (p, got) in sums.iter().enumerate() {
                        let mut want = finish.bias;
                        for (o, w) in offsets.iter().zip(&weights) {
                            want += w * layout[o + p];
                        }
                        if let Some((lo, hi)) = finish.bounds {
                            want = want.max(lo).min(hi);
                        }
                        assert!(
                            (want - got).abs() <= 1e-5,
                            "{n} positions, {finish:?}, wide {wide}, at {p}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
