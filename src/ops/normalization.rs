//! Normalisation ops: Softmax-1/8, LogSoftmax-5, MVN-2/6, NormalizeL2-1, BatchNormInference-1/5,
//! GroupNormalization-12 and LRN-1.

use super::reduction::{axes_input_mask, axes_mask, group_indices};
use super::registry::Registry;
use super::util::{check_input_count, check_type, expect_shape, known_i64s};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::{fmt_shape, normalize_axis, num_elements, strides};
use crate::ir::{AttributeVisitor, ElementType, PartialShape, Tensor};

/// Registers the normalisation ops.
pub fn register(r: &mut Registry) {
    r.add("Softmax", 1, || {
        Box::new(Softmax {
            axis: 1,
            v8: false,
            log: false,
        })
    });
    r.add("Softmax", 8, || {
        Box::new(Softmax {
            axis: 1,
            v8: true,
            log: false,
        })
    });
    r.add("LogSoftmax", 5, || {
        Box::new(Softmax {
            axis: 1,
            v8: true,
            log: true,
        })
    });
    r.add("MVN", 2, || Box::new(Mvn::new(false)));
    r.add("MVN", 6, || Box::new(Mvn::new(true)));
    r.add("NormalizeL2", 1, || {
        Box::new(NormalizeL2 {
            eps: 0.0,
            eps_mode: EpsMode::Add,
        })
    });
    r.add("BatchNormInference", 1, || {
        Box::new(BatchNormInference {
            v5: false,
            epsilon: 0.0,
        })
    });
    r.add("BatchNormInference", 5, || {
        Box::new(BatchNormInference {
            v5: true,
            epsilon: 0.0,
        })
    });
    r.add("GroupNormalization", 12, || {
        Box::new(GroupNormalization {
            num_groups: 1,
            epsilon: 0.0,
        })
    });
    r.add("LRN", 1, || {
        Box::new(Lrn {
            alpha: 1.0,
            beta: 0.5,
            bias: 1.0,
            size: 5,
        })
    });
}

crate::attr_enum!(
    /// Where MVN-6 adds epsilon: `inside_sqrt` divides by `sqrt(var + eps)`, `outside_sqrt` by `sqrt(var) + eps`.
    MvnEpsMode { InsideSqrt => "INSIDE_SQRT", OutsideSqrt => "OUTSIDE_SQRT" }
);

crate::attr_enum!(
    /// How NormalizeL2 combines epsilon with the sum of squares.
    EpsMode { Add => "add", Max => "max" }
);

/// Errors unless `t` is a floating-point type (or dynamic).
fn check_float(t: ElementType, what: &str) -> Result<()> {
    check_type(t, ElementType::is_real, "a floating-point type", what)
}

/// Applies `f` to the values of a floating-point tensor widened to f64; the result has the same type and shape.
fn map_f64(x: &Tensor, f: impl FnOnce(&[f64]) -> Result<Vec<f64>>) -> Result<Tensor> {
    check_float(x.element_type(), "data")?;
    Tensor::from_f64s(x.element_type(), x.shape(), &f(&x.to_f64_vec())?)
}

/// The output of a shape-preserving op: the data input's type and shape.
fn same_as_data(inputs: &[TensorDesc]) -> Vec<TensorDesc> {
    vec![TensorDesc::new(
        inputs[0].element_type,
        inputs[0].shape.clone(),
    )]
}

/// Checks that a known axes input holds valid axes for the data rank; returns them when known.
fn check_axes_desc(axes: &TensorDesc, data: &PartialShape) -> Result<Option<Vec<i64>>> {
    check_type(
        axes.element_type,
        ElementType::is_integral_number,
        "an integer type",
        "axes",
    )?;
    if let Some(r) = axes.rank()
        && r > 1
    {
        return Err(Error::Shape(format!(
            "axes must be a scalar or 1-D, got shape {}",
            axes.shape
        )));
    }
    let values = known_i64s(axes);
    if let (Some(v), Some(rank)) = (&values, data.rank()) {
        axes_mask(v, rank, "axes")?;
    }
    Ok(values)
}

/// Splits `shape` around `axis` into (outer, axis length, inner) element counts.
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = num_elements(&shape[..axis.min(shape.len())]);
    let len = shape.get(axis).copied().unwrap_or(1);
    let inner = num_elements(shape.get(axis + 1..).unwrap_or(&[]));
    (outer, len, inner)
}

/// Per-group mean and (biased) variance of `x`, groups given by [`group_indices`].
fn group_moments(x: &[f64], groups: &[usize], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut count = vec![0usize; n];
    let mut mean = vec![0.0; n];
    for (&v, &g) in x.iter().zip(groups) {
        mean[g] += v;
        count[g] += 1;
    }
    for (m, &c) in mean.iter_mut().zip(&count) {
        *m /= c.max(1) as f64;
    }
    let mut var = vec![0.0; n];
    for (&v, &g) in x.iter().zip(groups) {
        var[g] += (v - mean[g]) * (v - mean[g]);
    }
    for (s, &c) in var.iter_mut().zip(&count) {
        *s /= c.max(1) as f64;
    }
    (mean, var)
}

/// Softmax-1 (non-negative `axis`), Softmax-8 (negative `axis` allowed) and LogSoftmax-5.
#[derive(Debug, Clone)]
pub struct Softmax {
    /// The axis normalised over.
    pub axis: i64,
    v8: bool,
    /// True for LogSoftmax.
    pub log: bool,
}

impl Softmax {
    /// The axis normalised against `rank`; Softmax-1 rejects negative axes.
    pub fn resolved_axis(&self, rank: usize) -> Result<usize> {
        if !self.v8 && self.axis < 0 {
            return Err(Error::Shape(format!(
                "Softmax-1 axis must be non-negative, got {}",
                self.axis
            )));
        }
        normalize_axis(self.axis, rank, "softmax")
    }
}

/// Softmax (or log-softmax) of `x` along the middle dimension of an (outer, len, inner) split.
fn softmax_f64(x: &[f64], (outer, len, inner): (usize, usize, usize), log: bool) -> Vec<f64> {
    let mut out = x.to_vec();
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| o * len * inner + k * inner + i;
            let max = (0..len).map(|k| x[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..len).map(|k| (x[at(k)] - max).exp()).sum();
            for k in 0..len {
                out[at(k)] = if log {
                    x[at(k)] - max - sum.ln()
                } else {
                    (x[at(k)] - max).exp() / sum
                };
            }
        }
    }
    out
}

impl Op for Softmax {
    fn type_info(&self) -> TypeInfo {
        match (self.log, self.v8) {
            (true, _) => TypeInfo::new("LogSoftmax", "opset5"),
            (false, true) => TypeInfo::new("Softmax", "opset8"),
            (false, false) => TypeInfo::new("Softmax", "opset1"),
        }
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "axis" => axis)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        check_float(inputs[0].element_type, "data")?;
        if let Some(rank) = inputs[0].rank() {
            self.resolved_axis(rank)?;
        }
        Ok(same_as_data(inputs))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        let split = split_at_axis(x.shape(), self.resolved_axis(x.rank())?);
        Ok(vec![map_f64(x, |v| Ok(softmax_f64(v, split, self.log)))?])
    }
}

/// Mean-variance normalisation: MVN-2 (axes from `reduction_axes` or `across_channels`) and MVN-6 (axes input).
#[derive(Debug, Clone)]
pub struct Mvn {
    v6: bool,
    /// Epsilon.
    pub eps: f64,
    /// Divide by the standard deviation as well as subtracting the mean.
    pub normalize_variance: bool,
    /// MVN-6: where epsilon is added (MVN-2 always adds it inside the square root).
    pub eps_mode: MvnEpsMode,
    /// MVN-2: also reduce over the channel axis 1 when `reduction_axes` is empty.
    pub across_channels: bool,
    /// MVN-2: the axes reduced; empty means "derive from `across_channels`".
    pub reduction_axes: Vec<i64>,
}

impl Mvn {
    /// Default attributes of MVN-2 (`v6 = false`) or MVN-6.
    pub fn new(v6: bool) -> Mvn {
        Mvn {
            v6,
            eps: 1e-9,
            normalize_variance: true,
            eps_mode: MvnEpsMode::InsideSqrt,
            across_channels: false,
            reduction_axes: vec![],
        }
    }

    /// True for MVN-6 (which takes the axes as a second input).
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// True when epsilon is added to the variance under the square root.
    pub fn eps_inside_sqrt(&self) -> bool {
        !self.v6 || self.eps_mode == MvnEpsMode::InsideSqrt
    }

    /// The MVN-2 axes for a given rank.
    pub fn v2_axes(&self, rank: usize) -> Vec<i64> {
        if self.reduction_axes.is_empty() {
            let first = if self.across_channels { 1 } else { 2 };
            (first..rank as i64).collect()
        } else {
            self.reduction_axes.clone()
        }
    }

    /// Normalises `x` with the statistics of the groups the mask defines.
    fn normalize(&self, x: &[f64], shape: &[usize], mask: &[bool]) -> Vec<f64> {
        let (groups, n) = group_indices(shape, mask);
        let (mean, var) = group_moments(x, &groups, n);
        let denom: Vec<f64> = var
            .iter()
            .map(
                |&v| match (self.normalize_variance, self.eps_inside_sqrt()) {
                    (false, _) => 1.0,
                    (true, true) => (v + self.eps).sqrt(),
                    (true, false) => v.sqrt() + self.eps,
                },
            )
            .collect();
        x.iter()
            .zip(&groups)
            .map(|(&v, &g)| (v - mean[g]) / denom[g])
            .collect()
    }
}

impl Op for Mvn {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("MVN", if self.v6 { "opset6" } else { "opset2" })
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.v6 {
            crate::visit_attrs!(self, v; "eps" => eps, "normalize_variance" => normalize_variance, "eps_mode" => eps_mode)
        } else {
            crate::visit_attrs!(self, v; "eps" => eps, "across_channels" => across_channels,
                "normalize_variance" => normalize_variance, "reduction_axes" => reduction_axes)
        }
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1 + self.v6 as usize, 1 + self.v6 as usize)?;
        check_float(inputs[0].element_type, "data")?;
        match (self.v6, inputs[0].rank()) {
            (true, _) => {
                check_axes_desc(&inputs[1], &inputs[0].shape)?;
            }
            (false, Some(rank)) => {
                axes_mask(&self.v2_axes(rank), rank, "reduction_axes")?;
            }
            (false, None) => {}
        }
        Ok(same_as_data(inputs))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1 + self.v6 as usize, 1 + self.v6 as usize)?;
        let x = inputs[0];
        let mask = match inputs.get(1) {
            Some(axes) => axes_input_mask(axes, x.rank(), "MVN axes")?,
            None => axes_mask(&self.v2_axes(x.rank()), x.rank(), "MVN reduction_axes")?,
        };
        Ok(vec![map_f64(x, |v| {
            Ok(self.normalize(v, x.shape(), &mask))
        })?])
    }
}

/// NormalizeL2-1: divides by the L2 norm over the axes input.
#[derive(Debug, Clone)]
pub struct NormalizeL2 {
    /// Epsilon.
    pub eps: f64,
    /// `add`: `sqrt(sum + eps)`; `max`: `sqrt(max(sum, eps))`.
    pub eps_mode: EpsMode,
}

impl Op for NormalizeL2 {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("NormalizeL2", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "eps" => eps, "eps_mode" => eps_mode)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_float(inputs[0].element_type, "data")?;
        check_axes_desc(&inputs[1], &inputs[0].shape)?;
        Ok(same_as_data(inputs))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let x = inputs[0];
        let mask = axes_input_mask(inputs[1], x.rank(), "NormalizeL2 axes")?;
        let (groups, n) = group_indices(x.shape(), &mask);
        let out = map_f64(x, |v| {
            let mut sq = vec![0.0; n];
            for (&e, &g) in v.iter().zip(&groups) {
                sq[g] += e * e;
            }
            let norm = |s: f64| match self.eps_mode {
                EpsMode::Add => (s + self.eps).sqrt(),
                EpsMode::Max => s.max(self.eps).sqrt(),
            };
            Ok(v.iter()
                .zip(&groups)
                .map(|(&e, &g)| e / norm(sq[g]))
                .collect())
        })?;
        Ok(vec![out])
    }
}

/// Checks that a per-channel parameter is 1-D of length `c`.
fn check_channel_param(t: &Tensor, c: usize, what: &str) -> Result<()> {
    expect_shape(t, &[c], what)
}

/// The channel index (axis 1) of every element of a tensor of shape `shape`.
fn channel_of(shape: &[usize]) -> impl Fn(usize) -> usize {
    let (_, c, inner) = split_at_axis(shape, 1);
    move |i| (i / inner.max(1)) % c.max(1)
}

/// BatchNormInference-1 (inputs gamma, beta, data, mean, variance) and -5 (data, gamma, beta, mean, variance).
#[derive(Debug, Clone)]
pub struct BatchNormInference {
    v5: bool,
    /// Added to the variance.
    pub epsilon: f64,
}

impl BatchNormInference {
    /// The position of the data input among the five.
    pub fn data_index(&self) -> usize {
        if self.v5 { 0 } else { 2 }
    }

    /// The inputs reordered as (data, gamma, beta, mean, variance).
    pub fn ordered<'a, T>(&self, inputs: &'a [T]) -> [&'a T; 5] {
        let [a, b, c, d, e] = [&inputs[0], &inputs[1], &inputs[2], &inputs[3], &inputs[4]];
        if self.v5 {
            [a, b, c, d, e]
        } else {
            [c, a, b, d, e]
        }
    }
}

impl Op for BatchNormInference {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(
            "BatchNormInference",
            if self.v5 { "opset5" } else { "opset1" },
        )
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "epsilon" => epsilon)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 5, 5)?;
        let [data, params @ ..] = self.ordered(inputs);
        check_float(data.element_type, "data")?;
        if let Some(r) = data.rank()
            && r < 2
        {
            return Err(Error::Shape(format!(
                "data must have rank 2 or more, got {}",
                data.shape
            )));
        }
        let channels = data
            .shape
            .dims()
            .and_then(|d| d.get(1).copied())
            .unwrap_or_default();
        for (p, name) in params.iter().zip(["gamma", "beta", "mean", "variance"]) {
            check_float(p.element_type, name)?;
            let ok = match p.shape.dims() {
                Some([c]) => c.compatible(&channels),
                Some(_) => false,
                None => true,
            };
            crate::ensure!(
                ok,
                Shape,
                "{name} has shape {}, expected [{channels}]",
                p.shape
            );
        }
        Ok(vec![TensorDesc::new(data.element_type, data.shape.clone())])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 5, 5)?;
        let [x, gamma, beta, mean, var] = self.ordered(inputs).map(|t| *t);
        crate::ensure!(
            x.rank() >= 2,
            Shape,
            "data must have rank 2 or more, got {}",
            fmt_shape(x.shape())
        );
        let c = x.shape()[1];
        for (p, name) in [
            (gamma, "gamma"),
            (beta, "beta"),
            (mean, "mean"),
            (var, "variance"),
        ] {
            check_channel_param(p, c, name)?;
        }
        let [g, b, m, v] = [gamma, beta, mean, var].map(Tensor::to_f64_vec);
        let ch = channel_of(x.shape());
        let out = map_f64(x, |vals| {
            Ok(vals
                .iter()
                .enumerate()
                .map(|(i, &e)| {
                    let k = ch(i);
                    g[k] * (e - m[k]) / (v[k] + self.epsilon).sqrt() + b[k]
                })
                .collect())
        })?;
        Ok(vec![out])
    }
}

/// GroupNormalization-12: inputs data `[N, C, ...]`, scale `[C]`, bias `[C]`.
#[derive(Debug, Clone)]
pub struct GroupNormalization {
    /// Number of channel groups; must divide C.
    pub num_groups: i64,
    /// Added to the variance.
    pub epsilon: f64,
}

impl GroupNormalization {
    fn check_groups(&self, channels: Option<u64>) -> Result<()> {
        crate::ensure!(
            self.num_groups > 0,
            Shape,
            "num_groups must be positive, got {}",
            self.num_groups
        );
        if let Some(c) = channels {
            crate::ensure!(
                c % self.num_groups as u64 == 0,
                Shape,
                "the channel count {c} is not divisible by num_groups {}",
                self.num_groups
            );
        }
        Ok(())
    }
}

impl Op for GroupNormalization {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("GroupNormalization", "opset12")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "num_groups" => num_groups, "epsilon" => epsilon)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        for (d, name) in inputs.iter().zip(["data", "scale", "bias"]) {
            check_float(d.element_type, name)?;
        }
        let dims = inputs[0].shape.dims();
        crate::ensure!(
            dims.is_none_or(|d| d.len() >= 2),
            Shape,
            "data must have rank 2 or more, got {}",
            inputs[0].shape
        );
        let channels = dims.and_then(|d| d.get(1)).and_then(|c| c.get());
        self.check_groups(channels)?;
        for d in &inputs[1..] {
            let ok = d.shape.rank().is_none_or(|r| r == 1);
            crate::ensure!(ok, Shape, "scale and bias must be 1-D, got {}", d.shape);
        }
        Ok(same_as_data(inputs))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let x = inputs[0];
        crate::ensure!(
            x.rank() >= 2,
            Shape,
            "data must have rank 2 or more, got {}",
            fmt_shape(x.shape())
        );
        let c = x.shape()[1];
        self.check_groups(Some(c as u64))?;
        check_channel_param(inputs[1], c, "scale")?;
        check_channel_param(inputs[2], c, "bias")?;
        let (scale, bias) = (inputs[1].to_f64_vec(), inputs[2].to_f64_vec());
        // Each (n, group) block is contiguous: view the data as [N, G, rest] and normalise over the last axis.
        let groups = self.num_groups as usize;
        let grouped = [x.shape()[0], groups, num_elements(&x.shape()[1..]) / groups];
        let norm = Mvn {
            eps: self.epsilon,
            normalize_variance: true,
            ..Mvn::new(false)
        };
        let ch = channel_of(x.shape());
        let out = map_f64(x, |v| {
            let n = norm.normalize(v, &grouped, &[false, false, true]);
            Ok(n.iter()
                .enumerate()
                .map(|(i, &e)| e * scale[ch(i)] + bias[ch(i)])
                .collect())
        })?;
        Ok(vec![out])
    }
}

/// LRN-1: `x / (bias + alpha / size^len(axes) * sum(x^2 over the window))^beta`; the window spans
/// `(size - 1) / 2` elements on each side along every axis of the axes input (as OpenVINO computes it).
#[derive(Debug, Clone)]
pub struct Lrn {
    /// Scale of the sum of squares.
    pub alpha: f64,
    /// Exponent.
    pub beta: f64,
    /// Offset.
    pub bias: f64,
    /// Window size.
    pub size: i64,
}

impl Lrn {
    /// The sum of squares over the window around every element.
    fn window_sums(&self, x: &[f64], shape: &[usize], mask: &[bool]) -> Vec<f64> {
        let half = ((self.size - 1) / 2).max(0) as usize;
        let st = strides(shape);
        let mut out = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let idx = super::util::unravel(i, shape);
            // Window bounds per axis (a single position on axes not normalised over).
            let bounds: Vec<(usize, usize)> = idx
                .iter()
                .zip(shape)
                .zip(mask)
                .map(|((&p, &d), &m)| {
                    if m {
                        (p.saturating_sub(half), (p + half).min(d - 1))
                    } else {
                        (p, p)
                    }
                })
                .collect();
            let mut pos: Vec<usize> = bounds.iter().map(|b| b.0).collect();
            let mut sum = 0.0;
            'window: loop {
                let off: usize = pos.iter().zip(&st).map(|(p, s)| p * s).sum();
                sum += x[off] * x[off];
                for d in (0..pos.len()).rev() {
                    if pos[d] < bounds[d].1 {
                        pos[d] += 1;
                        continue 'window;
                    }
                    pos[d] = bounds[d].0;
                }
                break;
            }
            out.push(sum);
        }
        out
    }
}

impl Op for Lrn {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("LRN", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "alpha" => alpha, "beta" => beta, "bias" => bias, "size" => size)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        check_float(inputs[0].element_type, "data")?;
        crate::ensure!(
            self.size > 0,
            Shape,
            "size must be positive, got {}",
            self.size
        );
        check_axes_desc(&inputs[1], &inputs[0].shape)?;
        Ok(same_as_data(inputs))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        crate::ensure!(
            self.size > 0,
            Shape,
            "size must be positive, got {}",
            self.size
        );
        let x = inputs[0];
        let axes = inputs[1];
        let mask = axes_input_mask(axes, x.rank(), "LRN axes")?;
        let scale = self.alpha / (self.size as f64).powi(axes.len() as i32);
        let out = map_f64(x, |v| {
            let sums = self.window_sums(v, x.shape(), &mask);
            Ok(v.iter()
                .zip(sums)
                .map(|(&e, s)| e / (self.bias + scale * s).powf(self.beta))
                .collect())
        })?;
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape, v.to_vec()).unwrap()
    }

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    fn desc(shape: &str) -> TensorDesc {
        TensorDesc::new(ElementType::F32, PartialShape::parse_ir(shape).unwrap())
    }

    #[test]
    fn softmax_values_and_axes() {
        let x = t(&[2, 3], &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
        let sm = Softmax {
            axis: -1,
            v8: true,
            log: false,
        };
        let out = sm.evaluate(&[&x]).unwrap()[0].to_f64_vec();
        // numpy: softmax([1, 2, 3]) = [0.09003057, 0.24472847, 0.66524096]
        close(
            &out,
            &[
                0.09003057,
                0.24472847,
                0.66524096,
                1.0 / 3.0,
                1.0 / 3.0,
                1.0 / 3.0,
            ],
            1e-6,
        );
        let ls = Softmax {
            axis: 0,
            v8: true,
            log: true,
        };
        let out = ls.evaluate(&[&x]).unwrap()[0].to_f64_vec();
        close(&out[..1], &[1.0 - (1f64.exp() + 1.0).ln()], 1e-6);
        let v1 = Softmax {
            axis: -1,
            v8: false,
            log: false,
        };
        assert!(v1.infer(&[desc("2,3")]).is_err());
        assert!(sm.infer(&[desc("...")]).is_ok());
        assert!(
            Softmax {
                axis: 2,
                v8: true,
                log: false
            }
            .infer(&[desc("2,3")])
            .is_err()
        );
    }

    #[test]
    fn mvn_versions() {
        let x = t(
            &[1, 2, 3],
            &[
                0.5488135, 0.71518934, 0.60276335, 0.5448832, 0.4236548, 0.6458941,
            ],
        );
        // OpenVINO MVN-2 (across_channels false, eps 0.5): first values [-0.10336723, 0.13080157, -0.02743451].
        let v2 = Mvn {
            eps: 0.5,
            ..Mvn::new(false)
        };
        let out = v2.evaluate(&[&x]).unwrap()[0].to_f64_vec();
        close(&out[..3], &[-0.10336723, 0.13080157, -0.02743451], 1e-6);
        let v6 = Mvn {
            eps: 0.5,
            eps_mode: MvnEpsMode::OutsideSqrt,
            ..Mvn::new(true)
        };
        let out6 = v6.evaluate(&[&x, &i64s(&[-1])]).unwrap()[0].to_f64_vec();
        // outside_sqrt: (x - mean) / (std + eps)
        close(&out6[..1], &[-0.12900221], 1e-6);
        assert!(
            v6.infer(&[desc("1,2,3"), TensorDesc::of_tensor(&i64s(&[3]))])
                .is_err()
        );
        let across = Mvn {
            across_channels: true,
            normalize_variance: false,
            ..Mvn::new(false)
        };
        let centred = across.evaluate(&[&x]).unwrap()[0].to_f64_vec();
        assert!(centred.iter().sum::<f64>().abs() < 1e-6);
    }

    #[test]
    fn normalize_l2_modes() {
        let x = t(&[2, 2], &[3.0, 4.0, 0.0, 0.01]);
        let add = NormalizeL2 {
            eps: 1e-4,
            eps_mode: EpsMode::Add,
        };
        let out = add.evaluate(&[&x, &i64s(&[1])]).unwrap()[0].to_f64_vec();
        close(
            &out,
            &[
                3.0 / 25.0001f64.sqrt(),
                4.0 / 25.0001f64.sqrt(),
                0.0,
                0.01 / 2e-4f64.sqrt(),
            ],
            1e-6,
        );
        let max = NormalizeL2 {
            eps: 1.0,
            eps_mode: EpsMode::Max,
        };
        let out = max.evaluate(&[&x, &i64s(&[1])]).unwrap()[0].to_f64_vec();
        close(&out, &[0.6, 0.8, 0.0, 0.01], 1e-6);
        // Empty axes: every element is its own group (OpenVINO gives ~sign(x)).
        let out = add
            .evaluate(&[&x, &Tensor::from_vec::<i64>(&[0], vec![]).unwrap()])
            .unwrap()[0]
            .to_f64_vec();
        close(&out[..2], &[1.0, 1.0], 1e-4);
    }

    #[test]
    fn batch_norm_input_orders() {
        let x = t(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let [g, b, m, v] = [
            t(&[2], &[1.0, 2.0]),
            t(&[2], &[0.0, 1.0]),
            t(&[2], &[1.0, 3.0]),
            t(&[2], &[4.0, 1.0]),
        ];
        let want = [0.0, 0.5, 1.0, 3.0];
        let v5 = BatchNormInference {
            v5: true,
            epsilon: 0.0,
        };
        close(
            &v5.evaluate(&[&x, &g, &b, &m, &v]).unwrap()[0].to_f64_vec(),
            &want,
            1e-6,
        );
        let v1 = BatchNormInference {
            v5: false,
            epsilon: 0.0,
        };
        close(
            &v1.evaluate(&[&g, &b, &x, &m, &v]).unwrap()[0].to_f64_vec(),
            &want,
            1e-6,
        );
        let descs: Vec<TensorDesc> = [&g, &b, &x, &m, &v]
            .iter()
            .map(|t| TensorDesc::of_tensor(t))
            .collect();
        assert_eq!(v1.infer(&descs).unwrap()[0].shape.to_string(), "[1,2,2]");
        assert!(v5.infer(&descs).is_err());
        assert!(v5.evaluate(&[&x, &g, &b, &m, &t(&[3], &[1.0; 3])]).is_err());
    }

    #[test]
    fn group_norm_matches_numpy() {
        let x = t(&[1, 4, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]);
        let scale = t(&[4], &[1.0, 1.0, 2.0, 2.0]);
        let bias = t(&[4], &[0.0, 0.0, 1.0, 1.0]);
        let op = GroupNormalization {
            num_groups: 2,
            epsilon: 0.0,
        };
        let out = op.evaluate(&[&x, &scale, &bias]).unwrap()[0].to_f64_vec();
        let s = 1.25f64.sqrt();
        close(&out[..4], &[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], 1e-6);
        let bad = GroupNormalization {
            num_groups: 3,
            epsilon: 0.0,
        };
        assert!(bad.infer(&[desc("1,4,2"), desc("4"), desc("4")]).is_err());
        assert!(op.infer(&[desc("?,?,2"), desc("?"), desc("?")]).is_ok());
    }

    #[test]
    fn lrn_matches_openvino() {
        // OpenVINO CPU: LRN(size 4, alpha .5, beta .75, bias 2) across channels of [.1, .5, .9, 1.3, 1.7, 2.1].
        let x = t(&[1, 6, 1, 1], &[0.1, 0.5, 0.9, 1.3, 1.7, 2.1]);
        let op = Lrn {
            alpha: 0.5,
            beta: 0.75,
            bias: 2.0,
            size: 4,
        };
        let out = op.evaluate(&[&x, &i64s(&[1])]).unwrap()[0].to_f64_vec();
        close(
            &out,
            &[
                0.05874583, 0.28321245, 0.47512627, 0.62173134, 0.7235054, 0.94193256,
            ],
            1e-6,
        );
        assert!(
            op.infer(&[desc("1,6,1,1"), TensorDesc::of_tensor(&i64s(&[4]))])
                .is_err()
        );
    }
}
