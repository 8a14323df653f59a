//! f32 MaxPool (values only) of 2-D windows with stride 2 along the width, on AVX-512F CPUs: ResNet's 3x3/2,
//! VGG's and U-Net's 2x2/2. Per output row, the running max of the window's input rows (contiguous runs) goes
//! into a row with -inf on either side; then, per sixteen outputs, each width tap's values are the even lanes of
//! two loads from that row, picked by one permute. No copy of the plane, and no scalar tails.

use crate::ops::conv::Axis;

/// Values of -inf kept before a row's first value: the most left padding a window may have.
const GUARD: usize = 16;
/// Outputs per vector.
const LANES: usize = 16;

/// Whether this CPU runs [`max_plane`] and it serves axes `a` (depth, height, width): depth trivial, width
/// stride 2 without dilation, a window at most 16 wide and left padding at most 16 (the guard).
pub fn suits(a: &[Axis; 3]) -> bool {
    let w = &a[2];
    available()
        && a[0].input == 1
        && a[0].output == 1
        && a[0].kernel == 1
        && w.stride == 2
        && w.dilation == 1
        && (1..=GUARD).contains(&w.kernel)
        && w.pad_begin <= GUARD
}

/// Whether this CPU has AVX-512F.
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Scratch values [`max_plane`] needs for axes `a`: one row, its guards, and the reach of the last vector's
/// taps past the row's end.
pub fn scratch_len(a: &[Axis; 3]) -> usize {
    let w = &a[2];
    GUARD + (w.input + 2 * LANES).max(2 * w.output.div_ceil(LANES) * LANES) + w.kernel + 2 * LANES
}

/// Max over each window of one plane: `x` holds the input plane (`height × width`), `v` the output plane,
/// `row` at least [`scratch_len`] values. A NaN input is skipped (the running max starts at -inf and keeps
/// itself against a NaN), and a window of padding alone gives -inf. Does nothing where [`suits`] is false or a
/// length is short.
pub fn max_plane(a: &[Axis; 3], x: &[f32], row: &mut [f32], v: &mut [f32]) {
    let (h, w) = (&a[1], &a[2]);
    if !suits(a)
        || x.len() < h.input * w.input
        || v.len() < h.output * w.output
        || row.len() < scratch_len(a)
    {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX-512F (`suits`) and the lengths were just checked.
    unsafe {
        avx512::max_plane(a, x, row, v)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{GUARD, LANES, scratch_len};
    use crate::ops::conv::Axis;
    use crate::plugins::cpu::kernels::conv::{tap_range, tap_source};
    use crate::plugins::cpu::kernels::math::lanes_below;
    use std::arch::x86_64::*;

    /// [`super::max_plane`]'s work.
    ///
    /// # Safety
    /// The CPU has AVX-512F; [`super::suits`] holds for `a`; `x` holds `height × width` values, `v`
    /// `height_out × width_out`, `row` [`scratch_len`].
    #[target_feature(enable = "avx512f")]
    pub unsafe fn max_plane(a: &[Axis; 3], x: &[f32], row: &mut [f32], v: &mut [f32]) {
        let (h, w) = (&a[1], &a[2]);
        let (iw, ow) = (w.input, w.output);
        let row = &mut row[..scratch_len(a)];
        row.fill(f32::NEG_INFINITY);
        let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
        // Lanes 0, 2, .., 30 of two vectors side by side.
        let evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        for (r, out) in v.chunks_exact_mut(ow.max(1)).take(h.output).enumerate() {
            // The running max down the window's input rows, row after row, sixteen columns at a time (-inf for a
            // window of padding rows alone).
            let sources = tap_range(h, r);
            if sources.is_empty() {
                row[GUARD..GUARD + iw].fill(f32::NEG_INFINITY);
            }
            for (i, kh) in sources.enumerate() {
                let from = tap_source(h, r, kh) * iw;
                for c in (0..iw).step_by(LANES) {
                    // SAFETY: row `tap_source` < height, and the mask keeps the load inside that row (the
                    // lanes past its end read -inf); GUARD + c + 16 <= GUARD + width + 16 <= scratch_len.
                    unsafe {
                        let at = row.as_mut_ptr().add(GUARD + c);
                        let values = _mm512_mask_loadu_ps(
                            neg_inf,
                            lanes_below(iw - c),
                            x.as_ptr().add(from + c),
                        );
                        let m = if i == 0 { neg_inf } else { _mm512_loadu_ps(at) };
                        _mm512_storeu_ps(at, _mm512_max_ps(values, m));
                    }
                }
            }
            // Output c's tap t reads the row at GUARD + 2c - pad + t.
            for c in (0..ow).step_by(LANES) {
                let base = GUARD - w.pad_begin + 2 * c;
                let mut m = neg_inf;
                for t in 0..w.kernel {
                    // SAFETY: base + t + 32 <= GUARD + 2 · ceil16(ow) + kernel + 32 <= scratch_len.
                    let (lo, hi) = unsafe {
                        let at = row.as_ptr().add(base + t);
                        (_mm512_loadu_ps(at), _mm512_loadu_ps(at.add(LANES)))
                    };
                    m = _mm512_max_ps(_mm512_permutex2var_ps(lo, evens, hi), m);
                }
                // SAFETY: the mask keeps the store inside the output row.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(c), lanes_below(ow - c), m) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(input: usize, output: usize, kernel: usize, stride: usize, pad: usize) -> Axis {
        Axis {
            input,
            output,
            kernel,
            stride,
            dilation: 1,
            pad_begin: pad,
            pad_end: pad,
        }
    }

    /// Output rows whose windows cover padding rows alone are -inf, also after a row of values (no stale row).
    #[test]
    fn windows_of_padding_rows_alone_give_minus_infinity() {
        let a = [
            axis(1, 1, 1, 1, 0),
            axis(3, 3, 1, 2, 1),
            axis(20, 10, 3, 2, 1),
        ];
        if !suits(&a) {
            return;
        }
        let x: Vec<f32> = (0..60).map(|i| i as f32).collect();
        let mut row = vec![0.0; scratch_len(&a)];
        let mut v = vec![0.0; 30];
        max_plane(&a, &x, &mut row, &mut v);
        assert!(
            v[..10]
                .iter()
                .chain(&v[20..])
                .all(|&m| m == f32::NEG_INFINITY)
        );
        // Input row 1 (values 20..40): output c takes columns 2c-1..=2c+1.
        let want: Vec<f32> = (0..10).map(|c| (20 + (2 * c + 1).min(19)) as f32).collect();
        assert_eq!(v[10..20], want);
    }
}
