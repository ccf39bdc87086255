//! Observation layouts (84, 93 and goal sizes) and the depth stacking modes' frame indices.

use locomamba::recipe::{EnvConfig, FrameOffsets, Task};
use locomamba::sim::observation::{frame_indices, proprio_dim};
use locomamba::sim::{Env, VecEnv};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn cfg() -> EnvConfig {
    EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        ..EnvConfig::default()
    }
}

#[test]
fn proprioception_sizes_follow_the_original() {
    let base = cfg();
    assert_eq!(
        proprio_dim(&base),
        84,
        "the original's A1MoveGround configs"
    );
    let with_disp = EnvConfig {
        displacement_in_obs: true,
        ..cfg()
    };
    assert_eq!(proprio_dim(&with_disp), 93, "the papers' 93-D observation");
    let goal = EnvConfig {
        task: Task::Stairs,
        goal: true,
        ..cfg()
    };
    assert_eq!(proprio_dim(&goal), 90);
    for c in [base, with_disp, goal] {
        let env = Env::new(&c, 3, 1.0).unwrap();
        assert_eq!(env.proprio().len(), proprio_dim(&c));
        assert_eq!(
            VecEnv::new(&c, 3).unwrap().spec().proprio_dim,
            proprio_dim(&c)
        );
    }
}

#[test]
fn goal_values_come_first_and_name_the_goal() {
    let c = EnvConfig {
        task: Task::Stairs,
        goal: true,
        ..cfg()
    };
    let env = Env::new(&c, 1, 1.0).unwrap();
    let p = env.proprio();
    let trunk = env.trunk_pose().translation;
    assert!((p[0] - trunk.x).abs() < 1e-5 && (p[1] - trunk.y).abs() < 1e-5);
    assert_eq!(&p[3..6], &[10.0, 0.0, 0.0], "the stairs' goal");
}

#[test]
fn displacement_sensor_reads_the_step_and_is_clipped() {
    let c = EnvConfig {
        displacement_in_obs: true,
        start_xy_range: 0.0,
        ..cfg()
    };
    let mut env = Env::new(&c, 2, 1.0).unwrap();
    assert_eq!(&env.proprio()[..9], &[0.0; 9], "zero history after a reset");
    let before = env.trunk_pose().translation;
    env.step(&[0.0; 6]);
    let after = env.trunk_pose().translation;
    let d = &env.proprio()[..3];
    for (k, delta) in [after.x - before.x, after.y - before.y, after.z - before.z]
        .iter()
        .enumerate()
    {
        assert!((d[k] - delta.clamp(-0.1, 0.1)).abs() < 1e-5, "{d:?}");
    }
    assert!(d.iter().all(|v| v.abs() <= 0.1));
}

#[test]
fn heading_sensor_and_penalty_read_the_trunks_yaw_newest_first() {
    let mut c = EnvConfig {
        heading_in_obs: true,
        ..cfg()
    };
    c.reward.heading = 2.0;
    assert_eq!(proprio_dim(&c), 93, "84 + 3 steps of (cos, sin, yaw rate)");
    let mut env = Env::new(&c, 5, 1.0).unwrap();
    let heading = |env: &Env| env.proprio()[84..].to_vec();
    let first = heading(&env);
    assert_eq!(&first[..3], &first[3..6], "a reset fills the history");
    assert_eq!(&first[..3], &first[6..9], "a reset fills the history");
    // Pushing one side's legs harder than the other's turns the trunk.
    let action = [0.3, -0.3, 0.3, -0.3, 0.3, -0.3];
    let mut turned = 0.0f32;
    for _ in 0..40 {
        let before = heading(&env);
        let penalty = env.step(&action).terms.heading;
        let now = heading(&env);
        assert_eq!(
            &now[3..9],
            &before[..6],
            "older readings shift back one step"
        );
        let [cos, sin] = env.privileged().heading;
        assert!((now[0] - cos).abs() < 1e-6 && (now[1] - sin).abs() < 1e-6);
        let trunk = &env.world().bodies[env.robot().trunk];
        let rate = (trunk.rotation().inverse() * trunk.angvel()).z;
        assert!((now[2] - rate).abs() < 1e-6, "{} vs {rate}", now[2]);
        let yaw = sin.atan2(cos);
        assert!(
            (penalty + 2.0 * yaw * yaw).abs() < 1e-5,
            "{penalty} at yaw {yaw}"
        );
        turned = turned.max(yaw.abs());
    }
    assert!(
        turned > 0.05,
        "the trunk never turned ({turned} rad): the test saw only yaw 0"
    );
}

#[test]
fn frame_indices_of_each_stacking_mode() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(
        frame_indices(4, 1, FrameOffsets::None, &mut rng),
        [0, 1, 2, 3]
    );
    assert_eq!(
        frame_indices(4, 4, FrameOffsets::None, &mut rng),
        [0, 4, 8, 12]
    );
    assert_eq!(
        frame_indices(4, 4, FrameOffsets::FixedDelay, &mut rng),
        [3, 7, 11, 15]
    );
    let mut seen = [[false; 4]; 4];
    for _ in 0..200 {
        let idx = frame_indices(4, 4, FrameOffsets::Random, &mut rng);
        for (i, &v) in idx.iter().enumerate() {
            assert!((4 * i..4 * i + 4).contains(&v), "{idx:?}");
            seen[i][v - 4 * i] = true;
        }
    }
    assert!(
        seen.iter().flatten().all(|&s| s),
        "every offset 0..3 occurs"
    );
}

#[test]
fn spaced_frames_are_the_frames_of_k_steps_ago() {
    let spaced = EnvConfig {
        start_xy_range: 0.0,
        depth: locomamba::recipe::DepthConfig {
            frame_spacing: 2,
            ..Default::default()
        },
        ..cfg()
    };
    let plain = EnvConfig {
        start_xy_range: 0.0,
        ..cfg()
    };
    let mut a = Env::new(&spaced, 9, 1.0).unwrap();
    let mut b = Env::new(&plain, 9, 1.0).unwrap();
    let n = plain.depth.width * plain.depth.height;
    let mut history = Vec::new();
    for step in 0..8 {
        let action = [0.3 * (step as f32).sin(); 6];
        a.step(&action);
        b.step(&action);
        history.push(b.depth()[..n].to_vec());
    }
    // Stacked frame i of the spaced env is the frame of 2 i steps ago.
    for i in 0..4 {
        let expected = &history[history.len() - 1 - 2 * i];
        assert_eq!(&a.depth()[i * n..(i + 1) * n], &expected[..], "frame {i}");
    }
}

#[test]
fn state_only_renders_no_depth() {
    let mut c = cfg();
    c.depth.enabled = false;
    let env = VecEnv::new(&c, 1).unwrap();
    assert_eq!(env.spec().depth_frames, 0);
    assert_eq!(env.spec().depth_dim(), 0);
    assert_eq!(env.depth().len(), 0);
}

#[test]
fn the_spec_of_a_config_is_the_spec_of_the_env_built_from_it() {
    use locomamba::recipe::ActionMode;
    use locomamba::sim::EnvSpec;
    let mut configs = vec![cfg()];
    let mut thin = cfg();
    thin.task = Task::ThinObstacles;
    thin.num_envs = 3;
    thin.depth.frames = 1;
    thin.diagonal_act = false;
    configs.push(thin);
    let mut trot = cfg();
    trot.action_mode = ActionMode::TrotResidual;
    trot.trot.frequency_range = 0.5;
    trot.trot.amplitude_range = 0.3;
    trot.depth.enabled = false;
    trot.displacement_in_obs = true;
    configs.push(trot);
    for c in &configs {
        assert_eq!(
            EnvSpec::of(c).unwrap(),
            VecEnv::new(c, 0).unwrap().spec(),
            "{c:?}"
        );
    }
    let mut none = cfg();
    none.num_envs = 0;
    assert!(EnvSpec::of(&none).is_err(), "no envs");
}
