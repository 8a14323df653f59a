//! The CPU plugin.

pub mod kernels;
