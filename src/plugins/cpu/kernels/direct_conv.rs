//! Direct f32 convolution for CPUs with AVX-512: no im2col buffer and no GEMM packing per call.
//!
//! The filter is packed once, at compile time, as the right-hand side of `out^T[positions × C_out] =
//! patches[positions × K] · filter^T[K × C_out]`: [`PackedB`] panels of [`NR`] output channels, one 16-lane
//! vector per tap. A tile of up to `MAX_POSITIONS` consecutive output positions of one output line (each
//! line cut into tiles of nearly equal widths; very short lines run across) by one or two panels keeps its
//! sums in registers over all `K = C_in · taps` taps: per tap it loads the panels' vectors and broadcasts each
//! position's input value straight from the (padded) input, so the input is never unfolded (an input whose
//! padded copy would outgrow L2 is padded band by band, each work item padding the rows its own output lines
//! read: `Bands`). A finished tile adds the bias and applies bounds (ReLU, Clamp) in its registers, is stored
//! transposed into the NCHW output, and what remains of the epilogue (a residual, other activations) runs on
//! each work item's output lines while they are in cache.

use super::conv::row_bands;
use super::sgemm::{NR, PackedB};
use super::{GroupedFilters, with_scratch};
use crate::error::{Error, Result};
use crate::ops::conv::Axis;
use rayon::prelude::*;
use std::ops::Range;

/// The most output positions one tile holds (24 accumulators for two panels, of AVX-512's 32 registers).
const MAX_POSITIONS: usize = 12;
/// Output lines shorter than this are run across ([`wraps`]) where they can be: a tile of fewer positions
/// keeps too few sums in flight to hide the multiply-add latency.
const MIN_LINE: usize = 4;
/// Work items per thread the output is cut into (for balance).
const ITEMS_PER_THREAD: usize = 4;
/// A padded input larger than this (bytes; L2's size on current cores) is padded band by band instead: each
/// work item pads the input rows of its own output lines just before it reads them, so that the padded rows
/// stay in cache rather than being written to memory whole and read back.
const BANDED_ABOVE: usize = 1 << 20;
/// The most padded input one band takes (bytes), within L2 next to the filter and the output lines.
const BAND_BYTES: usize = 256 * 1024;

/// Whether this CPU runs [`convolve`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether [`convolve`] serves a convolution of axes `a`: strides of 1 or 2 along the width and output lines
/// of at least `MIN_LINE` positions, or short lines that `wraps`.
pub fn suits(a: &[Axis; 3]) -> bool {
    available() && matches!(a[2].stride, 1 | 2) && (a[2].output >= MIN_LINE || wraps(a))
}

/// Whether tiles run across the ends of output lines: 2-D with stride 1, where consecutive positions along the
/// padded input's rows are one value apart, line ends included (the positions a tile spends on the padding
/// between lines are computed and dropped). Chosen for lines shorter than [`MIN_LINE`], and for 1x1 filters on
/// unpadded lines, which leave no padding to drop.
fn wraps(a: &[Axis; 3]) -> bool {
    (a[2].output < MIN_LINE || a[2].kernel == 1 && a[2].input == a[2].output)
        && a[0].output == 1
        && a[0].kernel == 1
        && a[1].stride == 1
        && a[2].stride == 1
}

/// One filter per group, packed for [`convolve`] as [`PackedB`] panels of output channels.
pub type PackedFilters = GroupedFilters<PackedB>;

/// Packs `w`, `groups` consecutive row-major `[out_per_group × (in_per_group · taps)]` matrices; `None` where
/// [`convolve`] cannot run (no AVX-512) or the sizes do not divide.
pub fn pack(w: &[f32], groups: usize, out_per_group: usize) -> Option<PackedFilters> {
    if !available() {
        return None;
    }
    GroupedFilters::pack(w, groups, out_per_group, |g, rows, depth| {
        PackedB::pack(g, depth, rows, 1, depth).ok()
    })
}

/// The input as [`convolve`] reads it: padded so that every tap of every output lies inside, with the
/// distance between consecutive values along each axis.
struct Layout {
    /// Padded lengths (depth, height, width).
    len: [usize; 3],
}

impl Layout {
    fn of(a: &[Axis; 3]) -> Layout {
        let len = std::array::from_fn(|i| {
            let ax = &a[i];
            let reach =
                (ax.output.max(1) - 1) * ax.stride + (ax.kernel.max(1) - 1) * ax.dilation + 1;
            reach.max(ax.pad_begin + ax.input)
        });
        Layout { len }
    }

    fn plane(&self) -> usize {
        self.len.iter().product()
    }

    /// Whether the input itself has this layout (no padding to add).
    fn is_input(&self, a: &[Axis; 3]) -> bool {
        a.iter()
            .zip(self.len)
            .all(|(ax, len)| ax.pad_begin == 0 && len == ax.input)
    }

    /// Offset of tap `(kd, kh, kw)` of input channel `c` from an output's first tap.
    fn tap(&self, a: &[Axis; 3], c: usize, k: [usize; 3]) -> usize {
        c * self.plane()
            + (k[0] * a[0].dilation * self.len[1] + k[1] * a[1].dilation) * self.len[2]
            + k[2] * a[2].dilation
    }

    /// Offset of output line `(od, oh)`'s first tap of channel 0.
    fn line(&self, a: &[Axis; 3], od: usize, oh: usize) -> usize {
        (od * a[0].stride * self.len[1] + oh * a[1].stride) * self.len[2]
    }
}

/// Copies `channels` input planes into `padded` (laid out by `layout`), zeros around them, from padded row
/// `first_row` of each plane on (0 for whole planes; a band's first row, see [`Bands`]): each padded row is
/// written once, as zeros or as its input row between zeros. Threads split the channels when `parallel`.
fn pad_input(
    x: &[f32],
    channels: usize,
    a: &[Axis; 3],
    layout: &Layout,
    first_row: usize,
    padded: &mut [f32],
    parallel: bool,
) {
    let plane = a[0].input * a[1].input * a[2].input;
    let [_, hp, wp] = layout.len;
    let [ad, ah, aw] = a;
    let inside = |i: usize, axis: &Axis| i.checked_sub(axis.pad_begin).filter(|&i| i < axis.input);
    let fill = |(src, dst): (&[f32], &mut [f32])| {
        for (r, row) in dst.chunks_exact_mut(wp.max(1)).enumerate() {
            let source = inside(r / hp.max(1), ad)
                .zip(inside(first_row + r % hp.max(1), ah))
                .and_then(|(d, h)| src.get((d * ah.input + h) * aw.input..)?.get(..aw.input));
            let Some(source) = source else {
                row.fill(0.0);
                continue;
            };
            let (left, rest) = row.split_at_mut(aw.pad_begin.min(wp));
            left.fill(0.0);
            let (middle, right) = rest.split_at_mut(aw.input.min(rest.len()));
            middle.copy_from_slice(&source[..middle.len()]);
            right.fill(0.0);
        }
    };
    if parallel {
        x.par_chunks_exact(plane.max(1))
            .zip(padded.par_chunks_exact_mut(layout.plane().max(1)))
            .take(channels)
            .for_each(fill);
    } else {
        x.chunks_exact(plane.max(1))
            .zip(padded.chunks_exact_mut(layout.plane().max(1)))
            .take(channels)
            .for_each(fill);
    }
}

/// What becomes of the finished sums: the tiles add a bias per output channel and then apply bounds (ReLU,
/// ReLU6, Clamp: `max(·, lo)`, then `min(·, hi)`) in registers before storing them; `after(channel, first
/// position, values)` then runs on every finished stretch of an output channel (what remains of an epilogue).
#[derive(Clone, Copy)]
pub struct Finishing<'a> {
    /// One value per output channel, or empty.
    pub bias: &'a [f32],
    /// The bounds, or none.
    pub bounds: Option<(f32, f32)>,
    /// What runs on the stored values.
    pub after: &'a Finish<'a>,
}

/// The convolution of one (batch, group) job: `dst[C_out × P] = filter · patches(x)` with `x` the group's
/// `channels` input planes and `P` the output positions of `a` (which [`suits`]), finished as `finishing`
/// says. Threads split output lines and panels when `parallel`.
pub fn convolve(
    x: &[f32],
    channels: usize,
    a: &[Axis; 3],
    filter: &PackedB,
    dst: &mut [f32],
    finishing: Finishing<'_>,
    parallel: bool,
) -> Result<()> {
    let taps = [a[0].kernel, a[1].kernel, a[2].kernel];
    let (m, k) = (filter.n(), filter.k());
    let lines = a[0].output * a[1].output;
    let ow = a[2].output;
    let positions = lines * ow;
    let plane = a[0].input * a[1].input * a[2].input;
    if !suits(a)
        || k != channels * taps.iter().product::<usize>()
        || dst.len() != m * positions
        || x.len() < channels * plane
        || !(finishing.bias.is_empty() || finishing.bias.len() == m)
    {
        return Err(Error::Internal(format!(
            "direct convolution of {channels} channels x {taps:?} taps by a {k}x{m} filter into {} values \
             (bias of {})",
            dst.len(),
            finishing.bias.len()
        )));
    }
    if positions == 0 || m == 0 {
        return Ok(());
    }
    let layout = Layout::of(a);
    let pairs = m.div_ceil(NR).div_ceil(2);
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let for_items = |count: usize, item: &(dyn Fn(usize) + Sync)| {
        if threads > 1 {
            (0..count).into_par_iter().for_each(item);
        } else {
            (0..count).for_each(item);
        }
    };
    let out = SharedOutput::new(dst);
    if let Some(bands) = Bands::of(a, channels, &layout, threads) {
        // Each band pads its own input rows and computes all its output channels from them.
        let offsets = tap_offsets(a, channels, &bands.layout);
        for_items(lines.div_ceil(bands.lines), &|b| {
            let band_lines = b * bands.lines..((b + 1) * bands.lines).min(lines);
            with_scratch(channels * bands.layout.plane(), |padded| {
                let first_row = band_lines.start * a[1].stride;
                pad_input(x, channels, a, &bands.layout, first_row, padded, false);
                let job = Job {
                    input: padded,
                    offsets: &offsets,
                    a,
                    layout: &bands.layout,
                    first_line: band_lines.start,
                    filter,
                    bias: finishing.bias,
                    bounds: finishing.bounds,
                    positions,
                };
                // SAFETY: bands own disjoint lines of every channel of the checked output.
                unsafe { job.run(band_lines, 0..pairs, &out, finishing.after) };
            });
        });
        return Ok(());
    }
    let offsets = tap_offsets(a, channels, &layout);
    let run = |input: &[f32]| {
        let bands = (ITEMS_PER_THREAD * threads).div_ceil(pairs).clamp(1, lines);
        let per_band = lines.div_ceil(bands);
        let bands = lines.div_ceil(per_band);
        let job = Job {
            input,
            offsets: &offsets,
            a,
            layout: &layout,
            first_line: 0,
            filter,
            bias: finishing.bias,
            bounds: finishing.bounds,
            positions,
        };
        for_items(bands * pairs, &|i| {
            let (band, pair) = (i / pairs, i % pairs);
            let band_lines = band * per_band..((band + 1) * per_band).min(lines);
            // SAFETY: items own disjoint (lines, panel pair) blocks of the checked output.
            unsafe { job.run(band_lines, pair..pair + 1, &out, finishing.after) };
        });
    };
    // A wrapped tile's positions lie between the first and the last output of its lines, so its taps stay
    // inside the planes as well.
    if layout.is_input(a) {
        run(x);
    } else {
        with_scratch(channels * layout.plane(), |padded| {
            pad_input(x, channels, a, &layout, 0, padded, parallel);
            run(padded)
        });
    }
    Ok(())
}

/// Offset of every tap (input channel by kernel position, in the filter's order) from an output's first tap in
/// an input laid out by `layout`.
fn tap_offsets(a: &[Axis; 3], channels: usize, layout: &Layout) -> Vec<usize> {
    let taps = [a[0].kernel, a[1].kernel, a[2].kernel];
    (0..channels)
        .flat_map(|c| (0..taps[0]).map(move |kd| (c, kd)))
        .flat_map(|(c, kd)| (0..taps[1]).map(move |kh| (c, kd, kh)))
        .flat_map(|(c, kd, kh)| (0..taps[2]).map(move |kw| [c, kd, kh, kw]))
        .map(|[c, kd, kh, kw]| layout.tap(a, c, [kd, kh, kw]))
        .collect()
}

/// Whether [`convolve`] pads the input of a convolution of axes `a` over `channels` input channels band by
/// band on `threads` threads.
#[cfg(test)]
pub(super) fn runs_in_bands(a: &[Axis; 3], channels: usize, threads: usize) -> bool {
    Bands::of(a, channels, &Layout::of(a), threads).is_some()
}

/// How a 2-D convolution whose padded input would outgrow L2 ([`BANDED_ABOVE`]) runs instead: in bands of
/// output lines, each padding only the input rows it reads, into a buffer of [`BAND_BYTES`] at most.
struct Bands {
    /// Output lines per band (the last band may have fewer).
    lines: usize,
    /// One band's padded input rows: every channel's, plane after plane.
    layout: Layout,
}

impl Bands {
    /// The bands of a convolution of axes `a` over `channels` input channels whose whole padded input would
    /// be laid out as `full`, for `threads` threads (at least [`ITEMS_PER_THREAD`] bands each, where there are
    /// lines enough); `None` where the input needs no padding, is small, is not 2-D, or tiles wrap.
    fn of(a: &[Axis; 3], channels: usize, full: &Layout, threads: usize) -> Option<Bands> {
        let bytes = channels * full.plane() * std::mem::size_of::<f32>();
        if full.is_input(a) || bytes <= BANDED_ABOVE || wraps(a) || full.len[0] != 1 {
            return None;
        }
        let row_bytes = channels * full.len[2] * std::mem::size_of::<f32>();
        let (lines, rows) = row_bands(&a[1], row_bytes, BAND_BYTES, ITEMS_PER_THREAD * threads);
        Some(Bands {
            lines,
            layout: Layout {
                len: [1, rows, full.len[2]],
            },
        })
    }
}

/// What a convolution kernel calls on every finished stretch of an output channel: `(channel, first position,
/// values)` (the epilogue, applied while the values are in cache).
pub type Finish<'a> = dyn Fn(usize, usize, &mut [f32]) + Sync + 'a;

/// What every work item of [`convolve`] shares.
struct Job<'a> {
    input: &'a [f32],
    offsets: &'a [usize],
    a: &'a [Axis; 3],
    layout: &'a Layout,
    /// The output line whose first tap starts `input`'s planes (a band's first line; 0 for whole planes).
    first_line: usize,
    filter: &'a PackedB,
    /// The bias of every output channel, or empty.
    bias: &'a [f32],
    bounds: Option<(f32, f32)>,
    positions: usize,
}

impl Job<'_> {
    /// Output lines `lines` by the output channels of panel pairs `pairs`, into `out`, then `after` on them.
    ///
    /// # Safety
    /// `out` is the output `convolve` checked (`filter.n() × positions` values), and no other work item
    /// touches these lines of these channels while this one runs.
    unsafe fn run(
        &self,
        lines: Range<usize>,
        pairs: Range<usize>,
        out: &SharedOutput,
        after: &Finish<'_>,
    ) {
        let (m, ow) = (self.filter.n(), self.a[2].output);
        let panels = m.div_ceil(NR);
        for pair in pairs.clone() {
            // SAFETY: the caller's guarantee.
            unsafe {
                self.item(
                    lines.clone(),
                    pair * 2..(pair * 2 + 2).min(panels),
                    out.get(),
                )
            };
        }
        let span = lines.start * ow..lines.end * ow;
        let channels = (pairs.start * 2 * NR).min(m)..(pairs.end * 2 * NR).min(m);
        // SAFETY: the caller's guarantee; this item wrote these values and holds no other reference to them.
        unsafe { out.finish(channels, self.positions, span, after) };
    }

    /// Output lines `lines` × the output channels of panels `panels` (one or two), into the output at `out`.
    ///
    /// # Safety
    /// `out` holds `filter.n() × positions` values; no one else writes this item's block.
    unsafe fn item(&self, lines: Range<usize>, panels: Range<usize>, out: *mut f32) {
        let (a, ow) = (self.a, self.a[2].output);
        let oh_n = a[1].output.max(1);
        let m = self.filter.n();
        let first_channel = panels.start * NR;
        let channels = (panels.end * NR).min(m) - first_channel;
        let mut weights = [std::ptr::null(); 2];
        for (w, j) in weights.iter_mut().zip(panels.clone()) {
            *w = self.filter.panel(j).as_ptr();
        }
        // The next pair of panels, which the item's first tile fetches while it computes (the next item of
        // this thread is most likely the next pair's: on the last lines of a layer on 7x7, whose panels are
        // read from memory, that hides the wait for them).
        let mut ahead = NO_AHEAD;
        for (w, j) in ahead
            .iter_mut()
            .zip(panels.end..(panels.end + 2).min(m.div_ceil(NR)))
        {
            *w = self.filter.panel(j).as_ptr();
        }
        let mut tile = Tile {
            ahead,
            input: self.input,
            first: 0,
            offsets: self.offsets,
            weights: &weights[..panels.len()],
            channels,
            bias: self
                .bias
                .get(first_channel..)
                .filter(|b| !b.is_empty())
                .map_or(std::ptr::null(), <[f32]>::as_ptr),
            bounds: self.bounds,
            // SAFETY: the caller's bound on `out`: channel `first_channel` starts there.
            out: unsafe { out.add(first_channel * self.positions) },
            ld: self.positions,
            dest: [SKIP; MAX_POSITIONS],
        };
        if wraps(a) {
            // Positions numbered along the padded rows: `oh * pitch + ow`, which is also where they start.
            let pitch = self.layout.len[2];
            let numbered = lines.start * pitch..(lines.end - 1) * pitch + ow;
            for (start, width) in tiles(numbered.len()) {
                let q = numbered.start + start;
                for (r, d) in tile.dest.iter_mut().enumerate().take(width) {
                    let (oh, w) = ((q + r) / pitch, (q + r) % pitch);
                    *d = if w < ow { oh * ow + w } else { SKIP };
                }
                tile.first = q;
                // SAFETY: `suits` held (AVX-512 present); the tile's positions lie between outputs of the
                // item's lines, whose taps `Layout` keeps inside the input; `dest` names this item's
                // positions only.
                unsafe { tile.run(width, 1) };
                tile.ahead = NO_AHEAD;
            }
            return;
        }
        for line in lines {
            let local = line - self.first_line;
            let base = self.layout.line(a, local / oh_n, local % oh_n);
            for (w0, width) in tiles(ow) {
                for (r, d) in tile.dest.iter_mut().enumerate().take(width) {
                    *d = line * ow + w0 + r;
                }
                tile.first = base + w0 * a[2].stride;
                // SAFETY: `suits` held (AVX-512 present); `Layout` pads the input so that every tap of every
                // output reads inside it; `dest` names this item's positions only.
                unsafe { tile.run(width, a[2].stride) };
                tile.ahead = NO_AHEAD;
            }
        }
    }
}

/// `(first, width)` of the tiles that cover `len` consecutive positions: as few as [`MAX_POSITIONS`] allows,
/// their widths at most one apart (a line of 14 runs as 7 + 7, not 12 + 2).
fn tiles(len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len.div_ceil(MAX_POSITIONS)).map(move |i| {
        let run = super::balanced_run(len, MAX_POSITIONS, i);
        (run.start, run.len())
    })
}

/// One tile: consecutive output positions of a line by one or two panels.
struct Tile<'a> {
    input: &'a [f32],
    /// Offset of the first position's first tap in `input`.
    first: usize,
    offsets: &'a [usize],
    /// The panels' values (one or two).
    weights: &'a [*const f32],
    /// Panels (of `offsets.len()` taps too) to prefetch into L2 tap by tap, or null.
    ahead: [*const f32; 2],
    /// Output channels written (at most `weights.len() * NR`).
    channels: usize,
    /// The first output channel's bias (then one per channel), or null.
    bias: *const f32,
    /// Bounds applied after the bias.
    bounds: Option<(f32, f32)>,
    /// The first output channel's values.
    out: *mut f32,
    /// Distance between output channels in `out`.
    ld: usize,
    /// Where each position of the tile goes in its channel's values, or [`SKIP`].
    dest: [usize; MAX_POSITIONS],
}

/// A [`Tile::ahead`] that prefetches nothing.
const NO_AHEAD: [*const f32; 2] = [std::ptr::null(); 2];

/// A [`Tile::dest`] that drops the position (padding between wrapped lines).
const SKIP: usize = usize::MAX;

impl Tile<'_> {
    /// Computes and stores `width` positions, `stride` input values apart.
    ///
    /// # Safety
    /// AVX-512F is present; every `first + offset + p * stride` (p < width) lies in `input`; `out` holds
    /// `channels` rows of `ld` values, `bias` (when not null) `channels` values, each `dest` of the first
    /// `width` is [`SKIP`] or below `ld`, and each `ahead` that is not null starts `offsets.len()` × NR values.
    #[cfg(target_arch = "x86_64")]
    unsafe fn run(&self, width: usize, stride: usize) {
        macro_rules! dispatch {
            ($($w:literal)*) => {
                match (width, stride, self.weights.len()) {
                    $(
                        ($w, 1, 2) => unsafe { avx512::tile::<$w, 1, 2>(self) },
                        ($w, 1, _) => unsafe { avx512::tile::<$w, 1, 1>(self) },
                        ($w, _, 2) => unsafe { avx512::tile::<$w, 2, 2>(self) },
                        ($w, _, _) => unsafe { avx512::tile::<$w, 2, 1>(self) },
                    )*
                    _ => {}
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12);
    }

    /// Never called: [`suits`] is false off x86-64.
    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn run(&self, _width: usize, _stride: usize) {}
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::transpose16;
    use super::{NR, Tile};
    use std::arch::x86_64::*;

    /// `W` positions (`S` apart in the input) × `P` panels, summed over every tap, stored transposed.
    ///
    /// # Safety
    /// See [`Tile::run`].
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile<const W: usize, const S: usize, const P: usize>(t: &Tile) {
        let mut acc = [[_mm512_setzero_ps(); P]; W];
        let x = unsafe { t.input.as_ptr().add(t.first) };
        let mut w: [*const f32; P] = [std::ptr::null(); P];
        w.copy_from_slice(&t.weights[..P]);
        let prefetching = t.ahead.iter().any(|a| !a.is_null());
        for (k, &off) in t.offsets.iter().enumerate() {
            if prefetching {
                for a in t.ahead.iter().filter(|a| !a.is_null()) {
                    // A prefetch reads nothing (tap k's values lie inside the panel anyway).
                    _mm_prefetch::<_MM_HINT_T1>(a.wrapping_add(k * NR).cast::<i8>());
                }
            }
            // SAFETY: the caller's bounds: panels hold `offsets.len()` rows of NR values; every tap of every
            // position lies in the input.
            unsafe {
                let mut v = [_mm512_setzero_ps(); P];
                for p in 0..P {
                    v[p] = _mm512_loadu_ps(w[p].add(k * NR));
                }
                let src = x.add(off);
                for (r, sums) in acc.iter_mut().enumerate() {
                    let b = _mm512_set1_ps(*src.add(r * S));
                    for p in 0..P {
                        sums[p] = _mm512_fmadd_ps(b, v[p], sums[p]);
                    }
                }
            }
        }
        if !t.bias.is_null() || t.bounds.is_some() {
            let (lo, hi) = t.bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
            let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
            for p in 0..P {
                let lanes = t.channels.saturating_sub(p * NR).min(NR);
                let mask: __mmask16 = ((1u32 << lanes) - 1) as __mmask16;
                let bias = if t.bias.is_null() {
                    _mm512_setzero_ps()
                } else {
                    // SAFETY: the caller's bound: a bias for each of the tile's `channels` channels, which
                    // the mask keeps to.
                    unsafe { _mm512_maskz_loadu_ps(mask, t.bias.add(p * NR)) }
                };
                for sums in acc.iter_mut() {
                    sums[p] = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(sums[p], bias), lo), hi);
                }
            }
        }
        // Positions bound for consecutive values of each channel (all but wrapped tiles): each panel's
        // vectors are transposed into a run of W positions per channel, one masked store each.
        if W > 1 && t.dest[0] != super::SKIP && (1..W).all(|j| t.dest[j] == t.dest[0] + j) {
            let mask: __mmask16 = ((1u32 << W) - 1) as __mmask16;
            for p in 0..P {
                let mut rows = [_mm512_setzero_ps(); NR];
                for (row, vectors) in rows.iter_mut().zip(&acc) {
                    *row = vectors[p];
                }
                let channels = t.channels.saturating_sub(p * NR).min(NR);
                for (c, run) in transpose16(rows).iter().enumerate().take(channels) {
                    // SAFETY: the caller's bounds: channel p * NR + c has `ld` values, and the W
                    // destinations from dest[0] are below `ld`.
                    unsafe {
                        let dst = t.out.add((p * NR + c) * t.ld + t.dest[0]);
                        _mm512_mask_storeu_ps(dst, mask, *run);
                    }
                }
            }
            return;
        }
        let mut sums = [[0.0f32; NR]; W];
        for p in 0..P {
            for (row, vectors) in sums.iter_mut().zip(&acc) {
                // SAFETY: `row` holds NR values.
                unsafe { _mm512_storeu_ps(row.as_mut_ptr(), vectors[p]) };
            }
            let channels = t.channels.saturating_sub(p * NR).min(NR);
            for c in 0..channels {
                // SAFETY: the caller's bound on `out`: channel p * NR + c < t.channels has `ld` values.
                let dst = unsafe { t.out.add((p * NR + c) * t.ld) };
                for (row, &d) in sums.iter().zip(&t.dest) {
                    if d != super::SKIP {
                        // SAFETY: `d < ld` (caller).
                        unsafe { *dst.add(d) = row[c] };
                    }
                }
            }
        }
    }
}

/// An output's base pointer, shared by work items that write disjoint blocks (here and in [`super::pointwise`]).
pub(super) struct SharedOutput(*mut f32);
// SAFETY: every user's work items write their own blocks of channels × positions, never the same value.
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// The base pointer of `dst`, whose blocks the work items then write through [`SharedOutput::get`].
    pub(super) fn new(dst: &mut [f32]) -> SharedOutput {
        SharedOutput(dst.as_mut_ptr())
    }

    /// The base pointer.
    pub(super) fn get(&self) -> *mut f32 {
        self.0
    }

    /// Calls `finish` on values `span` of each output channel in `channels`, channels `positions` values apart.
    ///
    /// # Safety
    /// The caller's work item wrote these values within the output, and no other reference to them is alive.
    pub(super) unsafe fn finish(
        &self,
        channels: Range<usize>,
        positions: usize,
        span: Range<usize>,
        finish: &Finish<'_>,
    ) {
        for channel in channels {
            // SAFETY: the caller's guarantee.
            let values = unsafe {
                std::slice::from_raw_parts_mut(
                    self.0.add(channel * positions + span.start),
                    span.len(),
                )
            };
            finish(channel, span.start, values);
        }
    }
}
