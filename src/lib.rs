//! ferrovino: a deep-learning inference runtime with OpenVINO's API.
//!
//! A model travels in a straight line: a frontend builds an [`ir::Model`] of [`ops`], a plugin compiles it
//! into an executable plan, and an infer request runs that plan.

pub mod error;
pub mod frontends;
pub mod ir;
pub mod ops;
pub mod plugins;
pub mod runtime;
pub mod transformations;

#[cfg(feature = "python")]
mod bindings;

pub use error::{Error, Result};
