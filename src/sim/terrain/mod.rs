//! Procedural task scenes: ground, corridor walls, obstacles, spheres, the mountain.

use crate::recipe::{EnvConfig, SphereObstacles, Task};
use crate::sim::robot::{SPHERE_GROUP, TAG_GROUND, TAG_OBSTACLE, TAG_SPHERE, WORLD_GROUP};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

/// Thin obstacle box size (x, y, z).
pub const THIN_BOX: [f32; 3] = [0.36, 0.36, 1.4];
/// Number of thin boxes at density 1.
pub const THIN_COUNT: usize = 50;
/// Number of thin boxes in the wide-obstacle task at density 1.
pub const WIDE_THIN_COUNT: usize = 30;
/// Obstacle field extent along x.
pub const FIELD_X: [f32; 2] = [2.5, 28.5];
/// Obstacle field extent along y.
pub const FIELD_Y: [f32; 2] = [-3.0, 3.0];
/// Side wall position (|y|).
pub const WALL_Y: f32 = 3.1;
/// Minimum centre spacing of the Poisson-disc obstacle sampling.
pub const MIN_SPACING: f32 = 0.9;
/// Spacing of the wide walls along x.
pub const WIDE_WALL_SPACING: f32 = 5.0;
/// Gap width in each wide wall.
pub const WIDE_GAP: f32 = 1.4;
/// Number of spheres in the `spheres` task.
pub const SPHERE_COUNT: usize = 20;
/// Sphere radius (visual only).
pub const SPHERE_RADIUS: f32 = 0.1;
/// Policy steps between re-draws of moving obstacles' velocities.
pub const MOVE_PERIOD: usize = 150;
/// Largest obstacle displacement per policy step.
pub const MOVE_MAX_STEP: f32 = 0.02;
/// Mountain summit position and height; Gaussian hill width.
pub const MOUNTAIN: [f32; 4] = [12.0, 0.0, 2.0, 5.0];

/// A kinematic obstacle and its current velocity (m per policy step).
#[derive(Debug, Clone)]
pub struct MovingObstacle {
    /// Its kinematic body.
    pub body: RigidBodyHandle,
    /// Displacement per policy step in x-y.
    pub step: [f32; 2],
}

/// A collectable sphere.
#[derive(Debug, Clone)]
pub struct Sphere {
    /// Centre position.
    pub pos: [f32; 3],
    /// Its (visual) collider, removed when collected.
    pub collider: Option<ColliderHandle>,
}

/// What a task put into the world.
#[derive(Debug, Clone, Default)]
pub struct Scene {
    /// Static or kinematic obstacle centres (x, y) and half extents (x, y), for inspection and tests.
    pub obstacles: Vec<[f32; 4]>,
    /// Kinematic obstacles (moving task only).
    pub moving: Vec<MovingObstacle>,
    /// Spheres to collect.
    pub spheres: Vec<Sphere>,
}

fn world_groups() -> InteractionGroups {
    InteractionGroups::all().with_memberships(WORLD_GROUP)
}

/// Ground height of the task's terrain at (x, y).
pub fn ground_height(task: Task, x: f32, y: f32) -> f32 {
    if task == Task::Mountain {
        let [cx, cy, h, w] = MOUNTAIN;
        let r2 = (x - cx).powi(2) + (y - cy).powi(2);
        h * (-r2 / (2.0 * w * w)).exp()
    } else {
        0.0
    }
}

fn add_box(world: &mut PhysicsWorld, c: [f32; 3], half: [f32; 3], tag: u128) -> ColliderHandle {
    world.insert_collider(
        ColliderBuilder::cuboid(half[0], half[1], half[2])
            .translation(Vector::from(c))
            .collision_groups(world_groups())
            .user_data(tag),
        None,
    )
}

fn poisson(
    rng: &mut ChaCha8Rng,
    n: usize,
    taken: &[[f32; 2]],
    blocked: &dyn Fn(f32, f32) -> bool,
) -> Vec<[f32; 2]> {
    let mut pts: Vec<[f32; 2]> = Vec::with_capacity(n);
    let mut tries = 0;
    while pts.len() < n && tries < n * 200 {
        tries += 1;
        let x = rng.random_range(FIELD_X[0]..FIELD_X[1]);
        let y = rng.random_range(FIELD_Y[0] + 0.2..FIELD_Y[1] - 0.2);
        if blocked(x, y) {
            continue;
        }
        let ok = pts.iter().chain(taken).all(|p| {
            let d2 = (p[0] - x).powi(2) + (p[1] - y).powi(2);
            d2 >= MIN_SPACING * MIN_SPACING
        });
        if ok {
            pts.push([x, y]);
        }
    }
    pts
}

/// Builds the config's task into `world`. `density` multiplies the obstacle counts.
pub fn build(
    world: &mut PhysicsWorld,
    cfg: &EnvConfig,
    density: f32,
    rng: &mut ChaCha8Rng,
) -> Result<Scene, crate::sim::SimError> {
    let (task, friction) = (cfg.task, cfg.friction);
    let wide = task == Task::WideObstacles
        || (task == Task::Spheres && cfg.sphere_obstacles == SphereObstacles::Wide);
    let mut scene = Scene::default();
    if task == Task::Mountain {
        build_mountain(world, friction)?;
        return Ok(scene);
    }
    world.insert_collider(
        ColliderBuilder::cuboid(50.0, 50.0, 0.5)
            .translation(Vector::new(10.0, 0.0, -0.5))
            .friction(friction)
            .collision_groups(world_groups())
            .user_data(TAG_GROUND),
        None,
    );
    if task == Task::Flat {
        return Ok(scene);
    }
    for s in [-1.0f32, 1.0] {
        add_box(
            world,
            [15.0, s * (WALL_Y + 0.05), 0.7],
            [17.5, 0.05, 0.7],
            TAG_OBSTACLE,
        );
    }
    let count = |n: usize| ((n as f32) * density.max(0.0)).round() as usize;
    let hb = [THIN_BOX[0] * 0.5, THIN_BOX[1] * 0.5, THIN_BOX[2] * 0.5];
    let mut walls_x = Vec::new();
    let thin_n = if wide {
        let mut x = FIELD_X[0] + 1.5;
        while x < FIELD_X[1] {
            walls_x.push(x);
            x += WIDE_WALL_SPACING;
        }
        count(WIDE_THIN_COUNT)
    } else {
        count(THIN_COUNT)
    };
    for &wx in &walls_x {
        let gap = rng.random_range(FIELD_Y[0] + WIDE_GAP..FIELD_Y[1] - WIDE_GAP);
        let lo = [-WALL_Y, gap - WIDE_GAP * 0.5];
        let hi = [gap + WIDE_GAP * 0.5, WALL_Y];
        for [a, b] in [lo, hi] {
            let cy = (a + b) * 0.5;
            let hy = (b - a) * 0.5;
            add_box(world, [wx, cy, hb[2]], [0.1, hy, hb[2]], TAG_OBSTACLE);
            scene.obstacles.push([wx, cy, 0.1, hy]);
        }
    }
    let blocked = |x: f32, _y: f32| walls_x.iter().any(|w| (x - w).abs() < 0.6);
    let pts = poisson(rng, thin_n, &[], &blocked);
    let moving = task == Task::MovingObstacles;
    for p in &pts {
        scene.obstacles.push([p[0], p[1], hb[0], hb[1]]);
        if moving {
            let body = world.insert_body(
                RigidBodyBuilder::kinematic_position_based()
                    .translation(Vector::new(p[0], p[1], hb[2])),
            );
            world.insert_collider(
                ColliderBuilder::cuboid(hb[0], hb[1], hb[2])
                    .collision_groups(world_groups())
                    .user_data(TAG_OBSTACLE),
                Some(body),
            );
            scene.moving.push(MovingObstacle {
                body,
                step: [0.0, 0.0],
            });
        } else {
            add_box(world, [p[0], p[1], hb[2]], hb, TAG_OBSTACLE);
        }
    }
    if moving {
        redraw_moving(&mut scene, rng);
    }
    if task == Task::Spheres {
        let sp = poisson(rng, SPHERE_COUNT, &pts, &blocked);
        for p in sp {
            let pos = [p[0], p[1], 0.25];
            let c = world.insert_collider(
                ColliderBuilder::ball(SPHERE_RADIUS)
                    .translation(Vector::from(pos))
                    // Seen by the camera's ray casts; no robot group lists spheres, so
                    // nothing collides with them (collection is by distance).
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
    Ok(scene)
}

/// Draws a new velocity for every moving obstacle: one of 4 directions, up to `MOVE_MAX_STEP`.
pub fn redraw_moving(scene: &mut Scene, rng: &mut ChaCha8Rng) {
    for m in &mut scene.moving {
        let dir = rng.random_range(0..4u32);
        let speed = rng.random_range(0.0..MOVE_MAX_STEP);
        m.step = match dir {
            0 => [speed, 0.0],
            1 => [-speed, 0.0],
            2 => [0.0, speed],
            _ => [0.0, -speed],
        };
    }
}

/// Moves kinematic obstacles by `fraction` of their per-policy-step displacement, staying in the field.
pub fn advance_moving(world: &mut PhysicsWorld, scene: &mut Scene, fraction: f32) {
    for m in &mut scene.moving {
        let b = &mut world.bodies[m.body];
        let mut t = b.translation();
        let nx = t.x + m.step[0] * fraction;
        let ny = t.y + m.step[1] * fraction;
        if !(FIELD_X[0]..=FIELD_X[1]).contains(&nx) {
            m.step[0] = -m.step[0];
        } else {
            t.x = nx;
        }
        if !(FIELD_Y[0] + 0.2..=FIELD_Y[1] - 0.2).contains(&ny) {
            m.step[1] = -m.step[1];
        } else {
            t.y = ny;
        }
        b.set_next_kinematic_translation(t);
    }
}

fn build_mountain(world: &mut PhysicsWorld, friction: f32) -> Result<(), crate::sim::SimError> {
    let n = 61usize;
    let (x0, x1, y0, y1) = (-6.0f32, 30.0f32, -18.0f32, 18.0f32);
    let mut verts = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let x = x0 + (x1 - x0) * i as f32 / (n - 1) as f32;
            let y = y0 + (y1 - y0) * j as f32 / (n - 1) as f32;
            verts.push(Vector::new(x, y, ground_height(Task::Mountain, x, y)));
        }
    }
    let mut idx = Vec::with_capacity(2 * (n - 1) * (n - 1));
    for i in 0..n - 1 {
        for j in 0..n - 1 {
            let a = (i * n + j) as u32;
            let b = a + n as u32;
            idx.push([a, b, a + 1]);
            idx.push([a + 1, b, b + 1]);
        }
    }
    let c = ColliderBuilder::trimesh(verts, idx)
        .map_err(|e| crate::sim::SimError::Terrain(format!("{e:?}")))?
        .friction(friction)
        .collision_groups(world_groups())
        .user_data(TAG_GROUND);
    world.insert_collider(c, None);
    Ok(())
}
