//! Data-movement kernels: Transpose, Concat, Split/VariadicSplit, Gather and Slice as byte-block copies, split over
//! rayon's pool when the tensor is large. Element types are handled by width only; sub-byte types use the
//! reference.

use super::{Kernel, take_output};
use crate::error::{Error, Result};
use crate::ir::shape::{normalize_axis, strides};
use crate::ir::{ElementType, PartialShape, Tensor};
use crate::ops::data_movement::args::{int_list, int_scalar, static_out_shape};
use crate::ops::data_movement::elems::wrap_index;
use crate::ops::data_movement::layout::transpose_order;
use crate::ops::data_movement::{Concat, Slice, Split, Transpose, VariadicSplit};
use crate::ops::gather_scatter::Gather;
use crate::ops::util::{check_input_count, ints_of};
use crate::ops::{Op, TensorDesc};
use rayon::prelude::*;

/// Output sizes (bytes) from which copies are spread over threads.
const PARALLEL_BYTES: usize = 1 << 16;

/// Picks a kernel for Transpose, Concat, Split, VariadicSplit, Gather or Slice on byte-sized element types.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    let et = inputs.first()?.element_type;
    if !et.is_static() || et.is_sub_byte() {
        return None;
    }
    let any = op.as_any();
    if any.downcast_ref::<Transpose>().is_some() {
        return Some(Box::new(TransposeKernel));
    }
    if let Some(c) = any.downcast_ref::<Concat>() {
        return Some(Box::new(ConcatKernel(c.clone())));
    }
    if let Some(g) = any.downcast_ref::<Gather>() {
        return Some(Box::new(GatherKernel(g.clone())));
    }
    if any.downcast_ref::<Split>().is_some() || any.downcast_ref::<VariadicSplit>().is_some() {
        return Some(Box::new(SplitKernel(op.clone_op())));
    }
    if any.downcast_ref::<Slice>().is_some() {
        return Some(Box::new(SliceKernel));
    }
    None
}

/// Slice-8: each output row (the last output axis) is one block copy when its step is 1, value by value
/// otherwise; a slice that keeps everything returns its input (a view).
#[derive(Debug)]
struct SliceKernel;

impl Kernel for SliceKernel {
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let x = inputs[0];
        let slices = Slice::axis_slices(inputs)?;
        let shape: Vec<usize> = slices.iter().map(|s| s.len).collect();
        if shape == x.shape() && slices.iter().all(|s| s.start == 0 && s.step == 1) {
            return Ok(vec![x.clone()]);
        }
        let w = element_width(x)?;
        let mut out = take_output(spare, 0, x.element_type(), &shape);
        let Some((last, outer)) = slices.split_last() else {
            out.bytes_mut().copy_from_slice(x.bytes());
            return Ok(vec![out]);
        };
        let in_strides = strides(x.shape());
        let src = x.bytes();
        fill_rows(out.bytes_mut(), last.len * w, |r, row| {
            // The input element where output row `r` starts.
            let (mut rest, mut at) = (r, last.start as i64);
            for ((sl, &len), &stride) in outer.iter().zip(&shape).zip(&in_strides).rev() {
                let i = rest % len.max(1);
                rest /= len.max(1);
                at += (sl.start as i64 + sl.step * i as i64) * stride as i64;
            }
            if last.step == 1 {
                return copy_block(row, src, at as usize * w);
            }
            for (j, value) in row.chunks_exact_mut(w).enumerate() {
                copy_block(value, src, (at + last.step * j as i64) as usize * w)?;
            }
            Ok(())
        })?;
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "slice_bytes"
    }
}

/// Fills `out` (rows of `row` bytes each) by calling `fill(row_index, row_bytes)`, in parallel when large.
fn fill_rows(
    out: &mut [u8],
    row: usize,
    fill: impl Fn(usize, &mut [u8]) -> Result<()> + Sync,
) -> Result<()> {
    if row == 0 || out.is_empty() {
        return Ok(());
    }
    if out.len() >= PARALLEL_BYTES {
        out.par_chunks_mut(row)
            .enumerate()
            .try_for_each(|(i, r)| fill(i, r))
    } else {
        out.chunks_mut(row)
            .enumerate()
            .try_for_each(|(i, r)| fill(i, r))
    }
}

/// Outer rows from which Concat and Split copy row by row in parallel; with fewer (a batch-1 concat of channels
/// is one row), each input's block is cut into [`COPY_PIECE`]-byte pieces for the threads instead.
const PARALLEL_ROWS: usize = 16;
/// The largest piece of one block [`copy_pieces`] hands to a thread.
const COPY_PIECE: usize = 256 * 1024;

/// Copies each `(destination, source at offset)` block, erroring (never panicking) when a source is too short:
/// one after the other when they are small or there is one thread, else cut into pieces that threads copy in
/// parallel.
fn copy_pieces(blocks: Vec<(&mut [u8], &[u8], usize)>) -> Result<()> {
    let total: usize = blocks.iter().map(|(d, _, _)| d.len()).sum();
    let parallel = total >= PARALLEL_BYTES && rayon::current_num_threads() > 1;
    // One thread copies each block whole (`memcpy` streams large blocks past the cache).
    let piece = if parallel { COPY_PIECE } else { usize::MAX };
    let mut pieces = Vec::new();
    for (dst, src, from) in blocks {
        let src = src.get(from..from + dst.len()).ok_or_else(|| {
            Error::Internal(format!(
                "copy of {} bytes from offset {from} past the input",
                dst.len()
            ))
        })?;
        pieces.extend(dst.chunks_mut(piece).zip(src.chunks(piece)));
    }
    let copy = |(d, s): (&mut [u8], &[u8])| d.copy_from_slice(s);
    if parallel {
        pieces.into_par_iter().for_each(copy);
    } else {
        pieces.into_iter().for_each(copy);
    }
    Ok(())
}

/// Copies `len` bytes from `src` at `from` into `dst`, erroring (never panicking) when out of range.
fn copy_block(dst: &mut [u8], src: &[u8], from: usize) -> Result<()> {
    let s = src.get(from..from + dst.len()).ok_or_else(|| {
        Error::Internal(format!(
            "copy of {} bytes from offset {from} past the input",
            dst.len()
        ))
    })?;
    dst.copy_from_slice(s);
    Ok(())
}

/// Errors unless the run-time type is one this kernel handles.
fn element_width(t: &Tensor) -> Result<usize> {
    let et: ElementType = t.element_type();
    crate::ensure!(
        et.is_static() && !et.is_sub_byte(),
        Unsupported,
        "data movement kernel on {et}"
    );
    Ok(et.size())
}

/// Transpose on the simplest equivalent permutation ([`simplify_transpose`]): a copy when nothing moves, tiled
/// 2-D transposes when two adjacent axis groups swap (NCHW <-> NHWC, a matrix transpose per batch), otherwise
/// each output row (the last output axis) gathered with its input stride. Elements move as their own type.
#[derive(Debug)]
struct TransposeKernel;

impl Kernel for TransposeKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        element_width(x)?;
        let perm = transpose_order(&int_list(inputs[1], "Transpose order")?, x.rank())?;
        let out_shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
        let (shape, perm) = simplify_transpose(x.shape(), &perm);
        let mut out = take_output(spare, 0, x.element_type(), &out_shape);
        crate::dispatch_scalar!(x.element_type(),
            T => transpose_into(x.typed::<T>()?, &shape, &perm, out.typed_mut::<T>()?)?,
            _ => transpose_into(x.bytes(), &shape, &perm, out.bytes_mut())?
        );
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "transpose"
    }
}

/// The simplest permutation equivalent to transposing `shape` by `perm`: axes of length 1 dropped and axes that
/// stay adjacent and in order merged. Returns the merged input shape and the permutation over it.
fn simplify_transpose(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let kept: Vec<usize> = perm
        .iter()
        .copied()
        .filter(|&p| shape.get(p).is_some_and(|&n| n != 1))
        .collect();
    // Groups of input axes that move together, in output order.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &p in &kept {
        match groups.last_mut() {
            Some((_, last)) if kept_gap_is_unit(shape, *last, p) => *last = p,
            _ => groups.push((p, p)),
        }
    }
    let mut by_input: Vec<usize> = (0..groups.len()).collect();
    by_input.sort_by_key(|&g| groups[g].0);
    let merged: Vec<usize> = by_input
        .iter()
        .map(|&g| shape[groups[g].0..=groups[g].1].iter().product())
        .collect();
    let mut new_perm = vec![0; groups.len()];
    for (input_pos, &g) in by_input.iter().enumerate() {
        new_perm[g] = input_pos;
    }
    (merged, new_perm)
}

/// Whether `b` follows `a` in the input once axes of length 1 are dropped: `a < b` and every axis between them
/// has length 1.
fn kept_gap_is_unit(shape: &[usize], a: usize, b: usize) -> bool {
    a < b && shape[a + 1..b].iter().all(|&n| n == 1)
}

/// The least output a parallel task of a gathering Transpose writes (bytes).
const GATHER_TASK_BYTES: usize = 16 * 1024;
/// Output rows of a tiled 2-D transpose handled per task, and input rows per tile.
const TRANSPOSE_TILE: usize = 16;

/// Writes `src` (of `shape`) transposed by `perm` into `dst`, in parallel when large.
fn transpose_into<T: Copy + Send + Sync>(
    src: &[T],
    shape: &[usize],
    perm: &[usize],
    dst: &mut [T],
) -> Result<()> {
    let n: usize = shape.iter().product();
    crate::ensure!(
        src.len() == n && dst.len() == n,
        Internal,
        "Transpose of {} elements into {} (shape {shape:?})",
        src.len(),
        dst.len()
    );
    if n == 0 {
        return Ok(());
    }
    let rank = perm.len();
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        dst.copy_from_slice(src);
        return Ok(());
    }
    let parallel = n * std::mem::size_of::<T>() >= PARALLEL_BYTES;
    if rank >= 2 && perm[rank - 2] == rank - 1 && perm[rank - 1] == rank - 2 {
        let (rows, cols) = (shape[rank - 2], shape[rank - 1]);
        // Per matrix: output rows are input columns; tasks take TRANSPOSE_TILE of them.
        let task = |(t, block): (usize, &mut [T]), matrix: &[T]| {
            transpose_tile(matrix, rows, cols, t * TRANSPOSE_TILE, block)
        };
        let matrices = dst.chunks_mut(rows * cols).zip(src.chunks(rows * cols));
        for (d, s) in matrices {
            if parallel {
                d.par_chunks_mut(TRANSPOSE_TILE * rows)
                    .enumerate()
                    .for_each(|b| task(b, s));
            } else {
                d.chunks_mut(TRANSPOSE_TILE * rows)
                    .enumerate()
                    .for_each(|b| task(b, s));
            }
        }
        return Ok(());
    }
    let in_strides = strides(shape);
    let st: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let (last, lead) = (out_shape[rank - 1], &out_shape[..rank - 1]);
    let last_stride = st[rank - 1];
    let gather = |r: usize, row: &mut [T]| {
        let (mut rem, mut base) = (r, 0);
        for (d, &len) in lead.iter().enumerate().rev() {
            base += (rem % len) * st[d];
            rem /= len;
        }
        if last_stride == 1 {
            // A contiguous run of the input (BERT's heads split and merged: runs of 64).
            row.copy_from_slice(&src[base..base + row.len()]);
            return;
        }
        for (j, v) in row.iter_mut().enumerate() {
            *v = src[base + j * last_stride];
        }
    };
    if parallel {
        // Tasks of at least GATHER_TASK_BYTES: short rows are many.
        let rows_per_task = (GATHER_TASK_BYTES / (last * std::mem::size_of::<T>()).max(1)).max(1);
        dst.par_chunks_mut(last)
            .with_min_len(rows_per_task)
            .enumerate()
            .for_each(|(r, row)| gather(r, row));
    } else {
        dst.chunks_mut(last)
            .enumerate()
            .for_each(|(r, row)| gather(r, row));
    }
    Ok(())
}

/// Output rows `first..` of the transpose of the `rows x cols` matrix `src` (the block holds whole output rows
/// of `rows` elements), read TRANSPOSE_TILE input rows at a time so that reads and writes stay in cache.
fn transpose_tile<T: Copy>(src: &[T], rows: usize, cols: usize, first: usize, block: &mut [T]) {
    let width = block.len() / rows.max(1);
    for r0 in (0..rows).step_by(TRANSPOSE_TILE) {
        for r in r0..(r0 + TRANSPOSE_TILE).min(rows) {
            let start = r * cols + first;
            for (j, &v) in src[start..start + width].iter().enumerate() {
                block[j * rows + r] = v;
            }
        }
    }
}

/// Concat: each output row (everything before the axis) is the inputs' rows side by side.
#[derive(Debug)]
struct ConcatKernel(Concat);

impl Kernel for ConcatKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let out_shape = static_out_shape(&self.0, inputs)?;
        let x = inputs[0];
        let w = element_width(x)?;
        let a = normalize_axis(self.0.axis, out_shape.len(), "Concat")?;
        let chunks: Vec<usize> = inputs
            .iter()
            .map(|t| t.shape()[a..].iter().product::<usize>() * w)
            .collect();
        let row: usize = chunks.iter().sum();
        let mut out = take_output(spare, 0, x.element_type(), &out_shape);
        let outer = out_shape[..a].iter().product::<usize>();
        if outer < PARALLEL_ROWS {
            let mut rest = out.bytes_mut();
            let mut blocks = Vec::with_capacity(outer * inputs.len());
            for o in 0..outer {
                for (t, &c) in inputs.iter().zip(&chunks) {
                    let (dst, tail) = std::mem::take(&mut rest)
                        .split_at_mut_checked(c)
                        .ok_or_else(|| Error::Internal("concat output too short".into()))?;
                    blocks.push((dst, t.bytes(), o * c));
                    rest = tail;
                }
            }
            copy_pieces(blocks)?;
            return Ok(vec![out]);
        }
        fill_rows(out.bytes_mut(), row, |o, dst| {
            let mut at = 0;
            for (t, &c) in inputs.iter().zip(&chunks) {
                copy_block(&mut dst[at..at + c], t.bytes(), o * c)?;
                at += c;
            }
            Ok(())
        })?;
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "concat_bytes"
    }
}

/// Split and VariadicSplit: row `o` of output `i` (everything from the axis on, for outer index `o`) is a
/// byte range of the input's row `o`.
#[derive(Debug)]
struct SplitKernel(Box<dyn Op>);

impl SplitKernel {
    /// The static shapes of the outputs for these inputs (the op's own inference checks the axis and lengths).
    fn out_shapes(&self, inputs: &[&Tensor]) -> Result<Vec<Vec<usize>>> {
        let descs: Vec<TensorDesc> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 => TensorDesc::new(t.element_type(), PartialShape::from_static(t.shape())),
                _ => TensorDesc::of_tensor(t),
            })
            .collect();
        self.0
            .infer(&descs)?
            .iter()
            .map(|d| d.shape.expect_static("split output"))
            .collect()
    }
}

impl Kernel for SplitKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let shapes = self.out_shapes(inputs)?;
        let x = inputs[0];
        let w = element_width(x)?;
        let a = normalize_axis(int_scalar(inputs[1], "axis")?, x.rank(), "Split")?;
        let row = x.shape()[a..].iter().product::<usize>() * w;
        let src = x.bytes();
        let outer = x.shape()[..a].iter().product::<usize>();
        if outer < PARALLEL_ROWS {
            let mut outs: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, shape)| take_output(spare, i, x.element_type(), shape))
                .collect();
            let mut blocks = Vec::with_capacity(outer * outs.len());
            let mut start = 0;
            for out in &mut outs {
                let chunk = out.shape()[a..].iter().product::<usize>() * w;
                for (o, dst) in out.bytes_mut().chunks_mut(chunk.max(1)).enumerate() {
                    blocks.push((dst, src, o * row + start));
                }
                start += chunk;
            }
            copy_pieces(blocks)?;
            return Ok(outs);
        }
        let mut start = 0;
        let mut outs = Vec::with_capacity(shapes.len());
        for (i, shape) in shapes.iter().enumerate() {
            let chunk = shape[a..].iter().product::<usize>() * w;
            let mut out = take_output(spare, i, x.element_type(), shape);
            fill_rows(out.bytes_mut(), chunk, |o, dst| {
                copy_block(dst, src, o * row + start)
            })?;
            start += chunk;
            outs.push(out);
        }
        Ok(outs)
    }
    fn name(&self) -> &'static str {
        "split_bytes"
    }
}

/// Gather: blocks of everything after the axis, copied per (outer, index); batched gathers use the reference.
#[derive(Debug)]
struct GatherKernel(Gather);

impl Kernel for GatherKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let out_shape = static_out_shape(&self.0, inputs)?;
        let (x, ind_t) = (inputs[0], inputs[1]);
        let batch = if self.0.batch_dims < 0 {
            self.0.batch_dims + ind_t.rank() as i64
        } else {
            self.0.batch_dims
        };
        if batch != 0 {
            return self.0.evaluate(inputs);
        }
        let w = element_width(x)?;
        let a = normalize_axis(int_scalar(inputs[2], "axis")?, x.rank(), "Gather")?;
        let dim = x.shape()[a];
        let inner = x.shape()[a + 1..].iter().product::<usize>() * w;
        let ind: Vec<Option<usize>> = ints_of(ind_t, "indices")?
            .iter()
            .map(|&v| match wrap_index(v, dim) {
                Some(i) => Ok(Some(i)),
                None if self.0.version >= 8 => Ok(None),
                None => Err(Error::Shape(format!(
                    "index {v} is out of range for axis {a} of length {dim}"
                ))),
            })
            .collect::<Result<_>>()?;
        let n = ind.len();
        let mut out = take_output(spare, 0, x.element_type(), &out_shape);
        let src = x.bytes();
        fill_rows(out.bytes_mut(), inner, |r, dst| {
            let (o, j) = (r / n.max(1), r % n.max(1));
            match ind.get(j).copied().flatten() {
                Some(i) => copy_block(dst, src, (o * dim + i) * inner),
                None => {
                    dst.fill(0);
                    Ok(())
                }
            }
        })?;
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        "gather_bytes"
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Lcg, assert_kernel_matches};
    use super::*;

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn transpose_matches_reference() {
        let mut g = Lcg(7);
        for (shape, order) in [
            (vec![2, 3, 4], vec![2, 0, 1]),
            (vec![64, 33, 17], vec![1, 0, 2]),
            (vec![64, 40, 9], vec![2, 1, 0]),
            (vec![3, 0, 2], vec![1, 2, 0]),
            (vec![5], vec![]),
            (vec![1, 96, 70, 1], vec![0, 2, 1, 3]),
            (vec![1, 512, 257, 1], vec![0, 2, 1, 3]),
            (vec![2, 3, 40, 50], vec![0, 1, 3, 2]),
            (vec![2, 3, 4, 5], vec![2, 3, 0, 1]),
            (vec![3, 1, 4, 1, 5], vec![4, 1, 0, 3, 2]),
            (vec![1, 1, 1], vec![2, 0, 1]),
            (vec![6, 1, 7], vec![2, 1, 0]),
            // BERT's heads: runs of 64 copied whole, and K's transposed gather.
            (vec![1, 128, 12, 64], vec![0, 2, 1, 3]),
            (vec![1, 128, 12, 64], vec![0, 2, 3, 1]),
        ] {
            let x = g.tensor(&shape);
            assert_kernel_matches(&Transpose, &[x, i64s(&order)], &[false, true], 0.0, 0.0);
        }
        let x = Tensor::from_vec(&[2, 3], vec![1i8, 2, 3, 4, 5, 6]).unwrap();
        assert_kernel_matches(&Transpose, &[x, i64s(&[1, 0])], &[false, true], 0.0, 0.0);
        let flags: Vec<u8> = (0..60).map(|i| u8::from(i % 3 == 0)).collect();
        let x = Tensor::from_bytes(ElementType::Boolean, &[3, 4, 5], &flags).unwrap();
        assert_kernel_matches(&Transpose, &[x, i64s(&[2, 0, 1])], &[false, true], 0.0, 0.0);
        let descs = [TensorDesc::of_tensor(&g.tensor(&[2, 2]))];
        assert_eq!(select(&Transpose, &descs).unwrap().name(), "transpose");
    }

    #[test]
    fn transposes_simplify() {
        assert_eq!(
            simplify_transpose(&[1, 512, 256, 1], &[0, 2, 1, 3]),
            (vec![512, 256], vec![1, 0])
        );
        assert_eq!(
            simplify_transpose(&[2, 3, 4, 5], &[2, 3, 0, 1]),
            (vec![6, 20], vec![1, 0])
        );
        assert_eq!(
            simplify_transpose(&[8, 1, 12, 64], &[0, 2, 1, 3]),
            (vec![8 * 12 * 64], vec![0])
        );
        assert_eq!(simplify_transpose(&[1, 1], &[1, 0]), (vec![], vec![]));
        assert_eq!(
            simplify_transpose(&[2, 3, 4], &[2, 0, 1]),
            (vec![6, 4], vec![1, 0])
        );
    }

    #[test]
    fn slice_matches_reference() {
        let mut g = Lcg(5);
        let x = g.tensor(&[4, 30, 20]);
        /// Start, stop, step and optional axes.
        type Case<'a> = (&'a [i64], &'a [i64], &'a [i64], Option<&'a [i64]>);
        let cases: [Case; 6] = [
            (&[0, 0, 0], &[4, 30, 20], &[1, 1, 1], None),
            (&[1, 2, 3], &[3, 29, 17], &[1, 1, 1], None),
            (&[3, -1, 0], &[0, 0, 20], &[-1, -2, 3], None),
            (&[5], &[-3], &[2], Some(&[-1])),
            (&[-1, 0], &[-100, 10], &[-2, 4], Some(&[2, 0])),
            (&[2], &[2], &[1], Some(&[1])),
        ];
        for (start, stop, step, axes) in cases {
            let mut inputs = vec![x.clone(), i64s(start), i64s(stop), i64s(step)];
            inputs.extend(axes.map(i64s));
            let constant = vec![false, true, true, true, true];
            assert_kernel_matches(&Slice, &inputs, &constant, 0.0, 0.0);
        }
        let descs = [TensorDesc::of_tensor(&x)];
        assert_eq!(select(&Slice, &descs).unwrap().name(), "slice_bytes");
    }

    #[test]
    fn concat_matches_reference() {
        let mut g = Lcg(3);
        for axis in [0, 1, -1] {
            let a = g.tensor(&[40, 30, 20]);
            let b = g.tensor(&[40, 30, 20]);
            let c = Concat { axis };
            assert_kernel_matches(&c, &[a.clone(), b], &[false, false], 0.0, 0.0);
        }
        // Few outer rows: blocks cut into pieces for the threads (a batch-1 concat of channels, then three rows).
        let c = Concat { axis: 1 };
        for (n, size) in [(1, 40), (3, 17)] {
            let inputs = [
                g.tensor(&[n, 100, size, size]),
                g.tensor(&[n, 36, size, size]),
            ];
            assert_kernel_matches(&c, &inputs, &[false, false], 0.0, 0.0);
        }
        assert_kernel_matches(
            &c,
            &[g.tensor(&[2, 0]), g.tensor(&[2, 3]), g.tensor(&[2, 1])],
            &[],
            0.0,
            0.0,
        );
    }

    #[test]
    fn split_matches_reference() {
        let mut g = Lcg(9);
        let x = g.tensor(&[4, 64, 30, 20]);
        for axis in [0i64, 1, 3, -1, -3] {
            let op = Split { num_splits: 2 };
            let inputs = [x.clone(), Tensor::scalar(axis)];
            assert_eq!(
                select(&op, &[TensorDesc::of_tensor(&x)]).unwrap().name(),
                "split_bytes"
            );
            assert_kernel_matches(&op, &inputs, &[false, true], 0.0, 0.0);
        }
        for (axis, lengths) in [
            (1i64, vec![16, -1, 8]),
            (-1, vec![0, 20]),
            (2, vec![10, 10, 10]),
        ] {
            let inputs = [x.clone(), Tensor::scalar(axis), i64s(&lengths)];
            assert_kernel_matches(&VariadicSplit, &inputs, &[false, true, true], 0.0, 0.0);
        }
        // A batch-1 split of channels whose blocks are cut into pieces for the threads.
        let wide = g.tensor(&[1, 96, 40, 40]);
        let inputs = [wide, Tensor::scalar(1i64), i64s(&[32, 64])];
        assert_kernel_matches(&VariadicSplit, &inputs, &[false, true, true], 0.0, 0.0);
        let bytes = Tensor::from_vec(&[2, 4], vec![1u8, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let inputs = [bytes, Tensor::scalar(1i64), i64s(&[3, 1])];
        assert_kernel_matches(&VariadicSplit, &inputs, &[false, true, true], 0.0, 0.0);
        let empty = g.tensor(&[0, 6]);
        let inputs = [empty, Tensor::scalar(1i64)];
        assert_kernel_matches(&Split { num_splits: 3 }, &inputs, &[false, true], 0.0, 0.0);
    }

    #[test]
    fn split_kernel_rejects_bad_lengths() {
        let x = Tensor::zeros(ElementType::F32, &[4, 6]);
        let k = select(&VariadicSplit, &[TensorDesc::of_tensor(&x)]).unwrap();
        assert!(k.run(&[&x, &Tensor::scalar(1i64), &i64s(&[2, 2])]).is_err());
        assert!(k.run(&[&x, &Tensor::scalar(2i64), &i64s(&[6])]).is_err());
        let k = select(&Split { num_splits: 4 }, &[TensorDesc::of_tensor(&x)]).unwrap();
        assert!(k.run(&[&x, &Tensor::scalar(1i64)]).is_err());
    }

    #[test]
    fn gather_matches_reference() {
        let mut g = Lcg(5);
        let x = g.tensor(&[50, 64, 30]);
        for (version, axis) in [(8, 1i64), (8, -1), (7, 0), (1, 2)] {
            let op = Gather {
                version,
                batch_dims: 0,
            };
            let idx = i64s(&[3, -1, 0, 7, 7, 2]);
            assert_kernel_matches(
                &op,
                &[x.clone(), idx, Tensor::scalar(axis)],
                &[false, true, true],
                0.0,
                0.0,
            );
        }
        let op = Gather {
            version: 8,
            batch_dims: 0,
        };
        let oob = i64s(&[100, 1]);
        assert_kernel_matches(
            &op,
            &[x.clone(), oob.clone(), Tensor::scalar(0i64)],
            &[],
            0.0,
            0.0,
        );
        let v7 = Gather {
            version: 7,
            batch_dims: 0,
        };
        let k = select(&v7, &[TensorDesc::of_tensor(&x)]).unwrap();
        assert!(k.run(&[&x, &oob, &Tensor::scalar(0i64)]).is_err());
        let b = Gather {
            version: 8,
            batch_dims: 1,
        };
        let idx = Tensor::from_vec(&[50, 2], vec![1i32; 100]).unwrap();
        assert_kernel_matches(&b, &[x, idx, Tensor::scalar(1i64)], &[], 0.0, 0.0);
    }
}
