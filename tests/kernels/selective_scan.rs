//! The fused selective scan against the naive oracle, against finite differences, across thread counts
//! and SIMD levels (wrong slice lengths and empty sequences: `selective_scan_contract`).

#![allow(clippy::needless_range_loop)] // the f64 references index like the formulas

use locomamba::kernels::selective_scan::{
    ScanData, ScanDims, ScanGrads, ScanInputs, bench, scan_backward, scan_forward,
    scan_forward_naive,
};

pub(crate) fn dims(batch: usize, len: usize, channels: usize, state: usize) -> ScanDims {
    ScanDims {
        batch,
        len,
        channels,
        state,
    }
}

/// All inputs widened to f64, so finite differences are not drowned by f32 rounding.
#[derive(Clone)]
struct Inputs64 {
    u: Vec<f64>,
    delta: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    d: Vec<f64>,
    delta_bias: Vec<f64>,
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

impl Inputs64 {
    fn from(x: &ScanInputs) -> Self {
        Inputs64 {
            u: widen(x.u),
            delta: widen(x.delta),
            a: widen(x.a),
            b: widen(x.b),
            c: widen(x.c),
            d: widen(x.d),
            delta_bias: widen(x.delta_bias),
        }
    }

    fn field(&mut self, i: usize) -> &mut Vec<f64> {
        match i {
            0 => &mut self.u,
            1 => &mut self.delta,
            2 => &mut self.a,
            3 => &mut self.b,
            4 => &mut self.c,
            5 => &mut self.d,
            _ => &mut self.delta_bias,
        }
    }
}

const FIELDS: [&str; 7] = ["u", "delta", "a", "b", "c", "d", "delta_bias"];

fn grad_field(g: &ScanGrads, i: usize) -> &[f32] {
    match i {
        0 => &g.du,
        1 => &g.ddelta,
        2 => &g.da,
        3 => &g.db,
        4 => &g.dc,
        5 => &g.dd,
        _ => &g.ddelta_bias,
    }
}

fn softplus64(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

/// The naive recurrence in f64: returns (y, last_state).
fn forward64(dm: &ScanDims, x: &Inputs64) -> (Vec<f64>, Vec<f64>) {
    let (bn, l, ch, s) = (dm.batch, dm.len, dm.channels, dm.state);
    let mut y = vec![0.0; bn * l * ch];
    let mut last = vec![0.0; bn * ch * s];
    for bi in 0..bn {
        for k in 0..ch {
            let mut h = vec![0.0f64; s];
            for t in 0..l {
                let i = (bi * l + t) * ch + k;
                let row = (bi * l + t) * s;
                let dt = softplus64(x.delta[i] + x.delta_bias[k]);
                let mut acc = 0.0;
                for n in 0..s {
                    h[n] = (dt * x.a[k * s + n]).exp() * h[n] + dt * x.b[row + n] * x.u[i];
                    acc += x.c[row + n] * h[n];
                }
                y[i] = acc + x.d[k] * x.u[i];
            }
            last[(bi * ch + k) * s..][..s].copy_from_slice(&h);
        }
    }
    (y, last)
}

/// Loss whose gradient the kernel computes when given dy = wy and d_last_state = ws.
fn loss64(dm: &ScanDims, x: &Inputs64, wy: &[f64], ws: &[f64]) -> f64 {
    let (y, last) = forward64(dm, x);
    let a: f64 = y.iter().zip(wy).map(|(p, q)| p * q).sum();
    let b: f64 = last.iter().zip(ws).map(|(p, q)| p * q).sum();
    a + b
}

/// Straightforward reverse-mode gradient of `loss64` in f64, one (batch, channel) at a time, storing
/// all states: the oracle for large shapes where finite differences would be too slow.
fn backward64(dm: &ScanDims, x: &Inputs64, wy: &[f64], ws: &[f64]) -> Vec<Vec<f64>> {
    let (bn, l, ch, s) = (dm.batch, dm.len, dm.channels, dm.state);
    let mut g: Vec<Vec<f64>> = vec![
        vec![0.0; bn * l * ch],
        vec![0.0; bn * l * ch],
        vec![0.0; ch * s],
        vec![0.0; bn * l * s],
        vec![0.0; bn * l * s],
        vec![0.0; ch],
        vec![0.0; ch],
    ];
    for bi in 0..bn {
        for k in 0..ch {
            let mut hs = vec![vec![0.0f64; s]; l + 1];
            for t in 0..l {
                let i = (bi * l + t) * ch + k;
                let row = (bi * l + t) * s;
                let dt = softplus64(x.delta[i] + x.delta_bias[k]);
                for n in 0..s {
                    hs[t + 1][n] =
                        (dt * x.a[k * s + n]).exp() * hs[t][n] + dt * x.b[row + n] * x.u[i];
                }
            }
            let mut gh: Vec<f64> = ws[(bi * ch + k) * s..][..s].to_vec();
            for t in (0..l).rev() {
                let i = (bi * l + t) * ch + k;
                let row = (bi * l + t) * s;
                let z = x.delta[i] + x.delta_bias[k];
                let dt = softplus64(z);
                let mut ddt = 0.0;
                g[0][i] += wy[i] * x.d[k];
                g[5][k] += wy[i] * x.u[i];
                for n in 0..s {
                    g[4][row + n] += wy[i] * hs[t + 1][n];
                    gh[n] += wy[i] * x.c[row + n];
                    let e = (dt * x.a[k * s + n]).exp();
                    ddt += gh[n] * (e * x.a[k * s + n] * hs[t][n] + x.b[row + n] * x.u[i]);
                    g[2][k * s + n] += gh[n] * e * dt * hs[t][n];
                    g[3][row + n] += gh[n] * dt * x.u[i];
                    g[0][i] += gh[n] * dt * x.b[row + n];
                    gh[n] *= e;
                }
                let dz = ddt / (1.0 + (-z).exp());
                g[1][i] += dz;
                g[6][k] += dz;
            }
        }
    }
    g
}

pub(crate) fn run_forward(dm: &ScanDims, x: &ScanInputs, naive: bool) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![f32::NAN; dm.batch * dm.len * dm.channels];
    let mut last = vec![f32::NAN; dm.batch * dm.channels * dm.state];
    if naive {
        scan_forward_naive(dm, x, &mut y, &mut last);
    } else {
        scan_forward(dm, x, &mut y, &mut last);
    }
    (y, last)
}

/// `|got - want| <= tol * max(1, |want|)` elementwise, with a message naming the first failure.
fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= tol * w.abs().max(1.0),
            "{what}[{i}]: got {g}, want {w}, err {err}"
        );
    }
}

const SHAPES: [(usize, usize, usize, usize); 9] = [
    (1, 1, 1, 8),
    (2, 1, 5, 16),
    (2, 5, 7, 16),
    (3, 4, 13, 32),
    (1, 33, 130, 16),
    (70, 3, 9, 8),
    (70, 2, 200, 16),
    (4, 6, 11, 5),
    (5, 4, 600, 16),
];

#[test]
fn forward_matches_naive_and_f64_reference() {
    for (seed, &(b, l, c, s)) in SHAPES.iter().enumerate() {
        let dm = dims(b, l, c, s);
        let data = ScanData::random(&dm, seed as u64 + 1);
        let x = data.inputs();
        let (y, last) = run_forward(&dm, &x, false);
        let (yn, lastn) = run_forward(&dm, &x, true);
        let yn64 = widen(&yn);
        let lastn64 = widen(&lastn);
        // f32 kernels vs each other: fast exp (~1e-7 relative) plus different summation order.
        assert_close(&format!("y {dm:?}"), &y, &yn64, 1e-5);
        assert_close(&format!("last_state {dm:?}"), &last, &lastn64, 1e-5);
        // The naive oracle itself against the f64 recurrence.
        let (y64, last64) = forward64(&dm, &Inputs64::from(&x));
        assert_close(&format!("naive y {dm:?}"), &yn, &y64, 1e-5);
        assert_close(&format!("naive last {dm:?}"), &lastn, &last64, 1e-5);
    }
}

/// Central differences of the f64 loss for every element of every input.
fn finite_differences(dm: &ScanDims, x: &ScanInputs, wy: &[f64], ws: &[f64]) -> Vec<Vec<f64>> {
    let base = Inputs64::from(x);
    let eps = 1e-4;
    (0..FIELDS.len())
        .map(|f| {
            let n = base.clone().field(f).len();
            (0..n)
                .map(|j| {
                    let mut p = base.clone();
                    p.field(f)[j] += eps;
                    let mut m = base.clone();
                    m.field(f)[j] -= eps;
                    (loss64(dm, &p, wy, ws) - loss64(dm, &m, wy, ws)) / (2.0 * eps)
                })
                .collect()
        })
        .collect()
}

/// Tolerance for f32 gradients against f64 references. The references are exact to ~1e-8 (f64
/// central differences with eps 1e-4 have truncation error ~eps^2 * |f'''| ~ 1e-8 and rounding
/// ~1e-16 / 1e-4 = 1e-12). The kernel accumulates at most a few hundred f32 products of O(1) terms
/// per gradient element, each with relative error ~6e-8 (plus ~1e-7 from the fast exp), so 1e-4
/// relative-or-absolute leaves a wide margin while still catching any wrong term (errors of order 1e-1).
const GRAD_TOL: f64 = 1e-4;

fn check_grads_against_fd(dm: ScanDims, seed: u64, use_dy: bool, use_dlast: bool) {
    let data = ScanData::random(&dm, seed);
    let x = data.inputs();
    let up = ScanData::random(&dm, seed + 100);
    let dy: Vec<f32> = if use_dy {
        up.u.clone()
    } else {
        vec![0.0; up.u.len()]
    };
    let dlast: Vec<f32> = (0..dm.batch * dm.channels * dm.state)
        .map(|i| up.c[i % up.c.len().max(1)] * 0.7 + 0.1)
        .collect();
    let grads = scan_backward(&dm, &x, &dy, use_dlast.then_some(&dlast[..]));
    let wy = widen(&dy);
    let ws = if use_dlast {
        widen(&dlast)
    } else {
        vec![0.0; dlast.len()]
    };
    let fd = finite_differences(&dm, &x, &wy, &ws);
    let analytic = backward64(&dm, &Inputs64::from(&x), &wy, &ws);
    for f in 0..FIELDS.len() {
        let what = format!("d{} {dm:?} dy={use_dy} dlast={use_dlast}", FIELDS[f]);
        assert_close(&what, grad_field(&grads, f), &fd[f], GRAD_TOL);
        // The f64 oracle used for large shapes agrees with finite differences too.
        let oracle: Vec<f32> = analytic[f].iter().map(|&v| v as f32).collect();
        assert_close(&format!("oracle {what}"), &oracle, &fd[f], GRAD_TOL);
    }
}

#[test]
fn every_gradient_matches_finite_differences() {
    check_grads_against_fd(dims(2, 4, 3, 8), 11, true, true);
    check_grads_against_fd(dims(1, 3, 2, 5), 12, true, true);
    check_grads_against_fd(dims(2, 1, 3, 16), 13, true, true);
}

#[test]
fn gradient_through_output_only() {
    check_grads_against_fd(dims(2, 5, 3, 8), 21, true, false);
}

#[test]
fn gradient_through_last_state_only() {
    check_grads_against_fd(dims(2, 5, 3, 8), 31, false, true);
    check_grads_against_fd(dims(1, 1, 2, 5), 32, false, true);
}

#[test]
fn backward_matches_f64_oracle_on_blocked_shapes() {
    // Shapes that split work into several batch chunks and channel blocks, with channel groups
    // narrower than a vector (40, 70 and 19 channels) and a state size without a compiled variant.
    for (seed, &(b, l, c, s)) in [
        (1usize, 300usize, 40usize, 16usize),
        (3, 9, 70, 16),
        (70, 3, 20, 8),
        (2, 7, 19, 5),
    ]
    .iter()
    .enumerate()
    {
        let dm = dims(b, l, c, s);
        let data = ScanData::random(&dm, 40 + seed as u64);
        let x = data.inputs();
        let up = ScanData::random(&dm, 50 + seed as u64);
        let dlast: Vec<f32> = (0..b * c * s)
            .map(|i| up.c[i % up.c.len()] * 0.5 + 0.25)
            .collect();
        let grads = scan_backward(&dm, &x, &up.u, Some(&dlast));
        let want = backward64(&dm, &Inputs64::from(&x), &widen(&up.u), &widen(&dlast));
        // Sums over up to batch*len or channels*len terms: scale the tolerance with the term count.
        let terms = (b * l).max(c * l) as f64;
        for f in 0..FIELDS.len() {
            assert_close(
                &format!("d{} {dm:?}", FIELDS[f]),
                grad_field(&grads, f),
                &want[f],
                1e-5 * terms.sqrt().max(10.0),
            );
        }
    }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn bitwise_identical_for_any_thread_count() {
    for &(b, l, c, s, memory) in &[
        (3, 9, 70, 16, false),
        (100, 3, 24, 8, false),
        (1, 50, 33, 16, false),
        (5, 21, 40, 16, true),
    ] {
        let dm = dims(b, l, c, s);
        let data = ScanData::random(&dm, 9);
        // With memory: an initial state and resets at every fourth token.
        let h0 = ScanData::random(&dims(b, s, 1, c), 11).b;
        let reset: Vec<f32> = (0..b * l)
            .map(|i| f32::from(u8::from(i % 4 == 1)))
            .collect();
        let x = if memory {
            ScanInputs {
                h0: Some(&h0),
                reset: Some(&reset),
                ..data.inputs()
            }
        } else {
            data.inputs()
        };
        let dy = ScanData::random(&dm, 10).u;
        let dlast = vec![0.5f32; b * c * s];
        let run = || {
            let (y, last) = run_forward(&dm, &x, false);
            let g = scan_backward(&dm, &x, &dy, Some(&dlast));
            (y, last, g)
        };
        let (y1, l1, g1) = in_pool(1, run);
        for threads in [2, 3] {
            let (y2, l2, g2) = in_pool(threads, run);
            assert_eq!(bits(&y1), bits(&y2), "y {dm:?} threads {threads}");
            assert_eq!(bits(&l1), bits(&l2), "last {dm:?} threads {threads}");
            for f in 0..FIELDS.len() {
                assert_eq!(
                    bits(grad_field(&g1, f)),
                    bits(grad_field(&g2, f)),
                    "d{} {dm:?} threads {threads}",
                    FIELDS[f]
                );
            }
            assert_eq!(bits(&g1.dh0), bits(&g2.dh0), "dh0 {dm:?} threads {threads}");
        }
    }
}

/// Timings at the target shapes; run with
/// `cargo test --release --test kernels -- --ignored --nocapture selective_scan`.
#[test]
#[ignore]
fn bench_target_shapes() {
    for (dm, reps) in [(dims(1024, 17, 512, 16), 5), (dims(8, 4097, 512, 16), 3)] {
        let (fwd, bwd) = bench(&dm, reps);
        println!(
            "selective scan {dm:?} threads {}: forward {fwd:.1} ms, backward {bwd:.1} ms, total {:.1} ms",
            rayon::current_num_threads(),
            fwd + bwd
        );
        assert!(fwd.is_finite() && bwd.is_finite());
    }
}

/// FNV-1a over the bits of the forward outputs and all gradients on a fixed blocked shape.
fn digest_of_current_path() -> u64 {
    let dm = dims(3, 9, 70, 16);
    let data = ScanData::random(&dm, 77);
    let x = data.inputs();
    let dy = ScanData::random(&dm, 78).u;
    let dlast = vec![0.5f32; 3 * 70 * 16];
    let (y, last) = run_forward(&dm, &x, false);
    let g = scan_backward(&dm, &x, &dy, Some(&dlast));
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |v: &[f32]| {
        for b in bits(v) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&y);
    eat(&last);
    for f in 0..FIELDS.len() {
        eat(grad_field(&g, f));
    }
    h
}

/// Helper for `every_simd_level_agrees_bitwise`: prints the digest of this process's path.
#[test]
#[ignore]
fn print_scan_digest() {
    println!("SCAN_DIGEST={}", digest_of_current_path());
}

/// The digest of this test binary re-run with the environment variable `switch` set.
fn digest_with(switch: &str) -> u64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "selective_scan::print_scan_digest",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(switch, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("SCAN_DIGEST="))
        .unwrap_or_else(|| panic!("no digest in child output: {text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn every_simd_level_agrees_bitwise() {
    // The widest level this CPU has, against AVX2 at most and against the baseline.
    let here = digest_of_current_path();
    assert_eq!(here, digest_with("LOCOMAMBA_SCAN_NO_AVX512"), "AVX2");
    assert_eq!(here, digest_with("LOCOMAMBA_SCAN_NO_AVX2"), "baseline");
}
