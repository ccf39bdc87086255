//! `runner train --resume RUN --set ...`: a resume changes the budget (and logging) when asked,
//! records the change in the run folder and trains on a finished run; it refuses a key that would
//! make the checkpoint and the recipe disagree, naming it, and changes nothing then.

use std::process::{Command, Output};

use crate::tiny::Tiny;

fn runner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes the tiny recipe `name` (16 env steps) into `dir`, trains it and returns its path.
fn trained(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = Tiny {
        name,
        total_env_steps: 16,
        epochs: 1,
        logging: "eval_interval = 0",
        ..Tiny::default()
    }
    .write(dir);
    let out = runner(&["train", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    path
}

#[test]
fn a_resume_extends_the_budget_and_refuses_frozen_keys() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path(), "resumed");
    let run = dir.path().join("runs/resumed/base/seed-0");
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    let run_arg = run.to_str().unwrap();

    // A key the checkpoint was trained with: refused by name, nothing changed.
    let recipe_before = std::fs::read_to_string(run.join("recipe.toml")).unwrap();
    let out = runner(&["train", "--resume", run_arg, "--set", "ppo.clip=0.1"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("cannot resume with ppo.clip"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(run.join("recipe.toml")).unwrap(),
        recipe_before
    );
    assert!(!run.join("recipe_changes.log").exists());

    // A bigger budget: the finished run trains on to it, its old summary kept aside.
    let out = runner(&[
        "train",
        "--resume",
        run_arg,
        "--set",
        "experiment.total_env_steps=48",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let last = csv.lines().last().unwrap();
    assert!(last.starts_with("3,48,"), "trained to 48 steps: {last}");
    assert_eq!(
        std::fs::read_to_string(run.join("summary.before-resume-1.json")).unwrap(),
        summary
    );
    let log = std::fs::read_to_string(run.join("recipe_changes.log")).unwrap();
    assert!(
        log.contains("experiment.total_env_steps = 48 (was 16)"),
        "{log}"
    );
    assert!(
        std::fs::read_to_string(run.join("recipe.toml"))
            .unwrap()
            .contains("total_env_steps = 48")
    );
}

#[test]
fn a_run_folder_from_an_older_version_resumes_and_a_changed_recipe_is_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = trained(dir.path(), "older");
    let stored = dir.path().join("runs/older/base/seed-0/recipe.toml");
    // An older version wrote no line for a key added since (read back as its default).
    let full = std::fs::read_to_string(&stored).unwrap();
    let older: String = full
        .lines()
        .filter(|l| !l.starts_with("modulation_std"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        older, full,
        "the stored recipe writes env.trot.modulation_std"
    );
    std::fs::write(&stored, &older).unwrap();
    let out = runner(&["train", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("already finished"), "{}", text(&out));

    // A real change is refused, naming the key and both values; the folder is untouched.
    let changed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("epochs = 1", "epochs = 2");
    std::fs::write(&path, changed).unwrap();
    let before = std::fs::read_to_string(&stored).unwrap();
    let out = runner(&["train", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("different recipe (ppo.epochs: 1 -> 2)"),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), before);
}
