//! Sweeps split into shards: each shard trains its share of the grid frozen in `sweep.json`,
//! a different grid is refused, `runner summarize` lists what has not finished, a run already
//! being trained is refused, and `--slurm` without Slurm says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::tiny::Tiny;

/// Every recipe of this file trains into the same experiment folder, `runs/sharded`.
fn recipe(dir: &Path, seeds: &str, total: u64) -> PathBuf {
    let file = format!("sharded-{}", seeds.len());
    Tiny {
        name: "sharded",
        file: Some(&file),
        seeds,
        total_env_steps: total,
        epochs: 1,
        logging: "eval_interval = 0",
        sweep_models: true,
        ..Tiny::default()
    }
    .write(dir)
}

fn runner(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_shard_trains_its_share_and_summarize_lists_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let path = recipe(tmp.path(), "[0, 1]", 16);
    let p = path.to_str().unwrap();
    ok(&runner(&["sweep", p, "--shard", "0/2"]));
    let exp = tmp.path().join("runs/sharded");
    let grid: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(exp.join("sweep.json")).unwrap()).unwrap();
    let runs: Vec<String> = grid["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}/seed-{}", i["variant"].as_str().unwrap(), i["seed"]))
        .collect();
    assert_eq!(
        runs,
        [
            "model-transformer/seed-0",
            "model-transformer/seed-1",
            "model-mamba/seed-0",
            "model-mamba/seed-1"
        ]
    );
    // Shard 0 of 2 owns items 0 and 2; a shard writes no experiment summary.
    for (run, done) in runs.iter().zip([true, false, true, false]) {
        assert_eq!(exp.join(run).join("summary.json").is_file(), done, "{run}");
    }
    assert!(!exp.join("summary.md").exists());
    let table = ok(&runner(&["summarize", exp.to_str().unwrap()]));
    assert!(table.contains("2 of 4 runs finished."), "{table}");
    assert!(
        table.contains("- model-transformer/seed-1: not started"),
        "{table}"
    );
    assert!(
        table.contains("- model-mamba/seed-1: not started"),
        "{table}"
    );
    assert!(table.contains("| model-mamba | 1 |"), "{table}");
    assert_eq!(
        std::fs::read_to_string(exp.join("summary.md"))
            .unwrap()
            .trim(),
        table.trim()
    );
    // The other shard completes the sweep.
    ok(&runner(&["sweep", p, "--shard", "1/2"]));
    let table = ok(&runner(&["summarize", exp.to_str().unwrap()]));
    assert!(table.contains("4 of 4 runs finished."), "{table}");
    // A grid with another seed is refused: shards must agree on which item is which.
    let three = recipe(tmp.path(), "[0, 1, 2]", 16);
    let e = err(&runner(&[
        "sweep",
        three.to_str().unwrap(),
        "--shard",
        "0/2",
    ]));
    assert!(e.contains("sweep.json froze a grid of 4 runs"), "{e}");
    assert!(e.contains("this recipe gives 6"), "{e}");
    let e = err(&runner(&["sweep", p, "--shard", "2/2"]));
    assert!(e.contains("expected K/N with 0 <= K < N"), "{e}");
}

#[test]
fn a_run_being_trained_is_refused_to_a_second_process() {
    let tmp = tempfile::tempdir().unwrap();
    let path = recipe(tmp.path(), "[0]", 4000);
    let p = path.to_str().unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["train", p])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = tmp.path().join("runs/sharded/base/seed-0/lock");
    for _ in 0..200 {
        if lock.is_file() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lock.is_file(), "the first process took the lock");
    let e = err(&runner(&["train", p]));
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        e.contains(&format!(
            "being trained by process {} on this host",
            first.id()
        )),
        "{e}"
    );
    // Killed, its lock is stale: the next trainer on this host takes it over.
    assert!(lock.is_file(), "kill -9 leaves the lock behind");
    let run = lock.parent().unwrap();
    let taken = locomamba::run::lock::RunLock::acquire(run).expect("a stale lock is taken over");
    let holder = locomamba::run::lock::holder(run).unwrap();
    assert_eq!(holder.pid, std::process::id());
    drop(taken);
}

#[test]
fn slurm_without_sbatch_says_what_to_do_instead() {
    let tmp = tempfile::tempdir().unwrap();
    let path = recipe(tmp.path(), "[0]", 16);
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["sweep", path.to_str().unwrap(), "--slurm"])
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    let e = err(&out);
    assert!(e.contains("`sbatch` not found"), "{e}");
    assert!(e.contains("--shard K/N"), "{e}");
    let dry = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["sweep", path.to_str().unwrap(), "--slurm", "--dry-run"])
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    let script = ok(&dry);
    assert!(script.contains("exec "), "{script}");
    assert!(
        script.contains("--shard \"$SLURM_ARRAY_TASK_ID/2\""),
        "{script}"
    );
    assert!(script.contains("--dependency=afterany:{array}"), "{script}");
}
