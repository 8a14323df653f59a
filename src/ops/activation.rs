//! Activation ops with attributes or extra inputs: Clamp, Elu, Gelu, Round, Swish, Selu, HardSigmoid, PRelu, IsInf.

use super::elementwise::{AutoBroadcast, map_f64, map_same, unary_infer, zip_f64};
use super::registry::Registry;
use super::util::{check_input_count, check_type, scalar_f64};
use super::{Op, TensorDesc, TypeInfo};
use crate::attr_enum;
use crate::error::{Error, Result};
use crate::ir::{AttributeVisitor, ElementType, Tensor};

/// Registers the activation ops.
pub fn register(r: &mut Registry) {
    r.add("Clamp", 1, || Box::new(Clamp { min: 0.0, max: 0.0 }));
    r.add("Elu", 1, || Box::new(Elu { alpha: 1.0 }));
    r.add("Gelu", 2, || {
        Box::new(Gelu {
            v7: false,
            approximation_mode: GeluApproximation::Erf,
        })
    });
    r.add("Gelu", 7, || {
        Box::new(Gelu {
            v7: true,
            approximation_mode: GeluApproximation::Erf,
        })
    });
    r.add("Round", 5, || {
        Box::new(Round {
            mode: RoundMode::HalfToEven,
        })
    });
    r.add("Swish", 4, || Box::new(Swish));
    r.add("Selu", 1, || Box::new(selu()));
    r.add("HardSigmoid", 1, || Box::new(hard_sigmoid()));
    r.add("PRelu", 1, || Box::new(PRelu));
    r.add("IsInf", 10, || {
        Box::new(IsInf {
            detect_negative: true,
            detect_positive: true,
        })
    });
}

fn float_input(inputs: &[TensorDesc], n: usize) -> Result<()> {
    check_input_count(inputs, n, n)?;
    check_type(
        inputs[0].element_type,
        ElementType::is_real,
        "a floating-point type",
        "input 0",
    )
}

/// Clamps every value to `[min, max]`.
#[derive(Debug, Clone)]
pub struct Clamp {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

impl Op for Clamp {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Clamp", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "min" => min, "max" => max)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        if self.min > self.max {
            return Err(Error::InvalidArgument(format!(
                "Clamp min {} is greater than max {}",
                self.min, self.max
            )));
        }
        unary_infer(inputs, None)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let (lo, hi) = if inputs[0].element_type().is_integral() {
            // Integer inputs clamp to the bounds rounded inward, as OpenVINO does.
            (self.min.ceil(), self.max.floor())
        } else {
            (self.min, self.max)
        };
        Ok(vec![map_same(inputs[0], |x| x.clamp(lo, hi))?])
    }
}

/// Exponential linear unit.
#[derive(Debug, Clone)]
pub struct Elu {
    /// Scale of the negative part.
    pub alpha: f64,
}

impl Op for Elu {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Elu", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "alpha" => alpha)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        unary_infer(inputs, None)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let a = self.alpha;
        Ok(vec![map_same(inputs[0], |x| {
            if x >= 0.0 { x } else { a * (x.exp() - 1.0) }
        })?])
    }
}

attr_enum!(
    /// How Gelu is computed.
    GeluApproximation {
        /// Exact, with erf.
        Erf => "ERF",
        /// The tanh approximation.
        Tanh => "TANH",
    }
);

/// Gaussian error linear unit (v2: erf only; v7: erf or tanh).
#[derive(Debug, Clone)]
pub struct Gelu {
    v7: bool,
    /// Exact or tanh-approximated.
    pub approximation_mode: GeluApproximation,
}

/// Gelu of one value.
pub fn gelu(x: f64, mode: GeluApproximation) -> f64 {
    match mode {
        GeluApproximation::Erf => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        GeluApproximation::Tanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
    }
}

impl Op for Gelu {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Gelu", if self.v7 { "opset7" } else { "opset2" })
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.v7 {
            v.on("approximation_mode", &mut self.approximation_mode)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        float_input(inputs, 1)?;
        unary_infer(inputs, None)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let m = self.approximation_mode;
        Ok(vec![map_same(inputs[0], |x| gelu(x, m))?])
    }
}

attr_enum!(
    /// How Round breaks ties.
    RoundMode {
        /// To the nearest even integer.
        HalfToEven => "half_to_even",
        /// Away from zero.
        HalfAwayFromZero => "half_away_from_zero",
    }
);

/// Rounds to the nearest integer.
#[derive(Debug, Clone)]
pub struct Round {
    /// Tie-breaking rule.
    pub mode: RoundMode,
}

impl Op for Round {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Round", "opset5")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "mode" => mode)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        unary_infer(inputs, None)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let f = match self.mode {
            RoundMode::HalfToEven => f64::round_ties_even,
            RoundMode::HalfAwayFromZero => f64::round,
        };
        Ok(vec![map_same(inputs[0], f)?])
    }
}

/// `x * sigmoid(beta * x)`, beta an optional scalar input (default 1).
#[derive(Debug, Clone)]
pub struct Swish;

impl Op for Swish {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Swish", "opset4")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 2)?;
        check_type(
            inputs[0].element_type,
            ElementType::is_real,
            "a floating-point type",
            "input 0",
        )?;
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            inputs[0].shape.clone(),
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 2)?;
        let beta = match inputs.get(1) {
            Some(b) => scalar_f64(b, "Swish beta")?,
            None => 1.0,
        };
        Ok(vec![map_same(inputs[0], |x| {
            x / (1.0 + (-beta * x).exp())
        })?])
    }
}

/// An activation whose two parameters arrive as scalar inputs: Selu (alpha, lambda) and HardSigmoid (alpha, beta).
#[derive(Debug, Clone)]
pub struct ScalarParamActivation {
    /// Class name.
    pub name: &'static str,
    /// Names of inputs 1 and 2, for messages.
    pub params: [&'static str; 2],
    /// `f(x, p1, p2)`.
    pub f: fn(f64, f64, f64) -> f64,
}

/// Selu: `lambda * (x > 0 ? x : alpha * (exp(x) - 1))`.
fn selu() -> ScalarParamActivation {
    ScalarParamActivation {
        name: "Selu",
        params: ["alpha", "lambda"],
        f: |x, alpha, lambda| lambda * if x > 0.0 { x } else { alpha * (x.exp() - 1.0) },
    }
}

/// HardSigmoid: `max(0, min(1, alpha * x + beta))`.
fn hard_sigmoid() -> ScalarParamActivation {
    ScalarParamActivation {
        name: "HardSigmoid",
        params: ["alpha", "beta"],
        f: |x, alpha, beta| (alpha * x + beta).clamp(0.0, 1.0),
    }
}

impl Op for ScalarParamActivation {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(self.name, "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        float_input(inputs, 3)?;
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            inputs[0].shape.clone(),
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let p1 = scalar_f64(inputs[1], &format!("{} {}", self.name, self.params[0]))?;
        let p2 = scalar_f64(inputs[2], &format!("{} {}", self.name, self.params[1]))?;
        let f = self.f;
        Ok(vec![map_same(inputs[0], |x| f(x, p1, p2))?])
    }
}

/// Leaky ReLU with a learned slope; a 1-D slope matches the channel axis (axis 1) when its length allows.
#[derive(Debug, Clone)]
pub struct PRelu;

/// Reshapes a 1-D slope of length C to `[C, 1, ...]` so it broadcasts along axis 1 of a rank-`rank` input.
fn slope_for_channels(slope: &Tensor, data_shape: &[usize]) -> Result<Tensor> {
    let rank = data_shape.len();
    if slope.rank() == 1 && rank >= 2 && data_shape[1] == slope.len() {
        let mut s = vec![1usize; rank - 1];
        s[0] = slope.len();
        return slope.reshaped(&s);
    }
    Ok(slope.clone())
}

impl Op for PRelu {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("PRelu", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            inputs[0].shape.clone(),
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let slope = slope_for_channels(inputs[1], inputs[0].shape())?;
        let out = zip_f64(
            inputs[0],
            &slope,
            AutoBroadcast::Numpy,
            inputs[0].element_type(),
            |x, s| {
                if x < 0.0 { x * s } else { x }
            },
        )?;
        if out.shape() != inputs[0].shape() {
            return Err(Error::Shape(format!(
                "slope of shape {:?} does not broadcast to data shape {:?}",
                inputs[1].shape(),
                inputs[0].shape()
            )));
        }
        Ok(vec![out])
    }
}

/// Detects infinities (positive, negative or both).
#[derive(Debug, Clone)]
pub struct IsInf {
    /// Report negative infinity.
    pub detect_negative: bool,
    /// Report positive infinity.
    pub detect_positive: bool,
}

impl Op for IsInf {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("IsInf", "opset10")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "detect_negative" => detect_negative, "detect_positive" => detect_positive)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        float_input(inputs, 1)?;
        unary_infer(inputs, Some(ElementType::Boolean))
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let (n, p) = (self.detect_negative, self.detect_positive);
        let f = |x: f64| ((x == f64::INFINITY && p) || (x == f64::NEG_INFINITY && n)) as u8 as f64;
        Ok(vec![map_f64(inputs[0], ElementType::Boolean, f)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::create;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }

    #[test]
    fn gelu_modes() {
        assert!((gelu(1.0, GeluApproximation::Erf) - 0.841_344_746).abs() < 1e-8);
        assert!((gelu(1.0, GeluApproximation::Tanh) - 0.841_191_990).abs() < 1e-6);
    }

    #[test]
    fn round_modes() {
        let x = t(&[0.5, 1.5, -2.5]);
        let r = Round {
            mode: RoundMode::HalfToEven,
        }
        .evaluate(&[&x])
        .unwrap();
        assert_eq!(r[0].to_f64_vec(), vec![0.0, 2.0, -2.0]);
        let r = Round {
            mode: RoundMode::HalfAwayFromZero,
        }
        .evaluate(&[&x])
        .unwrap();
        assert_eq!(r[0].to_f64_vec(), vec![1.0, 2.0, -3.0]);
    }

    #[test]
    fn prelu_channel_slope() {
        let x = Tensor::from_vec(&[1, 2, 2], vec![-1.0f32, 1.0, -2.0, 2.0]).unwrap();
        let s = t(&[0.1, 0.5]);
        let r = PRelu.evaluate(&[&x, &s]).unwrap();
        let v = r[0].to_f64_vec();
        assert!((v[0] + 0.1).abs() < 1e-6 && (v[2] + 1.0).abs() < 1e-6 && v[3] == 2.0);
    }

    #[test]
    fn scalar_parameter_activations() {
        let x = t(&[-1.0, 2.0]);
        let (a, b) = (Tensor::scalar(0.5f32), Tensor::scalar(0.25f32));
        let h = create("HardSigmoid", 1)
            .unwrap()
            .evaluate(&[&x, &a, &b])
            .unwrap();
        assert_eq!(h[0].to_f64_vec(), vec![0.0, 1.0]);
        let s = create("Selu", 1).unwrap().evaluate(&[&x, &a, &b]).unwrap()[0].to_f64_vec();
        assert!(
            (s[0] - 0.25 * 0.5 * ((-1f64).exp() - 1.0)).abs() < 1e-6 && (s[1] - 0.5).abs() < 1e-6
        );
    }

    #[test]
    fn clamp_rejects_inverted_bounds() {
        let op = Clamp { min: 2.0, max: 1.0 };
        let d = TensorDesc::new(ElementType::F32, crate::ir::PartialShape::from_static(&[1]));
        assert!(op.infer(&[d]).is_err());
        assert!(create("Swish", 4).unwrap().evaluate(&[&t(&[0.0])]).is_ok());
    }
}
