//! f32 GEMM with a right-hand side packed once (weights, at compile time): `C[M×N] = A[M×K] · B[K×N]`, whose
//! finished tiles take an epilogue ([`TileEpilogue`]) while they are in cache.
//!
//! B is stored as panels of [`NR`] columns, each panel `K × NR` contiguous (the last one zero-padded), so the
//! microkernel streams one panel with one 16-lane (or two 8-lane) vector loads per row of K. K is blocked by `KC`
//! so that a panel block stays in L1 while every row tile of A passes over it, and the rows by M blocks that
//! stay in L2 while the thread's panels pass over them. Threads split the panels: each owns whole column ranges
//! of C, so no two threads write the same memory.
//!
//! The microkernel is chosen at run time: with AVX-512, tiles of 12 rows × 16 (twelve accumulators) broadcast
//! A's values straight from its rows (row-major, any row stride) into the multiply-adds, unless those rows lie a
//! multiple of 4 KiB apart (they would share their L1 sets), when A is packed as for AVX2; with AVX2+FMA, tiles
//! of [`MR`] × 16 (twelve 8-lane accumulators) read A packed block by block into tiles whose values for one
//! depth are contiguous; other CPUs run a portable loop over the same panels.

use super::{math, with_scratch};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::ops::Range;

/// Columns per panel (one 16-lane vector, or two 8-lane ones).
pub const NR: usize = 16;
/// Rows of A per AVX2 microkernel tile.
pub const MR: usize = 6;
/// Depth of one K block.
const KC: usize = 256;
/// The deepest K block: K is cut into the fewest blocks of at most this depth, all of about the same depth
/// (K = 257 is one block, not 256 and a 1-deep block that costs a whole extra pass over C).
const KC_MAX: usize = KC + KC / 4;
/// Panels whose finished rows take the epilogue together: a row's run of them (512 bytes) is one call, so that
/// an activation works on several vectors at once (one vector per call left the chain of dependent operations
/// of BERT's Gelu exposed: its FFN layers' epilogue took 0.33 ms of 3.4 on two threads, now 0.15-0.18), while
/// the group's rows are still in cache.
const EPILOGUE_PANELS: usize = 8;
/// Below this many panels per thread, threads split the rows of C instead of its panels.
const FEW_PANELS: usize = 4;
/// Rows of A per M block: an `MC × KC` block of A, packed into `MR`-row tiles, stays in L2 while the thread's
/// panels pass over it.
const MC: usize = 96;
/// Values in one packed block of A (packed into the thread's scratch memory).
const A_BLOCK: usize = MC_MAX.div_ceil(MR) * MR * KC_MAX;
/// The most rows one M block takes: a thread with up to this many rows packs them as one block, so that each
/// panel of B streams from memory once per K block rather than once per M block (BERT's 128 tokens).
const MC_MAX: usize = 192;

/// The rows per M block of a thread that owns `rows` rows, for tiles of `mr` rows.
fn m_block(rows: usize, mr: usize) -> usize {
    if rows <= MC_MAX {
        rows.next_multiple_of(mr).max(mr)
    } else {
        MC
    }
}

/// The depth of the K blocks of a product of depth `k` (the last one may be shallower).
fn k_block(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC_MAX).max(1)).max(1)
}

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

    /// A `k × n` matrix whose panels are already laid out in `data` as [`PackedB::panel`] reads them, one after
    /// the other.
    pub fn from_panels(k: usize, n: usize, data: Vec<f32>) -> Result<PackedB> {
        if data.len() != n.div_ceil(NR) * k * NR {
            return Err(Error::Internal(format!(
                "{} values for the panels of a {k}x{n} matrix",
                data.len()
            )));
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

    /// Panel `j`: columns `j * NR..` as `k` rows of [`NR`] values (zero past the last column).
    pub fn panel(&self, j: usize) -> &[f32] {
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
    let kernel = Microkernel::detected();
    sgemm_with(kernel, a, m, lda, b, c, ldc, epilogue, parallel)
}

/// `c = a · b` over panels `panels` of `b` only (columns `panels.start * NR..panels.end * NR`, clipped to N), on
/// the calling thread, with no epilogue; the other columns of `c` are left as they are. Shapes and strides as in
/// [`sgemm`].
pub fn sgemm_panels(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    panels: Range<usize>,
    c: &mut [f32],
    ldc: usize,
) -> Result<()> {
    let (k, n) = (b.k, b.n);
    let end = n.min(panels.end * NR);
    let fits_a = m == 0 || k == 0 || (m - 1) * lda + k <= a.len();
    let fits_c = m == 0 || end == 0 || (m - 1) * ldc + end <= c.len();
    if !fits_a || !fits_c || lda < k || ldc < end || panels.start > panels.end {
        return Err(Error::Internal(format!(
            "sgemm of {m}x{k} by panels {panels:?} of {k}x{n} with buffers of {} and {} values (strides \
             {lda}, {ldc})",
            a.len(),
            c.len()
        )));
    }
    if m == 0 || panels.start * NR >= end {
        return Ok(());
    }
    if k == 0 {
        for row in c.chunks_mut(ldc).take(m) {
            row[panels.start * NR..end].fill(0.0);
        }
        return Ok(());
    }
    let panels = panels.start..end.div_ceil(NR);
    // SAFETY: the checks above bound rows `i < m` of A (k values from `i * lda`) and of C (the panels' columns
    // from `i * ldc`, which the product writes and nothing else); the kernel is the detected one.
    unsafe {
        panels_product(
            Microkernel::detected(),
            a,
            lda,
            0..m,
            b,
            panels,
            c.as_mut_ptr(),
            ldc,
            &(),
        )
    };
    Ok(())
}

/// [`sgemm`] with the microkernel `kernel` (one the CPU has).
#[allow(clippy::too_many_arguments)]
fn sgemm_with(
    kernel: Microkernel,
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
        rayon::current_num_threads()
    } else {
        1
    };
    let c_ptr = SharedMut(c.as_mut_ptr());
    let run = |rows: Range<usize>, range: Range<usize>| {
        let c_ptr = &c_ptr;
        // SAFETY: the checks above bound every row `i < m` of A (k values from `i * lda`) and of C (n values from
        // `i * ldc`); threads own disjoint row or panel ranges, so disjoint parts of C.
        unsafe { panels_product(kernel, a, lda, rows, b, range, c_ptr.0, ldc, epilogue) };
    };
    if threads <= 1 {
        run(0..m, 0..panels);
    } else if panels >= FEW_PANELS * threads || m < FEW_PANELS * kernel.tile_height() * threads {
        let per = panels.div_ceil(threads.min(panels));
        (0..panels.div_ceil(per))
            .into_par_iter()
            .for_each(|t| run(0..m, t * per..((t + 1) * per).min(panels)));
    } else {
        // Few panels to share and many rows (a narrow B): threads split the rows, and each packs only its own.
        let per = m.div_ceil(threads).next_multiple_of(kernel.tile_height());
        (0..m.div_ceil(per))
            .into_par_iter()
            .for_each(|t| run(t * per..((t + 1) * per).min(m), 0..panels));
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

/// Packs rows `rows` × columns `kc..kc + kb` of a row-major matrix `a` (row stride `lda`) into `MR`-row tiles:
/// `out[t * kb * MR + p * MR + r]`, rows past `rows.end` zero.
#[inline(always)]
fn pack_tiles<const MR: usize>(
    a: &[f32],
    lda: usize,
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
        let runs: [Option<&[f32]>; MR] = std::array::from_fn(|r| {
            let at = (first + r) * lda + kc;
            (first + r < rows.end).then(|| a.get(at..at + kb)).flatten()
        });
        for (p, column) in tile.chunks_exact_mut(MR).enumerate() {
            for (v, run) in column.iter_mut().zip(&runs) {
                *v = run.and_then(|run| run.get(p)).copied().unwrap_or(0.0);
            }
        }
    }
}

/// What [`sgemm`] applies to each finished part of C while it is still in cache.
pub trait TileEpilogue: Sync {
    /// `values` are row `row` of C, columns `col..col + values.len()`, final.
    fn apply(&self, row: usize, col: usize, values: &mut [f32]);
}

/// No epilogue.
impl TileEpilogue for () {
    fn apply(&self, _row: usize, _col: usize, _values: &mut [f32]) {}
}

/// A raw pointer to C that the threads share; each writes only its own columns.
struct SharedMut(*mut f32);
// SAFETY: see `sgemm`: the threads write disjoint parts of C (row or column ranges).
unsafe impl Sync for SharedMut {}

/// Rows `rows` × columns `panels × NR` of C (row `i` at `c + i * ldc`) = A · those panels of `b`, then
/// `epilogue`.
///
/// # Safety
/// The CPU has `kernel`'s features; rows `i` in `rows` of A hold `b.k` values from `i * lda`; those rows of C
/// hold writable values from `c + i * ldc` at the panels' columns (up to `b.n`), the only ones written.
#[allow(clippy::too_many_arguments)]
unsafe fn panels_product(
    kernel: Microkernel,
    a: &[f32],
    lda: usize,
    rows: Range<usize>,
    b: &PackedB,
    panels: std::ops::Range<usize>,
    c: *mut f32,
    ldc: usize,
    epilogue: &impl TileEpilogue,
) {
    #[cfg(target_arch = "x86_64")]
    {
        let product = Blocks {
            rows: rows.clone(),
            b,
            panels: panels.clone(),
            c,
            ldc,
        };
        // SAFETY (each arm): the caller promises the kernel's features and the bounds `run` needs; `scratch`
        // holds the largest block of A that `m_block` and `k_block` make.
        match kernel {
            Microkernel::Avx512 if !avx512::rows_alias(lda) => {
                let mut tiles = avx512::InPlace { a, lda, kc: 0 };
                return unsafe { product.run(&mut tiles, epilogue) };
            }
            Microkernel::Avx512 => {
                return with_scratch(A_BLOCK, |scratch| {
                    let mut tiles = Packed::<{ avx512::MR }>::new(a, lda, scratch);
                    unsafe { product.run(&mut tiles, epilogue) }
                });
            }
            Microkernel::Avx2 => {
                return with_scratch(A_BLOCK, |scratch| {
                    let mut tiles = Packed::<MR>::new(a, lda, scratch);
                    unsafe { product.run(&mut tiles, epilogue) }
                });
            }
            Microkernel::Portable => {}
        }
    }
    let k = b.k;
    for j in panels {
        let panel = b.panel(j);
        let cols = NR.min(b.n - j * NR);
        for i in rows.clone() {
            // SAFETY: row i of C holds n values (caller); j * NR + cols <= n; no other reference to them is alive.
            let row = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc + j * NR), cols) };
            for (col, out) in row.iter_mut().enumerate() {
                *out = (0..k).map(|p| a[i * lda + p] * panel[p * NR + col]).sum();
            }
            epilogue.apply(i, j * NR, row);
        }
    }
}

/// The microkernels: [`Microkernel::detected`] is the one [`sgemm`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Microkernel {
    /// Tiles of 12 rows × 16 with AVX-512F.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// Tiles of [`MR`] rows × 16 with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// A plain loop over the panels, for any CPU.
    Portable,
}

impl Microkernel {
    /// The fastest microkernel this CPU runs.
    fn detected() -> Microkernel {
        #[cfg(target_arch = "x86_64")]
        {
            if avx512::available() {
                return Microkernel::Avx512;
            }
            if avx2::available() {
                return Microkernel::Avx2;
            }
        }
        Microkernel::Portable
    }

    /// The rows of C per tile: threads that split the rows take whole tiles.
    fn tile_height(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Microkernel::Avx512 => avx512::MR,
            _ => MR,
        }
    }
}

/// A microkernel and the layout of A it reads: what [`Blocks::run`] drives.
#[cfg(target_arch = "x86_64")]
trait RowTiles {
    /// Rows of C per tile.
    const MR: usize;
    /// Makes depths `kc..kc + kb` of rows `rows` of A ready for [`RowTiles::tile`].
    fn prepare(&mut self, rows: Range<usize>, kc: usize, kb: usize);
    /// `C (+)= A · B` on rows `i..i + height` (prepared, `height` at most `MR`) of C at `c` (row stride `ldc`),
    /// columns `0..cols` (at most [`NR`]), with the `kb` rows of [`NR`] values of a panel block at `b`.
    ///
    /// # Safety
    /// The CPU has the kernel's features; `b` holds `kb * NR` values; the rows of C hold `cols` writable values.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        &self,
        i: usize,
        kb: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        height: usize,
        cols: usize,
        accumulate: bool,
    );
}

/// The blocked loops of one thread's share of the product: K cut by `k_block`, the rows by `m_block`, and each
/// M × K block of A made ready once ([`RowTiles::prepare`]) for every panel of the range.
#[cfg(target_arch = "x86_64")]
struct Blocks<'a> {
    rows: Range<usize>,
    b: &'a PackedB,
    panels: Range<usize>,
    c: *mut f32,
    ldc: usize,
}

#[cfg(target_arch = "x86_64")]
impl Blocks<'_> {
    /// See `panels_product`.
    ///
    /// # Safety
    /// As `panels_product`; the CPU has the features of `T`'s microkernel.
    unsafe fn run<T: RowTiles>(&self, tiles: &mut T, epilogue: &impl TileEpilogue) {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let Blocks {
            rows,
            b,
            panels,
            c,
            ldc,
        } = self;
        let (k, depth) = (b.k, k_block(b.k));
        for kc in (0..k).step_by(depth) {
            let kb = depth.min(k - kc);
            let block = m_block(rows.len(), T::MR);
            for mc in rows.clone().step_by(block) {
                let m_end = (mc + block).min(rows.end);
                tiles.prepare(mc..m_end, kc, kb);
                let tile_count = (m_end - mc).div_ceil(T::MR);
                for j in panels.clone() {
                    let cols = NR.min(b.n - j * NR);
                    // SAFETY: the panel holds k * NR values.
                    let bt = unsafe { b.panel(j).as_ptr().add(kc * NR) };
                    // The next panel's block (`kb` rows of NR values, one cache line each), fetched into L2 a
                    // share per tile while this one is computed: its first tile then need not wait on memory.
                    let next = (j + 1 < panels.end).then(|| b.panel(j + 1)[kc * NR..].as_ptr());
                    let lines_per_tile = kb.div_ceil(tile_count);
                    for i in (mc..m_end).step_by(T::MR) {
                        if let Some(next) = next {
                            let first = (i - mc) / T::MR * lines_per_tile;
                            for line in first..(first + lines_per_tile).min(kb) {
                                // SAFETY: a prefetch only hints; the address is within the next panel.
                                unsafe {
                                    _mm_prefetch::<_MM_HINT_T1>(next.add(line * NR) as *const i8)
                                };
                            }
                        }
                        let height = T::MR.min(m_end - i);
                        // SAFETY: rows i..i + height of C exist (caller); the panel block holds kb * NR values.
                        let ct = unsafe { c.add(i * ldc + j * NR) };
                        unsafe { tiles.tile(i, kb, bt, ct, *ldc, height, cols, kc > 0) };
                    }
                    let group_end =
                        j + 1 == panels.end || (j + 1 - panels.start) % EPILOGUE_PANELS == 0;
                    if kc + kb == k && group_end {
                        // The finished panels since the last group, row by row.
                        let first =
                            panels.start + (j - panels.start) / EPILOGUE_PANELS * EPILOGUE_PANELS;
                        let columns = first * NR..j * NR + cols;
                        for row in mc..m_end {
                            // SAFETY: row `row` of C holds b.n values (caller); no other reference to them is
                            // alive.
                            let values = unsafe {
                                std::slice::from_raw_parts_mut(
                                    c.add(row * ldc + columns.start),
                                    columns.len(),
                                )
                            };
                            apply_best(epilogue, row, columns.start, values);
                        }
                    }
                }
            }
        }
    }
}

math::best_isa_fn! {
    /// [`TileEpilogue::apply`] compiled for the best ISA: the blocked loops that call it are not.
    #[cfg(target_arch = "x86_64")]
    fn apply_best[E: TileEpilogue](epilogue: &E, row: usize, col: usize, values: &mut [f32])
        => apply_epilogue
}

/// [`TileEpilogue::apply`], for [`apply_best`] to compile.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn apply_epilogue<E: TileEpilogue>(epilogue: &E, row: usize, col: usize, values: &mut [f32]) {
    epilogue.apply(row, col, values);
}

/// A packed block by block into `tiles` as `MR`-row tiles (rows from `first`, `kb` deep; see `pack_tiles`), so
/// that a tile's values for one depth are contiguous.
#[cfg(target_arch = "x86_64")]
struct Packed<'a, const MR: usize> {
    a: &'a [f32],
    lda: usize,
    tiles: &'a mut [f32],
    first: usize,
    kb: usize,
}

#[cfg(target_arch = "x86_64")]
impl<'a, const MR: usize> Packed<'a, MR> {
    /// Rows of `a` (row stride `lda`), to be packed into `tiles` block by block as [`RowTiles::prepare`] asks.
    fn new(a: &'a [f32], lda: usize, tiles: &'a mut [f32]) -> Self {
        Packed {
            a,
            lda,
            tiles,
            first: 0,
            kb: 0,
        }
    }
}

/// Tiles of 12 rows run AVX-512's microkernel, of [`MR`] rows AVX2's.
#[cfg(target_arch = "x86_64")]
impl<const MR: usize> RowTiles for Packed<'_, MR> {
    const MR: usize = MR;

    fn prepare(&mut self, rows: Range<usize>, kc: usize, kb: usize) {
        (self.first, self.kb) = (rows.start, kb);
        pack_tiles::<MR>(self.a, self.lda, rows, (kc, kb), self.tiles);
    }

    unsafe fn tile(
        &self,
        i: usize,
        kb: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        height: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let a = self.tiles[(i - self.first) / MR * MR * self.kb..].as_ptr();
        // SAFETY: the packed tile holds kb * MR values, row r's at stride MR from r; the rest is forwarded.
        unsafe {
            match MR {
                avx512::MR => {
                    avx512::tile_rows::<true>(height, kb, a, MR, b, c, ldc, cols, accumulate)
                }
                _ => avx2::tile_rows(height, kb, a, b, c, ldc, cols, accumulate),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{NR, RowTiles};
    use std::arch::x86_64::*;
    use std::ops::Range;

    /// Rows per tile: twelve 16-lane accumulators, each broadcast from A straight into a multiply-add.
    pub const MR: usize = 12;

    /// Whether this CPU has AVX-512F.
    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
    }

    /// Whether rows of A `lda` values apart share their L1 cache sets (a multiple of 4 KiB apart): a tile
    /// reading its rows in place would then evict its own lines, so A is packed instead.
    pub fn rows_alias(lda: usize) -> bool {
        (lda * size_of::<f32>()).is_multiple_of(4096)
    }

    /// A read in place (row-major, row stride `lda`): a tile broadcasts each of its rows' values into the
    /// multiply-adds, so A is never packed. `kc` is the first depth of the current K block.
    pub struct InPlace<'a> {
        pub a: &'a [f32],
        pub lda: usize,
        pub kc: usize,
    }

    impl RowTiles for InPlace<'_> {
        const MR: usize = MR;

        fn prepare(&mut self, _rows: Range<usize>, kc: usize, _kb: usize) {
            self.kc = kc;
        }

        unsafe fn tile(
            &self,
            i: usize,
            kb: usize,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            height: usize,
            cols: usize,
            accumulate: bool,
        ) {
            // SAFETY: rows i..i + height of A hold kc + kb values from i * lda (`panels_product`'s caller);
            // the rest is forwarded.
            unsafe {
                let a = self.a.as_ptr().add(i * self.lda + self.kc);
                tile_rows::<false>(height, kb, a, self.lda, b, c, ldc, cols, accumulate);
            }
        }
    }

    /// [`tile`] for `height` (1 to `MR`) rows, A's rows `lda` apart (in place) or packed.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_rows<const PACKED: bool>(
        height: usize,
        kb: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match height {
                12 => tile::<12, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                11 => tile::<11, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                10 => tile::<10, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                9 => tile::<9, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                8 => tile::<8, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                7 => tile::<7, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                6 => tile::<6, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                5 => tile::<5, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                4 => tile::<4, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                3 => tile::<3, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                2 => tile::<2, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
                _ => tile::<1, PACKED>(kb, a, lda, b, c, ldc, cols, accumulate),
            }
        }
    }

    /// `R × NR` tile: `C (+)= A[R × kb] · B[kb × NR]`, writing `cols` columns; A's rows `lda` apart, or (`PACKED`)
    /// a packed tile whose values for one depth are contiguous.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const PACKED: bool>(
        kb: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); R];
        for p in 0..kb {
            // SAFETY: p < kb rows of the panel block and values of each A row (caller).
            unsafe {
                let bv = _mm512_loadu_ps(b.add(p * NR));
                for (r, sum) in acc.iter_mut().enumerate() {
                    let at = match PACKED {
                        true => p * MR + r,
                        false => r * lda + p,
                    };
                    *sum = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(at)), bv, *sum);
                }
            }
        }
        let mask: __mmask16 = if cols >= NR { !0 } else { (1u16 << cols) - 1 };
        for (r, sum) in acc.iter().enumerate() {
            // SAFETY: row r of C holds `cols` values from `c + r * ldc` (caller); masked lanes are not touched.
            unsafe {
                let dst = c.add(r * ldc);
                let v = match accumulate {
                    true => _mm512_add_ps(*sum, _mm512_maskz_loadu_ps(mask, dst)),
                    false => *sum,
                };
                _mm512_mask_storeu_ps(dst, mask, v);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// Whether this CPU has AVX2 and FMA.
    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }

    /// [`tile`] for `height` (1 to `MR`) rows of a packed tile at `a`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_rows(
        height: usize,
        kb: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match height {
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
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(edge_shapes);
    }

    fn edge_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 5, 17),
            (6, 300, 16),
            (13, 513, 33),
            (128, 64, 40),
            // One K block a little deeper than KC; rows split over the threads (few panels, many rows).
            (300, 257, 33),
            (97, 320, 64),
            // Nine panels: epilogue groups of four and a shorter last one, on each thread's range too.
            (37, 70, 140),
            // Rows 4 KiB apart (A packed even with AVX-512), tiles of every height up to 12 in turn.
            (25, 1024, 20),
            (2, 0, 3),
            (0, 4, 5),
        ] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let packed = PackedB::pack(&b, k, n, n, 1).unwrap();
            for (kernel, parallel) in every_kernel() {
                let mut c = vec![f32::NAN; m * n];
                sgemm_with(kernel, &a, m, k, &packed, &mut c, n, &Mark, parallel).unwrap();
                for (at, (x, y)) in c.iter().zip(reference(&a, m, k, &b, n)).enumerate() {
                    let y = y + (at / n) as f32 + (at % n) as f32 / 1000.0;
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{kernel:?} {m}x{k}x{n}: {x} vs {y}"
                    );
                }
            }
        }
    }

    /// Every microkernel this CPU runs, each on one thread and on the current pool.
    fn every_kernel() -> Vec<(Microkernel, bool)> {
        let mut kernels = vec![Microkernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if avx2::available() {
                kernels.push(Microkernel::Avx2);
            }
            if avx512::available() {
                kernels.push(Microkernel::Avx512);
            }
        }
        kernels
            .into_iter()
            .flat_map(|k| [(k, false), (k, true)])
            .collect()
    }

    #[test]
    fn every_tile_height_matches_reference() {
        // A read in place (AVX-512) and packed (rows 4 KiB apart; AVX2 always).
        for (k, m) in [40, 1024]
            .into_iter()
            .flat_map(|k| (1..=2 * 12 + 1).map(move |m| (k, m)))
        {
            let n = 35;
            let b = values(k * n, 8);
            let packed = PackedB::pack(&b, k, n, n, 1).unwrap();
            let a = values(m * k, m);
            let want = reference(&a, m, k, &b, n);
            for (kernel, _) in every_kernel() {
                let mut c = vec![f32::NAN; m * n];
                sgemm_with(kernel, &a, m, k, &packed, &mut c, n, &Mark, false).unwrap();
                for (at, (x, y)) in c.iter().zip(&want).enumerate() {
                    let y = y + (at / n) as f32 + (at % n) as f32 / 1000.0;
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{kernel:?} m={m}: {x} vs {y}"
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
        let want = reference(&a, m, k, &b, n);
        for (kernel, parallel) in every_kernel() {
            let mut c = vec![0.0f32; m * (n + 2)];
            sgemm_with(
                kernel,
                &a_wide,
                m,
                k + 3,
                &packed,
                &mut c,
                n + 2,
                &Mark,
                parallel,
            )
            .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let w = want[i * n + j] + i as f32 + j as f32 / 1000.0;
                    assert!((c[i * (n + 2) + j] - w).abs() <= 1e-4, "{kernel:?}");
                }
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

    #[test]
    fn m_blocks_take_a_few_hundred_rows_whole() {
        assert_eq!(m_block(128, MR), 132);
        assert_eq!(m_block(128, 12), 132);
        assert_eq!(m_block(1, MR), MR);
        assert_eq!(m_block(MC_MAX + 1, MR), MC);
        assert!(m_block(MC_MAX, MR) * KC_MAX <= A_BLOCK);
        assert!(m_block(MC_MAX, 12) * KC_MAX <= A_BLOCK);
    }

    #[test]
    fn k_blocks_are_even_and_few() {
        assert_eq!(k_block(257), 257);
        assert_eq!(k_block(512), 256);
        assert_eq!(k_block(3072), 308);
        assert_eq!((k_block(1), k_block(0)), (1, 1));
    }

    #[test]
    fn short_buffers_are_errors() {
        let packed = PackedB::pack(&values(12, 5), 3, 4, 4, 1).unwrap();
        let mut c = vec![0.0; 8];
        assert!(sgemm(&values(5, 6), 2, 3, &packed, &mut c, 4, &Mark, false).is_err());
        assert!(PackedB::pack(&values(5, 7), 3, 4, 4, 1).is_err());
    }
}
