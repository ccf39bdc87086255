//! `runner eval` on an experiment folder: every finished run's final checkpoint on each task and
//! seed given, unfinished runs named and skipped, stored evaluations kept on a rerun.

use std::path::Path;
use std::process::{Command, Output};

use crate::tiny::Tiny;

fn runner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .output()
        .expect("run runner")
}

fn stdout_of(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn evals(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("eval"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn an_experiment_folder_evaluates_its_finished_runs_on_every_task_and_seed_once() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Tiny {
        seeds: "[0, 1]",
        sweep_models: true,
        ..Tiny::default()
    }
    .write(dir.path());
    stdout_of(&runner(&["sweep", recipe.to_str().unwrap()]));
    let exp = dir.path().join("runs/tiny");
    // A run that has not finished: no summary.json.
    let unfinished = exp.join("model-mamba/seed-1");
    std::fs::remove_file(unfinished.join("summary.json")).unwrap();
    let args = [
        "eval",
        exp.to_str().unwrap(),
        "--episodes",
        "1",
        "--task",
        "flat,thin_obstacles",
        "--seed",
        "0",
        "--seed",
        "1",
    ];
    let first = stdout_of(&runner(&args));
    assert!(
        first.contains("12 evaluations written for 3 finished runs"),
        "{first}"
    );
    assert!(
        first.contains("model-mamba/seed-1: not finished"),
        "{first}"
    );
    let run = exp.join("model-transformer/seed-0");
    let names = evals(&run);
    assert_eq!(names.len(), 4, "{names:?}");
    for (task, seed) in [
        ("flat", 0),
        ("flat", 1),
        ("thin_obstacles", 0),
        ("thin_obstacles", 1),
    ] {
        assert!(
            names
                .iter()
                .any(|n| n.ends_with(&format!("-{task}-seed{seed}.json"))),
            "{task} seed {seed}: {names:?}"
        );
    }
    assert!(
        evals(&unfinished).is_empty(),
        "the unfinished run is not evaluated"
    );
    // A rerun keeps what is stored; more episodes than stored are evaluated again.
    let before = std::fs::read(run.join("eval").join(&names[0])).unwrap();
    let again = stdout_of(&runner(&args));
    assert!(again.contains("0 evaluations written"), "{again}");
    assert_eq!(again.matches("kept ").count(), 12, "{again}");
    assert_eq!(
        std::fs::read(run.join("eval").join(&names[0])).unwrap(),
        before
    );
    let mut more = args.to_vec();
    more[3] = "2";
    more[5] = "flat";
    more.truncate(8);
    let deeper = stdout_of(&runner(&more));
    assert!(deeper.contains("3 evaluations written"), "{deeper}");
    // A video needs one checkpoint, task and seed.
    let video = dir.path().join("v");
    let out = runner(&[
        "eval",
        exp.to_str().unwrap(),
        "--video",
        video.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--video takes one checkpoint"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A folder that is neither a checkpoint nor an experiment says what was expected.
    let out = runner(&["eval", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected a checkpoint folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
