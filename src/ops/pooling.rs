//! Pooling ops: MaxPool-1/8/14, AvgPool-1/14/16, AdaptiveAvgPool-8 and AdaptiveMaxPool-8.
//!
//! The sliding-window geometry (auto_pad, rounding, dilation) is shared with the convolutions in [`super::conv`].

use super::conv::{
    AutoPad, Axis, RoundingType, WindowAxis, check_numeric, for_each_index, spatial_attr,
    window_geometry,
};
use super::registry::Registry;
use super::util::{check_input_count, ints_of};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::{normalize_axis, num_elements, strides};
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Scalar, Tensor};

/// Registers the ops of this family.
pub fn register(r: &mut Registry) {
    r.add("MaxPool", 1, || Box::new(MaxPool::new(1)));
    r.add("MaxPool", 8, || Box::new(MaxPool::new(8)));
    r.add("MaxPool", 14, || Box::new(MaxPool::new(14)));
    r.add("AvgPool", 1, || Box::new(AvgPool::new(1)));
    r.add("AvgPool", 14, || Box::new(AvgPool::new(14)));
    r.add("AvgPool", 16, || Box::new(AvgPool::new(16)));
    r.add("AdaptiveAvgPool", 8, || Box::new(AdaptiveAvgPool));
    r.add("AdaptiveMaxPool", 8, || {
        Box::new(AdaptiveMaxPool {
            index_element_type: ElementType::I64,
        })
    });
}

/// The window attributes shared by MaxPool and AvgPool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolAttrs {
    /// Window lengths, one per spatial axis.
    pub kernel: Vec<i64>,
    /// Window steps.
    pub strides: Vec<i64>,
    /// Tap steps (MaxPool-8+, AvgPool-16); empty means 1.
    pub dilations: Vec<i64>,
    /// Padding at the start of each spatial axis.
    pub pads_begin: Vec<i64>,
    /// Padding at the end of each spatial axis.
    pub pads_end: Vec<i64>,
    /// How the output length is rounded.
    pub rounding_type: RoundingType,
    /// How padding is chosen.
    pub auto_pad: AutoPad,
}

impl PoolAttrs {
    /// Per-axis windows; `torch` tells whether `ceil_torch` rounding is allowed (opset14+).
    fn windows(&self, torch: bool) -> Result<Vec<WindowAxis>> {
        let n = self.kernel.len();
        crate::ensure!(
            (1..=3).contains(&n),
            Shape,
            "kernel {:?} must have 1 to 3 values",
            self.kernel
        );
        crate::ensure!(
            torch || self.rounding_type != RoundingType::CeilTorch,
            Shape,
            "rounding_type ceil_torch needs opset14 or later"
        );
        let kernel = spatial_attr(&self.kernel, n, 1, 1, "kernel")?;
        window_geometry(
            &kernel,
            &self.strides,
            &self.dilations,
            &self.pads_begin,
            &self.pads_end,
        )
    }

    /// The output partial shape `[N, C, out...]` for a data partial shape.
    fn infer_shape(&self, data: &PartialShape, torch: bool) -> Result<PartialShape> {
        let w = self.windows(torch)?;
        let rank = w.len() + 2;
        let dims = match data.dims() {
            Some(d) => {
                crate::ensure!(
                    d.len() == rank,
                    Shape,
                    "data has shape {data}, expected rank {rank} for kernel {:?}",
                    self.kernel
                );
                d.to_vec()
            }
            None => vec![Dimension::DYNAMIC; rank],
        };
        let mut out = dims[..2].to_vec();
        for (wa, d) in w.iter().zip(&dims[2..]) {
            out.push(wa.output_dim(d, self.auto_pad, self.rounding_type)?);
        }
        Ok(PartialShape::new(out))
    }

    /// The resolved spatial axes for a static data shape.
    pub fn resolve(&self, data: &[usize], torch: bool) -> Result<Vec<Axis>> {
        let w = self.windows(torch)?;
        crate::ensure!(
            data.len() == w.len() + 2,
            Shape,
            "data has rank {}, expected {} for kernel {:?}",
            data.len(),
            w.len() + 2,
            self.kernel
        );
        w.iter()
            .zip(&data[2..])
            .map(|(wa, &n)| wa.resolve(n, self.auto_pad, self.rounding_type))
            .collect()
    }
}

/// Output shape `[N, C, out...]`.
fn pooled_shape(data: &[usize], axes: &[Axis]) -> Vec<usize> {
    let mut s = data[..2].to_vec();
    s.extend(axes.iter().map(|a| a.output));
    s
}

/// Errors unless an index element type is i32 or i64.
fn check_index_type(t: ElementType) -> Result<()> {
    crate::ensure!(
        matches!(t, ElementType::I32 | ElementType::I64),
        Shape,
        "index_element_type must be i32 or i64, got {t}"
    );
    Ok(())
}

/// MaxPool: version 1 (values only), 8 and 14 (values and indices; 14 adds `ceil_torch`).
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPool {
    version: u32,
    /// Window attributes (`dilations` only from opset8).
    pub attrs: PoolAttrs,
    /// Type of the indices output (opset8+).
    pub index_element_type: ElementType,
    /// First dimension of the sub-tensor that indices are flat offsets into (opset8+).
    pub axis: i64,
}

impl MaxPool {
    /// A MaxPool of the given version (1, 8 or 14) with default attributes.
    pub fn new(version: u32) -> MaxPool {
        MaxPool {
            version,
            attrs: PoolAttrs::default(),
            index_element_type: ElementType::I64,
            axis: 0,
        }
    }

    /// The opset version (1, 8 or 14).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// True when the op has the indices output.
    pub fn has_indices(&self) -> bool {
        self.version >= 8
    }

    /// Resolves the spatial axes and the size of the sub-tensor that indices address, for a static shape.
    pub fn resolve(&self, data: &[usize]) -> Result<(Vec<Axis>, usize)> {
        let axes = self.attrs.resolve(data, self.version >= 14)?;
        let axis = normalize_axis(self.axis, data.len(), "MaxPool")?;
        Ok((axes, num_elements(&data[axis..])))
    }
}

impl Op for MaxPool {
    fn type_info(&self) -> TypeInfo {
        let v = match self.version {
            1 => "opset1",
            8 => "opset8",
            _ => "opset14",
        };
        TypeInfo::new("MaxPool", v)
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        let a = &mut self.attrs;
        v.on("strides", &mut a.strides)?;
        if self.version >= 8 {
            v.on("dilations", &mut a.dilations)?;
        }
        v.on("pads_begin", &mut a.pads_begin)?;
        v.on("pads_end", &mut a.pads_end)?;
        v.on("kernel", &mut a.kernel)?;
        v.on("rounding_type", &mut a.rounding_type)?;
        v.on("auto_pad", &mut a.auto_pad)?;
        if self.version >= 8 {
            v.on("index_element_type", &mut self.index_element_type)?;
            v.on("axis", &mut self.axis)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        let et = inputs[0].element_type;
        check_numeric(et, "data")?;
        let shape = self
            .attrs
            .infer_shape(&inputs[0].shape, self.version >= 14)?;
        let mut out = vec![TensorDesc::new(et, shape.clone())];
        if self.has_indices() {
            check_index_type(self.index_element_type)?;
            if let Some(r) = shape.rank() {
                normalize_axis(self.axis, r, "MaxPool")?;
            }
            out.push(TensorDesc::new(self.index_element_type, shape));
        }
        Ok(out)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        check_numeric(x.element_type(), "data")?;
        let (axes, axis_size) = self.resolve(x.shape())?;
        let shape = pooled_shape(x.shape(), &axes);
        let (values, indices) = crate::dispatch_scalar!(x.element_type(), T => {
            let (v, i) = max_pool_reference::<T>(x.typed::<T>()?, x.shape(), &axes, axis_size);
            (Tensor::from_vec(&shape, v)?, i)
        }, _ => return Err(Error::Unsupported(format!("MaxPool on {}", x.element_type()))));
        let mut out = vec![values];
        if self.has_indices() {
            check_index_type(self.index_element_type)?;
            out.push(Tensor::from_i64s(
                self.index_element_type,
                &shape,
                &indices,
            )?);
        }
        Ok(out)
    }
}

/// The value MaxPool yields for a window that lies wholly in the padding (the lowest f32, as OpenVINO's CPU
/// plugin does; integers saturate to their minimum).
pub fn empty_window_max<T: Scalar>() -> T {
    T::from_f64(f32::MIN as f64)
}

/// Plain max pooling; indices are flat offsets modulo `axis_size` (the first max wins; an all-padding window
/// yields [`empty_window_max`] and the offset of its channel's first element).
fn max_pool_reference<T: Scalar>(
    x: &[T],
    shape: &[usize],
    axes: &[Axis],
    axis_size: usize,
) -> (Vec<T>, Vec<i64>) {
    let ins: Vec<usize> = shape[2..].to_vec();
    let outs: Vec<usize> = axes.iter().map(|a| a.output).collect();
    let ks: Vec<usize> = axes.iter().map(|a| a.kernel).collect();
    let (isz, in_str) = (num_elements(&ins), strides(&ins));
    let mut values = Vec::new();
    let mut indices = Vec::new();
    let mut pos = vec![0usize; ins.len()];
    for nc in 0..shape[0] * shape[1] {
        let base = nc * isz;
        for_each_index(&outs, |o| {
            let mut best: Option<(T, usize)> = None;
            for_each_index(&ks, |k| {
                if let Some(off) = tap_offset(axes, o, k, &mut pos, &in_str) {
                    let v = x[base + off];
                    if best.is_none_or(|(b, _)| v > b) {
                        best = Some((v, off));
                    }
                }
            });
            let (v, off) = best.unwrap_or((empty_window_max::<T>(), 0));
            values.push(v);
            indices.push(((base + off) % axis_size.max(1)) as i64);
        });
    }
    (values, indices)
}

/// The flat input offset read by output `o` at tap `k`, or `None` in the padding.
fn tap_offset(
    axes: &[Axis],
    o: &[usize],
    k: &[usize],
    pos: &mut [usize],
    in_str: &[usize],
) -> Option<usize> {
    for d in 0..axes.len() {
        pos[d] = axes[d].source(o[d], k[d])?;
    }
    Some(pos.iter().zip(in_str).map(|(p, s)| p * s).sum())
}

/// AvgPool: version 1, 14 (adds `ceil_torch`) and 16 (adds `dilations`).
#[derive(Debug, Clone, PartialEq)]
pub struct AvgPool {
    version: u32,
    /// Window attributes (`dilations` only from opset16).
    pub attrs: PoolAttrs,
    /// Whether padded positions are left out of the divisor.
    pub exclude_pad: bool,
}

impl AvgPool {
    /// An AvgPool of the given version (1, 14 or 16) with default attributes.
    pub fn new(version: u32) -> AvgPool {
        AvgPool {
            version,
            attrs: PoolAttrs::default(),
            exclude_pad: true,
        }
    }

    /// Resolves the spatial axes for a static data shape.
    pub fn resolve(&self, data: &[usize]) -> Result<Vec<Axis>> {
        self.attrs.resolve(data, self.version >= 14)
    }
}

impl Op for AvgPool {
    fn type_info(&self) -> TypeInfo {
        let v = match self.version {
            1 => "opset1",
            14 => "opset14",
            _ => "opset16",
        };
        TypeInfo::new("AvgPool", v)
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        let a = &mut self.attrs;
        v.on("kernel", &mut a.kernel)?;
        v.on("strides", &mut a.strides)?;
        v.on("pads_begin", &mut a.pads_begin)?;
        v.on("pads_end", &mut a.pads_end)?;
        v.on("exclude-pad", &mut self.exclude_pad)?;
        v.on("auto_pad", &mut a.auto_pad)?;
        v.on("rounding_type", &mut a.rounding_type)?;
        if self.version >= 16 {
            v.on("dilations", &mut a.dilations)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        check_numeric(inputs[0].element_type, "data")?;
        let shape = self
            .attrs
            .infer_shape(&inputs[0].shape, self.version >= 14)?;
        Ok(vec![TensorDesc::new(inputs[0].element_type, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        check_numeric(x.element_type(), "data")?;
        let axes = self.resolve(x.shape())?;
        let out = avg_pool_reference(&x.to_f64_vec(), x.shape(), &axes, self.exclude_pad);
        Ok(vec![Tensor::from_f64s(
            x.element_type(),
            &pooled_shape(x.shape(), &axes),
            &out,
        )?])
    }
}

/// Plain average pooling in f64: the divisor counts the taps inside the input (`exclude_pad`) or inside the
/// padded input; a window with no such tap gives 0/0.
fn avg_pool_reference(x: &[f64], shape: &[usize], axes: &[Axis], exclude_pad: bool) -> Vec<f64> {
    let ins: Vec<usize> = shape[2..].to_vec();
    let outs: Vec<usize> = axes.iter().map(|a| a.output).collect();
    let ks: Vec<usize> = axes.iter().map(|a| a.kernel).collect();
    let (isz, in_str) = (num_elements(&ins), strides(&ins));
    let mut out = Vec::new();
    let mut pos = vec![0usize; ins.len()];
    for nc in 0..shape[0] * shape[1] {
        let base = nc * isz;
        for_each_index(&outs, |o| {
            let (mut sum, mut count) = (0.0, 0usize);
            for_each_index(&ks, |k| {
                if let Some(off) = tap_offset(axes, o, k, &mut pos, &in_str) {
                    sum += x[base + off];
                    count += 1;
                } else if !exclude_pad && (0..axes.len()).all(|d| axes[d].in_padded(o[d], k[d])) {
                    count += 1;
                }
            });
            out.push(sum / count as f64);
        });
    }
    out
}

/// The adaptive bin `[start, end)` of output `o` when `input` positions are split into `output` bins.
pub fn adaptive_bin(o: usize, input: usize, output: usize) -> (usize, usize) {
    ((o * input) / output, ((o + 1) * input).div_ceil(output))
}

/// Output shape of the adaptive pools: `[N, C, output_shape...]`.
fn adaptive_infer(inputs: &[TensorDesc]) -> Result<PartialShape> {
    check_input_count(inputs, 2, 2)?;
    check_numeric(inputs[0].element_type, "data")?;
    let (data, target) = (&inputs[0], &inputs[1]);
    if let Some(r) = target.rank() {
        crate::ensure!(
            r == 1,
            Shape,
            "output_shape must be 1-D, got shape {}",
            target.shape
        );
    }
    let spatial = data.rank().map(|r| r.saturating_sub(2)).or_else(|| {
        target
            .shape
            .dims()
            .and_then(|d| d.first())
            .and_then(|d| d.get())
            .map(|n| n as usize)
    });
    let Some(spatial) = spatial else {
        return Ok(PartialShape::dynamic_rank());
    };
    crate::ensure!(
        (1..=3).contains(&spatial),
        Shape,
        "data has shape {}, expected rank 3 to 5",
        data.shape
    );
    let mut out = match data.shape.dims() {
        Some(d) => d[..2].to_vec(),
        None => vec![Dimension::DYNAMIC; 2],
    };
    match &target.value {
        Some(v) => {
            let t = adaptive_target(v, spatial)?;
            out.extend(t.iter().map(|&n| Dimension::new(n as u64)));
        }
        None => out.extend(vec![Dimension::DYNAMIC; spatial]),
    }
    Ok(PartialShape::new(out))
}

/// The requested output lengths, checked against the data rank.
fn adaptive_target(t: &Tensor, spatial: usize) -> Result<Vec<usize>> {
    let v = ints_of(t, "output_shape")?;
    crate::ensure!(
        v.len() == spatial && v.iter().all(|&n| n >= 0),
        Shape,
        "output_shape {v:?} must hold {spatial} non-negative lengths, one per spatial axis"
    );
    Ok(v.iter().map(|&n| n as usize).collect())
}

/// Visits every adaptive bin: `f(channel_base, bin_start, bin_end)` once per output element in order.
fn for_each_bin(shape: &[usize], outs: &[usize], mut f: impl FnMut(usize, &[usize], &[usize])) {
    let ins = &shape[2..];
    let isz = num_elements(ins);
    let (mut lo, mut hi) = (vec![0; ins.len()], vec![0; ins.len()]);
    for nc in 0..shape[0] * shape[1] {
        for_each_index(outs, |o| {
            for d in 0..ins.len() {
                (lo[d], hi[d]) = adaptive_bin(o[d], ins[d], outs[d]);
            }
            f(nc * isz, &lo, &hi);
        });
    }
}

/// Calls `f(flat_spatial_offset)` for every position of the box `[lo, hi)` in an input of lengths `ins`.
fn for_each_in_box(ins: &[usize], lo: &[usize], hi: &[usize], mut f: impl FnMut(usize)) {
    let ext: Vec<usize> = lo
        .iter()
        .zip(hi)
        .map(|(a, b)| b.saturating_sub(*a))
        .collect();
    let st = strides(ins);
    for_each_index(&ext, |p| {
        f(p.iter()
            .zip(lo)
            .zip(&st)
            .map(|((p, l), s)| (p + l) * s)
            .sum())
    });
}

/// Checks the adaptive pools' inputs and returns the output shape.
fn adaptive_shape(inputs: &[&Tensor]) -> Result<Vec<usize>> {
    check_input_count(inputs, 2, 2)?;
    let x = inputs[0];
    check_numeric(x.element_type(), "data")?;
    let spatial = x.rank().saturating_sub(2);
    crate::ensure!(
        (1..=3).contains(&spatial),
        Shape,
        "data has rank {}, expected 3 to 5",
        x.rank()
    );
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(adaptive_target(inputs[1], spatial)?);
    Ok(shape)
}

/// AdaptiveAvgPool-8: averages over bins that split each spatial axis into `output_shape` parts.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveAvgPool;

impl Op for AdaptiveAvgPool {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("AdaptiveAvgPool", "opset8")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            adaptive_infer(inputs)?,
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let shape = adaptive_shape(inputs)?;
        let x = inputs[0];
        let xv = x.to_f64_vec();
        let ins = &x.shape()[2..];
        let mut out = Vec::with_capacity(num_elements(&shape));
        for_each_bin(x.shape(), &shape[2..], |base, lo, hi| {
            let (mut sum, mut count) = (0.0, 0usize);
            for_each_in_box(ins, lo, hi, |off| {
                sum += xv[base + off];
                count += 1;
            });
            out.push(sum / count as f64);
        });
        Ok(vec![Tensor::from_f64s(x.element_type(), &shape, &out)?])
    }
}

/// AdaptiveMaxPool-8: maxima over adaptive bins, with their flat spatial offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveMaxPool {
    /// Type of the indices output (i32 or i64).
    pub index_element_type: ElementType,
}

impl Op for AdaptiveMaxPool {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("AdaptiveMaxPool", "opset8")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "index_element_type" => index_element_type)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let shape = adaptive_infer(inputs)?;
        check_index_type(self.index_element_type)?;
        Ok(vec![
            TensorDesc::new(inputs[0].element_type, shape.clone()),
            TensorDesc::new(self.index_element_type, shape),
        ])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let shape = adaptive_shape(inputs)?;
        check_index_type(self.index_element_type)?;
        let x = inputs[0];
        let (values, indices) = crate::dispatch_scalar!(x.element_type(), T => {
            let (v, i) = adaptive_max_reference::<T>(x.typed::<T>()?, x.shape(), &shape[2..]);
            (Tensor::from_vec(&shape, v)?, i)
        }, _ => return Err(Error::Unsupported(format!("AdaptiveMaxPool on {}", x.element_type()))));
        Ok(vec![
            values,
            Tensor::from_i64s(self.index_element_type, &shape, &indices)?,
        ])
    }
}

/// Plain adaptive max pooling; indices are flat offsets within each channel's spatial block.
fn adaptive_max_reference<T: Scalar>(
    x: &[T],
    shape: &[usize],
    outs: &[usize],
) -> (Vec<T>, Vec<i64>) {
    let ins = &shape[2..];
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for_each_bin(shape, outs, |base, lo, hi| {
        let mut best: Option<(T, usize)> = None;
        for_each_in_box(ins, lo, hi, |off| {
            let v = x[base + off];
            if best.is_none_or(|(b, _)| v > b) {
                best = Some((v, off));
            }
        });
        let (v, off) = best.unwrap_or((empty_window_max::<T>(), 0));
        values.push(v);
        indices.push(off as i64);
    });
    (values, indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(shape: &str) -> TensorDesc {
        TensorDesc::new(ElementType::F32, PartialShape::parse_ir(shape).unwrap())
    }

    fn pool(
        kernel: &[i64],
        strides: &[i64],
        pb: &[i64],
        pe: &[i64],
        rt: RoundingType,
        ap: AutoPad,
    ) -> PoolAttrs {
        PoolAttrs {
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            dilations: vec![],
            pads_begin: pb.to_vec(),
            pads_end: pe.to_vec(),
            rounding_type: rt,
            auto_pad: ap,
        }
    }

    fn iota(shape: &[usize]) -> Tensor {
        let v: Vec<f32> = (1..=num_elements(shape)).map(|v| v as f32).collect();
        Tensor::from_slice(shape, &v).unwrap()
    }

    #[test]
    fn pooling_shapes_match_openvino() {
        let cases = [
            (RoundingType::Floor, AutoPad::Explicit, "[1,1,3,1..]"),
            (RoundingType::Floor, AutoPad::SameUpper, "[1,1,4,?]"),
            (RoundingType::Floor, AutoPad::Valid, "[1,1,3,1..]"),
            (RoundingType::Ceil, AutoPad::Explicit, "[1,1,4,1..]"),
            (RoundingType::Ceil, AutoPad::SameUpper, "[1,1,4,?]"),
            (RoundingType::Ceil, AutoPad::Valid, "[1,1,4,1..]"),
        ];
        for (rt, ap, want) in cases {
            let op = MaxPool {
                attrs: pool(&[2, 2], &[3, 3], &[0, 0], &[0, 0], rt, ap),
                ..MaxPool::new(8)
            };
            let out = op.infer(&[desc("1,1,10,?")]).unwrap();
            assert_eq!(out[0].shape.to_string(), want, "{rt} {ap}");
            assert_eq!(out[1].element_type, ElementType::I64);
            assert_eq!(out[1].shape.to_string(), want);
        }
        for (rt, want) in [
            (RoundingType::Floor, "[1,1,3,3]"),
            (RoundingType::Ceil, "[1,1,4,4]"),
        ] {
            let op = AvgPool {
                attrs: pool(&[2, 2], &[2, 2], &[1, 1], &[1, 1], rt, AutoPad::Explicit),
                ..AvgPool::new(14)
            };
            assert_eq!(
                op.infer(&[desc("1,1,5,5")]).unwrap()[0].shape.to_string(),
                want
            );
        }
        let torch = MaxPool {
            attrs: pool(
                &[2],
                &[2],
                &[1],
                &[1],
                RoundingType::CeilTorch,
                AutoPad::Explicit,
            ),
            ..MaxPool::new(14)
        };
        assert_eq!(
            torch.infer(&[desc("2,3,5")]).unwrap()[0].shape.to_string(),
            "[2,3,3]"
        );
        assert_eq!(
            torch.infer(&[desc("...")]).unwrap()[0].shape.to_string(),
            "[?,?,1..]"
        );
        // ceil_torch needs opset14; kernels bigger than the input, wrong rank and bad axis fail.
        let old = MaxPool {
            version: 8,
            ..torch.clone()
        };
        assert!(old.infer(&[desc("2,3,5")]).is_err());
        assert!(torch.infer(&[desc("2,3,5,5")]).is_err());
        let big = MaxPool {
            attrs: pool(&[4], &[1], &[], &[], RoundingType::Floor, AutoPad::Explicit),
            ..MaxPool::new(1)
        };
        assert_eq!(
            big.infer(&[desc("1,1,3")])
                .err()
                .map(|e| e.to_string().contains("larger")),
            Some(true)
        );
        assert!(MaxPool::new(1).infer(&[desc("1,1,3")]).is_err());
        let axis = MaxPool { axis: 3, ..torch };
        assert!(axis.infer(&[desc("2,3,5")]).is_err());
        assert_eq!(
            MaxPool::new(1).type_info(),
            TypeInfo::new("MaxPool", "opset1")
        );
        assert_eq!(
            AvgPool::new(16).type_info(),
            TypeInfo::new("AvgPool", "opset16")
        );
    }

    #[test]
    fn max_pool_values_match_openvino() {
        // MaxPool-14, 5x5 iota, kernel 2, stride 2, pads 1 (OpenVINO CPU).
        let x = iota(&[1, 1, 5, 5]);
        let mut op = MaxPool {
            attrs: pool(
                &[2, 2],
                &[2, 2],
                &[1, 1],
                &[1, 1],
                RoundingType::Ceil,
                AutoPad::Explicit,
            ),
            ..MaxPool::new(14)
        };
        op.index_element_type = ElementType::I32;
        op.axis = 2;
        let r = op.evaluate(&[&x]).unwrap();
        assert_eq!(r[0].shape(), &[1, 1, 4, 4]);
        let m = f32::MIN as f64;
        assert_eq!(r[0].to_f64_vec()[..8], [1., 3., 5., m, 11., 13., 15., m]);
        assert_eq!(r[1].element_type(), ElementType::I32);
        assert_eq!(r[1].to_i64_vec()[..8], [0, 2, 4, 0, 10, 12, 14, 0]);
        op.attrs.rounding_type = RoundingType::CeilTorch;
        let r = op.evaluate(&[&x]).unwrap();
        assert_eq!(
            r[0].to_f64_vec(),
            [1., 3., 5., 11., 13., 15., 21., 23., 25.]
        );
        // axis 0: indices into the whole tensor; all-padding windows point at the channel start.
        let neg = Tensor::from_f64s(
            ElementType::F32,
            &[1, 1, 5, 5],
            &(1..=25).map(|v| -v as f64).collect::<Vec<_>>(),
        )
        .unwrap();
        let both = Tensor::from_slice(
            &[2, 1, 5, 5],
            &[x.typed::<f32>().unwrap(), neg.typed::<f32>().unwrap()].concat(),
        )
        .unwrap();
        op.attrs.rounding_type = RoundingType::Ceil;
        op.axis = 0;
        let r = op.evaluate(&[&both]).unwrap();
        assert_eq!(r[1].to_i64_vec()[16..24], [25, 26, 28, 25, 30, 31, 33, 25]);
        // MaxPool-1 has one output; integer data keeps its type.
        let ints = Tensor::from_slice(&[1, 1, 4], &[i64::MAX - 1, 3, i64::MAX, 2]).unwrap();
        let op = MaxPool {
            attrs: pool(&[2], &[2], &[], &[], RoundingType::Floor, AutoPad::Explicit),
            ..MaxPool::new(1)
        };
        let r = op.evaluate(&[&ints]).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].to_i64_vec(), [i64::MAX - 1, i64::MAX]);
    }

    #[test]
    fn avg_pool_values_match_openvino() {
        let x = iota(&[1, 1, 5, 5]);
        let cases: [(RoundingType, bool, [f64; 3]); 4] = [
            (RoundingType::Floor, true, [1.0, 2.5, 4.5]),
            (RoundingType::Floor, false, [0.25, 1.25, 2.25]),
            (RoundingType::CeilTorch, false, [0.25, 1.25, 2.25]),
            (RoundingType::Ceil, false, [0.25, 1.25, 2.25]),
        ];
        for (rt, exclude_pad, row) in cases {
            let attrs = pool(&[2, 2], &[2, 2], &[1, 1], &[1, 1], rt, AutoPad::Explicit);
            let r = AvgPool {
                attrs,
                exclude_pad,
                ..AvgPool::new(14)
            }
            .evaluate(&[&x])
            .unwrap();
            assert_eq!(r[0].to_f64_vec()[..3], row, "{rt} {exclude_pad}");
        }
        // Windows past the end padding: the divisor counts only the padded input.
        let x = iota(&[1, 1, 5]);
        for (exclude_pad, last) in [(true, f64::NAN), (false, 0.0)] {
            let attrs = pool(
                &[3],
                &[3],
                &[1],
                &[1],
                RoundingType::Ceil,
                AutoPad::Explicit,
            );
            let r = AvgPool {
                attrs,
                exclude_pad,
                ..AvgPool::new(1)
            }
            .evaluate(&[&x])
            .unwrap()[0]
                .to_f64_vec();
            assert_eq!(r[..2], [if exclude_pad { 1.5 } else { 1.0 }, 4.0]);
            assert!(r[2] == last || (r[2].is_nan() && last.is_nan()));
        }
        // same_upper, exclude-pad false.
        let x = iota(&[1, 1, 6, 6]);
        let attrs = pool(
            &[3, 3],
            &[2, 2],
            &[0, 0],
            &[0, 0],
            RoundingType::Floor,
            AutoPad::SameUpper,
        );
        let r = AvgPool {
            attrs,
            exclude_pad: false,
            ..AvgPool::new(1)
        }
        .evaluate(&[&x])
        .unwrap()[0]
            .to_f64_vec();
        let want = [8.0, 10.0, 69.0 / 9.0, 20.0, 22.0, 141.0 / 9.0];
        assert!(
            r.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5),
            "{r:?}"
        );
        // AvgPool-16 dilations.
        let x = iota(&[1, 1, 5, 5]);
        let mut attrs = pool(
            &[2, 2],
            &[1, 1],
            &[1, 1],
            &[1, 1],
            RoundingType::Floor,
            AutoPad::Explicit,
        );
        attrs.dilations = vec![2, 2];
        let r = AvgPool {
            attrs: attrs.clone(),
            exclude_pad: true,
            ..AvgPool::new(16)
        }
        .evaluate(&[&x])
        .unwrap();
        assert_eq!(r[0].to_f64_vec()[..5], [7., 7., 8., 9., 9.]);
        let r = AvgPool {
            attrs,
            exclude_pad: false,
            ..AvgPool::new(16)
        }
        .evaluate(&[&x])
        .unwrap();
        assert_eq!(r[0].to_f64_vec()[..5], [1.75, 3.5, 4.0, 4.5, 2.25]);
    }

    #[test]
    fn adaptive_pools() {
        let x = iota(&[1, 1, 5, 5]);
        let os = Tensor::from_slice(&[2], &[3i64, 2]).unwrap();
        let r = AdaptiveAvgPool.evaluate(&[&x, &os]).unwrap();
        assert_eq!(r[0].to_f64_vec(), [4.5, 6.5, 12.0, 14.0, 19.5, 21.5]);
        let amp = AdaptiveMaxPool {
            index_element_type: ElementType::I32,
        };
        let r = amp.evaluate(&[&x, &os]).unwrap();
        assert_eq!(r[0].to_f64_vec(), [8., 10., 18., 20., 23., 25.]);
        assert_eq!(r[1].to_i64_vec(), [7, 9, 17, 19, 22, 24]);
        let shapes = amp
            .infer(&[desc("2,3,?,?"), TensorDesc::of_tensor(&os)])
            .unwrap();
        assert_eq!(shapes[0].shape.to_string(), "[2,3,3,2]");
        assert_eq!(shapes[1].element_type, ElementType::I32);
        let unknown = desc("2");
        assert_eq!(
            AdaptiveAvgPool
                .infer(&[desc("..."), unknown.clone()])
                .unwrap()[0]
                .shape
                .to_string(),
            "[?,?,?,?]"
        );
        assert!(
            AdaptiveAvgPool
                .infer(&[desc("1,1,5"), TensorDesc::of_tensor(&os)])
                .is_err()
        );
        assert!(AdaptiveAvgPool.evaluate(&[&x]).is_err());
        let bad = AdaptiveMaxPool {
            index_element_type: ElementType::F32,
        };
        assert!(bad.infer(&[desc("1,1,5,5"), unknown]).is_err());
    }

    #[test]
    fn batch_zero_and_types() {
        let x = Tensor::zeros(ElementType::F16, &[0, 3, 4]);
        let op = AvgPool {
            attrs: pool(&[2], &[2], &[], &[], RoundingType::Floor, AutoPad::Valid),
            ..AvgPool::new(1)
        };
        let r = op.evaluate(&[&x]).unwrap();
        assert_eq!(
            (r[0].shape(), r[0].element_type()),
            (&[0usize, 3, 2][..], ElementType::F16)
        );
        assert!(
            op.evaluate(&[&Tensor::zeros(ElementType::Boolean, &[1, 1, 4])])
                .is_err()
        );
        assert!(
            op.infer(&[TensorDesc::new(
                ElementType::Boolean,
                PartialShape::from_static(&[1, 1, 4])
            )])
            .is_err()
        );
    }
}
