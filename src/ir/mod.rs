//! The graph core: element types, shapes, layouts, tensors, nodes and models.

mod attributes;
mod element_type;
pub mod interpret;
pub mod layout;
pub mod minifloat;
mod model;
mod node;
pub mod rt_info;
mod scalar;
pub mod shape;
mod tensor;

pub use attributes::{
    AttrValue, Attribute, AttributeCollector, AttributeSetter, AttributeVisitor, IrAttributeReader,
};
pub use element_type::{ALL_STATIC_TYPES, ElementType};
pub use interpret::{evaluate_model, infer_model};
pub use layout::Layout;
pub use model::{Model, VariableInfo, topological_order};
pub use node::{MAX_PROPAGATED_ELEMENTS, Node, Output, PortInfo};
pub use rt_info::{RtInfo, RtValue};
pub use scalar::Scalar;
pub use shape::{Dimension, PartialShape};
pub use tensor::Tensor;
