//! Unary elementwise ops without attributes, declared as rows: (name, opset, scalar function, domain).

use super::elementwise::{map_f64, map_same, unary_infer};
use super::registry::Registry;
use super::util::{check_input_count, check_type};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::Result;
use crate::ir::{AttributeVisitor, ElementType, Tensor};

/// Which element types a unary op accepts and what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Any numeric type; output of the same type.
    Numeric,
    /// Floating-point only; output of the same type.
    Float,
    /// Floating-point input, boolean output (IsNaN, IsFinite).
    FloatToBool,
    /// Boolean only (LogicalNot).
    Boolean,
    /// Integer or boolean bit patterns (BitwiseNot).
    Bits,
}

/// One unary op: its name, the opset it appeared in, its scalar function and its domain.
#[derive(Debug)]
pub struct UnaryRow {
    /// Class name.
    pub name: &'static str,
    /// Opset of introduction (as `opsetN`).
    pub version: &'static str,
    /// The scalar function, evaluated in f64.
    pub f: fn(f64) -> f64,
    /// Accepted types.
    pub domain: Domain,
    /// The GPU's WGSL expression of the function on an f32 `x` (`fv_` helpers come from the GPU's elementwise shader); None: no GPU kernel.
    pub wgsl: Option<&'static str>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus(x: f64) -> f64 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Every attribute-free unary op.
pub static UNARY_ROWS: &[UnaryRow] = &[
    UnaryRow {
        name: "Abs",
        version: "opset1",
        f: f64::abs,
        domain: Domain::Numeric,
        wgsl: Some("abs(x)"),
    },
    UnaryRow {
        name: "Acos",
        version: "opset1",
        f: f64::acos,
        domain: Domain::Numeric,
        wgsl: Some("acos(x)"),
    },
    UnaryRow {
        name: "Acosh",
        version: "opset4",
        f: f64::acosh,
        domain: Domain::Numeric,
        wgsl: Some("acosh(x)"),
    },
    UnaryRow {
        name: "Asin",
        version: "opset1",
        f: f64::asin,
        domain: Domain::Numeric,
        wgsl: Some("asin(x)"),
    },
    UnaryRow {
        name: "Asinh",
        version: "opset4",
        f: f64::asinh,
        domain: Domain::Numeric,
        wgsl: Some("asinh(x)"),
    },
    UnaryRow {
        name: "Atan",
        version: "opset1",
        f: f64::atan,
        domain: Domain::Numeric,
        wgsl: Some("atan(x)"),
    },
    UnaryRow {
        name: "Atanh",
        version: "opset4",
        f: f64::atanh,
        domain: Domain::Numeric,
        wgsl: Some("atanh(x)"),
    },
    UnaryRow {
        name: "Ceiling",
        version: "opset1",
        f: f64::ceil,
        domain: Domain::Numeric,
        wgsl: Some("ceil(x)"),
    },
    UnaryRow {
        name: "Cos",
        version: "opset1",
        f: f64::cos,
        domain: Domain::Numeric,
        wgsl: Some("cos(x)"),
    },
    UnaryRow {
        name: "Cosh",
        version: "opset1",
        f: f64::cosh,
        domain: Domain::Numeric,
        wgsl: Some("cosh(x)"),
    },
    UnaryRow {
        name: "Erf",
        version: "opset1",
        f: libm::erf,
        domain: Domain::Numeric,
        wgsl: Some("fv_erf(x)"),
    },
    UnaryRow {
        name: "Exp",
        version: "opset1",
        f: f64::exp,
        domain: Domain::Numeric,
        wgsl: Some("exp(x)"),
    },
    UnaryRow {
        name: "Floor",
        version: "opset1",
        f: f64::floor,
        domain: Domain::Numeric,
        wgsl: Some("floor(x)"),
    },
    UnaryRow {
        name: "Log",
        version: "opset1",
        f: f64::ln,
        domain: Domain::Numeric,
        wgsl: Some("log(x)"),
    },
    UnaryRow {
        name: "Negative",
        version: "opset1",
        f: |x| -x,
        domain: Domain::Numeric,
        wgsl: Some("-x"),
    },
    UnaryRow {
        name: "Relu",
        version: "opset1",
        f: |x| x.max(0.0),
        domain: Domain::Numeric,
        wgsl: Some("max(x, 0.0)"),
    },
    UnaryRow {
        name: "Sigmoid",
        version: "opset1",
        f: sigmoid,
        domain: Domain::Numeric,
        wgsl: Some("fv_sigmoid(x)"),
    },
    UnaryRow {
        name: "Sign",
        version: "opset1",
        f: sign,
        domain: Domain::Numeric,
        wgsl: Some("sign(x)"),
    },
    UnaryRow {
        name: "Sin",
        version: "opset1",
        f: f64::sin,
        domain: Domain::Numeric,
        wgsl: Some("sin(x)"),
    },
    UnaryRow {
        name: "Sinh",
        version: "opset1",
        f: f64::sinh,
        domain: Domain::Numeric,
        wgsl: Some("sinh(x)"),
    },
    UnaryRow {
        name: "Sqrt",
        version: "opset1",
        f: f64::sqrt,
        domain: Domain::Numeric,
        wgsl: Some("sqrt(x)"),
    },
    UnaryRow {
        name: "Tan",
        version: "opset1",
        f: f64::tan,
        domain: Domain::Numeric,
        wgsl: Some("tan(x)"),
    },
    UnaryRow {
        name: "Tanh",
        version: "opset1",
        f: f64::tanh,
        domain: Domain::Numeric,
        wgsl: Some("fv_tanh(x)"),
    },
    UnaryRow {
        name: "SoftSign",
        version: "opset9",
        f: |x| x / (1.0 + x.abs()),
        domain: Domain::Float,
        wgsl: Some("x / (1.0 + abs(x))"),
    },
    UnaryRow {
        name: "SoftPlus",
        version: "opset4",
        f: softplus,
        domain: Domain::Float,
        wgsl: Some("fv_softplus(x)"),
    },
    UnaryRow {
        name: "Mish",
        version: "opset4",
        f: |x| x * softplus(x).tanh(),
        domain: Domain::Float,
        wgsl: Some("x * fv_tanh(fv_softplus(x))"),
    },
    UnaryRow {
        name: "HSwish",
        version: "opset4",
        f: |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        domain: Domain::Float,
        wgsl: Some("x * clamp(x + 3.0, 0.0, 6.0) / 6.0"),
    },
    UnaryRow {
        name: "HSigmoid",
        version: "opset5",
        f: |x| (x + 3.0).clamp(0.0, 6.0) / 6.0,
        domain: Domain::Float,
        wgsl: Some("clamp(x + 3.0, 0.0, 6.0) / 6.0"),
    },
    UnaryRow {
        name: "IsFinite",
        version: "opset10",
        f: |x| bool_f(x.is_finite()),
        domain: Domain::FloatToBool,
        wgsl: None,
    },
    UnaryRow {
        name: "IsNaN",
        version: "opset10",
        f: |x| bool_f(x.is_nan()),
        domain: Domain::FloatToBool,
        wgsl: None,
    },
    UnaryRow {
        name: "LogicalNot",
        version: "opset1",
        f: |x| bool_f(x == 0.0),
        domain: Domain::Boolean,
        wgsl: None,
    },
    UnaryRow {
        name: "BitwiseNot",
        version: "opset13",
        f: |x| x,
        domain: Domain::Bits,
        wgsl: None,
    },
];

/// Registers every row.
pub fn register(r: &mut Registry) {
    for row in UNARY_ROWS {
        let since = super::registry::opset_number(row.version).unwrap_or(1);
        r.add(row.name, since, move || Box::new(Unary { row }));
    }
}

/// An attribute-free unary elementwise op defined by a row.
#[derive(Debug, Clone)]
pub struct Unary {
    /// The row defining the op.
    pub row: &'static UnaryRow,
}

fn domain_check(d: Domain, t: ElementType) -> Result<()> {
    match d {
        Domain::Numeric => check_type(
            t,
            |t| t != ElementType::Boolean,
            "a numeric type",
            "input 0",
        ),
        Domain::Float | Domain::FloatToBool => {
            check_type(t, ElementType::is_real, "a floating-point type", "input 0")
        }
        Domain::Boolean => check_type(t, |t| t == ElementType::Boolean, "boolean", "input 0"),
        Domain::Bits => check_type(
            t,
            ElementType::is_integral,
            "an integer or boolean type",
            "input 0",
        ),
    }
}

/// Flips every bit of an integer tensor (logical not for booleans).
fn bitwise_not(x: &Tensor) -> Result<Tensor> {
    if x.element_type() == ElementType::Boolean {
        return map_f64(x, ElementType::Boolean, |v| bool_f(v == 0.0));
    }
    let v: Vec<i64> = x.to_i64_vec().into_iter().map(|v| !v).collect();
    Tensor::from_i64s(x.element_type(), x.shape(), &v)
}

impl Op for Unary {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(self.row.name, self.row.version)
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        domain_check(self.row.domain, inputs[0].element_type)?;
        let out = (self.row.domain == Domain::FloatToBool).then_some(ElementType::Boolean);
        unary_infer(inputs, out)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        let x = inputs[0];
        domain_check(self.row.domain, x.element_type())?;
        let y = match self.row.domain {
            Domain::FloatToBool => map_f64(x, ElementType::Boolean, self.row.f)?,
            Domain::Bits => bitwise_not(x)?,
            _ if x.element_type().is_integral() => {
                // Integer inputs: compute in f64 and round to nearest, as OpenVINO's reference does.
                let f = self.row.f;
                map_same(x, |v| f(v).round())?
            }
            _ => map_same(x, self.row.f)?,
        };
        Ok(vec![y])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::create;

    fn run(name: &str, xs: &[f32]) -> Vec<f64> {
        let op = create(name, 16).unwrap();
        let x = Tensor::from_vec(&[xs.len()], xs.to_vec()).unwrap();
        op.evaluate(&[&x]).unwrap()[0].to_f64_vec()
    }

    #[test]
    fn values() {
        assert_eq!(run("Relu", &[-1.0, 2.0]), vec![0.0, 2.0]);
        assert_eq!(run("Abs", &[-1.5]), vec![1.5]);
        assert!((run("Erf", &[0.5])[0] - 0.520_499_877_8).abs() < 1e-6);
        assert!((run("Sigmoid", &[0.0])[0] - 0.5).abs() < 1e-7);
        assert!((run("HSwish", &[1.0])[0] - 1.0 * 4.0 / 6.0).abs() < 1e-6);
        assert_eq!(run("IsNaN", &[f32::NAN, 1.0]), vec![1.0, 0.0]);
    }

    #[test]
    fn domains() {
        let op = create("SoftPlus", 16).unwrap();
        let d = TensorDesc::new(ElementType::I32, crate::ir::PartialShape::from_static(&[2]));
        assert!(op.infer(&[d]).is_err());
        let n = create("LogicalNot", 1).unwrap();
        let b = Tensor::from_f64s(ElementType::Boolean, &[2], &[1.0, 0.0]).unwrap();
        assert_eq!(n.evaluate(&[&b]).unwrap()[0].to_f64_vec(), vec![0.0, 1.0]);
    }
}
