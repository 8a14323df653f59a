//! Op attributes: one visitor path serves IR reading, IR writing, the Python builder and `get_attributes`.

use super::element_type::ElementType;
use super::shape::PartialShape;
use crate::error::{Error, Result};

/// A dynamically typed attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A string or enum name.
    Str(String),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A list of reals.
    Floats(Vec<f64>),
    /// A list of strings.
    Strs(Vec<String>),
    /// An element type.
    Type(ElementType),
    /// A partial shape.
    Shape(PartialShape),
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

fn fmt_float(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.1}").trim_end_matches(".0").to_string()
    } else {
        // Shortest representation that round-trips through f32 when the value came from one.
        let as32 = v as f32;
        if as32 as f64 == v {
            format!("{as32}")
        } else {
            format!("{v}")
        }
    }
}

impl AttrValue {
    /// The IR `<data>` form: lists comma-space separated, bools `true`/`false`, enums lower case.
    pub fn to_ir(&self) -> String {
        match self {
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Float(f) => fmt_float(*f),
            AttrValue::Str(s) => s.clone(),
            AttrValue::Ints(v) => v
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            AttrValue::Floats(v) => v
                .iter()
                .map(|x| fmt_float(*x))
                .collect::<Vec<_>>()
                .join(", "),
            AttrValue::Strs(v) => v.join(","),
            AttrValue::Type(t) => t.name().to_string(),
            AttrValue::Shape(s) => s.to_ir(),
        }
    }

    /// Parses an IR string as a value of the same kind as `self`.
    pub fn parse_like(&self, s: &str) -> Result<AttrValue> {
        let bad = |what: &str| Error::Parse(format!("cannot parse '{s}' as {what}"));
        Ok(match self {
            AttrValue::Bool(_) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => AttrValue::Bool(true),
                "false" | "0" => AttrValue::Bool(false),
                _ => return Err(bad("a boolean")),
            },
            AttrValue::Int(_) => AttrValue::Int(parse_int(s).ok_or_else(|| bad("an integer"))?),
            AttrValue::Float(_) => AttrValue::Float(parse_float(s).ok_or_else(|| bad("a number"))?),
            AttrValue::Str(_) => AttrValue::Str(s.trim().to_string()),
            AttrValue::Ints(_) => AttrValue::Ints(
                split_list(s)
                    .map(parse_int)
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("a list of integers"))?,
            ),
            AttrValue::Floats(_) => AttrValue::Floats(
                split_list(s)
                    .map(parse_float)
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("a list of numbers"))?,
            ),
            AttrValue::Strs(_) => AttrValue::Strs(split_list(s).map(String::from).collect()),
            AttrValue::Type(_) => AttrValue::Type(s.parse()?),
            AttrValue::Shape(_) => AttrValue::Shape(PartialShape::parse_ir(s)?),
        })
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        // Large u64 values (for example seeds) and integral floats are accepted.
        s.parse::<u64>().ok().map(|v| v as i64).or_else(|| {
            let f = s.parse::<f64>().ok()?;
            (f == f.trunc()).then_some(f as i64)
        })
    })
}

fn parse_float(s: &str) -> Option<f64> {
    match s.trim().to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

/// A field of an op that can be read and written as an [`AttrValue`].
pub trait Attribute {
    /// The current value.
    fn get(&self) -> AttrValue;
    /// Replaces the value; errors when the kind or value is not acceptable.
    fn set(&mut self, v: AttrValue) -> Result<()>;
    /// Parses and stores the IR string form.
    fn parse_ir(&mut self, s: &str) -> Result<()> {
        let v = self.get().parse_like(s)?;
        self.set(v)
    }
}

/// Visits every attribute of an op by name.
pub trait AttributeVisitor {
    /// Called once per attribute.
    fn on(&mut self, name: &str, attr: &mut dyn Attribute) -> Result<()>;
}

fn kind_error(expected: &str, got: &AttrValue) -> Error {
    Error::InvalidArgument(format!("expected {expected}, got {got:?}"))
}

impl Attribute for bool {
    fn get(&self) -> AttrValue {
        AttrValue::Bool(*self)
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Bool(b) => b,
            AttrValue::Int(i) => i != 0,
            AttrValue::Str(s) => AttrValue::Bool(false).parse_like(&s)? == AttrValue::Bool(true),
            other => return Err(kind_error("a boolean", &other)),
        };
        Ok(())
    }
}

impl Attribute for i64 {
    fn get(&self) -> AttrValue {
        AttrValue::Int(*self)
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Int(i) => i,
            AttrValue::Bool(b) => b as i64,
            AttrValue::Float(f) if f == f.trunc() => f as i64,
            AttrValue::Str(s) => {
                parse_int(&s).ok_or_else(|| kind_error("an integer", &AttrValue::Str(s)))?
            }
            other => return Err(kind_error("an integer", &other)),
        };
        Ok(())
    }
}

impl Attribute for f64 {
    fn get(&self) -> AttrValue {
        AttrValue::Float(*self)
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Float(f) => f,
            AttrValue::Int(i) => i as f64,
            AttrValue::Str(s) => {
                parse_float(&s).ok_or_else(|| kind_error("a number", &AttrValue::Str(s)))?
            }
            other => return Err(kind_error("a number", &other)),
        };
        Ok(())
    }
}

impl Attribute for f32 {
    fn get(&self) -> AttrValue {
        AttrValue::Float(*self as f64)
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        let mut f = 0f64;
        f.set(v)?;
        *self = f as f32;
        Ok(())
    }
}

impl Attribute for String {
    fn get(&self) -> AttrValue {
        AttrValue::Str(self.clone())
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Str(s) => s,
            other => return Err(kind_error("a string", &other)),
        };
        Ok(())
    }
}

impl Attribute for Vec<i64> {
    fn get(&self) -> AttrValue {
        AttrValue::Ints(self.clone())
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Ints(v) => v,
            AttrValue::Int(i) => vec![i],
            AttrValue::Floats(f) if f.iter().all(|x| *x == x.trunc()) => {
                f.iter().map(|x| *x as i64).collect()
            }
            AttrValue::Str(s) => match AttrValue::Ints(vec![]).parse_like(&s)? {
                AttrValue::Ints(v) => v,
                _ => vec![],
            },
            other => return Err(kind_error("a list of integers", &other)),
        };
        Ok(())
    }
}

impl Attribute for Vec<f32> {
    fn get(&self) -> AttrValue {
        AttrValue::Floats(self.iter().map(|x| *x as f64).collect())
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Floats(v) => v.iter().map(|x| *x as f32).collect(),
            AttrValue::Float(f) => vec![f as f32],
            AttrValue::Ints(v) => v.iter().map(|x| *x as f32).collect(),
            AttrValue::Str(s) => match AttrValue::Floats(vec![]).parse_like(&s)? {
                AttrValue::Floats(v) => v.iter().map(|x| *x as f32).collect(),
                _ => vec![],
            },
            other => return Err(kind_error("a list of numbers", &other)),
        };
        Ok(())
    }
}

impl Attribute for Vec<String> {
    fn get(&self) -> AttrValue {
        AttrValue::Strs(self.clone())
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Strs(v) => v,
            AttrValue::Str(s) => split_list(&s).map(String::from).collect(),
            other => return Err(kind_error("a list of strings", &other)),
        };
        Ok(())
    }
}

impl Attribute for ElementType {
    fn get(&self) -> AttrValue {
        AttrValue::Type(*self)
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Type(t) => t,
            AttrValue::Str(s) => s.parse()?,
            other => return Err(kind_error("an element type", &other)),
        };
        Ok(())
    }
}

impl Attribute for PartialShape {
    fn get(&self) -> AttrValue {
        AttrValue::Shape(self.clone())
    }
    fn set(&mut self, v: AttrValue) -> Result<()> {
        *self = match v {
            AttrValue::Shape(s) => s,
            AttrValue::Str(s) => PartialShape::parse_ir(&s)?,
            AttrValue::Ints(v) => PartialShape::new(
                v.into_iter()
                    .map(super::shape::Dimension::from_i64)
                    .collect::<Result<Vec<_>>>()?,
            ),
            other => return Err(kind_error("a shape", &other)),
        };
        Ok(())
    }
}

/// Declares a string-valued enum attribute with its IR spellings, written exactly as OpenVINO writes them and
/// parsed case-insensitively.
#[macro_export]
macro_rules! attr_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// The IR spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                let l = s.trim().to_ascii_lowercase();
                $(if l.eq_ignore_ascii_case($text) $(|| l.eq_ignore_ascii_case($alias))* { return Ok($name::$variant); })+
                Err($crate::error::Error::InvalidArgument(format!(
                    "'{}' is not a valid {} (expected one of: {})", s, stringify!($name), [$($text),+].join(", ")
                )))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }

        impl $crate::ir::Attribute for $name {
            fn get(&self) -> $crate::ir::AttrValue { $crate::ir::AttrValue::Str(self.as_str().to_string()) }
            fn set(&mut self, v: $crate::ir::AttrValue) -> $crate::error::Result<()> {
                match v {
                    $crate::ir::AttrValue::Str(s) => { *self = s.parse()?; Ok(()) }
                    other => Err($crate::error::Error::InvalidArgument(format!(
                        "expected a {} string, got {:?}", stringify!($name), other
                    ))),
                }
            }
        }
    };
}

/// Collects every attribute of an op as `(name, value)` pairs.
#[derive(Default)]
pub struct AttributeCollector {
    /// The attributes in visiting order.
    pub values: Vec<(String, AttrValue)>,
}

impl AttributeVisitor for AttributeCollector {
    fn on(&mut self, name: &str, attr: &mut dyn Attribute) -> Result<()> {
        self.values.push((name.to_string(), attr.get()));
        Ok(())
    }
}

/// Sets attributes from `(name, value)` pairs; names not visited are reported by [`AttributeSetter::unused`].
pub struct AttributeSetter<'a> {
    values: &'a [(String, AttrValue)],
    used: Vec<bool>,
}

impl<'a> AttributeSetter<'a> {
    /// A setter over the given values.
    pub fn new(values: &'a [(String, AttrValue)]) -> Self {
        AttributeSetter {
            values,
            used: vec![false; values.len()],
        }
    }

    /// Names that no attribute of the op consumed.
    pub fn unused(&self) -> Vec<&str> {
        self.values
            .iter()
            .zip(&self.used)
            .filter(|(_, u)| !**u)
            .map(|((n, _), _)| n.as_str())
            .collect()
    }
}

impl AttributeVisitor for AttributeSetter<'_> {
    fn on(&mut self, name: &str, attr: &mut dyn Attribute) -> Result<()> {
        if let Some(i) = self.values.iter().position(|(n, _)| n == name) {
            self.used[i] = true;
            attr.set(self.values[i].1.clone())
                .map_err(|e| e.context(format!("attribute '{name}'")))?;
        }
        Ok(())
    }
}

/// Sets attributes from IR strings (the `<data>` element).
pub struct IrAttributeReader<'a> {
    values: &'a [(String, String)],
}

impl<'a> IrAttributeReader<'a> {
    /// A reader over the `<data>` attributes of one layer.
    pub fn new(values: &'a [(String, String)]) -> Self {
        IrAttributeReader { values }
    }
}

impl AttributeVisitor for IrAttributeReader<'_> {
    fn on(&mut self, name: &str, attr: &mut dyn Attribute) -> Result<()> {
        if let Some((_, s)) = self.values.iter().find(|(n, _)| n == name) {
            attr.parse_ir(s)
                .map_err(|e| e.context(format!("attribute '{name}'")))?;
        }
        Ok(())
    }
}
