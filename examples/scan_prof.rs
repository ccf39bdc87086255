//! Times the fused selective scan's forward and backward at one shape, in a loop suited to `perf
//! record`, and prints a checksum of the gradients (to compare two builds bit for bit):
//! `cargo run --release --example scan_prof -- [BATCH] [LEN] [CHANNELS] [STATE] [REPEATS]`
//! (default the paper recipe's 1024 17 512 16, 10 repeats).

use std::time::Instant;

use locomamba::kernels::selective_scan::{ScanData, ScanDims, scan_backward, scan_forward_packed};

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
    let data = ScanData::random(&dims, 7);
    let x = data.inputs();
    let dy = ScanData::random(&dims, 8).u;
    // One untimed call of each first: the first touch of their buffers.
    std::hint::black_box(scan_forward_packed(&dims, &x));
    let mut grads = scan_backward(&dims, &x, &dy, None);
    let start = Instant::now();
    for _ in 0..repeats {
        std::hint::black_box(scan_forward_packed(&dims, &x));
    }
    let fwd = start.elapsed().as_secs_f64() * 1e3 / repeats as f64;
    let start = Instant::now();
    for _ in 0..repeats {
        grads = scan_backward(&dims, &x, &dy, None);
    }
    let bwd = start.elapsed().as_secs_f64() * 1e3 / repeats as f64;
    let every_gradient = [
        &grads.du,
        &grads.ddelta,
        &grads.da,
        &grads.db,
        &grads.dc,
        &grads.dd,
        &grads.ddelta_bias,
        &grads.dh0,
    ];
    let checksum: f64 = every_gradient
        .iter()
        .flat_map(|v| v.iter())
        .enumerate()
        .map(|(i, &v)| (i % 97 + 1) as f64 * v as f64)
        .sum();
    println!("{dims:?}: forward {fwd:.1} ms, backward {bwd:.1} ms, checksum {checksum:.9e}");
}
