//! The robot holds its standing pose and collapses with motors off.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::Env;

fn cfg() -> EnvConfig {
    EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    }
}

/// Raw action that maps to the standing pose (tanh(0) = 0).
fn stand_action(c: &EnvConfig) -> Vec<f32> {
    vec![0.0; locomamba::sim::env::action_dim(c)]
}

#[test]
fn stands_for_five_seconds() {
    let c = cfg();
    let mut env = Env::new(&c, 3, 1.0).unwrap();
    let a = stand_action(&c);
    let steps = (5.0 / (c.time_step_s * c.action_repeat as f32)).round() as usize;
    let mut heights = Vec::new();
    for _ in 0..steps {
        let r = env.step(&a);
        assert!(!r.terminated, "fell at step {}", env.steps());
        heights.push(env.trunk_pose().translation.z);
    }
    let settled = &heights[10..];
    let lo = settled.iter().cloned().fold(f32::MAX, f32::min);
    let hi = settled.iter().cloned().fold(f32::MIN, f32::max);
    assert!(lo > 0.22 && hi < 0.33, "height band [{lo}, {hi}]");
    assert!(hi - lo < 0.02, "height band [{lo}, {hi}] too wide");
}

#[test]
fn collapses_with_motors_off() {
    let c = cfg();
    let mut env = Env::new(&c, 3, 1.0).unwrap();
    env.set_motors(false);
    let a = stand_action(&c);
    let mut ended = false;
    for _ in 0..100 {
        if env.step(&a).terminated {
            ended = true;
            break;
        }
    }
    assert!(
        ended,
        "limp robot did not terminate; height {}",
        env.trunk_pose().translation.z
    );
}

#[test]
fn a_robot_that_stood_still_still_follows_new_targets() {
    // Rapier puts resting bodies to sleep; the robot's bodies must stay awake so a policy that
    // stands still for a while can move again.
    let c = cfg();
    let mut env = Env::new(&c, 3, 1.0).unwrap();
    let stand = stand_action(&c);
    for _ in 0..75 {
        env.step(&stand);
    }
    // Knee targets at the edge of the clip: every knee angle must move towards them.
    let knee = |env: &Env| -> Vec<f32> {
        let p = env.proprio();
        // Newest joint angles are the last 36 floats' first 12; knees are every third joint.
        let q = &p[p.len() - 36..p.len() - 24];
        (0..4).map(|leg| q[3 * leg + 2]).collect()
    };
    let before = knee(&env);
    let mut bend = stand.clone();
    for leg in 0..bend.len() / 3 {
        bend[3 * leg + 2] = 3.0;
    }
    for _ in 0..5 {
        env.step(&bend);
    }
    let after = knee(&env);
    for (b, a) in before.iter().zip(&after) {
        assert!(a - b > 0.2, "knee moved from {b} to {a}");
    }
}

#[test]
fn settling_before_the_first_step_keeps_a_trot_from_folding_a_landing_robot() {
    // walk_fast's env: the robot is dropped from 0.32 m with randomised gains and masses. The trot
    // prior alone (zero actions) starts swinging a diagonal pair while the robot lands, which
    // folds these episodes' robots below the 0.2 m fall height within 0.25 s; standing 0.2 s
    // first (`env.settle_s`) lands them on four feet. Episodes found with
    // `cargo run --release --example fall_probe -- RUN 0 100 40 prior`.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/walk_fast.toml");
    let recipe = locomamba::recipe::load(&path, &Default::default()).unwrap();
    let folds_within = |settle_s: f32, index: usize| {
        let c = EnvConfig {
            settle_s,
            ..recipe.env.clone()
        };
        let seed = locomamba::sim::vec_env::episode_seed(0, index, 0);
        let mut env = Env::new(&c, seed, c.obstacle_density).unwrap();
        let a = stand_action(&c);
        (1..=10).find(|_| env.step(&a).terminated)
    };
    for index in [8, 20, 73, 94] {
        let unsettled = folds_within(0.0, index);
        assert!(
            matches!(unsettled, Some(4..=7)),
            "env {index}: expected a fold at step 4-7, got {unsettled:?}"
        );
        assert_eq!(
            folds_within(0.2, index),
            None,
            "env {index} fell after settling"
        );
    }
}
