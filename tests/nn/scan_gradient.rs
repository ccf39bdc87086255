//! Gradients of the reference selective scan (from an initial state, with a reset inside one
//! sequence) and of a whole Mamba block (from a recurrent state, with resets) against central
//! finite differences, in f32.
//!
//! Tolerance: with step `EPS = 1e-2` the central-difference truncation error is
//! O(EPS^2 * f''') ~ 1e-4 for these O(1) smooth functions, and f32 rounding of the loss (~1e-6
//! relative on sums of a few dozen O(1) terms) divided by 2 EPS adds ~1e-4; we allow
//! `5e-3 + 2e-2 * |g|`, far below the size of a wrong gradient (a sign or missing term is O(|g|)).

use burn::module::{ModuleMapper, Param, ParamId};
use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::mamba::MambaBlockConfig;
use locomamba::nn::scan_reference::selective_scan;
use locomamba::ops::scan::ScanInputs;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EPS: f32 = 1e-2;

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec_as::<f32>().unwrap()
}

fn close(analytic: &[f32], numeric: &[f32], what: &str) {
    assert_eq!(analytic.len(), numeric.len());
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        let tol = 5e-3 + 2e-2 * n.abs();
        assert!(
            (a - n).abs() <= tol,
            "{what}[{i}]: autodiff {a} vs finite difference {n}"
        );
    }
}

/// Central differences of `loss` over every element of `values` (shape `shape`).
fn finite_diff<const D: usize>(
    values: &[f32],
    shape: [usize; D],
    loss: &dyn Fn(Tensor<D>) -> f32,
    device: &Device,
) -> Vec<f32> {
    (0..values.len())
        .map(|i| {
            let mut plus = values.to_vec();
            let mut minus = values.to_vec();
            plus[i] += EPS;
            minus[i] -= EPS;
            let p = loss(Tensor::from_data(TensorData::new(plus, shape), device));
            let m = loss(Tensor::from_data(TensorData::new(minus, shape), device));
            (p - m) / (2.0 * EPS)
        })
        .collect()
}

#[test]
fn scan_gradients_match_finite_differences() {
    let plain = cpu_device();
    let ad = plain.clone().autodiff();
    let (b, l, c, n) = (2, 4, 3, 2);
    let r = |shape: Vec<usize>| {
        to_vec(Tensor::<1>::random(
            [shape.iter().product::<usize>()],
            Distribution::Normal(0.0, 0.7),
            &plain,
        ))
    };
    let u = r(vec![b, l, c]);
    let delta = r(vec![b, l, c]);
    let a: Vec<f32> = r(vec![c, n]).iter().map(|v| -v.abs() - 0.2).collect();
    let bm = r(vec![b, l, n]);
    let cm = r(vec![b, l, n]);
    let d = r(vec![c]);
    let db = r(vec![c]);
    let h0 = r(vec![b, c, n]);
    let w = r(vec![b, l, c]);
    // Sequence 1 restarts at its third token; sequence 0 runs on from its initial state.
    let mut reset = vec![0.0f32; b * l];
    reset[l + 2] = 1.0;
    let t3 = |v: &[f32], s: [usize; 3], dev: &Device| {
        Tensor::<3>::from_data(TensorData::new(v.to_vec(), s), dev)
    };
    let t2 = |v: &[f32], s: [usize; 2], dev: &Device| {
        Tensor::<2>::from_data(TensorData::new(v.to_vec(), s), dev)
    };
    let t1 = |v: &[f32], dev: &Device| {
        Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), dev)
    };
    let loss_of = |inputs: ScanInputs, dev: &Device| {
        let (y, last) = selective_scan(inputs);
        (y * t3(&w, [b, l, c], dev)).sum() + last.sum() * 0.5
    };
    let base = |dev: &Device| ScanInputs {
        u: t3(&u, [b, l, c], dev),
        delta: t3(&delta, [b, l, c], dev),
        a: t2(&a, [c, n], dev),
        b: t3(&bm, [b, l, n], dev),
        c: t3(&cm, [b, l, n], dev),
        d: t1(&d, dev),
        delta_bias: t1(&db, dev),
        h0: Some(t3(&h0, [b, c, n], dev)),
        reset: Some(t2(&reset, [b, l], dev)),
    };
    // Autodiff gradients.
    let mut inputs = base(&ad);
    inputs.u = inputs.u.require_grad();
    inputs.delta = inputs.delta.require_grad();
    inputs.a = inputs.a.require_grad();
    inputs.b = inputs.b.require_grad();
    inputs.c = inputs.c.require_grad();
    inputs.d = inputs.d.require_grad();
    inputs.delta_bias = inputs.delta_bias.require_grad();
    inputs.h0 = inputs.h0.map(Tensor::require_grad);
    let leaves = inputs.clone();
    let grads = loss_of(inputs, &ad).backward();
    let scalar = |inputs: ScanInputs| loss_of(inputs, &plain).into_scalar::<f32>();

    let fd = finite_diff(
        &u,
        [b, l, c],
        &|t| {
            scalar(ScanInputs {
                u: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(&to_vec(leaves.u.grad(&grads).unwrap()), &fd, "du");
    let fd = finite_diff(
        &delta,
        [b, l, c],
        &|t| {
            scalar(ScanInputs {
                delta: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(&to_vec(leaves.delta.grad(&grads).unwrap()), &fd, "ddelta");
    let fd = finite_diff(
        &a,
        [c, n],
        &|t| {
            scalar(ScanInputs {
                a: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(&to_vec(leaves.a.grad(&grads).unwrap()), &fd, "da");
    let fd = finite_diff(
        &bm,
        [b, l, n],
        &|t| {
            scalar(ScanInputs {
                b: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(&to_vec(leaves.b.grad(&grads).unwrap()), &fd, "db");
    let fd = finite_diff(
        &cm,
        [b, l, n],
        &|t| {
            scalar(ScanInputs {
                c: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(&to_vec(leaves.c.grad(&grads).unwrap()), &fd, "dc");
    let fd = finite_diff(
        &d,
        [c],
        &|t| {
            scalar(ScanInputs {
                d: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(&to_vec(leaves.d.grad(&grads).unwrap()), &fd, "dd");
    let fd = finite_diff(
        &db,
        [c],
        &|t| {
            scalar(ScanInputs {
                delta_bias: t,
                ..base(&plain)
            })
        },
        &plain,
    );
    close(
        &to_vec(leaves.delta_bias.grad(&grads).unwrap()),
        &fd,
        "ddelta_bias",
    );
    let fd = finite_diff(
        &h0,
        [b, c, n],
        &|t| {
            scalar(ScanInputs {
                h0: Some(t),
                ..base(&plain)
            })
        },
        &plain,
    );
    let dh0 = to_vec(leaves.h0.unwrap().grad(&grads).unwrap());
    close(&dh0, &fd, "dh0");
    // Sequence 1's initial state is forgotten at its reset: after it nothing depends on it, so
    // its gradient comes from its first two tokens only; a reset at token 0 would make it zero.
    assert!(dh0[c * n..].iter().any(|g| g.abs() > 1e-4));
}

/// Redraws every parameter from a local seeded generator, uniformly within the range of its
/// initial values (constant parameters such as `D` = 1 stay constant), so the test does not
/// depend on the global generator other tests in this binary draw from concurrently.
struct Redraw(ChaCha8Rng);

impl ModuleMapper for Redraw {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = param.val();
        let shape = current.dims();
        let values = to_vec(current.clone());
        let lo = values.iter().cloned().fold(f32::INFINITY, f32::min);
        let hi = values.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let drawn: Vec<f32> = values
            .iter()
            .map(|_| {
                if hi > lo {
                    self.0.random_range(lo..hi)
                } else {
                    lo
                }
            })
            .collect();
        let device = current.device();
        let (id, _, mapper): (ParamId, _, _) = param.consume();
        let tensor = Tensor::<D>::from_data(TensorData::new(drawn, shape), &device)
            .set_require_grad(current.is_require_grad());
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// `n` standard normal values from a local seeded generator (Box-Muller).
fn normals(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

#[test]
fn mamba_block_input_gradient_matches_finite_differences() {
    let plain = cpu_device();
    let ad = plain.clone().autodiff();
    let dims = MambaBlockConfig {
        d_model: 4,
        d_state: 3,
        d_conv: 2,
        expand: 2,
    };
    let block = dims
        .init(&ad)
        .map(&mut Redraw(ChaCha8Rng::seed_from_u64(11)));
    let block_plain = block.clone().to_device(&plain);
    let shape = [2, 3, 4];
    let x = normals(24, 12);
    let w = normals(24, 13);
    let wt = |dev: &Device| Tensor::<3>::from_data(TensorData::new(w.clone(), shape), dev);
    let xa = Tensor::<3>::from_data(TensorData::new(x.clone(), shape), &ad).require_grad();
    let grads = (block.forward(xa.clone(), false) * wt(&ad))
        .sum()
        .backward();
    let analytic = to_vec(xa.grad(&grads).unwrap());
    let fd = finite_diff(
        &x,
        shape,
        &|t| {
            (block_plain.forward(t, false) * wt(&plain))
                .sum()
                .into_scalar::<f32>()
        },
        &plain,
    );
    close(&analytic, &fd, "dx");
    // A parameter deep inside the block gets a gradient too.
    let ga = block.a_log.grad(&grads).expect("A_log gradient");
    assert_eq!(ga.dims(), [8, 3]);
}
