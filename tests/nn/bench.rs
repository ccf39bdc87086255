//! The network benchmark table (slow: run with
//! `cargo test --release --test nn -- --ignored --nocapture bench`), plus a fast smoke test of
//! the benchmark code itself.

use burn::prelude::*;
use locomamba::bench::nets::{BenchOptions, run, table};
use locomamba::recipe::Recipe;

use crate::SHAPE;

#[test]
fn bench_runs_and_reports_every_row() {
    let mut r = Recipe::default();
    r.encoder.visual_dim = 16;
    r.head.hidden_shapes = vec![8];
    let opts = BenchOptions {
        train_batch: 2,
        infer_batches: vec![1],
        layer_batch: 2,
        token_counts: vec![5, 9],
        scaling_batch: 2,
        repeats: 1,
        gemm_side: 32,
    };
    let rows = run(&r, &SHAPE, &Device::flex(), &opts);
    // the gemm rate; per model: 1 train + 1 inference + 2 scaling rows; then 2 rows per
    // reference stack (3), and one row of the Transformer layer through burn's own forward
    assert_eq!(rows.len(), 1 + 2 * 4 + 3 * 2 + 1);
    assert!(rows.iter().all(|row| row.ms.is_finite() && row.ms >= 0.0));
    // A rate for the gemm row and for each train step, from their FLOP counts.
    let rated: Vec<&str> = rows
        .iter()
        .filter(|r| r.gflop_per_s.is_some_and(|g| g > 0.0 && g.is_finite()))
        .map(|r| r.case.as_str())
        .collect();
    assert_eq!(
        rated,
        [
            "sgemm (the gemm crate)",
            "train step (fwd+bwd+adam)",
            "train step (fwd+bwd+adam)"
        ]
    );
    // The counting allocator is installed only in the `runner` binary.
    assert!(rows.iter().all(|row| row.peak_mb_per_sample.is_none()));
    let text = table(&rows).text();
    // A header, the rows, and the notes on units and rates.
    assert_eq!(text.lines().count(), 1 + rows.len() + 2);
    assert!(text.contains("mamba") && text.contains("transformer"));
    assert!(text.contains("mamba x1") && text.contains("transformer x2"));
    assert!(text.contains("transformer x1, burn fwd"));
}
