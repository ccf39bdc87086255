use super::*;

/// `values[i] = sin(seed + 0.37 i)`: deterministic inputs of either sign.
fn wave(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| (seed + 0.37 * i as f32).sin()).collect()
}

/// Index of `(n, c, h, w)` in `d.input`'s layout.
fn input_index(d: &ConvDims, n: usize, c: usize, h: usize, w: usize) -> usize {
    match d.input {
        InputLayout::Nchw => ((n * d.in_channels + c) * d.height + h) * d.width + w,
        InputLayout::Nhwc => ((n * d.height + h) * d.width + w) * d.in_channels + c,
    }
}

/// The convolution by its definition, in `f64`, NHWC output, no ReLU.
fn naive(d: &ConvDims, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let (oh, ow, k, s) = (d.out_height(), d.out_width(), d.kernel, d.stride);
    let mut out = Vec::new();
    for n in 0..d.batch {
        for i in 0..oh {
            for j in 0..ow {
                for (o, &bias) in b.iter().enumerate().take(d.out_channels) {
                    let mut sum = bias as f64;
                    for c in 0..d.in_channels {
                        for ki in 0..k {
                            for kj in 0..k {
                                let xi = input_index(d, n, c, i * s + ki, j * s + kj);
                                let wi = ((o * d.in_channels + c) * k + ki) * k + kj;
                                sum += x[xi] as f64 * w[wi] as f64;
                            }
                        }
                    }
                    out.push(sum);
                }
            }
        }
    }
    out
}

/// Cases covering both layouts, strides 1 and 2, and the 1x1 convolution whose patches are
/// its input; batches span more than one chunk.
fn cases(batch: usize) -> Vec<ConvDims> {
    let base = ConvDims {
        batch,
        in_channels: 3,
        height: 11,
        width: 9,
        out_channels: 5,
        kernel: 3,
        stride: 1,
        input: InputLayout::Nchw,
    };
    let mut all = Vec::new();
    for input in [InputLayout::Nchw, InputLayout::Nhwc] {
        for (kernel, stride) in [(3, 1), (3, 2), (4, 2), (1, 1)] {
            all.push(ConvDims {
                kernel,
                stride,
                input,
                ..base
            });
        }
    }
    all.extend(blocked_cases(batch));
    all
}

/// NCHW cases that run as space-to-depth convolutions (a kernel of twice the stride over sides
/// that are multiples of it), one with the first layer's 8x8 / 4.
fn blocked_cases(batch: usize) -> Vec<ConvDims> {
    let base = ConvDims {
        batch,
        in_channels: 3,
        height: 12,
        width: 10,
        out_channels: 5,
        kernel: 4,
        stride: 2,
        input: InputLayout::Nchw,
    };
    let first_layer = ConvDims {
        in_channels: 2,
        height: 16,
        width: 20,
        kernel: 8,
        stride: 4,
        ..base
    };
    let cases = vec![base, first_layer];
    assert!(cases.iter().all(space_to_depth::applies));
    cases
}

fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn forward_matches_the_definition_in_both_layouts() {
    for d in cases(SAMPLES_PER_CHUNK + 2) {
        let x = wave(d.batch * d.sample(), 0.3);
        let w = wave(d.out_channels * d.patch(), 1.1);
        let b = wave(d.out_channels, 2.7);
        let want = naive(&d, &x, &w, &b);
        let what = format!("{d:?}");
        close(
            &conv_forward(&d, &x, &w, Some(&b), false),
            &want,
            1e-5,
            &what,
        );
        let relu: Vec<f64> = want.iter().map(|v| v.max(0.0)).collect();
        close(
            &conv_forward(&d, &x, &w, Some(&b), true),
            &relu,
            1e-5,
            &what,
        );
        let zeros = vec![0.0; d.out_channels];
        let no_bias = naive(&d, &x, &w, &zeros);
        close(
            &conv_forward(&d, &x, &w, None, false),
            &no_bias,
            1e-5,
            &what,
        );
    }
}

/// Gradients of `sum(dy * conv(x, w, b))` by central differences in `f64` of the definition.
#[test]
fn backward_matches_finite_differences_of_the_definition() {
    for d in cases(SAMPLES_PER_CHUNK + 3) {
        let x = wave(d.batch * d.sample(), 0.9);
        let w = wave(d.out_channels * d.patch(), 1.7);
        let b = wave(d.out_channels, 0.2);
        let dy = wave(d.batch * d.out_sample(), 3.3);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            naive(&d, x, w, b)
                .iter()
                .zip(&dy)
                .map(|(y, &g)| y * g as f64)
                .sum()
        };
        // The loss is linear in each argument, so a central difference with a large step is
        // exact up to rounding.
        let h = 0.5f32;
        let fd = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h as f64)
        };
        let grads = conv_weight_grads(&d, &x, &w, &dy);
        let dx = conv_input_grad(&d, &w, &dy);
        let what = format!("{d:?}");
        for i in (0..w.len()).step_by(7) {
            let want = fd(&w, i, &|w| loss(&x, w, &b));
            close(&grads.weight[i..=i], &[want], 1e-4, &format!("dw {what}"));
        }
        for i in 0..b.len() {
            let want = fd(&b, i, &|b| loss(&x, &w, b));
            close(&grads.bias[i..=i], &[want], 1e-4, &format!("db {what}"));
        }
        for i in (0..x.len()).step_by(13) {
            let want = fd(&x, i, &|x| loss(x, &w, &b));
            close(&dx[i..=i], &[want], 1e-4, &format!("dx {what}"));
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    for d in cases(3 * SAMPLES_PER_CHUNK + 1) {
        let x = wave(d.batch * d.sample(), 0.4);
        let w = wave(d.out_channels * d.patch(), 2.2);
        let dy = wave(d.batch * d.out_sample(), 1.4);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let g = conv_weight_grads(&d, &x, &w, &dy);
                (
                    conv_forward(&d, &x, &w, None, true),
                    g.weight,
                    g.bias,
                    conv_input_grad(&d, &w, &dy),
                )
            })
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(one.0, three.0, "forward {d:?}");
        assert_eq!(one.1, three.1, "weight gradient {d:?}");
        assert_eq!(one.2, three.2, "bias gradient {d:?}");
        assert_eq!(one.3, three.3, "input gradient {d:?}");
    }
}

#[test]
#[should_panic(expected = "a 3x3 kernel with stride 1 on a 2x9 image")]
fn a_kernel_larger_than_the_image_is_named() {
    let d = ConvDims {
        height: 2,
        ..cases(1)[0]
    };
    conv_forward(
        &d,
        &vec![0.0; d.in_channels * 2 * 9],
        &vec![0.0; 5 * 27],
        None,
        false,
    );
}

/// The space-to-depth path against im2row on the same inputs (the patch rows built by
/// [`chunk_rows`] and multiplied directly): outputs and weight gradients agree to rounding.
#[test]
fn space_to_depth_agrees_with_im2row() {
    for d in blocked_cases(2 * SAMPLES_PER_CHUNK + 3) {
        let x = wave(d.batch * d.sample(), 0.8);
        let w = wave(d.out_channels * d.patch(), 1.9);
        let dy = wave(d.batch * d.out_sample(), 2.4);
        let (o, kk) = (d.out_channels, d.patch());
        let mut buffer = Vec::new();
        let rows = chunk_rows(&d, &x, &mut buffer).to_vec();
        let m = rows.len() / kk;
        let mut y = vec![0.0f32; m * o];
        let (lhs, rhs) = (Operand::rows(&rows, kk), Operand::transposed(&w, kk));
        product_into(&mut y, (m, o, kk), lhs, rhs, false);
        let mut dw = vec![0.0f32; o * kk];
        let (lhs, rhs) = (Operand::transposed(&dy, o), Operand::rows(&rows, kk));
        product_into(&mut dw, (o, kk, m), lhs, rhs, false);
        let as_f64 = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<_>>();
        let what = format!("{d:?}");
        close(
            &conv_forward(&d, &x, &w, None, false),
            &as_f64(&y),
            1e-5,
            &what,
        );
        let grads = conv_weight_grads(&d, &x, &w, &dy);
        close(&grads.weight, &as_f64(&dw), 1e-5, &what);
    }
}
