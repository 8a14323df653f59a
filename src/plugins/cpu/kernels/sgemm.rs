//! f32 GEMM with one operand packed once (weights, at compile time): `C[M×N] = A[M×K] · B[K×N]` with B packed
//! ([`PackedB`], [`sgemm`]: MatMul by constant weights) or A packed ([`PackedA`], [`sgemm_packed_a`]:
//! convolution, whose filter is the left operand and whose finished tiles take an epilogue in cache).
//!
//! B is stored as panels of [`NR`] columns, each panel `K × NR` contiguous (the last one zero-padded), so the
//! microkernel streams one panel with two aligned-width vector loads per row of K. A is read in place (row-major,
//! any row stride): each tile broadcasts [`MR`] of its rows. K is blocked by [`KC`] so that a panel block stays
//! in L1 while every row tile of A passes over it. Threads split the panels: each owns whole column ranges of
//! C, so no two threads write the same memory.
//!
//! The AVX2+FMA microkernel (6 × 16, twelve accumulators) is chosen at run time; other CPUs run a portable
//! loop over the same panels.

use super::with_scratch;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::ops::Range;

/// Columns per panel (two 8-lane vectors).
pub const NR: usize = 16;
/// Rows of A per microkernel tile.
pub const MR: usize = 6;
/// Depth of one K block.
const KC: usize = 256;
/// Rows of A per M block: an `MC × KC` block of A, packed into `MR`-row tiles, stays in L2 while the thread's
/// panels pass over it.
const MC: usize = 96;
/// Values in one packed block of A (packed into the thread's scratch memory).
const A_BLOCK: usize = MC.div_ceil(MR) * MR * KC;

/// A `K × N` matrix packed into column panels.
#[derive(Debug, Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `b`, whose element `(row, col)` is `b[row * row_stride + col * col_stride]`.
    pub fn pack(
        b: &[f32],
        k: usize,
        n: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<PackedB> {
        let last = (k.max(1) - 1) * row_stride + (n.max(1) - 1) * col_stride;
        if k > 0 && n > 0 && last >= b.len() {
            return Err(Error::Internal(format!(
                "packing a {k}x{n} matrix from {} values",
                b.len()
            )));
        }
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0f32; panels * k * NR];
        for (j, panel) in data
            .chunks_exact_mut((k * NR).max(1))
            .enumerate()
            .take(panels)
        {
            pack_panel(
                b,
                row_stride,
                col_stride,
                0..k,
                j * NR..n.min((j + 1) * NR),
                panel,
            );
        }
        Ok(PackedB { k, n, data })
    }

    /// Rows (K).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns (N).
    pub fn n(&self) -> usize {
        self.n
    }

    fn panel(&self, j: usize) -> &[f32] {
        &self.data[j * self.k * NR..(j + 1) * self.k * NR]
    }
}

/// `c = a · b`, then `epilogue` on every finished row segment: `a` is `m × K` row-major with row stride `lda`,
/// `c` is `m × N` row-major with row stride `ldc` (N and K those of `b`). Splits the panels over the current
/// rayon pool when `parallel`.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    epilogue: &impl TileEpilogue,
    parallel: bool,
) -> Result<()> {
    let (k, n) = (b.k, b.n);
    let fits_a = m == 0 || k == 0 || (m - 1) * lda + k <= a.len();
    let fits_c = m == 0 || n == 0 || (m - 1) * ldc + n <= c.len();
    if !fits_a || !fits_c || lda < k || ldc < n {
        return Err(Error::Internal(format!(
            "sgemm of {m}x{k} by {k}x{n} with buffers of {} and {} values (strides {lda}, {ldc})",
            a.len(),
            c.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        for (i, row) in c.chunks_mut(ldc).take(m).enumerate() {
            row[..n].fill(0.0);
            epilogue.apply(i, 0, &mut row[..n]);
        }
        return Ok(());
    }
    let panels = n.div_ceil(NR);
    let threads = if parallel {
        rayon::current_num_threads().min(panels)
    } else {
        1
    };
    let c_ptr = SharedMut(c.as_mut_ptr());
    let run = |range: std::ops::Range<usize>| {
        let c_ptr = &c_ptr;
        // SAFETY: the checks above bound every row `i < m` of A (k values from `i * lda`) and of C (n values from
        // `i * ldc`); threads own disjoint panel ranges, so disjoint columns of C.
        unsafe { panels_product(a, m, lda, b, range, c_ptr.0, ldc, epilogue) };
    };
    if threads <= 1 {
        run(0..panels);
    } else {
        let per = panels.div_ceil(threads);
        (0..threads)
            .into_par_iter()
            .for_each(|t| run(t * per..((t + 1) * per).min(panels)));
    }
    Ok(())
}

/// Packs rows `rows` × columns `cols` (at most [`NR`]) of a matrix whose element `(p, j)` is
/// `b[p * row_stride + j * col_stride]` into a panel: `out[(p - rows.start) * NR + c]`, zero past the last column.
#[inline(always)]
fn pack_panel(
    b: &[f32],
    row_stride: usize,
    col_stride: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &mut [f32],
) {
    let width = cols.len().min(NR);
    for (p, dst) in rows.zip(out.chunks_exact_mut(NR)) {
        let start = p * row_stride + cols.start * col_stride;
        if col_stride == 1
            && width == NR
            && let Some(src) = b.get(start..start + NR)
        {
            dst.copy_from_slice(src);
            continue;
        }
        for (c, d) in dst.iter_mut().enumerate() {
            *d = match c < width {
                true => b.get(start + c * col_stride).copied().unwrap_or(0.0),
                false => 0.0,
            };
        }
    }
}

/// Packs rows `rows` × columns `kc..kc + kb` of a matrix whose element `(i, p)` is
/// `a[i * row_stride + p * col_stride]` into [`MR`]-row tiles: `out[t * kb * MR + p * MR + r]`, rows past
/// `rows.end` zero.
#[inline(always)]
fn pack_tiles(
    a: &[f32],
    row_stride: usize,
    col_stride: usize,
    rows: Range<usize>,
    (kc, kb): (usize, usize),
    out: &mut [f32],
) {
    let tiles = rows.len().div_ceil(MR);
    for (t, tile) in out
        .chunks_exact_mut((kb * MR).max(1))
        .take(tiles)
        .enumerate()
    {
        let first = rows.start + t * MR;
        for (p, column) in tile.chunks_exact_mut(MR).enumerate() {
            for (r, v) in column.iter_mut().enumerate() {
                let i = first + r;
                *v = match i < rows.end {
                    true => a
                        .get(i * row_stride + (kc + p) * col_stride)
                        .copied()
                        .unwrap_or(0.0),
                    false => 0.0,
                };
            }
        }
    }
}

/// An `M × K` matrix (a convolution filter) packed once into [`MR`]-row tiles, K block by K block: the block
/// of columns `kc..kc + kb` holds every tile's `kb × MR` values ([`pack_tiles`] order).
#[derive(Debug, Clone)]
pub struct PackedA {
    m: usize,
    k: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs `a`, whose element `(row, col)` is `a[row * row_stride + col * col_stride]`.
    pub fn pack(
        a: &[f32],
        m: usize,
        k: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<PackedA> {
        let last = (m.max(1) - 1) * row_stride + (k.max(1) - 1) * col_stride;
        if m > 0 && k > 0 && last >= a.len() {
            return Err(Error::Internal(format!(
                "packing a {m}x{k} matrix from {} values",
                a.len()
            )));
        }
        let span = m.div_ceil(MR) * MR;
        let mut data = vec![0.0f32; span * k];
        for kc in (0..k).step_by(KC) {
            let kb = KC.min(k - kc);
            let block = &mut data[kc * span..(kc + kb) * span];
            pack_tiles(a, row_stride, col_stride, 0..m, (kc, kb), block);
        }
        Ok(PackedA { m, k, data })
    }

    /// Rows (M).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Columns (K).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Tile `t` of the K block starting at `kc`: `kb × MR` values.
    fn tile(&self, kc: usize, t: usize) -> &[f32] {
        let (span, kb) = (self.m.div_ceil(MR) * MR, KC.min(self.k - kc));
        let start = kc * span + t * kb * MR;
        self.data.get(start..start + kb * MR).unwrap_or(&[])
    }
}

/// What [`sgemm_packed_a`] applies to each finished part of C while it is still in cache.
pub trait TileEpilogue: Sync {
    /// `values` are row `row` of C, columns `col..col + values.len()`, final.
    fn apply(&self, row: usize, col: usize, values: &mut [f32]);
}

/// A `K × N` row-major matrix in memory, checked, as the right operand of [`sgemm_packed_a`] (which packs it
/// panel by panel as the GEMM goes).
pub struct DenseB<'a> {
    b: &'a [f32],
    ldb: usize,
}

impl<'a> DenseB<'a> {
    /// `b` holds `k` rows of `n` values, row stride `ldb`.
    pub fn new(b: &'a [f32], k: usize, n: usize, ldb: usize) -> Result<DenseB<'a>> {
        if ldb < n || (k > 0 && n > 0 && (k - 1) * ldb + n > b.len()) {
            return Err(Error::Internal(format!(
                "a {k}x{n} matrix with row stride {ldb} in {} values",
                b.len()
            )));
        }
        Ok(DenseB { b, ldb })
    }
}

impl DenseB<'_> {
    /// Writes rows `rows` × columns `cols` (at most [`NR`]) as one panel ([`pack_panel`]).
    #[inline(always)]
    fn pack(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f32]) {
        pack_panel(self.b, self.ldb, 1, rows, cols, out);
    }
}

/// Panels of B packed together per K block by [`sgemm_packed_a`] (256 columns: a `KC`-deep block stays in L2).
const B_BLOCK_PANELS: usize = 16;

/// `c = a · b`, then `epilogue` on every finished row segment: `b` is the `K × n` right operand, `c` is `M × n`
/// row-major with row stride `ldc` (M and K those of `a`). Threads split the larger of C's dimensions when
/// `parallel`.
pub fn sgemm_packed_a(
    a: &PackedA,
    b: &DenseB,
    n: usize,
    c: &mut [f32],
    ldc: usize,
    epilogue: &impl TileEpilogue,
    parallel: bool,
) -> Result<()> {
    let (m, k) = (a.m, a.k);
    if (m > 0 && n > 0 && (m - 1) * ldc + n > c.len()) || ldc < n {
        return Err(Error::Internal(format!(
            "sgemm of {m}x{k} by {k}x{n} into {} values (row stride {ldc})",
            c.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        for (i, row) in c.chunks_mut(ldc).take(m).enumerate() {
            row[..n].fill(0.0);
            epilogue.apply(i, 0, &mut row[..n]);
        }
        return Ok(());
    }
    let (tiles, panels) = (m.div_ceil(MR), n.div_ceil(NR));
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    let c_ptr = SharedMut(c.as_mut_ptr());
    let run = |tile_range: Range<usize>, panel_range: Range<usize>| {
        let c_ptr = &c_ptr;
        let job = PackedAJob { a, b, n, ldc };
        // SAFETY: the checks above bound every row of B and of C; threads own disjoint tiles or panels, so
        // disjoint parts of C.
        unsafe { job.run(tile_range, panel_range, c_ptr.0, epilogue) };
    };
    if threads <= 1 {
        run(0..tiles, 0..panels);
    } else if panels >= tiles || panels >= 4 * threads {
        let per = panels.div_ceil(threads);
        (0..threads)
            .into_par_iter()
            .for_each(|t| run(0..tiles, t * per..((t + 1) * per).min(panels)));
    } else {
        let per = tiles.div_ceil(threads);
        (0..threads)
            .into_par_iter()
            .for_each(|t| run(t * per..((t + 1) * per).min(tiles), 0..panels));
    }
    Ok(())
}

/// The operands one thread of [`sgemm_packed_a`] reads.
struct PackedAJob<'a> {
    a: &'a PackedA,
    b: &'a DenseB<'a>,
    n: usize,
    ldc: usize,
}

impl PackedAJob<'_> {
    /// Tiles `tile_range` × panels `panel_range` of C (at `c`).
    ///
    /// # Safety
    /// Rows `i < M` of C hold `n` writable values from `c + i * ldc`, not written by anyone else in the given
    /// tiles and panels.
    unsafe fn run(
        &self,
        tile_range: Range<usize>,
        panel_range: Range<usize>,
        c: *mut f32,
        epilogue: &impl TileEpilogue,
    ) {
        #[cfg(target_arch = "x86_64")]
        if super::math::has_avx2_fma() {
            // SAFETY: the features are present; the caller's bounds hold.
            return unsafe { avx2::packed_a_tiles(self, tile_range, panel_range, c, epilogue) };
        }
        // SAFETY: the caller's bounds hold.
        unsafe {
            self.tiles(
                tile_range,
                panel_range,
                c,
                epilogue,
                portable_tile(self.ldc),
            )
        }
    }

    /// The blocked loops of [`PackedAJob::run`] around a tile product `tile(kb, a_tile, panel, c, rows, cols,
    /// accumulate)`: K blocked by `KC`, B packed [`B_BLOCK_PANELS`] panels at a time into the thread's scratch.
    ///
    /// # Safety
    /// See [`PackedAJob::run`]; `tile` writes `rows × cols` values of C at its pointer, row stride `ldc`.
    #[inline(always)]
    unsafe fn tiles(
        &self,
        tile_range: Range<usize>,
        panel_range: Range<usize>,
        c: *mut f32,
        epilogue: &impl TileEpilogue,
        tile: impl Fn(usize, &[f32], &[f32], *mut f32, usize, usize, bool),
    ) {
        let (m, k, n, ldc) = (self.a.m, self.a.k, self.n, self.ldc);
        for first_panel in panel_range.clone().step_by(B_BLOCK_PANELS) {
            let block = first_panel..(first_panel + B_BLOCK_PANELS).min(panel_range.end);
            with_scratch(block.len() * KC.min(k) * NR, |packed| {
                for kc in (0..k).step_by(KC) {
                    let kb = KC.min(k - kc);
                    for (j, panel) in block.clone().zip(packed.chunks_exact_mut(kb * NR)) {
                        let cols = j * NR..n.min((j + 1) * NR);
                        self.b.pack(kc..kc + kb, cols, panel);
                    }
                    let last = kc + kb == k;
                    for t in tile_range.clone() {
                        let rows = MR.min(m - t * MR);
                        let a_tile = self.a.tile(kc, t);
                        for (j, panel) in block.clone().zip(packed.chunks_exact(kb * NR)) {
                            let cols = NR.min(n - j * NR);
                            // SAFETY: rows t * MR.. + rows and columns j * NR.. + cols of C are in bounds
                            // and this thread's (caller).
                            let ct = unsafe { c.add(t * MR * ldc + j * NR) };
                            tile(kb, a_tile, panel, ct, rows, cols, kc > 0);
                            if !last {
                                continue;
                            }
                            for r in 0..rows {
                                // SAFETY: as above; no other reference to this row segment is alive.
                                let values = unsafe {
                                    std::slice::from_raw_parts_mut(ct.add(r * ldc), cols)
                                };
                                epilogue.apply(t * MR + r, j * NR, values);
                            }
                        }
                    }
                }
            });
        }
    }
}

/// The portable `rows × cols` tile product of [`PackedAJob::tiles`] (`c` has row stride `ldc`).
fn portable_tile(ldc: usize) -> impl Fn(usize, &[f32], &[f32], *mut f32, usize, usize, bool) {
    move |kb, a, b, c, rows, cols, accumulate| {
        for r in 0..rows {
            for col in 0..cols {
                let dot: f32 = (0..kb).map(|p| a[p * MR + r] * b[p * NR + col]).sum();
                // SAFETY: row r of the tile holds `cols` values (caller of `PackedAJob::tiles`).
                unsafe {
                    let d = c.add(r * ldc + col);
                    *d = if accumulate { *d + dot } else { dot };
                }
            }
        }
    }
}

/// A raw pointer to C that the threads share; each writes only its own columns.
struct SharedMut(*mut f32);
// SAFETY: see `sgemm`: the threads write disjoint column ranges.
unsafe impl Sync for SharedMut {}

/// Columns `panels × NR` of C (`m` rows at `c`, row stride `ldc`) = A · those panels of `b`, then `epilogue`.
///
/// # Safety
/// Rows `i < m` of A hold `b.k` values from `i * lda`; rows of C hold `b.n` writable values from `c + i * ldc`.
#[allow(clippy::too_many_arguments)]
unsafe fn panels_product(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    c: *mut f32,
    ldc: usize,
    epilogue: &impl TileEpilogue,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return with_scratch(A_BLOCK, |tiles| {
            // SAFETY: the features are present; the caller's bounds hold; `tiles` holds an MC x KC block.
            unsafe { avx2::panels_product(a, m, lda, b, panels, c, ldc, tiles, epilogue) }
        });
    }
    let k = b.k;
    for j in panels {
        let panel = b.panel(j);
        let cols = NR.min(b.n - j * NR);
        for i in 0..m {
            // SAFETY: row i of C holds n values (caller); j * NR + cols <= n; no other reference to them is alive.
            let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc + j * NR), cols) };
            for (col, out) in row.iter_mut().enumerate() {
                *out = (0..k).map(|p| a[i * lda + p] * panel[p * NR + col]).sum();
            }
            epilogue.apply(i, j * NR, row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{KC, MC, MR, NR, PackedAJob, PackedB, TileEpilogue, pack_tiles};
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// See `super::panels_product`: K blocked by `KC`, M by `MC`; each `MC × KC` block of A is packed into
    /// `tiles` as `MR`-row tiles, then every panel of the range takes those tiles.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn panels_product(
        a: &[f32],
        m: usize,
        lda: usize,
        b: &PackedB,
        panels: Range<usize>,
        c: *mut f32,
        ldc: usize,
        tiles: &mut [f32],
        epilogue: &impl TileEpilogue,
    ) {
        let k = b.k;
        for kc in (0..k).step_by(KC) {
            let kb = KC.min(k - kc);
            for mc in (0..m).step_by(MC) {
                let m_end = (mc + MC).min(m);
                pack_tiles(a, lda, 1, mc..m_end, (kc, kb), tiles);
                for j in panels.clone() {
                    let cols = NR.min(b.n - j * NR);
                    // SAFETY: the panel holds k * NR values.
                    let bt = unsafe { b.panel(j).as_ptr().add(kc * NR) };
                    for i in (mc..m_end).step_by(MR) {
                        let at = &tiles[(i - mc) / MR * MR * kb..];
                        let rows = MR.min(m_end - i);
                        // SAFETY: rows i..i + rows of C exist (caller); the tile holds kb * MR values.
                        let ct = unsafe { c.add(i * ldc + j * NR) };
                        unsafe { tile_rows(kb, at.as_ptr(), bt, ct, ldc, rows, cols, kc > 0) };
                        if kc + kb < k {
                            continue;
                        }
                        for r in 0..rows {
                            // SAFETY: as above; no other reference to this row segment is alive.
                            let values =
                                unsafe { std::slice::from_raw_parts_mut(ct.add(r * ldc), cols) };
                            epilogue.apply(i + r, j * NR, values);
                        }
                    }
                }
            }
        }
    }

    /// [`PackedAJob::tiles`] with the AVX2+FMA microkernel.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn packed_a_tiles(
        job: &PackedAJob,
        tile_range: Range<usize>,
        panel_range: Range<usize>,
        c: *mut f32,
        epilogue: &impl TileEpilogue,
    ) {
        let ldc = job.ldc;
        let tile = |kb, a: &[f32], b: &[f32], c, rows, cols, accumulate| {
            // SAFETY: `a` holds kb * MR values, `b` kb * NR; C's bounds are the caller's.
            unsafe { tile_rows(kb, a.as_ptr(), b.as_ptr(), c, ldc, rows, cols, accumulate) }
        };
        // SAFETY: the caller's bounds hold.
        unsafe { job.tiles(tile_range, panel_range, c, epilogue, tile) }
    }

    /// [`tile`] for `rows` (1 to `MR`) rows.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_rows(
        kb: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match rows {
                6 => tile::<6>(kb, a, b, c, ldc, cols, accumulate),
                5 => tile::<5>(kb, a, b, c, ldc, cols, accumulate),
                4 => tile::<4>(kb, a, b, c, ldc, cols, accumulate),
                3 => tile::<3>(kb, a, b, c, ldc, cols, accumulate),
                2 => tile::<2>(kb, a, b, c, ldc, cols, accumulate),
                _ => tile::<1>(kb, a, b, c, ldc, cols, accumulate),
            }
        }
    }

    /// `R × NR` tile: `C (+)= A[R × kb] · B[kb × NR]` (A a packed tile), writing `cols` columns.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        kb: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        for p in 0..kb {
            // SAFETY: p < kb rows of the panel block and of each A row (caller).
            unsafe {
                let b0 = _mm256_loadu_ps(b.add(p * NR));
                let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*a.add(p * MR + r));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
            }
        }
        for r in 0..R {
            // SAFETY: row r of C holds `cols` values from `c + r * ldc` (caller).
            unsafe {
                let dst = c.add(r * ldc);
                if cols == NR {
                    let (mut v0, mut v1) = (lo[r], hi[r]);
                    if accumulate {
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(dst));
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(dst.add(8)));
                    }
                    _mm256_storeu_ps(dst, v0);
                    _mm256_storeu_ps(dst.add(8), v1);
                } else {
                    let mut tmp = [0.0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
                    for (j, v) in tmp.iter().enumerate().take(cols) {
                        let d = dst.add(j);
                        *d = if accumulate { *d + v } else { *v };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        c
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104729) % 1009) as f32 / 504.5 - 1.0)
            .collect()
    }

    #[test]
    fn matches_reference_on_edge_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 5, 17),
            (6, 300, 16),
            (13, 513, 33),
            (128, 64, 40),
            (2, 0, 3),
            (0, 4, 5),
        ] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let packed = PackedB::pack(&b, k, n, n, 1).unwrap();
            for parallel in [false, true] {
                let mut c = vec![f32::NAN; m * n];
                sgemm(&a, m, k, &packed, &mut c, n, &Mark, parallel).unwrap();
                for (at, (x, y)) in c.iter().zip(reference(&a, m, k, &b, n)).enumerate() {
                    let y = y + (at / n) as f32 + (at % n) as f32 / 1000.0;
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{m}x{k}x{n}: {x} vs {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn strided_operands_and_transposed_packing() {
        let (m, k, n) = (5, 9, 20);
        let a_wide = values(m * (k + 3), 3);
        let a: Vec<f32> = (0..m)
            .flat_map(|i| a_wide[i * (k + 3)..i * (k + 3) + k].to_vec())
            .collect();
        let b = values(k * n, 4);
        let bt: Vec<f32> = (0..n)
            .flat_map(|j| (0..k).map(move |p| (j, p)))
            .map(|(j, p)| b[p * n + j])
            .collect();
        let packed = PackedB::pack(&bt, k, n, 1, k).unwrap();
        let mut c = vec![0.0f32; m * (n + 2)];
        sgemm(&a_wide, m, k + 3, &packed, &mut c, n + 2, &Mark, true).unwrap();
        let want = reference(&a, m, k, &b, n);
        for i in 0..m {
            for j in 0..n {
                let w = want[i * n + j] + i as f32 + j as f32 / 1000.0;
                assert!((c[i * (n + 2) + j] - w).abs() <= 1e-4);
            }
        }
    }

    /// Adds `row + col / 1000` to every value, so that a missed or repeated call shows.
    struct Mark;
    impl TileEpilogue for Mark {
        fn apply(&self, row: usize, col: usize, values: &mut [f32]) {
            for (j, v) in values.iter_mut().enumerate() {
                *v += row as f32 + (col + j) as f32 / 1000.0;
            }
        }
    }

    fn check_packed_a(m: usize, k: usize, n: usize, run: impl Fn(&PackedA, &[f32], &mut [f32])) {
        let (a, b) = (values(m * k, 8), values(k * (n + 3), 9));
        // A stored transposed (column-major), B with a row stride wider than n.
        let at: Vec<f32> = (0..k)
            .flat_map(|p| (0..m).map(move |i| (i, p)))
            .map(|(i, p)| a[i * k + p])
            .collect();
        let packed = PackedA::pack(&at, m, k, 1, m).unwrap();
        assert_eq!((packed.m(), packed.k()), (m, k));
        let mut c = vec![f32::NAN; m * (n + 1)];
        run(&packed, &b, &mut c);
        let b_dense: Vec<f32> = (0..k)
            .flat_map(|p| b[p * (n + 3)..p * (n + 3) + n].to_vec())
            .collect();
        let want = reference(&a, m, k, &b_dense, n);
        for i in 0..m {
            for j in 0..n {
                let w = want[i * n + j] + i as f32 + j as f32 / 1000.0;
                let got = c[i * (n + 1) + j];
                assert!(
                    (got - w).abs() <= 1e-4 * (1.0 + w.abs()),
                    "{m}x{k}x{n} ({i},{j}): {got} vs {w}"
                );
            }
        }
    }

    #[test]
    fn packed_a_matches_reference_with_epilogue() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 5, 17),
            (6, 300, 16),
            (13, 513, 33),
            (200, 24, 9),
            (5, 40, 700),
            (3, 0, 4),
        ] {
            for parallel in [false, true] {
                check_packed_a(m, k, n, |a, b, c| {
                    let b = DenseB::new(b, k, n, n + 3).unwrap();
                    sgemm_packed_a(a, &b, n, c, n + 1, &Mark, parallel).unwrap()
                });
            }
            // The portable tile loop, whatever the CPU.
            check_packed_a(m, k, n, |a, b, c| {
                let b = DenseB::new(b, k, n, n + 3).unwrap();
                let job = PackedAJob {
                    a,
                    b: &b,
                    n,
                    ldc: n + 1,
                };
                let (tiles, panels) = (m.div_ceil(MR), n.div_ceil(NR));
                if k == 0 {
                    return sgemm_packed_a(a, &b, n, c, n + 1, &Mark, false).unwrap();
                }
                // SAFETY: c holds m rows of n + 1 values.
                unsafe {
                    job.tiles(
                        0..tiles,
                        0..panels,
                        c.as_mut_ptr(),
                        &Mark,
                        portable_tile(n + 1),
                    )
                }
            });
        }
        let packed = PackedA::pack(&values(6, 1), 2, 3, 3, 1).unwrap();
        let mut c = vec![0.0; 3];
        let b = values(6, 2);
        let b = DenseB::new(&b, 3, 2, 2).unwrap();
        assert!(sgemm_packed_a(&packed, &b, 2, &mut c, 2, &Mark, false).is_err());
        assert!(DenseB::new(&values(5, 2), 3, 2, 2).is_err());
        assert!(PackedA::pack(&values(5, 1), 2, 3, 3, 1).is_err());
    }

    #[test]
    fn short_buffers_are_errors() {
        let packed = PackedB::pack(&values(12, 5), 3, 4, 4, 1).unwrap();
        let mut c = vec![0.0; 8];
        assert!(sgemm(&values(5, 6), 2, 3, &packed, &mut c, 4, &Mark, false).is_err());
        assert!(PackedB::pack(&values(5, 7), 3, 4, 4, 1).is_err());
    }
}
