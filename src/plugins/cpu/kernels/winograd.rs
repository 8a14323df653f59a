//! Winograd convolution for CPUs with AVX-512: 2-D 3×3 filters of stride 1. F(4×4, 3×3) takes 36 multiplies per
//! 4×4 tile of outputs and pair of channels where the direct convolution ([`super::direct_conv`]) does 144;
//! F(2×2, 3×3), for outputs too small for enough 4×4 tiles, 16 where it does 36.
//!
//! Each `(t + 2)²` tile `d` of the padded input (`t` the tile's side; tiles overlap by two rows and columns)
//! becomes `V = Bᵀ d B`, each filter `g` becomes `U = G g Gᵀ` (once, at compile time), and a tile's outputs are
//! `Aᵀ M A` with `M = Σ_c U ⊙ V` over the input channels. That sum is, for each point of a transformed tile, one
//! GEMM: `M[tiles × C_out] = V[tiles × C_in] · U[C_in × C_out]`, with each point's filters packed as
//! [`PackedB`] panels of sixteen output channels.
//!
//! A work item takes a band of tile rows and a run of those panels. It copies the band's input rows into a
//! padded, channel-last block (sixteen channels per vector, transposed 16×16 at a time), transforms its tiles
//! (vectors of sixteen channels), runs the products of every point for its panels, and transforms them back
//! into the NCHW output with the bias and bounds applied in registers; the rest of the epilogue then runs on its
//! finished rows. Everything but the output stays in the work item's own scratch memory.

use super::direct_conv::{Finishing, SharedOutput};
use super::sgemm::{NR, PackedB};
use super::{GroupedFilters, balanced_run};
use crate::error::{Error, Result};
use crate::ops::conv::Axis;

/// Outputs per tile side of F(4×4, 3×3).
const LARGE: usize = 4;
/// Outputs per tile side of F(2×2, 3×3).
const SMALL: usize = 2;
/// Channels per vector: one panel of output channels.
const LANES: usize = NR;
/// The fewest tiles a convolution runs here with: each transformed filter value serves one multiply-add per
/// tile, and with fewer tiles the products wait on the filter's memory rather than compute (two threads,
/// in-model: ResNet-50's 14x14 layers, sixteen 4×4 tiles, took 1.25x the time of 49 2×2 ones, and its 7x7 3x3
/// 512 layers, sixteen 2×2 tiles, 1.10x that of the direct convolution; YOLO's 20x20 layers, 25 4×4 tiles,
/// 0.96-1.23x that of 100 2×2 ones; 28x28, 49 4×4 tiles, 0.63x the other way).
const MIN_TILES: usize = 36;
/// The fewest tiles per band when the bands are made a multiple of the threads.
const MIN_BAND_TILES: usize = 16;
/// The fewest input and output channels a convolution runs here with (one vector of channels): the transforms
/// cost per channel what a product costs per pair of channels, and at sixteen channels in and out the products
/// still carry them (YOLO's 16->16 layers at 160x160, two threads, in-model: 0.84-0.91x the direct
/// convolution's time).
const MIN_CHANNELS: usize = 16;
/// Tiles per band: a band's transformed input and products stay in L2.
const BAND_TILES: usize = 32;

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

/// Whether a convolution of axes `a` (lifted, trivial axes first) runs here ([`tile_for`]).
pub fn suits(a: &[Axis; 3], inputs: usize, outputs: usize) -> bool {
    tile_for(a, inputs, outputs).is_some()
}

/// The tile side a convolution of axes `a` (lifted, trivial axes first) runs with: 2-D, 3×3, stride and
/// dilation 1, enough channels (`inputs` and `outputs` per group); 4 where the output holds 36 4×4
/// tiles, else 2 where it holds that many 2×2 ones (outputs at least a tile wide); `None` otherwise.
pub fn tile_for(a: &[Axis; 3], inputs: usize, outputs: usize) -> Option<usize> {
    if !available() || !is_3x3(a) || inputs < MIN_CHANNELS || outputs < MIN_CHANNELS {
        return None;
    }
    [LARGE, SMALL]
        .into_iter()
        .find(|&t| a[2].output >= t && tiles(a, t) >= MIN_TILES)
}

/// 2-D with a 3×3 filter of stride and dilation 1 (the shapes [`convolve`] computes).
fn is_3x3(a: &[Axis; 3]) -> bool {
    let [flat, rows, cols] = a;
    let trivial = flat.input == 1
        && flat.output == 1
        && flat.kernel == 1
        && flat.pad_begin == 0
        && flat.pad_end == 0;
    trivial
        && [rows, cols]
            .iter()
            .all(|ax| ax.kernel == 3 && ax.stride == 1 && ax.dilation == 1)
}

/// Tiles of `t × t` outputs that cover the output.
fn tiles(a: &[Axis; 3], t: usize) -> usize {
    a[1].output.div_ceil(t) * a[2].output.div_ceil(t)
}

/// One group's filters transformed and packed: per point, `[C_in (rounded up to sixteen) × C_out]` panels.
#[derive(Debug)]
pub struct PackedFilter {
    points: Vec<PackedB>,
    channels: usize,
    /// The tile side: 4 or 2.
    tile: usize,
}

/// The transformed filters of every group.
pub type PackedFilters = GroupedFilters<PackedFilter>;

/// Transforms and packs `w`, `groups` consecutive row-major `[out_per_group × (in_per_group · 9)]` matrices of
/// 3×3 filters, for tiles of side `tile` (4 or 2, as [`tile_for`] says); `None` where [`convolve`] cannot run (no
/// AVX-512) or the sizes do not divide. Sixteen output channels' filters are transformed at once, straight into
/// their panel of every point.
pub fn pack(w: &[f32], groups: usize, out_per_group: usize, tile: usize) -> Option<PackedFilters> {
    if !available() {
        return None;
    }
    GroupedFilters::pack(w, groups, out_per_group, |g, outputs, depth| {
        let points = match tile {
            LARGE => pack_points::<{ LARGE + 2 }>(g, outputs, depth),
            SMALL => pack_points::<{ SMALL + 2 }>(g, outputs, depth),
            _ => None,
        }?;
        Some(PackedFilter {
            points,
            channels: depth / 9,
            tile,
        })
    })
}

/// One group's filters (`outputs` rows of `depth` values) transformed for tiles of `S - 2` outputs a side and
/// packed: one matrix per point, points row-major.
fn pack_points<const S: usize>(g: &[f32], outputs: usize, depth: usize) -> Option<Vec<PackedB>> {
    if !depth.is_multiple_of(9) {
        return None;
    }
    let channels = depth / 9;
    let rows = channels.next_multiple_of(LANES);
    let (panels, panel) = (outputs.div_ceil(NR), rows * NR);
    let mut points: Vec<Vec<f32>> = (0..S * S).map(|_| vec![0.0; panels * panel]).collect();
    for j in 0..panels {
        for c in 0..channels {
            let mut taps = [[0.0; LANES]; 9];
            for (l, k) in (j * NR..outputs.min((j + 1) * NR)).enumerate() {
                let filter = g
                    .get(k * depth + c * 9..k * depth + c * 9 + 9)
                    .unwrap_or(&[]);
                for (tap, &v) in taps.iter_mut().zip(filter) {
                    tap[l] = v;
                }
            }
            let at = j * panel + c * NR;
            let transformed = transform_filters::<S>(&taps);
            for (point, values) in points.iter_mut().zip(transformed.iter().flatten()) {
                if let Some(dst) = point.get_mut(at..at + NR) {
                    dst.copy_from_slice(values);
                }
            }
        }
    }
    points
        .into_iter()
        .map(|data| PackedB::from_panels(rows, outputs, data).ok())
        .collect()
}

/// Sixteen filters at once (`g[tap][filter]`, taps row-major): `G g Gᵀ`, the `S × S` transformed filters,
/// `[row][column][filter]`.
fn transform_filters<const S: usize>(g: &[[f32; LANES]; 9]) -> [[[f32; LANES]; S]; S] {
    // `G g`: each column of taps.
    let columns: [[[f32; LANES]; S]; 3] =
        std::array::from_fn(|j| g_times::<S>(&g[j], &g[3 + j], &g[6 + j]));
    // `(G g) Gᵀ`: each row of `G g`.
    std::array::from_fn(|i| g_times::<S>(&columns[0][i], &columns[1][i], &columns[2][i]))
}

/// `G` (`S × 3`) times the column of three values `(a, b, c)`, lane by lane.
#[inline(always)]
fn g_times<const S: usize>(
    a: &[f32; LANES],
    b: &[f32; LANES],
    c: &[f32; LANES],
) -> [[f32; LANES]; S] {
    let mut r = [[0.0; LANES]; S];
    for l in 0..LANES {
        let (a, b, c) = (a[l], b[l], c[l]);
        match &mut r[..] {
            [r0, r1, r2, r3, r4, r5] => {
                r0[l] = a / 4.0;
                r1[l] = -(a + b + c) / 6.0;
                r2[l] = -(a - b + c) / 6.0;
                r3[l] = a / 24.0 + b / 12.0 + c / 6.0;
                r4[l] = a / 24.0 - b / 12.0 + c / 6.0;
                r5[l] = c;
            }
            [r0, r1, r2, r3] => {
                r0[l] = a;
                r1[l] = (a + b + c) / 2.0;
                r2[l] = (a - b + c) / 2.0;
                r3[l] = c;
            }
            _ => {}
        }
    }
    r
}

/// The tiles of one (batch, group) job and the padded input rows they read.
#[derive(Debug, Clone, Copy)]
struct Grid {
    /// Input height and width.
    input: [usize; 2],
    /// Output height and width.
    output: [usize; 2],
    /// Padding before the first row and column.
    pad: [usize; 2],
    /// The tile side, and the tile rows and columns.
    tile: usize,
    tiles: [usize; 2],
    /// Input channels, and the same rounded up to [`LANES`].
    channels: usize,
    padded_channels: usize,
    /// Output channels, and the same rounded up to [`LANES`] (a row of the products' output).
    outputs: usize,
    padded_outputs: usize,
}

impl Grid {
    fn of(a: &[Axis; 3], channels: usize, outputs: usize, tile: usize) -> Grid {
        let (rows, cols) = (&a[1], &a[2]);
        let tile = tile.max(1);
        Grid {
            input: [rows.input, cols.input],
            output: [rows.output, cols.output],
            pad: [rows.pad_begin, cols.pad_begin],
            tile,
            tiles: [rows.output.div_ceil(tile), cols.output.div_ceil(tile)],
            channels,
            padded_channels: channels.next_multiple_of(LANES),
            outputs,
            padded_outputs: outputs.next_multiple_of(LANES),
        }
    }

    /// Width of the padded input block: every tile's columns.
    fn width(&self) -> usize {
        self.tiles[1] * self.tile + 2
    }

    /// Points of a transformed tile.
    fn points(&self) -> usize {
        (self.tile + 2) * (self.tile + 2)
    }

    /// Values of the channel-last input block of `rows` tile rows.
    fn block_len(&self, rows: usize) -> usize {
        (rows * self.tile + 2) * self.width() * self.padded_channels
    }

    /// The scratch memory (values) of a band of `rows` tile rows: input block, transformed tiles, products.
    fn scratch_len(&self, rows: usize) -> usize {
        let tiles = rows * self.tiles[1];
        self.block_len(rows) + self.points() * tiles * (self.padded_channels + self.padded_outputs)
    }
}

/// The convolution of one (batch, group) job: `dst[C_out × P]` from `x`, the group's `channels` input planes, by
/// the transformed filters `filter`, for axes `a` (2-D 3×3 of stride 1, outputs at least a tile wide: [`tile_for`]
/// without its limits on tiles and channels),
/// finished as `finishing` says. Threads split bands of tile rows and runs of output channels when `parallel`.
pub fn convolve(
    x: &[f32],
    channels: usize,
    a: &[Axis; 3],
    filter: &PackedFilter,
    dst: &mut [f32],
    finishing: Finishing<'_>,
    parallel: bool,
) -> Result<()> {
    let outputs = filter.points.first().map_or(0, PackedB::n);
    let grid = Grid::of(a, channels, outputs, filter.tile);
    let [h, w] = grid.input;
    let positions = grid.output[0] * grid.output[1];
    if !available()
        || !is_3x3(a)
        || grid.output[1] < filter.tile
        || ![LARGE, SMALL].contains(&filter.tile)
        || filter.points.len() != grid.points()
        || channels != filter.channels
        || x.len() < channels * h * w
        || dst.len() != outputs * positions
        || !(finishing.bias.is_empty() || finishing.bias.len() == outputs)
    {
        return Err(Error::Internal(format!(
            "Winograd convolution of {channels} channels of {h}x{w} by a filter of {} input and {outputs} \
             output channels into {} values (bias of {})",
            filter.channels,
            dst.len(),
            finishing.bias.len()
        )));
    }
    if positions == 0 || outputs == 0 {
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    {
        let threads = if parallel {
            rayon::current_num_threads()
        } else {
            1
        };
        let plan = Plan::of(&grid, threads);
        let out = SharedOutput::new(dst);
        let item = |i: usize| {
            let (rows, panels) = plan.item(i);
            // SAFETY: the CPU has AVX-512 (checked above); the tile side picks the transforms' sizes; items own
            // disjoint (tile rows, output channels) blocks of the checked output.
            unsafe {
                match grid.tile {
                    LARGE => avx512::band::<LARGE, { LARGE + 2 }>(
                        x, &grid, filter, rows, panels, &finishing, &out,
                    ),
                    _ => avx512::band::<SMALL, { SMALL + 2 }>(
                        x, &grid, filter, rows, panels, &finishing, &out,
                    ),
                }
            }
        };
        if threads > 1 {
            use rayon::prelude::*;
            (0..plan.items()).into_par_iter().try_for_each(item)
        } else {
            (0..plan.items()).try_for_each(item)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, dst, parallel);
        Err(Error::Internal("Winograd convolution needs AVX-512".into()))
    }
}

/// How the work items cut a job: bands of tile rows by runs of output-channel panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    /// Tile rows, and the most per band.
    rows: usize,
    rows_per_band: usize,
    /// Panels, and the most per run.
    panels: usize,
    panels_per_run: usize,
}

impl Plan {
    /// Bands of about [`BAND_TILES`] tiles, a multiple of `threads` of them where that leaves each band
    /// [`MIN_BAND_TILES`] and the tile rows allow (ResNet-50's 14x14 layers with 4×4 tiles: one band of sixteen
    /// tiles rather than two of eight, 0.97x in-model on two threads). Where the bands are fewer than the
    /// threads, runs of panels make one item per thread; each item transforms its band's input (two items per
    /// thread took ResNet-50's 14x14 layers and YOLO's 20x20 ones 1.10-1.46x the time, and one band in two runs
    /// rather than two bands of 28 and 21 2×2 tiles 1.06x on the 14x14 layers).
    fn of(grid: &Grid, threads: usize) -> Plan {
        let rows = grid.tiles[0];
        let tiles = rows * grid.tiles[1];
        let bands = tiles.div_ceil(BAND_TILES);
        let rounded = bands.next_multiple_of(threads.max(1));
        let bands = if tiles / rounded >= MIN_BAND_TILES {
            rounded
        } else {
            bands
        };
        let bands = bands.clamp(1, rows.max(1));
        let rows_per_band = rows.div_ceil(bands).max(1);
        let bands = rows.div_ceil(rows_per_band).max(1);
        let panels = grid.outputs.div_ceil(LANES);
        let runs = threads.div_ceil(bands).clamp(1, panels.max(1));
        Plan {
            rows,
            rows_per_band,
            panels,
            panels_per_run: panels.div_ceil(runs).max(1),
        }
    }

    fn runs(&self) -> usize {
        self.panels.div_ceil(self.panels_per_run).max(1)
    }

    fn items(&self) -> usize {
        self.rows.div_ceil(self.rows_per_band) * self.runs()
    }

    /// Item `i`'s tile rows and panels.
    fn item(&self, i: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let runs = self.runs();
        (
            balanced_run(self.rows, self.rows_per_band, i / runs),
            balanced_run(self.panels, self.panels_per_run, i % runs),
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::sgemm;
    use super::super::{math, transpose16, with_scratch};
    use super::{Finishing, Grid, LANES, PackedFilter, SharedOutput};
    use crate::error::Result;
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// One work item: tile rows `rows` by output-channel panels `panels` of the job (see [`super::convolve`]),
    /// for tiles of `T × T` outputs, `S = T + 2` inputs a side.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds the job's input planes and `out` its output (sizes checked by the
    /// caller); `grid.tile` is `T`; no other item writes these rows of these channels.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn band<const T: usize, const S: usize>(
        x: &[f32],
        grid: &Grid,
        filter: &PackedFilter,
        rows: Range<usize>,
        panels: Range<usize>,
        finishing: &Finishing<'_>,
        out: &SharedOutput,
    ) -> Result<()> {
        let tiles = rows.len() * grid.tiles[1];
        let (cp, kp) = (grid.padded_channels, grid.padded_outputs);
        with_scratch(grid.scratch_len(rows.len()), |scratch| {
            let (block, rest) = scratch.split_at_mut(grid.block_len(rows.len()));
            let (transformed, products) = rest.split_at_mut(S * S * tiles * cp);
            fill_block(x, grid, rows.start * T, block);
            transform_tiles::<T, S>(block, grid, tiles, transformed);
            for (p, packed) in filter.points.iter().enumerate() {
                sgemm::sgemm_panels(
                    &transformed[p * tiles * cp..(p + 1) * tiles * cp],
                    tiles,
                    cp,
                    packed,
                    panels.clone(),
                    &mut products[p * tiles * kp..(p + 1) * tiles * kp],
                    kp,
                )?;
            }
            let channels = panels.start * LANES..(panels.end * LANES).min(grid.outputs);
            // SAFETY: the caller's guarantees: these rows of these channels are this item's.
            unsafe {
                store_outputs::<T, S>(
                    products,
                    grid,
                    rows.clone(),
                    channels.clone(),
                    finishing,
                    out,
                )
            };
            let [oh, ow] = grid.output;
            let span = rows.start * T * ow..(rows.end * T).min(oh) * ow;
            // SAFETY: as above; the values were just written.
            unsafe { out.finish(channels, oh * ow, span, finishing.after) };
            Ok(())
        })
    }

    /// Copies the input rows of the tile rows from padded row `first` on into `block`, channel-last (`[row]
    /// [column][padded channels]`), zeros for the padding and for the channels past the last.
    #[target_feature(enable = "avx512f")]
    fn fill_block(x: &[f32], grid: &Grid, first: usize, block: &mut [f32]) {
        let [h, w] = grid.input;
        let cp = grid.padded_channels;
        let row_len = grid.width() * cp;
        let left = grid.pad[1] * cp;
        for (r, row) in block.chunks_exact_mut(row_len).enumerate() {
            let Some(y) = (first + r).checked_sub(grid.pad[0]).filter(|&y| y < h) else {
                row.fill(0.0);
                continue;
            };
            let (before, inside) = row.split_at_mut(left);
            before.fill(0.0);
            let (inside, after) = inside.split_at_mut(w * cp);
            after.fill(0.0);
            for c0 in (0..grid.channels).step_by(LANES) {
                for x0 in (0..w).step_by(LANES) {
                    let n = LANES.min(w - x0);
                    let mask = math::lanes_below(n);
                    let lines: [__m512; LANES] = std::array::from_fn(|l| {
                        let c = c0 + l;
                        match x.get((c * h + y) * w + x0..(c * h + y) * w + x0 + n) {
                            // SAFETY: the `n` values the mask reads lie in the slice.
                            Some(s) if c < grid.channels => unsafe {
                                _mm512_maskz_loadu_ps(mask, s.as_ptr())
                            },
                            _ => _mm512_setzero_ps(),
                        }
                    });
                    let columns = transpose16(lines);
                    for (j, column) in columns.iter().take(n).enumerate() {
                        let at = (x0 + j) * cp + c0;
                        if let Some(dst) = inside.get_mut(at..at + LANES) {
                            // SAFETY: sixteen writable values.
                            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *column) };
                        }
                    }
                }
            }
        }
    }

    /// `Bᵀ d B` of every tile of `block` (`S` rows and columns from `(T r, T t)`), sixteen channels at a time,
    /// into `transformed`: point `p` of tile `i` at `(p * tiles + i) * padded channels`.
    #[target_feature(enable = "avx512f")]
    fn transform_tiles<const T: usize, const S: usize>(
        block: &[f32],
        grid: &Grid,
        tiles: usize,
        transformed: &mut [f32],
    ) {
        let cp = grid.padded_channels;
        let columns = grid.tiles[1];
        let row_len = grid.width() * cp;
        for i in 0..tiles {
            let (r, t) = (i / columns, i % columns);
            for c0 in (0..cp).step_by(LANES) {
                let at = |y: usize, x: usize| r * T * row_len + y * row_len + (t * T + x) * cp + c0;
                let d: [[__m512; S]; S] = std::array::from_fn(|y| {
                    std::array::from_fn(|x| match block.get(at(y, x)..at(y, x) + LANES) {
                        // SAFETY: sixteen readable values.
                        Some(s) => unsafe { _mm512_loadu_ps(s.as_ptr()) },
                        None => _mm512_setzero_ps(),
                    })
                });
                let columns_done: [[__m512; S]; S] = {
                    let by_column: [[__m512; S]; S] =
                        std::array::from_fn(|x| input_1d(std::array::from_fn(|y| d[y][x])));
                    std::array::from_fn(|y| std::array::from_fn(|x| by_column[x][y]))
                };
                for (y, row) in columns_done.into_iter().enumerate() {
                    for (x, v) in input_1d(row).into_iter().enumerate() {
                        let to = ((y * S + x) * tiles + i) * cp + c0;
                        if let Some(dst) = transformed.get_mut(to..to + LANES) {
                            // SAFETY: sixteen writable values.
                            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), v) };
                        }
                    }
                }
            }
        }
    }

    /// `Aᵀ M A` of every tile of the band `rows` for output channels `channels` (whole panels from a multiple of
    /// sixteen), plus the bias, within the bounds, into the NCHW output.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `out` is the checked output, whose values at these rows of these channels no other
    /// reference touches.
    #[target_feature(enable = "avx512f")]
    unsafe fn store_outputs<const T: usize, const S: usize>(
        products: &[f32],
        grid: &Grid,
        rows: Range<usize>,
        channels: Range<usize>,
        finishing: &Finishing<'_>,
        out: &SharedOutput,
    ) {
        let columns = grid.tiles[1];
        let tiles = rows.len() * columns;
        let kp = grid.padded_outputs;
        let [oh, ow] = grid.output;
        let (lo, hi) = finishing
            .bounds
            .unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for k0 in channels.clone().step_by(LANES) {
            let lanes = LANES.min(channels.end - k0);
            let bias = match finishing.bias.get(k0..k0 + lanes) {
                // SAFETY: the mask reads the `lanes` values of the slice.
                Some(b) => unsafe { _mm512_maskz_loadu_ps(math::lanes_below(lanes), b.as_ptr()) },
                None => _mm512_setzero_ps(),
            };
            for i in 0..tiles {
                let (r, t) = (rows.start + i / columns, i % columns);
                let m: [[__m512; S]; S] = std::array::from_fn(|y| {
                    std::array::from_fn(|x| {
                        let at = ((y * S + x) * tiles + i) * kp + k0;
                        match products.get(at..at + LANES) {
                            // SAFETY: sixteen readable values.
                            Some(s) => unsafe { _mm512_loadu_ps(s.as_ptr()) },
                            None => _mm512_setzero_ps(),
                        }
                    })
                });
                let by_column: [[__m512; T]; S] =
                    std::array::from_fn(|x| output_1d::<S, T>(std::array::from_fn(|y| m[y][x])));
                let mut values = [_mm512_setzero_ps(); LANES];
                for y in 0..T {
                    let row = output_1d::<S, T>(std::array::from_fn(|x| by_column[x][y]));
                    for (x, v) in row.into_iter().enumerate() {
                        let v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, bias), lo), hi);
                        values[y * T + x] = v;
                    }
                }
                // Row `c` of the transpose: channel k0 + c's T × T outputs, row-major.
                let per_channel = transpose16(values);
                let rows_here = T.min(oh - r * T);
                let cols_here = T.min(ow - t * T);
                // Row y's outputs are lanes Ty..Ty + T: one masked store each, from a base Ty values before
                // the row's first (inside the channel's plane: y rows of at least T values come before).
                let row_lanes = math::lanes_below(cols_here);
                for (c, v) in per_channel.iter().take(lanes).enumerate() {
                    for y in 0..rows_here {
                        let at = (k0 + c) * oh * ow + (r * T + y) * ow + t * T;
                        // SAFETY: channel k0 + c < C_out, row r * T + y < oh and columns up to ow lie in the
                        // checked output, and they are this item's (caller); `at - Ty` >= 0 as ow >= T
                        // (checked by `convolve`), and the masked lanes are not accessed.
                        unsafe {
                            _mm512_mask_storeu_ps(
                                out.get().add(at - y * T),
                                row_lanes << (y * T),
                                *v,
                            )
                        };
                    }
                }
            }
        }
    }

    /// `Bᵀ d` along one axis of an `S × S` tile (`S` 6 or 4).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn input_1d<const S: usize>(d: [__m512; S]) -> [__m512; S] {
        let mut r = d;
        match (&d[..], &mut r[..]) {
            ([d0, d1, d2, d3, d4, d5], [r0, r1, r2, r3, r4, r5]) => {
                let (two, four, five) = (
                    _mm512_set1_ps(2.0),
                    _mm512_set1_ps(4.0),
                    _mm512_set1_ps(5.0),
                );
                let t0 = _mm512_fnmadd_ps(four, *d2, *d4);
                let t1 = _mm512_fnmadd_ps(four, *d1, *d3);
                let t2 = _mm512_sub_ps(*d4, *d2);
                let t3 = _mm512_sub_ps(*d3, *d1);
                *r0 = _mm512_fmadd_ps(four, *d0, _mm512_fnmadd_ps(five, *d2, *d4));
                *r1 = _mm512_add_ps(t0, t1);
                *r2 = _mm512_sub_ps(t0, t1);
                *r3 = _mm512_fmadd_ps(two, t3, t2);
                *r4 = _mm512_fnmadd_ps(two, t3, t2);
                *r5 = _mm512_fmadd_ps(four, *d1, _mm512_fnmadd_ps(five, *d3, *d5));
            }
            ([d0, d1, d2, d3], [r0, r1, r2, r3]) => {
                *r0 = _mm512_sub_ps(*d0, *d2);
                *r1 = _mm512_add_ps(*d1, *d2);
                *r2 = _mm512_sub_ps(*d2, *d1);
                *r3 = _mm512_sub_ps(*d1, *d3);
            }
            _ => {}
        }
        r
    }

    /// `Aᵀ m` along one axis of an `S × S` transformed tile: `T = S - 2` values.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn output_1d<const S: usize, const T: usize>(m: [__m512; S]) -> [__m512; T] {
        let mut r = [_mm512_setzero_ps(); T];
        match (&m[..], &mut r[..]) {
            ([m0, m1, m2, m3, m4, m5], [r0, r1, r2, r3]) => {
                let (two, four, eight) = (
                    _mm512_set1_ps(2.0),
                    _mm512_set1_ps(4.0),
                    _mm512_set1_ps(8.0),
                );
                let s12 = _mm512_add_ps(*m1, *m2);
                let d12 = _mm512_sub_ps(*m1, *m2);
                let s34 = _mm512_add_ps(*m3, *m4);
                let d34 = _mm512_sub_ps(*m3, *m4);
                *r0 = _mm512_add_ps(_mm512_add_ps(*m0, s12), s34);
                *r1 = _mm512_fmadd_ps(two, d34, d12);
                *r2 = _mm512_fmadd_ps(four, s34, s12);
                *r3 = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), *m5);
            }
            ([m0, m1, m2, m3], [r0, r1]) => {
                *r0 = _mm512_add_ps(_mm512_add_ps(*m0, *m1), *m2);
                *r1 = _mm512_sub_ps(_mm512_sub_ps(*m1, *m2), *m3);
            }
            _ => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::cpu::kernels::testing::Lcg;

    /// The axes of a 3×3 convolution of stride 1 on `h × w` with padding `(top, left)` and `(bottom, right)`.
    fn axes(h: usize, w: usize, begin: [usize; 2], end: [usize; 2]) -> [Axis; 3] {
        let axis = |input: usize, b: usize, e: usize| Axis {
            input,
            output: input + b + e - 2,
            kernel: 3,
            pad_begin: b,
            pad_end: e,
            ..Axis::unit()
        };
        [
            Axis::unit(),
            axis(h, begin[0], end[0]),
            axis(w, begin[1], end[1]),
        ]
    }

    /// The convolution in f64, and beside each output the sum of its terms' magnitudes (the scale its
    /// rounding errors grow with).
    fn reference(x: &[f32], w: &[f32], c: usize, k: usize, a: &[Axis; 3]) -> Vec<(f64, f64)> {
        let [_, rows, cols] = a;
        let mut out = Vec::new();
        for o in 0..k {
            for oy in 0..rows.output {
                for ox in 0..cols.output {
                    let (mut sum, mut scale) = (0.0f64, 0.0f64);
                    for i in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let y = (oy + ky)
                                    .checked_sub(rows.pad_begin)
                                    .filter(|&y| y < rows.input);
                                let xx = (ox + kx)
                                    .checked_sub(cols.pad_begin)
                                    .filter(|&v| v < cols.input);
                                if let (Some(y), Some(xx)) = (y, xx) {
                                    let v = x[(i * rows.input + y) * cols.input + xx] as f64;
                                    let f = w[((o * c + i) * 3 + ky) * 3 + kx] as f64;
                                    sum += v * f;
                                    scale += (v * f).abs();
                                }
                            }
                        }
                    }
                    out.push((sum, scale));
                }
            }
        }
        out
    }

    /// Both tile sizes on channel counts off the vector width, sides off the tile size, asymmetric and no
    /// padding, several bands and several runs of panels (one band of sixteen 4×4 tiles, five panels), each with
    /// a bias, bounds and an epilogue after them, on one thread and on two: against the f64 convolution.
    #[test]
    fn matches_the_reference_convolution() {
        if !available() {
            return;
        }
        let mut rng = Lcg(21);
        let cases = [
            (5, 7, axes(9, 10, [1, 1], [1, 1])),
            (16, 16, axes(8, 8, [1, 1], [1, 1])),
            (33, 40, axes(37, 30, [0, 2], [1, 0])),
            (64, 20, axes(11, 13, [0, 0], [0, 0])),
            (40, 70, axes(14, 14, [1, 1], [1, 1])),
        ];
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for (c, k, a) in &cases {
                let (c, k) = (*c, *k);
                let [_, rows, cols] = a;
                let x: Vec<f32> = (0..c * rows.input * cols.input)
                    .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
                    .collect();
                let w: Vec<f32> = (0..k * c * 9)
                    .map(|_| rng.next_f64() as f32 - 0.5)
                    .collect();
                let bias: Vec<f32> = (0..k).map(|i| i as f32 * 0.1 - 1.0).collect();
                for tile in [LARGE, SMALL] {
                    let filters = pack(&w, 1, k, tile).unwrap();
                    let filter = filters.group(0, k, c * 9).unwrap();
                    let positions = rows.output * cols.output;
                    let mut dst = vec![f32::NAN; k * positions];
                    let after = |channel: usize, at: usize, values: &mut [f32]| {
                        for (i, v) in values.iter_mut().enumerate() {
                            *v += ((channel * positions + at + i) % 3) as f32;
                        }
                    };
                    let finishing = Finishing {
                        bias: &bias,
                        bounds: Some((-0.5, 2.0)),
                        after: &after,
                    };
                    pool.install(|| convolve(&x, c, a, filter, &mut dst, finishing, threads > 1))
                        .unwrap();
                    for (i, ((sum, scale), got)) in
                        reference(&x, &w, c, k, a).into_iter().zip(&dst).enumerate()
                    {
                        let bounded = (sum + bias[i / positions] as f64).clamp(-0.5, 2.0);
                        let want = bounded + (i % 3) as f64;
                        assert!(
                            (want - *got as f64).abs() <= 1e-5 * (scale + 1.0),
                            "{c}->{k} {a:?}, tiles of {tile}, on {threads} threads at {i}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Every work item's tile rows and panels, over a few grids and thread counts: each (tile row, panel)
    /// pair of the job belongs to exactly one item.
    #[test]
    fn work_items_cover_the_job_once() {
        for (h, w, k) in [
            (56, 56, 64),
            (14, 14, 256),
            (28, 28, 128),
            (9, 10, 7),
            (80, 80, 80),
        ] {
            for threads in [1, 2, 3, 8] {
                let grid = Grid::of(&axes(h, w, [1, 1], [1, 1]), 16, k, LARGE);
                let plan = Plan::of(&grid, threads);
                let panels = k.div_ceil(LANES);
                let mut owners = vec![0; grid.tiles[0] * panels];
                for i in 0..plan.items() {
                    let (rows, items) = plan.item(i);
                    for r in rows {
                        for p in items.clone() {
                            owners[r * panels + p] += 1;
                        }
                    }
                }
                assert!(
                    owners.iter().all(|&n| n == 1),
                    "{h}x{w}x{k} on {threads}: {plan:?}"
                );
            }
        }
    }

    /// A convolution that does not fit its arguments is refused, not computed from the wrong values.
    #[test]
    fn refuses_arguments_that_do_not_fit() {
        if !available() {
            return;
        }
        let w = vec![0.5f32; 20 * 16 * 9];
        let filters = pack(&w, 1, 20, LARGE).unwrap();
        let filter = filters.group(0, 20, 16 * 9).unwrap();
        let a = axes(8, 8, [1, 1], [1, 1]);
        let x = vec![1.0f32; 16 * 64];
        let finish = |_: usize, _: usize, _: &mut [f32]| {};
        let finishing = Finishing {
            bias: &[],
            bounds: None,
            after: &finish,
        };
        let mut short = vec![0.0f32; 20 * 64 - 1];
        assert!(convolve(&x, 16, &a, filter, &mut short, finishing, false).is_err());
        let mut dst = vec![0.0f32; 20 * 64];
        assert!(convolve(&x[1..], 16, &a, filter, &mut dst, finishing, false).is_err());
        assert!(convolve(&x, 15, &a, filter, &mut dst, finishing, false).is_err());
        let strided = [
            a[0],
            Axis {
                stride: 2,
                output: 4,
                ..a[1]
            },
            a[2],
        ];
        assert!(convolve(&x, 16, &strided, filter, &mut dst, finishing, false).is_err());
        // Outputs narrower than a tile: 62 rows of 3 take 2x2 tiles, and 4x4 tiles refuse them (the stores take
        // rows of at least a tile's width); rows of 1 take neither.
        let narrow = axes(64, 3, [0, 1], [0, 1]);
        assert_eq!(tile_for(&narrow, 32, 32), Some(SMALL));
        assert_eq!(tile_for(&axes(64, 1, [0, 1], [0, 1]), 32, 32), None);
        let mut narrow_dst = vec![0.0f32; 20 * 62 * 3];
        let narrow_x = vec![1.0f32; 16 * 64 * 3];
        assert!(
            convolve(
                &narrow_x,
                16,
                &narrow,
                filter,
                &mut narrow_dst,
                finishing,
                false
            )
            .is_err()
        );
        convolve(&x, 16, &a, filter, &mut dst, finishing, false).unwrap();
        // Each output sums 0.5 over the taps inside: 16 channels x 9 taps in the middle, 16 x 4 at a corner.
        assert_eq!(dst[9], 72.0);
        assert_eq!(dst[0], 32.0);
    }
}
