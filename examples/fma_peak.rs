//! Measures this CPU's peak single-precision multiply-add rate: independent fused multiply-adds
//! on registers only (no memory traffic), on 1 and then on `THREADS` threads (default: all CPUs),
//! the ceiling that `runner bench nets`' sgemm rate and its train steps' GFLOP/s can be read
//! against: `cargo run --release --example fma_peak -- [THREADS]`.
//!
//! x86-64 only (AVX-512 where the CPU has it, else AVX2 with FMA); elsewhere it says so.

use std::time::Instant;

/// Multiply-add rounds per thread per timing.
const ROUNDS: usize = 100_000_000;

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("THREADS is a number"))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let Some((isa, flops_per_round)) = kernel::flops_per_round() else {
        println!("fma_peak: needs an x86-64 CPU with AVX2 and FMA");
        return;
    };
    let counts = if threads > 1 {
        vec![1, threads]
    } else {
        vec![1]
    };
    for n in counts {
        // Best of three: the first run may meet a CPU still raising its clock.
        let best = (0..3).map(|_| rate(n, flops_per_round)).fold(0.0, f64::max);
        println!("{isa}, {n} thread(s): {best:.1} GFLOP/s");
    }
}

/// GFLOP/s of `n` threads each running [`ROUNDS`] rounds at once.
fn rate(n: usize, flops_per_round: usize) -> f64 {
    let started = Instant::now();
    let sums: f32 = std::thread::scope(|s| {
        let runs: Vec<_> = (0..n).map(|_| s.spawn(|| kernel::run(ROUNDS))).collect();
        runs.into_iter()
            .map(|r| r.join().expect("a run panicked"))
            .sum()
    });
    let secs = started.elapsed().as_secs_f64();
    // The sum is printed nowhere but keeps the work from being optimised away.
    std::hint::black_box(sums);
    (n * ROUNDS * flops_per_round) as f64 / secs / 1e9
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    /// Independent accumulators: enough to cover the multiply-add latency on two pipes.
    const CHAINS: usize = 12;

    /// The instruction set used and the FLOPs of one round (a multiply-add on every chain), or
    /// `None` without AVX2 and FMA.
    pub fn flops_per_round() -> Option<(&'static str, usize)> {
        if is_x86_feature_detected!("avx512f") {
            Some(("AVX-512", CHAINS * 16 * 2))
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            Some(("AVX2+FMA", CHAINS * 8 * 2))
        } else {
            None
        }
    }

    /// Runs `rounds` rounds with the widest instructions the CPU has; returns a sum of the
    /// accumulators.
    pub fn run(rounds: usize) -> f32 {
        // SAFETY: each path runs only where the CPU reports its features.
        unsafe {
            if is_x86_feature_detected!("avx512f") {
                run_avx512(rounds)
            } else {
                run_avx2(rounds)
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(rounds: usize) -> f32 {
        let mut acc = [_mm512_set1_ps(0.0); CHAINS];
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..rounds {
            for v in &mut acc {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(rounds: usize) -> f32 {
        let mut acc = [_mm256_set1_ps(0.0); CHAINS];
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..rounds {
            for v in &mut acc {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        acc.iter()
            .map(|&v| {
                // SAFETY: `lanes` holds the 8 values stored.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
                lanes.iter().sum::<f32>()
            })
            .sum()
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    /// No measurement off x86-64.
    pub fn flops_per_round() -> Option<(&'static str, usize)> {
        None
    }

    /// Never called off x86-64.
    pub fn run(_rounds: usize) -> f32 {
        0.0
    }
}
