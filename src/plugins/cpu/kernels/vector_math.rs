//! AVX-512 versions of `exp` and the exp-based activations of [`math`] (the sigmoid, tanh, SiLU and the two GELUs), applied in
//! place to slices: the same formulas and coefficients, sixteen values per step, with fused multiply-adds, `vscalefps`
//! for the power of two of `exp` and a refined reciprocal instead of a division. The convolution and MatMul
//! epilogues and the element-wise kernels use them where the CPU has AVX-512F (the portable loops over
//! [`math`]'s scalar functions run elsewhere); the tests hold them to the same error bounds against f64 as the scalar functions.

use super::math;

/// An activation [`apply`] computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Function {
    /// [`super::math::sigmoid`].
    Sigmoid,
    /// [`super::math::swish`] with beta 1 (SiLU).
    Silu,
    /// [`super::math::gelu_erf`].
    GeluErf,
    /// [`super::math::gelu_tanh`].
    GeluTanh,
    /// [`super::math::tanh`].
    Tanh,
    /// [`super::math::exp`] (Softmax).
    Exp,
}

/// `row[i] = f(row[i])` for every value, with AVX-512 when the CPU has it; returns false, the row untouched,
/// when it does not.
pub fn apply(f: Function, row: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if super::direct_conv::available() {
        // SAFETY: the CPU has AVX-512F.
        unsafe {
            match f {
                Function::Sigmoid => avx512::map::<{ avx512::SIGMOID }>(row),
                Function::Silu => avx512::map::<{ avx512::SILU }>(row),
                Function::GeluErf => avx512::map::<{ avx512::GELU_ERF }>(row),
                Function::GeluTanh => avx512::map::<{ avx512::GELU_TANH }>(row),
                Function::Tanh => avx512::map::<{ avx512::TANH }>(row),
                Function::Exp => avx512::map::<{ avx512::EXP }>(row),
            }
        };
        return true;
    }
    let _ = (f, row);
    false
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::math::{
        ERF_OVER_X_POLY, ERFC_MAX_ARG, ERFC_TAIL_POLY, EXP_MAX_ARG, EXP_MIN_ARG, EXP_POLY,
        GELU_TANH_CUBIC, GELU_TANH_SCALE, LN2_HI, LN2_LO, TANH_SMALL_LIMIT, TANH_SMALL_POLY,
    };
    use std::arch::x86_64::*;

    /// [`map`]'s function: the logistic sigmoid.
    pub const SIGMOID: u8 = 3;
    /// [`map`]'s function: SiLU.
    pub const SILU: u8 = 0;
    /// [`map`]'s function: GELU (erf).
    pub const GELU_ERF: u8 = 1;
    /// [`map`]'s function: GELU (tanh).
    pub const GELU_TANH: u8 = 2;
    /// [`map`]'s function: the hyperbolic tangent.
    pub const TANH: u8 = 4;
    /// [`map`]'s function: the exponential.
    pub const EXP: u8 = 5;

    /// Applies function `F` to every value of `row`, sixteen at a time (the last ones under a mask).
    #[target_feature(enable = "avx512f")]
    pub fn map<const F: u8>(row: &mut [f32]) {
        let n = row.len();
        let p = row.as_mut_ptr();
        let f = |x| match F {
            SIGMOID => sigmoid(x),
            SILU => silu(x),
            GELU_ERF => gelu_erf(x),
            TANH => tanh(x),
            EXP => exp(x),
            _ => gelu_tanh(x),
        };
        let mut at = 0;
        // Two independent vectors per step, so that one's long chain of dependent steps overlaps the other's.
        while at + 32 <= n {
            // SAFETY: values `at..at + 32` of `row` exist.
            unsafe {
                let (x0, x1) = (_mm512_loadu_ps(p.add(at)), _mm512_loadu_ps(p.add(at + 16)));
                let (y0, y1) = (f(x0), f(x1));
                _mm512_storeu_ps(p.add(at), y0);
                _mm512_storeu_ps(p.add(at + 16), y1);
            }
            at += 32;
        }
        while at < n {
            let lanes = (n - at).min(16);
            let mask: __mmask16 = ((1u32 << lanes) - 1) as __mmask16;
            // SAFETY: lanes `at..at + lanes` of `row` exist; the mask keeps to them.
            let y = f(unsafe { _mm512_maskz_loadu_ps(mask, p.add(at)) });
            // SAFETY: as above.
            unsafe { _mm512_mask_storeu_ps(p.add(at), mask, y) };
            at += lanes;
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }

    /// `c[0] + t (c[1] + t (c[2] + …))`, Horner's rule with fused multiply-adds.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn poly(t: __m512, c: &[f32]) -> __m512 {
        let mut acc = splat(0.0);
        for &ci in c.iter().rev() {
            acc = _mm512_fmadd_ps(acc, t, splat(ci));
        }
        acc
    }

    /// [`super::math::exp`]: `2^n · e^r`, NaN kept (`max`/`min` return their second operand when one is NaN).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn exp(x: __m512) -> __m512 {
        let x = _mm512_min_ps(splat(EXP_MAX_ARG), _mm512_max_ps(splat(EXP_MIN_ARG), x));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, splat(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, splat(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, splat(LN2_LO), r);
        let p = poly(r, &EXP_POLY);
        let e = _mm512_add_ps(splat(1.0), _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r));
        _mm512_scalef_ps(e, n)
    }

    /// `1 / d` for `d ≥ 1` (callers pass `1 + e^-|x|`, `1 + a/2` and `e^2|x| + 1`): the 14-bit estimate refined
    /// by one Newton step (finite `d` only).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn reciprocal(d: __m512) -> __m512 {
        let r = _mm512_rcp14_ps(d);
        _mm512_fmadd_ps(_mm512_fnmadd_ps(d, r, splat(1.0)), r, r)
    }

    /// [`super::math::sigmoid`]: `s = 1 / (1 + e^-|x|)`, and `e · s` where x < 0.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn sigmoid(x: __m512) -> __m512 {
        let e = exp(_mm512_sub_ps(splat(0.0), _mm512_abs_ps(x)));
        let s = reciprocal(_mm512_add_ps(splat(1.0), e));
        let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, splat(0.0));
        _mm512_mask_mul_ps(s, negative, e, s)
    }

    /// [`super::math::swish`] with beta 1.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn silu(x: __m512) -> __m512 {
        _mm512_mul_ps(x, sigmoid(x))
    }

    /// [`super::math::tanh`]: `x + x³ P(x²)` near 0, `1 - 2 / (e^2|x| + 1)` with the sign of x beyond (NaN
    /// kept by `min`, [`exp`] and the blend's mask, which is false for it).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tanh(x: __m512) -> __m512 {
        let a = _mm512_abs_ps(x);
        let x2 = _mm512_mul_ps(x, x);
        let small = _mm512_fmadd_ps(_mm512_mul_ps(x, x2), poly(x2, &TANH_SMALL_POLY), x);
        // Beyond |x| = 20, tanh is ±1 in f32; the cap keeps e^2|x| finite for the reciprocal (NaN stays).
        let d = _mm512_add_ps(
            exp(_mm512_min_ps(splat(40.0), _mm512_add_ps(a, a))),
            splat(1.0),
        );
        let magnitude = _mm512_fnmadd_ps(splat(2.0), reciprocal(d), splat(1.0));
        let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
        let large = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(magnitude), sign));
        let near_zero = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, splat(TANH_SMALL_LIMIT));
        _mm512_mask_blend_ps(near_zero, large, small)
    }

    /// [`super::math::gelu_tanh`]: `x · sigmoid(2u)`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn gelu_tanh(x: __m512) -> __m512 {
        let cube = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        let u = _mm512_mul_ps(
            splat(GELU_TANH_SCALE),
            _mm512_fmadd_ps(splat(GELU_TANH_CUBIC), cube, x),
        );
        _mm512_mul_ps(x, sigmoid(_mm512_add_ps(u, u)))
    }

    /// [`super::math::gelu_erf`]: `x/2 · (1 + erf(z))`, `z = x/√2`, with `1 + erf(z)` from the erfc tail where
    /// z ≤ -0.5 or |z| ≥ 1 and from the series `1 + z · erf(z)/z` elsewhere.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn gelu_erf(x: __m512) -> __m512 {
        let z = _mm512_mul_ps(x, splat(std::f32::consts::FRAC_1_SQRT_2));
        let a = _mm512_abs_ps(z);
        // The tail: e^-a² · t · Q(t), t = 1 / (1 + a/2), with a and a² = x²/2 clamped.
        let clamped = _mm512_min_ps(splat(ERFC_MAX_ARG), a);
        let a2 = _mm512_min_ps(
            splat(ERFC_MAX_ARG * ERFC_MAX_ARG),
            _mm512_mul_ps(splat(0.5), _mm512_mul_ps(x, x)),
        );
        let t = reciprocal(_mm512_fmadd_ps(splat(0.5), clamped, splat(1.0)));
        let tail = _mm512_mul_ps(
            _mm512_mul_ps(exp(_mm512_sub_ps(splat(0.0), a2)), t),
            poly(t, &ERFC_TAIL_POLY),
        );
        let series = _mm512_fmadd_ps(z, poly(_mm512_mul_ps(z, z), &ERF_OVER_X_POLY), splat(1.0));
        let left = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(z, splat(-0.5));
        let small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, splat(1.0));
        let one_plus_erf = _mm512_sub_ps(splat(2.0), tail);
        let one_plus_erf = _mm512_mask_blend_ps(small, one_plus_erf, series);
        let one_plus_erf = _mm512_mask_blend_ps(left, one_plus_erf, tail);
        _mm512_mul_ps(_mm512_mul_ps(splat(0.5), x), one_plus_erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::cpu::kernels::math::tests::{
        gelu_erf64, gelu_tanh64, samples, sigmoid64, worst,
    };

    /// Each function, where the CPU has AVX-512, stays within the bounds the scalar versions are held to
    /// against f64 (see `math::tests::ulp_bounds`), over the same inputs (±inf, NaN and subnormals
    /// included), in rows of every tail length.
    #[test]
    fn vector_functions_keep_the_scalar_bounds() {
        if !super::super::direct_conv::available() {
            eprintln!("skipped: this CPU has no AVX-512F");
            return;
        }
        let through = |f: Function| {
            move |x: f32| {
                let mut row = [x; 7];
                assert!(apply(f, &mut row));
                assert!(row.iter().all(|v| v.to_bits() == row[0].to_bits()));
                row[0]
            }
        };
        type Reference = fn(f64) -> f64;
        type Scalar = fn(f32) -> f32;
        let cases: [(Function, Reference, f64, (f64, f64)); 6] = [
            (Function::Exp, f64::exp, 2.0, (1e-30, 1e-37)),
            (Function::Tanh, f64::tanh, 3.0, (1e-30, 1e-37)),
            (Function::Sigmoid, sigmoid64, 3.0, (1e-30, 1e-37)),
            (Function::Silu, |x| x * sigmoid64(x), 4.0, (1e-30, 1e-37)),
            (Function::GeluErf, gelu_erf64, 16.0, (4e-3, 1e-8)),
            (Function::GeluTanh, gelu_tanh64, 16.0, (4e-3, 1e-8)),
        ];
        for (f, reference, max_ulps, (rel_from, max_abs)) in cases {
            let (rel, abs) = worst(through(f), reference, rel_from);
            eprintln!(
                "{f:?}: {:.2} ulp at x = {:e}; {:e} absolute at x = {:e}",
                rel.0, rel.1, abs.0, abs.1
            );
            assert!(rel.0 <= max_ulps && abs.0 <= max_abs, "{f:?} out of bounds");
        }
        // A long row: full steps and a masked tail, each value as the scalar function gives it (to a few ulp,
        // or an absolute 1e-8 in the GELUs' magnifying left tails).
        let xs: Vec<f32> = samples().into_iter().step_by(997).collect();
        let silu = |x| math::swish(x, 1.0);
        let scalars: [(Function, Scalar, f32); 6] = [
            (Function::Exp, math::exp, 1e-37),
            (Function::Tanh, math::tanh, 1e-37),
            (Function::Sigmoid, math::sigmoid, 1e-37),
            (Function::Silu, silu, 1e-37),
            (Function::GeluErf, math::gelu_erf, 1e-8),
            (Function::GeluTanh, math::gelu_tanh, 1e-8),
        ];
        for (f, scalar, floor) in scalars {
            let mut row = xs.clone();
            assert!(apply(f, &mut row));
            for (x, got) in xs.iter().zip(&row) {
                let want = scalar(*x);
                let close = (want - got).abs() <= 4e-7 * want.abs() + floor
                    || (want.is_nan() && got.is_nan())
                    || want == *got;
                assert!(close, "{f:?}({x}) = {got}, scalar {want}");
            }
        }
    }
}
