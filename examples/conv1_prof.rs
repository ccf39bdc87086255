//! Times the depth encoder's first convolution (8x8 / 4 over 4 x 64 x 64 NCHW depth, 32
//! filters, the space-to-depth path) forward and weight gradient at one batch, on the default
//! rayon pool: `cargo run --release --example conv1_prof -- [BATCH]` (default 256, one shard of
//! a 512 minibatch).

use std::time::Instant;

use locomamba::kernels::conv::{ConvDims, InputLayout, conv_forward, conv_weight_grads};

#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

/// Timed calls of each kernel, after 3 untimed ones.
const REPEATS: usize = 50;

fn main() {
    locomamba::bench::alloc::keep_freed_memory();
    let batch: usize = std::env::args()
        .nth(1)
        .map_or(256, |s| s.parse().expect("BATCH is a number"));
    let d = ConvDims {
        batch,
        in_channels: 4,
        height: 64,
        width: 64,
        out_channels: 32,
        kernel: 8,
        stride: 4,
        input: InputLayout::Nchw,
    };
    let wave = |n: usize, step: f32| (0..n).map(|i| (i as f32 * step).sin()).collect::<Vec<_>>();
    let x = wave(batch * 4 * 64 * 64, 0.37);
    let w: Vec<f32> = wave(32 * 256, 0.11).iter().map(|v| v * 0.05).collect();
    let dy = wave(batch * d.positions() * 32, 0.23);
    let time = |f: &dyn Fn()| {
        for _ in 0..3 {
            f();
        }
        let start = Instant::now();
        for _ in 0..REPEATS {
            f();
        }
        start.elapsed().as_secs_f64() * 1e3 / REPEATS as f64
    };
    let forward = time(&|| {
        std::hint::black_box(conv_forward(&d, &x, &w, None, true));
    });
    let weight_grad = time(&|| {
        std::hint::black_box(conv_weight_grads(&d, &x, &w, &dy));
    });
    println!(
        "conv1 at batch {batch}: forward {forward:.3} ms, weight gradient {weight_grad:.3} ms"
    );
}
