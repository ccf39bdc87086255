//! Inputs for tests and benchmarks, the bytes a scan must move, and a timing helper.

use super::*;

/// Deterministic pseudo-random inputs in realistic ranges (a xorshift generator, so no seed handling
/// needed by callers): `u, b, c` in [-1, 1), `delta` in [-3, 1), `a` in [-4, -0.1), `d`, `delta_bias`
/// in [-0.5, 0.5).
#[derive(Debug, Clone)]
pub struct ScanData {
    /// `[batch, len, channels]`.
    pub u: Vec<f32>,
    /// `[batch, len, channels]`.
    pub delta: Vec<f32>,
    /// `[channels, state]`.
    pub a: Vec<f32>,
    /// `[batch, len, state]`.
    pub b: Vec<f32>,
    /// `[batch, len, state]`.
    pub c: Vec<f32>,
    /// `[channels]`.
    pub d: Vec<f32>,
    /// `[channels]`.
    pub delta_bias: Vec<f32>,
}

impl ScanData {
    /// Generates inputs for `dims` from `seed`.
    pub fn random(dims: &ScanDims, seed: u64) -> Self {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut draw = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let unit = (s >> 40) as f32 / (1u64 << 24) as f32;
                    lo + (hi - lo) * unit
                })
                .collect()
        };
        let blc = dims.batch * dims.len * dims.channels;
        let bls = dims.batch * dims.len * dims.state;
        ScanData {
            u: draw(blc, -1.0, 1.0),
            delta: draw(blc, -3.0, 1.0),
            a: draw(dims.channels * dims.state, -4.0, -0.1),
            b: draw(bls, -1.0, 1.0),
            c: draw(bls, -1.0, 1.0),
            d: draw(dims.channels, -0.5, 0.5),
            delta_bias: draw(dims.channels, -0.5, 0.5),
        }
    }

    /// Borrows the data as kernel inputs.
    pub fn inputs(&self) -> ScanInputs<'_> {
        ScanInputs {
            u: &self.u,
            delta: &self.delta,
            a: &self.a,
            b: &self.b,
            c: &self.c,
            d: &self.d,
            delta_bias: &self.delta_bias,
            h0: None,
            reset: None,
        }
    }
}

/// Bytes the forward must move at least: every input read once and `y`, `last_state` written once.
pub fn forward_bytes(dims: &ScanDims) -> usize {
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let floats = 2 * batch * len * channels // u, delta
        + channels * state // a
        + 2 * batch * len * state // b, c
        + 2 * channels // d, delta_bias
        + batch * len * channels // y
        + batch * channels * state; // last_state
    floats * 4
}

/// Bytes the backward must move at least: inputs, `dy` and `d_last_state` read once, every gradient
/// written once.
pub fn backward_bytes(dims: &ScanDims) -> usize {
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let blc = batch * len * channels;
    let bls = batch * len * state;
    let inputs = 2 * blc + channels * state + 2 * bls + 2 * channels;
    let upstream = blc + batch * channels * state;
    let grads = 2 * blc + channels * state + 2 * bls + 2 * channels;
    (inputs + upstream + grads) * 4
}

/// Achieved bandwidth in GB/s (1e9 bytes per second) of moving `bytes` in `ms` milliseconds.
pub fn achieved_gbps(bytes: usize, ms: f64) -> f64 {
    if ms <= 0.0 {
        return 0.0;
    }
    bytes as f64 / (ms * 1e-3) / 1e9
}

/// Times [`scan_forward`] and [`scan_backward`] (with `d_last_state`) on random inputs in the current
/// rayon pool: one warm-up call each, then the mean of `reps` calls. Returns `(fwd_ms, bwd_ms)`.
pub fn bench(dims: &ScanDims, reps: usize) -> (f64, f64) {
    let data = ScanData::random(dims, 7);
    let x = data.inputs();
    let mut y = vec![0.0f32; dims.batch * dims.len * dims.channels];
    let mut last = vec![0.0f32; dims.batch * dims.channels * dims.state];
    let dy = ScanData::random(dims, 8).u;
    let reps = reps.max(1);
    scan_forward(dims, &x, &mut y, &mut last);
    let start = Instant::now();
    for _ in 0..reps {
        scan_forward(dims, &x, &mut y, &mut last);
    }
    let fwd_ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let dlast = last.clone();
    let mut sink = scan_backward(dims, &x, &dy, Some(&dlast)).da[0];
    let start = Instant::now();
    for _ in 0..reps {
        sink += scan_backward(dims, &x, &dy, Some(&dlast)).da[0];
    }
    let bwd_ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    std::hint::black_box(sink);
    (fwd_ms, bwd_ms)
}
