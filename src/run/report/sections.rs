//! The report's sections beyond the learning curves: the final evaluations per task (trained and
//! held out), the env steps and training time each run needed to first reach a distance, and the
//! probability-of-improvement tables they share.

use std::fmt::Write as _;

use super::final_eval::{self, FINAL_METRICS, FinalEval};
use super::runs::Run;
use super::{LEVEL, SEED, fmt_estimate};
use crate::run::stats::{BOOTSTRAP_REPS, iqm, probability_of_improvement_ci, stratified_bootstrap};

/// The IQM over `scores` with its interval, formatted; `-` without finite scores.
fn iqm_cell(scores: &[f64], decimals: usize) -> String {
    let runs: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    if runs.is_empty() {
        return "-".into();
    }
    let e = stratified_bootstrap(&[runs], iqm, BOOTSTRAP_REPS, LEVEL, SEED);
    fmt_estimate(&e, decimals)
}

/// The table of P(a run of the row's variant scores higher than one of the column's) with 95%
/// intervals; `scores(v)` gives variant `v`'s run scores. Nothing for fewer than two variants.
pub(super) fn improvement_table(
    out: &mut String,
    variants: &[String],
    scores: impl Fn(&String) -> Vec<f64>,
) {
    if variants.len() < 2 {
        return;
    }
    let _ = writeln!(out, "| | {} |", variants.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(variants.len()));
    for row in variants {
        let cells: Vec<String> = variants
            .iter()
            .map(|col| {
                let (x, y) = (scores(row), scores(col));
                if row == col || x.is_empty() || y.is_empty() {
                    return "-".into();
                }
                let e = probability_of_improvement_ci(&[x], &[y], BOOTSTRAP_REPS, LEVEL, SEED);
                fmt_estimate(&e, 2)
            })
            .collect();
        let _ = writeln!(out, "| {row} | {} |", cells.join(" | "));
    }
}

/// "## Final evaluations": per task (trained first, then held out) the IQM over runs of each
/// run's pooled `runner eval` results, and the probability of improvement in distance.
pub(super) fn final_evaluations(out: &mut String, runs: &[Run], variants: &[String]) {
    let evals: Vec<(String, FinalEval)> = runs
        .iter()
        .flat_map(|r| {
            final_eval::read(&r.dir)
                .into_iter()
                .map(|e| (r.variant.clone(), e))
        })
        .collect();
    if evals.is_empty() {
        return;
    }
    let mut trained: Vec<String> = runs
        .iter()
        .filter_map(|r| final_eval::trained_task(&r.dir))
        .collect();
    trained.dedup();
    let _ = writeln!(
        out,
        "\n## Final evaluations\n\n`runner eval` of each run's newest evaluated checkpoint \
         (`eval/*.json`), its episodes pooled over the evaluation seeds into one score per run; \
         each cell the interquartile mean over runs with its 95% stratified-bootstrap interval. \
         Tasks the runs were not trained on are marked held out."
    );
    for task in final_eval::task_order(&evals, &trained) {
        let of_task: Vec<&(String, FinalEval)> =
            evals.iter().filter(|(_, e)| e.task == task).collect();
        let held_out = if trained.contains(&task) {
            ""
        } else {
            " (held out)"
        };
        let headings: Vec<&str> = FINAL_METRICS.iter().map(|(_, h)| *h).collect();
        let _ = writeln!(
            out,
            "\n### {task}{held_out}\n\n| variant | runs | episodes per run | {} |\n| --- | ---: | ---: |{}",
            headings.join(" | "),
            " ---: |".repeat(FINAL_METRICS.len())
        );
        let scores = |variant: &String, metric: usize| -> Vec<f64> {
            of_task
                .iter()
                .filter(|(v, _)| v == variant)
                .map(|(_, e)| e.values[metric])
                .collect()
        };
        for variant in variants {
            let of_variant: Vec<&FinalEval> = of_task
                .iter()
                .filter(|(v, _)| v == variant)
                .map(|(_, e)| e)
                .collect();
            if of_variant.is_empty() {
                continue;
            }
            let (lo, hi) = of_variant.iter().fold((u64::MAX, 0), |(lo, hi), e| {
                (lo.min(e.episodes), hi.max(e.episodes))
            });
            let episodes = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            let cells: Vec<String> = (0..FINAL_METRICS.len())
                .map(|m| iqm_cell(&scores(variant, m), 2))
                .collect();
            let _ = writeln!(
                out,
                "| {variant} | {} | {episodes} | {} |",
                of_variant.len(),
                cells.join(" | ")
            );
        }
        let with_runs: Vec<String> = variants
            .iter()
            .filter(|v| !scores(v, 0).is_empty())
            .cloned()
            .collect();
        if with_runs.len() > 1 {
            let _ = writeln!(
                out,
                "\nP(a run of the row's variant moves farther than one of the column's) on {task}:\n"
            );
            improvement_table(out, &with_runs, |v| scores(v, 0));
        }
    }
}

/// "## Env steps to first reach N m": per run the env steps (and training seconds) of its first
/// evaluation in `metrics.csv` with a mean distance of at least `reach_m`; per variant how many
/// runs got there and the IQM over those of both, with 95% intervals.
pub(super) fn steps_to_reach(out: &mut String, runs: &[Run], variants: &[String], reach_m: f64) {
    let first = |run: &Run| {
        run.rows
            .iter()
            .find(|r| r.eval[0].is_finite() && r.eval[0] >= reach_m)
            .map(|r| (r.env_steps as f64, r.wall_time_s))
    };
    let _ = writeln!(
        out,
        "\n## Env steps to first reach {reach_m} m\n\nPer run, the first evaluation in \
         `metrics.csv` with a mean distance of at least {reach_m} m; the IQM (95% interval) is \
         over the runs that reached it, and runs that never did are counted beside.\n\n\
         | variant | reached | env steps | training time (s) |\n| --- | ---: | ---: | ---: |"
    );
    for variant in variants {
        let of_variant: Vec<&Run> = runs.iter().filter(|r| &r.variant == variant).collect();
        let reached: Vec<(f64, f64)> = of_variant.iter().filter_map(|r| first(r)).collect();
        let steps: Vec<f64> = reached.iter().map(|r| r.0).collect();
        let times: Vec<f64> = reached.iter().map(|r| r.1).collect();
        let _ = writeln!(
            out,
            "| {variant} | {} of {} | {} | {} |",
            reached.len(),
            of_variant.len(),
            iqm_cell(&steps, 0),
            iqm_cell(&times, 0)
        );
    }
}
