//! README quotes the evaluations kept in `results/` exactly: every kept evaluation of 10 episodes
//! or more appears in README as `<mean> +- <std> m` (distance, two decimals), so README cannot drift
//! from its data; and every kept run has what `runner report` and `runner eval` need.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `seed-<n>` folder below `results/`.
fn runs(results: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(p)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    for exp in dirs(results) {
        for variant in dirs(&exp) {
            for run in dirs(&variant) {
                if run
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
                {
                    out.push(run);
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn readme_quotes_the_kept_evaluations_and_every_run_is_complete() {
    let results = root().join("results");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let runs = runs(&results);
    assert!(!runs.is_empty(), "results/ holds no runs");
    let mut quoted = 0;
    for run in &runs {
        for file in [
            "metrics.csv",
            "summary.json",
            "recipe.toml",
            "checkpoints/latest.json",
        ] {
            assert!(run.join(file).is_file(), "{}: no {file}", run.display());
        }
        let Ok(evals) = std::fs::read_dir(run.join("eval")) else {
            continue;
        };
        for e in evals.filter_map(Result::ok) {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            if v["episodes"].as_u64().unwrap_or(0) < 10 {
                continue;
            }
            let text = format!(
                "{:.2} +- {:.2} m",
                v["mean_distance"].as_f64().unwrap(),
                v["std_distance"].as_f64().unwrap()
            );
            assert!(
                readme.contains(&text),
                "README does not quote {} ({text})",
                e.path().display()
            );
            quoted += 1;
        }
    }
    assert!(quoted > 0, "no kept evaluation of 10 episodes or more");
}
