//! End to end: a tiny sweep (flat task, 2 envs, small networks, 2 seeds, both sequence models)
//! writes every artefact; TensorBoard files parse back with the logged tags; finished runs are
//! skipped; a resumed run ends with exactly the parameters of an uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use locomamba::ppo::trainer::Trainer;
use locomamba::recipe::{self, Overrides};
use locomamba::run::job::{JobOutcome, Progress, run_job};
use locomamba::run::sweep::{SweepOptions, plan, run_sweep};
use locomamba::run::{checkpoint, tensorboard, weights};

use crate::tiny::Tiny;

fn tiny_recipe(dir: &Path, total_env_steps: u64) -> PathBuf {
    Tiny {
        seeds: "[0, 1]",
        total_env_steps,
        logging: "checkpoint_interval = 1\neval_interval = 2\neval_episodes = 1",
        sweep_models: true,
        ..Tiny::default()
    }
    .write(dir)
}

fn sweep(path: &Path, force: bool) -> locomamba::run::sweep::SweepReport {
    let source = recipe::read_source(path).unwrap();
    let device = locomamba::device::cpu_device();
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
            // Each evaluation logs the policy's depth input at 4 moments of an episode, side by
            // side with 2-pixel gaps: 4 x 40 + 3 x 2 pixels wide.
            let images: Vec<tensorboard::Image> = files
                .iter()
                .flat_map(|f| tensorboard::read_images(f).unwrap())
                .collect();
            assert!(!images.is_empty(), "no image summaries");
            for image in &images {
                assert_eq!(image.tag, "eval/depth");
                assert_eq!((image.width, image.height), (166, 40));
                let decoder = png::Decoder::new(std::io::Cursor::new(&image.encoded));
                let info = decoder.read_info().expect("a PNG").info().clone();
                assert_eq!((info.width, info.height), (166, 40));
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
    weights::named_tensors(t.model())
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 64);
    let device = locomamba::device::cpu_device();
    // The last cases add the state that must survive a resume too: the adaptive learning rate,
    // the gait prior's phase, per-episode depth frame offsets and correlated exploration noise; then the privileged-state and
    // reward normalisers and a progress-driven curriculum's level; then memory across control
    // steps, whose per-env recurrent states a checkpoint keeps.
    let cases: [(&str, &[&str]); 6] = [
        ("transformer", &[]),
        ("mamba", &[]),
        (
            "mamba",
            &[
                "ppo.lr_schedule=adaptive",
                "env.action_mode=trot_residual",
                "env.depth.frame_spacing=2",
                "env.depth.frame_offsets=random",
                "ppo.noise_correlation=0.9",
            ],
        ),
        (
            "transformer",
            &[
                "ppo.asymmetric_critic=true",
                "ppo.reward_norm=true",
                "env.curriculum.driver=progress",
                "env.curriculum.promote_distance=0.001",
                "env.curriculum.level_step=0.25",
                "env.curriculum.density_start=0.5",
                "env.curriculum.target_vel_start=0.3",
            ],
        ),
        ("mamba", &["memory.enabled=true"]),
        (
            "transformer",
            &[
                "memory.enabled=true",
                "memory.context_steps=3",
                "memory.segment_steps=4",
                "ppo.asymmetric_critic=true",
            ],
        ),
    ];
    for (case, (model, extra)) in cases.iter().enumerate() {
        let mut sets = vec![format!("sequence.model={model}")];
        sets.extend(extra.iter().map(|s| s.to_string()));
        let overrides = Overrides {
            sets,
            ..Overrides::default()
        };
        let mut r = recipe::load(&path, &overrides).unwrap();
        r.sweep.clear();

        let mut straight = Trainer::new(&r, 7, &device).unwrap();
        while !straight.done() {
            straight.update().unwrap();
        }

        let mut first = Trainer::new(&r, 7, &device).unwrap();
        first.update().unwrap();
        first.update().unwrap();
        let cp = checkpoint::save(&first, &dir.path().join(format!("ck-{case}"))).unwrap();
        drop(first);
        let mut resumed = checkpoint::restore(Trainer::new(&r, 7, &device).unwrap(), &cp).unwrap();
        assert_eq!(resumed.counters().update, 2);
        while !resumed.done() {
            resumed.update().unwrap();
        }
        assert_eq!(
            resumed.counters(),
            locomamba::ppo::trainer::Counters {
                wall_time_s: resumed.counters().wall_time_s,
                ..straight.counters()
            },
            "{model}"
        );
        assert_eq!(
            params(&resumed),
            params(&straight),
            "{model}: resumed parameters differ from the uninterrupted run"
        );
        assert!(!straight.recent_episodes().is_empty());
        assert_eq!(
            resumed.recent_episodes(),
            straight.recent_episodes(),
            "{model}: the logged episode window differs after resuming"
        );
    }
}

#[test]
fn a_checkpoint_of_another_seed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = recipe::load(&tiny_recipe(dir.path(), 16), &Overrides::default()).unwrap();
    r.sweep.clear();
    let device = locomamba::device::cpu_device();
    let cp = checkpoint::save(
        &Trainer::new(&r, 1, &device).unwrap(),
        &dir.path().join("ck"),
    )
    .unwrap();
    let err = match checkpoint::restore(Trainer::new(&r, 2, &device).unwrap(), &cp) {
        Ok(_) => panic!("restored a checkpoint of seed 1 into seed 2"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("state.json") && err.contains("seed 1"),
        "{err}"
    );
}

#[test]
fn a_finished_run_with_a_changed_recipe_is_refused_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 16);
    sweep(&path, false);
    let summary = dir.path().join("runs/tiny/model-mamba/seed-0/summary.json");
    let before = std::fs::read(&summary).unwrap();
    // Same experiment, longer budget: old results must not be reported as the new ones.
    let source = recipe::read_source(&path).unwrap();
    let overrides = Overrides {
        sets: vec!["experiment.total_env_steps=32".into()],
        ..Overrides::default()
    };
    let err = run_sweep(
        &source,
        &overrides,
        &SweepOptions::default(),
        &locomamba::device::cpu_device(),
        &AtomicBool::new(false),
    )
    .expect_err("changed recipe for finished runs");
    assert!(err.to_string().contains("recipe.toml"), "{err}");
    assert_eq!(
        std::fs::read(&summary).unwrap(),
        before,
        "nothing is overwritten"
    );
}

#[test]
fn same_seed_same_parameters_different_seed_different() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 16);
    let mut r = recipe::load(&path, &Overrides::default()).unwrap();
    r.sweep.clear();
    let device = locomamba::device::cpu_device();
    let a = Trainer::new(&r, 3, &device).unwrap();
    let b = Trainer::new(&r, 3, &device).unwrap();
    let c = Trainer::new(&r, 4, &device).unwrap();
    assert_eq!(params(&a), params(&b));
    assert_ne!(params(&a), params(&c));
}

/// Raises the stop flag (as Ctrl-C does) after the first update it hears of.
struct StopAfterFirstUpdate<'a>(&'a AtomicBool);

impl Progress for StopAfterFirstUpdate<'_> {
    fn start(&self, _: u64, _: u64) {}
    fn update(&self, _: u64, _: f64, _: Option<f64>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    fn message(&self, _: &str) {}
    fn finish(&self, _: &str) {}
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_a_rerun_finishes_like_an_uninterrupted_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 32);
    let source = recipe::read_source(&path).unwrap();
    let device = locomamba::device::cpu_device();
    let jobs = plan(&source, &Overrides::default(), &SweepOptions::default()).unwrap();
    for (_, job) in &jobs {
        let stop = AtomicBool::new(false);
        let outcome = run_job(job, &device, &StopAfterFirstUpdate(&stop), &stop).unwrap();
        assert!(
            matches!(outcome, JobOutcome::Interrupted),
            "{}",
            job.variant
        );
        let latest = checkpoint::resolve(&job.dir.root).unwrap();
        assert!(latest.ends_with("update-0000001"), "{}", latest.display());
        assert!(!job.dir.finished());
    }
    // Running the sweep again resumes every run from its checkpoint and finishes it ...
    let finished = sweep(&path, false);
    assert_eq!(finished.summaries.len(), 4);
    // ... with the weights of a sweep that was never interrupted.
    let other = tempfile::tempdir().unwrap();
    sweep(&tiny_recipe(other.path(), 32), false);
    for variant in ["model-transformer", "model-mamba"] {
        // Tensors by name (the file's metadata also holds burn's random parameter ids).
        let weights_of = |root: &Path| {
            let run = root.join(format!("runs/tiny/{variant}/seed-1"));
            let file = checkpoint::resolve(&run).unwrap().join("model.safetensors");
            let bytes = std::fs::read(file).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut tensors: Vec<(String, Vec<u8>)> = st
                .tensors()
                .into_iter()
                .map(|(name, view)| (name, view.data().to_vec()))
                .collect();
            tensors.sort();
            tensors
        };
        assert!(
            weights_of(dir.path()) == weights_of(other.path()),
            "{variant}: weights differ from the uninterrupted sweep"
        );
    }
}

#[test]
fn runner_eval_writes_results_outside_the_pruned_checkpoint_folders() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 16);
    sweep(&path, false);
    let run = dir.path().join("runs/tiny/model-mamba/seed-0");
    let eval_once = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
            .args([
                "eval",
                run.to_str().unwrap(),
                "--episodes",
                "1",
                "--task",
                "thin_obstacles",
            ])
            .output()
            .unwrap()
    };
    let out = eval_once();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("thin_obstacles"), "{stdout}");
    let written: Vec<_> = std::fs::read_dir(run.join("eval")).unwrap().collect();
    assert_eq!(written.len(), 1);
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(written[0].as_ref().unwrap().path()).unwrap())
            .unwrap();
    for key in [
        "mean_return",
        "mean_distance",
        "mean_collisions",
        "fall_rate",
        "success_rate",
    ] {
        assert!(result.get(key).is_some(), "{key} missing in {result}");
    }
    // A later evaluation of fewer episodes does not replace it: it goes beside it.
    let first = written[0].as_ref().unwrap().path();
    let text = std::fs::read_to_string(&first).unwrap();
    let bigger = text.replace("\"episodes\": 1,", "\"episodes\": 5,");
    assert_ne!(bigger, text);
    std::fs::write(&first, &bigger).unwrap();
    let again = eval_once();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("kept the 5-episode evaluation"));
    assert_eq!(std::fs::read_to_string(&first).unwrap(), bigger);
    assert_eq!(std::fs::read_dir(run.join("eval")).unwrap().count(), 2);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["eval", run.to_str().unwrap(), "--task", "lava"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected one of flat"));
}

#[test]
fn adaptive_learning_rate_follows_the_measured_kl() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 64);
    let device = locomamba::device::cpu_device();
    let lr_after = |desired_kl: f64| {
        let overrides = Overrides {
            sets: vec![
                "ppo.lr_schedule=adaptive".into(),
                format!("ppo.desired_kl={desired_kl}"),
            ],
            ..Overrides::default()
        };
        let mut r = recipe::load(&path, &overrides).unwrap();
        r.sweep.clear();
        let base = r.ppo.policy_lr;
        let mut t = Trainer::new(&r, 3, &device).unwrap();
        let stats = t.update().unwrap();
        let lr = stats
            .scalars
            .iter()
            .find(|(k, _)| k == "lr/policy")
            .unwrap()
            .1;
        lr / base
    };
    // A KL target far below anything measured shrinks the rate; one far above grows it.
    assert!(lr_after(1e-12) < 1.0);
    assert!(lr_after(1e3) > 1.0);
}

fn scalar(stats: &locomamba::ppo::trainer::UpdateStats, tag: &str) -> f64 {
    stats
        .scalars
        .iter()
        .find(|(k, _)| k == tag)
        .unwrap_or_else(|| panic!("{tag} not logged"))
        .1
}

#[test]
fn a_progress_curriculum_moves_by_its_rule_and_sets_the_next_episodes_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_recipe(dir.path(), 480);
    let overrides = Overrides {
        sets: vec![
            // The trot prior walks forward, so some episodes of 30 steps pass the distance.
            "env.action_mode=trot_residual".into(),
            "env.horizon=30".into(),
            "env.curriculum.driver=progress".into(),
            "env.curriculum.promote_distance=0.05".into(),
            "env.curriculum.level_step=0.2".into(),
            "env.curriculum.target_vel_start=0.2".into(),
        ],
        ..Overrides::default()
    };
    let mut r = recipe::load(&path, &overrides).unwrap();
    r.sweep.clear();
    let mut t = Trainer::new(&r, 5, &locomamba::device::cpu_device()).unwrap();
    let mut level = 0.0_f32;
    let mut moved = 0;
    while !t.done() {
        let stats = t.update().unwrap();
        // The update ran at the level the previous one left ...
        let target = r.env.difficulty_at(level).target_vel;
        assert!((scalar(&stats, "train/target_vel") - target as f64).abs() < 1e-6);
        assert_eq!(scalar(&stats, "train/obstacle_density"), 1.0, "not ramped");
        // ... and moves it by the rule, judged on the episodes it finished.
        let next = locomamba::ppo::curriculum::next_level(
            &r.env.curriculum,
            level,
            t.counters().env_steps,
            &stats.episodes,
        );
        assert_eq!(scalar(&stats, "train/curriculum_level"), next as f64);
        moved += (next != level) as usize;
        level = next;
    }
    assert!(moved >= 2, "the level moved {moved} times");
    // Episodes that started at the new level ask for its speed.
    let target = r.env.difficulty_at(level).target_vel;
    let snapshot = t.state().env;
    assert_eq!(snapshot.target_vel, Some(target));
}
