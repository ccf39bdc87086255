//! kill -9 at any moment loses at most one checkpoint interval and never leaves a run that cannot
//! resume: a training child process is killed at 20 pseudo-random moments (start-up, updates,
//! checkpoint writes); after each kill the newest checkpoint is complete, the next start resumes
//! from it, and the run finally ends with exactly the parameters of an uninterrupted one.
//! About two minutes on 2 cores, so ignored by default; `.ci/run` runs it. The run is long
//! enough (3,200 updates) that the 20 kills never let it finish: on a 2-core AMD EPYC with
//! AVX-512 it reached update 812 by the last kill (at 800 updates it finished before kill 19).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use locomamba::run::{checkpoint, weights};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::tiny::Tiny;

fn recipe(dir: &Path, name: &str) -> PathBuf {
    Tiny {
        name,
        total_env_steps: 51200,
        sequence: "model = \"mamba\"",
        logging: "checkpoint_interval = 1\neval_interval = 0",
        ..Tiny::default()
    }
    .write(dir)
}

fn train(recipe: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runner"));
    cmd.args(["train", recipe.to_str().unwrap()]);
    cmd
}

/// The checkpoint `latest.json` names, after checking that it is complete: every file present
/// and its state at the update its name says.
fn complete_latest(run: &Path) -> Option<PathBuf> {
    let latest = checkpoint::latest(&run.join("checkpoints")).expect("latest.json readable")?;
    for file in [
        "model.safetensors",
        "optim_policy.bpk",
        "optim_value.bpk",
        "state.json",
        "recipe.toml",
    ] {
        assert!(
            latest.join(file).is_file(),
            "{} lacks {file}",
            latest.display()
        );
    }
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("state.json")).unwrap())
            .expect("state.json parses");
    let name = latest.file_name().unwrap().to_string_lossy().to_string();
    let update = state.pointer("/counters/update").and_then(|u| u.as_u64());
    assert_eq!(
        update.map(|u| format!("update-{u:07}")),
        Some(name),
        "{state}"
    );
    checkpoint::recipe_of(&latest).expect("its recipe loads");
    Some(latest)
}

fn final_params(run: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let ckpt = checkpoint::resolve(run).unwrap();
    let recipe = checkpoint::recipe_of(&ckpt).unwrap();
    let model = checkpoint::model_of(&ckpt, &recipe, &locomamba::device::cpu_device()).unwrap();
    weights::named_tensors(&model)
}

#[test]
#[ignore = "about two minutes; run by .ci/run"]
fn kill_9_at_twenty_moments_never_leaves_a_run_that_cannot_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let killed = recipe(tmp.path(), "killed");
    let run = tmp.path().join("runs/killed/base/seed-0");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut during_checkpoint_write = 0;
    for kill in 0..20 {
        let before = complete_latest(&run);
        let mut child = train(&killed)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Start-up (recipe, env, networks, restore) takes about 1 s here; most kills land in
        // training, some in start-up.
        let ms = rng.random_range(300..1400);
        std::thread::sleep(Duration::from_millis(ms));
        if child.try_wait().unwrap().is_some() {
            panic!("kill {kill}: the run finished before it was killed; make it longer");
        }
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if let Some(previous) = &before {
            // It resumed from the newest complete checkpoint, if it got that far.
            let said = format!("resumed from {}", previous.display());
            assert!(
                stdout.contains(&said) || !stdout.contains("resumed from"),
                "kill {kill}: {stdout}"
            );
        }
        let tmp_folders = std::fs::read_dir(run.join("checkpoints"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                    .count()
            })
            .unwrap_or(0);
        during_checkpoint_write += usize::from(tmp_folders > 0);
        let after = complete_latest(&run);
        if let (Some(b), Some(a)) = (&before, &after) {
            assert!(a >= b, "kill {kill}: went back from {b:?} to {a:?}");
        }
    }
    eprintln!("{during_checkpoint_write} of 20 kills interrupted a checkpoint write");
    let out = train(&killed).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run.join("summary.json").is_file());
    assert!(String::from_utf8_lossy(&out.stdout).contains("resumed from"));
    let straight = recipe(tmp.path(), "straight");
    let out = train(&straight).output().unwrap();
    assert!(out.status.success());
    let reference = tmp.path().join("runs/straight/base/seed-0");
    assert!(
        final_params(&run) == final_params(&reference),
        "20 kills changed the trained parameters"
    );
}
