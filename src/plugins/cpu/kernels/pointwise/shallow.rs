//! Convolutions of few input channels (stems: an image's three channels under a 3x3 or 7x7 filter) on the 1x1
//! kernel's microkernel, for CPUs with AVX-512: vectors of consecutive output positions of one output row by up
//! to `MR` output channels, summed over every tap (`C_in · kh · kw` of them, at most `KC`) in registers and
//! stored into the NCHW rows as they are. The direct convolution's vectors of output channels need register
//! transposes to be stored, a large share of a tile's work when it sums a few dozen taps only.
//!
//! Each work item lays out the input rows its band of output rows reads, zero-padded and split into stride
//! phases ([`PhasedRows`]), so that the positions of a vector read consecutive values at every tap; the band
//! stays in cache while every tile passes over it.

use super::super::conv::{PhasedRows, row_bands, split_in_two_phases};
use super::super::direct_conv::{Finish, SharedOutput};
use super::super::with_scratch;
use super::{Job, KC, MR, NB, PackedRows, RegisterEpilogue, Step, available};
use crate::error::{Error, Result};
use crate::ops::conv::Axis;
use rayon::prelude::*;

/// The most input channels per group [`convolve`] takes.
const MAX_CHANNELS: usize = 4;
/// The most laid-out input one band takes (bytes), in L2 next to the output rows.
const BAND_BYTES: usize = 128 * 1024;
/// Work items per thread the output rows are cut into (for balance).
const ITEMS_PER_THREAD: usize = 4;

/// Whether [`convolve`] serves a convolution of axes `a` (trivial axes first) over `channels` input channels
/// per group: 2-D, at most `MAX_CHANNELS` channels, more than one tap but at most `KC` in all, and output
/// rows of at least 16 positions (one full vector).
pub fn suits(a: &[Axis; 3], channels: usize) -> bool {
    let [d, h, w] = a;
    available()
        && d.input == 1
        && d.output == 1
        && d.kernel == 1
        && d.pad_begin + d.pad_end == 0
        && (1..=MAX_CHANNELS).contains(&channels)
        && h.kernel * w.kernel > 1
        && channels * h.kernel * w.kernel <= KC
        && w.output >= 16
}

/// The convolution of one (batch, group) job: `dst[C_out × P] = filter · patches(x)` with `x` the group's
/// `channels` input planes and `P` the output positions of `a` (which [`suits`]), `epilogue` applied in
/// registers, then `finish(channel, first position, values)`, when given, on every finished stretch of an
/// output channel. Threads split the output rows when `parallel`.
#[allow(clippy::too_many_arguments)]
pub fn convolve(
    x: &[f32],
    channels: usize,
    a: &[Axis; 3],
    filter: &PackedRows,
    dst: &mut [f32],
    epilogue: RegisterEpilogue,
    finish: Option<&Finish<'_>>,
    parallel: bool,
) -> Result<()> {
    let (h, w) = (&a[1], &a[2]);
    let (m, k) = (filter.rows, filter.depth);
    let positions = h.output * w.output;
    if !suits(a, channels)
        || k != channels * h.kernel * w.kernel
        || x.len() != channels * h.input * w.input
        || dst.len() != m * positions
        || !(epilogue.bias.is_empty() || epilogue.bias.len() == m)
        || !(epilogue.residual.is_empty() || epilogue.residual.len() == dst.len())
        || epilogue.residual_in_output
    {
        return Err(Error::Internal(format!(
            "shallow convolution of {channels} channels by a {m}x{k} filter into {} values",
            dst.len()
        )));
    }
    if positions == 0 || m == 0 {
        return Ok(());
    }
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let bands = Bands::of(a, channels, threads);
    let offsets = bands.tap_offsets(a, channels);
    let job = Job {
        x,
        positions,
        filter,
        epilogue,
    };
    let out = SharedOutput::new(dst);
    let item = |b: usize| {
        let lines = b * bands.lines..((b + 1) * bands.lines).min(h.output);
        // NB values after the last row: the vector of a row's last positions may read past its end.
        with_scratch(channels * bands.channel_len() + NB, |laid| {
            bands.lay_out(x, channels, a, lines.start * h.stride, laid);
            for line in lines.clone() {
                let base = (line - lines.start) * h.stride * bands.rows.row_len;
                for t in 0..m.div_ceil(MR) {
                    for p0 in (0..w.output).step_by(NB) {
                        let at = line * w.output + p0;
                        let step = Step {
                            ahead: std::ptr::null(),
                            weights: filter.tile_from(t, 0).as_ptr(),
                            // SAFETY: `base + p0` lies in this band's first channel's rows.
                            input: unsafe { laid.as_ptr().add(base + p0) },
                            input_ld: 0,
                            offsets: offsets.as_ptr(),
                            depth: k,
                            // SAFETY: `out` holds `m × positions` values (checked above); the tile's first
                            // channel's value `at` is one of them.
                            out: unsafe {
                                out.get().add(filter.tile_rows(t).start * positions + at)
                            },
                            ld: positions,
                            width: NB.min(w.output - p0),
                            accumulate: false,
                            last: Some(job.last_step(t, at)),
                        };
                        // SAFETY: AVX-512 is present (`suits`); the tile holds `k` steps of MR weights; every
                        // tap of the band's outputs lies in its laid-out rows (`Bands`), and a vector's lanes
                        // past the row's end in the next row or the NB values of slack; the output rows are
                        // this item's alone; `offsets` holds `k` offsets, and `last` is set (with a bias).
                        unsafe { step.run(filter.tile_rows(t).len()) };
                    }
                }
            }
        });
        let Some(finish) = finish else { return };
        // SAFETY: this item wrote these rows of every channel and holds no other reference to them.
        unsafe {
            out.finish(
                0..m,
                positions,
                lines.start * w.output..lines.end * w.output,
                finish,
            )
        };
    };
    let count = h.output.div_ceil(bands.lines);
    if threads > 1 {
        (0..count).into_par_iter().for_each(item);
    } else {
        (0..count).for_each(item);
    }
    Ok(())
}

/// Bands of output rows and the input rows each lays out.
struct Bands {
    /// Output rows per band (the last band may have fewer).
    lines: usize,
    /// Input rows one band reads.
    rows_per_band: usize,
    /// How an input row is laid out.
    rows: PhasedRows,
}

impl Bands {
    /// The bands of a convolution of axes `a` over `channels` channels on `threads` threads: at least
    /// [`ITEMS_PER_THREAD`] bands per thread where there are rows enough, their input within [`BAND_BYTES`].
    fn of(a: &[Axis; 3], channels: usize, threads: usize) -> Bands {
        let rows = PhasedRows::new(&a[2]);
        let row_bytes = channels * rows.row_len * std::mem::size_of::<f32>();
        let (lines, rows_per_band) =
            row_bands(&a[1], row_bytes, BAND_BYTES, ITEMS_PER_THREAD * threads);
        Bands {
            lines,
            rows_per_band,
            rows,
        }
    }

    /// Laid-out values per input channel.
    fn channel_len(&self) -> usize {
        self.rows_per_band * self.rows.row_len
    }

    /// Offset of every tap (input channel by kernel row and column, in the filter's order) from its band's
    /// first output's first tap.
    fn tap_offsets(&self, a: &[Axis; 3], channels: usize) -> Vec<usize> {
        let (h, w) = (&a[1], &a[2]);
        (0..channels)
            .flat_map(|c| (0..h.kernel).map(move |ky| (c, ky)))
            .flat_map(|(c, ky)| (0..w.kernel).map(move |kx| (c, ky, kx)))
            .map(|(c, ky, kx)| {
                c * self.channel_len()
                    + ky * h.dilation * self.rows.row_len
                    + self.rows.tap_offset(w, kx)
            })
            .collect()
    }

    /// Lays out the band's input rows, from padded row `first_row` on, of every channel of `x` into `laid`
    /// (zeros where the rows fall in the padding).
    fn lay_out(
        &self,
        x: &[f32],
        channels: usize,
        a: &[Axis; 3],
        first_row: usize,
        laid: &mut [f32],
    ) {
        let (h, w) = (&a[1], &a[2]);
        let plane = h.input * w.input;
        let len = self.rows.row_len;
        for (c, rows) in laid
            .chunks_exact_mut(self.channel_len())
            .take(channels)
            .enumerate()
        {
            for (r, row) in rows.chunks_exact_mut(len).enumerate() {
                let source = (first_row + r)
                    .checked_sub(h.pad_begin)
                    .filter(|&y| y < h.input)
                    .and_then(|y| x.get(c * plane + y * w.input..c * plane + (y + 1) * w.input));
                match source {
                    Some(source) if w.stride == 2 => split_row(source, w.pad_begin, row),
                    Some(source) => self.rows.fill(source, row),
                    None => row.fill(0.0),
                }
            }
        }
    }
}

/// [`PhasedRows::fill`] at a stride of 2: `row` (two phases of `row.len() / 2` values) gets zeros, and input
/// value `i` goes to phase `(pad + i) % 2` at index `(pad + i) / 2`; 32 values at a time with two permutes where
/// the CPU has AVX-512 (rows of a stem's 640-pixel input are most of its laying out).
fn split_row(src: &[f32], pad: usize, row: &mut [f32]) {
    row.fill(0.0);
    let (even, odd) = row.split_at_mut(row.len() / 2);
    let done = split_row_avx512(src, pad, even, odd);
    if let Some(rest) = src.get(done..) {
        split_in_two_phases(rest, pad + done, even, odd);
    }
}

/// The whole 32-value chunks of [`split_row`] that fit both phases, with AVX-512; how many input values it
/// placed (0 without AVX-512).
fn split_row_avx512(src: &[f32], pad: usize, even: &mut [f32], odd: &mut [f32]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // Values at even offsets of a chunk go to one phase, those at odd offsets to the other, both from
        // index `first + chunk / 2`.
        let (at_even, at_odd, first) = if pad.is_multiple_of(2) {
            (&mut *even, &mut *odd, (pad / 2, pad / 2))
        } else {
            (&mut *odd, &mut *even, (pad / 2, pad / 2 + 1))
        };
        let room =
            (at_even.len().saturating_sub(first.0)).min(at_odd.len().saturating_sub(first.1));
        let chunks = (src.len() / 32).min(room / 16);
        // SAFETY: AVX-512F is present; chunk `c` reads src[32c..32c + 32] (c < src.len() / 32) and writes
        // 16 values from `first.0 + 16c` and `first.1 + 16c` of the phases, inside them (c < room / 16).
        unsafe {
            avx512::split(
                src.as_ptr(),
                chunks,
                at_even.as_mut_ptr().add(first.0),
                at_odd.as_mut_ptr().add(first.1),
            )
        };
        return chunks * 32;
    }
    let _ = (src, pad, even, odd);
    0
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `chunks` chunks of 32 values from `src`: the 16 at even offsets of chunk `c` to `evens + 16c`, the 16
    /// at odd offsets to `odds + 16c`.
    ///
    /// # Safety
    /// AVX-512F is present; `src` holds `32 · chunks` values, `evens` and `odds` `16 · chunks` each.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn split(src: *const f32, chunks: usize, evens: *mut f32, odds: *mut f32) {
        let pick_even =
            _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let pick_odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for c in 0..chunks {
            // SAFETY: the caller's bounds.
            unsafe {
                let lo = _mm512_loadu_ps(src.add(32 * c));
                let hi = _mm512_loadu_ps(src.add(32 * c + 16));
                _mm512_storeu_ps(evens.add(16 * c), _mm512_permutex2var_ps(lo, pick_even, hi));
                _mm512_storeu_ps(odds.add(16 * c), _mm512_permutex2var_ps(lo, pick_odd, hi));
            }
        }
    }
}
