//! The epilogue a convolution or MatMul kernel applies to its output while it is still in cache: bias,
//! residual add, activation (what the CPU lowering in `plugins::cpu::fusion` absorbs into the kernel).

use super::math;
use super::vector_math::{self, Function};
use std::sync::Arc;

/// What a kernel applies to its output while it is still in cache: a bias (one value per output channel of a
/// convolution, per column of a MatMul), a residual value (the kernel's third input, same shape as the
/// output), then an activation.
#[derive(Debug, Clone, Default)]
pub struct Epilogue {
    /// One value per output channel (convolution) or per output column (MatMul).
    pub bias: Option<Arc<[f32]>>,
    /// Add the kernel's third input elementwise after the bias.
    pub residual: bool,
    /// Applied last.
    pub activation: Activation,
}

/// The activation an epilogue ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Activation {
    /// None.
    #[default]
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)`.
    Clamp(f32, f32),
    /// `x * sigmoid(x)` (SiLU).
    Swish,
    /// Gelu with the exact (erf) formula.
    GeluErf,
    /// Gelu with the tanh approximation.
    GeluTanh,
}

impl Activation {
    /// The bounds `(lo, hi)` of an activation that clamps, `min(max(x, lo), hi)` (ReLU, Clamp); `None` for the
    /// others.
    pub fn bounds(self) -> Option<(f32, f32)> {
        match self {
            Activation::Relu => Some((0.0, f32::INFINITY)),
            Activation::Clamp(lo, hi) => Some((lo, hi)),
            _ => None,
        }
    }

    #[inline(always)]
    fn apply(self, row: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => map_in_place(row, |v| v.max(0.0)),
            Activation::Clamp(lo, hi) => map_in_place(row, |v| v.max(lo).min(hi)),
            Activation::Swish => {
                if !vector_math::apply(Function::Silu, row) {
                    map_in_place(row, |v| math::swish(v, 1.0));
                }
            }
            Activation::GeluErf => {
                if !vector_math::apply(Function::GeluErf, row) {
                    map_in_place(row, math::gelu_erf);
                }
            }
            Activation::GeluTanh => {
                if !vector_math::apply(Function::GeluTanh, row) {
                    map_in_place(row, math::gelu_tanh);
                }
            }
        }
    }
}

/// `v = f(v)` for every value of `row`, as a plain loop: it inlines into the caller compiled for the best ISA
/// (`Iterator::for_each` with a large closure may stay a call to a baseline-ISA copy, then scalar).
#[inline(always)]
fn map_in_place(row: &mut [f32], f: impl Fn(f32) -> f32) {
    for v in row {
        *v = f(*v);
    }
}

impl Epilogue {
    /// True when the epilogue changes nothing.
    pub fn is_empty(&self) -> bool {
        self.bias.is_none() && !self.residual && self.activation == Activation::Identity
    }

    /// Applies the epilogue to the `[channels, spatial]` block whose first channel is `first_channel`;
    /// `residual` is the matching block of the residual input (empty without one).
    pub fn apply(&self, block: &mut [f32], first_channel: usize, spatial: usize, residual: &[f32]) {
        if self.is_empty() || spatial == 0 {
            return;
        }
        apply_epilogue_best(self, block, first_channel, spatial, residual);
    }

    #[inline(always)]
    fn apply_rows(
        &self,
        block: &mut [f32],
        first_channel: usize,
        spatial: usize,
        residual: &[f32],
    ) {
        let mut residual_rows = residual.chunks(spatial);
        for (c, row) in block.chunks_mut(spatial).enumerate() {
            let r = residual_rows.next().unwrap_or(&[]);
            self.apply_segment(first_channel + c, row, r);
        }
    }

    /// The bias of output channel (or column) `channel`: zero without a bias.
    #[inline(always)]
    pub fn bias_of(&self, channel: usize) -> f32 {
        self.bias
            .as_ref()
            .and_then(|b| b.get(channel))
            .copied()
            .unwrap_or(0.0)
    }

    /// Applies the epilogue to values of output channel `channel`; `residual` holds the matching residual
    /// values (empty without one).
    #[inline(always)]
    fn apply_segment(&self, channel: usize, values: &mut [f32], residual: &[f32]) {
        let b = self.bias_of(channel);
        if !residual.is_empty() {
            values
                .iter_mut()
                .zip(residual)
                .for_each(|(v, r)| *v += b + r);
        } else if b != 0.0 {
            values.iter_mut().for_each(|v| *v += b);
        }
        self.activation.apply(values);
    }

    /// Applies the epilogue to `values`, columns `first_column..` of one output row whose bias is per column;
    /// `residual` holds the matching residual values (empty without one).
    #[inline(always)]
    pub fn apply_columns(&self, first_column: usize, values: &mut [f32], residual: &[f32]) {
        let bias = self
            .bias
            .as_ref()
            .and_then(|b| b.get(first_column..first_column + values.len()));
        match (bias, residual.is_empty()) {
            (Some(b), false) => values
                .iter_mut()
                .zip(b.iter().zip(residual))
                .for_each(|(v, (b, r))| *v += b + r),
            (Some(b), true) => values.iter_mut().zip(b).for_each(|(v, b)| *v += b),
            (None, false) => values.iter_mut().zip(residual).for_each(|(v, r)| *v += r),
            (None, true) => {}
        }
        self.activation.apply(values);
    }

    /// The inputs a kernel with this epilogue takes: its two operands, and the residual when there is one.
    pub fn input_count(&self) -> usize {
        if self.residual { 3 } else { 2 }
    }
}

math::best_isa_fn! {
    /// [`Epilogue::apply_rows`] compiled for the best ISA.
    fn apply_epilogue_best[](e: &Epilogue, block: &mut [f32], first_channel: usize, spatial: usize, residual: &[f32])
        => Epilogue::apply_rows
}
