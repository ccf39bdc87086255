//! Times one fusion layer's forward + backward at the PyTorch reference shape (batch 1024 x 17
//! tokens, width 128), in a loop suited to `perf record`:
//! `cargo run --release --example layer_prof -- mamba|transformer [REPEATS]`.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::nn::cpu_device;
use locomamba::nn::registry::build_fusion;
use locomamba::recipe::{MambaLayer, SequenceConfig, TransformerLayer};

#[global_allocator]
static ALLOC: locomamba::run::peak_alloc::PeakAlloc = locomamba::run::peak_alloc::PeakAlloc;

fn main() {
    locomamba::run::peak_alloc::keep_freed_memory();
    let model = std::env::args().nth(1).unwrap_or_else(|| "mamba".into());
    let repeats: usize = std::env::args()
        .nth(2)
        .map_or(5, |s| s.parse().expect("REPEATS is a number"));
    let width = 128;
    let sequence = match model.as_str() {
        "mamba" => SequenceConfig::Mamba {
            layers: vec![MambaLayer {
                d_model: Some(width),
                d_state: 16,
                d_conv: 4,
                expand: 2,
            }],
            bidirectional: false,
        },
        "transformer" => SequenceConfig::Transformer {
            layers: vec![TransformerLayer {
                n_heads: 8,
                dim_feedforward: 256,
            }],
        },
        other => panic!("unknown model {other:?}: expected mamba or transformer"),
    };
    let device = cpu_device().autodiff();
    let fusion = build_fusion(&sequence, width, &device).expect("valid layer");
    let x = Tensor::<3>::random([1024, 17, width], Distribution::Default, &device);
    let step = || {
        let _ = fusion.forward(x.clone()).mean().backward();
    };
    step();
    let start = Instant::now();
    for _ in 0..repeats {
        step();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64;
    println!("{model}: {ms:.1} ms per forward + backward");
}
