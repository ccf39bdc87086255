use super::*;

/// Deterministic pseudo-random values in [-2, 2).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 4.0 - 2.0
        })
        .collect()
}

/// The convolution + SiLU in f64, straight from the definition: inputs before the start come
/// from `prev` (zeros without), and a token sees no input from before the latest reset at or
/// before it.
fn conv_silu_f64(
    dims: &ConvDims,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    prev: Option<&[f32]>,
    reset: Option<&[f32]>,
) -> Vec<f64> {
    let ConvDims {
        batch,
        len,
        channels: c,
        width: k,
    } = *dims;
    let mut out = vec![0.0f64; dims.numel()];
    for bi in 0..batch {
        for t in 0..len {
            let first = (0..=t)
                .rev()
                .find(|&r| reset.is_some_and(|re| re[bi * len + r] != 0.0))
                .map_or(-(k as isize - 1), |r| r as isize);
            for ch in 0..c {
                let mut p = b[ch] as f64;
                for j in 0..k {
                    let s = (t + j) as isize - (k as isize - 1);
                    if s < first {
                        continue;
                    }
                    let v = if s >= 0 {
                        x[(bi * len + s as usize) * c + ch]
                    } else {
                        let q = (k as isize - 1 + s) as usize;
                        prev.map_or(0.0, |p| p[(bi * (k - 1) + q) * c + ch])
                    };
                    p += w[ch * k + j] as f64 * v as f64;
                }
                out[(bi * len + t) * c + ch] = p / (1.0 + (-p).exp());
            }
        }
    }
    out
}

/// Resets at tokens 2 of sequence 0 and 0 and 4 of sequence 1 (of 3 sequences of 6 tokens).
fn resets() -> Vec<f32> {
    let mut r = vec![0.0; 18];
    r[2] = 1.0;
    r[6] = 1.0;
    r[10] = 1.0;
    r
}

#[test]
fn sigmoid_matches_f64() {
    for i in 0..=2000 {
        let z = -40.0 + 0.04 * i as f32;
        let want = 1.0 / (1.0 + (-(z as f64)).exp());
        assert!(((sigmoid(z) as f64 - want) / want).abs() < 3e-7, "z = {z}");
    }
}

#[test]
fn conv_silu_forward_matches_definition() {
    let dims = ConvDims {
        batch: 3,
        len: 6,
        channels: 5,
        width: 4,
    };
    let (x, w, b) = (values(dims.numel(), 1), values(20, 2), values(5, 3));
    let prev = values(3 * 3 * 5, 11);
    let reset = resets();
    for (p, r) in [
        (None, None),
        (Some(&prev[..]), None),
        (Some(&prev[..]), Some(&reset[..])),
        (None, Some(&reset[..])),
    ] {
        let mut out = vec![0.0; dims.numel()];
        let start = ConvStart { prev: p, reset: r };
        conv_silu_forward(&dims, &x, &w, &b, start, &mut out);
        for (got, want) in out.iter().zip(conv_silu_f64(&dims, &x, &w, &b, p, r)) {
            assert!((*got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}

#[test]
fn conv_silu_backward_matches_finite_differences() {
    let dims = ConvDims {
        batch: 3,
        len: 6,
        channels: 3,
        width: 3,
    };
    let (x, w, b) = (values(dims.numel(), 4), values(9, 5), values(3, 6));
    let prev = values(3 * 2 * 3, 12);
    let reset = resets();
    let dout = values(dims.numel(), 7);
    for r in [None, Some(&reset[..])] {
        let start = ConvStart {
            prev: Some(&prev),
            reset: r,
        };
        let g = conv_silu_backward(&dims, &x, &w, &b, start, &dout);
        let loss = |args: &[Vec<f32>; 4]| -> f64 {
            conv_silu_f64(&dims, &args[0], &args[1], &args[2], Some(&args[3]), r)
                .iter()
                .zip(&dout)
                .map(|(o, d)| o * *d as f64)
                .sum()
        };
        let eps = 1e-2f32;
        let fd = |which: usize, i: usize| {
            let mut args = [x.clone(), w.clone(), b.clone(), prev.clone()];
            args[which][i] += eps;
            let up = loss(&args);
            args[which][i] -= 2.0 * eps;
            let down = loss(&args);
            (up - down) / (2.0 * eps as f64)
        };
        for (which, grad) in [&g.x, &g.weight, &g.bias, &g.prev].into_iter().enumerate() {
            for (i, &got) in grad.iter().enumerate() {
                let want = fd(which, i);
                assert!(
                    (got as f64 - want).abs() < 2e-3 * (1.0 + want.abs()),
                    "input {which}, index {i}, resets {}: {got} vs {want}",
                    r.is_some()
                );
            }
        }
    }
}

#[test]
fn a_width_one_filter_has_no_previous_inputs() {
    let dims = ConvDims {
        batch: 2,
        len: 3,
        channels: 2,
        width: 1,
    };
    let (x, w, b) = (values(12, 1), values(2, 2), values(2, 3));
    let g = conv_silu_backward(&dims, &x, &w, &b, ConvStart::default(), &values(12, 4));
    assert!(g.prev.is_empty());
    assert_eq!(g.x.len(), 12);
}

#[test]
fn gate_backward_matches_finite_differences() {
    let (y, z, d) = (values(40, 8), values(40, 9), values(40, 10));
    let (dy, dz) = gate_backward(&y, &z, &d);
    let f = |y: f64, z: f64| y * z / (1.0 + (-z).exp());
    let eps = 1e-3;
    for i in 0..40 {
        let (yi, zi, di) = (y[i] as f64, z[i] as f64, d[i] as f64);
        let want_dy = di * (f(yi + eps, zi) - f(yi - eps, zi)) / (2.0 * eps);
        let want_dz = di * (f(yi, zi + eps) - f(yi, zi - eps)) / (2.0 * eps);
        assert!((dy[i] as f64 - want_dy).abs() < 1e-5, "dy[{i}]");
        assert!((dz[i] as f64 - want_dz).abs() < 1e-5, "dz[{i}]");
    }
    let out = gate_forward(&y, &z);
    for i in 0..40 {
        assert!((out[i] as f64 - f(y[i] as f64, z[i] as f64)).abs() < 1e-6);
    }
}
