//! Learning check: PPO must learn to walk forward from a gait that does not. The policy acts
//! through the gait prior of `recipes/walk_flat.toml` (`env.action_mode = "trot_residual"`), but
//! the prior's hip swing is zero: the open-loop trot then steps in place (0.2 m in 10 s, `runner
//! eval --agent trot --hip 0`), and under the exploration noise the untrained policy drifts
//! backwards (about -0.3 m per 10 s episode). Forward motion must come from the policy's hip
//! residuals, in phase with the gait. Release runs of this recipe reach 1.2-1.5 m per episode
//! over the last updates, for both seeds; the plain action space (`joint_targets`) still drifts
//! backwards after the same budget (-0.5 m per episode at 43k steps).
//!
//! Small state-only networks (no depth), so the check measures the trainer, not the CNN. Slow (a
//! few minutes), so ignored by `cargo test`; `.ci/run` runs it with
//! `cargo test --test ppo -- --ignored learning`.

use locomamba::ppo::trainer::Trainer;
use locomamba::recipe::{Overrides, Recipe};
use locomamba::sim::EpisodeStats;

fn recipe() -> Recipe {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("learn.toml");
    std::fs::write(
        &path,
        r#"version = 1
[experiment]
name = "learn"
seeds = [0]
total_env_steps = 81920
[env]
task = "flat"
num_envs = 8
horizon = 250
action_mode = "trot_residual"
[env.trot]
hip = 0.0
[encoder]
hidden_shapes = [32]
visual_dim = 32
[sequence]
model = "state_only"
[head]
hidden_shapes = [32]
[ppo]
policy_lr = 1e-3
value_lr = 1e-3
lr_schedule = "adaptive"
desired_kl = 0.01
epochs = 3
minibatch_size = 256
rollout_steps = 1024
init_log_std = -1.609
"#,
    )
    .unwrap();
    locomamba::recipe::load(&path, &Overrides::default()).unwrap()
}

/// Updates whose episodes count as the untrained policy's.
const FIRST_UPDATES: u64 = 4;
/// Updates at the end whose episodes count as the trained policy's.
const LAST_UPDATES: u64 = 8;

fn mean(episodes: &[EpisodeStats], f: impl Fn(&EpisodeStats) -> f64) -> f64 {
    episodes.iter().map(f).sum::<f64>() / episodes.len() as f64
}

fn learns(seed: u64) {
    let recipe = recipe();
    let mut trainer = Trainer::new(&recipe, seed, &locomamba::device::cpu_device()).unwrap();
    let updates = trainer.total_updates();
    let mut first = Vec::new();
    let mut last = Vec::new();
    while !trainer.done() {
        let stats = trainer.update().unwrap();
        let u = trainer.counters().update;
        if u <= FIRST_UPDATES {
            first.extend(stats.episodes);
        } else if u > updates - LAST_UPDATES {
            last.extend(stats.episodes);
        }
    }
    assert!(
        !first.is_empty() && !last.is_empty(),
        "episodes finished in both windows"
    );
    let distance = |e: &EpisodeStats| e.distance as f64;
    let (before, after) = (mean(&first, distance), mean(&last, distance));
    eprintln!(
        "seed {seed}: distance per episode {before:.2} m -> {after:.2} m ({} and {} episodes)",
        first.len(),
        last.len()
    );
    assert!(
        before < 0.5,
        "seed {seed}: the untrained policy already moves {before:.2} m per episode; the check \
         needs a prior that does not walk"
    );
    assert!(
        after > 1.0 && after > before + 0.8,
        "seed {seed}: distance per episode {before:.2} m -> {after:.2} m, expected more than 1 m \
         and a gain of more than 0.8 m"
    );
}

#[test]
#[ignore = "a few minutes; run by .ci/run"]
fn ppo_learns_to_move_forward_seed_0() {
    learns(0);
}

#[test]
#[ignore = "a few minutes; run by .ci/run"]
fn ppo_learns_to_move_forward_seed_1() {
    learns(1);
}
