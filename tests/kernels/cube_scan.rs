//! Parity of the CubeCL selective scan on a GPU (CUDA, or wgpu: Vulkan, Metal, DirectX 12, or a
//! software Vulkan device such as lavapipe) with the CPU kernel. Tests that need a GPU first try to
//! create a client and, when none exists, print "skipped: no GPU device (<reason>)" and pass,
//! unless `LOCOMAMBA_REQUIRE_GPU` is set (`.ci/run` sets it on lavapipe): then they fail.
#![cfg(any(feature = "cuda", feature = "wgpu"))]

use locomamba::kernels::cube::{
    CubeScanError, MAX_STATE, achieved_gbps, backward_bytes, forward_bytes, gpu_client,
    scan_backward_gpu, scan_forward_gpu,
};
use locomamba::kernels::selective_scan::{
    ScanData, ScanDims, ScanError, ScanGrads, scan_backward, scan_forward,
};

/// Relative tolerance of every output and gradient on CUDA, whose `exp` and `log1p` are within
/// 2 ulp: 1e-4 leaves room for a few hundred steps of recurrence.
const REL_TOL_CUDA: f64 = 1e-4;
/// On wgpu: WGSL guarantees `exp` only to `3 + 2|x|` ulp and `log` to 3 ulp (WGSL, "Floating
/// Point Accuracy"), several times CUDA's bound, and the error compounds over the recurrence and
/// the sums over batch and steps; the worst measured on lavapipe is 5.7e-4 (`ddelta_bias` at the
/// largest shape, a sum of 65,536 terms), the forward's 1.3e-4.
const REL_TOL_WGPU: f64 = 1e-3;

/// The tolerance of the GPU the tests run on.
fn rel_tol() -> f64 {
    match gpu_client() {
        Ok(client) if client.name().starts_with("wgpu") => REL_TOL_WGPU,
        _ => REL_TOL_CUDA,
    }
}

/// Whether a GPU is usable; prints the skip reason when not, and fails instead when
/// `LOCOMAMBA_REQUIRE_GPU` is set.
fn have_device() -> bool {
    match gpu_client() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var_os("LOCOMAMBA_REQUIRE_GPU").is_none(),
                "LOCOMAMBA_REQUIRE_GPU is set, but {e}"
            );
            println!("skipped: {e}");
            false
        }
    }
}

/// Asserts `got` matches `want` element-wise within [`rel_tol`] relative to `max(|want_i|, floor)`,
/// where `floor = 1e-3 * max_j |want_j|` keeps elements that cancel to near zero from dominating.
fn assert_close(name: &str, dims: &ScanDims, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length, {dims:?}");
    let max_abs = want.iter().fold(0.0f64, |m, v| m.max((*v as f64).abs()));
    let floor = (1e-3 * max_abs).max(1e-30);
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{name}[{i}] = {g} is not finite, {dims:?}");
        let rel = (g as f64 - w as f64).abs() / (w as f64).abs().max(floor);
        if rel > worst.0 {
            worst = (rel, i);
        }
    }
    let (rel, i) = worst;
    assert!(
        rel <= rel_tol(),
        "{name}: relative error {rel:.3e} at {i} (gpu {}, cpu {}), {dims:?}",
        got[i],
        want[i]
    );
}

fn cpu_forward(dims: &ScanDims, data: &ScanData) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0f32; dims.batch * dims.len * dims.channels];
    let mut last = vec![0.0f32; dims.batch * dims.channels * dims.state];
    scan_forward(dims, &data.inputs(), &mut y, &mut last);
    (y, last)
}

fn assert_grads_close(dims: &ScanDims, got: &ScanGrads, want: &ScanGrads) {
    assert_close("du", dims, &got.du, &want.du);
    assert_close("ddelta", dims, &got.ddelta, &want.ddelta);
    assert_close("da", dims, &got.da, &want.da);
    assert_close("db", dims, &got.db, &want.db);
    assert_close("dc", dims, &got.dc, &want.dc);
    assert_close("dd", dims, &got.dd, &want.dd);
    assert_close("ddelta_bias", dims, &got.ddelta_bias, &want.ddelta_bias);
    assert_close("dh0", dims, &got.dh0, &want.dh0);
}

/// Parity when the scan continues from an initial state with resets (memory across control
/// steps): resets at every seventh token of every other sequence and at token 0 of the last.
#[test]
fn parity_from_an_initial_state_with_resets() {
    if !have_device() {
        return;
    }
    for dims in [
        ScanDims {
            batch: 5,
            len: 85,
            channels: 64,
            state: 16,
        },
        ScanDims {
            batch: 3,
            len: 70,
            channels: 100,
            state: 8,
        },
    ] {
        let data = ScanData::random(&dims, 31);
        let h0 = ScanData::random(
            &ScanDims {
                len: dims.state,
                state: dims.channels,
                ..dims
            },
            32,
        )
        .b;
        let reset: Vec<f32> = (0..dims.batch * dims.len)
            .map(|i| {
                let (b, t) = (i / dims.len, i % dims.len);
                f32::from(u8::from(
                    (b % 2 == 0 && t % 7 == 3) || (b == dims.batch - 1 && t == 0),
                ))
            })
            .collect();
        let x = locomamba::kernels::selective_scan::ScanInputs {
            h0: Some(&h0[..dims.batch * dims.channels * dims.state]),
            reset: Some(&reset),
            ..data.inputs()
        };
        let mut y = vec![0.0f32; dims.batch * dims.len * dims.channels];
        let mut last = vec![0.0f32; dims.batch * dims.channels * dims.state];
        scan_forward(&dims, &x, &mut y, &mut last);
        let (y_gpu, last_gpu) = scan_forward_gpu(&dims, &x).expect("forward");
        assert_close("y", &dims, &y_gpu, &y);
        assert_close("last_state", &dims, &last_gpu, &last);
        let dy = ScanData::random(&dims, 33).u;
        let want = scan_backward(&dims, &x, &dy, Some(&last));
        let got = scan_backward_gpu(&dims, &x, &dy, Some(&last)).expect("backward");
        assert_grads_close(&dims, &got, &want);
    }
}

/// Forward and backward (with and without `d_last_state`) parity for one shape.
fn check_parity(dims: ScanDims, seed: u64) {
    let data = ScanData::random(&dims, seed);
    let x = data.inputs();
    let (y_cpu, last_cpu) = cpu_forward(&dims, &data);
    let (y_gpu, last_gpu) = scan_forward_gpu(&dims, &x).expect("forward");
    assert_close("y", &dims, &y_gpu, &y_cpu);
    assert_close("last_state", &dims, &last_gpu, &last_cpu);

    let dy = ScanData::random(&dims, seed + 1).u;
    let d_last: Vec<f32> = last_cpu.iter().map(|v| 0.5 - v).collect();
    for upstream in [None, Some(d_last.as_slice())] {
        let want = scan_backward(&dims, &x, &dy, upstream);
        let got = scan_backward_gpu(&dims, &x, &dy, upstream).expect("backward");
        assert_grads_close(&dims, &got, &want);
    }
}

/// xorshift draws for shape sampling.
fn draw(s: &mut u64, options: &[usize]) -> usize {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    options[(*s % options.len() as u64) as usize]
}

#[test]
fn parity_on_random_shapes() {
    if !have_device() {
        return;
    }
    let mut s = 0x5EED_u64;
    for case in 0..12 {
        let dims = ScanDims {
            batch: draw(&mut s, &[1, 2, 3, 8, 17]),
            len: draw(&mut s, &[1, 2, 17, 63, 64, 65, 200]),
            channels: draw(&mut s, &[1, 31, 64, 100, 512]),
            state: draw(&mut s, &[1, 5, 8, 16, 32]),
        };
        check_parity(dims, 100 + case);
    }
}

#[test]
fn parity_on_chunk_edges_and_partial_planes() {
    if !have_device() {
        return;
    }
    // len around the backward's chunk sizes (64 / 32 / 16 steps for state 8 / 16 / 32) and channel
    // counts that leave planes and cubes partly empty.
    for &(len, state) in &[
        (63, 8),
        (64, 8),
        (65, 8),
        (31, 16),
        (33, 16),
        (16, 32),
        (17, 32),
    ] {
        for &channels in &[33, 129] {
            check_parity(
                ScanDims {
                    batch: 3,
                    len,
                    channels,
                    state,
                },
                7,
            );
        }
    }
}

#[test]
#[ignore = "large shapes: the CPU reference takes minutes in the dev profile"]
fn parity_on_large_shapes() {
    if !have_device() {
        return;
    }
    for &(batch, len, channels, state) in &[
        (64, 4096, 64, 8),
        (16, 4096, 512, 16),
        (64, 1024, 512, 32),
        (4, 4096, 512, 32),
        (64, 17, 512, 16),
    ] {
        check_parity(
            ScanDims {
                batch,
                len,
                channels,
                state,
            },
            11,
        );
    }
}

#[test]
fn backward_is_deterministic() {
    if !have_device() {
        return;
    }
    let dims = ScanDims {
        batch: 4,
        len: 100,
        channels: 512,
        state: 16,
    };
    let data = ScanData::random(&dims, 3);
    let dy = ScanData::random(&dims, 4).u;
    let first = scan_backward_gpu(&dims, &data.inputs(), &dy, None).expect("backward");
    let second = scan_backward_gpu(&dims, &data.inputs(), &dy, None).expect("backward");
    assert_eq!(first, second);
}

#[test]
fn empty_batch_gives_empty_outputs() {
    if !have_device() {
        return;
    }
    let dims = ScanDims {
        batch: 0,
        len: 5,
        channels: 4,
        state: 8,
    };
    let data = ScanData::random(&dims, 1);
    let (y, last) = scan_forward_gpu(&dims, &data.inputs()).expect("forward");
    assert!(y.is_empty() && last.is_empty());
    let g = scan_backward_gpu(&dims, &data.inputs(), &[], None).expect("backward");
    assert_eq!(g.da, vec![0.0; 32]);
    assert_eq!(g.dd, vec![0.0; 4]);
}

// The checks below run before any device is touched, so they pass or fail everywhere.

#[test]
fn wrong_input_length_is_a_shape_error() {
    let dims = ScanDims {
        batch: 2,
        len: 3,
        channels: 4,
        state: 8,
    };
    let data = ScanData::random(&dims, 1);
    let mut x = data.inputs();
    x.delta = &data.delta[1..];
    let err = scan_forward_gpu(&dims, &x).unwrap_err();
    assert_eq!(
        err,
        CubeScanError::Shape(ScanError::WrongLength {
            name: "delta",
            expected: 24,
            got: 23,
            shape: "[batch, len, channels]",
        })
    );
    let dy = vec![0.0f32; 5];
    let err = scan_backward_gpu(&dims, &data.inputs(), &dy, None).unwrap_err();
    assert!(err.to_string().contains("`dy` has 5 elements"), "{err}");
}

#[test]
fn state_above_max_is_refused() {
    let dims = ScanDims {
        batch: 1,
        len: 2,
        channels: 3,
        state: MAX_STATE + 1,
    };
    let data = ScanData::random(&dims, 1);
    let err = scan_forward_gpu(&dims, &data.inputs()).unwrap_err();
    assert_eq!(err, CubeScanError::UnsupportedState(MAX_STATE + 1));
    assert!(
        err.to_string().contains("state 33 is not supported"),
        "{err}"
    );
}

#[test]
fn byte_counts_and_bandwidth() {
    let dims = ScanDims {
        batch: 2,
        len: 3,
        channels: 4,
        state: 5,
    };
    // u, delta, y: 24 each; a: 20; b, c: 30 each; d, bias: 4 each; last_state: 40.
    assert_eq!(
        forward_bytes(&dims),
        (3 * 24 + 20 + 2 * 30 + 2 * 4 + 40) * 4
    );
    // inputs 24*2 + 20 + 60 + 8, dy 24 + d_last 40, grads 24*2 + 20 + 60 + 8.
    assert_eq!(backward_bytes(&dims), (136 + 64 + 136) * 4);
    assert!((achieved_gbps(2_000_000_000, 1000.0) - 2.0).abs() < 1e-12);
    assert_eq!(achieved_gbps(100, 0.0), 0.0);
}

/// The burn-level operation the Mamba block calls, on GPU tensors (the CubeCL kernels through
/// burn's dispatch and autodiff): output and every gradient against the tensor-op reference scan
/// run on the same GPU.
#[test]
fn scan_op_on_gpu_tensors_matches_the_reference_with_autodiff() {
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use locomamba::nn::scan_reference::selective_scan;
    use locomamba::ops::scan::ScanInputs;
    use locomamba::ops::scan::{selective_scan_fused, selective_scan_y};

    if !have_device() {
        return;
    }
    let gpu = locomamba::device::Gpu::ALL
        .into_iter()
        .find(|g| g.status().1)
        .expect("a usable GPU backend");
    let device: Device = gpu.device().expect("compiled in");
    let device = device.autodiff();
    for (b, l, c, n) in [(2, 17, 64, 16), (3, 129, 40, 8), (1, 300, 33, 32)] {
        let dims = ScanDims {
            batch: b,
            len: l,
            channels: c,
            state: n,
        };
        let x = ScanInputs::random(&dims, &device).require_grad();
        let wy = Tensor::<3>::random([b, l, c], Distribution::Normal(0.0, 1.0), &device);
        let wh = Tensor::<3>::random([b, c, n], Distribution::Normal(0.0, 1.0), &device);
        let host = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
        let run = |scan: &dyn Fn(ScanInputs) -> (Tensor<3>, Tensor<3>)| {
            let (y, h) = scan(x.clone());
            let out = host(y.clone().flatten(0, 2));
            let grads = ((y * wy.clone()).sum() + (h * wh.clone()).sum()).backward();
            let g3 = |t: &Tensor<3>| host(t.grad(&grads).unwrap().flatten(0, 2));
            vec![
                ("y", out),
                ("du", g3(&x.u)),
                ("ddelta", g3(&x.delta)),
                ("da", host(x.a.grad(&grads).unwrap().flatten(0, 1))),
                ("db", g3(&x.b)),
                ("dc", g3(&x.c)),
                ("dd", host(x.d.grad(&grads).unwrap())),
                ("ddelta_bias", host(x.delta_bias.grad(&grads).unwrap())),
            ]
        };
        let fused = run(&|x| selective_scan_fused(&x));
        let reference = run(&selective_scan);
        for ((name, got), (_, want)) in fused.iter().zip(&reference) {
            assert_close(name, &dims, got, want);
        }
        // Without state (training without memory): `y` alone, its last state neither returned
        // nor differentiated; the reference's last state then carries a zero weight.
        let zero = wh.clone().zeros_like();
        let stateless = run(&|x| (selective_scan_y(&x), zero.clone()));
        let reference = run(&|x| {
            let (y, h) = selective_scan(x);
            (y, h * zero.clone())
        });
        for ((name, got), (_, want)) in stateless.iter().zip(&reference) {
            assert_close(name, &dims, got, want);
        }
    }
}
