//! Box obstacles: the thin pillars (`random_blocks_sparse`), their random-size variant
//! (`random_shape`), the thin + wide layout (`random_blocks_sparse_thin_wide`) and the pillars
//! with spheres (`random_blocks_sparse_with_subgoal`).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

use super::moving::MovingObstacle;
use super::{FIELD_X, FIELD_Y, MIN_SPACING, Scene, Sphere, WALL_Y, add_box, world_groups};
use crate::recipe::{EnvConfig, SphereObstacles, Task};
use crate::sim::robot::{SPHERE_GROUP, TAG_OBSTACLE, TAG_SPHERE};

/// Half extents of a thin pillar: the original's `0.3 / (2 sqrt 2) x 1.7 + 0.05` in x and y
/// (0.46 m across), half-height 0.7 (1.4 m tall).
pub const THIN_HALF: [f32; 3] = [0.230_33, 0.230_33, 0.7];
/// Pillars of `thin_obstacles` at density 1.
pub const THIN_COUNT: usize = 50;
/// Thin pillars of `wide_obstacles` at density 1.
pub const WIDE_THIN_COUNT: usize = 30;
/// Spheres of the `spheres` task.
pub const SPHERE_COUNT: usize = 50;
/// Sphere radius (visual only).
pub const SPHERE_RADIUS: f32 = 0.2;

/// The corridor walls: half extents (30.05, 0.156, `half_height`) at y = +-`y`.
fn add_walls(world: &mut PhysicsWorld, y: f32, half_height: f32) {
    for s in [-1.0f32, 1.0] {
        add_box(
            world,
            [15.0, s * y, half_height],
            [30.05, 0.156, half_height],
            TAG_OBSTACLE,
        );
    }
}

/// Places one obstacle box, kinematic when `movable` (it then moves with `env.moving`).
fn place(
    world: &mut PhysicsWorld,
    scene: &mut Scene,
    centre: [f32; 3],
    half: [f32; 3],
    movable: bool,
) {
    scene
        .obstacles
        .push([centre[0], centre[1], half[0], half[1]]);
    scene.obstacle_tops.push(centre[2] + half[2]);
    if movable {
        let body = world.insert_body(
            RigidBodyBuilder::kinematic_position_based().translation(Vector::from(centre)),
        );
        world.insert_collider(
            ColliderBuilder::cuboid(half[0], half[1], half[2])
                .collision_groups(world_groups())
                .user_data(TAG_OBSTACLE),
            Some(body),
        );
        let obstacle = scene.obstacles.len() - 1;
        scene.moving.push(MovingObstacle {
            body,
            direction: 0,
            obstacle,
        });
    } else {
        add_box(world, centre, half, TAG_OBSTACLE);
    }
}

/// Poisson-disc points (dart throwing with minimum spacing `spacing`) over `x` x `y`, also kept
/// `spacing` away from `taken`.
fn poisson(
    rng: &mut ChaCha8Rng,
    n: usize,
    x: [f32; 2],
    y: [f32; 2],
    spacing: f32,
    taken: &[[f32; 2]],
) -> Vec<[f32; 2]> {
    let mut pts: Vec<[f32; 2]> = Vec::with_capacity(n);
    let mut tries = 0;
    while pts.len() < n && tries < n * 400 {
        tries += 1;
        let p = [rng.random_range(x[0]..x[1]), rng.random_range(y[0]..y[1])];
        let ok = pts.iter().chain(taken).all(|q| {
            let d2 = (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2);
            d2 >= spacing * spacing
        });
        if ok {
            pts.push(p);
        }
    }
    pts
}

/// [`poisson`] without points to avoid, for the other scene builders.
pub(super) fn poisson_points(
    rng: &mut ChaCha8Rng,
    n: usize,
    x: [f32; 2],
    y: [f32; 2],
    spacing: f32,
) -> Vec<[f32; 2]> {
    poisson(rng, n, x, y, spacing, &[])
}

/// Half extents of one pillar: the fixed thin size, or with `random_box_sizes` the original's
/// `random_shape` draw (half-widths 0.213-0.570 m, half-heights 0.45-0.95 m).
fn pillar_half(cfg: &EnvConfig, rng: &mut ChaCha8Rng) -> [f32; 3] {
    if cfg.random_box_sizes {
        let base = 0.3 / (2.0 * std::f32::consts::SQRT_2);
        let mut side = || (base + rng.random_range(-0.01..0.2)) * 1.7 + 0.05;
        let (hx, hy) = (side(), side());
        [hx, hy, 0.7 + rng.random_range(-0.25..0.25)]
    } else {
        THIN_HALF
    }
}

/// `thin_obstacles` (and `heightfield`, `moving_obstacles`): `n` pillars on a Poisson disc of
/// spacing 1 m over x 2.5-28.5, y -3-3, between walls at y = +-3.1 (4.2 m tall). Random-size
/// boxes sit at half their half-height, as the original places them.
pub fn build_thin(
    world: &mut PhysicsWorld,
    cfg: &EnvConfig,
    n: usize,
    rng: &mut ChaCha8Rng,
    scene: &mut Scene,
) {
    add_walls(world, WALL_Y, 2.1);
    let movable = cfg.moving || cfg.task == Task::MovingObstacles;
    for p in poisson(rng, n, FIELD_X, FIELD_Y, MIN_SPACING, &[]) {
        let half = pillar_half(cfg, rng);
        let z = if cfg.random_box_sizes {
            half[2] * 0.5
        } else {
            half[2]
        };
        place(world, scene, [p[0], p[1], z], half, movable);
    }
}

/// `wide_obstacles`: 23 wide boxes (two of half (0.30, 0.45, 0.5) at (2, +-0.75); for i = 0..6
/// half (0.30, 0.85, 0.5) at (5 + 7i, 0) and at (8 + 7i, +-1.8)), all shifted in x by one draw
/// from 0-0.8 m per reset, plus `n` thin pillars (half (0.23, 0.23, 1.0)) over x 2-16, y -3-3
/// (the ones that move with `env.moving`), between walls at y = +-3.0.
pub fn build_thin_wide(
    world: &mut PhysicsWorld,
    cfg: &EnvConfig,
    n: usize,
    rng: &mut ChaCha8Rng,
    scene: &mut Scene,
) {
    add_walls(world, 3.0, 3.0);
    let shift = rng.random_range(0.0..0.8);
    let mut wide = vec![([2.0, 0.75], 0.45), ([2.0, -0.75], 0.45)];
    for i in 0..7 {
        let x = 7.0 * i as f32;
        wide.push(([5.0 + x, 0.0], 0.85));
        wide.push(([8.0 + x, 1.8], 0.85));
        wide.push(([8.0 + x, -1.8], 0.85));
    }
    for ([x, y], hy) in &wide {
        place(world, scene, [x + shift, *y, 0.5], [0.30, *hy, 0.5], false);
    }
    let movable = cfg.moving;
    let half = [THIN_HALF[0], THIN_HALF[1], 1.0];
    let taken: Vec<[f32; 2]> = wide.iter().map(|(c, _)| [c[0] + shift, c[1]]).collect();
    for p in poisson(rng, n, [2.0, 16.0], FIELD_Y, 0.8, &taken) {
        place(world, scene, [p[0], p[1], half[2]], half, movable);
    }
}

/// `spheres`: 50 spheres of radius 0.2 m (seen by the camera, not colliding) over x 2-30,
/// y -2.2-2.2, above `SPHERE_COUNT` pillars over x 2-16 between walls at y = +-3.1 of half-height
/// 0.35 (the original's `random_blocks_sparse_with_subgoal`); with
/// `env.sphere_obstacles = "wide"` the obstacles are the `wide_obstacles` layout. Spheres keep
/// 0.9 m from pillar centres (the original lets them fall inside boxes, where they cannot be
/// collected).
pub fn build_spheres(
    world: &mut PhysicsWorld,
    cfg: &EnvConfig,
    count: impl Fn(usize) -> usize,
    rng: &mut ChaCha8Rng,
    scene: &mut Scene,
) {
    if cfg.sphere_obstacles == SphereObstacles::Wide {
        build_thin_wide(world, cfg, count(WIDE_THIN_COUNT), rng, scene);
    } else {
        add_walls(world, WALL_Y, 0.35);
        for p in poisson(rng, count(THIN_COUNT), [2.0, 16.0], FIELD_Y, 0.6, &[]) {
            place(world, scene, [p[0], p[1], THIN_HALF[2]], THIN_HALF, false);
        }
    }
    let taken: Vec<[f32; 2]> = scene.obstacles.iter().map(|o| [o[0], o[1]]).collect();
    for p in poisson(rng, SPHERE_COUNT, [2.0, 30.0], [-2.2, 2.2], 0.9, &taken) {
        let pos = [p[0], p[1], SPHERE_RADIUS];
        let c = world.insert_collider(
            ColliderBuilder::ball(SPHERE_RADIUS)
                .translation(Vector::from(pos))
                // Seen by the camera's ray casts; no robot group lists spheres, so nothing
                // collides with them (collection is by distance).
                .collision_groups(InteractionGroups::new(
                    SPHERE_GROUP,
                    Group::ALL,
                    InteractionTestMode::And,
                ))
                .user_data(TAG_SPHERE),
            None,
        );
        scene.spheres.push(Sphere {
            pos,
            collider: Some(c),
        });
    }
}
