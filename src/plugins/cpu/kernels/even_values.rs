//! Copies every second value of a row (stride-2 subsampling, as strided 1x1 convolutions read their input) with
//! AVX-512F: sixteen outputs from two loads and one permute instead of sixteen scalar moves.

/// Copies `src[2i]` to `dst[i]` for every `i` of `dst`, where this CPU has AVX-512F; returns whether it did
/// (the caller copies otherwise). `src` must hold `2 · dst.len() - 1` values at least; otherwise nothing is
/// copied and the answer is false.
pub fn copy_evens(src: &[f32], dst: &mut [f32]) -> bool {
    if dst.is_empty() {
        return true;
    }
    if src.len() < 2 * dst.len() - 1 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F and the lengths were just checked.
        unsafe { avx512::copy_evens(src, dst) };
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use crate::plugins::cpu::kernels::math::lanes_below;
    use std::arch::x86_64::*;

    /// Outputs per vector.
    const LANES: usize = 16;

    /// [`super::copy_evens`]'s work.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `src` holds `2 · dst.len() - 1` values at least.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn copy_evens(src: &[f32], dst: &mut [f32]) {
        // Lanes 0, 2, .., 30 of two vectors side by side.
        let evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        for c in (0..dst.len()).step_by(LANES) {
            let from = 2 * c;
            // SAFETY: `from` < src.len() and c < dst.len(); each mask keeps its access inside its slice (the
            // second load's address may lie past `src`'s end, with every lane masked off).
            unsafe {
                let lo =
                    _mm512_maskz_loadu_ps(lanes_below(src.len() - from), src.as_ptr().add(from));
                let hi = _mm512_maskz_loadu_ps(
                    lanes_below(src.len().saturating_sub(from + LANES)),
                    src.as_ptr().wrapping_add(from + LANES),
                );
                let picked = _mm512_permutex2var_ps(lo, evens, hi);
                _mm512_mask_storeu_ps(dst.as_mut_ptr().add(c), lanes_below(dst.len() - c), picked);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_evens;

    #[test]
    fn copies_every_second_value() {
        for n in [1, 5, 15, 16, 17, 31, 32, 33, 56, 100] {
            for extra in [0, 1, 7] {
                let src: Vec<f32> = (0..2 * n - 1 + extra).map(|i| i as f32).collect();
                let mut dst = vec![-1.0; n];
                if copy_evens(&src, &mut dst) {
                    let want: Vec<f32> = (0..n).map(|i| (2 * i) as f32).collect();
                    assert_eq!(dst, want, "{n} outputs from {} values", src.len());
                }
            }
        }
        let mut dst = [0.0; 4];
        assert!(!copy_evens(&[1.0; 6], &mut dst));
    }
}
