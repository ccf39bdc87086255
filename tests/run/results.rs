//! README quotes the evaluations kept in `results/` exactly, so README cannot drift from its data:
//! a committed `report.md` (the comparisons; a combined one, titled `a + b`, reports the folders
//! `a` and `b` beside it) must be the report `runner report` computes from the kept data alone, and
//! README must hold every row of its final evaluation tables; of the experiments no report covers,
//! every kept evaluation of 10 episodes or more appears in README as `<mean> +- <std> m` (distance,
//! two decimals). Every kept run has what `runner report` and
//! `runner eval` need.

use std::path::{Path, PathBuf};

use locomamba::run::report::ReportOptions;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every run folder (`<experiment>/<variant>/seed-<n>`) below `results/`.
fn runs(results: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(results) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .flat_map(|exp| locomamba::run::paths::runs_below(&exp))
        .map(|run| run.root)
        .collect();
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
    let reported: Vec<PathBuf> = committed_reports(&results)
        .into_iter()
        .flat_map(|(_, sources, _)| sources)
        .collect();
    for run in &runs {
        for file in [
            "metrics.csv",
            "summary.json",
            "recipe.toml",
            "checkpoints/latest.json",
        ] {
            assert!(run.join(file).is_file(), "{}: no {file}", run.display());
        }
        let in_report = reported.iter().any(|exp| run.starts_with(exp));
        let Ok(evals) = std::fs::read_dir(run.join("eval")) else {
            continue;
        };
        if in_report {
            continue;
        }
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

/// The rows of the "Final evaluations" tables of a report (variant rows, not headings).
fn final_evaluation_rows(report: &str) -> Vec<&str> {
    let Some(start) = report.find("\n## Final evaluations\n") else {
        return Vec::new();
    };
    report[start..]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| variant ") && !l.starts_with("| |"))
        .filter(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            // Runs (an integer) in the second cell: not a probability-of-improvement row.
            cells.len() == 7 && cells[1].parse::<usize>().is_ok()
        })
        .collect()
}

/// Every committed `results/<exp>/report.md`: its folder, the experiment folders it reports (the
/// folder itself, or for a combined report, titled `# Report: a + b`, the folders `a` and `b`
/// beside it), and its text.
fn committed_reports(results: &Path) -> Vec<(PathBuf, Vec<PathBuf>, String)> {
    let Ok(entries) = std::fs::read_dir(results) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for exp in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let Ok(committed) = std::fs::read_to_string(exp.join("report.md")) else {
            continue;
        };
        let title = committed.lines().next().unwrap_or_default();
        let sources: Vec<PathBuf> = match title.strip_prefix("# Report: ") {
            Some(names) if names.contains(" + ") => {
                names.split(" + ").map(|n| results.join(n)).collect()
            }
            _ => vec![exp.clone()],
        };
        out.push((exp, sources, committed));
    }
    out
}

/// The options a report was written with: `--reach M` from its "Env steps to first reach M m"
/// heading (the default where it has none).
fn options_of(report: &str) -> ReportOptions {
    let reach = report
        .split("\n## Env steps to first reach ")
        .nth(1)
        .and_then(|rest| rest.split(" m\n").next())
        .and_then(|m| m.parse().ok());
    match reach {
        Some(reach_distance_m) => ReportOptions { reach_distance_m },
        None => ReportOptions::default(),
    }
}

#[test]
fn a_reports_reach_distance_is_read_from_its_heading() {
    let report = "# Report: x\n\n## Env steps to first reach 28 m\n\nPer run, ...";
    assert_eq!(options_of(report).reach_distance_m, 28.0);
    assert_eq!(options_of("# Report: x\n").reach_distance_m, 8.0);
}

#[test]
fn committed_reports_are_what_runner_report_computes_and_readme_quotes_their_final_evaluations() {
    let results = root().join("results");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (exp, sources, committed) in committed_reports(&results) {
        let tmp = tempfile::tempdir().unwrap();
        let (computed, _) = locomamba::run::report::write_combined_report(
            &sources,
            tmp.path(),
            &options_of(&committed),
        )
        .unwrap();
        assert!(
            computed == committed,
            "{}/report.md is not what `runner report {}` computes from the kept data: regenerate it",
            exp.display(),
            sources
                .iter()
                .map(|s| s.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let rows = final_evaluation_rows(&computed);
        assert!(!rows.is_empty(), "{}: no final evaluations", exp.display());
        for row in rows {
            assert!(
                readme.contains(row),
                "README does not quote this row of {}/report.md:\n{row}",
                exp.display()
            );
        }
    }
}

/// The header of a final-evaluation table, in reports and in README.
const FINAL_EVAL_HEADER: &str =
    "| variant | runs | episodes per run | distance (m) | collisions | fall rate | return |";

/// The rows of every table in `text` headed by [`FINAL_EVAL_HEADER`].
fn quoted_final_evaluation_rows(text: &str) -> Vec<&str> {
    let mut rows = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == FINAL_EVAL_HEADER {
            rows.extend(lines.by_ref().skip(1).take_while(|l| l.starts_with("| ")));
        }
    }
    rows
}

#[test]
fn every_final_evaluation_row_in_readme_is_a_row_of_a_committed_report() {
    let results = root().join("results");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let reports = committed_reports(&results);
    let known: Vec<&str> = reports
        .iter()
        .flat_map(|(_, _, text)| final_evaluation_rows(text))
        .collect();
    for row in quoted_final_evaluation_rows(&readme) {
        assert!(
            known.contains(&row),
            "README quotes a final evaluation that no committed report holds (regenerate the \
             report, then copy its rows):\n{row}"
        );
    }
}

#[test]
fn final_evaluation_rows_are_the_variant_rows_only() {
    let report = "# R\n| x | 1 | 2 | 3 | 4 | 5 | 6 |\n\n## Final evaluations\n\ntext\n\n### thin\n\n\
                  | variant | runs | episodes per run | distance (m) | collisions | fall rate | return |\n\
                  | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n\
                  | a | 2 | 20 | 1.00 [0.50, 1.50] | 3.00 [2.00, 4.00] | 0.00 [0.00, 0.00] | 5.00 [4.00, 6.00] |\n\n\
                  | | a | b | c | d | e | f |\n| --- | ---: | ---: |\n\
                  | a | - | 0.50 [0.00, 1.00] | - | - | - | - |\n";
    let rows = final_evaluation_rows(report);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].starts_with("| a | 2 | 20 | 1.00"));
}
