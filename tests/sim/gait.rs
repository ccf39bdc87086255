//! The open-loop trot walks: the physics allows walking within the action clip, with domain
//! randomisation on; standing still stays still.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::Env;
use locomamba::sim::gait::Trot;

/// Forward distance and whether it fell, over `steps` policy steps of `act`.
fn walk(cfg: &EnvConfig, seed: u64, steps: usize, act: impl Fn(usize) -> Vec<f32>) -> (f32, bool) {
    let mut env = Env::new(cfg, seed, 1.0).unwrap();
    let x0 = env.trunk_pose().translation.x;
    for t in 0..steps {
        if env.step(&act(t)).terminated {
            return (env.trunk_pose().translation.x - x0, true);
        }
    }
    (env.trunk_pose().translation.x - x0, false)
}

#[test]
fn default_trot_walks_two_metres_in_ten_seconds_with_randomisation() {
    let cfg = EnvConfig {
        task: Task::Flat,
        domain_randomization: true,
        ..EnvConfig::default()
    };
    let steps = (10.0 / (cfg.time_step_s * cfg.action_repeat as f32)).round() as usize;
    let trot = Trot::default();
    for seed in 0..4 {
        let (dx, fell) = walk(&cfg, 1000 + seed, steps, |t| trot.action(&cfg, t));
        assert!(!fell, "seed {seed}: the trot fell");
        assert!(dx >= 2.0, "seed {seed}: the trot moved {dx:.2} m in 10 s");
    }
}

#[test]
fn zero_action_stands_in_place() {
    let cfg = EnvConfig {
        task: Task::Flat,
        domain_randomization: true,
        ..EnvConfig::default()
    };
    let (dx, fell) = walk(&cfg, 7, 100, |_| vec![0.0; 6]);
    assert!(!fell && dx.abs() < 0.2, "moved {dx:.2} m, fell {fell}");
}

#[test]
fn trot_targets_stay_within_the_clip_and_alternate_diagonals() {
    let cfg = EnvConfig::default();
    let trot = Trot::default();
    for t in 0..20 {
        let o = trot.offsets(t);
        assert_eq!(&o[0..3], &o[9..12], "FR = RL");
        assert_eq!(&o[3..6], &o[6..9], "FL = RR");
        let a = trot.action(&cfg, t);
        assert_eq!(a.len(), 6);
        assert!(a.iter().all(|v| v.is_finite()));
    }
    // Half a period apart, the two diagonals swap hip targets.
    let half = (trot.period_steps / 2.0) as usize;
    let (o0, o1) = (trot.offsets(1), trot.offsets(1 + half));
    assert!((o0[1] - o1[4]).abs() < 1e-5);
}

#[test]
fn trot_residual_mode_trots_under_a_zero_policy() {
    use locomamba::recipe::ActionMode;
    let cfg = EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        action_mode: ActionMode::TrotResidual,
        ..EnvConfig::default()
    };
    let trot = Trot::from(&cfg.trot);
    // A zero residual gives the trot's targets, within the clip.
    for step in [0, 3, 7] {
        let prior = trot.offsets(step);
        let gait = locomamba::sim::action::GaitPhase::fixed(&cfg, step);
        let targets = locomamba::sim::action::joint_targets(&cfg, &[0.0; 6], gait);
        for k in 0..12 {
            let stand = [0.0, 0.9, -1.8][k % 3];
            let clip = cfg.action_clip[k % 3];
            assert!((targets[k] - stand - prior[k].clamp(-clip, clip)).abs() < 1e-5);
        }
    }
    let (dx, fell) = walk(&cfg, 5, 250, |_| vec![0.0; 6]);
    assert!(!fell && dx > 1.0, "a zero residual should walk: {dx:.2} m");
}

/// The modulated trot: two more outputs (frequency, amplitude), the phase observed as its sine
/// and cosine; a zero modulation is the fixed trot; a higher frequency advances the phase faster,
/// a larger amplitude swings the hips wider; the phase survives a snapshot replay.
#[test]
fn the_policy_modulates_the_trots_frequency_and_amplitude() {
    use locomamba::recipe::ActionMode;
    use locomamba::sim::Env;
    use locomamba::sim::env::action_dim;
    let cfg = EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        action_mode: ActionMode::TrotResidual,
        trot: locomamba::recipe::TrotConfig {
            frequency_range: 0.5,
            amplitude_range: 0.5,
            ..Default::default()
        },
        ..EnvConfig::default()
    };
    assert_eq!(action_dim(&cfg), 8);
    let plain = EnvConfig {
        trot: Default::default(),
        ..cfg.clone()
    };
    assert_eq!(
        locomamba::sim::env::proprio_dim(&cfg),
        locomamba::sim::env::proprio_dim(&plain) + 2
    );
    // Zero modulation: the same targets as the fixed trot at every step.
    let mut modulated = Env::new(&cfg, 3, 0.0).unwrap();
    let mut fixed = Env::new(&plain, 3, 0.0).unwrap();
    for _ in 0..12 {
        let a = modulated.targets_from_action(&[0.0; 8]);
        let b = fixed.targets_from_action(&[0.0; 6]);
        for k in 0..12 {
            assert!(
                (a[k] - b[k]).abs() < 1e-5,
                "joint {k}: {} vs {}",
                a[k],
                b[k]
            );
        }
        modulated.step(&[0.0; 8]);
        fixed.step(&[0.0; 6]);
    }
    // The observed phase: sin and cos, last in the proprioception.
    let p = modulated.proprio();
    let (s, c) = (p[p.len() - 2], p[p.len() - 1]);
    assert!((s * s + c * c - 1.0).abs() < 1e-5);
    // Full frequency (tanh(large) = 1): the phase runs 1.5 times as fast.
    let mut fast = Env::new(&cfg, 3, 0.0).unwrap();
    let mut a = [0.0f32; 8];
    a[6] = 20.0;
    for _ in 0..3 {
        fast.step(&a);
    }
    let phase = |e: &Env| {
        let p = e.proprio();
        p[p.len() - 2]
            .atan2(p[p.len() - 1])
            .rem_euclid(std::f32::consts::TAU)
    };
    let want = (std::f32::consts::TAU * 1.5 * 3.0 / cfg.trot.period_steps)
        .rem_euclid(std::f32::consts::TAU);
    assert!(
        (phase(&fast) - want).abs() < 1e-4,
        "{} vs {want}",
        phase(&fast)
    );
    // Full amplitude: the hip swing is 1.5 times the trot's at the same phase.
    let mut wide = [0.0f32; 8];
    wide[7] = 20.0;
    let mut stepped = Env::new(&cfg, 3, 0.0).unwrap();
    stepped.step(&[0.0; 8]);
    stepped.step(&[0.0; 8]);
    let t1 = stepped.targets_from_action(&wide);
    let t0 = stepped.targets_from_action(&[0.0; 8]);
    let hip = 1; // FR hip
    assert!(((t1[hip] - 0.9) - 1.5 * (t0[hip] - 0.9)).abs() < 1e-4);
    // A snapshot replays the actions, so a restored env has the same phase.
    let mut v = locomamba::sim::VecEnv::new(
        &EnvConfig {
            num_envs: 1,
            ..cfg.clone()
        },
        5,
    )
    .unwrap();
    for _ in 0..4 {
        v.step(&a);
    }
    let restored = locomamba::sim::VecEnv::restore(
        &EnvConfig {
            num_envs: 1,
            ..cfg.clone()
        },
        &v.snapshot(),
    )
    .unwrap();
    assert_eq!(v.proprio(), restored.proprio());
}
