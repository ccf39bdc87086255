//! Network benchmarks for `runner bench nets`, Transformer vs Mamba fusion:
//! - the whole actor-critic's training step (forward + backward + Adam) and inference latency at the
//!   recipe's sizes;
//! - one fusion block at the shapes of the PyTorch reference figures (batch 1024 x 17 tokens,
//!   width 128: a Mamba layer with d_state 16, expand 2; a 2-layer Transformer with 8 heads,
//!   feed-forward 256), forward and forward + backward;
//! - the recipe's fusion stack over growing token counts: time and peak heap memory per sample.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;

use crate::bench::alloc;
use crate::bench::flops;
use crate::bench::table::{Align, Table, num};
use crate::bench::train_step::{TrainStep, random_inputs};
use crate::nn::encoder::ObsShape;
use crate::nn::fusion::Fusion;
use crate::nn::registry::{build_actor_critic, build_fusion};
use crate::recipe::{MambaLayer, Recipe, SequenceConfig, TransformerLayer};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Batch of the training step.
    pub train_batch: usize,
    /// Inference batches (e.g. 1 and num_envs).
    pub infer_batches: Vec<usize>,
    /// Batch of the PyTorch-shape layer rows (0 skips them).
    pub layer_batch: usize,
    /// Token counts for the fusion scaling rows.
    pub token_counts: Vec<usize>,
    /// Batch of the scaling rows.
    pub scaling_batch: usize,
    /// Timed repetitions per row (after one warm-up).
    pub repeats: usize,
    /// Side of the square product that measures the machine's matrix-product rate (0 skips it).
    pub gemm_side: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            train_batch: 1024,
            infer_batches: vec![1, 4],
            layer_batch: 1024,
            token_counts: vec![17, 65, 257, 1025, 4097],
            scaling_batch: 8,
            repeats: 3,
            gemm_side: GEMM_SIDE,
        }
    }
}

/// One benchmark row.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What was measured.
    pub case: String,
    /// Fusion model name (with layer count for the layer rows).
    pub model: String,
    /// Batch size.
    pub batch: usize,
    /// Tokens per sample.
    pub tokens: usize,
    /// Mean milliseconds per call (per sample for the scaling rows).
    pub ms: f64,
    /// Peak heap megabytes added by one call, per sample (scaling rows, when the counting
    /// allocator is installed).
    pub peak_mb_per_sample: Option<f64>,
    /// Matrix-product GFLOP/s achieved (the train-step rows, from their FLOP count; the gemm
    /// row, the machine's rate).
    pub gflop_per_s: Option<f64>,
}

/// Default side of the square single-precision matrix product that measures the machine's rate.
pub const GEMM_SIDE: usize = 2048;

/// The machine's single-precision matrix-product rate in GFLOP/s on the current rayon pool: an
/// `n`-cubed product through the `gemm` crate the linear layers use, as the row `sgemm`.
pub fn gemm_row(n: usize, repeats: usize) -> BenchRow {
    use crate::kernels::matmul::{LinearDims, linear_forward};
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
        .collect();
    let dims = LinearDims::whole(n, n, n);
    let ms = mean_ms(repeats, || {
        std::hint::black_box(linear_forward(&dims, &a, &a, None));
    });
    BenchRow {
        case: "sgemm (the gemm crate)".into(),
        model: "-".into(),
        batch: n,
        tokens: 0,
        ms,
        peak_mb_per_sample: None,
        gflop_per_s: Some(2.0 * (n * n * n) as f64 / (ms * 1e6)),
    }
}

/// Most warm-up calls before the timed ones.
const MAX_WARM_UPS: usize = 5;
/// Page faults a warm-up call may still take and count as settled (stack and bookkeeping pages).
const SETTLED_FAULTS: u64 = 16;

/// Mean milliseconds of `repeats` calls of `f`, after warm-up calls: one, then more (at most
/// [`MAX_WARM_UPS`]) while a call still page-faults in fresh memory, so the timed calls measure
/// the computation and not the allocator growing into memory the OS has yet to hand over (the
/// paper-width Mamba train step faults about 0.5 GB more in its third call than in its second).
pub(crate) fn mean_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..MAX_WARM_UPS {
        let before = super::alloc::minor_faults();
        f();
        let after = super::alloc::minor_faults();
        match (before, after) {
            (Some(b), Some(a)) if a > b + SETTLED_FAULTS => continue,
            _ => break,
        }
    }
    let start = Instant::now();
    for _ in 0..repeats {
        f();
    }
    start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64
}

/// The recipe with each fusion model: its own `[sequence]` for the model it names, the other
/// model's default layers at the same depth.
pub(crate) fn both_models(base: &Recipe) -> Vec<Recipe> {
    let depth = base.sequence.depth();
    let mut tf = base.clone();
    if !matches!(base.sequence, SequenceConfig::Transformer { .. }) {
        tf.sequence = SequenceConfig::Transformer {
            layers: vec![TransformerLayer::default(); depth],
        };
    }
    let mut mamba = base.clone();
    if !matches!(base.sequence, SequenceConfig::Mamba { .. }) {
        mamba.sequence = SequenceConfig::Mamba {
            layers: vec![
                MambaLayer {
                    d_model: Some(base.encoder.visual_dim),
                    ..Default::default()
                };
                depth
            ],
            bidirectional: false,
        };
    }
    vec![tf, mamba]
}

/// The fusion stacks of the PyTorch reference figures, at width 128: `(name, sequence)`.
pub fn reference_stacks() -> Vec<(&'static str, SequenceConfig)> {
    let transformer = |depth| SequenceConfig::Transformer {
        layers: vec![
            TransformerLayer {
                n_heads: 8,
                dim_feedforward: 256,
            };
            depth
        ],
    };
    vec![
        ("transformer x1", transformer(1)),
        ("transformer x2", transformer(2)),
        (
            "mamba x1",
            SequenceConfig::Mamba {
                layers: vec![MambaLayer {
                    d_model: Some(REFERENCE_WIDTH),
                    d_state: 16,
                    d_conv: 4,
                    expand: 2,
                }],
                bidirectional: false,
            },
        ),
    ]
}

/// Token width of the PyTorch reference figures.
pub const REFERENCE_WIDTH: usize = 128;
/// Tokens per sample of the PyTorch reference figures.
pub const REFERENCE_TOKENS: usize = 17;

/// Runs the benchmarks for the recipe's sizes on `device` (an autodiff device is made from it
/// for the training rows) and returns the rows.
pub fn run(base: &Recipe, shape: &ObsShape, device: &Device, opts: &BenchOptions) -> Vec<BenchRow> {
    let mut rows: Vec<BenchRow> = (opts.gemm_side > 0)
        .then(|| gemm_row(opts.gemm_side, opts.repeats))
        .into_iter()
        .collect();
    let train_device = device.clone().autodiff();
    let row = |case: &str, model: &str, batch, tokens, ms, peak| BenchRow {
        case: case.into(),
        model: model.into(),
        batch,
        tokens,
        ms,
        peak_mb_per_sample: peak,
        gflop_per_s: None,
    };
    for recipe in both_models(base) {
        let name = recipe.sequence.model().name();
        let tokens = crate::nn::encoder::token_count(recipe.encoder.kind, shape).unwrap_or(0);
        if let Ok(mut step) = TrainStep::new(&recipe, shape, opts.train_batch, &train_device) {
            let ms = mean_ms(opts.repeats, || step.run());
            let flops = flops::train_step_flops_per_sample(step.model(), shape, tokens)
                * opts.train_batch as f64;
            rows.push(BenchRow {
                gflop_per_s: Some(flops / (ms * 1e6)),
                ..row(
                    "train step (fwd+bwd+adam)",
                    name,
                    opts.train_batch,
                    tokens,
                    ms,
                    None,
                )
            });
        }
        if let Ok(model) = build_actor_critic(&recipe, shape, device) {
            for &b in &opts.infer_batches {
                let (p, d, _) = random_inputs(shape, b, false, device);
                let ms = mean_ms(opts.repeats, || {
                    let mean = model.act(p.clone(), d.clone());
                    let _ = mean.into_data();
                });
                rows.push(row("inference", name, b, tokens, ms, None));
            }
        }
        if let Ok(fusion) = build_fusion(
            &recipe.sequence,
            recipe.encoder.visual_dim,
            tokens,
            &train_device,
        ) {
            for &t in &opts.token_counts {
                let b = opts.scaling_batch;
                let x = Tensor::<3>::random(
                    [b, t, recipe.encoder.visual_dim],
                    Distribution::Default,
                    &train_device,
                );
                let ms = mean_ms(opts.repeats, || fwd_bwd(&fusion, x.clone()));
                let ((), peak) = alloc::measure(|| fwd_bwd(&fusion, x.clone()));
                let per_sample_mb = peak.map(|p| p as f64 / b as f64 / 1e6);
                rows.push(row(
                    "fusion fwd+bwd per sample",
                    name,
                    b,
                    t,
                    ms / b as f64,
                    per_sample_mb,
                ));
            }
        }
    }
    if opts.layer_batch > 0 {
        rows.extend(reference_layer_rows(opts, device, &train_device));
    }
    rows
}

/// Forward (on `device`, no autodiff graph) and forward + backward (on `train_device`) of the
/// reference stacks at the PyTorch figures' shapes.
fn reference_layer_rows(
    opts: &BenchOptions,
    device: &Device,
    train_device: &Device,
) -> Vec<BenchRow> {
    let b = opts.layer_batch;
    let shape = [b, REFERENCE_TOKENS, REFERENCE_WIDTH];
    let x = Tensor::<3>::random(shape, Distribution::Default, train_device);
    let x_infer = Tensor::<3>::random(shape, Distribution::Default, device);
    let mut timed: Vec<(&str, String, f64)> = Vec::new();
    for (name, seq) in reference_stacks() {
        let (Ok(fusion), Ok(fusion_infer)) = (
            build_fusion(&seq, REFERENCE_WIDTH, REFERENCE_TOKENS, train_device),
            build_fusion(&seq, REFERENCE_WIDTH, REFERENCE_TOKENS, device),
        ) else {
            continue;
        };
        let fwd = mean_ms(opts.repeats, || {
            let _ = fusion_infer.forward(x_infer.clone()).mean().into_data();
        });
        let fwd_bwd = mean_ms(opts.repeats, || fwd_bwd(&fusion, x.clone()));
        timed.push(("layer fwd", name.into(), fwd));
        timed.push(("layer fwd+bwd", name.into(), fwd_bwd));
        // A single Transformer layer also through burn's own encoder forward (same weights, same
        // input), which runs its linear layers as per-sample products (see `nn::token_linear`).
        if let Fusion::Transformer(f) = &fusion
            && let [layer] = f.layers.as_slice()
        {
            let ms = mean_ms(opts.repeats, || {
                let _ = layer.reference_forward(x.clone()).mean().backward();
            });
            timed.push(("layer fwd+bwd", format!("{name}, burn fwd"), ms));
        }
    }
    timed
        .into_iter()
        .map(|(case, model, ms)| BenchRow {
            case: case.into(),
            model,
            batch: b,
            tokens: REFERENCE_TOKENS,
            ms,
            peak_mb_per_sample: None,
            gflop_per_s: None,
        })
        .collect()
}

fn fwd_bwd(fusion: &Fusion, x: Tensor<3>) {
    let y = fusion.forward(x);
    let _ = y.mean().backward();
}

/// The rows as a table (times in ms). PyTorch figures for the layer rows come from
/// `examples/pytorch_reference.py`; README lists them with the machine they were measured on.
pub fn table(rows: &[BenchRow]) -> Table {
    let mut t = Table::new(&[
        ("case", Align::Left),
        ("model", Align::Left),
        ("batch", Align::Right),
        ("tokens", Align::Right),
        ("ms", Align::Right),
        ("peak MB/sample", Align::Right),
        ("GFLOP/s", Align::Right),
        ("of sgemm", Align::Right),
    ]);
    let gemm = rows
        .iter()
        .find(|r| r.case.starts_with("sgemm"))
        .and_then(|r| r.gflop_per_s);
    for r in rows {
        let peak = r.peak_mb_per_sample.map_or("-".to_string(), |p| num(p, 2));
        let rate = r.gflop_per_s.map_or("-".to_string(), |g| num(g, 1));
        let share = match (r.gflop_per_s, gemm) {
            (Some(g), Some(peak)) if !r.case.starts_with("sgemm") => {
                format!("{:.0}%", 100.0 * g / peak)
            }
            _ => "-".to_string(),
        };
        let tokens = if r.tokens == 0 {
            "-".to_string()
        } else {
            r.tokens.to_string()
        };
        t.push(vec![
            r.case.clone(),
            r.model.clone(),
            r.batch.to_string(),
            tokens,
            num(r.ms, 3),
            peak,
            rate,
            share,
        ]);
    }
    t.note("ms per call (the scaling rows: per sample), mean of the timed repeats after a warm-up")
        .note(
            "sgemm: an n^3 single-precision product (n = its batch cell), the machine's rate on \
             these threads; GFLOP/s of a train step: its matrix products (convolutions, linear \
             layers, attention; forward and both gradients) over its time, and that as a share of \
             the sgemm rate",
        )
}
