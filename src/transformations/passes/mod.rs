//! One pass per file.

pub mod batch_norm;
pub mod conv_scale;
pub mod gelu_fusion;
