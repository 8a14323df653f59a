//! The registry of every op: (type name, opset of introduction) → constructor with default attributes.

use super::Op;
use crate::error::{Error, Result};

/// One registered op version.
pub struct OpEntry {
    /// Class name (`Relu`).
    pub name: &'static str,
    /// Opset number where this version appeared.
    pub since: u32,
    /// Builds the op with default attributes.
    pub make: Box<dyn Fn() -> Box<dyn Op> + Send + Sync>,
}

/// Collects entries from each family's `register` function.
#[derive(Default)]
pub struct Registry {
    entries: Vec<OpEntry>,
}

impl Registry {
    /// Adds one op version.
    pub fn add(&mut self, name: &'static str, since: u32, make: impl Fn() -> Box<dyn Op> + Send + Sync + 'static) {
        self.entries.push(OpEntry { name, since, make: Box::new(make) });
    }

    /// Every entry.
    pub fn entries(&self) -> &[OpEntry] {
        &self.entries
    }
}

/// Lists every op of every family, explicitly.
pub fn register_all() -> Registry {
    let mut r = Registry::default();
    super::structure::register(&mut r);
    super::unary::register(&mut r);
    super::binary::register(&mut r);
    super::activation::register(&mut r);
    super::conv::register(&mut r);
    super::pooling::register(&mut r);
    super::linalg::register(&mut r);
    super::normalization::register(&mut r);
    super::reduction::register(&mut r);
    super::data_movement::register(&mut r);
    super::gather_scatter::register(&mut r);
    super::indexing::register(&mut r);
    super::interpolate::register(&mut r);
    super::quantize::register(&mut r);
    super::misc::register(&mut r);
    r
}

fn registry() -> &'static Registry {
    static REG: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REG.get_or_init(register_all)
}

/// Maps IR spellings to class names (`ReLU` → `Relu`, `Const` → `Constant`, `SoftMax` → `Softmax`).
pub fn class_name(ir_type: &str) -> &str {
    match ir_type {
        "Const" => "Constant",
        "ReLU" => "Relu",
        "PReLU" => "PRelu",
        "SoftMax" => "Softmax",
        other => other,
    }
}

/// Maps class names to IR spellings (the inverse of [`class_name`]).
pub fn ir_name(class: &str) -> &str {
    match class {
        "Constant" => "Const",
        "Relu" => "ReLU",
        "PRelu" => "PReLU",
        "Softmax" => "SoftMax",
        other => other,
    }
}

/// Parses `opsetN` into N.
pub fn opset_number(version: &str) -> Option<u32> {
    version.strip_prefix("opset")?.parse().ok()
}

/// Builds the op `type_name` as opset `opset` defines it: the newest version introduced at or before it.
pub fn create(type_name: &str, opset: u32) -> Result<Box<dyn Op>> {
    let name = class_name(type_name);
    let best = registry().entries.iter().filter(|e| e.name == name && e.since <= opset).max_by_key(|e| e.since);
    match best {
        Some(e) => Ok((e.make)()),
        None => {
            let known: Vec<u32> = registry().entries.iter().filter(|e| e.name == name).map(|e| e.since).collect();
            Err(Error::Unsupported(if known.is_empty() {
                format!("op type '{type_name}' is not supported")
            } else {
                format!(
                    "op '{type_name}' has no version in opset{opset} (supported versions appear in opset{})",
                    known.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", opset")
                )
            }))
        }
    }
}

/// Builds an op from its IR `type` and `version` attributes (`version="opset8"`).
pub fn create_from_ir(type_name: &str, version: &str) -> Result<Box<dyn Op>> {
    let n = opset_number(version).ok_or_else(|| {
        Error::Unsupported(format!("op '{type_name}' has version '{version}', which is not an opsetN this runtime knows"))
    })?;
    create(type_name, n)
}

/// Every registered (class name, opset of introduction).
pub fn all_versions() -> Vec<(&'static str, u32)> {
    registry().entries.iter().map(|e| (e.name, e.since)).collect()
}
