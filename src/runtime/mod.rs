//! Core, the plugin trait, compiled models and infer requests.

pub mod cache;
pub mod core;
pub mod exec_graph;
pub mod infer_request;
pub mod plugin;
pub mod properties;
pub mod virtual_devices;

pub use infer_request::InferRequest;
pub use plugin::{CompiledModel, Plugin, RequestState};
pub use properties::{Config, PropertyValue};
