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
        // The wide layout's lattice runs to x = 50.8, as the original's does.
        let x_max = if task == Task::WideObstacles {
            51.0
        } else {
            FIELD_X[1] + 0.01
        };
        for o in &env.scene().obstacles {
            assert!(
                o[0] >= FIELD_X[0] - 0.51 && o[0] <= x_max,
                "{task:?} x {o:?}"
            );
            // Centres lie in the field (as in the original, a box may touch a wall).
            assert!(
                o[1] >= FIELD_Y[0] - 0.01 && o[1] <= FIELD_Y[1] + 0.01,
                "{task:?} y {o:?}"
            );
            let dx = (o[0] - start.x).abs() - o[2];
            assert!(
                dx > 0.2,
                "{task:?}: obstacle {o:?} too close to the start {start:?}"
            );
        }
        match task {
            Task::ThinObstacles | Task::MovingObstacles | Task::Spheres | Task::Heightfield => {
                assert_eq!(env.scene().obstacles.len(), THIN_COUNT, "{task:?}")
            }
            Task::WideObstacles => assert_eq!(env.scene().obstacles.len(), 23 + 30),
            Task::ChairDesk => assert_eq!(env.scene().obstacles.len(), 50 + 30),
            Task::Flat | Task::Mountain | Task::Stairs | Task::Hill => {
                assert!(env.scene().obstacles.is_empty())
            }
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
    // The original's fastest direction, (0.006, 0.002) x 3 per 16 ms, is 1.19 m/s.
    let step_s = c.time_step_s * c.action_repeat as f32;
    for (a, b) in before.iter().zip(&after) {
        assert!((*a - *b).length() <= 10.0 * step_s * 1.19 + 1e-3);
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

#[test]
fn task_geometry_follows_the_original() {
    use locomamba::sim::terrain::{THIN_HALF, stairs_height};
    // Thin pillars: 0.46 x 0.46 x 1.4 m collision boxes.
    let env = Env::new(&cfg(Task::ThinObstacles), 3, 1.0).unwrap();
    for (o, top) in env.scene().obstacles.iter().zip(&env.scene().obstacle_tops) {
        assert_eq!([o[2], o[3]], [THIN_HALF[0], THIN_HALF[1]]);
        assert!((top - 1.4).abs() < 1e-6);
    }
    // Random sizes: half-widths 0.213-0.570 m, half-heights 0.45-0.95 m, sunk by half.
    let mut c = cfg(Task::ThinObstacles);
    c.random_box_sizes = true;
    let env = Env::new(&c, 3, 1.0).unwrap();
    let halves: Vec<f32> = env
        .scene()
        .obstacles
        .iter()
        .flat_map(|o| [o[2], o[3]])
        .collect();
    assert!(
        halves.iter().all(|h| (0.212..=0.571).contains(h)),
        "{halves:?}"
    );
    assert!(halves.iter().any(|h| *h > 0.3), "sizes vary");
    for top in &env.scene().obstacle_tops {
        assert!(
            (0.45 * 1.5 - 1e-4..=0.95 * 1.5 + 1e-4).contains(top),
            "{top}"
        );
    }
    // Thin + wide: 23 wide boxes on the lattice and 30 thin pillars in x 2-16.
    let env = Env::new(&cfg(Task::WideObstacles), 3, 1.0).unwrap();
    let (wide, thin): (Vec<&[f32; 4]>, Vec<&[f32; 4]>) =
        env.scene().obstacles.iter().partition(|o| o[2] > 0.29);
    assert_eq!(wide.len(), 23);
    assert_eq!(thin.len(), 30);
    assert!(thin.iter().all(|o| (2.0..=16.0).contains(&o[0])));
    // Stairs: rise 0.1, a 0.4 m plateau, down again; the robot starts at x = -0.15.
    assert_eq!(stairs_height(0.0), 0.0);
    assert!((stairs_height(1.0) - 0.1).abs() < 1e-6);
    assert!((stairs_height(4.0) - 0.4).abs() < 1e-6);
    assert!((stairs_height(7.2) - 0.1).abs() < 1e-6);
    assert_eq!(stairs_height(8.0), 0.0);
    let mut c = cfg(Task::Stairs);
    c.start_xy_range = 0.0;
    let env = Env::new(&c, 3, 1.0).unwrap();
    assert!((env.trunk_pose().translation.x + 0.15).abs() < 0.05);
    assert!((env.scene().ground_height(4.0, 0.0) - 0.4).abs() < 1e-3);
    // Rough field: 0.12 m cells, heights 0-0.1 m, flat at the start.
    let env = Env::new(&cfg(Task::Heightfield), 3, 1.0).unwrap();
    let g = env.scene().ground.as_ref().expect("a height map");
    assert_eq!((g.nx, g.ny, g.cell), (512, 64, 0.12));
    assert!(g.heights.iter().all(|h| (0.0..0.1).contains(h)));
    assert!(g.heights.iter().any(|h| *h > 0.05));
    assert_eq!(env.scene().ground_height(0.0, 0.0), 0.0);
    assert_eq!(env.scene().obstacles.len(), THIN_COUNT);
    // Chairs and desks: 50 + 30, tops 0.65 and 0.58 m.
    let env = Env::new(&cfg(Task::ChairDesk), 3, 1.0).unwrap();
    let tops = &env.scene().obstacle_tops;
    assert_eq!(tops.iter().filter(|t| **t == 0.65).count(), 50);
    assert_eq!(tops.iter().filter(|t| **t == 0.58).count(), 30);
    // Hill: the robot starts on the ground, above z = 0.
    let env = Env::new(&cfg(Task::Hill), 3, 1.0).unwrap();
    let p = env.trunk_pose().translation;
    let ground = env.scene().ground_height(p.x, p.y);
    assert!(
        p.z - ground > 0.2 && p.z - ground < 0.5,
        "{p:?} over {ground}"
    );
}

#[test]
fn moving_boxes_move_at_the_originals_true_speed() {
    let mut c = cfg(Task::Heightfield);
    c.moving = true;
    let mut env = Env::new(&c, 6, 1.0).unwrap();
    assert_eq!(env.scene().moving.len(), THIN_COUNT);
    let speeds: Vec<f32> = env
        .scene()
        .moving
        .iter()
        .map(|m| {
            let [x, y] = m.velocity();
            x.hypot(y)
        })
        .collect();
    for s in &speeds {
        assert!(*s == 0.0 || (0.93..=1.2).contains(s), "{s} m/s");
    }
    env.step(&[0.0; 6]);
}

#[test]
fn goal_tasks_reward_progress_and_end_at_the_goal() {
    let mut c = cfg(Task::Stairs);
    c.goal = true;
    let mut env = Env::new(&c, 3, 1.0).unwrap();
    let r = env.step(&[0.0; 6]);
    assert!(r.terms.goal.is_finite());
    let mut no_goal = cfg(Task::Stairs);
    no_goal.goal = false;
    let mut env = Env::new(&no_goal, 3, 1.0).unwrap();
    assert_eq!(env.step(&[0.0; 6]).terms.goal, 0.0);
}

#[test]
fn z_constrain_ends_episodes_of_a_lifted_trunk() {
    let mut c = cfg(Task::Flat);
    c.z_constrain = true;
    let mut env = Env::new(&c, 1, 1.0).unwrap();
    let trunk = env.robot().trunk;
    for h in std::iter::once(trunk).chain(env.robot().links) {
        let b = &mut env.world_mut().bodies[h];
        let t = b.translation() + Vector::new(0.0, 0.0, 1.0);
        b.set_translation(t, true);
    }
    assert!(env.step(&[0.0; 6]).terminated);
}
