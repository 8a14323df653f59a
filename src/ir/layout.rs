//! Layouts: names for the dimensions of a tensor (`NCHW`, `N...C`, `[N,C,H,W]`).

use crate::error::{Error, Result};
use std::fmt;

/// A layout: dimension names, with `?` for an unnamed dimension and at most one `...` for any number of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Layout {
    names: Vec<String>,
    scalar: bool,
}

const ELLIPSIS: &str = "...";

impl Layout {
    /// Parses `NCHW`, `N...C`, `?CHW`, `[N,C,H,W]`, `[batch, ?, ...]` or the empty layout.
    pub fn parse(s: &str) -> Result<Layout> {
        let t = s.trim();
        let invalid =
            |why: &str| Error::InvalidArgument(format!("Layout name is invalid ('{s}'): {why}"));
        if t == "()" || t.eq_ignore_ascii_case("scalar") {
            return Ok(Layout::scalar());
        }
        let names: Vec<String> = if let Some(inner) = t.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| invalid("missing ']'"))?;
            if inner.trim().is_empty() {
                vec![]
            } else {
                inner.split(',').map(|x| x.trim().to_string()).collect()
            }
        } else {
            let mut v = Vec::new();
            let mut rest = t;
            while !rest.is_empty() {
                if let Some(r) = rest.strip_prefix(ELLIPSIS) {
                    v.push(ELLIPSIS.to_string());
                    rest = r;
                } else {
                    let c = rest.chars().next().unwrap_or('?');
                    if !(c.is_ascii_alphabetic() || c == '?') {
                        return Err(invalid(&format!("unexpected character '{c}'")));
                    }
                    v.push(c.to_string());
                    rest = &rest[c.len_utf8()..];
                }
            }
            v
        };
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            if n.is_empty() {
                return Err(invalid("empty dimension name"));
            }
            if n != "?" && !seen.insert(n.to_ascii_uppercase()) {
                return Err(invalid(&format!("dimension '{n}' appears twice")));
            }
        }
        Ok(Layout {
            names: names
                .into_iter()
                .map(|n| if n == "?" { n } else { n.to_ascii_uppercase() })
                .collect(),
            scalar: false,
        })
    }

    /// The layout of a scalar.
    pub fn scalar() -> Layout {
        Layout {
            names: vec![],
            scalar: true,
        }
    }

    /// True when no dimension is named.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.scalar
    }

    /// True when the layout names dimension `name` (case-insensitive).
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The index of `name`; negative (from the end) when it follows `...`.
    pub fn index_of(&self, name: &str) -> Result<i64> {
        let pos = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::InvalidArgument(format!("Layout {self} has no dimension '{name}'"))
            })?;
        match self.names.iter().position(|n| n == ELLIPSIS) {
            Some(e) if e < pos => Ok(pos as i64 - self.names.len() as i64),
            _ => Ok(pos as i64),
        }
    }

    /// The dimension names in order (`...` included).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scalar {
            return f.write_str("()");
        }
        write!(f, "[{}]", self.names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let l = Layout::parse("nchw").ok();
        assert_eq!(
            l.as_ref().map(|l| l.to_string()).as_deref(),
            Some("[N,C,H,W]")
        );
        let e = Layout::parse("N...C").ok();
        assert_eq!(e.as_ref().and_then(|l| l.index_of("C").ok()), Some(-1));
        assert_eq!(
            Layout::parse("[batch, ?, width]")
                .ok()
                .and_then(|l| l.index_of("width").ok()),
            Some(2)
        );
        assert!(Layout::parse("NN").is_err());
        assert!(Layout::parse("N1").is_err());
    }
}
