//! The asymmetric critic's privileged state: what it reads off the simulator agrees with the
//! world (contacts, height, velocity, heading, obstacle footprints), and the vectorised env
//! hands every env's row over unchanged, terminal rows included.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::privileged::{NEAREST_OBSTACLES, PRIVILEGED_DIM, Privileged, SENSE_RANGE};
use locomamba::sim::{Env, VecEnv};

fn cfg(task: Task) -> EnvConfig {
    EnvConfig {
        task,
        domain_randomization: false,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    }
}

fn stand(c: &EnvConfig) -> Vec<f32> {
    vec![0.0; locomamba::sim::env::action_dim(c)]
}

#[test]
fn a_standing_robot_has_four_feet_down_and_no_obstacles_on_flat_ground() {
    let c = cfg(Task::Flat);
    let mut env = Env::new(&c, 3, 1.0).unwrap();
    for _ in 0..25 {
        env.step(&stand(&c));
    }
    let p = env.privileged();
    assert_eq!(p.foot_contacts, [1.0; 4], "{p:?}");
    let z = env.trunk_pose().translation.z;
    assert!(
        (p.height - z).abs() < 1e-6 && p.height > 0.22 && p.height < 0.33,
        "{p:?}"
    );
    let speed = p.velocity.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(speed < 0.05, "standing still, speed {speed}");
    assert!(
        (p.heading[0] - 1.0).abs() < 1e-3 && p.heading[1].abs() < 0.05,
        "{p:?}"
    );
    assert_eq!(p.obstacles, [[0.0; 3]; NEAREST_OBSTACLES]);
}

#[test]
fn a_limp_robot_lifted_off_the_ground_touches_nothing() {
    let c = cfg(Task::Flat);
    let mut env = Env::new(&c, 3, 1.0).unwrap();
    let trunk = env.robot().trunk;
    let links = env.robot().links;
    for h in std::iter::once(trunk).chain(links) {
        let b = &mut env.world_mut().bodies[h];
        let t = b.translation() + rapier3d::prelude::Vector::new(0.0, 0.0, 1.0);
        b.set_translation(t, true);
    }
    env.settle();
    env.settle();
    let p = env.privileged();
    assert_eq!(p.foot_contacts, [0.0; 4], "{p:?}");
    assert!(p.height > 1.0, "{p:?}");
    assert!(p.velocity[2] < 0.0, "falling: {p:?}");
}

/// Distance from (x, y) to the footprint `[cx, cy, hx, hy]`.
fn footprint_distance([cx, cy, hx, hy]: [f32; 4], x: f32, y: f32) -> f32 {
    let dx = ((x - cx).abs() - hx).max(0.0);
    let dy = ((y - cy).abs() - hy).max(0.0);
    dx.hypot(dy)
}

#[test]
fn listed_obstacles_are_the_nearest_footprints_in_the_heading_frame() {
    let c = EnvConfig {
        start_xy_range: 1.0,
        ..cfg(Task::ThinObstacles)
    };
    for seed in 0..6 {
        let mut env = Env::new(&c, seed, 1.0).unwrap();
        // Walk a little so the robot is among the pillars and turned a bit.
        let mut a = stand(&c);
        a[0] = 0.4;
        for _ in 0..20 {
            env.step(&a);
        }
        let p = env.privileged();
        let pose = env.trunk_pose();
        let (x, y) = (pose.translation.x, pose.translation.y);
        let [cos, sin] = p.heading;
        let mut distances: Vec<f32> = env
            .scene()
            .obstacles
            .iter()
            .map(|&o| footprint_distance(o, x, y))
            .filter(|&d| d <= SENSE_RANGE)
            .collect();
        distances.sort_by(f32::total_cmp);
        for (k, [forward, left, present]) in p.obstacles.iter().copied().enumerate() {
            if k >= distances.len() {
                assert_eq!(present, 0.0, "seed {seed}: slot {k} should be empty");
                continue;
            }
            assert_eq!(present, 1.0);
            // Back to the world frame: the point lies on some footprint's boundary, at the
            // k-th smallest distance.
            let (wx, wy) = (
                x + cos * forward - sin * left,
                y + sin * forward + cos * left,
            );
            let reported = forward.hypot(left);
            assert!(
                (reported - distances[k]).abs() < 1e-4,
                "seed {seed} slot {k}: {reported} vs {}",
                distances[k]
            );
            let on_some = env
                .scene()
                .obstacles
                .iter()
                .any(|&o| footprint_distance(o, wx, wy) < 1e-3);
            assert!(
                on_some,
                "seed {seed} slot {k}: ({wx}, {wy}) is on no footprint"
            );
        }
    }
}

#[test]
fn moving_obstacles_keep_their_listed_centres_on_their_bodies() {
    let c = cfg(Task::MovingObstacles);
    let mut env = Env::new(&c, 4, 1.0).unwrap();
    let before: Vec<[f32; 4]> = env.scene().obstacles.clone();
    for _ in 0..40 {
        env.step(&stand(&c));
    }
    let scene = env.scene();
    assert!(!scene.moving.is_empty());
    let mut moved = 0;
    for m in &scene.moving {
        let t = env.world().bodies[m.body].translation();
        let listed = scene.obstacles[m.obstacle];
        assert!((listed[0] - t.x).abs() < 1e-4 && (listed[1] - t.y).abs() < 1e-4);
        moved +=
            (listed[0] != before[m.obstacle][0] || listed[1] != before[m.obstacle][1]) as usize;
    }
    assert!(
        moved > scene.moving.len() / 2,
        "{moved} of {} moved",
        scene.moving.len()
    );
}

#[test]
fn the_vectorised_env_hands_over_every_row_and_the_terminal_ones() {
    let c = EnvConfig {
        num_envs: 3,
        horizon: 5,
        ..cfg(Task::ThinObstacles)
    };
    let mut v = VecEnv::new(&c, 2).unwrap();
    assert_eq!(v.spec().privileged_dim, PRIVILEGED_DIM);
    assert!(
        v.privileged().iter().all(|&x| x == 0.0),
        "not read unless asked"
    );
    v.read_privileged();
    let rows = |v: &VecEnv| -> Vec<f32> {
        let mut out = vec![0.0; 3 * PRIVILEGED_DIM];
        for i in 0..3 {
            v.env(i)
                .privileged()
                .write_to(&mut out[i * PRIVILEGED_DIM..(i + 1) * PRIVILEGED_DIM]);
        }
        out
    };
    assert_eq!(v.privileged(), rows(&v).as_slice());
    let a = vec![0.1; 3 * locomamba::sim::env::action_dim(&c)];
    let mut before_end = Vec::new();
    for step in 0..5 {
        if step == 4 {
            before_end = v.privileged().to_vec();
        }
        let out = v.step(&a).clone();
        assert_eq!(v.privileged(), rows(&v).as_slice());
        if step == 4 {
            assert!(out.truncated.iter().all(|&t| t));
            // The terminal rows are the state after the last step, not the reset one.
            assert_ne!(out.terminal_privileged, v.privileged());
            assert_ne!(out.terminal_privileged, before_end);
        }
    }
}

#[test]
fn flattening_follows_the_documented_order() {
    let p = Privileged {
        velocity: [1.0, 2.0, 3.0],
        height: 4.0,
        heading: [5.0, 6.0],
        foot_contacts: [7.0, 8.0, 9.0, 10.0],
        obstacles: [[11.0, 12.0, 13.0], [14.0, 15.0, 16.0], [17.0, 18.0, 19.0]],
    };
    let mut out = vec![0.0; PRIVILEGED_DIM];
    p.write_to(&mut out);
    let expected: Vec<f32> = (1..=PRIVILEGED_DIM).map(|i| i as f32).collect();
    assert_eq!(out, expected);
}
