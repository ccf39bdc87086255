//! Times the fused selective scan's forward and backward at one shape, in a loop suited to `perf
//! record`, and prints a checksum of the gradients (to compare two builds bit for bit):
//! `cargo run --release --example scan_prof -- [BATCH] [LEN] [CHANNELS] [STATE] [REPEATS]`
//! (default the paper recipe's 1024 17 512 16, 10 repeats).

use locomamba::kernels::selective_scan::{ScanData, ScanDims, bench, scan_backward};

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
