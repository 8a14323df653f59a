//! Dimensions with intervals, partial shapes (possibly of dynamic rank) and static shapes.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A dimension: a static length, or an interval `[min, max]` where `max = None` means unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dimension {
    min: u64,
    max: Option<u64>,
}

impl Dimension {
    /// A fully dynamic dimension (`?`).
    pub const DYNAMIC: Dimension = Dimension { min: 0, max: None };

    /// A static dimension of length `n`.
    pub fn new(n: u64) -> Dimension {
        Dimension {
            min: n,
            max: Some(n),
        }
    }

    /// An interval; `max = None` is unbounded. Errors when `min > max`.
    pub fn interval(min: u64, max: Option<u64>) -> Result<Dimension> {
        if let Some(m) = max
            && m < min
        {
            return Err(Error::InvalidArgument(format!(
                "dimension interval {min}..{m} has min > max"
            )));
        }
        Ok(Dimension { min, max })
    }

    /// Builds from OpenVINO's integer convention: -1 is dynamic, otherwise static.
    pub fn from_i64(n: i64) -> Result<Dimension> {
        match n {
            -1 => Ok(Dimension::DYNAMIC),
            n if n >= 0 => Ok(Dimension::new(n as u64)),
            n => Err(Error::InvalidArgument(format!(
                "dimension {n} is negative (only -1 means dynamic)"
            ))),
        }
    }

    /// True when the length is known.
    pub fn is_static(&self) -> bool {
        self.max == Some(self.min)
    }

    /// True when the length is not known.
    pub fn is_dynamic(&self) -> bool {
        !self.is_static()
    }

    /// The static length, if known.
    pub fn get(&self) -> Option<u64> {
        if self.is_static() {
            Some(self.min)
        } else {
            None
        }
    }

    /// Lower bound.
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Upper bound, `None` if unbounded.
    pub fn max(&self) -> Option<u64> {
        self.max
    }

    /// OpenVINO's integer form: the length if static, else -1.
    pub fn to_i64(&self) -> i64 {
        self.get().map(|n| n as i64).unwrap_or(-1)
    }

    /// True when some length satisfies both dimensions.
    pub fn compatible(&self, other: &Dimension) -> bool {
        self.merge(other).is_some()
    }

    /// The intersection of the two intervals, if not empty.
    pub fn merge(&self, other: &Dimension) -> Option<Dimension> {
        let min = self.min.max(other.min);
        let max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, None) => a,
            (None, b) => b,
        };
        if let Some(m) = max
            && m < min
        {
            return None;
        }
        Some(Dimension { min, max })
    }

    /// True when every length `self` allows is allowed by `other` (self is at least as precise).
    pub fn refines(&self, other: &Dimension) -> bool {
        other.min <= self.min
            && match (self.max, other.max) {
                (_, None) => true,
                (Some(a), Some(b)) => a <= b,
                (None, Some(_)) => false,
            }
    }

    /// True when `other` refines `self`.
    pub fn relaxes(&self, other: &Dimension) -> bool {
        other.refines(self)
    }

    /// Interval sum.
    pub fn add(&self, other: &Dimension) -> Dimension {
        Dimension {
            min: self.min + other.min,
            max: self.max.zip(other.max).map(|(a, b)| a + b),
        }
    }

    /// Interval product.
    pub fn mul(&self, other: &Dimension) -> Dimension {
        Dimension {
            min: self.min * other.min,
            max: self.max.zip(other.max).map(|(a, b)| a * b),
        }
    }

    /// Broadcasts two dimensions numpy-style: 1 stretches; dynamic stays dynamic unless the other is static > 1.
    pub fn broadcast(&self, other: &Dimension) -> Option<Dimension> {
        match (self.get(), other.get()) {
            (Some(1), _) => Some(*other),
            (_, Some(1)) => Some(*self),
            (Some(a), Some(b)) => (a == b).then_some(*self),
            (Some(_), None) => other.compatible_with_or_one(self).then_some(*self),
            (None, Some(_)) => self.compatible_with_or_one(other).then_some(*other),
            (None, None) => {
                // Either may be 1 at run time; the result is at least the larger lower bound.
                let min = self.min.max(other.min);
                let max = self.max.zip(other.max).map(|(a, b)| a.max(b));
                Some(Dimension { min, max })
            }
        }
    }

    fn compatible_with_or_one(&self, stat: &Dimension) -> bool {
        self.compatible(stat) || self.compatible(&Dimension::new(1))
    }
}

impl Default for Dimension {
    fn default() -> Self {
        Dimension::DYNAMIC
    }
}

impl From<u64> for Dimension {
    fn from(n: u64) -> Self {
        Dimension::new(n)
    }
}

impl From<usize> for Dimension {
    fn from(n: usize) -> Self {
        Dimension::new(n as u64)
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (a, Some(b)) if a == b => write!(f, "{a}"),
            (0, None) => f.write_str("?"),
            (0, Some(b)) => write!(f, "..{b}"),
            (a, None) => write!(f, "{a}.."),
            (a, Some(b)) => write!(f, "{a}..{b}"),
        }
    }
}

impl FromStr for Dimension {
    type Err = Error;
    fn from_str(s: &str) -> Result<Dimension> {
        let s = s.trim();
        let bad = || {
            Error::Parse(format!(
                "cannot parse dimension '{s}' (expected N, ?, -1, a..b, ..b or a..)"
            ))
        };
        if s == "?" || s == "-1" {
            return Ok(Dimension::DYNAMIC);
        }
        if let Some((lo, hi)) = s.split_once("..") {
            let lo = if lo.trim().is_empty() {
                0
            } else {
                lo.trim().parse().map_err(|_| bad())?
            };
            let hi = if hi.trim().is_empty() {
                None
            } else {
                Some(hi.trim().parse().map_err(|_| bad())?)
            };
            return Dimension::interval(lo, hi).map_err(|_| bad());
        }
        s.parse::<u64>().map(Dimension::new).map_err(|_| bad())
    }
}

/// A shape whose rank or dimensions may be unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PartialShape {
    dims: Option<Vec<Dimension>>,
}

impl PartialShape {
    /// A shape of dynamic rank (`[...]`).
    pub fn dynamic_rank() -> PartialShape {
        PartialShape { dims: None }
    }

    /// A shape of known rank with every dimension dynamic.
    pub fn dynamic_of_rank(rank: usize) -> PartialShape {
        PartialShape {
            dims: Some(vec![Dimension::DYNAMIC; rank]),
        }
    }

    /// A shape from dimensions.
    pub fn new(dims: Vec<Dimension>) -> PartialShape {
        PartialShape { dims: Some(dims) }
    }

    /// A static shape.
    pub fn from_static(dims: &[usize]) -> PartialShape {
        PartialShape {
            dims: Some(dims.iter().map(|&d| Dimension::from(d)).collect()),
        }
    }

    /// The dimensions, or `None` for dynamic rank.
    pub fn dims(&self) -> Option<&[Dimension]> {
        self.dims.as_deref()
    }

    /// Mutable dimensions, or `None` for dynamic rank.
    pub fn dims_mut(&mut self) -> Option<&mut Vec<Dimension>> {
        self.dims.as_mut()
    }

    /// The rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.dims.as_ref().map(|d| d.len())
    }

    /// True when rank and every dimension are known.
    pub fn is_static(&self) -> bool {
        self.dims
            .as_ref()
            .is_some_and(|d| d.iter().all(|x| x.is_static()))
    }

    /// True unless static.
    pub fn is_dynamic(&self) -> bool {
        !self.is_static()
    }

    /// The static shape, if every dimension is known.
    pub fn to_static(&self) -> Option<Vec<usize>> {
        self.dims
            .as_ref()?
            .iter()
            .map(|d| d.get().map(|n| n as usize))
            .collect()
    }

    /// The static shape or an error naming what is dynamic.
    pub fn expect_static(&self, what: &str) -> Result<Vec<usize>> {
        self.to_static()
            .ok_or_else(|| Error::Shape(format!("{what}: shape {self} is not static")))
    }

    /// True when some static shape satisfies both.
    pub fn compatible(&self, other: &PartialShape) -> bool {
        self.merge(other).is_some()
    }

    /// The most precise shape satisfying both, if any.
    pub fn merge(&self, other: &PartialShape) -> Option<PartialShape> {
        match (&self.dims, &other.dims) {
            (None, _) => Some(other.clone()),
            (_, None) => Some(self.clone()),
            (Some(a), Some(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                a.iter()
                    .zip(b)
                    .map(|(x, y)| x.merge(y))
                    .collect::<Option<Vec<_>>>()
                    .map(PartialShape::new)
            }
        }
    }

    /// True when every shape `self` allows is allowed by `other`.
    pub fn refines(&self, other: &PartialShape) -> bool {
        match (&self.dims, &other.dims) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.refines(y)),
        }
    }

    /// True when `other` refines `self`.
    pub fn relaxes(&self, other: &PartialShape) -> bool {
        other.refines(self)
    }

    /// True when both have the same rank scheme and equal static dimensions where both are static.
    pub fn same_scheme(&self, other: &PartialShape) -> bool {
        match (&self.dims, &other.dims) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.is_dynamic() && y.is_dynamic() || x.get() == y.get())
            }
            _ => false,
        }
    }

    /// Numpy broadcasting of two partial shapes; `None` when they cannot broadcast.
    pub fn broadcast(&self, other: &PartialShape) -> Option<PartialShape> {
        let (Some(a), Some(b)) = (&self.dims, &other.dims) else {
            return Some(PartialShape::dynamic_rank());
        };
        let n = a.len().max(b.len());
        let one = Dimension::new(1);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let x = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                one
            };
            let y = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                one
            };
            out.push(x.broadcast(&y)?);
        }
        Some(PartialShape::new(out))
    }

    /// Parses the IR form (`?,3,16..64,32`, `...`, empty for a scalar) or the bracketed Python form.
    pub fn parse_ir(s: &str) -> Result<PartialShape> {
        let s = s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim();
        if s == "..." {
            return Ok(PartialShape::dynamic_rank());
        }
        if s.is_empty() {
            return Ok(PartialShape::new(vec![]));
        }
        s.split(',')
            .map(str::parse)
            .collect::<Result<Vec<_>>>()
            .map(PartialShape::new)
    }

    /// The IR attribute form (`?,3,16..64,32`, `...`, empty for a scalar).
    pub fn to_ir(&self) -> String {
        match &self.dims {
            None => "...".into(),
            Some(d) => d
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl fmt::Display for PartialShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dims {
            None => f.write_str("[...]"),
            Some(_) => write!(f, "[{}]", self.to_ir()),
        }
    }
}

impl From<&[usize]> for PartialShape {
    fn from(d: &[usize]) -> Self {
        PartialShape::from_static(d)
    }
}

/// Formats a static shape as OpenVINO does: `[1,3,224,224]`.
pub fn fmt_shape(dims: &[usize]) -> String {
    format!(
        "[{}]",
        dims.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// Normalises a possibly negative axis against a rank; errors name the op.
pub fn normalize_axis(axis: i64, rank: usize, what: &str) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::Shape(format!(
            "{what}: axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(a as usize)
}

/// Number of elements of a static shape.
pub fn num_elements(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// Row-major strides (in elements) of a static shape.
pub fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

/// Numpy broadcasting of static shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *o = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::Shape(format!(
                    "shapes {} and {} do not broadcast",
                    fmt_shape(a),
                    fmt_shape(b)
                )));
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_forms() {
        for s in ["?", "5", "2..5", "..10", "10.."] {
            assert_eq!(
                s.parse::<Dimension>()
                    .map(|d| d.to_string())
                    .ok()
                    .as_deref(),
                Some(s)
            );
        }
        assert!("5..2".parse::<Dimension>().is_err());
        assert!("x".parse::<Dimension>().is_err());
    }

    #[test]
    fn partial_shape_ir_forms() {
        let p = PartialShape::parse_ir("?,3,16..64,32").ok();
        assert_eq!(
            p.as_ref().map(|p| p.to_string()).as_deref(),
            Some("[?,3,16..64,32]")
        );
        assert_eq!(
            PartialShape::parse_ir("...").ok(),
            Some(PartialShape::dynamic_rank())
        );
        assert_eq!(
            PartialShape::parse_ir("").ok().and_then(|p| p.rank()),
            Some(0)
        );
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shapes(&[2, 1, 3], &[4, 1]).ok(),
            Some(vec![2, 4, 3])
        );
        assert!(broadcast_shapes(&[2], &[3]).is_err());
        let a = PartialShape::parse_ir("?,3").ok();
        let b = PartialShape::parse_ir("4,1,1").ok();
        let r = a.zip(b).and_then(|(a, b)| a.broadcast(&b));
        assert_eq!(r.map(|r| r.to_string()).as_deref(), Some("[4,?,3]"));
    }

    #[test]
    fn axis_normalisation() {
        assert_eq!(normalize_axis(-1, 4, "t").ok(), Some(3));
        assert!(normalize_axis(4, 4, "t").is_err());
        assert!(normalize_axis(-5, 4, "t").is_err());
    }
}
