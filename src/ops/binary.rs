//! Binary elementwise ops with broadcasting, declared as rows: (name, opset, float function, integer function,
//! domain).

use super::elementwise::{AutoBroadcast, broadcast_all, zip_f64, zip_i64};
use super::registry::Registry;
use super::util::{check_input_count, check_type, merge_types};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::{AttributeVisitor, ElementType, Tensor};

/// Which element types a binary op accepts and what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// Arithmetic: numeric inputs, output of the same type.
    Arithmetic,
    /// Comparison: any inputs of one type, boolean output.
    Compare,
    /// Logical: boolean inputs and output.
    Logical,
    /// Bitwise: integer or boolean inputs, output of the same type.
    Bitwise,
}

/// One binary op.
#[derive(Debug)]
pub struct BinaryRow {
    /// Class name.
    pub name: &'static str,
    /// Opset of introduction (`opsetN`).
    pub version: &'static str,
    /// The function on real values.
    pub f: fn(f64, f64) -> f64,
    /// The function on integer values (`None`: compute through `f`).
    pub i: Option<fn(i64, i64) -> Result<i64>>,
    /// Accepted types and output type.
    pub kind: BinaryKind,
    /// The GPU's WGSL expression of the function on f32 `a` and `b` (`fv_` helpers come from the GPU's elementwise shader); None: no GPU kernel.
    pub wgsl: Option<&'static str>,
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

fn int_div(a: i64, d: i64) -> Result<i64> {
    if d == 0 {
        return Err(Error::InvalidArgument("integer division by zero".into()));
    }
    Ok(a.wrapping_div(d))
}

fn int_floor_div(a: i64, d: i64) -> Result<i64> {
    if d == 0 {
        return Err(Error::InvalidArgument("integer division by zero".into()));
    }
    let q = a.wrapping_div(d);
    Ok(if (a % d != 0) && ((a < 0) != (d < 0)) {
        q - 1
    } else {
        q
    })
}

fn int_floor_mod(a: i64, d: i64) -> Result<i64> {
    if d == 0 {
        return Err(Error::InvalidArgument("integer modulo by zero".into()));
    }
    let r = a.wrapping_rem(d);
    Ok(if r != 0 && ((r < 0) != (d < 0)) {
        r + d
    } else {
        r
    })
}

fn int_mod(a: i64, d: i64) -> Result<i64> {
    if d == 0 {
        return Err(Error::InvalidArgument("integer modulo by zero".into()));
    }
    Ok(a.wrapping_rem(d))
}

fn int_pow(a: i64, e: i64) -> Result<i64> {
    Ok(if e < 0 {
        (a as f64).powf(e as f64) as i64
    } else {
        a.wrapping_pow(e.min(u32::MAX as i64) as u32)
    })
}

fn floor_mod(a: f64, d: f64) -> f64 {
    let r = a % d;
    if r != 0.0 && ((r < 0.0) != (d < 0.0)) {
        r + d
    } else {
        r
    }
}

fn shift_left(a: i64, s: i64) -> Result<i64> {
    Ok(if (0..64).contains(&s) {
        a.wrapping_shl(s as u32)
    } else {
        0
    })
}

fn shift_right(a: i64, s: i64) -> Result<i64> {
    Ok(if (0..64).contains(&s) {
        a.wrapping_shr(s as u32)
    } else if a < 0 {
        -1
    } else {
        0
    })
}

/// Every binary elementwise op except Divide (which has an attribute of its own).
pub static BINARY_ROWS: &[BinaryRow] = &[
    BinaryRow {
        name: "Add",
        version: "opset1",
        f: |a, c| a + c,
        i: Some(|a, c| Ok(a.wrapping_add(c))),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("a + b"),
    },
    BinaryRow {
        name: "Subtract",
        version: "opset1",
        f: |a, c| a - c,
        i: Some(|a, c| Ok(a.wrapping_sub(c))),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("a - b"),
    },
    BinaryRow {
        name: "Multiply",
        version: "opset1",
        f: |a, c| a * c,
        i: Some(|a, c| Ok(a.wrapping_mul(c))),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("a * b"),
    },
    BinaryRow {
        name: "Power",
        version: "opset1",
        f: f64::powf,
        i: Some(int_pow),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("fv_pow(a, b)"),
    },
    BinaryRow {
        name: "Maximum",
        version: "opset1",
        f: f64::max,
        i: Some(|a, c| Ok(a.max(c))),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("max(a, b)"),
    },
    BinaryRow {
        name: "Minimum",
        version: "opset1",
        f: f64::min,
        i: Some(|a, c| Ok(a.min(c))),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("min(a, b)"),
    },
    BinaryRow {
        name: "SquaredDifference",
        version: "opset1",
        f: |a, c| (a - c) * (a - c),
        i: Some(|a, c| Ok(a.wrapping_sub(c).wrapping_mul(a.wrapping_sub(c)))),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("(a - b) * (a - b)"),
    },
    BinaryRow {
        name: "FloorMod",
        version: "opset1",
        f: floor_mod,
        i: Some(int_floor_mod),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("fv_floor_mod(a, b)"),
    },
    BinaryRow {
        name: "Mod",
        version: "opset1",
        f: |a, c| a % c,
        i: Some(int_mod),
        kind: BinaryKind::Arithmetic,
        wgsl: Some("fv_fmod(a, b)"),
    },
    BinaryRow {
        name: "Equal",
        version: "opset1",
        f: |a, c| b(a == c),
        i: None,
        kind: BinaryKind::Compare,
        wgsl: None,
    },
    BinaryRow {
        name: "NotEqual",
        version: "opset1",
        f: |a, c| b(a != c),
        i: None,
        kind: BinaryKind::Compare,
        wgsl: None,
    },
    BinaryRow {
        name: "Greater",
        version: "opset1",
        f: |a, c| b(a > c),
        i: None,
        kind: BinaryKind::Compare,
        wgsl: None,
    },
    BinaryRow {
        name: "GreaterEqual",
        version: "opset1",
        f: |a, c| b(a >= c),
        i: None,
        kind: BinaryKind::Compare,
        wgsl: None,
    },
    BinaryRow {
        name: "Less",
        version: "opset1",
        f: |a, c| b(a < c),
        i: None,
        kind: BinaryKind::Compare,
        wgsl: None,
    },
    BinaryRow {
        name: "LessEqual",
        version: "opset1",
        f: |a, c| b(a <= c),
        i: None,
        kind: BinaryKind::Compare,
        wgsl: None,
    },
    BinaryRow {
        name: "LogicalAnd",
        version: "opset1",
        f: |a, c| b(a != 0.0 && c != 0.0),
        i: None,
        kind: BinaryKind::Logical,
        wgsl: None,
    },
    BinaryRow {
        name: "LogicalOr",
        version: "opset1",
        f: |a, c| b(a != 0.0 || c != 0.0),
        i: None,
        kind: BinaryKind::Logical,
        wgsl: None,
    },
    BinaryRow {
        name: "LogicalXor",
        version: "opset2",
        f: |a, c| b((a != 0.0) != (c != 0.0)),
        i: None,
        kind: BinaryKind::Logical,
        wgsl: None,
    },
    BinaryRow {
        name: "BitwiseAnd",
        version: "opset13",
        f: |a, c| a.min(c),
        i: Some(|a, c| Ok(a & c)),
        kind: BinaryKind::Bitwise,
        wgsl: None,
    },
    BinaryRow {
        name: "BitwiseOr",
        version: "opset13",
        f: |a, c| a.max(c),
        i: Some(|a, c| Ok(a | c)),
        kind: BinaryKind::Bitwise,
        wgsl: None,
    },
    BinaryRow {
        name: "BitwiseXor",
        version: "opset13",
        f: |a, c| b(a != c),
        i: Some(|a, c| Ok(a ^ c)),
        kind: BinaryKind::Bitwise,
        wgsl: None,
    },
    BinaryRow {
        name: "BitwiseLeftShift",
        version: "opset15",
        f: |a, _| a,
        i: Some(shift_left),
        kind: BinaryKind::Bitwise,
        wgsl: None,
    },
    BinaryRow {
        name: "BitwiseRightShift",
        version: "opset15",
        f: |a, _| a,
        i: Some(shift_right),
        kind: BinaryKind::Bitwise,
        wgsl: None,
    },
];

/// The row of Divide (its integer function depends on `m_pythondiv`).
static DIVIDE: BinaryRow = BinaryRow {
    name: "Divide",
    version: "opset1",
    f: |a, c| a / c,
    i: Some(int_floor_div),
    kind: BinaryKind::Arithmetic,
    wgsl: Some("a / b"),
};

/// Registers every row and Divide.
pub fn register(r: &mut Registry) {
    for row in BINARY_ROWS {
        let since = super::registry::opset_number(row.version).unwrap_or(1);
        r.add(row.name, since, move || Box::new(Binary::new(row)));
    }
    r.add("Divide", 1, || {
        Box::new(Binary {
            pythondiv: true,
            ..Binary::new(&DIVIDE)
        })
    });
}

/// A binary elementwise op defined by a row.
#[derive(Debug, Clone)]
pub struct Binary {
    /// The row defining the op.
    pub row: &'static BinaryRow,
    /// How inputs broadcast.
    pub auto_broadcast: AutoBroadcast,
    /// Divide only: floor division for integers (Python semantics) instead of truncation.
    pub pythondiv: bool,
}

impl Binary {
    /// The op of `row` with numpy broadcasting.
    pub fn new(row: &'static BinaryRow) -> Binary {
        Binary {
            row,
            auto_broadcast: AutoBroadcast::Numpy,
            pythondiv: false,
        }
    }

    /// True for Divide.
    fn is_divide(&self) -> bool {
        self.row.name == "Divide"
    }

    fn output_type(&self, t: ElementType) -> ElementType {
        match self.row.kind {
            BinaryKind::Compare | BinaryKind::Logical => ElementType::Boolean,
            _ => t,
        }
    }

    fn check(&self, t: ElementType) -> Result<()> {
        match self.row.kind {
            BinaryKind::Arithmetic => {
                check_type(t, |t| t != ElementType::Boolean, "a numeric type", "inputs")
            }
            BinaryKind::Compare => Ok(()),
            BinaryKind::Logical => {
                check_type(t, |t| t == ElementType::Boolean, "boolean", "inputs")
            }
            BinaryKind::Bitwise => check_type(
                t,
                ElementType::is_integral,
                "an integer or boolean type",
                "inputs",
            ),
        }
    }
}

impl Op for Binary {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new(self.row.name, self.row.version)
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        v.on("auto_broadcast", &mut self.auto_broadcast)?;
        if self.is_divide() {
            v.on("m_pythondiv", &mut self.pythondiv)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let t = merge_types(
            inputs[0].element_type,
            inputs[1].element_type,
            "inputs 0 and 1",
        )?;
        self.check(t)?;
        let shape = broadcast_all(self.auto_broadcast, &[&inputs[0].shape, &inputs[1].shape])?;
        Ok(vec![TensorDesc::new(self.output_type(t), shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let (x, y) = (inputs[0], inputs[1]);
        let t = merge_types(x.element_type(), y.element_type(), "inputs 0 and 1")?;
        self.check(t)?;
        let out_t = self.output_type(t);
        let int_fn = match (self.is_divide(), self.pythondiv) {
            (true, false) => Some(int_div as fn(i64, i64) -> Result<i64>),
            _ => self.row.i,
        };
        let r = match int_fn {
            Some(fi)
                if t.is_integral_number()
                    || (t == ElementType::Boolean && self.row.kind == BinaryKind::Bitwise) =>
            {
                zip_i64(x, y, self.auto_broadcast, out_t, fi)?
            }
            _ if t.is_integral_number() && self.row.kind == BinaryKind::Compare => {
                zip_i64(x, y, self.auto_broadcast, out_t, |a, c| {
                    Ok(compare_i64(self.row.name, a.cmp(&c)))
                })?
            }
            _ => zip_f64(x, y, self.auto_broadcast, out_t, self.row.f)?,
        };
        Ok(vec![r])
    }
}

/// Exact integer comparison (f64 would lose precision above 2^53).
fn compare_i64(name: &str, ord: std::cmp::Ordering) -> i64 {
    use std::cmp::Ordering::*;
    let r = match name {
        "Equal" => ord == Equal,
        "NotEqual" => ord != Equal,
        "Greater" => ord == Greater,
        "GreaterEqual" => ord != Less,
        "Less" => ord == Less,
        _ => ord != Greater,
    };
    r as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::registry::create;

    fn eval(name: &str, a: Tensor, c: Tensor) -> Tensor {
        create(name, 16)
            .unwrap()
            .evaluate(&[&a, &c])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn broadcasting_add() {
        let a = Tensor::from_vec(&[2, 1], vec![1.0f32, 2.0]).unwrap();
        let c = Tensor::from_vec(&[3], vec![10.0f32, 20.0, 30.0]).unwrap();
        let r = eval("Add", a, c);
        assert_eq!(r.shape(), &[2, 3]);
        assert_eq!(r.to_f64_vec(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    }

    #[test]
    fn integer_division_and_modulo() {
        let a = Tensor::from_vec(&[2], vec![-7i32, 7]).unwrap();
        let c = Tensor::from_vec(&[2], vec![2i32, -2]).unwrap();
        assert_eq!(
            eval("Divide", a.clone(), c.clone()).to_i64_vec(),
            vec![-4, -4]
        );
        assert_eq!(
            eval("FloorMod", a.clone(), c.clone()).to_i64_vec(),
            vec![1, -1]
        );
        assert_eq!(eval("Mod", a.clone(), c.clone()).to_i64_vec(), vec![-1, 1]);
        let z = Tensor::from_vec(&[2], vec![0i32, 1]).unwrap();
        assert!(create("Divide", 1).unwrap().evaluate(&[&a, &z]).is_err());
    }

    #[test]
    fn comparisons_are_boolean_and_exact() {
        let a = Tensor::from_vec(&[1], vec![i64::MAX]).unwrap();
        let c = Tensor::from_vec(&[1], vec![i64::MAX - 1]).unwrap();
        let r = eval("Greater", a, c);
        assert_eq!(r.element_type(), ElementType::Boolean);
        assert_eq!(r.to_i64_vec(), vec![1]);
    }

    #[test]
    fn shape_errors() {
        let op = create("Add", 1).unwrap();
        let d = |s: &[usize]| {
            TensorDesc::new(ElementType::F32, crate::ir::PartialShape::from_static(s))
        };
        assert!(op.infer(&[d(&[2, 3]), d(&[4])]).is_err());
        let i = TensorDesc::new(ElementType::I32, crate::ir::PartialShape::from_static(&[1]));
        assert!(op.infer(&[d(&[1]), i]).is_err());
    }
}
