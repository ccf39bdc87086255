//! Network benchmarks for `runner bench nets`: train step (forward + backward + Adam) and
//! inference latency, Transformer vs Mamba fusion, and token-count scaling of one fusion layer.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;

use super::encoder::ObsShape;
use super::fusion::Fusion;
use super::registry::{build_actor_critic, build_fusion};
use crate::recipe::{Recipe, SequenceConfig};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Batch of the training step.
    pub train_batch: usize,
    /// Inference batches (e.g. 1 and num_envs).
    pub infer_batches: Vec<usize>,
    /// Token counts for the fusion scaling rows.
    pub token_counts: Vec<usize>,
    /// Batch of the scaling rows.
    pub scaling_batch: usize,
    /// Timed repetitions per row (after one warm-up).
    pub repeats: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            train_batch: 1024,
            infer_batches: vec![1, 4],
            token_counts: vec![17, 65, 257, 1025],
            scaling_batch: 8,
            repeats: 3,
        }
    }
}

/// One benchmark row.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRow {
    /// What was measured.
    pub case: String,
    /// Fusion model name.
    pub model: String,
    /// Batch size.
    pub batch: usize,
    /// Tokens per sample.
    pub tokens: usize,
    /// Mean milliseconds per call.
    pub ms: f64,
}

fn mean_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..repeats {
        f();
    }
    start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64
}

fn recipes(base: &Recipe) -> Vec<Recipe> {
    let mut mamba = base.clone();
    mamba.sequence = SequenceConfig::Mamba {
        layers: vec![Default::default(); 2],
        bidirectional: false,
    };
    let mut tf = base.clone();
    tf.sequence = SequenceConfig::default();
    vec![tf, mamba]
}

/// Runs the benchmarks for the recipe's sizes on `device` (an autodiff device is made from it
/// for the training rows) and returns the rows.
pub fn run(base: &Recipe, shape: &ObsShape, device: &Device, opts: &BenchOptions) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    let train_device = device.clone().autodiff();
    for recipe in recipes(base) {
        let name = recipe.sequence.model().name().to_string();
        let tokens = super::encoder::token_count(recipe.encoder.kind, shape).unwrap_or(0);
        let obs = |b: usize, dev: &Device| {
            (
                Tensor::<2>::random([b, shape.proprio_dim], Distribution::Default, dev),
                Tensor::<4>::random(
                    [b, shape.depth_frames, shape.depth_height, shape.depth_width],
                    Distribution::Default,
                    dev,
                ),
            )
        };
        if let Ok(mut model) = build_actor_critic(&recipe, shape, &train_device) {
            let mut optim = AdamConfig::new().init();
            let (p, d) = obs(opts.train_batch, &train_device);
            let ms = mean_ms(opts.repeats, || {
                let (mean, value) = model.forward(p.clone(), d.clone());
                let loss = mean.powi_scalar(2).mean() + value.powi_scalar(2).mean();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-4, model.clone(), grads);
            });
            rows.push(BenchRow {
                case: "train step (fwd+bwd+adam)".into(),
                model: name.clone(),
                batch: opts.train_batch,
                tokens,
                ms,
            });
        }
        if let Ok(model) = build_actor_critic(&recipe, shape, device) {
            for &b in &opts.infer_batches {
                let (p, d) = obs(b, device);
                let ms = mean_ms(opts.repeats, || {
                    let (mean, _) = model.forward(p.clone(), d.clone());
                    let _ = mean.into_data();
                });
                rows.push(BenchRow {
                    case: "inference".into(),
                    model: name.clone(),
                    batch: b,
                    tokens,
                    ms,
                });
            }
        }
        if let Ok(fusion) = build_fusion(&recipe.sequence, recipe.encoder.visual_dim, &train_device)
        {
            for &t in &opts.token_counts {
                let x = Tensor::<3>::random(
                    [opts.scaling_batch, t, recipe.encoder.visual_dim],
                    Distribution::Default,
                    &train_device,
                );
                let ms = mean_ms(opts.repeats, || scaling_step(&fusion, x.clone()));
                rows.push(BenchRow {
                    case: "fusion fwd+bwd per sample".into(),
                    model: name.clone(),
                    batch: opts.scaling_batch,
                    tokens: t,
                    ms: ms / opts.scaling_batch as f64,
                });
            }
        }
    }
    rows
}

fn scaling_step(fusion: &Fusion, x: Tensor<3>) {
    let y = fusion.forward(x);
    let _ = y.mean().backward();
}

/// Renders rows as a plain-text table.
pub fn table(rows: &[BenchRow]) -> String {
    let mut s = format!(
        "{:<28} {:<12} {:>6} {:>7} {:>12}\n",
        "case", "model", "batch", "tokens", "ms"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<28} {:<12} {:>6} {:>7} {:>12.3}\n",
            r.case, r.model, r.batch, r.tokens, r.ms
        ));
    }
    s
}
