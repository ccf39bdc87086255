//! Memory across control steps for `runner bench memory`, Transformer against Mamba at a recipe's
//! sizes:
//! - acting latency per control step against the steps of context (the Transformer attends over
//!   `context x tokens` keys; Mamba's state is the same size at any episode length);
//! - the training step (forward, backward, Adam over a minibatch of whole segments) and its peak
//!   heap against the segment length and the Transformer's context.

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use crate::bench::alloc;
use crate::bench::nets::{both_models, mean_ms};
use crate::bench::table::{Align, Table, num};
use crate::bench::train_step::random_inputs;
use crate::nn::{ObsShape, build_actor_critic};
use crate::recipe::Recipe;

/// What to measure.
#[derive(Debug, Clone)]
pub struct MemoryBenchOptions {
    /// Steps of context of the acting rows.
    pub contexts: Vec<usize>,
    /// Segment lengths of the training rows.
    pub segments: Vec<usize>,
    /// Transformer contexts of the training rows.
    pub train_contexts: Vec<usize>,
    /// Transitions per training minibatch (segments x segment length).
    pub minibatch: usize,
    /// Acting steps timed per row (after one warm-up step).
    pub act_steps: usize,
    /// Timed repetitions of each training row (after one warm-up).
    pub repeats: usize,
}

impl Default for MemoryBenchOptions {
    fn default() -> Self {
        Self {
            contexts: vec![1, 16, 64, 256, 1000],
            segments: vec![16, 64, 128],
            train_contexts: vec![4, 16, 64],
            minibatch: 512,
            act_steps: 20,
            repeats: 2,
        }
    }
}

/// One measured row.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryBenchRow {
    /// `acting step` or `train step (fwd+bwd+adam)`.
    pub case: String,
    /// Fusion model.
    pub model: String,
    /// Steps of context: the Transformer's window; for Mamba, the episode length behind the step
    /// (its state has the same size).
    pub context: usize,
    /// Steps per training segment (1 for acting rows).
    pub segment: usize,
    /// Sequences (envs acting, segments training).
    pub batch: usize,
    /// Milliseconds per call.
    pub ms: f64,
    /// Peak heap megabytes one call adds (training rows, with the counting allocator).
    pub peak_mb: Option<f64>,
}

/// Runs the measurements for `base`'s sizes (observation `shape`, `base.env.num_envs` envs) on
/// `device`.
pub fn run(
    base: &Recipe,
    shape: &ObsShape,
    device: &Device,
    opts: &MemoryBenchOptions,
) -> Vec<MemoryBenchRow> {
    let mut rows = Vec::new();
    let envs = base.env.num_envs.max(1);
    let train_device = device.clone().autodiff();
    for recipe in both_models(base) {
        let name = recipe.sequence.model().name().to_string();
        let mamba = name == "mamba";
        let Ok(model) = build_actor_critic(&recipe, shape, device) else {
            continue;
        };
        let tokens = model.tokens_per_step(shape);
        for &context in &opts.contexts {
            // Mamba's state does not grow with the episode: one row per context all the same,
            // each measured after `context` steps of its episode.
            let Some(memories) = model.zero_memory(envs, tokens, context) else {
                continue;
            };
            let mut memory = memories.policy;
            if let Some(flags) = memory.buffers.last_mut().filter(|_| !mamba) {
                // A full window of the current episode.
                flags.values.iter_mut().for_each(|v| *v = 1.0);
            }
            let (p, d, _) = random_inputs(shape, envs, false, device);
            let warm = if mamba { context.min(64) } else { 1 };
            for _ in 0..warm {
                memory = model.act_memory(p.clone(), d.clone(), &memory).1;
            }
            let started = Instant::now();
            for _ in 0..opts.act_steps {
                let (mean, next) = model.act_memory(p.clone(), d.clone(), &memory);
                let _ = mean.into_data();
                memory = next;
            }
            let ms = started.elapsed().as_secs_f64() * 1e3 / opts.act_steps.max(1) as f64;
            rows.push(MemoryBenchRow {
                case: "acting step".into(),
                model: name.clone(),
                context,
                segment: 1,
                batch: envs,
                ms,
                peak_mb: None,
            });
        }
        let contexts: Vec<usize> = if mamba {
            vec![1]
        } else {
            opts.train_contexts.clone()
        };
        let Ok(mut train_model) = build_actor_critic(&recipe, shape, &train_device) else {
            continue;
        };
        let mut optim = AdamConfig::new().init();
        for &segment in &opts.segments {
            for &context in &contexts {
                let segments = (opts.minibatch / segment).max(1);
                let n = segments * segment;
                let Some(memory) = train_model.zero_memory(segments, tokens, context) else {
                    continue;
                };
                let (p, d, _) = random_inputs(shape, n, false, &train_device);
                let starts = vec![false; n];
                let mut step = || {
                    let (mean, value, _) = train_model.forward_memory(
                        (p.clone(), d.clone(), None),
                        &memory,
                        &starts,
                        segment,
                    );
                    let loss = mean.powi_scalar(2).mean() + value.powi_scalar(2).mean();
                    let grads = GradientsParams::from_grads(loss.backward(), &train_model);
                    train_model = optim.step(1e-4, train_model.clone(), grads);
                };
                let ms = mean_ms(opts.repeats, &mut step);
                let ((), peak) = alloc::measure(step);
                rows.push(MemoryBenchRow {
                    case: "train step (fwd+bwd+adam)".into(),
                    model: name.clone(),
                    context: if mamba { segment } else { context },
                    segment,
                    batch: segments,
                    ms,
                    peak_mb: peak.map(|b| b as f64 / 1e6),
                });
            }
        }
    }
    rows
}

/// The rows as a table.
pub fn table(rows: &[MemoryBenchRow]) -> Table {
    let mut t = Table::new(&[
        ("case", Align::Left),
        ("model", Align::Left),
        ("context steps", Align::Right),
        ("segment steps", Align::Right),
        ("sequences", Align::Right),
        ("ms", Align::Right),
        ("peak MB", Align::Right),
    ]);
    for r in rows {
        t.push(vec![
            r.case.clone(),
            r.model.clone(),
            r.context.to_string(),
            r.segment.to_string(),
            r.batch.to_string(),
            num(r.ms, 3),
            r.peak_mb.map_or("-".into(), |m| num(m, 1)),
        ]);
    }
    t.note(
        "acting step: one control step of every env (the policy branch with its memory), after \
         a warm-up into the episode; context steps: the Transformer's window (its keys span \
         context x tokens), for Mamba the steps already in its state, which has the same size \
         at any length. train step: a minibatch of whole segments replayed from their memory, \
         forward, backward and Adam, with its peak heap; Mamba's context is the segment.",
    )
}
