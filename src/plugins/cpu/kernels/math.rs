//! Branch-free f32 approximations of the transcendental functions behind activations, written so that LLVM
//! vectorises loops over them (no f64, no libm calls, selects instead of branches); [`Unary`]/[`Binary`]
//! function types that such loops inline; and `best_isa_fn`, which compiles a loop for AVX2+FMA when the CPU
//! has them.
//!
//! Accuracy against the f64 reference, measured by the tests over wide ranges (see `tests::ulp_bounds`):
//! `exp` 1 ulp, `log` 1, `hsigmoid` 1, `hswish` 2, `tanh` 1.3, `elu` 1.2, `sigmoid` 2.5, `erf` 2.5,
//! `softplus` 2.6, `swish` 3.2, `mish` 4. `gelu_erf` and `gelu_tanh`: their left tails behave like
//! `e^(-x²/2)` and `e^(-0.0713 x³)`, which magnify the rounding of the f32 argument: ≤ 16 ulp where
//! |y| ≥ 4e-3 (x > -3) and ≤ 1e-8 absolute beyond. Results under 1e-30 (underflowing towards subnormals) are
//! held to 1e-37 absolute. ±inf and NaN give what the reference gives.

/// True when the CPU has AVX2 and FMA (detected once, then cached by the standard library).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `fn $name<generics>(args)` that calls the `#[inline(always)]` function `$inner` with the same
/// arguments, compiled for AVX2+FMA when the CPU has them and portably otherwise: `$inner` and everything it
/// inlines (the `#[inline(always)]` functions of this module, [`Unary::apply`], [`Binary::apply`]) are then
/// vectorised for the chosen ISA.
macro_rules! best_isa_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident[$($g:tt)*]($($a:ident: $t:ty),* $(,)?) => $inner:path) => {
        $(#[$m])*
        $vis fn $name<$($g)*>($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$($g)*>($($a: $t),*) {
                $inner($($a),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::plugins::cpu::kernels::math::has_avx2_fma() {
                // SAFETY: the CPU has the features `avx2` is compiled for.
                return unsafe { avx2($($a),*) };
            }
            $inner($($a),*)
        }
    };
}
pub(crate) use best_isa_fn;

/// The AVX-512 mask of the first `n` of sixteen lanes (all of them for `n` >= 16).
#[cfg(target_arch = "x86_64")]
pub(crate) fn lanes_below(n: usize) -> std::arch::x86_64::__mmask16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as std::arch::x86_64::__mmask16
    }
}

/// A scalar f32 function that vectorised loops inline: implementations mark `apply` `#[inline(always)]`.
pub trait Unary: Copy + Send + Sync {
    /// The function's value at `x`.
    fn apply(self, x: f32) -> f32;
}

/// A binary function of two `T`s (f32 by default) giving an `O` that vectorised loops inline: implementations
/// mark `apply` `#[inline(always)]`.
pub trait Binary<T = f32, O = T>: Copy + Send + Sync {
    /// The function's value at `(a, b)`.
    fn apply(self, a: T, b: T) -> O;
}

/// Declares unit structs implementing [`Unary`] by calling a function of one `f32`.
macro_rules! unary_structs {
    ($($(#[$m:meta])* $name:ident => $f:expr;)*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Unary for $name {
            #[inline(always)]
            fn apply(self, x: f32) -> f32 {
                ($f)(x)
            }
        }
    )*};
}

unary_structs! {
    /// `max(x, 0)`.
    Relu => |x: f32| x.max(0.0);
    /// `|x|`.
    Abs => f32::abs;
    /// `-x`.
    Negative => |x: f32| -x;
    /// `√x`.
    Sqrt => f32::sqrt;
    /// `x²`.
    Square => |x: f32| x * x;
    /// Rounding down.
    Floor => f32::floor;
    /// Rounding up.
    Ceil => f32::ceil;
    /// [`exp`].
    Exp => exp;
    /// [`log`].
    Log => log;
    /// [`sigmoid`].
    Sigmoid => sigmoid;
    /// [`tanh`].
    Tanh => tanh;
    /// [`erf`].
    Erf => erf;
    /// [`softplus`].
    SoftPlus => softplus;
    /// `x / (1 + |x|)`.
    SoftSign => |x: f32| x / (1.0 + x.abs());
    /// [`mish`].
    Mish => mish;
    /// [`hswish`].
    HSwish => hswish;
    /// [`hsigmoid`].
    HSigmoid => hsigmoid;
    /// [`gelu_erf`].
    GeluErf => gelu_erf;
    /// [`gelu_tanh`].
    GeluTanh => gelu_tanh;
}

/// [`swish`] with a fixed beta.
#[derive(Debug, Clone, Copy)]
pub struct Swish(pub f32);

impl Unary for Swish {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        swish(x, self.0)
    }
}

/// [`elu`] with a fixed alpha.
#[derive(Debug, Clone, Copy)]
pub struct Elu(pub f32);

impl Unary for Elu {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        elu(x, self.0)
    }
}

/// Clamping to `[lo, hi]` (NaN kept).
#[derive(Debug, Clone, Copy)]
pub struct Clamp(pub f32, pub f32);

impl Unary for Clamp {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        let x = if x < self.0 { self.0 } else { x };
        if x > self.1 { self.1 } else { x }
    }
}

/// Any function of an f64, evaluated through f64 (not vectorised: for ops without an f32 version).
#[derive(Debug, Clone, Copy)]
pub struct ThroughF64(pub fn(f64) -> f64);

impl Unary for ThroughF64 {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        (self.0)(x as f64) as f32
    }
}

/// `y[i] = f(x[i])` over equal-length slices.
#[inline(always)]
fn map_loop<F: Unary>(x: &[f32], y: &mut [f32], f: F) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f.apply(v);
    }
}

best_isa_fn! {
    /// `y[i] = f(x[i])` over equal-length slices, vectorised for the best ISA.
    pub fn map[F: Unary](x: &[f32], y: &mut [f32], f: F) => map_loop
}

/// Horner evaluation of `c[0] + c[1] t + c[2] t² + …`.
#[inline(always)]
fn poly(t: f32, c: &[f32]) -> f32 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * t + ci)
}

/// `2^n` for `n` in [-126, 127], built from its exponent bits (other `n` give garbage, never a panic).
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// The polynomial `P` of [`exp`]'s `e^r = 1 + r + r² P(r)` on `r` in [-ln2/2, ln2/2] (fitted for a relative
/// error of `e^r` of 3e-9).
pub(super) const EXP_POLY: [f32; 5] = [
    0.499_999_94,
    0.166_665_21,
    0.041_668_39,
    0.008_368_71,
    0.001_381_461,
];
/// `ln 2` split in a part whose products with small integers are exact and the rest.
pub(super) const LN2_HI: f32 = 0.693_359_4;
/// See [`LN2_HI`].
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
/// [`exp`]'s arguments are clamped to `[EXP_MIN_ARG, EXP_MAX_ARG]` (0 and +inf beyond).
pub(super) const EXP_MAX_ARG: f32 = 88.8;
/// See [`EXP_MAX_ARG`].
pub(super) const EXP_MIN_ARG: f32 = -104.0;

/// `e^x` (≤ 2 ulp; gradual underflow to 0 below -87.3, +inf above 88.72, NaN kept).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // e^x = 2^n · e^r with n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2]; e^r = 1 + r + r² P(r).
    const SHIFTER: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer in the low mantissa bits
    // Comparisons (not min/max) so that NaN passes through.
    let x = if x > EXP_MAX_ARG { EXP_MAX_ARG } else { x };
    let x = if x < EXP_MIN_ARG { EXP_MIN_ARG } else { x };
    let t = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + (r + r * r * poly(r, &EXP_POLY));
    // n in [-150, 128]: scale in two halves so that results below 2^-126 underflow gradually.
    let ni = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let half = ni >> 1;
    p * pow2i(half) * pow2i(ni.wrapping_sub(half))
}

/// Natural logarithm (≤ 2 ulp; -inf at 0, NaN below 0, +inf at +inf).
#[inline(always)]
pub fn log(x: f32) -> f32 {
    // x = 2^e · m with m in [√½, √2); log(m) = f - f²/2 + f³ P(f), f = m - 1 (P fitted for a relative
    // error of log(m) of 6e-9).
    const P: [f32; 8] = [
        0.333_333_3,
        -0.250_008_23,
        0.200_012_27,
        -0.166_233_57,
        0.142_017_62,
        -0.131_601_94,
        0.127_615_5,
        -0.076_344_3,
    ];
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let subnormal = x < f32::MIN_POSITIVE;
    let xs = if subnormal { x * 8_388_608.0 } else { x }; // 2^23
    let bits = xs.to_bits() as i32;
    let mut e = ((bits >> 23) & 0xff) - 127 - if subnormal { 23 } else { 0 };
    let mut m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32);
    let big = m > std::f32::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    let f = m - 1.0;
    let ef = e as f32;
    let y = (f * f * f * poly(f, &P) + ef * LN2_LO - 0.5 * f * f + f) + ef * LN2_HI;
    let y = if x == f32::INFINITY { x } else { y };
    let y = if x == 0.0 { f32::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() { f32::NAN } else { y }
}

/// `1 / (1 + e^-x)`, accurate in relative terms on both tails.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x < 0.0 { e * s } else { s }
}

/// `x · sigmoid(beta · x)` (Swish; SiLU for beta = 1).
#[inline(always)]
pub fn swish(x: f32, beta: f32) -> f32 {
    x * sigmoid(beta * x)
}

/// Hyperbolic tangent: an odd polynomial near 0, `1 - 2 / (e^2|x| + 1)` beyond.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let x2 = x * x;
    let small = x + x * x2 * poly(x2, &TANH_SMALL_POLY);
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < TANH_SMALL_LIMIT { small } else { large }
}

/// The `P` of [`tanh`]'s `x + x³ P(x²)` below [`TANH_SMALL_LIMIT`] (fitted for a relative error of tanh of 4e-9).
pub(super) const TANH_SMALL_POLY: [f32; 5] = [
    -0.333_332_8,
    0.133_314_42,
    -0.053_739_715,
    0.020_639_09,
    -0.005_704_990_6,
];
/// Where [`tanh`] turns from its polynomial to `1 - 2 / (e^2|x| + 1)`.
pub(super) const TANH_SMALL_LIMIT: f32 = 0.625;

/// The polynomial `Q` of [`erfc_tail`].
pub(super) const ERFC_TAIL_POLY: [f32; 9] = [
    0.282_077_58,
    0.282_550_87,
    0.241_677_76,
    0.208_860_47,
    -0.042_168_166,
    0.301_253_08,
    -0.506_999_5,
    0.293_207_44,
    -0.060_447_264,
];
/// [`erfc_tail`] clamps `a` here, where `e^-a²` is 0 in f32 (erfc(10.5) ≈ 1e-49).
pub(super) const ERFC_MAX_ARG: f32 = 10.5;

/// `erfc(a)` for `a ≥ 0.5`, given `a2 = a²` (relative error ≤ 2.5e-7 plus `a²` times the relative error of
/// `a2`): `e^-a² · t · Q(t)`, `t = 1 / (1 + a/2)`. Smaller `a` give a meaningless result that callers discard.
#[inline(always)]
fn erfc_tail(a: f32, a2: f32) -> f32 {
    let a = if a > ERFC_MAX_ARG { ERFC_MAX_ARG } else { a };
    let max_a2 = ERFC_MAX_ARG * ERFC_MAX_ARG;
    let a2 = if a2 > max_a2 { max_a2 } else { a2 };
    let t = 1.0 / (1.0 + 0.5 * a);
    exp(-a2) * t * poly(t, &ERFC_TAIL_POLY)
}

/// The polynomial of [`erf_over_x`] (in `x²`).
pub(super) const ERF_OVER_X_POLY: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    -0.376_126_26,
    0.112_835_854,
    -0.026_853_817,
    0.005_188_334_3,
    -8.010_247e-4,
    7.854_025e-5,
];

/// `erf(x) / x` for |x| < 1 (relative error 1.2e-9).
#[inline(always)]
fn erf_over_x(x2: f32) -> f32 {
    poly(x2, &ERF_OVER_X_POLY)
}

/// The error function.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let small = x * erf_over_x(x * x);
    let large = (1.0 - erfc_tail(a, a * a)).copysign(x);
    if a < 1.0 { small } else { large }
}

/// `x · Φ(x) = x/2 · (1 + erf(x/√2))`, with `1 + erf(z)` taken as `erfc(|z|)` for z ≤ -0.5 so the left tail
/// keeps its relative accuracy instead of cancelling.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let tail = erfc_tail(a, 0.5 * x * x); // z² with one rounding
    let one_plus_erf = if z <= -0.5 {
        tail
    } else if a < 1.0 {
        1.0 + z * erf_over_x(z * z)
    } else {
        2.0 - tail
    };
    0.5 * x * one_plus_erf
}

/// `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))`, with `1 + tanh(u) = 2 sigmoid(2u)` (no cancellation).
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    let u = GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x);
    x * sigmoid(2.0 * u)
}

/// `√(2/π)`, the scale of [`gelu_tanh`]'s argument.
pub(super) const GELU_TANH_SCALE: f32 = 0.797_884_6;
/// The cubic term's weight in [`gelu_tanh`]'s argument.
pub(super) const GELU_TANH_CUBIC: f32 = 0.044_715;

/// `log(1 + e^x)`: `max(x, 0) + log1p(e^-|x|)`, with log1p exact for tiny arguments.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    let e = exp(-x.abs());
    let u = 1.0 + e;
    // log1p(e) = log(u) · e / (u - 1): the quotient corrects the rounding of 1 + e.
    let l = if u == 1.0 { e } else { log(u) * e / (u - 1.0) };
    let y = x.max(0.0) + l;
    if x.is_nan() { x } else { y }
}

/// `x · tanh(softplus(x))` as `x · n / (n + 2)` with `n = e^x (e^x + 2)`.
#[inline(always)]
pub fn mish(x: f32) -> f32 {
    let e = exp(x);
    let n = e * (e + 2.0);
    let y = x * (n / (n + 2.0));
    if x > 20.0 { x } else { y }
}

/// `x` for x ≥ 0, `alpha (e^x - 1)` below, with e^x - 1 accurate near 0.
#[inline(always)]
pub fn elu(x: f32, alpha: f32) -> f32 {
    if x >= 0.0 { x } else { alpha * expm1(x) }
}

/// `e^x - 1` (≤ 2 ulp): a series near 0, `exp(x) - 1` elsewhere.
#[inline(always)]
fn expm1(x: f32) -> f32 {
    // Taylor to degree 9 on |x| < 0.5 (truncation 0.5^9/10! ≈ 5e-10 relative); beyond, e^x - 1 is exact
    // (Sterbenz) for x ≥ -0.69 and loses nothing to cancellation further out.
    const P: [f32; 8] = [
        0.5,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
    ];
    let small = x + x * x * poly(x, &P);
    if x.abs() < 0.5 { small } else { exp(x) - 1.0 }
}

/// `x · min(max(x + 3, 0), 6) / 6`.
#[inline(always)]
pub fn hswish(x: f32) -> f32 {
    x * hsigmoid(x)
}

/// `min(max(x + 3, 0), 6) / 6`.
#[inline(always)]
pub fn hsigmoid(x: f32) -> f32 {
    let r = x + 3.0;
    let r = if r < 0.0 { 0.0 } else { r };
    let r = if r > 6.0 { 6.0 } else { r };
    r / 6.0
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::plugins::cpu::kernels::testing::Lcg;

    /// Inputs: a dense sweep of [-25, 25], random magnitudes from 1e-30 to 1e30 of both signs, and specials.
    pub(crate) fn samples() -> Vec<f32> {
        let mut g = Lcg(11);
        let mut v: Vec<f32> = (-250_000..=250_000).map(|i| i as f32 * 1e-4).collect();
        v.extend((0..200_000).map(|_| {
            let m = 10f64.powf(g.next_f64() * 60.0 - 30.0);
            (if g.next_f64() < 0.5 { -m } else { m }) as f32
        }));
        v.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            1e-40,
            f32::MAX,
            f32::MIN,
            88.72,
            88.73,
            -87.4,
            -103.0,
            -104.5,
        ]);
        v
    }

    /// The distance of `got` from `want` in units of the last place of `want` rounded to f32.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        if w.is_nan() || w.is_infinite() || got.is_nan() || got.is_infinite() {
            let same = (w.is_nan() && got.is_nan()) || w == got;
            return if same { 0.0 } else { f64::INFINITY };
        }
        let exp = ((w.abs().to_bits() >> 23) as i32).max(1) - 127 - 23;
        (got as f64 - want).abs() / 2f64.powi(exp)
    }

    /// The largest error of `f` against `reference` over [`samples`]: in ulp where `|reference| ≥ rel_from`
    /// (and is a normal f32), in absolute terms elsewhere; with the input of each.
    pub(crate) fn worst(
        f: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
        rel_from: f64,
    ) -> ((f64, f32), (f64, f32)) {
        let (mut rel, mut abs) = ((0.0f64, 0.0f32), (0.0f64, 0.0f32));
        for x in samples() {
            let (got, want) = (f(x), reference(x as f64));
            let e = ulps(got, want);
            if want.abs() < rel_from || (want as f32).is_subnormal() && e.is_finite() {
                let d = (got as f64 - want).abs();
                if d > abs.0 || d.is_nan() {
                    abs = (d, x);
                }
            } else if e > rel.0 || e.is_nan() {
                rel = (e, x);
            }
        }
        (rel, abs)
    }

    pub(crate) fn sigmoid64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn softplus64(x: f64) -> f64 {
        if x > 20.0 { x } else { x.exp().ln_1p() }
    }

    type Case<'a> = (&'a str, fn(f32) -> f32, fn(f64) -> f64, f64, (f64, f64));

    pub(crate) fn gelu_erf64(x: f64) -> f64 {
        0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
    }

    pub(crate) fn gelu_tanh64(x: f64) -> f64 {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
    }

    #[test]
    fn ulp_bounds() {
        // (name, f, reference, max ulp, (|reference| below which the absolute bound applies, that bound));
        // subnormal results always get the absolute bound.
        const REL: (f64, f64) = (1e-30, 1e-37);
        let cases: [Case; 13] = [
            ("exp", exp, f64::exp, 2.0, REL),
            ("log", log, f64::ln, 2.0, REL),
            ("sigmoid", sigmoid, sigmoid64, 3.0, REL),
            ("tanh", tanh, f64::tanh, 3.0, REL),
            ("erf", erf, libm::erf, 3.0, REL),
            ("swish", |x| swish(x, 1.0), |x| x * sigmoid64(x), 4.0, REL),
            ("softplus", softplus, softplus64, 4.0, REL),
            ("mish", mish, |x| x * softplus64(x).tanh(), 4.0, REL),
            (
                "elu",
                |x| elu(x, 0.5),
                |x| if x >= 0.0 { x } else { 0.5 * x.exp_m1() },
                4.0,
                REL,
            ),
            (
                "hsigmoid",
                hsigmoid,
                |x| (x + 3.0).clamp(0.0, 6.0) / 6.0,
                2.0,
                REL,
            ),
            (
                "hswish",
                hswish,
                |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
                2.0,
                REL,
            ),
            ("gelu_erf", gelu_erf, gelu_erf64, 16.0, (4e-3, 1e-8)),
            ("gelu_tanh", gelu_tanh, gelu_tanh64, 16.0, (4e-3, 1e-8)),
        ];
        let mut failed = Vec::new();
        for (name, f, reference, max_ulps, (rel_from, max_abs)) in cases {
            let (rel, abs) = worst(f, reference, rel_from);
            eprintln!(
                "{name}: {:.2} ulp at x = {:e}; {:e} absolute at x = {:e}",
                rel.0, rel.1, abs.0, abs.1
            );
            if !(rel.0 <= max_ulps && abs.0 <= max_abs) {
                failed.push(name);
            }
        }
        assert!(failed.is_empty(), "out of bounds: {failed:?}");
    }

    #[test]
    fn map_applies_the_function() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.01 - 5.0).collect();
        let mut y = vec![f32::NAN; x.len()];
        map(&x, &mut y, Sigmoid);
        for (a, b) in x.iter().zip(&y) {
            assert!((sigmoid64(*a as f64) - *b as f64).abs() < 1e-7);
        }
    }
}
