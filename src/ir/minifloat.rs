//! Narrow floating-point formats (f8e4m3, f8e5m2, f8e4m3fnuz, f8e5m2fnuz, f8e8m0 one per byte; f4e2m1 packed):
//! decoding to f64 and encoding with round-to-nearest-even, as OpenVINO's `Convert` does.
//!
//! Encoding does not saturate where the format can say "too large": f8e4m3 turns overflow and infinities into
//! NaN, f8e5m2 into infinities, the `fnuz` formats into their single NaN. f4e2m1 has neither, so it saturates to
//! ±6 (NaN too, keeping its sign); f8e8m0 saturates to 2^127 and turns negative values and zero into 2^-127
//! (its smallest value), as OpenVINO does. Saturating conversions (ONNX `Cast` with `saturate=1`) clamp to
//! [`max_finite`] first.

use super::element_type::ElementType;

/// How a signed narrow format spells its special values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Specials {
    /// IEEE style: the top exponent holds infinities (zero mantissa) and NaNs.
    Ieee,
    /// "Finite": no infinities; only the all-ones exponent and mantissa is NaN (f8e4m3).
    FiniteNan,
    /// "Finite, unsigned zero": no infinities, no negative zero; the sign bit alone is NaN (`fnuz`).
    Fnuz,
    /// Neither infinities nor NaN (f4e2m1): everything saturates.
    None,
}

/// A signed format of one sign bit, `exp_bits` exponent bits and `man_bits` mantissa bits.
#[derive(Debug, Clone, Copy)]
struct Format {
    exp_bits: i32,
    man_bits: i32,
    bias: i32,
    specials: Specials,
}

impl Format {
    /// The format of a narrow float element type; `None` for the others (and f8e8m0, which has no sign or
    /// mantissa).
    fn of(et: ElementType) -> Option<Format> {
        let (exp_bits, man_bits, bias, specials) = match et {
            ElementType::F8E4M3 => (4, 3, 7, Specials::FiniteNan),
            ElementType::F8E5M2 => (5, 2, 15, Specials::Ieee),
            ElementType::F8E4M3FNUZ => (4, 3, 8, Specials::Fnuz),
            ElementType::F8E5M2FNUZ => (5, 2, 16, Specials::Fnuz),
            ElementType::F4E2M1 => (2, 1, 1, Specials::None),
            _ => return None,
        };
        Some(Format {
            exp_bits,
            man_bits,
            bias,
            specials,
        })
    }

    fn sign_bit(self) -> u8 {
        1 << (self.exp_bits + self.man_bits)
    }

    fn man_mask(self) -> u8 {
        (1 << self.man_bits) - 1
    }

    fn max_exp_field(self) -> i32 {
        (1 << self.exp_bits) - 1
    }

    /// The code of the largest finite magnitude.
    fn max_code(self) -> u8 {
        let all = self.sign_bit() - 1;
        match self.specials {
            Specials::Ieee => all - self.man_mask() - 1,
            Specials::FiniteNan => all - 1,
            Specials::Fnuz | Specials::None => all,
        }
    }

    /// The code of NaN with the given sign (`None` for formats without NaN).
    fn nan(self, negative: bool) -> Option<u8> {
        let sign = if negative { self.sign_bit() } else { 0 };
        match self.specials {
            // The quiet NaN: top exponent, top mantissa bit.
            Specials::Ieee => Some(sign | self.overflow(false) | (1 << (self.man_bits - 1))),
            Specials::FiniteNan => Some(sign | (self.sign_bit() - 1)),
            Specials::Fnuz => Some(self.sign_bit()),
            Specials::None => None,
        }
    }

    /// The code an overflowing magnitude (or an infinity) becomes without saturation.
    fn overflow(self, negative: bool) -> u8 {
        let sign = if negative { self.sign_bit() } else { 0 };
        match self.specials {
            Specials::Ieee => sign | (self.max_exp_field() << self.man_bits) as u8,
            Specials::None => sign | self.max_code(),
            Specials::FiniteNan | Specials::Fnuz => self.nan(negative).unwrap_or(0),
        }
    }

    fn decode(self, raw: u8) -> f64 {
        let raw = raw & (self.sign_bit() | (self.sign_bit() - 1));
        let negative = raw & self.sign_bit() != 0;
        let magnitude = raw & !self.sign_bit();
        let exp = i32::from(magnitude >> self.man_bits);
        let man = f64::from(magnitude & self.man_mask());
        let is_nan = match self.specials {
            Specials::Ieee => exp == self.max_exp_field() && man != 0.0,
            Specials::FiniteNan => magnitude == self.sign_bit() - 1,
            Specials::Fnuz => raw == self.sign_bit(),
            Specials::None => false,
        };
        if is_nan {
            return f64::NAN;
        }
        let value = if self.specials == Specials::Ieee && exp == self.max_exp_field() {
            f64::INFINITY
        } else if exp == 0 {
            man * 2f64.powi(1 - self.bias - self.man_bits)
        } else {
            (1.0 + man / f64::from(1u8 << self.man_bits)) * 2f64.powi(exp - self.bias)
        };
        if negative { -value } else { value }
    }

    fn encode(self, v: f64) -> u8 {
        let negative = v.is_sign_negative();
        if v.is_nan() {
            return self
                .nan(negative)
                .unwrap_or_else(|| self.overflow(negative));
        }
        let sign = if negative { self.sign_bit() } else { 0 };
        let a = v.abs();
        let max = self.decode(self.max_code());
        if a > max * 2.0 {
            return self.overflow(negative);
        }
        // Quantise to the spacing of `a`'s binade (never finer than the subnormal spacing), ties to even.
        let min_exp = 1 - self.bias;
        let exp = binade(a).max(min_exp);
        let ulp = 2f64.powi(exp - self.man_bits);
        let q = (a / ulp).round_ties_even() * ulp;
        if q > max {
            return self.overflow(negative);
        }
        if q == 0.0 {
            return if self.specials == Specials::Fnuz {
                0
            } else {
                sign
            };
        }
        sign | self.magnitude_code(q)
    }

    /// The code of an exactly representable positive magnitude `q`.
    fn magnitude_code(self, q: f64) -> u8 {
        let min_exp = 1 - self.bias;
        let exp = binade(q).max(min_exp);
        let scaled = q / 2f64.powi(exp - self.man_bits);
        let normal = scaled >= f64::from(1u8 << self.man_bits);
        let exp_field = if normal { exp + self.bias } else { 0 };
        let man = scaled as i32 & i32::from(self.man_mask());
        ((exp_field << self.man_bits) | man) as u8
    }
}

/// The exponent of `a`'s binade: `floor(log2(a))` for a positive normal f64, exactly (-1023 for zero and
/// subnormals, which every narrow format rounds like zero).
fn binade(a: f64) -> i32 {
    ((a.to_bits() >> 52) & 0x7FF) as i32 - 1023
}

/// f8e8m0: a biased power of two, 2^(code-127); 0xFF is NaN.
mod e8m0 {
    use super::binade;

    pub fn decode(raw: u8) -> f64 {
        if raw == 0xFF {
            f64::NAN
        } else {
            2f64.powi(i32::from(raw) - 127)
        }
    }

    /// The nearest power of two (ties to the even code), saturating to 2^127; NaN stays NaN, and zero,
    /// negative values and anything below 2^-127 become 2^-127 (code 0), as OpenVINO does.
    pub fn encode(v: f64) -> u8 {
        if v.is_nan() {
            return if v.is_sign_negative() { 0 } else { 0xFF };
        }
        if v <= 2f64.powi(-127) {
            return 0;
        }
        if v >= 2f64.powi(127) {
            return 0xFE;
        }
        let code = binade(v) + 127;
        let mantissa = v.to_bits() & ((1 << 52) - 1);
        let half = 1 << 51;
        let up = mantissa > half || (mantissa == half && code % 2 == 1);
        (code + i32::from(up)).clamp(0, 0xFE) as u8
    }
}

/// True for the element types this module encodes and decodes.
pub fn is_minifloat(et: ElementType) -> bool {
    et == ElementType::F8E8M0 || Format::of(et).is_some()
}

/// The value of code `raw` (the low bits, for f4e2m1) of a narrow float type; NaN for other types.
pub fn decode(et: ElementType, raw: u8) -> f64 {
    match Format::of(et) {
        Some(f) => f.decode(raw),
        None if et == ElementType::F8E8M0 => e8m0::decode(raw),
        None => f64::NAN,
    }
}

/// The code of `v` in a narrow float type (round to nearest even, without saturation where the format can
/// express overflow; see the module documentation); 0 for other types.
pub fn encode(et: ElementType, v: f64) -> u8 {
    match Format::of(et) {
        Some(f) => f.encode(v),
        None if et == ElementType::F8E8M0 => e8m0::encode(v),
        None => 0,
    }
}

/// The largest finite value of a narrow float type (the bound a saturating conversion clamps to); `None` for
/// other types.
pub fn max_finite(et: ElementType) -> Option<f64> {
    match Format::of(et) {
        Some(f) => Some(f.decode(f.max_code())),
        None if et == ElementType::F8E8M0 => Some(2f64.powi(127)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ElementType::*;

    fn enc(et: ElementType, vs: &[f64]) -> Vec<u8> {
        vs.iter().map(|&v| encode(et, v)).collect()
    }

    fn dec(et: ElementType, codes: &[u8]) -> Vec<f64> {
        codes.iter().map(|&c| decode(et, c)).collect()
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn f8e4m3_matches_openvino() {
        // OpenVINO 2026.4 Convert f32 -> f8e4m3 of these values.
        let v = [1000.0, 0.3, -500.0, f64::NAN, INF, -INF, 1e-9, 460.0, 470.0];
        assert_eq!(
            enc(F8E4M3, &v),
            [0x7F, 0x2A, 0xFF, 0x7F, 0x7F, 0xFF, 0, 0x7E, 0x7F]
        );
        // Subnormals: 2^-9 is the smallest; 2^-10 ties to 0, 1.5 * 2^-9 ties to 2 * 2^-9.
        let s = 2f64.powi(-9);
        assert_eq!(
            enc(F8E4M3, &[s, 0.5 * s, 1.5 * s, 7.0 * s, 8.0 * s]),
            [1, 0, 2, 7, 8]
        );
        assert_eq!(enc(F8E4M3, &[-0.0, -s]), [0x80, 0x81]);
        let d = dec(F8E4M3, &[0, 1, 7, 8, 0x7E, 0x80, 0xFE, 0x7B]);
        assert_eq!(d, [0.0, s, 7.0 * s, 8.0 * s, 448.0, -0.0, -448.0, 352.0]);
        assert!(decode(F8E4M3, 0x7F).is_nan() && decode(F8E4M3, 0xFF).is_nan());
        assert_eq!(max_finite(F8E4M3), Some(448.0));
    }

    #[test]
    fn f8e5m2_matches_openvino() {
        let v = [1000.0, 0.3, -500.0, INF, -INF, 60000.0, 1e6, 5.0, 460.0];
        assert_eq!(
            enc(F8E5M2, &v),
            [0x64, 0x35, 0xE0, 0x7C, 0xFC, 0x7B, 0x7C, 0x45, 0x5F]
        );
        assert_eq!(
            enc(F8E5M2, &[f64::NAN, -f64::NAN, -0.0]),
            [0x7E, 0xFE, 0x80]
        );
        let s = 2f64.powi(-16);
        assert_eq!(enc(F8E5M2, &[s, 0.5 * s, 0.75 * s, 1.5 * s]), [1, 0, 1, 2]);
        assert_eq!(dec(F8E5M2, &[1, 0x7B, 0x7C, 0xFC]), [s, 57344.0, INF, -INF]);
        assert!(decode(F8E5M2, 0x7D).is_nan() && decode(F8E5M2, 0xFF).is_nan());
        assert_eq!(max_finite(F8E5M2), Some(57344.0));
    }

    #[test]
    fn fnuz_formats() {
        // A single NaN 0x80, no negative zero, no infinity; overflow and infinities become NaN.
        assert_eq!(
            enc(F8E4M3FNUZ, &[240.0, 250.0, INF, -INF, f64::NAN, -0.0, -1.0]),
            [0x7F, 0x80, 0x80, 0x80, 0x80, 0, 0xC0]
        );
        assert!(decode(F8E4M3FNUZ, 0x80).is_nan());
        assert_eq!(
            dec(F8E4M3FNUZ, &[0x7F, 0xFF, 1, 0x40]),
            [240.0, -240.0, 2f64.powi(-10), 1.0]
        );
        assert_eq!(
            enc(F8E5M2FNUZ, &[57344.0, 1e6, -INF, -0.0, 1.0]),
            [0x7F, 0x80, 0x80, 0, 0x40]
        );
        assert_eq!(dec(F8E5M2FNUZ, &[0x7F, 1]), [57344.0, 2f64.powi(-17)]);
        assert_eq!(max_finite(F8E4M3FNUZ), Some(240.0));
    }

    #[test]
    fn f4e2m1_matches_openvino() {
        let all: Vec<u8> = (0..16).collect();
        let want = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
        let d = dec(F4E2M1, &all);
        assert_eq!(&d[..8], &want);
        assert_eq!(d[8..].iter().map(|x| -x).collect::<Vec<_>>(), want);
        // Saturating, NaN to ±6; ties to even (5 -> 4, 0.25 -> 0, 0.75 -> 1).
        let v = [
            1e6,
            -1e6,
            f64::NAN,
            -f64::NAN,
            -0.0,
            5.0,
            2.75,
            0.25,
            0.75,
            0.3,
        ];
        assert_eq!(enc(F4E2M1, &v), [7, 0xF, 7, 0xF, 8, 6, 5, 0, 2, 1]);
        assert_eq!(max_finite(F4E2M1), Some(6.0));
    }

    #[test]
    fn f8e8m0_matches_openvino() {
        let v = [
            1000.0,
            0.3,
            -500.0,
            f64::NAN,
            INF,
            -INF,
            1e-9,
            460.0,
            3e38,
            0.75,
            1.5,
            3.0,
        ];
        assert_eq!(
            enc(F8E8M0, &v),
            [137, 125, 0, 255, 254, 0, 97, 136, 254, 126, 128, 128]
        );
        assert_eq!(enc(F8E8M0, &[0.0, -f64::NAN, 1e-300]), [0, 0, 0]);
        assert_eq!(
            dec(F8E8M0, &[127, 0, 254]),
            [1.0, 2f64.powi(-127), 2f64.powi(127)]
        );
        assert!(decode(F8E8M0, 255).is_nan());
    }

    #[test]
    fn every_code_round_trips() {
        for et in [F8E4M3, F8E5M2, F8E4M3FNUZ, F8E5M2FNUZ, F8E8M0] {
            for c in 0..=255u8 {
                let v = decode(et, c);
                if !v.is_nan() {
                    assert_eq!(encode(et, v), c, "{et} code {c:#x} = {v}");
                }
            }
        }
    }
}
