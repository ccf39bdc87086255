//! Times one of `runner bench nets`' PyTorch-shape fusion stacks (batch 1024 x 17 tokens, width
//! 128), forward + backward, in a loop suited to `perf record`:
//! `cargo run --release --example layer_prof -- [STACK] [REPEATS]`, STACK as named in that
//! bench's table (default "mamba x1").

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::bench::nets::{REFERENCE_TOKENS, REFERENCE_WIDTH, reference_stacks};
use locomamba::device::cpu_device;
use locomamba::nn::registry::build_fusion;

#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

fn main() {
    locomamba::bench::alloc::keep_freed_memory();
    let stack = std::env::args().nth(1).unwrap_or_else(|| "mamba x1".into());
    let repeats: usize = std::env::args()
        .nth(2)
        .map_or(5, |s| s.parse().expect("REPEATS is a number"));
    let stacks = reference_stacks();
    let Some((_, sequence)) = stacks.iter().find(|(name, _)| *name == stack) else {
        let names: Vec<_> = stacks.iter().map(|(name, _)| *name).collect();
        panic!("unknown stack {stack:?}: expected one of {names:?}");
    };
    let device = cpu_device().autodiff();
    let fusion =
        build_fusion(sequence, REFERENCE_WIDTH, REFERENCE_TOKENS, &device).expect("valid stack");
    let x = Tensor::<3>::random(
        [1024, REFERENCE_TOKENS, REFERENCE_WIDTH],
        Distribution::Default,
        &device,
    );
    let step = || {
        let _ = fusion.forward(x.clone()).mean().backward();
    };
    step();
    let start = Instant::now();
    for _ in 0..repeats {
        step();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64;
    println!("{stack}: {ms:.1} ms per forward + backward");
}
