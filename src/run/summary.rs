//! Final numbers of a run (`summary.json`) and the sweep table (`summary.md`): per variant, mean and
//! standard deviation over seeds.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// What one finished run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// Env steps trained.
    pub env_steps: u64,
    /// PPO updates done.
    pub updates: u64,
    /// Mean episode return at the end (deterministic evaluation when run, else last training episodes).
    pub final_return: f64,
    /// Mean distance moved along +x (3-D distance on the mountain).
    pub final_distance: f64,
    /// Mean collisions per episode.
    pub final_collisions: f64,
    /// Fraction of episodes that ended in a fall.
    pub final_fall_rate: f64,
    /// Wall-clock seconds of training (summed over resumes).
    pub wall_time_s: f64,
    /// Env steps per second of wall time.
    pub env_steps_per_s: f64,
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The sweep table: one row per variant (in the given order), mean +- std over its seeds, then a
/// line per variant saying which recipe keys distinguish it.
pub fn sweep_table(variants: &[(String, String)], runs: &[RunSummary]) -> String {
    let mut out = String::new();
    out.push_str("| variant | seeds | return | distance (m) | collisions | fall rate | wall time (s) | env steps/s |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (name, _) in variants {
        let rs: Vec<&RunSummary> = runs.iter().filter(|r| &r.variant == name).collect();
        let col = |f: fn(&RunSummary) -> f64| {
            let (m, s) = mean_std(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
            format!("{m:.2} ± {s:.2}")
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            rs.len(),
            col(|r| r.final_return),
            col(|r| r.final_distance),
            col(|r| r.final_collisions),
            col(|r| r.final_fall_rate),
            col(|r| r.wall_time_s),
            col(|r| r.env_steps_per_s),
        );
    }
    out.push('\n');
    // Run folders found without a frozen grid carry no description of what differs.
    for (name, differs) in variants.iter().filter(|(_, d)| !d.is_empty()) {
        let _ = writeln!(out, "- {name}: {differs}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12);
        assert!((s - 1.290_994_448_7).abs() < 1e-9);
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
    }

    #[test]
    fn variants_say_what_differs_only_when_it_is_known() {
        let run = |variant: &str| RunSummary {
            variant: variant.into(),
            seed: 0,
            env_steps: 100,
            updates: 1,
            final_return: 1.0,
            final_distance: 2.0,
            final_collisions: 3.0,
            final_fall_rate: 0.0,
            wall_time_s: 4.0,
            env_steps_per_s: 25.0,
        };
        let variants = [
            (
                "model-mamba".to_string(),
                "sequence.model = \"mamba\"".to_string(),
            ),
            ("found".to_string(), String::new()),
        ];
        let table = sweep_table(&variants, &[run("model-mamba"), run("found")]);
        assert!(table.contains("| found | 1 |"), "{table}");
        assert!(
            table.contains("- model-mamba: sequence.model = \"mamba\""),
            "{table}"
        );
        assert!(!table.contains("- found"), "{table}");
    }
}
