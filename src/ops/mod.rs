//! Ops: each defined once — attributes, type and shape inference, and a plain reference evaluation.
//!
//! Families live one per file; [`registry`] lists every (type, version) explicitly.

use crate::error::Result;
use crate::ir::{AttributeVisitor, ElementType, PartialShape, Tensor};
use std::any::Any;
use std::fmt::Debug;

pub mod registry;
pub mod util;

pub mod activation;
pub mod binary;
pub mod control_flow;
pub mod conv;
pub mod data_movement;
pub mod detection;
pub mod elementwise;
pub mod gather_scatter;
pub mod indexing;
pub mod interpolate;
pub mod linalg;
pub mod misc;
pub mod normalization;
pub mod pooling;
pub mod quantize;
pub mod reduction;
pub mod structure;
pub mod unary;

/// An op's name and the opset in which this version of it appeared (`("Convolution", "opset1")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeInfo {
    /// The class name (`Relu`, not the IR spelling `ReLU`).
    pub name: &'static str,
    /// `opsetN` where this version appeared.
    pub version: &'static str,
}

impl TypeInfo {
    /// Shorthand constructor.
    pub const fn new(name: &'static str, version: &'static str) -> TypeInfo {
        TypeInfo { name, version }
    }
}

/// What is known about a value before it is computed: element type, partial shape, and, for small
/// values computable at compile time (shape sub-graphs, constants), the value itself.
#[derive(Debug, Clone)]
pub struct TensorDesc {
    /// Element type, possibly dynamic.
    pub element_type: ElementType,
    /// Partial shape.
    pub shape: PartialShape,
    /// The value when known at compile time.
    pub value: Option<Tensor>,
}

impl TensorDesc {
    /// A descriptor without a known value.
    pub fn new(element_type: ElementType, shape: PartialShape) -> TensorDesc {
        TensorDesc {
            element_type,
            shape,
            value: None,
        }
    }

    /// The descriptor of a concrete tensor, value included.
    pub fn of_tensor(t: &Tensor) -> TensorDesc {
        TensorDesc {
            element_type: t.element_type(),
            shape: PartialShape::from_static(t.shape()),
            value: Some(t.clone()),
        }
    }

    /// The rank if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.rank()
    }
}

/// Cloning and downcasting for boxed ops; implemented for every `Op + Clone`.
pub trait OpBase {
    /// A boxed copy.
    fn clone_op(&self) -> Box<dyn Op>;
    /// For downcasting to the concrete op (kernel selection, passes).
    fn as_any(&self) -> &dyn Any;
}

impl<T: Op + Clone> OpBase for T {
    fn clone_op(&self) -> Box<dyn Op> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The one definition of an op.
pub trait Op: OpBase + Debug + Send + Sync + 'static {
    /// Name and version.
    fn type_info(&self) -> TypeInfo;
    /// Visits every attribute; the single path for IR read/write, the builder and `get_attributes`.
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()>;
    /// Output element types and partial shapes from the inputs' (values included when known).
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>>;
    /// The plain reference evaluation: simple and obviously right, never optimised.
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>>;
    /// Whether compile-time evaluation (constant folding) is allowed; false for ops with state or randomness.
    fn is_foldable(&self) -> bool {
        true
    }
}

/// Declares the `visit_attributes` body of an op from a list of `"ir_name" => field` pairs.
#[macro_export]
macro_rules! visit_attrs {
    ($self:ident, $v:ident; $($name:literal => $field:ident),* $(,)?) => {{
        $( $v.on($name, &mut $self.$field)?; )*
        Ok(())
    }};
}
