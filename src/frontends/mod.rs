//! Frontends: turn model files into an [`crate::ir::Model`].

pub mod ir;
pub mod onnx_skeleton;
