//! f32 convolution kernels (Convolution, GroupConvolution): [`depthwise`] for one channel per group; where the
//! CPU has AVX-512 and the filter is constant, [`pointwise`] for unpadded 1x1 filters (strided ones on a
//! subsampled copy of the input), [`winograd`] for 3x3 filters of stride 1 on inputs of a known shape with
//! enough tiles and channels, and the direct convolution of [`direct_conv`] for the other kxk filters and for
//! 1x1 filters on few positions; otherwise a plain GEMM for 1x1 stride-1 unpadded filters and im2col + GEMM (the
//! `gemm` crate). Every problem is lifted to three spatial axes so one code path serves 1-D, 2-D and 3-D. Work
//! is split over (batch, group) jobs with rayon when there are enough of them, otherwise the kernel itself runs
//! in parallel.

use super::depthwise;
use super::direct_conv::{self, PackedFilters};
use super::epilogue::{Activation, Epilogue};
use super::even_values;
use super::pointwise;
use super::winograd;
use super::{Kernel, run_with_input_restored, take_moved_input, take_output, with_scratch};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements};
use crate::ir::{ElementType, Tensor};
use crate::ops::conv::{Axis, ConvAttrs, ConvGeometry, ConvKind, forward_conv_attrs, lift3};
use crate::ops::linalg::MatrixView;
use crate::ops::util::check_input_count;
use crate::ops::{Op, TensorDesc};
use gemm::Parallelism;
use rayon::prelude::*;
use std::ops::Range;

/// Picks the f32 convolution kernel for Convolution and GroupConvolution.
pub fn select(op: &dyn Op, inputs: &[TensorDesc]) -> Option<Box<dyn Kernel>> {
    with_epilogue(op, inputs, Epilogue::default())
}

/// The f32 convolution kernel for Convolution and GroupConvolution with a fused epilogue.
pub fn with_epilogue(
    op: &dyn Op,
    inputs: &[TensorDesc],
    epilogue: Epilogue,
) -> Option<Box<dyn Kernel>> {
    let (attrs, kind) = forward_conv_attrs(op)?;
    if inputs.len() != epilogue.input_count()
        || inputs.iter().any(|d| d.element_type != ElementType::F32)
    {
        return None;
    }
    let filters = inputs.get(1).and_then(|w| w.value.as_ref()).and_then(|w| {
        let packed = pack_filters(w, attrs, kind, inputs.first());
        if packed.is_some() {
            w.release_mapped_pages();
        }
        packed
    });
    let residual_in_place =
        adds_residual_in_place(attrs, kind, inputs, &epilogue, filters.as_ref());
    Some(Box::new(ConvKernel {
        attrs: attrs.clone(),
        kind,
        epilogue,
        filters,
        residual_in_place,
    }))
}

/// Whether a convolution adds its fused residual in place ([`Kernel::run_in_place`]): built in the residual's
/// memory, starting from the residual as [`pointwise`]'s accumulating stores do. Only the 1x1 kernel, with an
/// epilogue it applies in registers and input shapes known at compile time, so that it is the path that runs.
/// The output then never takes memory of its own to be written and read back (ResNet-50's 64->256 at 56x56,
/// two threads, in-model: 0.81x).
fn adds_residual_in_place(
    attrs: &ConvAttrs,
    kind: ConvKind,
    inputs: &[TensorDesc],
    epilogue: &Epilogue,
    filters: Option<&PackedFilter>,
) -> bool {
    let in_registers =
        epilogue.activation == Activation::Identity || epilogue.activation.bounds().is_some();
    if !epilogue.residual || !in_registers || !matches!(filters, Some(PackedFilter::Pointwise(_))) {
        return false;
    }
    let shape = |i: usize| inputs.get(i).and_then(|d| d.shape.to_static());
    let (Some(x), Some(w)) = (shape(0), shape(1)) else {
        return false;
    };
    attrs
        .geometry(kind, &x, &w, None)
        .ok()
        .and_then(|g| {
            let axes = trivial_axes_first(lift3(&g.axes).ok()?);
            Some(!is_depthwise(&g) && unpadded_pointwise(&axes))
        })
        .unwrap_or(false)
}

/// A constant filter packed at compile time for the path that will run it.
#[derive(Debug)]
enum PackedFilter {
    /// For [`direct_conv`]: kxk filters.
    Direct(PackedFilters),
    /// For [`pointwise`]: 1x1 filters.
    Pointwise(pointwise::PackedFilters),
    /// For [`winograd`]: 3x3 filters of stride 1 on inputs of a known shape that it [`winograd::suits`].
    Winograd(winograd::PackedFilters),
}

/// A constant filter packed for [`direct_conv`], [`pointwise`] or [`winograd`], when that path will run it: not
/// depthwise (which runs its own loop); when the input's (`data`) shape is known, a 3x3 filter for [`winograd`]
/// where it has a tile size for the geometry ([`winograd::tile_for`]), another kxk filter only if
/// [`direct_conv::suits`] its geometry, and a 1x1 filter only if the geometry is [`unpadded_pointwise`] (for
/// [`direct_conv`] where [`runs_direct`], else for [`pointwise`]).
fn pack_filters(
    w: &Tensor,
    attrs: &ConvAttrs,
    kind: ConvKind,
    data: Option<&TensorDesc>,
) -> Option<PackedFilter> {
    let shape = w.shape();
    let (groups, out_per_group, rest) = match (kind.grouped, shape) {
        (false, [m, rest @ ..]) => (1, *m, rest),
        (true, [g, m, rest @ ..]) => (*g, *m, rest),
        _ => return None,
    };
    let (in_per_group, taps) = rest.split_first()?;
    if out_per_group == 1 && *in_per_group == 1 {
        return None;
    }
    // With the input's shape known: the geometry as the kernels see it.
    let known = data.and_then(|d| d.shape.to_static()).and_then(|dims| {
        let g = attrs.geometry(kind, &dims, shape, None).ok()?;
        Some(trivial_axes_first(lift3(&g.axes).ok()?))
    });
    let values = w.typed_or_copied::<f32>().ok()?;
    let w = values.as_ref();
    if taps.iter().product::<usize>() == 1 {
        return match known {
            Some(a) if !unpadded_pointwise(&a) => None,
            Some(a)
                if runs_direct(positions(&a), *in_per_group, out_per_group)
                    && direct_conv::suits(&compact(&a)) =>
            {
                direct_conv::pack(w, groups, out_per_group).map(PackedFilter::Direct)
            }
            _ => pointwise::pack(w, groups, out_per_group).map(PackedFilter::Pointwise),
        };
    }
    if known.is_some_and(|a| pointwise::shallow::suits(&a, *in_per_group)) {
        return pointwise::pack(w, groups, out_per_group).map(PackedFilter::Pointwise);
    }
    if let Some(tile) = known.and_then(|a| winograd::tile_for(&a, *in_per_group, out_per_group)) {
        return winograd::pack(w, groups, out_per_group, tile).map(PackedFilter::Winograd);
    }
    if known.is_some_and(|a| !direct_conv::suits(&a)) {
        return None;
    }
    direct_conv::pack(w, groups, out_per_group).map(PackedFilter::Direct)
}

/// The most output positions of a 1x1 convolution that runs [`direct_conv`] rather than [`pointwise`]: the
/// pointwise kernel fills vectors of positions, which few positions leave half empty (ResNet-50's 7x7 layers
/// run direct, with vectors of output channels).
const POINTWISE_DIRECT_POSITIONS: usize = 64;

/// The most output positions of a 1x1 convolution with more input than output channels that runs
/// [`direct_conv`]: its vectors of output channels leave nothing empty where 14x14 positions fill 6.1 of
/// [`pointwise`]'s two-vector blocks (ResNet-50's 1024->256 and 1024->512 at 14x14, two threads, in-model:
/// 0.86-0.89x; those with more output channels, 256->1024, ran slower direct).
const NARROWING_DIRECT_POSITIONS: usize = 196;

/// Whether an unpadded 1x1 convolution of `positions` output positions, from `inputs` to `outputs` channels
/// per group, runs [`direct_conv`] rather than [`pointwise`].
fn runs_direct(positions: usize, inputs: usize, outputs: usize) -> bool {
    positions <= POINTWISE_DIRECT_POSITIONS
        || (positions <= NARROWING_DIRECT_POSITIONS && inputs > outputs)
}

/// Output positions of the (lifted) axes `a`.
fn positions(a: &[Axis; 3]) -> usize {
    a.iter().map(|a| a.output).product()
}

/// The f32 convolution kernel.
#[derive(Debug)]
struct ConvKernel {
    attrs: ConvAttrs,
    kind: ConvKind,
    epilogue: Epilogue,
    /// The filter packed at compile time, when it is a constant.
    filters: Option<PackedFilter>,
    /// Whether the fused residual (input 2) is added in place ([`adds_residual_in_place`]).
    residual_in_place: bool,
}

impl ConvKernel {
    /// The geometry of a call on `inputs`, their count and the fused bias checked against it.
    fn geometry(&self, inputs: &[&Tensor]) -> Result<ConvGeometry> {
        let n = self.epilogue.input_count();
        check_input_count(inputs, n, n)?;
        let g = self
            .attrs
            .geometry(self.kind, inputs[0].shape(), inputs[1].shape(), None)?;
        if let Some(b) = &self.epilogue.bias
            && b.len() != g.groups * g.out_per_group
        {
            return Err(Error::Shape(format!(
                "fused bias has {} values for {} output channels",
                b.len(),
                g.groups * g.out_per_group
            )));
        }
        Ok(g)
    }

    /// Convolves `inputs[0]` with `inputs[1]` into `out`, adding `residual` (or, with `residual_in_output`,
    /// the values `out` holds) in the epilogue.
    fn run_into(
        &self,
        inputs: &[&Tensor],
        g: &ConvGeometry,
        residual: &[f32],
        residual_in_output: bool,
        out: &mut Tensor,
    ) -> Result<()> {
        let epilogue = EpilogueInputs {
            epilogue: &self.epilogue,
            residual,
            residual_in_output,
        };
        convolve(
            inputs[0].typed::<f32>()?,
            inputs[1].typed::<f32>()?,
            self.filters.as_ref(),
            g,
            &epilogue,
            out.typed_mut::<f32>()?,
        )
    }
}

/// Checks a fused residual's element type and shape against the output's.
fn check_residual(residual: &Tensor, g: &ConvGeometry) -> Result<()> {
    if residual.element_type() != ElementType::F32 {
        return Err(Error::InvalidArgument(format!(
            "fused residual of type {}, expected f32",
            residual.element_type()
        )));
    }
    if residual.shape() != g.output_shape().as_slice() {
        return Err(Error::Shape(format!(
            "fused residual of shape {} for an output of shape {}",
            fmt_shape(residual.shape()),
            fmt_shape(&g.output_shape())
        )));
    }
    Ok(())
}

impl Kernel for ConvKernel {
    fn recycles_outputs(&self) -> bool {
        true
    }
    fn run_recycling(
        &self,
        inputs: &[&Tensor],
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let g = self.geometry(inputs)?;
        let residual = match inputs.get(2) {
            Some(r) => {
                check_residual(r, &g)?;
                r.typed::<f32>()?
            }
            None => &[],
        };
        let mut out = take_output(spare, 0, ElementType::F32, &g.output_shape());
        self.run_into(inputs, &g, residual, false, &mut out)?;
        Ok(vec![out])
    }
    fn in_place_input(&self) -> Option<usize> {
        self.residual_in_place.then_some(2)
    }
    fn run_in_place(
        &self,
        inputs: &[&Tensor],
        in_place: usize,
        spare: &mut [Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        if in_place != 2 || !self.residual_in_place {
            return run_with_input_restored(self, inputs, in_place, spare);
        }
        let g = self.geometry(inputs)?;
        let residual = take_moved_input(spare)?;
        check_residual(&residual, &g)?;
        // The output starts as the residual: in its memory when nothing else holds it, else in a copy.
        let mut out = match residual.into_unique() {
            Ok(own) => own,
            Err(shared) => Tensor::from_bytes(ElementType::F32, shared.shape(), shared.bytes())?,
        };
        self.run_into(inputs, &g, &[], true, &mut out)?;
        Ok(vec![out])
    }
    fn name(&self) -> &'static str {
        if self.epilogue.is_empty() {
            "conv_f32"
        } else {
            "conv_f32_fused"
        }
    }
}

/// The kernel taps of output `o` that read the input (not the padding).
pub fn tap_range(a: &Axis, o: usize) -> Range<usize> {
    let start = o * a.stride;
    let lo = a.pad_begin.saturating_sub(start).div_ceil(a.dilation);
    let hi = (a.pad_begin + a.input)
        .saturating_sub(start)
        .div_ceil(a.dilation)
        .min(a.kernel);
    lo..hi.max(lo)
}

/// The input position of tap `k` of output `o`, for a tap inside [`tap_range`] (or an output inside the range
/// of outputs that tap reaches).
pub fn tap_source(a: &Axis, o: usize, k: usize) -> usize {
    o * a.stride + k * a.dilation - a.pad_begin
}

/// Output elements per parallel task of an epilogue run after a multi-threaded GEMM.
const EPILOGUE_TASK: usize = 1 << 14;

/// Which algorithm a geometry runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// 1x1, stride 1, unpadded: the input already is the GEMM's right operand.
    Pointwise,
    /// im2col then GEMM.
    Im2col,
}

/// One input and one output channel per group: [`depthwise`]'s convolution.
fn is_depthwise(g: &ConvGeometry) -> bool {
    g.in_per_group == 1 && g.out_per_group == 1 && g.groups > 1
}

/// How a convolution that is not depthwise runs.
fn method(g: &ConvGeometry) -> Method {
    if g.axes
        .iter()
        .all(|a| a.kernel == 1 && a.stride == 1 && a.pad_begin == 0 && a.pad_end == 0)
    {
        Method::Pointwise
    } else {
        Method::Im2col
    }
}

/// Computes the convolution `g` of `x` with filter `w` into `out` (shaped `g.output_shape()`).
///
/// Each (batch, group) job writes one contiguous block of `out`: `[C_out/G, spatial]`, and applies the epilogue
/// to it while it is still in cache.
fn convolve(
    x: &[f32],
    w: &[f32],
    filters: Option<&PackedFilter>,
    g: &ConvGeometry,
    epilogue: &EpilogueInputs,
    out: &mut [f32],
) -> Result<()> {
    let axes = trivial_axes_first(lift3(&g.axes)?);
    let isz: usize = axes.iter().map(|a| a.input).product();
    let osz: usize = axes.iter().map(|a| a.output).product();
    let ksz: usize = axes.iter().map(|a| a.kernel).product();
    let need_x = g.batch * g.groups * g.in_per_group * isz;
    let need_w = g.groups * g.out_per_group * g.in_per_group * ksz;
    if x.len() != need_x || w.len() != need_w || out.len() != num_elements(&g.output_shape()) {
        return Err(Error::Internal(
            "convolution buffers do not match the geometry".into(),
        ));
    }
    let block = g.out_per_group * osz;
    if block == 0 || out.is_empty() {
        return Ok(());
    }
    if is_depthwise(g) {
        let e = epilogue;
        in_place_unsupported(e)?;
        depthwise::convolve(x, w, &axes, g.groups, e.epilogue, e.residual, out);
        return Ok(());
    }
    let job = Job {
        g,
        filters,
        epilogue,
        axes,
        isz,
        osz,
        ksz,
        method: method(g),
    };
    let jobs = g.batch * g.groups;
    if jobs >= rayon::current_num_threads() {
        out.par_chunks_mut(block)
            .enumerate()
            .try_for_each(|(j, dst)| run_job(&job, j, x, w, dst, Parallelism::None))
    } else {
        out.chunks_mut(block)
            .enumerate()
            .try_for_each(|(j, dst)| run_job(&job, j, x, w, dst, Parallelism::Rayon(0)))
    }
}

/// Moves the axes of length one that only copy (a 1-wide kernel, no padding) to the front, keeping the order of
/// the others: the flat layouts of input, filter and output do not change, and the innermost axis, along which
/// the kernels copy and multiply whole runs, becomes a long one (magika's `[512, 1]` convolution runs as 1-D).
fn trivial_axes_first(axes: [Axis; 3]) -> [Axis; 3] {
    let trivial = |a: &Axis| {
        a.input == 1 && a.output == 1 && a.kernel == 1 && a.pad_begin == 0 && a.pad_end == 0
    };
    let mut sorted = axes;
    let (ones, rest): (Vec<Axis>, Vec<Axis>) = axes.into_iter().partition(|a| trivial(a));
    for (slot, a) in sorted.iter_mut().zip(ones.into_iter().chain(rest)) {
        *slot = a;
    }
    sorted
}

/// An epilogue with the residual values it adds (empty without a residual, or when the output holds them).
struct EpilogueInputs<'a> {
    epilogue: &'a Epilogue,
    residual: &'a [f32],
    /// The output holds the residual on entry (only [`pointwise`] runs such a convolution).
    residual_in_output: bool,
}

/// What every (batch, group) job shares.
struct Job<'a> {
    g: &'a ConvGeometry,
    filters: Option<&'a PackedFilter>,
    epilogue: &'a EpilogueInputs<'a>,
    axes: [Axis; 3],
    isz: usize,
    osz: usize,
    ksz: usize,
    method: Method,
}

/// Computes job `j` (batch `j / G`, group `j % G`): the group's input channels and filters into its output
/// block `dst`.
fn run_job(
    job: &Job,
    j: usize,
    x: &[f32],
    w: &[f32],
    dst: &mut [f32],
    par: Parallelism,
) -> Result<()> {
    let g = job.g;
    let gr = j % g.groups;
    let cin = g.in_per_group * job.isz;
    let xs = x.get(j * cin..(j + 1) * cin).unwrap_or(&[]);
    let wlen = g.out_per_group * g.in_per_group * job.ksz;
    let ws = w.get(gr * wlen..(gr + 1) * wlen).unwrap_or(&[]);
    let block = dst.len();
    let residual = job.epilogue.residual;
    let residual = residual.get(j * block..(j + 1) * block).unwrap_or(&[]);
    let (first, osz) = (gr * g.out_per_group, job.osz);
    let epilogue = job.epilogue.epilogue;
    let stretches = Stretches {
        residual,
        first,
        osz,
    };
    let finish = |channel: usize, at: usize, values: &mut [f32]| {
        stretches.apply(epilogue, channel, at, values)
    };
    // The direct convolution's tiles add the bias and apply bounds (when no residual comes between them) in
    // registers; the rest runs on each finished stretch.
    let bounds = epilogue.activation.bounds().filter(|_| residual.is_empty());
    let after_tiles = Epilogue {
        bias: None,
        residual: epilogue.residual,
        activation: match bounds {
            Some(_) => Activation::Identity,
            None => epilogue.activation,
        },
    };
    let after = |channel: usize, at: usize, values: &mut [f32]| {
        stretches.apply(&after_tiles, channel, at, values)
    };
    let bias = epilogue.bias.as_deref().unwrap_or(&[]);
    let group_bias = bias.get(first..first + g.out_per_group).unwrap_or(&[]);
    let finishing = direct_conv::Finishing {
        bias: group_bias,
        bounds,
        after: &after,
    };
    let parallel = !matches!(par, Parallelism::None);
    let (a, cin) = (&job.axes, g.in_per_group);
    // The 1x1 kernel's microkernel (also under `pointwise::shallow`) applies the bias, a residual and a
    // clamping activation in its registers; other activations run on the finished stretches.
    let (registers, rest) =
        if epilogue.activation.bounds().is_some() || epilogue.activation == Activation::Identity {
            let registers = pointwise::RegisterEpilogue {
                bias: group_bias,
                residual,
                residual_in_output: job.epilogue.residual_in_output,
                bounds: epilogue.activation.bounds(),
            };
            (registers, None)
        } else {
            in_place_unsupported(job.epilogue)?;
            let finish: &direct_conv::Finish<'_> = &finish;
            (pointwise::RegisterEpilogue::default(), Some(finish))
        };
    let pointwise_runs =
        matches!(job.filters, Some(PackedFilter::Pointwise(_))) && unpadded_pointwise(a);
    if !pointwise_runs {
        in_place_unsupported(job.epilogue)?;
    }
    match job.filters {
        // 1x1 filters on few positions.
        Some(PackedFilter::Direct(f))
            if unpadded_pointwise(a) && direct_conv::suits(&compact(a)) =>
        {
            if let Some(filter) = f.group(gr, g.out_per_group, cin) {
                return on_compact_input(xs, cin, a, parallel, |x, compact| {
                    direct_conv::convolve(x, cin, compact, filter, dst, finishing, parallel)
                });
            }
        }
        Some(PackedFilter::Winograd(f)) if winograd::suits(a, cin, g.out_per_group) => {
            if let Some(filter) = f.group(gr, g.out_per_group, cin * job.ksz) {
                return winograd::convolve(xs, cin, a, filter, dst, finishing, parallel);
            }
        }
        // kxk filters the direct convolution takes.
        Some(PackedFilter::Direct(f)) if direct_conv::suits(a) => {
            if let Some(filter) = f.group(gr, g.out_per_group, cin * job.ksz) {
                return direct_conv::convolve(xs, cin, a, filter, dst, finishing, parallel);
            }
        }
        Some(PackedFilter::Pointwise(f)) if unpadded_pointwise(a) => {
            if let Some(filter) = f.group(gr, g.out_per_group, cin) {
                return on_compact_input(xs, cin, a, parallel, |x, _| {
                    pointwise::convolve(x, osz, filter, dst, registers, rest, parallel)
                });
            }
        }
        // Few input channels under a wider filter (stems).
        Some(PackedFilter::Pointwise(f)) if pointwise::shallow::suits(a, cin) => {
            if let Some(filter) = f.group(gr, g.out_per_group, cin * job.ksz) {
                return pointwise::shallow::convolve(
                    xs, cin, a, filter, dst, registers, rest, parallel,
                );
            }
        }
        _ => {}
    }
    in_place_unsupported(job.epilogue)?;
    match job.method {
        Method::Pointwise => matmul(dst, ws, xs, g.out_per_group, osz, g.in_per_group, par)?,
        Method::Im2col => match banding(job, par) {
            Some(bands) => im2col_gemm_tiled(job, bands, xs, ws, dst)?,
            None => {
                let rows = g.in_per_group * job.ksz;
                with_scratch(rows * osz, |col| {
                    im2col(xs, g.in_per_group, &job.axes, col, par);
                    matmul(dst, ws, col, g.out_per_group, osz, rows, par)
                })?
            }
        },
    }
    if matches!(par, Parallelism::None) || epilogue.is_empty() {
        epilogue.apply(dst, first, osz, residual);
    } else {
        // The whole output is this job's: spread the epilogue over the threads, a few channels per task.
        let channels = (EPILOGUE_TASK / osz.max(1)).max(1);
        let task = channels * osz;
        dst.par_chunks_mut(task).enumerate().for_each(|(i, d)| {
            let r = residual.get(i * task..i * task + d.len()).unwrap_or(&[]);
            epilogue.apply(d, first + i * channels, osz, r);
        });
    }
    Ok(())
}

/// Refuses an in-place residual on a path other than [`pointwise`]'s register epilogue (the selection's
/// [`adds_residual_in_place`] keeps it from happening).
fn in_place_unsupported(epilogue: &EpilogueInputs) -> Result<()> {
    if epilogue.residual_in_output {
        return Err(Error::Internal(
            "a convolution with its residual in its output reached a path that does not add it"
                .into(),
        ));
    }
    Ok(())
}

/// Where a job's finished stretches of output channels lie: the job's residual values (laid out like its
/// output, or empty), its first output channel and the positions per channel.
struct Stretches<'a> {
    residual: &'a [f32],
    first: usize,
    osz: usize,
}

impl Stretches<'_> {
    /// Applies `epilogue` to `values`, the stretch of the job's output channel `channel` from position `at`.
    fn apply(&self, epilogue: &Epilogue, channel: usize, at: usize, values: &mut [f32]) {
        let from = channel * self.osz + at;
        let r = self.residual.get(from..from + values.len()).unwrap_or(&[]);
        epilogue.apply(values, self.first + channel, values.len(), r);
    }
}

/// Whether every axis has a 1-wide kernel and no padding: the convolution multiplies the filter with the
/// input, subsampled where the strides skip positions.
fn unpadded_pointwise(a: &[Axis; 3]) -> bool {
    a.iter()
        .all(|a| a.kernel == 1 && a.pad_begin == 0 && a.pad_end == 0)
}

/// The axes of an [`unpadded_pointwise`] convolution on its input subsampled to the output positions: stride 1,
/// input as long as the output.
fn compact(a: &[Axis; 3]) -> [Axis; 3] {
    a.map(|a| Axis {
        input: a.output,
        stride: 1,
        dilation: 1,
        ..a
    })
}

/// Runs `f` on the job's `channels` input planes `xs` with its [`compact`] axes: on `xs` itself when the
/// strides skip nothing, otherwise on a copy that keeps only the positions they reach.
fn on_compact_input(
    xs: &[f32],
    channels: usize,
    a: &[Axis; 3],
    parallel: bool,
    f: impl FnOnce(&[f32], &[Axis; 3]) -> Result<()>,
) -> Result<()> {
    let axes = compact(a);
    if a.iter().all(|a| a.input == a.output) {
        return f(xs, &axes);
    }
    with_scratch(channels * positions(a), |sub| {
        subsample(xs, a, sub, parallel);
        f(sub, &axes)
    })
}

/// Copies input position `(od·sd, oh·sh, ow·sw)` of every input plane in `x` to position `(od, oh, ow)` of the
/// matching output plane in `sub`, planes in parallel when `parallel`.
fn subsample(x: &[f32], a: &[Axis; 3], sub: &mut [f32], parallel: bool) {
    let isz = (a[0].input * a[1].input * a[2].input).max(1);
    let osz = (a[0].output * a[1].output * a[2].output).max(1);
    let copy = |(src, dst): (&[f32], &mut [f32])| {
        for (line, out) in dst.chunks_exact_mut(a[2].output.max(1)).enumerate() {
            let (od, oh) = (line / a[1].output.max(1), line % a[1].output.max(1));
            let row = (od * a[0].stride * a[1].input + oh * a[1].stride) * a[2].input;
            let source = src.get(row..).unwrap_or(&[]);
            if a[2].stride == 2 && even_values::copy_evens(source, out) {
                continue;
            }
            for (v, &s) in out
                .iter_mut()
                .zip(source.iter().step_by(a[2].stride.max(1)))
            {
                *v = s;
            }
        }
    };
    if parallel {
        x.par_chunks_exact(isz)
            .zip(sub.par_chunks_exact_mut(osz))
            .for_each(copy);
    } else {
        x.chunks_exact(isz)
            .zip(sub.chunks_exact_mut(osz))
            .for_each(copy);
    }
}

/// Floats of im2col columns one band of [`im2col_gemm_tiled`] unfolds: small enough to stay in a core's L2
/// cache while the GEMM reads it.
const BAND_FLOATS: usize = 64 * 1024;
/// The fewest output positions a band of [`im2col_gemm_tiled`] covers: narrower GEMMs cost more in packing
/// than the cache saves (ResNet-50's 7x7 layers run faster as one parallel GEMM).
const MIN_BAND_WIDTH: usize = 1024;

/// The banding of a job that owns the whole output (`par` allows threads), when [`tiles`] finds one.
fn banding(job: &Job, par: Parallelism) -> Option<(usize, usize)> {
    if matches!(par, Parallelism::None) {
        None
    } else {
        tiles(job)
    }
}

/// Output lines per band of [`im2col_gemm_tiled`] and the band count, when the output has enough bands to keep
/// every thread busy (at least two per thread); None otherwise.
fn tiles(job: &Job) -> Option<(usize, usize)> {
    let a = &job.axes;
    let lines = a[0].output * a[1].output;
    let ow = a[2].output.max(1);
    let column = job.g.in_per_group * job.ksz * ow;
    let per_band = (BAND_FLOATS / column.max(1))
        .max(MIN_BAND_WIDTH.div_ceil(ow))
        .clamp(1, lines.max(1));
    let bands = lines.div_ceil(per_band);
    (bands >= 2 * rayon::current_num_threads()).then_some((per_band, bands))
}

/// The im2col convolution of one job in bands of output lines, each band on one thread: its im2col columns are
/// unfolded into a small buffer and multiplied at once, so the GEMM reads them from cache, and threads split the
/// output positions (which a small `C_out` would not give them).
fn im2col_gemm_tiled(
    job: &Job,
    (per_band, bands): (usize, usize),
    xs: &[f32],
    ws: &[f32],
    dst: &mut [f32],
) -> Result<()> {
    let (g, a) = (job.g, &job.axes);
    let rows = g.in_per_group * job.ksz;
    let lines = a[0].output * a[1].output;
    let ow = a[2].output;
    let out = super::matmul::ColumnSplitOutput::new(dst, g.out_per_group, job.osz)?;
    (0..bands).into_par_iter().try_for_each(|band| {
        let first = band * per_band;
        let band_lines = first..(first + per_band).min(lines);
        let width = band_lines.len() * ow;
        with_scratch(rows * width, |col| {
            for (r, row) in col.chunks_exact_mut(width.max(1)).enumerate() {
                fill_col_row(xs, a, r, band_lines.clone(), row);
            }
            // SAFETY: bands cover disjoint output lines, hence disjoint column ranges of the output.
            unsafe { out.gemm_columns(first * ow..first * ow + width, ws, col, rows) }
        })
    })
}

/// `dst[m x n] = lhs[m x k] · rhs[k x n]`, all row-major and contiguous, through the one GEMM entry point.
fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    n: usize,
    k: usize,
    par: Parallelism,
) -> Result<()> {
    let (a, b) = (MatrixView::of(m, k, false), MatrixView::of(k, n, false));
    super::matmul::gemm_batch(dst, lhs, a, rhs, b, par)
}

/// Unfolds `channels` input planes into `col[(c, kd, kh, kw)][od, oh, ow]`, zeros where taps hit the padding;
/// rows are filled in parallel when `par` allows threads.
fn im2col(x: &[f32], channels: usize, a: &[Axis; 3], col: &mut [f32], par: Parallelism) {
    let osz = (a[0].output * a[1].output * a[2].output).max(1);
    let lines = a[0].output * a[1].output;
    let fill = |r: usize, row: &mut [f32]| fill_col_row(x, a, r, 0..lines, row);
    let rows = channels * a[0].kernel * a[1].kernel * a[2].kernel;
    let end = (rows * osz).min(col.len());
    let col = &mut col[..end];
    match par {
        Parallelism::None => col
            .chunks_exact_mut(osz)
            .enumerate()
            .for_each(|(r, row)| fill(r, row)),
        _ => col
            .par_chunks_exact_mut(osz)
            .enumerate()
            .for_each(|(r, row)| fill(r, row)),
    }
}

/// im2col row `r` (input channel `r / taps`, tap `r % taps`) of the channels in `x`, over output lines `lines`.
fn fill_col_row(x: &[f32], a: &[Axis; 3], r: usize, lines: Range<usize>, row: &mut [f32]) {
    let isz = a[0].input * a[1].input * a[2].input;
    let (kh, kw) = (a[1].kernel, a[2].kernel);
    let taps = (a[0].kernel * kh * kw).max(1);
    let (c, t) = (r / taps, r % taps);
    if let Some(plane) = x.get(c * isz..(c + 1) * isz) {
        fill_row(plane, a, [t / (kh * kw), (t / kw) % kh, t % kw], lines, row);
    }
}

/// One im2col row: the input values tap `k` reads for the output positions of output lines `lines` (a line is
/// one `(od, oh)`, `a[2].output` positions long).
fn fill_row(plane: &[f32], a: &[Axis; 3], k: [usize; 3], lines: Range<usize>, row: &mut [f32]) {
    let (ow_n, iw) = (a[2].output, a[2].input);
    let wr = ow_range(&a[2], k[2]);
    let oh_n = a[1].output.max(1);
    for (l, line) in lines.zip(row.chunks_exact_mut(ow_n.max(1))) {
        let (od, oh) = (l / oh_n, l % oh_n);
        let (Some(d), Some(h)) = (a[0].source(od, k[0]), a[1].source(oh, k[1])) else {
            line.fill(0.0);
            continue;
        };
        let src = &plane[(d * a[1].input + h) * iw..(d * a[1].input + h + 1) * iw];
        line[..wr.start].fill(0.0);
        line[wr.end..].fill(0.0);
        if wr.is_empty() {
            continue;
        }
        let first = tap_source(&a[2], wr.start, k[2]);
        if a[2].stride == 1 {
            line[wr.clone()].copy_from_slice(&src[first..first + wr.len()]);
        } else {
            // Every stride-th value: the first of each stride-long chunk.
            let chunks = src[first..].chunks(a[2].stride);
            for (v, chunk) in line[wr.clone()].iter_mut().zip(chunks) {
                *v = chunk[0];
            }
        }
    }
}

/// The outputs whose tap `k` falls inside the input along axis `a`.
pub fn ow_range(a: &Axis, k: usize) -> Range<usize> {
    let off = k * a.dilation;
    let lo = a.pad_begin.saturating_sub(off).div_ceil(a.stride);
    let hi = (a.pad_begin + a.input)
        .saturating_sub(off)
        .div_ceil(a.stride)
        .min(a.output);
    lo.min(hi)..hi
}

/// Writes `src`, whose value `i` sits at padded position `pad + i`, into the two phases of a stride-2 row:
/// position `p` goes to index `p / 2` of `even` or of `odd` as `p` is even or odd. Values past either phase's
/// end are dropped. Pairs of values split at once, a form that vectorises.
#[inline]
pub fn split_in_two_phases(src: &[f32], pad: usize, even: &mut [f32], odd: &mut [f32]) {
    let q = pad / 2;
    let (first, second) = if pad.is_multiple_of(2) {
        (even.get_mut(q..), odd.get_mut(q..))
    } else {
        (odd.get_mut(q..), even.get_mut(q + 1..))
    };
    let (Some(first), Some(second)) = (first, second) else {
        return;
    };
    let pairs = src.chunks_exact(2);
    if let (Some(&last), Some(slot)) = (pairs.remainder().first(), first.get_mut(src.len() / 2)) {
        *slot = last;
    }
    for ((pair, a), b) in pairs.zip(first.iter_mut()).zip(second.iter_mut()) {
        *a = pair[0];
        *b = pair[1];
    }
}

/// `(output rows per band, input rows one band reads)` for kernels that lay out, band by band, the input rows
/// a band of output rows along axis `h` reads: as many rows of `row_bytes` bytes as `budget` bytes hold (yet
/// at least those one output row reads), and at least `bands` bands where there are output rows enough.
pub fn row_bands(h: &Axis, row_bytes: usize, budget: usize, bands: usize) -> (usize, usize) {
    let reach = (h.kernel.max(1) - 1) * h.dilation + 1;
    let fit_rows = (budget / row_bytes.max(1)).max(reach);
    let fit_lines = (fit_rows - reach) / h.stride.max(1) + 1;
    let lines = fit_lines.min(h.output.div_ceil(bands.max(1))).max(1);
    (lines, (lines - 1) * h.stride + reach)
}

/// Input rows padded along the width and split into `stride` phases.
pub struct PhasedRows {
    stride: usize,
    phase_len: usize,
    /// The length of one laid-out row.
    pub row_len: usize,
    pad_begin: usize,
}

impl PhasedRows {
    /// The layout of rows along axis `aw`.
    pub fn new(aw: &Axis) -> PhasedRows {
        let stride = aw.stride.max(1);
        let needed = (aw.output.max(1) - 1) * stride + (aw.kernel.max(1) - 1) * aw.dilation + 1;
        let padded = (aw.pad_begin + aw.input + aw.pad_end).max(needed);
        let phase_len = padded.div_ceil(stride);
        PhasedRows {
            stride,
            phase_len,
            row_len: stride * phase_len,
            pad_begin: aw.pad_begin,
        }
    }

    /// Lays out one input row (`out` is `row_len` long).
    #[inline(always)]
    pub fn fill(&self, src: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        if self.stride == 1 {
            let end = (self.pad_begin + src.len()).min(out.len());
            out[self.pad_begin.min(end)..end]
                .copy_from_slice(&src[..end - self.pad_begin.min(end)]);
            return;
        }
        // Input value `i` sits at padded position `pad_begin + i`: phase `pos % stride`, index `pos / stride`.
        // Walking the input `stride` values at a time, value `r` of chunk `k` lands at index `q0 + k` of phase
        // `r0 + r`, or at index `q0 + k + 1` of phase `r0 + r - stride` once the phases wrap.
        let (s, n) = (self.stride, self.phase_len);
        let (q0, r0) = (self.pad_begin / s, self.pad_begin % s);
        if s == 2 {
            let (even, odd) = out.split_at_mut(n);
            split_in_two_phases(src, self.pad_begin, even, odd);
            return;
        }
        for (k, chunk) in src.chunks(s).enumerate() {
            for (r, &v) in chunk.iter().enumerate() {
                let at = if r0 + r < s {
                    (r0 + r) * n + q0 + k
                } else {
                    (r0 + r - s) * n + q0 + k + 1
                };
                if let Some(slot) = out.get_mut(at) {
                    *slot = v;
                }
            }
        }
    }

    /// Where, in a laid-out row, output column 0 reads tap `kw`; output column `o` reads `o` further.
    #[inline(always)]
    pub fn tap_offset(&self, aw: &Axis, kw: usize) -> usize {
        let off = kw * aw.dilation;
        (off % self.stride) * self.phase_len + off / self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::super::epilogue::Activation;
    use super::super::testing::{Lcg, assert_kernel_matches};
    use super::*;
    use crate::ops::conv::{AutoPad, Convolution, GroupConvolution};

    struct Case {
        data: Vec<usize>,
        filter: Vec<usize>,
        grouped: bool,
        strides: Vec<i64>,
        dilations: Vec<i64>,
        pads: (Vec<i64>, Vec<i64>),
        auto_pad: AutoPad,
    }

    fn case(
        data: &[usize],
        filter: &[usize],
        grouped: bool,
        s: &[i64],
        d: &[i64],
        pb: &[i64],
        pe: &[i64],
    ) -> Case {
        Case {
            data: data.to_vec(),
            filter: filter.to_vec(),
            grouped,
            strides: s.to_vec(),
            dilations: d.to_vec(),
            pads: (pb.to_vec(), pe.to_vec()),
            auto_pad: AutoPad::Explicit,
        }
    }

    /// The attributes of a test case.
    fn attrs_of(c: &Case) -> ConvAttrs {
        ConvAttrs {
            strides: c.strides.clone(),
            dilations: c.dilations.clone(),
            pads_begin: c.pads.0.clone(),
            pads_end: c.pads.1.clone(),
            auto_pad: c.auto_pad,
            output_padding: vec![],
        }
    }

    fn check(c: &Case, rng: &mut Lcg) {
        let attrs = attrs_of(c);
        let op: Box<dyn Op> = if c.grouped {
            Box::new(GroupConvolution { attrs })
        } else {
            Box::new(Convolution { attrs })
        };
        let inputs = [rng.tensor(&c.data), rng.tensor(&c.filter)];
        for constant in [true, false] {
            assert_kernel_matches(op.as_ref(), &inputs, &[false, constant], 1e-4, 1e-4);
        }
    }

    #[test]
    fn method_choice() {
        let g = |groups, ip, op, k| ConvGeometry {
            batch: 1,
            groups,
            in_per_group: ip,
            out_per_group: op,
            axes: vec![Axis {
                kernel: k,
                ..Axis::unit()
            }],
        };
        assert!(is_depthwise(&g(4, 1, 1, 3)));
        assert!(!is_depthwise(&g(1, 4, 2, 3)));
        assert_eq!(method(&g(1, 4, 2, 1)), Method::Pointwise);
        assert_eq!(method(&g(1, 4, 2, 3)), Method::Im2col);
        assert_eq!(method(&g(4, 1, 2, 3)), Method::Im2col);
    }

    #[test]
    fn banded_im2col_matches_reference() {
        let mut rng = Lcg(11);
        let cases = [
            // 2-D, a partial last band; strided and dilated; 3-D (bands of (depth, row) lines); batch 2 and
            // groups run one band set per job.
            case(
                &[1, 8, 130, 70],
                &[5, 8, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 4, 261, 141],
                &[3, 4, 3, 3],
                false,
                &[2, 2],
                &[2, 1],
                &[1, 0],
                &[2, 1],
            ),
            case(
                &[1, 2, 6, 40, 50],
                &[3, 2, 3, 3, 3],
                false,
                &[1, 1, 1],
                &[1, 1, 1],
                &[1, 1, 1],
                &[1, 1, 1],
            ),
            case(
                &[1, 4, 90, 90],
                &[2, 3, 2, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            for c in &cases[..3] {
                let axes = lift3(&geometry_of(c).axes).unwrap();
                assert!(banded(c, &axes), "{:?} should run in bands", c.data);
                check(c, &mut rng);
            }
            check(&cases[3], &mut rng);
        });
    }

    /// The geometry of a test case.
    fn geometry_of(c: &Case) -> ConvGeometry {
        let kind = if c.grouped {
            GroupConvolution::KIND
        } else {
            Convolution::KIND
        };
        attrs_of(c)
            .geometry(kind, &c.data, &c.filter, None)
            .unwrap()
    }

    /// Whether a batch-1, one-group case runs [`im2col_gemm_tiled`] in the current pool.
    fn banded(c: &Case, axes: &[Axis; 3]) -> bool {
        let g = geometry_of(c);
        let epilogue = Epilogue::default();
        let inputs = EpilogueInputs {
            epilogue: &epilogue,
            residual: &[],
            residual_in_output: false,
        };
        let job = Job {
            g: &g,
            filters: None,
            epilogue: &inputs,
            axes: *axes,
            isz: axes.iter().map(|a| a.input).product(),
            osz: axes.iter().map(|a| a.output).product(),
            ksz: axes.iter().map(|a| a.kernel).product(),
            method: method(&g),
        };
        job.method == Method::Im2col && tiles(&job).is_some()
    }

    #[test]
    fn kernel_matches_reference() {
        let mut rng = Lcg(7);
        let cases = [
            // Width one (magika's layout: runs as 1-D along the height), also depthwise, and height one.
            case(
                &[1, 6, 40, 1],
                &[5, 6, 5, 1],
                false,
                &[2, 1],
                &[1, 1],
                &[1, 0],
                &[2, 0],
            ),
            case(
                &[1, 6, 40, 1],
                &[6, 1, 1, 3, 1],
                true,
                &[1, 1],
                &[2, 1],
                &[1, 0],
                &[1, 0],
            ),
            case(
                &[1, 6, 1, 40],
                &[6, 1, 1, 1, 3],
                true,
                &[1, 1],
                &[1, 2],
                &[0, 1],
                &[0, 1],
            ),
            // 2-D: plain, strided, dilated, asymmetric pads, odd sizes, batch > 1.
            case(
                &[1, 3, 9, 9],
                &[4, 3, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[2, 5, 11, 7],
                &[6, 5, 3, 2],
                false,
                &[2, 3],
                &[1, 1],
                &[1, 0],
                &[0, 2],
            ),
            case(
                &[3, 2, 10, 13],
                &[3, 2, 3, 3],
                false,
                &[1, 2],
                &[2, 3],
                &[2, 1],
                &[1, 3],
            ),
            // Pointwise (1x1, stride 1, no pads) and 1x1 strided.
            case(
                &[2, 8, 5, 6],
                &[3, 8, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 4, 7, 7],
                &[5, 4, 1, 1],
                false,
                &[2, 2],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            // 1-D and 3-D.
            case(&[2, 3, 17], &[4, 3, 5], false, &[2], &[2], &[3], &[1]),
            case(
                &[1, 2, 5, 6, 7],
                &[3, 2, 2, 3, 2],
                false,
                &[1, 2, 1],
                &[2, 1, 1],
                &[1, 0, 1],
                &[0, 1, 1],
            ),
            // Groups, depthwise (2-D, 1-D, 3-D) and depthwise with a channel multiplier.
            case(
                &[2, 6, 8, 8],
                &[3, 4, 2, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[2, 6, 9, 10],
                &[6, 1, 1, 3, 3],
                true,
                &[2, 1],
                &[1, 2],
                &[1, 2],
                &[0, 1],
            ),
            case(&[1, 4, 12], &[4, 1, 1, 4], true, &[3], &[1], &[2], &[2]),
            // Depthwise with a row stride of one (one run per tap over the padded plane).
            case(
                &[2, 4, 8, 7],
                &[4, 1, 1, 3, 3],
                true,
                &[1, 2],
                &[2, 1],
                &[2, 1],
                &[1, 0],
            ),
            case(
                &[1, 3, 5, 5],
                &[3, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            // Depthwise with sixteen channels per vector (where the CPU has AVX-512): a partial last group
            // of channels, batches, strides, dilation, asymmetric padding, a 5x3 filter; 1-D.
            case(
                &[2, 20, 13, 11],
                &[20, 1, 1, 5, 3],
                true,
                &[2, 1],
                &[2, 2],
                &[3, 0],
                &[1, 2],
            ),
            case(&[1, 33, 30], &[33, 1, 1, 3], true, &[2], &[1], &[1], &[1]),
            // Depthwise rows of every block width (32, 16, 8 columns, partial last blocks) and a filter with
            // more taps than the register-blocked loop takes.
            case(
                &[1, 3, 6, 45],
                &[3, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 2, 9, 61],
                &[2, 1, 1, 3, 5],
                true,
                &[2, 2],
                &[1, 1],
                &[1, 2],
                &[0, 2],
            ),
            case(
                &[1, 2, 7, 11],
                &[2, 1, 1, 3, 3],
                true,
                &[3, 3],
                &[1, 1],
                &[1, 2],
                &[2, 1],
            ),
            case(
                &[1, 2, 5, 27],
                &[2, 1, 1, 3, 3],
                true,
                &[1, 2],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 2, 12, 12],
                &[2, 1, 1, 9, 9],
                true,
                &[1, 1],
                &[1, 1],
                &[4, 4],
                &[4, 4],
            ),
            // Depthwise with width stride and dilation together (the phase split of the input rows).
            case(
                &[1, 5, 7, 9],
                &[5, 1, 1, 3, 3],
                true,
                &[2, 2],
                &[2, 2],
                &[1, 2],
                &[2, 1],
            ),
            case(
                &[1, 3, 4, 5, 6],
                &[3, 1, 1, 2, 2, 3],
                true,
                &[1, 1, 2],
                &[1, 1, 1],
                &[1, 1, 1],
                &[0, 0, 1],
            ),
            // Depthwise 3-D with a stride along every axis (eight phases) and dilation in depth; a batch of
            // many small channels (tasks spanning the batch boundary); stride 3 with padding wider than needed.
            case(
                &[2, 3, 7, 6, 9],
                &[3, 1, 1, 3, 2, 3],
                true,
                &[2, 2, 2],
                &[2, 1, 1],
                &[1, 0, 1],
                &[2, 1, 1],
            ),
            // Depthwise planes of several bands of lines (2-D, and 3-D with bands in every depth slice).
            case(
                &[1, 2, 70, 90],
                &[2, 1, 1, 3, 3],
                true,
                &[2, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 2, 3, 50, 100],
                &[2, 1, 1, 2, 3, 3],
                true,
                &[1, 1, 1],
                &[1, 1, 1],
                &[0, 1, 1],
                &[0, 1, 1],
            ),
            case(
                &[3, 7, 5, 4],
                &[7, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 2, 10, 11],
                &[2, 1, 1, 3, 3],
                true,
                &[3, 3],
                &[1, 1],
                &[2, 3],
                &[3, 2],
            ),
            case(
                &[1, 3, 6, 6],
                &[3, 2, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            // Depthwise 3x3 (stride 1 and 2) and 5x5 read straight from the rows (where the CPU has AVX-512):
            // rows of several blocks of sixteen with partial last blocks, every count of rows left over after
            // the blocks of rows, asymmetric padding, padding wider than the filter (rows and columns of bias
            // only), batches.
            case(
                &[2, 5, 23, 37],
                &[5, 1, 1, 3, 3],
                true,
                &[2, 2],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 3, 40, 70],
                &[3, 1, 1, 3, 3],
                true,
                &[2, 2],
                &[1, 1],
                &[0, 0],
                &[1, 1],
            ),
            case(
                &[1, 2, 11, 33],
                &[2, 1, 1, 3, 3],
                true,
                &[2, 2],
                &[1, 1],
                &[2, 2],
                &[0, 1],
            ),
            case(
                &[1, 2, 17, 50],
                &[2, 1, 1, 5, 5],
                true,
                &[1, 1],
                &[1, 1],
                &[2, 2],
                &[2, 2],
            ),
            case(
                &[1, 2, 9, 35],
                &[2, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[0, 2],
                &[3, 0],
            ),
            case(
                &[1, 2, 6, 20],
                &[2, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[3, 3],
                &[3, 3],
            ),
            case(
                &[1, 2, 9, 9],
                &[2, 1, 1, 3, 3],
                true,
                &[2, 2],
                &[1, 1],
                &[4, 1],
                &[1, 4],
            ),
            // Depthwise at unit strides on rows of at most 8 columns, as blocks of sixteen positions across
            // the rows (where the CPU has AVX-512): asymmetric padding, a 5x5 filter, more blocks than are
            // summed at once, a last block that is partial.
            case(
                &[1, 2, 6, 7],
                &[2, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[0, 2],
                &[2, 0],
            ),
            case(
                &[2, 3, 6, 6],
                &[3, 1, 1, 5, 5],
                true,
                &[1, 1],
                &[1, 1],
                &[2, 2],
                &[2, 2],
            ),
            case(
                &[1, 2, 12, 8],
                &[2, 1, 1, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            // Empty batch and a filter wider than the input but covered by padding.
            case(
                &[0, 3, 5, 5],
                &[2, 3, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 2, 2, 2],
                &[2, 2, 4, 4],
                false,
                &[1, 1],
                &[1, 1],
                &[2, 2],
                &[1, 1],
            ),
        ];
        for c in &cases {
            check(c, &mut rng);
        }
        for auto_pad in [
            AutoPad::SameUpper,
            AutoPad::SameLower,
            AutoPad::Valid,
            AutoPad::NotSet,
        ] {
            let mut c = case(
                &[2, 3, 10, 9],
                &[4, 3, 3, 4],
                false,
                &[2, 3],
                &[1, 2],
                &[5, 5],
                &[5, 5],
            );
            c.auto_pad = auto_pad;
            check(&c, &mut rng);
            let mut d = case(
                &[1, 4, 7, 8],
                &[4, 1, 1, 3, 2],
                true,
                &[2, 2],
                &[1, 1],
                &[],
                &[],
            );
            d.auto_pad = auto_pad;
            check(&d, &mut rng);
        }
    }

    /// A fused epilogue (bias, residual, clamp) for one job with a parallel GEMM, for a 1x1 filter, for
    /// grouped jobs and for the direct convolution (bias and bounds in its tiles where no residual comes
    /// between them), against the reference convolution followed by the same steps.
    #[test]
    fn fused_epilogue_matches_the_unfused_steps() {
        let mut rng = Lcg(11);
        for (data, filter, grouped) in [
            (vec![1, 20, 9, 11], vec![13, 20, 3, 3], false),
            (vec![1, 20, 9, 29], vec![40, 20, 3, 3], false),
            (vec![2, 12, 7, 26], vec![3, 5, 4, 3, 3], true),
            // Winograd: one job per image, and two groups of 32 channels.
            (vec![2, 32, 15, 18], vec![40, 32, 3, 3], false),
            (vec![1, 64, 16, 16], vec![2, 32, 32, 3, 3], true),
            (vec![2, 8, 30, 30], vec![16, 8, 1, 1], false),
            (vec![1, 200, 15, 15], vec![30, 200, 1, 1], false),
            // A 1x1 filter on few positions: the direct convolution, bias and bounds in its tiles.
            (vec![2, 24, 7, 7], vec![40, 24, 1, 1], false),
            (vec![1, 12, 7, 7], vec![3, 5, 4, 3, 3], true),
            // Three input channels (a stem): `pointwise::shallow`, bias, residual and bounds in its registers.
            (vec![2, 3, 11, 40], vec![14, 3, 3, 3], false),
            // Depthwise: tasks of channels that cross from one batch to the next (the bias restarts); planes
            // of several bands of lines.
            (vec![3, 5, 9, 8], vec![5, 1, 1, 3, 3], true),
            (vec![1, 3, 70, 90], vec![3, 1, 1, 3, 3], true),
            // Depthwise 3x3 on the rows (AVX-512) with every epilogue, small planes and several rows of
            // blocks; a 3x2 filter with sixteen channels per vector (AVX-512) with the clamp, one block of
            // the vectors that remain with the others.
            (vec![1, 40, 7, 7], vec![40, 1, 1, 3, 3], true),
            (vec![2, 20, 10, 9], vec![20, 1, 1, 3, 3], true),
            (vec![1, 40, 7, 7], vec![40, 1, 1, 3, 2], true),
        ] {
            let attrs = ConvAttrs {
                strides: vec![1, 1],
                dilations: vec![1, 1],
                pads_begin: vec![1, 1],
                pads_end: vec![1, 1],
                ..ConvAttrs::default()
            };
            let attrs = match filter[2..] {
                [1, 1] | [_, 1, 1] => ConvAttrs {
                    pads_begin: vec![0, 0],
                    pads_end: vec![0, 0],
                    ..attrs
                },
                _ => attrs,
            };
            let op: Box<dyn Op> = if grouped {
                Box::new(GroupConvolution { attrs })
            } else {
                Box::new(Convolution { attrs })
            };
            let (x, w) = (rng.tensor(&data), rng.tensor(&filter));
            let plain = op.evaluate(&[&x, &w]).unwrap().remove(0);
            let channels = plain.shape()[1];
            let spatial: usize = plain.shape()[2..].iter().product();
            let residual = rng.tensor(plain.shape());
            let bias: Vec<f32> = (0..channels).map(|c| c as f32 * 0.1 - 0.5).collect();
            // Clamping activations run in the 1x1 kernel's registers, the others after it.
            type Reference = fn(f32) -> f32;
            let activations: [(Activation, Reference); 4] = [
                (Activation::Clamp(-0.5, 1.5), |v| v.clamp(-0.5, 1.5)),
                (Activation::Relu, |v| v.max(0.0)),
                (Activation::Swish, |v| super::super::math::swish(v, 1.0)),
                (Activation::Identity, |v| v),
            ];
            let zeros = Tensor::zeros(ElementType::F32, plain.shape());
            for ((activation, act), with_residual) in activations
                .into_iter()
                .flat_map(|a| [(a, true), (a, false)])
            {
                let epilogue = Epilogue {
                    bias: Some(bias.clone().into()),
                    residual: with_residual,
                    activation,
                };
                let r = if with_residual { &residual } else { &zeros };
                let mut descs = vec![TensorDesc::of_tensor(&x), TensorDesc::of_tensor(&w)];
                let mut inputs = vec![&x, &w];
                if with_residual {
                    descs.push(TensorDesc::of_tensor(r));
                    inputs.push(r);
                }
                let kernel = with_epilogue(op.as_ref(), &descs, epilogue).unwrap();
                let mut results = vec![kernel.run(&inputs).unwrap().remove(0)];
                // The 1x1 kernel with its epilogue in registers adds the residual in place: into the
                // residual's own memory when it holds it alone, else into a copy (the shared one unchanged).
                let pointwise_runs = !grouped
                    && filter[2..] == [1, 1]
                    && !runs_direct(data[2] * data[3], data[1], filter[0])
                    && pointwise::available();
                let in_registers = activation != Activation::Swish;
                let in_place = with_residual && pointwise_runs && in_registers;
                assert_eq!(
                    kernel.in_place_input(),
                    in_place.then_some(2),
                    "{data:?} {activation:?}"
                );
                if in_place {
                    let moved_away = Tensor::zeros(ElementType::F32, &[0]);
                    let own = Tensor::from_bytes(ElementType::F32, r.shape(), r.bytes()).unwrap();
                    let own_address = own.bytes().as_ptr();
                    let args = [&x, &w, &moved_away];
                    let built = kernel
                        .run_in_place(&args, 2, &mut [Some(own)])
                        .unwrap()
                        .remove(0);
                    assert_eq!(built.bytes().as_ptr(), own_address);
                    results.push(built);
                    let before = r.bytes().to_vec();
                    let shared = kernel
                        .run_in_place(&args, 2, &mut [Some(r.clone())])
                        .unwrap();
                    assert_eq!(r.bytes(), &before[..]);
                    results.extend(shared);
                }
                let (p, r) = (plain.typed::<f32>().unwrap(), r.typed::<f32>().unwrap());
                for got in &results {
                    let g = got.typed::<f32>().unwrap();
                    for (i, ((p, r), g)) in p.iter().zip(r).zip(g).enumerate() {
                        let want = act(p + bias[(i / spatial) % channels] + r);
                        assert!(
                            (want - g).abs() <= 1e-4 * (1.0 + want.abs()),
                            "{data:?} {activation:?} residual {with_residual} at {i}: {g} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Geometries that run the direct AVX-512 convolution with a constant filter (where the CPU has AVX-512;
    /// elsewhere they check the im2col path): partial panel pairs and every tile width, strides 2 along the
    /// width, dilation, asymmetric padding, 1-D and 3-D, groups and batches, lines shorter than a tile.
    #[test]
    fn direct_convolution_matches_reference() {
        let mut rng = Lcg(5);
        let cases = [
            case(
                &[1, 5, 14, 31],
                &[40, 5, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 5, 33, 65],
                &[17, 5, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[0, 1],
                &[1, 0],
            ),
            case(
                &[1, 6, 20, 30],
                &[16, 6, 3, 3],
                false,
                &[1, 1],
                &[2, 2],
                &[2, 2],
                &[2, 2],
            ),
            case(
                &[1, 5, 29, 40],
                &[8, 5, 7, 7],
                false,
                &[2, 2],
                &[1, 1],
                &[3, 3],
                &[2, 2],
            ),
            case(&[1, 6, 50], &[33, 6, 5], false, &[2], &[1], &[2], &[2]),
            case(
                &[1, 2, 5, 8, 20],
                &[16, 2, 3, 3, 3],
                false,
                &[1, 1, 1],
                &[1, 1, 1],
                &[1, 1, 1],
                &[1, 1, 1],
            ),
            case(
                &[2, 12, 12, 24],
                &[2, 20, 6, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            // Lines shorter than a tile (ResNet-50's 7x7, stride 1 and 2): one tile per line.
            case(
                &[1, 12, 14, 14],
                &[40, 12, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 7, 10, 9],
                &[24, 7, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[1, 0],
                &[1, 0],
            ),
            case(
                &[1, 24, 7, 7],
                &[36, 24, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 5, 9, 11],
                &[20, 5, 3, 2],
                false,
                &[1, 1],
                &[1, 2],
                &[0, 1],
                &[2, 0],
            ),
            case(
                &[1, 8, 9, 9],
                &[16, 8, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            // Lines shorter than a tile can keep busy: tiles wrap across them.
            case(
                &[1, 6, 6, 5],
                &[20, 6, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            // 1x1 filters on few positions (tiles wrap across the unpadded lines): stride 1, groups and batches.
            case(
                &[1, 40, 7, 7],
                &[50, 40, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[2, 8, 5, 6],
                &[2, 12, 4, 1, 1],
                true,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            for c in &cases {
                let axes = trivial_axes_first(lift3(&geometry_of(c).axes).unwrap());
                assert_eq!(
                    direct_conv::suits(&axes),
                    direct_conv::available(),
                    "{:?}",
                    c.data
                );
                let path = if direct_conv::available() {
                    "direct"
                } else {
                    "none"
                };
                assert_eq!(packed_path(c), path, "{:?}", c.data);
                check(c, &mut rng);
            }
        });
    }

    /// Runs `check(threads)` inside a pool of one thread, then of two.
    fn on_one_and_two_threads(mut check: impl FnMut(usize) + Send) {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| check(threads));
        }
    }

    /// Inputs whose padded planes outgrow L2: the direct convolution pads them band by band, on one thread
    /// (bands as large as their budget allows) and on two (more, smaller bands), the last band shorter.
    #[test]
    fn banded_direct_convolution_matches_reference() {
        if !direct_conv::available() {
            return;
        }
        let mut rng = Lcg(9);
        let cases = [
            // YOLO's 3x3/2 layers: strided, padded on both sides.
            case(
                &[1, 16, 130, 128],
                &[24, 16, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            // Few channels (more than `pointwise::shallow` takes), padding at the start only.
            case(
                &[1, 5, 301, 300],
                &[16, 5, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[1, 1],
                &[0, 0],
            ),
            // Stride 1, dilated rows, uneven padding.
            case(
                &[1, 9, 150, 200],
                &[20, 9, 3, 3],
                false,
                &[1, 1],
                &[2, 1],
                &[2, 0],
                &[1, 2],
            ),
        ];
        on_one_and_two_threads(|threads| {
            for c in &cases {
                let axes = trivial_axes_first(lift3(&geometry_of(c).axes).unwrap());
                assert!(direct_conv::suits(&axes), "{:?}", c.data);
                assert_eq!(packed_path(c), "direct", "{:?}", c.data);
                assert!(
                    direct_conv::runs_in_bands(&axes, c.data[1], threads),
                    "{:?}",
                    c.data
                );
                check(c, &mut rng);
            }
        });
    }

    /// Few input channels under wider filters (`pointwise::shallow`): stems 3x3/2 (rows split into phases by
    /// 32-value chunks, then the rest, after odd and even padding) and 7x7/2, stride 1 with
    /// dilated rows and uneven padding, a one-row filter with a stride of 3, groups of two channels; partial
    /// tiles of output channels and partial vectors of positions; one thread and two (bands of rows).
    #[test]
    fn shallow_convolution_matches_reference() {
        let mut rng = Lcg(13);
        let cases = [
            case(
                &[1, 3, 45, 50],
                &[20, 3, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[1, 3, 30, 70],
                &[8, 3, 3, 3],
                false,
                &[2, 2],
                &[1, 1],
                &[0, 2],
                &[1, 1],
            ),
            case(
                &[1, 3, 40, 37],
                &[24, 3, 7, 7],
                false,
                &[2, 2],
                &[1, 1],
                &[3, 3],
                &[3, 3],
            ),
            case(
                &[2, 2, 20, 40],
                &[13, 2, 3, 3],
                false,
                &[1, 1],
                &[2, 1],
                &[2, 1],
                &[0, 2],
            ),
            case(
                &[1, 4, 9, 70],
                &[9, 4, 1, 5],
                false,
                &[1, 3],
                &[1, 1],
                &[0, 2],
                &[0, 1],
            ),
            case(
                &[1, 4, 20, 33],
                &[2, 6, 2, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
        ];
        on_one_and_two_threads(|_| {
            for c in &cases {
                let axes = trivial_axes_first(lift3(&geometry_of(c).axes).unwrap());
                let channels = geometry_of(c).in_per_group;
                let want = pointwise::available();
                assert_eq!(
                    pointwise::shallow::suits(&axes, channels),
                    want,
                    "{:?}",
                    c.data
                );
                if want {
                    assert_eq!(packed_path(c), "pointwise", "{:?}", c.data);
                }
                check(c, &mut rng);
            }
        });
    }

    /// The path a case's constant filter is packed for: "direct", "pointwise" or "none".
    fn packed_path(c: &Case) -> &'static str {
        let kind = ConvKind {
            grouped: c.grouped,
            backprop: false,
        };
        let w = Lcg(2).tensor(&c.filter);
        let data = TensorDesc::new(
            ElementType::F32,
            crate::ir::PartialShape::from_static(&c.data),
        );
        match pack_filters(&w, &attrs_of(c), kind, Some(&data)) {
            Some(PackedFilter::Direct(_)) => "direct",
            Some(PackedFilter::Pointwise(_)) => "pointwise",
            Some(PackedFilter::Winograd(_)) => "winograd",
            None => "none",
        }
    }

    /// 1x1 filters where the CPU has AVX-512: [`pointwise`] unless [`runs_direct`] (partial tiles of output channels and blocks of positions, several K blocks, strides that
    /// subsample the input in 1-D, 2-D and 3-D, dilation, groups, batches, one input channel), the direct
    /// convolution on its subsampled input below; elsewhere they check the GEMM paths.
    #[test]
    fn pointwise_convolution_matches_reference() {
        let mut rng = Lcg(7);
        let pointwise = [
            case(
                &[1, 40, 10, 10],
                &[50, 40, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 330, 15, 15],
                &[13, 330, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[2, 24, 28, 27],
                &[30, 24, 1, 1],
                false,
                &[2, 2],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            // Stride 2 along rows longer than two vectors (the AVX-512 subsampling), in 2-D and 1-D.
            case(
                &[1, 24, 6, 70],
                &[30, 24, 1, 1],
                false,
                &[2, 2],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(&[1, 8, 299], &[12, 8, 1], false, &[2], &[1], &[0], &[0]),
            case(
                &[2, 8, 12, 12],
                &[2, 12, 4, 1, 1],
                true,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 6, 5, 9, 10],
                &[7, 6, 1, 1, 1],
                false,
                &[1, 2, 2],
                &[1, 1, 1],
                &[0; 3],
                &[0; 3],
            ),
            case(&[1, 16, 300], &[24, 16, 1], false, &[3], &[1], &[0], &[0]),
            case(
                &[1, 8, 9, 9],
                &[8, 8, 1, 1],
                false,
                &[1, 1],
                &[2, 2],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 1, 12, 12],
                &[5, 1, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            // Shallow inputs on many positions: each item's blocks run as panels (one panel, then two), the
            // partial last block in the last panel.
            case(
                &[1, 8, 40, 41],
                &[20, 8, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 48, 40, 41],
                &[30, 48, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            // More output channels than positions: threads split the filter's tiles.
            case(
                &[1, 16, 9, 9],
                &[100, 16, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
        ];
        let direct = [
            // More input than output channels on at most 14x14 positions.
            case(
                &[1, 330, 9, 13],
                &[13, 330, 1, 1],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[1, 40, 14, 14],
                &[32, 40, 1, 1],
                false,
                &[2, 2],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
            case(
                &[2, 10, 16, 15],
                &[2, 8, 5, 1, 1],
                true,
                &[3, 2],
                &[1, 1],
                &[0, 0],
                &[0, 0],
            ),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            for (cases, path) in [(&pointwise[..], "pointwise"), (&direct[..], "direct")] {
                for c in cases {
                    let want = if pointwise::available() { path } else { "none" };
                    assert_eq!(packed_path(c), want, "{:?}", c.data);
                    check(c, &mut rng);
                }
            }
        });
    }

    /// Which 1x1 and kxk filters are packed at compile time, and for which path.
    #[test]
    fn filters_are_packed_for_the_path_that_runs_them() {
        let kind = ConvKind {
            grouped: false,
            backprop: false,
        };
        let w = Lcg(2).tensor(&[32, 16, 1, 1]);
        let data = |h: usize| {
            TensorDesc::new(
                ElementType::F32,
                crate::ir::PartialShape::from_static(&[1, 16, h, h]),
            )
        };
        let attrs = ConvAttrs {
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            pads_end: vec![0, 0],
            ..ConvAttrs::default()
        };
        let path = |w: &Tensor, attrs: &ConvAttrs, d: Option<&TensorDesc>| match pack_filters(
            w, attrs, kind, d,
        ) {
            Some(PackedFilter::Direct(_)) => "direct",
            Some(PackedFilter::Pointwise(_)) => "pointwise",
            Some(PackedFilter::Winograd(_)) => "winograd",
            None => "none",
        };
        let (direct, pointwise) = if direct_conv::available() {
            ("direct", "pointwise")
        } else {
            ("none", "none")
        };
        // 1x1: direct on at most 64 positions, pointwise above and when the shape is unknown or dynamic.
        assert_eq!(path(&w, &attrs, Some(&data(8))), direct);
        assert_eq!(path(&w, &attrs, Some(&data(9))), pointwise);
        assert_eq!(path(&w, &attrs, None), pointwise);
        let dynamic = TensorDesc::new(
            ElementType::F32,
            crate::ir::PartialShape::dynamic_of_rank(4),
        );
        assert_eq!(path(&w, &attrs, Some(&dynamic)), pointwise);
        // A padded 1x1 filter runs the im2col path.
        let padded = ConvAttrs {
            pads_begin: vec![1, 1],
            ..attrs.clone()
        };
        assert_eq!(path(&w, &padded, Some(&data(20))), "none");
        // kxk filters: packed whatever the positions, and when the input's shape is unknown (3x3 filters of
        // stride 1 on enough tiles and channels take Winograd, below).
        let w5 = Lcg(2).tensor(&[32, 16, 5, 5]);
        assert_eq!(path(&w5, &attrs, Some(&data(40))), direct);
        let w3 = Lcg(2).tensor(&[32, 16, 3, 3]);
        assert_eq!(path(&w3, &attrs, None), direct);
        // 3x3 of stride 1 with 16 or 32 channels in and 32 out: Winograd on 36 tiles of 4x4 or of 2x2 outputs
        // or more (38x38 outputs: 100 of 4x4; 24x24: 36 of 4x4; 18x18: 81 of 2x2; 12x12: 36 of 2x2), direct on
        // fewer (10x10: 25 of 2x2), and when the shape is unknown.
        let w32 = Lcg(2).tensor(&[32, 32, 3, 3]);
        let data32 = |h: usize| {
            TensorDesc::new(
                ElementType::F32,
                crate::ir::PartialShape::from_static(&[1, 32, h, h]),
            )
        };
        let winograd = if winograd::available() {
            "winograd"
        } else {
            direct
        };
        assert_eq!(path(&w3, &attrs, Some(&data(40))), winograd);
        assert_eq!(path(&w32, &attrs, Some(&data32(26))), winograd);
        assert_eq!(path(&w32, &attrs, Some(&data32(20))), winograd);
        assert_eq!(path(&w32, &attrs, Some(&data32(14))), winograd);
        assert_eq!(path(&w32, &attrs, Some(&data32(12))), direct);
        assert_eq!(path(&w32, &attrs, None), direct);
    }

    /// Geometries that run [`winograd`] with a constant filter (where the CPU has AVX-512; elsewhere the
    /// im2col path): 4x4 tiles (24x24 outputs) and 2x2 ones, sides off the tile size, asymmetric padding,
    /// batches, groups.
    #[test]
    fn winograd_convolution_matches_reference() {
        let mut rng = Lcg(13);
        let cases = [
            case(
                &[1, 32, 24, 26],
                &[40, 32, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 0],
                &[1, 0],
            ),
            case(
                &[1, 32, 16, 16],
                &[32, 32, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            case(
                &[2, 48, 20, 17],
                &[40, 48, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[0, 1],
                &[1, 0],
            ),
            case(
                &[1, 64, 16, 20],
                &[2, 32, 32, 3, 3],
                true,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
        ];
        let path = if winograd::available() {
            "winograd"
        } else {
            "none"
        };
        on_one_and_two_threads(|_| {
            for c in &cases {
                assert_eq!(packed_path(c), path, "{:?}", c.data);
                check(c, &mut rng);
            }
        });
    }

    #[test]
    fn large_single_job_uses_parallel_gemm() {
        let mut rng = Lcg(3);
        check(
            &case(
                &[1, 16, 20, 20],
                &[24, 16, 3, 3],
                false,
                &[1, 1],
                &[1, 1],
                &[1, 1],
                &[1, 1],
            ),
            &mut rng,
        );
    }

    #[test]
    fn selection_and_errors() {
        let op = Convolution::default();
        let f32d = |s: &[usize]| {
            TensorDesc::new(ElementType::F32, crate::ir::PartialShape::from_static(s))
        };
        let f16d = TensorDesc::new(
            ElementType::F16,
            crate::ir::PartialShape::from_static(&[1, 1, 3]),
        );
        assert!(select(&op, &[f32d(&[1, 1, 3]), f32d(&[1, 1, 1])]).is_some());
        assert!(select(&op, &[f16d.clone(), f16d]).is_none());
        assert!(
            select(
                &crate::ops::conv::ConvolutionBackpropData::default(),
                &[f32d(&[1, 1, 3]), f32d(&[1, 1, 1])]
            )
            .is_none()
        );
        let k = super::super::select(&op, &[f32d(&[1, 1, 3]), f32d(&[1, 1, 1])]);
        assert_eq!(k.name(), "conv_f32");
        let x = Tensor::zeros(ElementType::F32, &[1, 2, 3]);
        let w = Tensor::zeros(ElementType::F32, &[1, 1, 1]);
        assert!(k.run(&[&x, &w]).is_err());
        assert!(k.run(&[&x]).is_err());
    }
}
