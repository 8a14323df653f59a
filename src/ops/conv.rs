//! Convolution ops (opset1): Convolution, GroupConvolution, ConvolutionBackpropData and
//! GroupConvolutionBackpropData, plus the sliding-window geometry (auto_pad, rounding, dilation) that the pooling
//! ops share.
//!
//! Filters of every variant are read as one grouped layout: `[G, A, B, k...]` where a plain convolution has
//! `G = 1`; for the forward ops `A` is the output and `B` the input channels per group, for the backprop
//! (transposed) ops the other way round.

use super::registry::Registry;
use super::util::{check_input_count, ints_of, merge_types};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements, strides};
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Tensor};

/// Registers the ops of this family.
pub fn register(r: &mut Registry) {
    r.add("Convolution", 1, || Box::new(Convolution::default()));
    r.add("GroupConvolution", 1, || {
        Box::new(GroupConvolution::default())
    });
    r.add("ConvolutionBackpropData", 1, || {
        Box::new(ConvolutionBackpropData::default())
    });
    r.add("GroupConvolutionBackpropData", 1, || {
        Box::new(GroupConvolutionBackpropData::default())
    });
}

crate::attr_enum!(
    /// How a sliding-window op pads its input.
    #[derive(Default)]
    AutoPad {
        /// Use `pads_begin` / `pads_end`.
        #[default]
        Explicit => "explicit",
        /// Same as explicit.
        NotSet => "notset",
        /// No padding.
        Valid => "valid",
        /// Pad so that `output = ceil(input / stride)`, the odd element at the end.
        SameUpper => "same_upper",
        /// Pad so that `output = ceil(input / stride)`, the odd element at the beginning.
        SameLower => "same_lower",
    }
);

impl AutoPad {
    /// True for `same_upper` and `same_lower`.
    pub fn is_same(self) -> bool {
        matches!(self, AutoPad::SameUpper | AutoPad::SameLower)
    }
}

crate::attr_enum!(
    /// How a pooling op rounds its output length.
    #[derive(Default)]
    RoundingType {
        /// Round down.
        #[default]
        Floor => "floor",
        /// Round up.
        Ceil => "ceil",
        /// Round up, but drop a last window that would start in the end padding (PyTorch; opset14).
        CeilTorch => "ceil_torch",
    }
);

/// The attributes of one spatial axis of a sliding window, before the input length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAxis {
    /// Kernel length (undilated).
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Step between kernel taps.
    pub dilation: usize,
    /// Explicit padding at the start.
    pub pad_begin: usize,
    /// Explicit padding at the end.
    pub pad_end: usize,
}

/// One spatial axis with every length resolved: the input and output lengths and the padding applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axis {
    /// Input length.
    pub input: usize,
    /// Output length.
    pub output: usize,
    /// Kernel length (undilated).
    pub kernel: usize,
    /// Step between windows (forward) or between scattered inputs (backprop).
    pub stride: usize,
    /// Step between kernel taps.
    pub dilation: usize,
    /// Padding applied at the start.
    pub pad_begin: usize,
    /// Padding applied at the end.
    pub pad_end: usize,
}

impl Axis {
    /// The input position read by output `o` at kernel tap `k`, or `None` when it falls in the padding.
    pub fn source(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.pad_begin)
            .filter(|&i| i < self.input)
    }

    /// True when output `o` at tap `k` lies inside the padded input `[-pad_begin, input + pad_end)`.
    pub fn in_padded(&self, o: usize, k: usize) -> bool {
        o * self.stride + k * self.dilation < self.pad_begin + self.input + self.pad_end
    }

    /// An axis of length one that changes nothing (used to lift 1-D and 2-D problems to 3-D).
    pub fn unit() -> Axis {
        Axis {
            input: 1,
            output: 1,
            kernel: 1,
            stride: 1,
            dilation: 1,
            pad_begin: 0,
            pad_end: 0,
        }
    }
}

/// The attributes and kind of a forward convolution op (Convolution or GroupConvolution), else None.
pub fn forward_conv_attrs(op: &dyn Op) -> Option<(&ConvAttrs, ConvKind)> {
    let any = op.as_any();
    if let Some(c) = any.downcast_ref::<Convolution>() {
        Some((&c.attrs, Convolution::KIND))
    } else {
        any.downcast_ref::<GroupConvolution>()
            .map(|g| (&g.attrs, GroupConvolution::KIND))
    }
}

/// Lifts 1-D and 2-D axes to three by prepending axes of length one.
pub fn lift3(axes: &[Axis]) -> Result<[Axis; 3]> {
    let mut a = [Axis::unit(); 3];
    let off = 3usize.checked_sub(axes.len()).ok_or_else(|| {
        Error::Unsupported(format!(
            "{} spatial axes (at most 3 are supported)",
            axes.len()
        ))
    })?;
    a[off..].copy_from_slice(axes);
    Ok(a)
}

impl WindowAxis {
    /// The span of the dilated kernel.
    pub fn extent(&self) -> usize {
        self.kernel.saturating_sub(1) * self.dilation + 1
    }

    /// The padding applied to an input of length `input`.
    pub fn pads(&self, input: usize, auto_pad: AutoPad) -> (usize, usize) {
        match auto_pad {
            AutoPad::Explicit | AutoPad::NotSet => (self.pad_begin, self.pad_end),
            AutoPad::Valid => (0, 0),
            AutoPad::SameUpper | AutoPad::SameLower => {
                let out = input.div_ceil(self.stride);
                let total =
                    (out.saturating_sub(1) * self.stride + self.extent()).saturating_sub(input);
                let (small, big) = (total / 2, total - total / 2);
                if auto_pad == AutoPad::SameUpper {
                    (small, big)
                } else {
                    (big, small)
                }
            }
        }
    }

    /// The output length for an input of length `input`; errors when the window does not fit.
    pub fn output(&self, input: usize, auto_pad: AutoPad, rounding: RoundingType) -> Result<usize> {
        if auto_pad.is_same() {
            return Ok(input.div_ceil(self.stride));
        }
        let (pb, pe) = self.pads(input, auto_pad);
        let padded = input + pb + pe;
        let extent = self.extent();
        crate::ensure!(
            padded >= extent,
            Shape,
            "the window of extent {extent} (kernel {} dilated by {}) is larger than the padded input length {padded}",
            self.kernel,
            self.dilation
        );
        let span = padded - extent;
        let out = match rounding {
            RoundingType::Floor => span / self.stride + 1,
            RoundingType::Ceil | RoundingType::CeilTorch => span.div_ceil(self.stride) + 1,
        };
        let starts_in_end_pad = (out - 1) * self.stride >= input + pb;
        Ok(
            if rounding == RoundingType::CeilTorch && starts_in_end_pad {
                out - 1
            } else {
                out
            },
        )
    }

    /// Every length of this axis for an input of length `input`.
    pub fn resolve(&self, input: usize, auto_pad: AutoPad, rounding: RoundingType) -> Result<Axis> {
        let (pad_begin, pad_end) = self.pads(input, auto_pad);
        Ok(Axis {
            input,
            output: self.output(input, auto_pad, rounding)?,
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pad_begin,
            pad_end,
        })
    }

    /// The output dimension for a possibly dynamic input dimension (intervals map bound by bound; a lower bound
    /// too small for the window becomes 1, as in OpenVINO).
    pub fn output_dim(
        &self,
        input: &Dimension,
        auto_pad: AutoPad,
        rounding: RoundingType,
    ) -> Result<Dimension> {
        map_dim(input, 1, |n| self.output(n, auto_pad, rounding))
    }
}

/// Maps a dimension through a monotonic length function: static lengths exactly, intervals bound by bound with
/// a lower bound that fails replaced by `floor`.
pub fn map_dim(d: &Dimension, floor: u64, f: impl Fn(usize) -> Result<usize>) -> Result<Dimension> {
    if let Some(n) = d.get() {
        return Ok(Dimension::new(f(n as usize)? as u64));
    }
    let lo = f(d.min() as usize).map(|v| v as u64).unwrap_or(floor);
    let hi = d
        .max()
        .map(|m| f(m as usize))
        .transpose()?
        .map(|v| v as u64);
    Dimension::interval(lo.min(hi.unwrap_or(lo)), hi)
}

/// Reads a per-spatial-axis attribute: empty means `default` on every axis, otherwise one value `>= min` per axis.
pub fn spatial_attr(
    v: &[i64],
    spatial: usize,
    default: usize,
    min: i64,
    name: &str,
) -> Result<Vec<usize>> {
    if v.is_empty() {
        return Ok(vec![default; spatial]);
    }
    crate::ensure!(
        v.len() == spatial,
        Shape,
        "{name} has {} values {v:?}, expected one per spatial axis ({spatial})",
        v.len()
    );
    if let Some(bad) = v.iter().find(|&&x| x < min) {
        crate::bail!(Shape, "{name} {v:?} holds {bad}, expected values >= {min}");
    }
    Ok(v.iter().map(|&x| x as usize).collect())
}

/// Calls `f` with every multi-index of `shape` in row-major order (not at all when a length is zero).
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Errors unless an element type can be convolved or pooled (any byte-sized number; not boolean).
pub fn check_numeric(t: ElementType, what: &str) -> Result<()> {
    let ok = !t.is_static() || (t != ElementType::Boolean && !t.is_sub_byte() && t.size() > 0);
    crate::ensure!(
        ok,
        Shape,
        "{what} has element type {t}, expected a numeric type"
    );
    Ok(())
}

/// The attributes shared by the four convolution ops.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvAttrs {
    /// Window steps, one per spatial axis.
    pub strides: Vec<i64>,
    /// Kernel tap steps, one per spatial axis.
    pub dilations: Vec<i64>,
    /// Padding at the start of each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding at the end of each spatial axis.
    pub pads_end: Vec<i64>,
    /// How padding is chosen.
    pub auto_pad: AutoPad,
    /// Extra output length at the end of each spatial axis (backprop ops only).
    pub output_padding: Vec<i64>,
}

/// Which of the four convolution ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvKind {
    /// Filters carry a leading group dimension.
    pub grouped: bool,
    /// The transposed (backprop-data) convolution.
    pub backprop: bool,
}

/// A fully resolved convolution: sizes of every dimension and every spatial axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub batch: usize,
    /// Number of groups.
    pub groups: usize,
    /// Data (input) channels per group.
    pub in_per_group: usize,
    /// Result (output) channels per group.
    pub out_per_group: usize,
    /// The spatial axes.
    pub axes: Vec<Axis>,
}

impl ConvGeometry {
    /// The result shape `[N, G * out_per_group, out...]`.
    pub fn output_shape(&self) -> Vec<usize> {
        let mut s = vec![self.batch, self.groups * self.out_per_group];
        s.extend(self.axes.iter().map(|a| a.output));
        s
    }

    /// Input spatial lengths.
    pub fn input_spatial(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.input).collect()
    }

    /// Output spatial lengths.
    pub fn output_spatial(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.output).collect()
    }

    /// Kernel lengths.
    pub fn kernel(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.kernel).collect()
    }
}

impl ConvKind {
    fn name(self) -> &'static str {
        match (self.grouped, self.backprop) {
            (false, false) => "Convolution",
            (true, false) => "GroupConvolution",
            (false, true) => "ConvolutionBackpropData",
            (true, true) => "GroupConvolutionBackpropData",
        }
    }

    /// Filter dimensions before the spatial ones.
    fn filter_lead(self) -> usize {
        if self.grouped { 3 } else { 2 }
    }

    fn max_inputs(self) -> usize {
        if self.backprop { 3 } else { 2 }
    }

    /// (groups, data channels per group, result channels per group) from the filter's leading dims.
    fn channels<T: Copy>(self, lead: &[T], one: T) -> (T, T, T) {
        let (g, a, b) = if self.grouped {
            (lead[0], lead[1], lead[2])
        } else {
            (one, lead[0], lead[1])
        };
        if self.backprop { (g, a, b) } else { (g, b, a) }
    }
}

/// Number of spatial axes, from whichever of the inputs or attributes knows it.
fn spatial_count(kind: ConvKind, attrs: &ConvAttrs, inputs: &[TensorDesc]) -> Option<usize> {
    let from_output_shape = inputs
        .get(2)
        .and_then(|d| d.shape.dims().and_then(|s| s.first().and_then(|x| x.get())))
        .map(|n| n as usize);
    inputs[0]
        .rank()
        .map(|r| r.saturating_sub(2))
        .or_else(|| {
            inputs[1]
                .rank()
                .map(|r| r.saturating_sub(kind.filter_lead()))
        })
        .or(from_output_shape)
        .or_else(|| (!attrs.strides.is_empty()).then_some(attrs.strides.len()))
}

/// Errors unless the data and filter ranks fit `spatial` spatial axes (1 to 3).
fn check_ranks(
    kind: ConvKind,
    spatial: usize,
    data: Option<usize>,
    filter: Option<usize>,
) -> Result<()> {
    crate::ensure!(
        (1..=3).contains(&spatial),
        Shape,
        "{}: data must have rank 3 to 5 (1 to 3 spatial axes), got {spatial} spatial axes",
        kind.name()
    );
    if let Some(r) = data {
        crate::ensure!(
            r == spatial + 2,
            Shape,
            "data has rank {r}, expected {}",
            spatial + 2
        );
    }
    let want = spatial + kind.filter_lead();
    if let Some(r) = filter {
        crate::ensure!(
            r == want,
            Shape,
            "filters have rank {r}, expected {want} for {spatial} spatial axes"
        );
    }
    Ok(())
}

/// Per-axis window attributes for given kernel lengths.
fn window_axes(attrs: &ConvAttrs, kernel: &[usize]) -> Result<Vec<WindowAxis>> {
    window_geometry(
        kernel,
        &attrs.strides,
        &attrs.dilations,
        &attrs.pads_begin,
        &attrs.pads_end,
    )
}

/// Window attributes per spatial axis from the IR attribute lists (empty lists take the defaults: stride and
/// dilation 1, no padding); shared by convolutions and pooling.
pub fn window_geometry(
    kernel: &[usize],
    strides: &[i64],
    dilations: &[i64],
    pads_begin: &[i64],
    pads_end: &[i64],
) -> Result<Vec<WindowAxis>> {
    let n = kernel.len();
    let strides = spatial_attr(strides, n, 1, 1, "strides")?;
    let dilations = spatial_attr(dilations, n, 1, 1, "dilations")?;
    let pb = spatial_attr(pads_begin, n, 0, 0, "pads_begin")?;
    let pe = spatial_attr(pads_end, n, 0, 0, "pads_end")?;
    Ok((0..n)
        .map(|i| WindowAxis {
            kernel: kernel[i],
            stride: strides[i],
            dilation: dilations[i],
            pad_begin: pb[i],
            pad_end: pe[i],
        })
        .collect())
}

/// The output length of a transposed convolution axis with the given pads.
fn backprop_length(
    w: &WindowAxis,
    input: usize,
    pads: (usize, usize),
    output_padding: usize,
) -> Result<usize> {
    let full = (w.stride * input.saturating_sub(1) + w.extent() + output_padding) as i64;
    let len = full - (pads.0 + pads.1) as i64;
    crate::ensure!(
        len >= 0,
        Shape,
        "padding {pads:?} exceeds the transposed-convolution output length {full}"
    );
    Ok(len as usize)
}

/// Pads of a transposed convolution axis: explicit, none (valid, or same without output_shape), or chosen so
/// that the result has length `target` (same with output_shape; the odd element goes first for same_upper).
fn backprop_pads(
    w: &WindowAxis,
    auto_pad: AutoPad,
    input: usize,
    op: usize,
    target: Option<usize>,
) -> (usize, usize) {
    match (auto_pad, target) {
        (AutoPad::Explicit | AutoPad::NotSet, _) => (w.pad_begin, w.pad_end),
        (AutoPad::SameUpper | AutoPad::SameLower, Some(t)) => {
            let full = w.stride * input.saturating_sub(1) + w.extent() + op;
            let total = full.saturating_sub(t);
            let (small, big) = (total / 2, total - total / 2);
            if auto_pad == AutoPad::SameUpper {
                (big, small)
            } else {
                (small, big)
            }
        }
        _ => (0, 0),
    }
}

impl ConvAttrs {
    /// Resolves the geometry of a convolution of `kind` for static shapes (`output_shape` only for backprop).
    pub fn geometry(
        &self,
        kind: ConvKind,
        data: &[usize],
        filter: &[usize],
        output_shape: Option<&[i64]>,
    ) -> Result<ConvGeometry> {
        let spatial = data.len().saturating_sub(2);
        check_ranks(kind, spatial, Some(data.len()), Some(filter.len()))?;
        let lead = kind.filter_lead();
        let (groups, in_per_group, out_per_group) = kind.channels(&filter[..lead], 1);
        crate::ensure!(
            data[1] == groups * in_per_group,
            Shape,
            "data has {} channels but filters of shape {} expect {groups} x {in_per_group}",
            data[1],
            fmt_shape(filter)
        );
        let windows = window_axes(self, &filter[lead..])?;
        let axes = if kind.backprop {
            self.backprop_axes(&windows, &data[2..], output_shape)?
        } else {
            (0..spatial)
                .map(|i| windows[i].resolve(data[2 + i], self.auto_pad, RoundingType::Floor))
                .collect::<Result<Vec<_>>>()?
        };
        Ok(ConvGeometry {
            batch: data[0],
            groups,
            in_per_group,
            out_per_group,
            axes,
        })
    }

    fn output_padding(&self, spatial: usize) -> Result<Vec<usize>> {
        spatial_attr(&self.output_padding, spatial, 0, 0, "output_padding")
    }

    fn backprop_axes(
        &self,
        windows: &[WindowAxis],
        input: &[usize],
        target: Option<&[i64]>,
    ) -> Result<Vec<Axis>> {
        let op = self.output_padding(input.len())?;
        if let Some(t) = target {
            crate::ensure!(
                t.len() == input.len() && t.iter().all(|&x| x >= 0),
                Shape,
                "output_shape {t:?} must hold one non-negative length per spatial axis ({})",
                input.len()
            );
        }
        (0..input.len())
            .map(|i| {
                let w = &windows[i];
                let want = target.map(|t| t[i] as usize);
                let (pad_begin, pad_end) = backprop_pads(w, self.auto_pad, input[i], op[i], want);
                let output = match want {
                    Some(t) => t,
                    None => backprop_length(w, input[i], (pad_begin, pad_end), op[i])?,
                };
                let (kernel, stride, dilation) = (w.kernel, w.stride, w.dilation);
                Ok(Axis {
                    input: input[i],
                    output,
                    kernel,
                    stride,
                    dilation,
                    pad_begin,
                    pad_end,
                })
            })
            .collect()
    }

    /// Output element type and partial shape of a convolution of `kind`.
    fn infer(&self, kind: ConvKind, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, kind.max_inputs())?;
        let et = merge_types(
            inputs[0].element_type,
            inputs[1].element_type,
            "data and filters",
        )?;
        check_numeric(et, "data")?;
        let Some(spatial) = spatial_count(kind, self, inputs) else {
            return Ok(vec![TensorDesc::new(et, PartialShape::dynamic_rank())]);
        };
        check_ranks(kind, spatial, inputs[0].rank(), inputs[1].rank())?;
        let data = dims_or_dynamic(&inputs[0].shape, spatial + 2);
        let filter = dims_or_dynamic(&inputs[1].shape, spatial + kind.filter_lead());
        let lead = kind.filter_lead();
        let one = Dimension::new(1);
        let (groups, in_pg, out_pg) = kind.channels(&filter[..lead], one);
        let want_c = groups.mul(&in_pg);
        crate::ensure!(
            data[1].compatible(&want_c),
            Shape,
            "data has {} channels but filters of shape {} expect {want_c}",
            data[1],
            inputs[1].shape
        );
        let mut out = vec![data[0], groups.mul(&out_pg)];
        let spatial_out = if kind.backprop {
            self.infer_backprop_spatial(&data[2..], &filter[lead..], inputs.get(2))?
        } else {
            self.infer_forward_spatial(&data[2..], &filter[lead..])?
        };
        out.extend(spatial_out);
        Ok(vec![TensorDesc::new(et, PartialShape::new(out))])
    }

    /// Windows for kernel dims that may be dynamic (unknown taps read as 1; callers ignore those axes).
    fn partial_windows(&self, kernel: &[Dimension]) -> Result<Vec<WindowAxis>> {
        let k: Vec<usize> = kernel
            .iter()
            .map(|d| d.get().unwrap_or(1) as usize)
            .collect();
        window_axes(self, &k)
    }

    fn infer_forward_spatial(
        &self,
        data: &[Dimension],
        kernel: &[Dimension],
    ) -> Result<Vec<Dimension>> {
        let windows = self.partial_windows(kernel)?;
        (0..data.len())
            .map(|i| {
                if kernel[i].is_dynamic() && !self.auto_pad.is_same() {
                    return Ok(Dimension::DYNAMIC);
                }
                windows[i].output_dim(&data[i], self.auto_pad, RoundingType::Floor)
            })
            .collect()
    }

    fn infer_backprop_spatial(
        &self,
        data: &[Dimension],
        kernel: &[Dimension],
        output_shape: Option<&TensorDesc>,
    ) -> Result<Vec<Dimension>> {
        let n = data.len();
        if let Some(d) = output_shape {
            if let Some(r) = d.rank() {
                crate::ensure!(
                    r == 1,
                    Shape,
                    "output_shape must be 1-D, got shape {}",
                    d.shape
                );
            }
            let Some(v) = &d.value else {
                return Ok(vec![Dimension::DYNAMIC; n]);
            };
            let t = ints_of(v, "output_shape")?;
            crate::ensure!(
                t.len() == n,
                Shape,
                "output_shape {t:?} must hold {n} values, one per spatial axis"
            );
            return t.iter().map(|&x| Dimension::from_i64(x)).collect();
        }
        let windows = self.partial_windows(kernel)?;
        let op = self.output_padding(n)?;
        (0..n)
            .map(|i| {
                if kernel[i].is_dynamic() {
                    return Ok(Dimension::DYNAMIC);
                }
                let w = &windows[i];
                let pads = backprop_pads(w, self.auto_pad, 0, op[i], None);
                map_dim(&data[i], 0, |len| backprop_length(w, len, pads, op[i]))
            })
            .collect()
    }

    /// The reference evaluation of a convolution of `kind`.
    fn evaluate(&self, kind: ConvKind, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, kind.max_inputs())?;
        let (x, w) = (inputs[0], inputs[1]);
        let et = merge_types(x.element_type(), w.element_type(), "data and filters")?;
        check_numeric(et, "data")?;
        let target = inputs
            .get(2)
            .map(|t| ints_of(t, "output_shape"))
            .transpose()?;
        let g = self.geometry(kind, x.shape(), w.shape(), target.as_deref())?;
        let (xv, wv) = (x.to_f64_vec(), w.to_f64_vec());
        let out = if kind.backprop {
            backprop_reference(&xv, &wv, &g)
        } else {
            conv_reference(&xv, &wv, &g)
        };
        Ok(vec![Tensor::from_f64s(et, &g.output_shape(), &out)?])
    }
}

fn dims_or_dynamic(s: &PartialShape, rank: usize) -> Vec<Dimension> {
    s.dims()
        .map(<[Dimension]>::to_vec)
        .unwrap_or_else(|| vec![Dimension::DYNAMIC; rank])
}

/// Flat offset of a spatial position given per-axis positions and row-major strides.
fn flat(pos: &[usize], strides: &[usize]) -> usize {
    pos.iter().zip(strides).map(|(p, s)| p * s).sum()
}

/// Plain forward (group) convolution in f64; the filter is `[G, out_per_group, in_per_group, k...]`.
fn conv_reference(x: &[f64], w: &[f64], g: &ConvGeometry) -> Vec<f64> {
    let (ins, outs, ks) = (g.input_spatial(), g.output_spatial(), g.kernel());
    let (in_str, out_str, k_str) = (strides(&ins), strides(&outs), strides(&ks));
    let (isz, osz, ksz) = (num_elements(&ins), num_elements(&outs), num_elements(&ks));
    let mut out = vec![0.0; num_elements(&g.output_shape())];
    let mut pos = vec![0usize; ins.len()];
    for n in 0..g.batch {
        for gr in 0..g.groups {
            for oc in 0..g.out_per_group {
                let co = gr * g.out_per_group + oc;
                for_each_index(&outs, |o| {
                    let mut acc = 0.0;
                    for ic in 0..g.in_per_group {
                        let ci = gr * g.in_per_group + ic;
                        let x_base = (n * g.groups * g.in_per_group + ci) * isz;
                        let w_base = (co * g.in_per_group + ic) * ksz;
                        for_each_index(&ks, |k| {
                            let inside = (0..o.len()).all(|d| match g.axes[d].source(o[d], k[d]) {
                                Some(p) => {
                                    pos[d] = p;
                                    true
                                }
                                None => false,
                            });
                            if inside {
                                acc +=
                                    x[x_base + flat(&pos, &in_str)] * w[w_base + flat(k, &k_str)];
                            }
                        });
                    }
                    let out_base = (n * g.groups * g.out_per_group + co) * osz;
                    out[out_base + flat(o, &out_str)] = acc;
                });
            }
        }
    }
    out
}

/// Plain transposed (group) convolution in f64: every input scatters into the outputs its taps reach; the filter
/// is `[G, in_per_group, out_per_group, k...]`.
fn backprop_reference(x: &[f64], w: &[f64], g: &ConvGeometry) -> Vec<f64> {
    let (ins, outs, ks) = (g.input_spatial(), g.output_spatial(), g.kernel());
    let (in_str, out_str, k_str) = (strides(&ins), strides(&outs), strides(&ks));
    let (isz, osz, ksz) = (num_elements(&ins), num_elements(&outs), num_elements(&ks));
    let mut out = vec![0.0; num_elements(&g.output_shape())];
    let mut pos = vec![0usize; ins.len()];
    for n in 0..g.batch {
        for gr in 0..g.groups {
            for ic in 0..g.in_per_group {
                let ci = gr * g.in_per_group + ic;
                let x_base = (n * g.groups * g.in_per_group + ci) * isz;
                for_each_index(&ins, |i| {
                    let xv = x[x_base + flat(i, &in_str)];
                    for oc in 0..g.out_per_group {
                        let co = gr * g.out_per_group + oc;
                        let w_base = (ci * g.out_per_group + oc) * ksz;
                        let out_base = (n * g.groups * g.out_per_group + co) * osz;
                        for_each_index(&ks, |k| {
                            let inside = (0..i.len()).all(|d| {
                                let a = &g.axes[d];
                                let p =
                                    (i[d] * a.stride + k[d] * a.dilation).checked_sub(a.pad_begin);
                                pos[d] = p.unwrap_or(usize::MAX);
                                pos[d] < a.output
                            });
                            if inside {
                                out[out_base + flat(&pos, &out_str)] +=
                                    xv * w[w_base + flat(k, &k_str)];
                            }
                        });
                    }
                });
            }
        }
    }
    out
}

/// Declares one convolution op struct with its attribute visiting order (as OpenVINO writes it).
macro_rules! conv_op {
    ($(#[$m:meta])* $name:ident, $grouped:expr, $backprop:expr, [$($attr:literal => $field:ident),*]) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            /// The attributes.
            pub attrs: ConvAttrs,
        }

        impl $name {
            /// Which convolution this is.
            pub const KIND: ConvKind = ConvKind { grouped: $grouped, backprop: $backprop };
        }

        impl Op for $name {
            fn type_info(&self) -> TypeInfo {
                TypeInfo::new(Self::KIND.name(), "opset1")
            }
            fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
                $( v.on($attr, &mut self.attrs.$field)?; )*
                Ok(())
            }
            fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
                self.attrs.infer(Self::KIND, inputs)
            }
            fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
                self.attrs.evaluate(Self::KIND, inputs)
            }
        }
    };
}

conv_op!(
    /// Convolution-1: data `[N, C, spatial...]`, filters `[C_out, C, k...]`.
    Convolution, false, false,
    ["strides" => strides, "dilations" => dilations, "pads_begin" => pads_begin, "pads_end" => pads_end,
     "auto_pad" => auto_pad]
);

conv_op!(
    /// GroupConvolution-1: filters `[G, C_out / G, C / G, k...]`.
    GroupConvolution, true, false,
    ["strides" => strides, "pads_begin" => pads_begin, "pads_end" => pads_end, "dilations" => dilations,
     "auto_pad" => auto_pad]
);

conv_op!(
    /// ConvolutionBackpropData-1 (transposed convolution): filters `[C, C_out, k...]`, optional `output_shape`.
    ConvolutionBackpropData, false, true,
    ["strides" => strides, "dilations" => dilations, "pads_begin" => pads_begin, "pads_end" => pads_end,
     "auto_pad" => auto_pad, "output_padding" => output_padding]
);

conv_op!(
    /// GroupConvolutionBackpropData-1: filters `[G, C / G, C_out / G, k...]`, optional `output_shape`.
    GroupConvolutionBackpropData, true, true,
    ["strides" => strides, "pads_begin" => pads_begin, "pads_end" => pads_end, "dilations" => dilations,
     "auto_pad" => auto_pad, "output_padding" => output_padding]
);

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(et: ElementType, shape: &str) -> TensorDesc {
        TensorDesc::new(et, PartialShape::parse_ir(shape).unwrap())
    }

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    fn attrs(strides: &[i64], pb: &[i64], pe: &[i64], dil: &[i64], auto_pad: AutoPad) -> ConvAttrs {
        ConvAttrs {
            strides: strides.to_vec(),
            dilations: dil.to_vec(),
            pads_begin: pb.to_vec(),
            pads_end: pe.to_vec(),
            auto_pad,
            output_padding: vec![],
        }
    }

    fn out_shape(op: &dyn Op, inputs: &[TensorDesc]) -> String {
        op.infer(inputs).unwrap()[0].shape.to_string()
    }

    #[test]
    fn convolution_shapes() {
        let f32 = ElementType::F32;
        let filt = desc(f32, "2,1,3,3");
        let cases = [
            (AutoPad::SameUpper, "[1,2,5,?]"),
            (AutoPad::SameLower, "[1,2,5,?]"),
            (AutoPad::Valid, "[1,2,4,1..]"),
            (AutoPad::Explicit, "[1,2,5,1..]"),
        ];
        for (ap, want) in cases {
            let op = Convolution {
                attrs: attrs(&[2, 3], &[1, 1], &[1, 1], &[1, 1], ap),
            };
            assert_eq!(
                out_shape(&op, &[desc(f32, "1,1,10,?"), filt.clone()]),
                want,
                "{ap}"
            );
        }
        let op = Convolution {
            attrs: attrs(&[2, 1], &[0, 0], &[0, 0], &[1, 1], AutoPad::Explicit),
        };
        assert_eq!(
            out_shape(&op, &[desc(f32, "1,1,5..20,1..4"), filt.clone()]),
            "[1,2,2..9,1..2]"
        );
        assert_eq!(
            out_shape(&op, &[desc(f32, "..."), filt.clone()]),
            "[?,2,1..,1..]"
        );
        assert_eq!(
            out_shape(&op, &[desc(f32, "..."), desc(f32, "...")]),
            "[?,?,?,?]"
        );
        let no_attrs = Convolution::default();
        assert_eq!(
            out_shape(&no_attrs, &[desc(f32, "..."), desc(f32, "...")]),
            "[...]"
        );
        assert_eq!(
            out_shape(&op, &[desc(f32, "2,1,7,7"), desc(f32, "4,1,?,3")]),
            "[2,4,?,5]"
        );
        let same = Convolution {
            attrs: attrs(&[2, 1], &[], &[], &[], AutoPad::SameUpper),
        };
        assert_eq!(
            out_shape(&same, &[desc(f32, "1,1,5..20,1..4"), filt.clone()]),
            "[1,2,3..10,1..4]"
        );
        // Errors: channel mismatch, kernel larger than the input, rank, attribute lengths, element types.
        assert!(op.infer(&[desc(f32, "1,3,9,9"), filt.clone()]).is_err());
        assert!(op.infer(&[desc(f32, "1,1,2,2"), filt.clone()]).is_err());
        assert!(op.infer(&[desc(f32, "1,1,9"), filt.clone()]).is_err());
        assert!(
            op.infer(&[desc(ElementType::F16, "1,1,9,9"), filt.clone()])
                .is_err()
        );
        let bad = Convolution {
            attrs: attrs(&[1, 1, 1], &[0, 0], &[0, 0], &[1, 1], AutoPad::Explicit),
        };
        assert!(bad.infer(&[desc(f32, "1,1,9,9"), filt.clone()]).is_err());
        let zero = Convolution {
            attrs: attrs(&[0, 1], &[0, 0], &[0, 0], &[1, 1], AutoPad::Explicit),
        };
        assert!(zero.infer(&[desc(f32, "1,1,9,9"), filt]).is_err());
    }

    #[test]
    fn group_and_backprop_shapes() {
        let f32 = ElementType::F32;
        let g = GroupConvolution {
            attrs: attrs(&[1, 1], &[0, 0], &[0, 0], &[1, 1], AutoPad::Explicit),
        };
        assert_eq!(
            out_shape(&g, &[desc(f32, "1,4,9,9"), desc(f32, "2,4,2,3,3")]),
            "[1,8,7,7]"
        );
        assert_eq!(
            out_shape(&g, &[desc(f32, "?,?,9,9"), desc(f32, "?,4,2,3,3")]),
            "[?,?,7,7]"
        );
        assert!(
            g.infer(&[desc(f32, "1,6,9,9"), desc(f32, "2,4,2,3,3")])
                .is_err()
        );
        // Shapes checked against OpenVINO 2026.4 (data [1,2,5,6], filters [2,3,3,3], strides 2).
        let x = desc(f32, "1,2,5,6");
        let w = desc(f32, "2,3,3,3");
        let mut os = TensorDesc::of_tensor(&Tensor::from_slice(&[2], &[11i64, 12]).unwrap());
        for (ap, want) in [
            (AutoPad::SameUpper, "[1,3,12,13]"),
            (AutoPad::Valid, "[1,3,12,13]"),
            (AutoPad::Explicit, "[1,3,11,12]"),
        ] {
            let mut a = attrs(&[2, 2], &[1, 0], &[0, 1], &[1, 1], ap);
            a.output_padding = vec![1, 0];
            let op = ConvolutionBackpropData { attrs: a };
            assert_eq!(out_shape(&op, &[x.clone(), w.clone()]), want, "{ap}");
            assert_eq!(
                out_shape(&op, &[x.clone(), w.clone(), os.clone()]),
                "[1,3,11,12]",
                "{ap}"
            );
        }
        os.value = None;
        let op = ConvolutionBackpropData {
            attrs: attrs(&[2, 2], &[], &[], &[], AutoPad::Explicit),
        };
        assert_eq!(out_shape(&op, &[x.clone(), w.clone(), os]), "[1,3,?,?]");
        assert_eq!(
            out_shape(&op, &[desc(f32, "1,2,?,2..5"), w.clone()]),
            "[1,3,3..,5..11]"
        );
        let padded = ConvolutionBackpropData {
            attrs: attrs(&[2, 2], &[2, 2], &[2, 2], &[], AutoPad::Explicit),
        };
        assert_eq!(
            out_shape(&padded, &[desc(f32, "1,2,?,2..5"), w.clone()]),
            "[1,3,?,1..7]"
        );
        assert!(op.infer(&[desc(f32, "1,3,5,6"), w]).is_err());
        let gb = GroupConvolutionBackpropData {
            attrs: attrs(&[1], &[], &[], &[2], AutoPad::Explicit),
        };
        assert_eq!(
            out_shape(&gb, &[desc(f32, "1,2,2"), desc(f32, "2,1,3,2")]),
            "[1,6,4]"
        );
    }

    #[test]
    fn values_match_openvino() {
        // Convolution, explicit asymmetric pads (OpenVINO CPU, f32).
        let x = f32s(&[1, 1, 3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        let w = f32s(&[2, 1, 2, 2], &[1., 0., 0., -1., 1., 2., 3., 4.]);
        let op = Convolution {
            attrs: attrs(&[1, 1], &[1, 0], &[0, 1], &[1, 1], AutoPad::Explicit),
        };
        let r = op.evaluate(&[&x, &w]).unwrap();
        assert_eq!(r[0].shape(), &[1, 2, 3, 3]);
        let want = [
            -2., -3., 0., -4., -4., 3., -4., -4., 6., 11., 18., 9., 37., 47., 21., 67., 77., 33.,
        ];
        assert_eq!(r[0].to_f64_vec(), want);
        // same_lower with stride 2.
        let x = f32s(
            &[1, 1, 4, 4],
            &(1..=16).map(|v| v as f32).collect::<Vec<_>>(),
        );
        let w = f32s(&[1, 1, 2, 2], &[1., -1., 2., 0.]);
        let op = Convolution {
            attrs: attrs(&[2, 1], &[], &[], &[], AutoPad::SameLower),
        };
        let r = op.evaluate(&[&x, &w]).unwrap();
        assert_eq!(r[0].shape(), &[1, 1, 2, 4]);
        assert_eq!(r[0].to_f64_vec(), [-1., 9., 11., 13., -9., 25., 27., 29.]);
        // GroupConvolution 1-D with dilation.
        let x = f32s(&[1, 2, 6], &(1..=12).map(|v| v as f32).collect::<Vec<_>>());
        let w = f32s(&[2, 1, 1, 2], &[1., 2., -1., 1.]);
        let op = GroupConvolution {
            attrs: attrs(&[2], &[1], &[0], &[2], AutoPad::Explicit),
        };
        assert_eq!(
            op.evaluate(&[&x, &w]).unwrap()[0].to_f64_vec(),
            [4., 10., 16., 8., 2., 2.]
        );
    }

    #[test]
    fn backprop_values_match_openvino() {
        let x = f32s(&[1, 1, 3, 3], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        let w = f32s(&[1, 2, 2, 2], &[1., 2., 3., 4., 0., 1., 1., 0.]);
        let mut a = attrs(&[2, 2], &[1, 0], &[0, 0], &[1, 1], AutoPad::Explicit);
        a.output_padding = vec![1, 0];
        let r = ConvolutionBackpropData { attrs: a }
            .evaluate(&[&x, &w])
            .unwrap();
        assert_eq!(r[0].shape(), &[1, 2, 6, 6]);
        let v = r[0].to_f64_vec();
        assert_eq!(v[..6], [3., 4., 6., 8., 9., 12.]);
        assert_eq!(v[30..36], [0.; 6]);
        assert_eq!(v[36..42], [1., 0., 2., 0., 3., 0.]);
        let x = f32s(&[1, 1, 3], &[1., 2., 3.]);
        let w = f32s(&[1, 1, 3], &[1., 10., 100.]);
        let cases: [(AutoPad, i64, &[i64], &[f64]); 3] = [
            (
                AutoPad::SameUpper,
                6,
                &[0],
                &[10., 102., 20., 203., 30., 300.],
            ),
            (
                AutoPad::SameLower,
                6,
                &[0],
                &[1., 10., 102., 20., 203., 30.],
            ),
            (
                AutoPad::Explicit,
                8,
                &[1],
                &[10., 102., 20., 203., 30., 300., 0., 0.],
            ),
        ];
        for (ap, len, pb, want) in cases {
            let op = ConvolutionBackpropData {
                attrs: attrs(&[2], pb, &[0], &[1], ap),
            };
            let os = Tensor::from_slice(&[1], &[len]).unwrap();
            assert_eq!(
                op.evaluate(&[&x, &w, &os]).unwrap()[0].to_f64_vec(),
                want,
                "{ap}"
            );
        }
        let x = f32s(&[1, 2, 2], &[1., 2., 3., 4.]);
        let w = f32s(&[2, 1, 1, 2], &[1., 2., 3., 4.]);
        let op = GroupConvolutionBackpropData {
            attrs: attrs(&[1], &[0], &[0], &[2], AutoPad::Explicit),
        };
        assert_eq!(
            op.evaluate(&[&x, &w]).unwrap()[0].to_f64_vec(),
            [1., 2., 2., 4., 9., 12., 12., 16.]
        );
    }

    #[test]
    fn other_types_batch_zero_and_bad_inputs() {
        let op = Convolution {
            attrs: attrs(&[1], &[0], &[0], &[1], AutoPad::Explicit),
        };
        let x = Tensor::from_slice(&[1, 1, 3], &[1i32, 2, 3]).unwrap();
        let w = Tensor::from_slice(&[1, 1, 2], &[2i32, -1]).unwrap();
        let r = op.evaluate(&[&x, &w]).unwrap();
        assert_eq!(r[0].element_type(), ElementType::I32);
        assert_eq!(r[0].to_i64_vec(), [0, 1]);
        let x = Tensor::from_f64s(ElementType::F16, &[1, 1, 3], &[1., 2., 3.]).unwrap();
        let w = Tensor::from_f64s(ElementType::F16, &[1, 1, 2], &[0.5, 0.5]).unwrap();
        assert_eq!(op.evaluate(&[&x, &w]).unwrap()[0].to_f64_vec(), [1.5, 2.5]);
        let x = Tensor::zeros(ElementType::F32, &[0, 1, 3]);
        let w = Tensor::zeros(ElementType::F32, &[4, 1, 2]);
        assert_eq!(op.evaluate(&[&x, &w]).unwrap()[0].shape(), &[0, 4, 2]);
        assert!(op.evaluate(&[&x]).is_err());
        assert!(
            op.evaluate(&[&x, &Tensor::zeros(ElementType::F32, &[4, 2, 2])])
                .is_err()
        );
        assert!(
            op.evaluate(&[&x, &Tensor::zeros(ElementType::F64, &[4, 1, 2])])
                .is_err()
        );
        let b = Tensor::zeros(ElementType::Boolean, &[1, 1, 3]);
        assert!(
            op.evaluate(&[&b, &Tensor::zeros(ElementType::Boolean, &[1, 1, 2])])
                .is_err()
        );
    }

    #[test]
    fn attributes_round_trip() {
        let mut op = GroupConvolutionBackpropData::default();
        let values = vec![
            (
                "strides".to_string(),
                crate::ir::AttrValue::Str("2, 2".into()),
            ),
            (
                "auto_pad".to_string(),
                crate::ir::AttrValue::Str("SAME_UPPER".into()),
            ),
            (
                "output_padding".to_string(),
                crate::ir::AttrValue::Ints(vec![1, 1]),
            ),
        ];
        let mut setter = crate::ir::AttributeSetter::new(&values);
        op.visit_attributes(&mut setter).unwrap();
        assert!(setter.unused().is_empty());
        assert_eq!(op.attrs.strides, [2, 2]);
        assert_eq!(op.attrs.auto_pad, AutoPad::SameUpper);
        let mut c = crate::ir::AttributeCollector::default();
        op.visit_attributes(&mut c).unwrap();
        let names: Vec<&str> = c.values.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "strides",
                "pads_begin",
                "pads_end",
                "dilations",
                "auto_pad",
                "output_padding"
            ]
        );
        assert_eq!(
            op.type_info(),
            TypeInfo::new("GroupConvolutionBackpropData", "opset1")
        );
    }
}
