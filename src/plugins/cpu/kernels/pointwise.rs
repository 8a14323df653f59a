//! 1x1 f32 convolution for CPUs with AVX-512: the product `out[C_out × P] = filter[C_out × C_in] · x[C_in × P]`
//! over the `P` output positions, with the filter packed once, at compile time.
//!
//! The filter is stored as tiles of at most `MR` output channels (as few tiles as that allows, of nearly equal
//! heights: 64 channels are tiles of 11 and 10, not five of 12 and one of 4), each tile's values input channel
//! by input channel (`[C_in][MR]`), so a step of the microkernel broadcasts the tile's weights of one input
//! channel. The input is read in blocks of `NB` positions by `KC` input channels, straight from its rows
//! (the last, partial block of positions from a copy padded with zeros); a panel of blocks (as many as
//! `PANEL_FLOATS` allows, one for deep inputs) stays in L1 while every tile of filter rows passes over its
//! blocks in turn (reading the full blocks in place rather than copying them first took ResNet-50's 256->64 and
//! MobileNetV2's 144->24 layers 12-25% faster); the microkernel keeps `MR × NB` sums in
//! registers, adds them into the NCHW output, whose rows (output channels) are contiguous — no transposed
//! stores and no unfolded input — and on the last K block applies the bias, a residual and bounds there
//! ([`RegisterEpilogue`]) before its one store. Strided 1x1 convolutions run on a subsampled copy of the input
//! (see `conv.rs`).

use super::direct_conv::{self, Finish, SharedOutput};
use super::{GroupedFilters, balanced_run, with_scratch};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::ops::Range;

pub mod shallow;

/// Output channels per tile: the rows of sums the microkernel keeps in registers (two vectors each, 24 of
/// AVX-512's 32 registers).
const MR: usize = 12;
/// Positions per block: two 16-lane vectors.
const NB: usize = 32;
/// The deepest K block (input channels): a block of at most `KC × NB` input values (20 KiB) stays in L1 while
/// the tiles pass. The input channels are cut into the fewest blocks of about the same depth (144 channels are
/// one block, not 128 and a 16-deep block that costs a whole extra pass over the output).
const KC: usize = 160;
/// Filter values one pass over an item's position blocks uses (a chunk of tiles by one K block, 256 KiB): they
/// stay in L2 while the blocks pass, so each is read from memory once per call.
const FILTER_BLOCK: usize = 64 * 1024;
/// Input values one panel of position blocks may hold (32 KiB: L1): each tile passes over a panel's blocks
/// before the next tile starts, so that it writes runs of several blocks to each of its output rows (and reads
/// the residual's rows so) instead of one block's 128 bytes per row, while the panel's input stays in L1.
/// Shallow inputs gain: MobileNetV2's 16->96 layer at 112x112, one thread, in-model 0.49 -> 0.43 ms.
const PANEL_FLOATS: usize = 8 * 1024;
/// The most position blocks in a panel.
const MAX_PANEL_BLOCKS: usize = 16;
/// Work items per thread when threads split the positions (for balance).
const ITEMS_PER_THREAD: usize = 4;

/// Whether this CPU runs [`convolve`] (AVX-512, as [`direct_conv`]).
pub fn available() -> bool {
    direct_conv::available()
}

/// A `C_out × C_in` filter packed into tiles of at most `MR` rows (`PackedRows::tile_rows`), each tile
/// zero-padded to `MR` rows.
#[derive(Debug)]
pub struct PackedRows {
    rows: usize,
    depth: usize,
    data: Vec<f32>,
}

impl PackedRows {
    /// Packs the row-major `rows × depth` matrix `w`.
    fn pack(w: &[f32], rows: usize, depth: usize) -> Option<PackedRows> {
        if w.len() != rows * depth {
            return None;
        }
        let tile_len = (depth * MR).max(1);
        let mut data = vec![0.0f32; rows.div_ceil(MR) * tile_len];
        for (t, tile) in data.chunks_exact_mut(tile_len).enumerate() {
            let own = balanced_run(rows, MR, t);
            for (r, row) in w
                .chunks_exact(depth.max(1))
                .skip(own.start)
                .take(own.len())
                .enumerate()
            {
                for (slot, &v) in tile.iter_mut().skip(r).step_by(MR).zip(row) {
                    *slot = v;
                }
            }
        }
        Some(PackedRows { rows, depth, data })
    }

    /// The output channels of tile `t`.
    fn tile_rows(&self, t: usize) -> Range<usize> {
        balanced_run(self.rows, MR, t)
    }

    /// Tile `t`'s values of input channels `k0..`.
    fn tile_from(&self, t: usize, k0: usize) -> &[f32] {
        let start = (t * self.depth + k0) * MR;
        self.data.get(start..).unwrap_or(&[])
    }
}

/// One filter per group, packed for [`convolve`] as tiles of at most `MR` output channels.
pub type PackedFilters = GroupedFilters<PackedRows>;

/// Packs `w`, `groups` consecutive row-major `[out_per_group × in_per_group]` matrices; `None` where
/// [`convolve`] cannot run (no AVX-512) or the sizes do not divide.
pub fn pack(w: &[f32], groups: usize, out_per_group: usize) -> Option<PackedFilters> {
    if !available() {
        return None;
    }
    GroupedFilters::pack(w, groups, out_per_group, PackedRows::pack)
}

/// What the microkernel applies to finished sums in registers, in this order: a bias per output channel, a
/// residual value (shaped like the output), then bounds (ReLU, ReLU6, Clamp): `max(·, lo)`, then `min(·, hi)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterEpilogue<'a> {
    /// One value per output channel, or empty.
    pub bias: &'a [f32],
    /// One value per output value, or empty.
    pub residual: &'a [f32],
    /// Whether the output already holds a residual on entry (the convolution is built in the residual's
    /// memory): the sums are added to it, as a later K block adds to an earlier one's. `residual` is then empty.
    pub residual_in_output: bool,
    /// The bounds, or none.
    pub bounds: Option<(f32, f32)>,
}

/// `dst[C_out × positions] = filter · x` with `x` the `C_in × positions` input (row-major), `epilogue` applied
/// in registers; then `finish(channel, first position, values)`, when given, on every finished stretch of an
/// output channel. Threads split blocks of positions and tiles of output channels when `parallel`.
pub fn convolve(
    x: &[f32],
    positions: usize,
    filter: &PackedRows,
    dst: &mut [f32],
    epilogue: RegisterEpilogue,
    finish: Option<&Finish<'_>>,
    parallel: bool,
) -> Result<()> {
    let (m, k) = (filter.rows, filter.depth);
    let residual_len = epilogue.residual.len();
    if !available()
        || x.len() != k * positions
        || dst.len() != m * positions
        || !(epilogue.bias.is_empty() || epilogue.bias.len() == m)
        || !(residual_len == 0 || residual_len == dst.len())
        || (residual_len > 0 && epilogue.residual_in_output)
    {
        return Err(Error::Internal(format!(
            "1x1 convolution of {k} channels x {positions} positions by a {m}x{k} filter into {} values \
             (bias of {}, residual of {residual_len})",
            dst.len(),
            epilogue.bias.len()
        )));
    }
    if positions == 0 || m == 0 {
        return Ok(());
    }
    let blocks = positions.div_ceil(NB);
    let tiles = m.div_ceil(MR);
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    // Items read their tiles' filter values and their blocks' input values: split the larger of the two (the
    // filter is `m × k`, the input `k × positions`), so that it is read once and the smaller one once per item.
    // Split by tiles, each item reads the whole input: one item per thread.
    let target = ITEMS_PER_THREAD * threads;
    let (tile_groups, block_groups) = if m >= positions {
        let tile_groups = threads.min(tiles);
        (tile_groups, threads.div_ceil(tile_groups).min(blocks))
    } else {
        let block_groups = target.min(blocks);
        (target.div_ceil(block_groups).min(tiles), block_groups)
    };
    let per_tile_group = tiles.div_ceil(tile_groups.max(1));
    let tile_groups = tiles.div_ceil(per_tile_group);
    let per_block_group = blocks.div_ceil(block_groups.max(1));
    let block_groups = blocks.div_ceil(per_block_group);
    let out = SharedOutput::new(dst);
    let job = Job {
        x,
        positions,
        filter,
        epilogue,
    };
    let item = |i: usize| {
        let (bg, tg) = (i / tile_groups, i % tile_groups);
        let block_range = bg * per_block_group..((bg + 1) * per_block_group).min(blocks);
        let tile_range = tg * per_tile_group..((tg + 1) * per_tile_group).min(tiles);
        // SAFETY: items own disjoint (channel, position) blocks of `dst`, whose length was checked.
        unsafe { job.item(block_range.clone(), tile_range.clone(), out.get()) };
        let Some(finish) = finish else { return };
        let span = block_range.start * NB..(block_range.end * NB).min(positions);
        let channels =
            filter.tile_rows(tile_range.start).start..filter.tile_rows(tile_range.end - 1).end;
        // SAFETY: as above; this item wrote these values and no other reference to them is alive.
        unsafe { out.finish(channels, positions, span, finish) };
    };
    let items = block_groups * tile_groups;
    if threads > 1 {
        (0..items).into_par_iter().for_each(item);
    } else {
        (0..items).for_each(item);
    }
    Ok(())
}

/// What every work item of [`convolve`] shares.
struct Job<'a> {
    x: &'a [f32],
    positions: usize,
    filter: &'a PackedRows,
    epilogue: RegisterEpilogue<'a>,
}

impl Job<'_> {
    /// Position blocks `blocks` × the output channels of tiles `tiles`, into the output at `out`.
    ///
    /// # Safety
    /// AVX-512F is present; `out` holds `filter.rows × positions` values; no one else writes this item's block.
    unsafe fn item(&self, blocks: Range<usize>, tiles: Range<usize>, out: *mut f32) {
        let (k, p) = (self.filter.depth, self.positions);
        let kc = k.div_ceil(k.div_ceil(KC).max(1)).max(1);
        let per_chunk = (FILTER_BLOCK / (kc * MR)).max(1);
        // Room to start the buffer at a 64-byte boundary, so that no vector load splits a cache line.
        with_scratch(KC * NB + 16, |scratch| {
            let skip = scratch.as_ptr().align_offset(64).min(16);
            let buffer = &mut scratch[skip..skip + KC * NB];
            let mut t0 = tiles.start;
            while t0 < tiles.end {
                let chunk = t0..(t0 + per_chunk).min(tiles.end);
                let mut k0 = 0;
                while k0 < k {
                    let depth = kc.min(k - k0);
                    let panel_blocks = (PANEL_FLOATS / (depth * NB)).clamp(1, MAX_PANEL_BLOCKS);
                    let mut b0 = blocks.start;
                    while b0 < blocks.end {
                        let panel = b0..(b0 + panel_blocks).min(blocks.end);
                        b0 = panel.end;
                        // Full blocks are read where they are (their lines stay in L1 while the tiles pass);
                        // the last, partial one from a copy padded with zeros, made once per panel.
                        let last = (panel.end - 1) * NB;
                        if p - last < NB {
                            self.load_block(k0..k0 + depth, last, p - last, buffer);
                        }
                        for t in chunk.clone() {
                            for block in panel.clone() {
                                let p0 = block * NB;
                                let width = NB.min(p - p0);
                                let (input, input_ld) = if width == NB {
                                    // SAFETY: rows k0..k0 + depth of x hold positions p0..p0 + NB
                                    // (x.len() = k · p, checked by `convolve`).
                                    (unsafe { self.x.as_ptr().add(k0 * p + p0) }, p)
                                } else {
                                    (buffer.as_ptr(), NB)
                                };
                                // The first block's steps fetch the next tile's weights while they compute
                                // (the later blocks find every tile of the chunk in L2).
                                let ahead = match self.filter.tile_from(t + 1, k0) {
                                    next if block == blocks.start && t + 1 < chunk.end => {
                                        next.as_ptr()
                                    }
                                    _ => std::ptr::null(),
                                };
                                let step = Step {
                                    ahead,
                                    weights: self.filter.tile_from(t, k0).as_ptr(),
                                    input,
                                    input_ld,
                                    offsets: std::ptr::null(),
                                    depth,
                                    // SAFETY: the caller's bound on `out`: the tile's first row starts there.
                                    out: unsafe {
                                        out.add(self.filter.tile_rows(t).start * p + p0)
                                    },
                                    ld: p,
                                    width,
                                    accumulate: k0 > 0 || self.epilogue.residual_in_output,
                                    last: (k0 + depth == k).then(|| self.last_step(t, p0)),
                                };
                                // SAFETY: the caller's guarantees; `weights` holds `depth` steps of MR values
                                // (the tile was packed with k = filter.depth ≥ k0 + depth), `input` holds
                                // `depth` rows of NB values `input_ld` apart, and `out` rows `rows` × `width`
                                // values of this item.
                                unsafe { step.run(self.filter.tile_rows(t).len()) };
                            }
                        }
                    }
                    k0 += depth;
                }
                t0 = chunk.end;
            }
        });
    }

    /// The epilogue of tile `t`'s block at position `p0`.
    fn last_step(&self, t: usize, p0: usize) -> LastStep {
        let e = &self.epilogue;
        let first = self.filter.tile_rows(t).start;
        let bias = match e.bias.get(first..) {
            Some(rest) if !e.bias.is_empty() => rest.as_ptr(),
            _ => NO_BIAS.as_ptr(),
        };
        let residual = match e.residual.get(first * self.positions + p0..) {
            Some(rest) if !e.residual.is_empty() => rest.as_ptr(),
            _ => std::ptr::null(),
        };
        LastStep {
            bias,
            residual,
            bounds: e.bounds,
        }
    }

    /// Copies positions `p0..p0 + width` of input channels `channels` into `buffer`, [`NB`] values per channel
    /// (zeros after the `width`).
    fn load_block(&self, channels: Range<usize>, p0: usize, width: usize, buffer: &mut [f32]) {
        for (c, row) in channels.zip(buffer.chunks_exact_mut(NB)) {
            let from = c * self.positions + p0;
            let (values, rest) = row.split_at_mut(width.min(NB));
            if let Some(source) = self.x.get(from..from + values.len()) {
                values.copy_from_slice(source);
            }
            rest.fill(0.0);
        }
    }
}

/// One microkernel call: `rows` output channels × `width` positions over `depth` input channels.
struct Step {
    /// `depth` steps of [`MR`] weights.
    weights: *const f32,
    /// `depth` steps of [`MR`] weights to prefetch into L2 as the step goes, or null.
    ahead: *const f32,
    /// `depth` rows of [`NB`] input values, `input_ld` apart.
    input: *const f32,
    /// Distance between the input rows.
    input_ld: usize,
    /// Where each of the `depth` input rows starts after `input`, or null: `input_ld` apart
    /// ([`shallow`]'s taps; such a step always ends the sums, with a bias, so its `last` is set).
    offsets: *const usize,
    depth: usize,
    /// The first output channel's first position.
    out: *mut f32,
    /// Distance between output channels.
    ld: usize,
    /// Positions written (at most [`NB`]).
    width: usize,
    /// Whether the sums are added to the output (a later K block) rather than stored.
    accumulate: bool,
    /// The epilogue, on the last K block.
    last: Option<LastStep>,
}

/// The bias of a convolution without one.
static NO_BIAS: [f32; MR] = [0.0; MR];

/// The register epilogue of one microkernel call.
struct LastStep {
    /// The first output channel's bias (then one per channel; [`NO_BIAS`] without one).
    bias: *const f32,
    /// The first output channel's first residual value (laid out like the output), or null.
    residual: *const f32,
    bounds: Option<(f32, f32)>,
}

impl Step {
    /// Runs the microkernel for `rows` (at most [`MR`]) output channels.
    ///
    /// # Safety
    /// See [`Job::item`].
    #[cfg(target_arch = "x86_64")]
    unsafe fn run(&self, rows: usize) {
        // What the last K block applies: the bias, a residual, bounds (see `avx512::step`).
        let finish = self.last.as_ref().map_or(0, |l| {
            1 | if l.residual.is_null() { 0 } else { 2 } | if l.bounds.is_some() { 4 } else { 0 }
        });
        if !self.offsets.is_null() {
            macro_rules! gathered {
                ($($r:literal)*) => {
                    match (rows, self.width > 16, finish) {
                        $(
                            ($r, true, 1) => unsafe { avx512::step::<$r, 2, 1, true>(self) },
                            ($r, true, 3) => unsafe { avx512::step::<$r, 2, 3, true>(self) },
                            ($r, true, 5) => unsafe { avx512::step::<$r, 2, 5, true>(self) },
                            ($r, true, 7) => unsafe { avx512::step::<$r, 2, 7, true>(self) },
                            ($r, false, 1) => unsafe { avx512::step::<$r, 1, 1, true>(self) },
                            ($r, false, 3) => unsafe { avx512::step::<$r, 1, 3, true>(self) },
                            ($r, false, 5) => unsafe { avx512::step::<$r, 1, 5, true>(self) },
                            ($r, false, 7) => unsafe { avx512::step::<$r, 1, 7, true>(self) },
                        )*
                        _ => {}
                    }
                };
            }
            gathered!(1 2 3 4 5 6 7 8 9 10 11 12);
            return;
        }
        macro_rules! dispatch {
            ($($r:literal)*) => {
                match (rows, self.width > 16, finish) {
                    $(
                        ($r, true, 0) => unsafe { avx512::step::<$r, 2, 0, false>(self) },
                        ($r, true, 1) => unsafe { avx512::step::<$r, 2, 1, false>(self) },
                        ($r, true, 3) => unsafe { avx512::step::<$r, 2, 3, false>(self) },
                        ($r, true, 5) => unsafe { avx512::step::<$r, 2, 5, false>(self) },
                        ($r, true, _) => unsafe { avx512::step::<$r, 2, 7, false>(self) },
                        ($r, false, 0) => unsafe { avx512::step::<$r, 1, 0, false>(self) },
                        ($r, false, 1) => unsafe { avx512::step::<$r, 1, 1, false>(self) },
                        ($r, false, 3) => unsafe { avx512::step::<$r, 1, 3, false>(self) },
                        ($r, false, 5) => unsafe { avx512::step::<$r, 1, 5, false>(self) },
                        ($r, false, _) => unsafe { avx512::step::<$r, 1, 7, false>(self) },
                    )*
                    _ => {}
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12);
    }

    /// Never called: [`available`] is false off x86-64.
    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn run(&self, _rows: usize) {}
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, Step};
    use std::arch::x86_64::*;

    /// `R` output channels × `V` vectors of positions, summed over the step's input channels, finished on the
    /// last K block as `F` says (bit 1: the bias; 2: the residual; 4: the bounds; 0: not the last block) and
    /// stored (or added) into the output under the step's width; the input rows lie at the step's `offsets`
    /// when `G`, else `input_ld` apart. The finishing steps are compile-time choices, so that the compiler keeps
    /// the sums in registers.
    ///
    /// # Safety
    /// See [`Step::run`]; `F` matches `s.last`; `G` that `s.offsets` holds `depth` offsets.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn step<const R: usize, const V: usize, const F: u8, const G: bool>(s: &Step) {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        let prefetching = !s.ahead.is_null();
        // The residual (or the output a residual or an earlier K block left, when accumulating) is read only
        // after the loop, by the epilogue, and its rows (a plane apart) defeat the hardware prefetcher: the
        // loop's first iterations fetch its lines, one each (a row's V vectors and the line after them, which
        // an unaligned row also spans). 64->256 at 56x56 in ResNet-50: 9% faster.
        let rows_ahead = match &s.last {
            Some(l) if F & 2 != 0 => l.residual,
            _ if s.accumulate => s.out.cast_const(),
            _ => std::ptr::null(),
        };
        for kk in 0..s.depth {
            if prefetching {
                // A prefetch reads nothing (step kk's weights lie inside the next tile anyway).
                _mm_prefetch::<_MM_HINT_T1>(s.ahead.wrapping_add(kk * MR).cast::<i8>());
            }
            if kk < R * (V + 1) && !rows_ahead.is_null() {
                let (r, line) = (kk / (V + 1), kk % (V + 1));
                // A prefetch reads nothing (the line lies in the row, or just after it).
                _mm_prefetch::<_MM_HINT_T0>(
                    rows_ahead.wrapping_add(r * s.ld + line * 16).cast::<i8>(),
                );
            }
            // SAFETY: the caller's bounds: `depth` steps of MR weights and rows of NB input values.
            unsafe {
                let row = if G {
                    *s.offsets.add(kk)
                } else {
                    kk * s.input_ld
                };
                let mut b = [_mm512_setzero_ps(); V];
                for (v, lanes) in b.iter_mut().enumerate() {
                    *lanes = _mm512_loadu_ps(s.input.add(row + v * 16));
                }
                let w = s.weights.add(kk * MR);
                for (r, sums) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*w.add(r));
                    for v in 0..V {
                        sums[v] = _mm512_fmadd_ps(a, b[v], sums[v]);
                    }
                }
            }
        }
        let (bias, residual, (lo, hi)) = match &s.last {
            Some(l) => (l.bias, l.residual, l.bounds.unwrap_or((0.0, 0.0))),
            None => (std::ptr::null(), std::ptr::null(), (0.0, 0.0)),
        };
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for (r, sums) in acc.iter().enumerate() {
            // SAFETY: the caller's bounds: a bias per row (F & 1), rows of `width` output and residual
            // (F & 2) values from `out` and `residual`, which the masks keep to.
            unsafe {
                let b = if F & 1 != 0 {
                    _mm512_set1_ps(*bias.add(r))
                } else {
                    _mm512_setzero_ps()
                };
                for (v, &sum) in sums.iter().enumerate() {
                    let lanes = s.width.saturating_sub(v * 16).min(16);
                    let mask: __mmask16 = ((1u32 << lanes) - 1) as __mmask16;
                    let at = r * s.ld + v * 16;
                    let mut total = sum;
                    if s.accumulate {
                        total = _mm512_add_ps(total, _mm512_maskz_loadu_ps(mask, s.out.add(at)));
                    }
                    if F & 1 != 0 {
                        total = _mm512_add_ps(total, b);
                    }
                    if F & 2 != 0 {
                        total = _mm512_add_ps(total, _mm512_maskz_loadu_ps(mask, residual.add(at)));
                    }
                    if F & 4 != 0 {
                        total = _mm512_min_ps(_mm512_max_ps(total, lo), hi);
                    }
                    _mm512_mask_storeu_ps(s.out.add(at), mask, total);
                }
            }
        }
    }
}
