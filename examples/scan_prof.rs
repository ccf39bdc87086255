//! Times the fused selective scan's forward and backward at one shape, in a loop suited to `perf
//! record`, and prints a checksum of the gradients (to compare two builds bit for bit):
//! `cargo run --release --example scan_prof -- [BATCH] [LEN] [CHANNELS] [STATE] [REPEATS]`
//! (default the paper recipe's 1024 17 512 16, 10 repeats). A second line times the path training
//! without memory takes (no initial or last state: `scan_forward_y`, `scan_backward_without_dh0`)
//! and prints a digest of the bits of its output and gradients.

use std::time::Instant;

use locomamba::kernels::selective_scan::{
    ScanData, ScanDims, ScanGrads, bench, scan_backward, scan_backward_without_dh0, scan_forward_y,
};

#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

fn main() {
    locomamba::bench::alloc::keep_freed_memory();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("sizes are numbers"))
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let dims = ScanDims {
        batch: arg(0, 1024),
        len: arg(1, 17),
        channels: arg(2, 512),
        state: arg(3, 16),
    };
    let repeats = arg(4, 10);
    // The timing `runner bench scan` prints for its fused columns.
    let (fwd, bwd) = bench(&dims, repeats);
    let data = ScanData::random(&dims, 7);
    let dy = ScanData::random(&dims, 8).u;
    let grads = scan_backward(&dims, &data.inputs(), &dy, None);
    let checksum: f64 = every_gradient(&grads)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, &v)| (i % 97 + 1) as f64 * v as f64)
        .sum();
    println!("{dims:?}: forward {fwd:.1} ms, backward {bwd:.1} ms, checksum {checksum:.9e}");
    training_path(&dims, (&data, &dy), repeats);
}

/// Every gradient of the backward, in a fixed order.
fn every_gradient(grads: &ScanGrads) -> [&[f32]; 8] {
    [
        &grads.du,
        &grads.ddelta,
        &grads.da,
        &grads.db,
        &grads.dc,
        &grads.dd,
        &grads.ddelta_bias,
        &grads.dh0,
    ]
}

/// Times the stateless forward and backward (what a train step runs) and prints an FNV-1a digest
/// of the bits of `y` and of every gradient, equal between two builds only if every bit is.
fn training_path(dims: &ScanDims, (data, dy): (&ScanData, &[f32]), repeats: usize) {
    let x = data.inputs();
    let y = scan_forward_y(dims, &x);
    let grads = scan_backward_without_dh0(dims, &x, dy);
    // (`dh0` is empty on this path.)
    let digest = std::iter::once(y.as_slice())
        .chain(every_gradient(&grads))
        .flatten()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, v| {
            (h ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3)
        });
    let reps = repeats.max(1);
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(scan_forward_y(dims, &x));
    }
    let fwd = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(scan_backward_without_dh0(dims, &x, dy));
    }
    let bwd = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!(
        "training path (no state): forward {fwd:.2} ms, backward {bwd:.2} ms, digest {digest:016x}"
    );
}
