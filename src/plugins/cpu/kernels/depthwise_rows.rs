//! Depthwise 2-D convolution read straight from the NCHW planes (x86-64 with AVX-512): sixteen output columns
//! of a row in the lanes of one register, for square undilated filters of 3x3 (stride 1 or 2) and 5x5
//! (stride 1), MobileNet's and EfficientNet's.
//!
//! No copy of the input is made: each tap's sixteen inputs are one load from the input row, masked where they
//! fall in the padding (the masked lanes read as zero and touch no memory), and a stride of two takes the even
//! and odd columns of two loads apart with one permute each. A few output rows are summed together, so that
//! every input row loaded serves each of them that reads it; the sums start from the bias, are clamped in
//! registers and stored once into the output rows; a residual or another activation is applied to each
//! channel's plane right after, while it is in cache. Rows of at most 8 columns at unit strides (MobileNet's 7x7
//! layers) run as blocks of sixteen consecutive positions across the rows instead (`Flat`), each tap one
//! masked load per block. Threads split the channels.

use super::epilogue::{Activation, Epilogue};
use crate::ops::conv::Axis;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// Output columns per register.
const LANES: usize = 16;
/// Parallel tasks per thread: enough that uneven tasks still keep every thread busy.
const TASKS_PER_THREAD: usize = 4;

/// Whether [`convolve`] runs the depthwise convolution of `axes` (depth, height, width): the CPU has
/// AVX-512F, the depth axis is trivial, and the filter is an undilated square 3x3 with equal strides of 1 or
/// 2, or a 5x5 with unit strides.
pub fn suits(axes: &[Axis; 3]) -> bool {
    let [d, h, w] = axes;
    let trivial_depth = d.input == 1 && d.output == 1 && d.kernel == 1 && d.pad_begin == 0;
    super::direct_conv::available()
        && trivial_depth
        && h.output > 0
        && w.output > 0
        && h.kernel == w.kernel
        && h.stride == w.stride
        && h.dilation == 1
        && w.dilation == 1
        && matches!((w.kernel, w.stride), (3, 1) | (3, 2) | (5, 1))
}

/// Depthwise convolution of `x` (`jobs` channel planes, batches one after another, `groups` channels per
/// batch) with `w` (each channel's taps) into `out`, finished by `epilogue` (channel `job % groups`), whose
/// `residual` (empty without one) has the output's shape. The bias, and a clamp without a residual, are
/// applied in registers; a residual or another activation to each channel's plane after its sums. Call only
/// where [`suits`] holds (it returns at once where the buffers do not match the geometry).
pub fn convolve(
    x: &[f32],
    w: &[f32],
    axes: &[Axis; 3],
    groups: usize,
    epilogue: &Epilogue,
    residual: &[f32],
    out: &mut [f32],
) {
    let [_, h, wd] = axes;
    let (isz, osz) = (h.input * wd.input, h.output * wd.output);
    let taps = h.kernel * wd.kernel;
    let groups = groups.max(1);
    let jobs = out.len() / osz.max(1);
    let bias = epilogue.bias.as_deref().unwrap_or(&[]);
    if !suits(axes)
        || jobs == 0
        || !out.len().is_multiple_of(osz)
        || x.len() != jobs * isz
        || w.len() < groups * taps
        || !(bias.is_empty() || bias.len() >= groups)
        || (epilogue.residual && residual.len() != out.len())
    {
        return;
    }
    let mut geometry = Geometry {
        height: h.input,
        width: wd.input,
        rows: h.output,
        cols: wd.output,
        top: h.pad_begin as isize,
        left: wd.pad_begin as isize,
        flat: None,
    };
    geometry.flat = Flat::of(&geometry, wd.kernel, wd.stride);
    // What the registers leave: the residual and the activation, unless that is only a clamp.
    let bounds = epilogue.activation.bounds().filter(|_| !epilogue.residual);
    let after = Epilogue {
        bias: None,
        residual: epilogue.residual,
        activation: if bounds.is_some() {
            Activation::Identity
        } else {
            epilogue.activation
        },
    };
    let per_task = jobs.div_ceil(rayon::current_num_threads() * TASKS_PER_THREAD);
    out.par_chunks_mut(per_task * osz)
        .enumerate()
        .for_each(|(task, dst)| {
            for (i, plane_out) in dst.chunks_exact_mut(osz).enumerate() {
                let job = task * per_task + i;
                let c = job % groups;
                let (Some(xs), Some(ws)) = (
                    x.get(job * isz..(job + 1) * isz),
                    w.get(c * taps..(c + 1) * taps),
                ) else {
                    return;
                };
                let channel = Channel {
                    x: xs,
                    w: ws,
                    bias: bias.get(c).copied().unwrap_or(0.0),
                    bounds,
                };
                // SAFETY: `suits` checked that the CPU has AVX-512F; the plane sizes match `geometry`.
                unsafe { channel.run(&geometry, wd.kernel, wd.stride, plane_out) };
                let r = residual.get(job * osz..(job + 1) * osz).unwrap_or(&[]);
                after.apply(plane_out, c, osz, r);
            }
        });
}

/// The plane sizes and padding shared by every channel.
#[derive(Debug, Clone)]
struct Geometry {
    /// Input rows.
    height: usize,
    /// Input columns.
    width: usize,
    /// Output rows.
    rows: usize,
    /// Output columns.
    cols: usize,
    /// Padding rows before the first input row.
    top: isize,
    /// Padding columns before the first input column.
    left: isize,
    /// The blocks across rows, where the rows are narrow enough to run that way.
    flat: Option<Flat>,
}

/// Rows of at most [`FLAT_MAX_COLS`] columns, at unit strides and with as many output as input columns,
/// run as one flat run of positions: output `q` reads tap `t` at input `q + offsets[t]`, so blocks of sixteen
/// consecutive positions (across rows) load each tap once, under a mask that drops the lanes whose tap falls in
/// the padding (a 7x7 plane is 4 blocks rather than 7 rows of 7 lanes in 16).
#[derive(Debug, Clone)]
struct Flat {
    /// Per tap (row by row): the input offset from the output position.
    offsets: Vec<isize>,
    /// Per block, per tap: the lanes whose tap reads an input value.
    masks: Vec<u16>,
    /// Output positions (rows · cols).
    positions: usize,
}

/// The widest output rows that run as [`Flat`] blocks.
const FLAT_MAX_COLS: usize = 8;

impl Flat {
    /// The flat plan of `g` with a `kernel`² filter at `stride`, when it applies.
    fn of(g: &Geometry, kernel: usize, stride: usize) -> Option<Flat> {
        if stride != 1 || g.cols != g.width || g.cols > FLAT_MAX_COLS {
            return None;
        }
        let positions = g.rows * g.cols;
        let (w, h) = (g.width as isize, g.height as isize);
        let taps: Vec<(isize, isize)> = (0..kernel * kernel)
            .map(|t| {
                (
                    (t / kernel) as isize - g.top,
                    (t % kernel) as isize - g.left,
                )
            })
            .collect();
        let offsets = taps.iter().map(|&(dy, dx)| dy * w + dx).collect();
        let mut masks = Vec::with_capacity(positions.div_ceil(LANES) * taps.len());
        for q0 in (0..positions).step_by(LANES) {
            for &(dy, dx) in &taps {
                let mut mask = 0u16;
                for lane in 0..LANES.min(positions - q0) {
                    let q = q0 + lane;
                    let (iy, ix) = ((q / g.cols) as isize + dy, (q % g.cols) as isize + dx);
                    if (0..h).contains(&iy) && (0..w).contains(&ix) {
                        mask |= 1 << lane;
                    }
                }
                masks.push(mask);
            }
        }
        Some(Flat {
            offsets,
            masks,
            positions,
        })
    }
}

/// One channel: its input plane, its taps (row by row), bias and clamp.
struct Channel<'a> {
    x: &'a [f32],
    w: &'a [f32],
    bias: f32,
    bounds: Option<(f32, f32)>,
}

/// The lanes `0..n` of a load from column `start` of a row of `width` values whose columns exist.
fn valid_lanes(start: isize, width: usize, n: usize) -> u64 {
    let lo = (-start).clamp(0, n as isize) as u32;
    let hi = (width as isize - start).clamp(0, n as isize) as u32;
    if hi <= lo {
        0
    } else {
        ((1u64 << hi) - 1) & !((1u64 << lo) - 1)
    }
}

impl Channel<'_> {
    /// Convolves the channel's plane into `out` (its output plane), `rows` output rows at a time.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds `height · width` values, `out` `rows · cols`, `w` `kernel²`.
    #[target_feature(enable = "avx512f")]
    unsafe fn run(&self, g: &Geometry, kernel: usize, stride: usize, out: &mut [f32]) {
        if self.x.len() < g.height * g.width
            || out.len() < g.rows * g.cols
            || self.w.len() < kernel * kernel
        {
            return;
        }
        // SAFETY (every call below): the sizes just checked.
        unsafe {
            if let Some(flat) = &g.flat {
                match (kernel, self.bounds.is_some()) {
                    (3, true) => self.flat::<9, true>(flat, out),
                    (3, false) => self.flat::<9, false>(flat, out),
                    (5, true) => self.flat::<25, true>(flat, out),
                    (5, false) => self.flat::<25, false>(flat, out),
                    _ => {}
                }
                return;
            }
            match (kernel, stride, self.bounds.is_some()) {
                (3, 1, true) => self.rows_in_blocks::<3, 1, 6, true>(g, out),
                (3, 1, false) => self.rows_in_blocks::<3, 1, 6, false>(g, out),
                (3, 2, true) => self.rows_in_blocks::<3, 2, 4, true>(g, out),
                (3, 2, false) => self.rows_in_blocks::<3, 2, 4, false>(g, out),
                (5, 1, true) => self.rows_in_blocks::<5, 1, 4, true>(g, out),
                (5, 1, false) => self.rows_in_blocks::<5, 1, 4, false>(g, out),
                _ => {}
            }
        }
    }

    /// The plane as [`Flat`] blocks of sixteen positions (`T` taps), four blocks at a time.
    ///
    /// # Safety
    /// As [`Channel::run`], sizes checked; `flat` was made for this geometry and a filter of `T` taps.
    #[target_feature(enable = "avx512f")]
    unsafe fn flat<const T: usize, const CLAMP: bool>(&self, flat: &Flat, out: &mut [f32]) {
        const GROUP: usize = 4;
        if flat.offsets.len() != T
            || flat.masks.len() != flat.positions.div_ceil(LANES) * T
            || out.len() < flat.positions
        {
            return;
        }
        let weights: [__m512; T] = std::array::from_fn(|t| _mm512_set1_ps(self.w[t]));
        let (lo, hi) = self.bounds.unwrap_or((0.0, 0.0));
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let x = self.x.as_ptr();
        let blocks = flat.positions.div_ceil(LANES);
        for b0 in (0..blocks).step_by(GROUP) {
            let mut acc = [_mm512_set1_ps(self.bias); GROUP];
            for (t, (&offset, weight)) in flat.offsets.iter().zip(&weights).enumerate() {
                for (i, a) in acc.iter_mut().enumerate().take(blocks - b0) {
                    let b = b0 + i;
                    let at = (b * LANES) as isize + offset;
                    // SAFETY: the mask keeps to the lanes whose tap lies inside the input plane.
                    let v = unsafe {
                        _mm512_maskz_loadu_ps(flat.masks[b * T + t], x.wrapping_offset(at))
                    };
                    *a = _mm512_fmadd_ps(v, *weight, *a);
                }
            }
            for (i, a) in acc.iter().enumerate().take(blocks - b0) {
                let q0 = (b0 + i) * LANES;
                let v = if CLAMP {
                    _mm512_min_ps(_mm512_max_ps(*a, lo), hi)
                } else {
                    *a
                };
                let mask = valid_lanes(0, flat.positions - q0, LANES) as __mmask16;
                // SAFETY: the mask keeps to the plane's positions.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(q0), mask, v) };
            }
        }
    }

    /// Every output row: `R` at a time, then the fewer rows left over together.
    ///
    /// # Safety
    /// As [`Channel::run`], sizes checked.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_in_blocks<const K: usize, const S: usize, const R: usize, const CLAMP: bool>(
        &self,
        g: &Geometry,
        out: &mut [f32],
    ) {
        let full = g.rows / R * R;
        // SAFETY (every call): the rows summed exist.
        unsafe {
            for oy in (0..full).step_by(R) {
                self.rows::<K, S, R, CLAMP>(g, oy, out);
            }
            match g.rows - full {
                0 => {}
                1 => self.rows::<K, S, 1, CLAMP>(g, full, out),
                2 => self.rows::<K, S, 2, CLAMP>(g, full, out),
                3 => self.rows::<K, S, 3, CLAMP>(g, full, out),
                4 => self.rows::<K, S, 4, CLAMP>(g, full, out),
                5 => self.rows::<K, S, 5, CLAMP>(g, full, out),
                _ => (full..g.rows).for_each(|oy| self.rows::<K, S, 1, CLAMP>(g, oy, out)),
            }
        }
    }

    /// Output rows `first..first + R`, sixteen columns at a time: each input row they read is loaded once
    /// per tap column (`S` = 2: its even and odd columns taken apart) and multiplied into the sums of every
    /// one of the `R` rows that reads it.
    ///
    /// # Safety
    /// As [`Channel::run`], sizes checked; rows `first..first + R` exist.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn rows<const K: usize, const S: usize, const R: usize, const CLAMP: bool>(
        &self,
        g: &Geometry,
        first: usize,
        out: &mut [f32],
    ) {
        let weights: [[__m512; K]; K] =
            std::array::from_fn(|ky| std::array::from_fn(|kx| _mm512_set1_ps(self.w[ky * K + kx])));
        let (lo, hi) = self.bounds.unwrap_or((0.0, 0.0));
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        // Lane i of the even (odd) permute: column 2i (2i + 1) of two loads of sixteen.
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let top = (first * S) as isize - g.top;
        let x = self.x.as_ptr();
        for ox in (0..g.cols).step_by(LANES) {
            let start = (ox * S) as isize - g.left;
            let mut acc = [_mm512_set1_ps(self.bias); R];
            for j in 0..(R - 1) * S + K {
                let iy = top + j as isize;
                if iy < 0 || iy >= g.height as isize {
                    continue;
                }
                let row = x.wrapping_add(iy as usize * g.width);
                let load = |at: isize, mask: u64| {
                    // SAFETY: the mask keeps to the row's columns; masked lanes are not read.
                    unsafe { _mm512_maskz_loadu_ps(mask as __mmask16, row.wrapping_offset(at)) }
                };
                let taps: [__m512; K] = if S == 1 {
                    std::array::from_fn(|kx| {
                        let at = start + kx as isize;
                        load(at, valid_lanes(at, g.width, LANES))
                    })
                } else {
                    // Columns start + 2i (tap 0), start + 2i + 1 (tap 1), start + 2i + 2 (tap 2: the even
                    // columns moved down one lane, column start + 32 coming in last).
                    let both = valid_lanes(start, g.width, 3 * LANES);
                    let low = load(start, both);
                    let high = load(start + LANES as isize, both >> LANES);
                    let next = load(start + 2 * LANES as isize, (both >> (2 * LANES)) & 1);
                    let evens = _mm512_permutex2var_ps(low, even, high);
                    let odds = _mm512_permutex2var_ps(low, odd, high);
                    let shifted = _mm512_castsi512_ps(_mm512_alignr_epi32::<1>(
                        _mm512_castps_si512(next),
                        _mm512_castps_si512(evens),
                    ));
                    std::array::from_fn(|kx| [evens, odds, shifted][kx.min(2)])
                };
                for (r, a) in acc.iter_mut().enumerate() {
                    let Some(ky) = j.checked_sub(r * S).filter(|&ky| ky < K) else {
                        continue;
                    };
                    for kx in 0..K {
                        *a = _mm512_fmadd_ps(taps[kx], weights[ky][kx], *a);
                    }
                }
            }
            let mask = valid_lanes(0, g.cols - ox, LANES) as __mmask16;
            for (r, a) in acc.iter().enumerate() {
                let v = if CLAMP {
                    _mm512_min_ps(_mm512_max_ps(*a, lo), hi)
                } else {
                    *a
                };
                let at = (first + r) * g.cols + ox;
                // SAFETY: row first + r exists and the mask keeps to its columns.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(at), mask, v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(input: usize, output: usize, stride: usize) -> Axis {
        Axis {
            input,
            output,
            kernel: 3,
            stride,
            dilation: 1,
            pad_begin: 1,
            pad_end: 1,
        }
    }

    /// An empty batch and buffers that do not match the geometry leave the output as it was (no panic).
    #[test]
    fn mismatched_or_empty_buffers_are_left_alone() {
        let axes = [Axis::unit(), axis(8, 8, 1), axis(8, 8, 1)];
        let e = Epilogue::default();
        convolve(&[], &[0.0; 9], &axes, 1, &e, &[], &mut []);
        let mut out = vec![7.0; 64];
        convolve(&[1.0; 63], &[1.0; 9], &axes, 1, &e, &[], &mut out);
        convolve(&[1.0; 64], &[1.0; 8], &axes, 1, &e, &[], &mut out);
        assert!(out.iter().all(|&v| v == 7.0));
    }
}
