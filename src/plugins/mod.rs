//! Device plugins.

pub mod cpu;
