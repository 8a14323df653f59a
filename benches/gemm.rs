//! SGEMM throughput of the CPU plugin's MatMul next to the machine's measured peak.
//!
//! `cargo bench --bench gemm` prints, for square products of 256 to 2048 and the three products of a
//! BERT-base layer at sequence 128, GFLOP/s with the right-hand side a constant (weights packed at compile
//! time), and the peak: what every core reaches running independent fused multiply-adds (`benches/compare.py`
//! puts numpy's OpenBLAS beside these figures). `cargo bench --bench gemm -- FILTER` runs only the products
//! whose name (`MxKxN`) contains FILTER.

mod common;

use common::{infer, median_time, op_request};
use ferrovino::ops::linalg::MatMul;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Runs `steps` rounds of twelve independent 8-lane fused multiply-adds; returns the flops done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains(steps: usize, seed: f32) -> f64 {
    use std::arch::x86_64::*;
    let (mul, add) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(seed); 12];
    for _ in 0..steps {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, mul, add);
        }
    }
    std::hint::black_box(acc);
    (steps * 12 * 8 * 2) as f64
}

/// GFLOP/s of independent multiply-add chains on every core: the arithmetic ceiling of this machine (AVX2+FMA;
/// 0 where that is missing).
fn measured_peak() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        let run = || {
            let started = Instant::now();
            let flops: f64 = (0..rayon::current_num_threads())
                .into_par_iter()
                // SAFETY: the features `fma_chains` needs were detected above.
                .map(|t| unsafe { fma_chains(20_000_000, t as f32 * 1e-9) })
                .sum();
            flops / started.elapsed().as_secs_f64() / 1e9
        };
        return (0..3).map(|_| run()).fold(0.0, f64::max);
    }
    0.0
}

/// The products measured, `(M, K, N)`: squares, then BERT-base's projections, FFN up and FFN down at
/// sequence 128.
const PRODUCTS: &[(usize, usize, usize)] = &[
    (256, 256, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (128, 768, 768),
    (128, 768, 3072),
    (128, 3072, 768),
];

fn main() {
    // Cargo passes `--bench` to bench targets; the first other argument filters products by name.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    println!("peak (FMA on every core): {:.1} GFLOP/s", measured_peak());
    println!("{:>16} {:>10} {:>10}", "MxKxN", "ms", "GFLOP/s");
    for &(m, k, n) in PRODUCTS {
        let name = format!("{m}x{k}x{n}");
        if !name.contains(filter.as_str()) {
            continue;
        }
        let op = MatMul {
            transpose_a: false,
            transpose_b: false,
        };
        let mut req = op_request(Box::new(op), &[m, k], &[k, n], false);
        let t = median_time(Duration::from_secs(2), || infer(&mut req));
        let flops = 2.0 * (m * k * n) as f64;
        println!(
            "{name:>16} {:>10.3} {:>10.1}",
            t.as_secs_f64() * 1e3,
            flops / t.as_secs_f64() / 1e9
        );
    }
}
