//! Every task builds; obstacles lie in the arena and away from the start; moving obstacles move;
//! collisions are counted; finished envs reset with terminal observations kept.

use locomamba::recipe::{EnvConfig, SphereObstacles, Task};
use locomamba::sim::terrain::{FIELD_X, FIELD_Y, THIN_COUNT};
use locomamba::sim::{Env, VecEnv};
use rapier3d::prelude::*;

fn cfg(task: Task) -> EnvConfig {
    EnvConfig {
        task,
        domain_randomization: false,
        ..EnvConfig::default()
    }
}

#[test]
fn every_task_builds_with_obstacles_in_the_arena() {
    for task in Task::ALL {
        let c = cfg(task);
        let env = Env::new(&c, 11, 1.0).unwrap();
        let start = env.trunk_pose().translation;
        for o in &env.scene().obstacles {
            assert!(
                o[0] >= FIELD_X[0] - 0.01 && o[0] <= FIELD_X[1] + 0.01,
                "{task:?} x {o:?}"
            );
            assert!(
                o[1] - o[3] >= FIELD_Y[0] - 0.2 && o[1] + o[3] <= FIELD_Y[1] + 0.2,
                "{task:?} y {o:?}"
            );
            let dx = (o[0] - start.x).abs() - o[2];
            assert!(
                dx > 0.5,
                "{task:?}: obstacle {o:?} too close to the start {start:?}"
            );
        }
        match task {
            Task::ThinObstacles | Task::MovingObstacles | Task::Spheres => {
                assert_eq!(env.scene().obstacles.len(), THIN_COUNT, "{task:?}")
            }
            Task::WideObstacles => assert!(env.scene().obstacles.len() > 30),
            Task::Flat | Task::Mountain => assert!(env.scene().obstacles.is_empty()),
        }
        if task == Task::Spheres {
            assert!(!env.scene().spheres.is_empty());
        }
    }
}

#[test]
fn spheres_come_with_thin_or_wide_obstacles() {
    let mut c = cfg(Task::Spheres);
    let thin = Env::new(&c, 5, 1.0).unwrap();
    c.sphere_obstacles = SphereObstacles::Wide;
    let wide = Env::new(&c, 5, 1.0).unwrap();
    let walls = |e: &Env| e.scene().obstacles.iter().filter(|o| o[3] > 0.5).count();
    assert_eq!(walls(&thin), 0);
    assert!(
        walls(&wide) >= 8,
        "wide layout has {} wall pieces",
        walls(&wide)
    );
    assert!(!thin.scene().spheres.is_empty() && !wide.scene().spheres.is_empty());
}

#[test]
fn density_scales_obstacle_count() {
    let env = Env::new(&cfg(Task::ThinObstacles), 2, 0.5).unwrap();
    assert_eq!(env.scene().obstacles.len(), THIN_COUNT / 2);
}

#[test]
fn moving_obstacles_move() {
    let c = cfg(Task::MovingObstacles);
    let mut env = Env::new(&c, 4, 1.0).unwrap();
    let pos = |e: &Env| -> Vec<Vector> {
        e.scene()
            .moving
            .iter()
            .map(|m| e.world().bodies[m.body].translation())
            .collect()
    };
    let before = pos(&env);
    for _ in 0..10 {
        env.step(&[0.0; 6]);
    }
    let after = pos(&env);
    let moved = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| (**a - **b).length() > 1e-3)
        .count();
    assert!(
        moved > before.len() / 2,
        "only {moved} of {} moved",
        before.len()
    );
    for (a, b) in before.iter().zip(&after) {
        assert!((*a - *b).length() <= 10.0 * 0.02 + 1e-4);
    }
}

#[test]
fn pushing_into_an_obstacle_counts_collisions() {
    let c = EnvConfig {
        start_xy_range: 0.0,
        ..cfg(Task::Flat)
    };
    let mut env = Env::new(&c, 1, 1.0).unwrap();
    let box_body = env.world_mut().insert_body(
        RigidBodyBuilder::kinematic_position_based().translation(Vector::new(0.6, 0.0, 0.5)),
    );
    env.world_mut().insert_collider(
        ColliderBuilder::cuboid(0.1, 0.5, 0.5)
            .collision_groups(
                InteractionGroups::all().with_memberships(locomamba::sim::robot::WORLD_GROUP),
            )
            .user_data(locomamba::sim::robot::TAG_OBSTACLE),
        Some(box_body),
    );
    assert_eq!(env.episode_stats(0).collisions, 0);
    for k in 0..20 {
        let x = 0.6 - 0.04 * k as f32;
        env.world_mut().bodies[box_body].set_next_kinematic_translation(Vector::new(x, 0.0, 0.5));
        env.step(&[0.0; 6]);
    }
    assert!(env.episode_stats(0).collisions > 0);
}

#[test]
fn finished_envs_reset_and_keep_terminal_obs() {
    let c = EnvConfig {
        num_envs: 2,
        horizon: 5,
        ..cfg(Task::Flat)
    };
    let mut v = VecEnv::new(&c, 3).unwrap();
    let spec = v.spec();
    assert_eq!(spec.proprio_dim, 84);
    assert_eq!(spec.action_dim, 6);
    let acts = vec![0.0; 2 * spec.action_dim];
    for _ in 0..4 {
        assert!(v.step(&acts).finished.is_empty());
    }
    let out = v.step(&acts).clone();
    assert_eq!(out.truncated, vec![true, true]);
    assert_eq!(out.terminated, vec![false, false]);
    assert_eq!(out.finished.len(), 2);
    assert_eq!(out.finished[1].length, 5);
    assert_eq!(out.finished[1].env, 1);
    let sum: f32 = out.finished[0].reward_terms.sum();
    assert!((sum * c.reward.scale - out.finished[0].episode_return).abs() < 1e-3);
    assert_eq!(v.env(0).steps(), 0);
    assert_ne!(
        &out.terminal_proprio[..spec.proprio_dim],
        &v.proprio()[..spec.proprio_dim]
    );
}
