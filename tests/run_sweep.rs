//! End to end: a tiny sweep (flat task, 2 envs, small networks, 2 seeds, both sequence models)
//! writes every artefact; TensorBoard files parse back with the logged tags; finished runs are
//! skipped; a resumed run ends with exactly the parameters of an uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use locomamba::ppo::trainer::Trainer;
use locomamba::recipe::{self, Overrides};
use locomamba::run::sweep::{SweepOptions, run_sweep};
use locomamba::run::{checkpoint, tensorboard, weights};

fn tiny_recipe(dir: &Path, total_env_steps: u64) -> PathBuf {
    let text = format!(
        r#"version = 1
[experiment]
name = "tiny"
seeds = [0, 1]
total_env_steps = {total_env_steps}
output_dir = "{out}"
[env]
task = "flat"
num_envs = 2
horizon = 12
domain_randomization = false
[env.depth]
width = 40
height = 40
[encoder]
hidden_shapes = [16]
visual_dim = 16
[sequence]
model = "transformer"
layers = [[2, 32]]
[head]
hidden_shapes = [16]
[ppo]
rollout_steps = 16
minibatch_size = 8
epochs = 2
[logging]
checkpoint_interval = 1
eval_interval = 2
eval_episodes = 1
[sweep]
"sequence.model" = ["transformer", "mamba"]
"#,
        out = dir.join("runs").display()
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn sweep(path: &Path, force: bool) -> locomamba::run::sweep::SweepReport {
    let source = recipe::read_source(path).unwrap();
    let device = locomamba::nn::cpu_device();
    let options = SweepOptions {
        jobs: 1,
        force,
        ..Default::default()
    };
    run_sweep(
        &source,
        &Overrides::default(),
        &options,
        &device,
        &AtomicBool::new(false),
    )
    .unwrap()
}

#[test]
fn tiny_sweep_writes_every_artefact_and_skips_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 48);
    let report = sweep(&path, false);
    assert_eq!(report.summaries.len(), 4, "2 variants x 2 seeds");
    let exp = dir.path().join("runs/tiny");
    let table = std::fs::read_to_string(exp.join("summary.md")).unwrap();
    assert!(
        table.contains("model-transformer") && table.contains("model-mamba"),
        "{table}"
    );
    assert!(
        table.contains("sequence.model = \"mamba\""),
        "the summary states what differed: {table}"
    );
    for variant in ["model-transformer", "model-mamba"] {
        for seed in [0, 1] {
            let run = exp.join(variant).join(format!("seed-{seed}"));
            for file in [
                "recipe.toml",
                "metrics.csv",
                "summary.json",
                "checkpoints/latest.json",
            ] {
                assert!(
                    run.join(file).is_file(),
                    "{} missing",
                    run.join(file).display()
                );
            }
            let resolved = recipe::load(&run.join("recipe.toml"), &Overrides::default()).unwrap();
            assert_eq!(resolved.experiment.seeds, vec![seed]);
            let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
            assert_eq!(csv.lines().count(), 1 + 3, "header + 3 updates:\n{csv}");
            let cp = checkpoint::resolve(&run).unwrap();
            assert!(cp.join("model.safetensors").is_file());
            let files = tensorboard::event_files(&run.join("tb")).unwrap();
            assert!(!files.is_empty());
            let tags: Vec<String> = files
                .iter()
                .flat_map(|f| tensorboard::read_scalars(f).unwrap())
                .map(|s| s.tag)
                .collect();
            for tag in [
                "loss/policy",
                "loss/value",
                "policy/approx_kl",
                "perf/env_steps_per_s",
                "train/episode_return",
                "eval/distance",
            ] {
                assert!(
                    tags.iter().any(|t| t == tag),
                    "{variant}/seed-{seed}: tag {tag} missing in {tags:?}"
                );
            }
        }
    }
    // Running again skips every finished run and changes nothing.
    let before = std::fs::read(exp.join("model-mamba/seed-1/summary.json")).unwrap();
    let again = sweep(&path, false);
    assert_eq!(again.summaries.len(), 4);
    assert_eq!(
        std::fs::read(exp.join("model-mamba/seed-1/summary.json")).unwrap(),
        before
    );
}

fn params(t: &Trainer) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    weights::named_tensors(&t.model)
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 64);
    let mut r = recipe::load(&path, &Overrides::default()).unwrap();
    r.sweep.clear();
    let device = locomamba::nn::cpu_device();

    let mut straight = Trainer::new(&r, 7, &device).unwrap();
    while !straight.done() {
        straight.update().unwrap();
    }

    let mut first = Trainer::new(&r, 7, &device).unwrap();
    first.update().unwrap();
    first.update().unwrap();
    let cp = checkpoint::save(&first, &dir.path().join("ck")).unwrap();
    drop(first);
    let mut resumed = checkpoint::restore(Trainer::new(&r, 7, &device).unwrap(), &cp).unwrap();
    assert_eq!(resumed.counters.update, 2);
    while !resumed.done() {
        resumed.update().unwrap();
    }
    assert_eq!(
        resumed.counters,
        locomamba::ppo::trainer::Counters {
            wall_time_s: resumed.counters.wall_time_s,
            ..straight.counters
        }
    );
    assert_eq!(
        params(&resumed),
        params(&straight),
        "resumed parameters differ from the uninterrupted run"
    );
}

#[test]
fn same_seed_same_parameters_different_seed_different() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 16);
    let mut r = recipe::load(&path, &Overrides::default()).unwrap();
    r.sweep.clear();
    let device = locomamba::nn::cpu_device();
    let a = Trainer::new(&r, 3, &device).unwrap();
    let b = Trainer::new(&r, 3, &device).unwrap();
    let c = Trainer::new(&r, 4, &device).unwrap();
    assert_eq!(params(&a), params(&b));
    assert_ne!(params(&a), params(&c));
}
