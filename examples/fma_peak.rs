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
    let Some(probe) = kernel::detect() else {
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
        let best = (0..3).map(|_| rate(n, &probe)).fold(0.0, f64::max);
        println!("{}, {n} thread(s): {best:.1} GFLOP/s", probe.isa);
    }
}

/// The multiply-add loop for the widest instructions this CPU has.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only x86-64 builds one
struct Probe {
    /// The instruction set's name.
    isa: &'static str,
    /// FLOPs of one round (a multiply-add on every chain).
    flops_per_round: usize,
    /// Runs that many rounds; returns a sum of the accumulators.
    run: fn(usize) -> f32,
}

/// GFLOP/s of `n` threads each running [`ROUNDS`] rounds of `probe` at once.
fn rate(n: usize, probe: &Probe) -> f64 {
    let started = Instant::now();
    let sums: f32 = std::thread::scope(|s| {
        let runs: Vec<_> = (0..n).map(|_| s.spawn(|| (probe.run)(ROUNDS))).collect();
        runs.into_iter()
            .map(|r| r.join().expect("a run panicked"))
            .sum()
    });
    let secs = started.elapsed().as_secs_f64();
    // The sum is printed nowhere but keeps the work from being optimised away.
    std::hint::black_box(sums);
    (n * ROUNDS * probe.flops_per_round) as f64 / secs / 1e9
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::*;

    /// Independent accumulators: enough to cover the multiply-add latency on two pipes.
    const CHAINS: usize = 12;

    /// The loop for AVX-512, else AVX2 with FMA; `None` without either.
    pub fn detect() -> Option<super::Probe> {
        if is_x86_feature_detected!("avx512f") {
            Some(super::Probe {
                isa: "AVX-512",
                flops_per_round: CHAINS * 16 * 2,
                // SAFETY: chosen only where the CPU reports AVX-512.
                run: |rounds| unsafe { run_avx512(rounds) },
            })
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            Some(super::Probe {
                isa: "AVX2+FMA",
                flops_per_round: CHAINS * 8 * 2,
                // SAFETY: chosen only where the CPU reports AVX2 and FMA.
                run: |rounds| unsafe { run_avx2(rounds) },
            })
        } else {
            None
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
    pub fn detect() -> Option<super::Probe> {
        None
    }
}
