//! Interpolate-1, Interpolate-4 and Interpolate-11: resizing of chosen axes.
//!
//! The reference evaluation pads the input with zeros, then resamples it one axis at a time (every mode OpenVINO
//! offers is separable: its N-D weights are products of per-axis weights). Coordinates and weights are computed in
//! f32 exactly as OpenVINO's reference does; sums accumulate in f64.

use super::registry::Registry;
use super::util::{check_input_count, check_type, ints_of, known_i64s};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, num_elements, strides};
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Scalar, Tensor};

/// Registers Interpolate-1, -4 and -11.
pub fn register(r: &mut Registry) {
    r.add("Interpolate", 1, || Box::new(InterpolateV0::default()));
    r.add("Interpolate", 4, || Box::new(Interpolate::new(false)));
    r.add("Interpolate", 11, || Box::new(Interpolate::new(true)));
}

crate::attr_enum!(
    /// How values between input samples are computed (Interpolate-4 and -11).
    InterpolateMode {
        /// Copy of the nearest input sample.
        Nearest => "nearest",
        /// Triangle filter, with optional antialiasing.
        Linear => "linear",
        /// Bi/tri-linear interpolation as ONNX Resize defines it.
        LinearOnnx => "linear_onnx",
        /// Cubic convolution with coefficient `cube_coeff`.
        Cubic => "cubic",
        /// Pillow's bilinear resampling (Interpolate-11 only).
        BilinearPillow => "bilinear_pillow",
        /// Pillow's bicubic resampling (Interpolate-11 only).
        BicubicPillow => "bicubic_pillow",
    }
);

crate::attr_enum!(
    /// Whether the output shape comes from `sizes` or from `scales`.
    ShapeCalcMode {
        /// Output dims on the axes are the given sizes.
        Sizes => "sizes",
        /// Output dims on the axes are floor(padded dim * scale).
        Scales => "scales",
    }
);

crate::attr_enum!(
    /// Maps an output coordinate to an input coordinate.
    CoordinateTransformMode {
        /// `(x + 0.5) / scale - 0.5`.
        HalfPixel => "half_pixel",
        /// Like half_pixel, but 0 when the output length is 1.
        PytorchHalfPixel => "pytorch_half_pixel",
        /// `x / scale`.
        Asymmetric => "asymmetric",
        /// `(x + 0.5) / scale`.
        TfHalfPixelForNn => "tf_half_pixel_for_nn",
        /// `x * (in - 1) / (out - 1)`.
        AlignCorners => "align_corners",
    }
);

crate::attr_enum!(
    /// Rounds an input coordinate to a sample index in nearest mode.
    NearestMode {
        /// Round, halves go down.
        RoundPreferFloor => "round_prefer_floor",
        /// Round, halves go up.
        RoundPreferCeil => "round_prefer_ceil",
        /// Floor.
        Floor => "floor",
        /// Ceiling.
        Ceil => "ceil",
        /// Ceiling when downsampling, truncation otherwise.
        Simple => "simple",
    }
);

crate::attr_enum!(
    /// The interpolation of Interpolate-1.
    InterpolateV0Mode {
        /// Nearest sample.
        Nearest => "nearest",
        /// Linear.
        Linear => "linear",
        /// Cubic.
        Cubic => "cubic",
        /// Area (accepted in IR; not evaluated, as in OpenVINO's reference).
        Area => "area",
        /// ONNX linear.
        LinearOnnx => "linear_onnx",
    }
);

/// The attributes Interpolate-4 and -11 share.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpolateAttrs {
    /// Interpolation mode.
    pub mode: InterpolateMode,
    /// Source of the output shape.
    pub shape_calculation_mode: ShapeCalcMode,
    /// Output-to-input coordinate mapping.
    pub coordinate_transformation_mode: CoordinateTransformMode,
    /// Rounding of nearest mode.
    pub nearest_mode: NearestMode,
    /// Antialiasing for linear mode when downsampling.
    pub antialias: bool,
    /// Zero padding added before each dimension (missing entries are 0).
    pub pads_begin: Vec<i64>,
    /// Zero padding added after each dimension (missing entries are 0).
    pub pads_end: Vec<i64>,
    /// The `a` of cubic convolution.
    pub cube_coeff: f64,
}

impl Default for InterpolateAttrs {
    fn default() -> Self {
        InterpolateAttrs {
            mode: InterpolateMode::Nearest,
            shape_calculation_mode: ShapeCalcMode::Sizes,
            coordinate_transformation_mode: CoordinateTransformMode::HalfPixel,
            nearest_mode: NearestMode::RoundPreferFloor,
            antialias: false,
            pads_begin: vec![0],
            pads_end: vec![0],
            cube_coeff: -0.75,
        }
    }
}

/// Interpolate-4 (inputs data, sizes, scales, optional axes) and Interpolate-11 (data, sizes or scales, optional
/// axes).
#[derive(Debug, Clone)]
pub struct Interpolate {
    v11: bool,
    /// The attributes.
    pub attrs: InterpolateAttrs,
}

impl Interpolate {
    /// Interpolate-11 when `v11`, else Interpolate-4, with default attributes.
    pub fn new(v11: bool) -> Interpolate {
        Interpolate {
            v11,
            attrs: InterpolateAttrs::default(),
        }
    }

    /// The input holding sizes or scales, per the shape calculation mode.
    fn shape_input(&self) -> usize {
        if !self.v11 && self.attrs.shape_calculation_mode == ShapeCalcMode::Scales {
            2
        } else {
            1
        }
    }

    /// The index of the optional axes input.
    fn axes_input(&self) -> usize {
        if self.v11 { 2 } else { 3 }
    }

    fn check_mode(&self) -> Result<()> {
        let pillow = matches!(
            self.attrs.mode,
            InterpolateMode::BilinearPillow | InterpolateMode::BicubicPillow
        );
        crate::ensure!(
            self.v11 || !pillow,
            Unsupported,
            "mode {} needs Interpolate-11; Interpolate-4 supports nearest, linear, linear_onnx and cubic",
            self.attrs.mode
        );
        Ok(())
    }

    fn check_input_types(&self, inputs: &[TensorDesc]) -> Result<()> {
        check_type(
            inputs[0].element_type,
            is_data_type,
            "f32, f16, bf16, f64, i8, u8, i32 or i64",
            "data",
        )?;
        let scales = self.attrs.shape_calculation_mode == ShapeCalcMode::Scales;
        if self.v11 {
            check_shape_input_type(inputs[1].element_type, scales)?;
        } else {
            check_shape_input_type(inputs[1].element_type, false)?;
            check_shape_input_type(inputs[2].element_type, true)?;
        }
        if let Some(a) = inputs.get(self.axes_input()) {
            check_type(
                a.element_type,
                ElementType::is_integral_number,
                "an integer type",
                "axes",
            )?;
        }
        for (i, d) in inputs.iter().enumerate().skip(1) {
            crate::ensure!(
                d.rank().is_none_or(|r| r == 1),
                Shape,
                "input {i} must be 1-D, has shape {}",
                d.shape
            );
        }
        Ok(())
    }

    /// Resolves axes, output shape and scales from the actual inputs.
    pub fn plan(&self, inputs: &[&Tensor]) -> Result<Plan> {
        check_input_count(
            inputs,
            if self.v11 { 2 } else { 3 },
            if self.v11 { 3 } else { 4 },
        )?;
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        self.check_mode()?;
        self.check_input_types(&descs)?;
        let rank = inputs[0].shape().len();
        let axes = match inputs.get(self.axes_input()) {
            Some(t) => check_axes(&ints_of(t, "axes")?, rank)?,
            None => (0..rank).collect(),
        };
        let (pads_begin, pads_end) = resolve_pads(&self.attrs, rank)?;
        let padded = padded_shape(inputs[0].shape(), &pads_begin, &pads_end);
        let given = inputs[self.shape_input()];
        let mut out = padded.clone();
        let scales = if self.attrs.shape_calculation_mode == ShapeCalcMode::Scales {
            let s: Vec<f32> = given.to_f64_vec().iter().map(|&v| v as f32).collect();
            check_count(s.len(), axes.len(), "scales")?;
            for (&a, &sc) in axes.iter().zip(&s) {
                out[a] = scaled_dim(padded[a] as u64, sc)? as usize;
            }
            s[..axes.len()].to_vec()
        } else {
            let sizes = ints_of(given, "sizes")?;
            check_count(sizes.len(), axes.len(), "sizes")?;
            for (&a, &n) in axes.iter().zip(&sizes) {
                out[a] = usize::try_from(n)
                    .map_err(|_| Error::Shape(format!("sizes holds negative value {n}")))?;
            }
            axes.iter()
                .map(|&a| out[a] as f32 / padded[a] as f32)
                .collect()
        };
        Ok(Plan {
            pads_begin,
            padded,
            out,
            axes,
            scales,
            attrs: self.attrs.clone(),
        })
    }
}

fn is_data_type(t: ElementType) -> bool {
    use ElementType::*;
    matches!(t, F32 | F16 | BF16 | F64 | I8 | U8 | I32 | I64)
}

fn check_shape_input_type(t: ElementType, scales: bool) -> Result<()> {
    use ElementType::*;
    if scales {
        check_type(
            t,
            |t| matches!(t, F32 | F16 | BF16),
            "f32, f16 or bf16",
            "scales",
        )
    } else {
        check_type(
            t,
            |t| matches!(t, I32 | I64 | U32 | U64),
            "i32, i64, u32 or u64",
            "sizes",
        )
    }
}

fn check_count(got: usize, axes: usize, what: &str) -> Result<()> {
    crate::ensure!(
        got >= axes,
        Shape,
        "{what} has {got} elements, fewer than the {axes} axes"
    );
    Ok(())
}

/// Validates axes: each in [0, rank) (OpenVINO rejects negative axes here).
fn check_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    axes.iter()
        .map(|&a| {
            usize::try_from(a)
                .ok()
                .filter(|&a| a < rank)
                .ok_or_else(|| {
                    Error::Shape(format!(
                        "axis {a} is out of range [0, {rank}) for input rank {rank}"
                    ))
                })
        })
        .collect()
}

/// Pads resized to the rank; errors on negative values.
fn resolve_pads(attrs: &InterpolateAttrs, rank: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    let fit = |p: &[i64], what: &str| -> Result<Vec<usize>> {
        (0..rank)
            .map(|i| {
                let v = p.get(i).copied().unwrap_or(0);
                usize::try_from(v)
                    .map_err(|_| Error::Shape(format!("{what} holds negative value {v}")))
            })
            .collect()
    };
    Ok((
        fit(&attrs.pads_begin, "pads_begin")?,
        fit(&attrs.pads_end, "pads_end")?,
    ))
}

fn padded_shape(shape: &[usize], begin: &[usize], end: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .zip(begin.iter().zip(end))
        .map(|(d, (b, e))| d + b + e)
        .collect()
}

/// `floor(dim * scale + 1e-5)` in f32, as OpenVINO computes output lengths from scales.
fn scaled_dim(dim: u64, scale: f32) -> Result<u64> {
    let v = (dim as f32 * scale + 1.0e-5).floor();
    crate::ensure!(
        v >= 0.0 && v.is_finite(),
        Shape,
        "scale {scale} gives invalid length {v} for dimension {dim}"
    );
    Ok(v as u64)
}

/// The output partial shape of Interpolate-4/-11 from what is known.
fn infer_interpolate(op: &Interpolate, inputs: &[TensorDesc]) -> Result<PartialShape> {
    let Some(dims) = inputs[0].shape.dims() else {
        return Ok(PartialShape::dynamic_rank());
    };
    let rank = dims.len();
    let axes = match inputs.get(op.axes_input()) {
        Some(d) => match known_i64s(d) {
            Some(a) => check_axes(&a, rank)?,
            None => return Ok(PartialShape::dynamic_of_rank(rank)),
        },
        None => (0..rank).collect(),
    };
    let (pb, pe) = resolve_pads(&op.attrs, rank)?;
    let mut out: Vec<Dimension> = dims
        .iter()
        .zip(pb.iter().zip(&pe))
        .map(|(d, (b, e))| d.add(&Dimension::new((b + e) as u64)))
        .collect();
    let given = &inputs[op.shape_input()];
    match (&given.value, op.attrs.shape_calculation_mode) {
        (Some(t), ShapeCalcMode::Scales) => {
            let s = t.to_f64_vec();
            check_count(s.len(), axes.len(), "scales")?;
            for (&a, &sc) in axes.iter().zip(&s) {
                out[a] = match out[a].get() {
                    Some(n) => Dimension::new(scaled_dim(n, sc as f32)?),
                    None => Dimension::DYNAMIC,
                };
            }
        }
        (Some(t), ShapeCalcMode::Sizes) => {
            let s = ints_of(t, "sizes")?;
            check_count(s.len(), axes.len(), "sizes")?;
            for (&a, &n) in axes.iter().zip(&s) {
                out[a] = Dimension::from_i64(n)?;
            }
        }
        (None, _) => axes.iter().for_each(|&a| out[a] = Dimension::DYNAMIC),
    }
    Ok(PartialShape::new(out))
}

impl Op for Interpolate {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Interpolate", if self.v11 { "opset11" } else { "opset4" })
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        let a = &mut self.attrs;
        v.on("mode", &mut a.mode)?;
        v.on("shape_calculation_mode", &mut a.shape_calculation_mode)?;
        v.on(
            "coordinate_transformation_mode",
            &mut a.coordinate_transformation_mode,
        )?;
        v.on("nearest_mode", &mut a.nearest_mode)?;
        v.on("antialias", &mut a.antialias)?;
        v.on("pads_begin", &mut a.pads_begin)?;
        v.on("pads_end", &mut a.pads_end)?;
        v.on("cube_coeff", &mut a.cube_coeff)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(
            inputs,
            if self.v11 { 2 } else { 3 },
            if self.v11 { 3 } else { 4 },
        )?;
        self.check_mode()?;
        self.check_input_types(inputs)?;
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            infer_interpolate(self, inputs)?,
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let plan = self.plan(inputs)?;
        Ok(vec![plan.run(inputs[0])?])
    }
}

/// Interpolate-1: data and the target lengths of the `axes` attribute.
#[derive(Debug, Clone)]
pub struct InterpolateV0 {
    /// The resized axes, in the order of the target-shape input.
    pub axes: Vec<i64>,
    /// Interpolation mode.
    pub mode: InterpolateV0Mode,
    /// Whether corner samples are aligned.
    pub align_corners: bool,
    /// Antialiasing (linear mode).
    pub antialias: bool,
    /// Zero padding before each dimension (evaluation only; the output shape ignores it).
    pub pads_begin: Vec<i64>,
    /// Zero padding after each dimension.
    pub pads_end: Vec<i64>,
}

impl Default for InterpolateV0 {
    fn default() -> Self {
        InterpolateV0 {
            axes: vec![],
            mode: InterpolateV0Mode::Nearest,
            align_corners: true,
            antialias: false,
            pads_begin: vec![],
            pads_end: vec![],
        }
    }
}

impl InterpolateV0 {
    /// The Interpolate-4 attributes OpenVINO evaluates this op with, for an input of rank `rank`.
    fn v4_attrs(&self, rank: usize) -> Result<InterpolateAttrs> {
        let mode = match self.mode {
            InterpolateV0Mode::Nearest => InterpolateMode::Nearest,
            InterpolateV0Mode::Linear if rank < 5 => InterpolateMode::LinearOnnx,
            InterpolateV0Mode::Linear if rank == 5 => InterpolateMode::Linear,
            InterpolateV0Mode::Cubic => InterpolateMode::Cubic,
            InterpolateV0Mode::LinearOnnx => InterpolateMode::LinearOnnx,
            m => crate::bail!(
                Unsupported,
                "Interpolate-1 mode {m} cannot be evaluated for an input of rank {rank}"
            ),
        };
        let linear = matches!(mode, InterpolateMode::Linear | InterpolateMode::LinearOnnx);
        let no_pads = self
            .pads_begin
            .iter()
            .chain(&self.pads_end)
            .all(|&p| p == 0);
        let mut axes = self.axes.clone();
        axes.sort_unstable();
        axes.dedup();
        let spatial_hw = rank == 4 && axes == [2, 3];
        let coordinate_transformation_mode = if self.align_corners {
            CoordinateTransformMode::AlignCorners
        } else if linear && no_pads && !spatial_hw {
            CoordinateTransformMode::HalfPixel
        } else {
            CoordinateTransformMode::Asymmetric
        };
        Ok(InterpolateAttrs {
            mode,
            shape_calculation_mode: ShapeCalcMode::Sizes,
            coordinate_transformation_mode,
            nearest_mode: NearestMode::Simple,
            antialias: self.antialias,
            pads_begin: self.pads_begin.clone(),
            pads_end: self.pads_end.clone(),
            cube_coeff: -0.75,
        })
    }

    fn check(&self, inputs: &[TensorDesc]) -> Result<()> {
        check_input_count(inputs, 2, 2)?;
        check_type(
            inputs[0].element_type,
            is_data_type,
            "f32, f16, bf16, f64, i8, u8, i32 or i64",
            "data",
        )?;
        check_type(
            inputs[1].element_type,
            ElementType::is_integral_number,
            "an integer type",
            "target shape",
        )?;
        crate::ensure!(
            inputs[1].rank().is_none_or(|r| r == 1),
            Shape,
            "target shape must be 1-D, has shape {}",
            inputs[1].shape
        );
        Ok(())
    }
}

impl Op for InterpolateV0 {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Interpolate", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "align_corners" => align_corners, "antialias" => antialias, "axes" => axes,
            "mode" => mode, "pads_begin" => pads_begin, "pads_end" => pads_end)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        self.check(inputs)?;
        let et = inputs[0].element_type;
        let Some(dims) = inputs[0].shape.dims() else {
            return Ok(vec![TensorDesc::new(et, PartialShape::dynamic_rank())]);
        };
        let axes = check_axes(&self.axes, dims.len())?;
        let mut out = dims.to_vec();
        match known_i64s(&inputs[1]) {
            Some(sizes) => {
                check_count(sizes.len(), axes.len(), "target shape")?;
                for (&a, &n) in axes.iter().zip(&sizes) {
                    out[a] = Dimension::from_i64(n)?;
                }
            }
            None => axes.iter().for_each(|&a| out[a] = Dimension::DYNAMIC),
        }
        Ok(vec![TensorDesc::new(et, PartialShape::new(out))])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        self.check(&descs)?;
        let shape = inputs[0].shape();
        let rank = shape.len();
        let axes = check_axes(&self.axes, rank)?;
        let attrs = self.v4_attrs(rank)?;
        let (pads_begin, pads_end) = resolve_pads(&attrs, rank)?;
        let padded = padded_shape(shape, &pads_begin, &pads_end);
        let sizes = ints_of(inputs[1], "target shape")?;
        check_count(sizes.len(), axes.len(), "target shape")?;
        let mut out = shape.to_vec();
        for (&a, &n) in axes.iter().zip(&sizes) {
            out[a] = usize::try_from(n)
                .map_err(|_| Error::Shape(format!("target shape holds negative {n}")))?;
        }
        let scales = axes
            .iter()
            .map(|&a| out[a] as f32 / padded[a] as f32)
            .collect();
        let plan = Plan {
            pads_begin,
            padded,
            out,
            axes,
            scales,
            attrs,
        };
        Ok(vec![plan.run(inputs[0])?])
    }
}

/// Everything an evaluation needs once the input shapes and values are known.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Zero padding before each dimension.
    pub pads_begin: Vec<usize>,
    /// The padded input shape.
    pub padded: Vec<usize>,
    /// The output shape.
    pub out: Vec<usize>,
    /// The resized axes.
    pub axes: Vec<usize>,
    /// The scale of each resized axis (given, or output / padded length).
    pub scales: Vec<f32>,
    /// The attributes, in Interpolate-4 terms.
    pub attrs: InterpolateAttrs,
}

/// One output sample of a 1-D resampling: the input samples it reads and their weights.
pub type Taps = Vec<(usize, f32)>;

impl Plan {
    /// The zero-padded input as f64 values.
    fn padded_input(&self, data: &Tensor) -> Vec<f64> {
        let src = data.to_f64_vec();
        if self.pads_begin.iter().all(|&p| p == 0) && self.padded == data.shape() {
            return src;
        }
        let mut dst = vec![0.0; num_elements(&self.padded)];
        let dst_strides = strides(&self.padded);
        for (i, v) in src.iter().enumerate() {
            let idx = super::util::unravel(i, data.shape());
            let off: usize = idx
                .iter()
                .zip(&self.pads_begin)
                .zip(&dst_strides)
                .map(|((x, p), s)| (x + p) * s)
                .sum();
            dst[off] = *v;
        }
        dst
    }

    /// The scale of dimension `d` (1 for dimensions that are not resized).
    fn scale_of(&self, d: usize) -> f32 {
        self.axes
            .iter()
            .position(|&a| a == d)
            .map_or(1.0, |i| self.scales[i])
    }

    /// Maps output coordinate `x` of dimension `d` to an input coordinate.
    pub fn source_coord(&self, x: usize, d: usize) -> f32 {
        let (scale, out, inp) = (self.scale_of(d), self.out[d] as f32, self.padded[d] as f32);
        let x = x as f32;
        if scale == 1.0 || out == inp {
            return x;
        }
        match self.attrs.coordinate_transformation_mode {
            CoordinateTransformMode::HalfPixel => (x + 0.5) / scale - 0.5,
            CoordinateTransformMode::PytorchHalfPixel if out > 1.0 => (x + 0.5) / scale - 0.5,
            CoordinateTransformMode::PytorchHalfPixel => 0.0,
            CoordinateTransformMode::Asymmetric => x / scale,
            CoordinateTransformMode::TfHalfPixelForNn => (x + 0.5) / scale,
            CoordinateTransformMode::AlignCorners if out == 1.0 => 0.0,
            CoordinateTransformMode::AlignCorners => x * (inp - 1.0) / (out - 1.0),
        }
    }

    /// The input index nearest mode reads for output index `x` of dimension `d`.
    pub fn nearest_index(&self, x: usize, d: usize) -> usize {
        let c = self.source_coord(x, d);
        let i = match self.attrs.nearest_mode {
            NearestMode::RoundPreferFloor if c == (c as i64) as f32 + 0.5 => c.floor(),
            NearestMode::RoundPreferFloor | NearestMode::RoundPreferCeil => c.round(),
            NearestMode::Floor => c.floor(),
            NearestMode::Ceil => c.ceil(),
            NearestMode::Simple if self.scale_of(d) < 1.0 => c.ceil(),
            NearestMode::Simple => c.trunc(),
        };
        clamp_index(i as i64, self.padded[d])
    }

    /// The taps of every output index of dimension `d` in the plan's (non-nearest) mode.
    pub fn taps(&self, d: usize) -> Vec<Taps> {
        let n_in = self.padded[d];
        (0..self.out[d])
            .map(|x| {
                if !self.axes.contains(&d) {
                    return vec![(clamp_index(x as i64, n_in), 1.0)];
                }
                match self.attrs.mode {
                    InterpolateMode::Nearest => vec![(self.nearest_index(x, d), 1.0)],
                    InterpolateMode::LinearOnnx => self.linear_onnx_taps(x, d),
                    InterpolateMode::Linear => self.linear_taps(x, d),
                    InterpolateMode::Cubic => self.cubic_taps(x, d),
                    InterpolateMode::BilinearPillow => self.pillow_taps(x, d, 1.0),
                    InterpolateMode::BicubicPillow => self.pillow_taps(x, d, 2.0),
                }
            })
            .collect()
    }

    fn linear_onnx_taps(&self, x: usize, d: usize) -> Taps {
        let n_in = self.padded[d];
        let last = n_in.saturating_sub(1);
        let c = self.source_coord(x, d).min(last as f32).max(0.0);
        let i1 = (c as usize).min(last);
        let i2 = (i1 + 1).min(last);
        if i1 == i2 {
            return vec![(i1, 1.0)];
        }
        vec![(i1, (c - i2 as f32).abs()), (i2, (c - i1 as f32).abs())]
    }

    fn linear_taps(&self, x: usize, d: usize) -> Taps {
        let downsample = self.scales.iter().any(|&s| s < 1.0);
        let scale = self.scale_of(d);
        let a = if downsample && self.attrs.antialias {
            scale
        } else {
            1.0
        };
        let r = if scale > 1.0 {
            2
        } else {
            (2.0 / a).ceil() as i64
        };
        let c = self.source_coord(x, d);
        let centre = c.round() as i64;
        let taps: Taps = (centre - r..=centre + r)
            .filter(|&j| j >= 0 && (j as usize) < self.padded[d])
            .map(|j| (j as usize, (1.0 - (a * (c - j as f32)).abs()).max(0.0)))
            .collect();
        normalised(taps)
    }

    fn cubic_taps(&self, x: usize, d: usize) -> Taps {
        let c = self.source_coord(x, d);
        let base = c.floor();
        let s = (c - base).abs();
        let a = self.attrs.cube_coeff as f32;
        let coeffs = [
            ((a * (s + 1.0) - 5.0 * a) * (s + 1.0) + 8.0 * a) * (s + 1.0) - 4.0 * a,
            ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0,
            ((a + 2.0) * (1.0 - s) - (a + 3.0)) * (1.0 - s) * (1.0 - s) + 1.0,
            ((a * (2.0 - s) - 5.0 * a) * (2.0 - s) + 8.0 * a) * (2.0 - s) - 4.0 * a,
        ];
        let n_in = self.padded[d];
        coeffs
            .iter()
            .enumerate()
            .map(|(k, &w)| (clamp_index(base as i64 + k as i64 - 1, n_in), w))
            .collect()
    }

    /// Pillow's resampling taps (computed in f64 as Pillow does; stored as f32 weights).
    fn pillow_taps(&self, x: usize, d: usize, support: f64) -> Taps {
        let (n_in, n_out) = (self.padded[d], self.out[d]);
        let scale = (n_in as f32) as f64 / n_out as f64;
        let filterscale = scale.max(1.0);
        let support = support * filterscale;
        let centre = (x as f64 + 0.5) * scale;
        let lo = ((centre - support + 0.5) as i64).max(0);
        let hi = ((centre + support + 0.5) as i64).min(n_in as i64);
        let a = self.attrs.cube_coeff;
        let bicubic = self.attrs.mode == InterpolateMode::BicubicPillow;
        let w: Vec<(usize, f64)> = (lo..hi)
            .map(|j| {
                let t = ((j as f64 - centre + 0.5) / filterscale).abs();
                let w = if bicubic {
                    bicubic_filter(t, a)
                } else {
                    (1.0 - t).max(0.0)
                };
                (j as usize, w)
            })
            .collect();
        let sum: f64 = w.iter().map(|p| p.1).sum();
        w.into_iter()
            .map(|(j, v)| (j, if sum != 0.0 { v / sum } else { v } as f32))
            .collect()
    }

    fn is_pillow(&self) -> bool {
        matches!(
            self.attrs.mode,
            InterpolateMode::BilinearPillow | InterpolateMode::BicubicPillow
        )
    }

    /// The dimensions whose length changes, in the order they are resampled: Pillow resamples the last of its
    /// two axes first (horizontal, then vertical); for the other modes the order does not matter.
    fn pass_order(&self) -> Vec<usize> {
        let changed = |d: &usize| self.out[*d] != self.padded[*d];
        let mut dims: Vec<usize> = if self.is_pillow() {
            self.axes.iter().rev().copied().filter(changed).collect()
        } else {
            vec![]
        };
        for d in (0..self.out.len()).filter(changed) {
            if !dims.contains(&d) {
                dims.push(d);
            }
        }
        dims
    }

    /// Runs the reference evaluation on `data`.
    pub fn run(&self, data: &Tensor) -> Result<Tensor> {
        let et = data.element_type();
        crate::ensure!(
            self.padded.len() == data.shape().len() && self.out.len() == self.padded.len(),
            Shape,
            "data of shape {} does not match the plan's rank {}",
            fmt_shape(data.shape()),
            self.padded.len()
        );
        for &d in &self.axes {
            crate::ensure!(
                self.padded[d] > 0 || self.out[d] == 0,
                Shape,
                "cannot resize an empty axis {d} of padded shape {} to {}",
                fmt_shape(&self.padded),
                self.out[d]
            );
        }
        let mut cur = self.padded_input(data);
        let mut shape = self.padded.clone();
        if self.attrs.mode == InterpolateMode::Nearest {
            cur = self.gather_nearest(&cur);
        } else {
            for d in self.pass_order() {
                cur = resample_axis(&cur, &shape, d, &self.taps(d));
                shape[d] = self.out[d];
                if self.is_pillow() {
                    store_as(et, &mut cur, Rounding::HalfAway);
                }
            }
        }
        let rounding = match self.attrs.mode {
            InterpolateMode::Linear => Rounding::HalfAway,
            _ => Rounding::Truncate,
        };
        store_as(et, &mut cur, rounding);
        Tensor::from_f64s(et, &self.out, &cur)
    }

    /// Nearest mode: each output element copies one input element.
    fn gather_nearest(&self, src: &[f64]) -> Vec<f64> {
        let maps: Vec<Vec<usize>> = (0..self.out.len())
            .map(|d| {
                (0..self.out[d])
                    .map(|x| {
                        if self.axes.contains(&d) {
                            self.nearest_index(x, d)
                        } else {
                            clamp_index(x as i64, self.padded[d])
                        }
                    })
                    .collect()
            })
            .collect();
        let in_strides = strides(&self.padded);
        (0..num_elements(&self.out))
            .map(|i| {
                let idx = super::util::unravel(i, &self.out);
                let off: usize = idx
                    .iter()
                    .zip(&maps)
                    .zip(&in_strides)
                    .map(|((x, m), s)| m[*x] * s)
                    .sum();
                src[off]
            })
            .collect()
    }
}

/// How sums are turned into integers for integral element types.
#[derive(Clone, Copy)]
enum Rounding {
    /// Round half away from zero (linear and Pillow modes).
    HalfAway,
    /// Truncate toward zero (the C++ cast of the other modes). A sum within f32 rounding noise of an integer
    /// counts as that integer, so the result does not hang on summation order (OpenVINO sums in f32 in N-D
    /// order, this reference axis by axis).
    Truncate,
}

impl Rounding {
    fn apply(self, x: f64) -> f64 {
        match self {
            Rounding::HalfAway => x.round(),
            Rounding::Truncate if (x - x.round()).abs() <= 1e-5 * x.abs().max(1.0) => x.round(),
            Rounding::Truncate => x.trunc(),
        }
    }
}

/// Rounds values to what the element type can hold (saturating for integers).
fn store_as(et: ElementType, v: &mut [f64], rounding: Rounding) {
    if et.is_integral() {
        v.iter_mut().for_each(|x| *x = rounding.apply(*x));
    }
    crate::dispatch_scalar!(et, T => {
        v.iter_mut().for_each(|x| *x = T::from_f64(*x).to_f64());
    }, _ => ());
}

fn clamp_index(i: i64, n: usize) -> usize {
    i.clamp(0, n.saturating_sub(1) as i64) as usize
}

fn normalised(taps: Taps) -> Taps {
    let sum: f32 = taps.iter().map(|t| t.1).sum();
    if sum == 0.0 {
        return taps.into_iter().map(|(j, _)| (j, 0.0)).collect();
    }
    taps.into_iter().map(|(j, w)| (j, w / sum)).collect()
}

fn bicubic_filter(x: f64, a: f64) -> f64 {
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

/// Resamples dimension `d` of `src` (shape `shape`) with the given taps, one list per output index.
pub fn resample_axis(src: &[f64], shape: &[usize], d: usize, taps: &[Taps]) -> Vec<f64> {
    let outer: usize = shape[..d].iter().product();
    let inner: usize = shape[d + 1..].iter().product();
    let n_in = shape[d];
    let mut dst = vec![0.0; outer * taps.len() * inner];
    for o in 0..outer {
        for (x, t) in taps.iter().enumerate() {
            let row = &mut dst[(o * taps.len() + x) * inner..][..inner];
            for &(j, w) in t {
                let s = &src[(o * n_in + j) * inner..][..inner];
                row.iter_mut().zip(s).for_each(|(r, v)| *r += w as f64 * v);
            }
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 1x1x3x4 input the expected numbers were computed from (1..=12, with -4.5 at [1, 2]).
    fn input() -> Tensor {
        let mut v: Vec<f32> = (1..=12).map(|i| i as f32).collect();
        v[6] = -4.5;
        Tensor::from_vec(&[1, 1, 3, 4], v).unwrap()
    }

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn f32s(v: &[f32]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn v4(mode: InterpolateMode, calc: ShapeCalcMode) -> Interpolate {
        let mut op = Interpolate::new(false);
        op.attrs.mode = mode;
        op.attrs.shape_calculation_mode = calc;
        op
    }

    fn v11(mode: InterpolateMode, calc: ShapeCalcMode) -> Interpolate {
        Interpolate {
            v11: true,
            ..v4(mode, calc)
        }
    }

    /// Evaluates and checks shape and values against OpenVINO's numbers.
    fn check(op: &dyn Op, inputs: &[Tensor], shape: &[usize], want: &[f64], tol: f64) {
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let out = op.evaluate(&refs).unwrap().remove(0);
        assert_eq!(out.shape(), shape, "{op:?}");
        let descs: Vec<TensorDesc> = inputs.iter().map(TensorDesc::of_tensor).collect();
        let inferred = op.infer(&descs).unwrap().remove(0);
        assert_eq!(
            inferred.shape,
            PartialShape::from_static(shape),
            "{op:?}: inferred shape"
        );
        for (i, (g, w)) in out.to_f64_vec().iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol,
                "{op:?}: element {i}: got {g}, OpenVINO gives {w}"
            );
        }
    }

    // Expected values below were computed by OpenVINO 2026.4's reference (constant folding).

    #[test]
    fn nearest_sizes_half_pixel() {
        let op = v4(InterpolateMode::Nearest, ShapeCalcMode::Sizes);
        let want = [
            1., 1., 2., 2., 3., 4., 4., 1., 1., 2., 2., 3., 4., 4., 5., 5., 6., 6., -4.5, 8., 8.,
            9., 9., 10., 10., 11., 12., 12., 9., 9., 10., 10., 11., 12., 12.,
        ];
        check(
            &op,
            &[input(), i64s(&[5, 7]), f32s(&[1., 1.]), i64s(&[2, 3])],
            &[1, 1, 5, 7],
            &want,
            0.0,
        );
    }

    #[test]
    fn nearest_scales_asymmetric_floor() {
        let mut op = v4(InterpolateMode::Nearest, ShapeCalcMode::Scales);
        op.attrs.coordinate_transformation_mode = CoordinateTransformMode::Asymmetric;
        op.attrs.nearest_mode = NearestMode::Floor;
        let want = [
            1., 1., 2., 3., 3., 4., 1., 1., 2., 3., 3., 4., 5., 5., 6., -4.5, -4.5, 8., 5., 5., 6.,
            -4.5, -4.5, 8., 9., 9., 10., 11., 11., 12., 9., 9., 10., 11., 11., 12.,
        ];
        check(
            &op,
            &[input(), i64s(&[1, 1]), f32s(&[2.0, 1.5]), i64s(&[2, 3])],
            &[1, 1, 6, 6],
            &want,
            0.0,
        );
    }

    #[test]
    fn nearest_with_pads_ceil_tf_half_pixel() {
        let mut op = v11(InterpolateMode::Nearest, ShapeCalcMode::Scales);
        op.attrs.pads_begin = vec![0, 0, 1, 0];
        op.attrs.pads_end = vec![0, 0, 0, 1];
        op.attrs.nearest_mode = NearestMode::Ceil;
        op.attrs.coordinate_transformation_mode = CoordinateTransformMode::TfHalfPixelForNn;
        let want = [
            2., 2., 3., 4., 4., 0., 0., 2., 2., 3., 4., 4., 0., 0., 6., 6., -4.5, 8., 8., 0., 0.,
            10., 10., 11., 12., 12., 0., 0., 10., 10., 11., 12., 12., 0., 0., 10., 10., 11., 12.,
            12., 0., 0.,
        ];
        check(
            &op,
            &[input(), f32s(&[1.5, 1.5]), i64s(&[2, 3])],
            &[1, 1, 6, 7],
            &want,
            0.0,
        );
    }

    #[test]
    fn linear_onnx_align_corners() {
        let mut op = v4(InterpolateMode::LinearOnnx, ShapeCalcMode::Sizes);
        op.attrs.coordinate_transformation_mode = CoordinateTransformMode::AlignCorners;
        let want = [
            1., 1.6, 2.2, 2.8, 3.4, 4., 3., 3.6, 3.05, 0.2, 1.95, 6., 5., 5.6, 3.9, -2.4, 0.500001,
            8., 7., 7.6, 7.05, 4.2, 5.95, 10., 9., 9.6, 10.2, 10.8, 11.4, 12.,
        ];
        check(
            &op,
            &[input(), i64s(&[5, 6]), f32s(&[1., 1.]), i64s(&[2, 3])],
            &[1, 1, 5, 6],
            &want,
            1e-5,
        );
    }

    #[test]
    fn linear_onnx_downsample() {
        let op = v11(InterpolateMode::LinearOnnx, ShapeCalcMode::Sizes);
        let want = [2.16667, 2.0625, 4.35417, 8.16667, 8.0625, 10.3542];
        check(
            &op,
            &[input(), i64s(&[2, 3]), i64s(&[2, 3])],
            &[1, 1, 2, 3],
            &want,
            1e-4,
        );
    }

    #[test]
    fn cubic_half_pixel() {
        let op = v4(InterpolateMode::Cubic, ShapeCalcMode::Sizes);
        let want = [
            0.529195, 0.918751, 2.00658, 3.44443, 3.86525, 3.60697, 2.1772, 3.16619, 2.62591,
            -0.938952, 1.71681, 5.81, 4.9132, 6.48438, 4.36285, -4.06076, 0.765625, 9.08507,
            7.6492, 8.63819, 8.09792, 4.53305, 7.18882, 11.282, 9.2972, 9.68675, 10.7746, 12.2124,
            12.6333, 12.375,
        ];
        check(
            &op,
            &[input(), i64s(&[5, 6]), f32s(&[1., 1.]), i64s(&[2, 3])],
            &[1, 1, 5, 6],
            &want,
            1e-4,
        );
    }

    #[test]
    fn linear_antialias_and_upsample() {
        let mut op = v11(InterpolateMode::Linear, ShapeCalcMode::Scales);
        op.attrs.antialias = true;
        check(
            &op,
            &[input(), f32s(&[0.5, 0.5]), i64s(&[2, 3])],
            &[1, 1, 1, 2],
            &[3.86735, 4.03061],
            1e-4,
        );
        let mut op = v11(InterpolateMode::Linear, ShapeCalcMode::Scales);
        op.attrs.coordinate_transformation_mode = CoordinateTransformMode::PytorchHalfPixel;
        let want = [
            1., 1.5, 2.16667, 2.83333, 3.5, 4., 3., 3.5, 3.20833, 0.0416671, 2.625, 6., 5.66667,
            6.16667, 5.23611, -0.486111, 3.375, 8.66667, 8.33333, 8.83333, 9.18056, 8.56944, 9.875,
            11.3333,
        ];
        check(
            &op,
            &[input(), f32s(&[1.5, 1.5]), i64s(&[2, 3])],
            &[1, 1, 4, 6],
            &want,
            1e-4,
        );
    }

    #[test]
    fn pillow_modes() {
        let op = v11(InterpolateMode::BilinearPillow, ShapeCalcMode::Sizes);
        let want = [
            1.3, 2.5, 3.7, 2.9, 1.8, 3.92, 5.3, 0.75, 4.25, 7.7, 6.6, 8.72, 9.3, 10.5, 11.7,
        ];
        check(
            &op,
            &[input(), i64s(&[5, 3]), i64s(&[2, 3])],
            &[1, 1, 5, 3],
            &want,
            1e-5,
        );
        let mut op = v11(InterpolateMode::BicubicPillow, ShapeCalcMode::Sizes);
        op.attrs.cube_coeff = -0.5;
        let want = [
            2.17338, 2.91479, 2.81399, -0.132708, 2.4527, 5.60006, 7.69505, 8.43646, 8.33566,
            5.38896, 7.97436, 11.1217,
        ];
        check(
            &op,
            &[input(), i64s(&[2, 6]), i64s(&[2, 3])],
            &[1, 1, 2, 6],
            &want,
            1e-4,
        );
    }

    #[test]
    fn u8_rounding_per_mode() {
        let x = Tensor::from_vec(&[1, 1, 3, 4], (0..12u8).map(|v| v * 20).collect()).unwrap();
        let cases = [
            (
                InterpolateMode::LinearOnnx,
                [20., 34., 50., 66., 80., 140., 154., 170., 186., 200.],
            ),
            (
                InterpolateMode::Linear,
                [20., 34., 50., 66., 80., 140., 154., 170., 186., 200.],
            ),
            (
                InterpolateMode::Cubic,
                [14., 27., 45., 63., 76., 143., 156., 174., 192., 205.],
            ),
            (
                InterpolateMode::BilinearPillow,
                [30., 44., 60., 76., 90., 130., 144., 160., 176., 190.],
            ),
        ];
        for (mode, want) in cases {
            let op = v11(mode, ShapeCalcMode::Sizes);
            check(
                &op,
                &[x.clone(), i64s(&[2, 5]), i64s(&[2, 3])],
                &[1, 1, 2, 5],
                &want,
                0.0,
            );
        }
    }

    fn v0(mode: InterpolateV0Mode, axes: &[i64], align_corners: bool) -> InterpolateV0 {
        InterpolateV0 {
            axes: axes.to_vec(),
            mode,
            align_corners,
            ..InterpolateV0::default()
        }
    }

    // Interpolate-1 numbers come from OpenVINO's CPU plugin (it has no reference evaluation of its own).
    #[test]
    fn v0_modes_map_to_v4() {
        let op = v0(InterpolateV0Mode::Linear, &[2, 3], false);
        let want = [
            1., 1.66667, 2.33333, 3., 3.66667, 4., 3.4, 4.06667, 2.43333, -1.5, 3.76667, 6.4, 5.8,
            6.46667, 4.06667, -1.4, 5.4, 8.8, 8.2, 8.86667, 8.76667, 7.9, 10.1, 11.2, 9., 9.66667,
            10.3333, 11., 11.6667, 12.,
        ];
        check(&op, &[input(), i64s(&[5, 6])], &[1, 1, 5, 6], &want, 1e-4);
        let op = v0(InterpolateV0Mode::Linear, &[3], false);
        let want = [
            1., 1.5, 2.16667, 2.83333, 3.5, 4., 5., 5.5, 4.25, -2.75, 1.75, 8., 9., 9.5, 10.1667,
            10.8333, 11.5, 12.,
        ];
        check(&op, &[input(), i64s(&[6])], &[1, 1, 3, 6], &want, 1e-4);
        let op = v0(InterpolateV0Mode::Nearest, &[2, 3], false);
        let want = [1., 1., 2., 2., 3., 3., 4., 9., 9., 10., 10., 11., 11., 12.];
        check(&op, &[input(), i64s(&[2, 7])], &[1, 1, 2, 7], &want, 0.0);
        let op = v0(InterpolateV0Mode::Cubic, &[2, 3], true);
        let want = [
            1., 2.5, 4., 3.2963, -0.640914, 6.2963, 6.7037, 2.76649, 9.7037, 9., 10.5, 12.,
        ];
        check(&op, &[input(), i64s(&[4, 3])], &[1, 1, 4, 3], &want, 1e-4);
        let area = v0(InterpolateV0Mode::Area, &[2], false);
        assert!(area.evaluate(&[&input(), &i64s(&[2])]).is_err());
    }

    fn desc(shape: &str) -> TensorDesc {
        TensorDesc::new(ElementType::F32, PartialShape::parse_ir(shape).unwrap())
    }

    fn out_shape(op: &dyn Op, inputs: &[TensorDesc]) -> Result<String> {
        Ok(op.infer(inputs)?.remove(0).shape.to_string())
    }

    #[test]
    fn shape_inference() {
        let known = |t: Tensor| TensorDesc::of_tensor(&t);
        let unknown =
            |t: Tensor| TensorDesc::new(t.element_type(), PartialShape::from_static(t.shape()));
        let mut op = v11(InterpolateMode::Nearest, ShapeCalcMode::Scales);
        op.attrs.pads_begin = vec![0, 0, 1];
        let ins = [
            desc("?,3,10,8"),
            known(f32s(&[0.5, 1.4])),
            known(i64s(&[2, 3])),
        ];
        assert_eq!(out_shape(&op, &ins).unwrap(), "[?,3,5,11]");
        // Unknown scales: dynamic lengths on the axes only.
        let ins = [
            desc("2,3,10,8"),
            unknown(f32s(&[0.5, 1.4])),
            known(i64s(&[3])),
        ];
        assert_eq!(out_shape(&op, &ins).unwrap(), "[2,3,11,?]");
        // Unknown axes: rank only. Dynamic rank: dynamic rank.
        let ins = [
            desc("2,3,10,8"),
            known(f32s(&[0.5, 1.4])),
            unknown(i64s(&[2, 3])),
        ];
        assert_eq!(out_shape(&op, &ins).unwrap(), "[?,?,?,?]");
        assert_eq!(
            out_shape(&op, &[desc("..."), known(f32s(&[2.0]))]).unwrap(),
            "[...]"
        );
        // No axes input: every axis, in order.
        let op4 = v4(InterpolateMode::Linear, ShapeCalcMode::Sizes);
        let ins = [
            desc("1,3,4"),
            known(i64s(&[1, 3, 9])),
            known(f32s(&[1., 1., 1.])),
        ];
        assert_eq!(out_shape(&op4, &ins).unwrap(), "[1,3,9]");
        let v0op = v0(InterpolateV0Mode::Linear, &[1], true);
        assert_eq!(
            out_shape(&v0op, &[desc("2,?,5"), known(i64s(&[7]))]).unwrap(),
            "[2,7,5]"
        );
        assert_eq!(
            out_shape(&v0op, &[desc("2,?,5"), unknown(i64s(&[7]))]).unwrap(),
            "[2,?,5]"
        );
    }

    #[test]
    fn errors() {
        let known = |t: Tensor| TensorDesc::of_tensor(&t);
        let op = v11(InterpolateMode::Nearest, ShapeCalcMode::Sizes);
        // Negative and out-of-range axes are rejected, as OpenVINO does.
        let bad_axes = [
            desc("1,1,4,4"),
            known(i64s(&[8, 8])),
            known(i64s(&[-2, -1])),
        ];
        assert!(op.infer(&bad_axes).is_err());
        let bad_axes = [desc("1,1,4,4"), known(i64s(&[8])), known(i64s(&[4]))];
        assert!(op.infer(&bad_axes).is_err());
        // Sizes must be integers; scales must be floats; too few values for the axes.
        assert!(
            op.infer(&[desc("1,1,4,4"), known(f32s(&[8., 8.]))])
                .is_err()
        );
        let scales = v11(InterpolateMode::Nearest, ShapeCalcMode::Scales);
        assert!(
            scales
                .infer(&[desc("1,1,4,4"), known(i64s(&[8, 8]))])
                .is_err()
        );
        assert!(op.infer(&[desc("1,1,4,4"), known(i64s(&[8]))]).is_err());
        // Pillow modes exist only in Interpolate-11; boolean data is refused.
        let pillow4 = v4(InterpolateMode::BilinearPillow, ShapeCalcMode::Sizes);
        let ins = [
            desc("1,1,4,4"),
            known(i64s(&[8, 8])),
            known(f32s(&[1., 1.])),
            known(i64s(&[2, 3])),
        ];
        assert!(pillow4.infer(&ins).is_err());
        let b = TensorDesc::new(ElementType::Boolean, PartialShape::from_static(&[2]));
        assert!(op.infer(&[b, known(i64s(&[4]))]).is_err());
        assert!(op.evaluate(&[&input()]).is_err());
    }

    #[test]
    fn empty_and_identity() {
        let op = v11(InterpolateMode::LinearOnnx, ShapeCalcMode::Sizes);
        let x = Tensor::zeros(ElementType::F32, &[0, 2, 3]);
        let out = op
            .evaluate(&[&x, &i64s(&[5]), &i64s(&[2])])
            .unwrap()
            .remove(0);
        assert_eq!(out.shape(), &[0, 2, 5]);
        let same = op
            .evaluate(&[&input(), &i64s(&[3, 4]), &i64s(&[2, 3])])
            .unwrap()
            .remove(0);
        assert_eq!(same.to_f64_vec(), input().to_f64_vec());
    }
}
