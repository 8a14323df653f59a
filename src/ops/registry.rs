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
    pub fn add(
        &mut self,
        name: &'static str,
        since: u32,
        make: impl Fn() -> Box<dyn Op> + Send + Sync + 'static,
    ) {
        self.entries.push(OpEntry {
            name,
            since,
            make: Box::new(make),
        });
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
    super::control_flow::register(&mut r);
    super::detection::register(&mut r);
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
    let best = registry()
        .entries
        .iter()
        .filter(|e| e.name == name && e.since <= opset)
        .max_by_key(|e| e.since);
    match best {
        Some(e) => Ok((e.make)()),
        None => {
            let known: Vec<u32> = registry()
                .entries
                .iter()
                .filter(|e| e.name == name)
                .map(|e| e.since)
                .collect();
            Err(Error::Unsupported(if known.is_empty() {
                format!("op type '{type_name}' is not supported")
            } else {
                format!(
                    "op '{type_name}' has no version in opset{opset} (supported versions appear in opset{})",
                    known
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", opset")
                )
            }))
        }
    }
}

/// The newest opset this runtime knows.
pub const LATEST_OPSET: u32 = 17;

/// Builds an op from its IR `type` and `version` attributes (`version="opset8"`); a type the registry lacks comes
/// from the extension sources of [`with_extensions`] when one of them knows it.
pub fn create_from_ir(type_name: &str, version: &str) -> Result<Box<dyn Op>> {
    let builtin = opset_number(version)
        .filter(|n| (1..=LATEST_OPSET).contains(n))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "op '{type_name}' has version '{version}', which is not an opsetN this runtime knows \
                 (a custom op needs its class registered with Core.add_extension)"
            ))
        })
        .and_then(|n| create(type_name, n));
    match builtin {
        Ok(op) => Ok(op),
        Err(e) => from_extensions(type_name, version).unwrap_or(Err(e)),
    }
}

/// A source of ops the registry does not define (custom ops registered through `Core.add_extension`).
pub trait ExtensionSource {
    /// The op for an IR `type` and `version`, or None when this source does not know the type.
    fn create(&self, type_name: &str, version: &str) -> Option<Result<Box<dyn Op>>>;
}

thread_local! {
    static EXTENSIONS: std::cell::RefCell<Vec<std::rc::Rc<dyn ExtensionSource>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Removes the innermost extension source when dropped (also on unwinding).
struct ExtensionScope;

impl Drop for ExtensionScope {
    fn drop(&mut self) {
        EXTENSIONS.with(|e| e.borrow_mut().pop());
    }
}

/// Runs `f` with `source` consulted by [`create_from_ir`] (on this thread) for types the registry lacks.
pub fn with_extensions<R>(source: std::rc::Rc<dyn ExtensionSource>, f: impl FnOnce() -> R) -> R {
    EXTENSIONS.with(|e| e.borrow_mut().push(source));
    let _scope = ExtensionScope;
    f()
}

fn from_extensions(type_name: &str, version: &str) -> Option<Result<Box<dyn Op>>> {
    let sources: Vec<_> = EXTENSIONS.with(|e| e.borrow().clone());
    sources
        .iter()
        .rev()
        .find_map(|s| s.create(type_name, version))
}

/// Every registered (class name, opset of introduction).
pub fn all_versions() -> Vec<(&'static str, u32)> {
    registry()
        .entries
        .iter()
        .map(|e| (e.name, e.since))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{AttributeCollector, IrAttributeReader};

    #[test]
    fn every_entry_reports_its_own_name_and_version() {
        for e in registry().entries() {
            let op = (e.make)();
            let t = op.type_info();
            assert_eq!(t.name, e.name, "entry {}-{}", e.name, e.since);
            assert_eq!(
                opset_number(t.version),
                Some(e.since),
                "{} registered at opset{} reports {}",
                e.name,
                e.since,
                t.version
            );
        }
    }

    #[test]
    fn attributes_survive_the_ir_string_form() {
        for e in registry().entries() {
            let mut op = (e.make)();
            let mut before = AttributeCollector::default();
            op.visit_attributes(&mut before).unwrap();
            let strings: Vec<(String, String)> = before
                .values
                .iter()
                .map(|(n, v)| (n.clone(), v.to_ir()))
                .collect();
            let mut fresh = (e.make)();
            fresh
                .visit_attributes(&mut IrAttributeReader::new(&strings))
                .unwrap();
            let mut after = AttributeCollector::default();
            fresh.visit_attributes(&mut after).unwrap();
            let same = before
                .values
                .iter()
                .zip(&after.values)
                .all(|((n1, v1), (n2, v2))| n1 == n2 && (v1 == v2 || v1.to_ir() == v2.to_ir()));
            assert!(
                same && before.values.len() == after.values.len(),
                "{}: {:?} vs {:?}",
                e.name,
                before.values,
                after.values
            );
        }
    }

    #[test]
    fn unknown_ops_and_versions_are_unsupported() {
        assert!(matches!(create("NoSuchOp", 16), Err(Error::Unsupported(_))));
        assert!(matches!(
            create_from_ir("Relu", "opset99x"),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            create_from_ir("Relu", "opset99"),
            Err(Error::Unsupported(_))
        ));
        assert!(create_from_ir("ReLU", "opset8").is_ok());
        let e = create_from_ir("ScaledDotProductAttention", "opset1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("opset13"), "{e}");
        assert_eq!(ir_name(class_name("ReLU")), "ReLU");
    }

    struct OneOp;
    impl ExtensionSource for OneOp {
        fn create(&self, type_name: &str, _version: &str) -> Option<Result<Box<dyn Op>>> {
            (type_name == "MyRelu").then(|| create("Relu", 1))
        }
    }

    #[test]
    fn extensions_are_consulted_only_inside_their_scope() {
        let err = create_from_ir("MyRelu", "extension")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("MyRelu") && err.contains("add_extension"),
            "{err}"
        );
        let op = with_extensions(std::rc::Rc::new(OneOp), || {
            create_from_ir("MyRelu", "extension")
        });
        assert_eq!(op.map(|o| o.type_info().name).ok(), Some("Relu"));
        assert!(create_from_ir("MyRelu", "extension").is_err());
        let other = with_extensions(std::rc::Rc::new(OneOp), || {
            create_from_ir("Other", "extension")
        });
        assert!(matches!(other, Err(Error::Unsupported(_))));
    }
}
