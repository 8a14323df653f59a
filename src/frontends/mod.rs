//! Frontends: turn model files into an [`crate::ir::Model`].

pub mod ir;
