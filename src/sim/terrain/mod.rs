//! Procedural task scenes, built as the Python original builds them (`a1_randomizer_ground.py`;
//! sizes are collision extents): ground, corridor walls, box obstacles, spheres, stairs, chairs and
//! desks, height meshes. Each reset draws a new layout from the episode's generator.

mod blocks;
mod ground;
mod moving;
mod structures;

pub use blocks::{SPHERE_COUNT, SPHERE_RADIUS, THIN_COUNT, THIN_HALF, WIDE_THIN_COUNT};
pub use ground::HeightGrid;
pub use moving::{
    DIRECTIONS, MOVE_PERIOD, MOVE_SCALE, MovingObstacle, advance_moving, redraw_moving,
};
pub use structures::{STAIR_TOPS, stairs_height};

use crate::recipe::{EnvConfig, Task};
use crate::sim::robot::{TAG_GROUND, WORLD_GROUP};
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

/// Obstacle field extent along x (the original's Poisson field, 26 m from x = 2.5).
pub const FIELD_X: [f32; 2] = [2.5, 28.5];
/// Obstacle field extent along y.
pub const FIELD_Y: [f32; 2] = [-3.0, 3.0];
/// Side wall position (|y|) of the thin-obstacle tasks.
pub const WALL_Y: f32 = 3.1;
/// Minimum centre spacing of the Poisson-disc obstacle sampling.
pub const MIN_SPACING: f32 = 1.0;
/// Mountain summit position, height and Gaussian width.
pub const MOUNTAIN: [f32; 4] = [12.0, 0.0, 2.0, 5.0];

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
    /// Static or kinematic obstacle centres (x, y; moving ones follow their bodies) and half
    /// extents (x, y), for the critic's privileged state, inspection and tests (walls not
    /// included).
    pub obstacles: Vec<[f32; 4]>,
    /// Obstacle tops (z of each obstacle's upper face), in the order of `obstacles`.
    pub obstacle_tops: Vec<f32>,
    /// Kinematic obstacles (with `env.moving`).
    pub moving: Vec<MovingObstacle>,
    /// Spheres to collect.
    pub spheres: Vec<Sphere>,
    /// The ground's height map, for tasks whose ground is not the plane z = 0.
    pub ground: Option<HeightGrid>,
    /// Where the robot starts (x, y) before `env.start_xy_range` is added.
    pub start: [f32; 2],
    /// The goal of goal tasks (`stairs`, `mountain`).
    pub goal: Option<[f32; 3]>,
}

impl Scene {
    /// Ground height at (x, y): the height map where there is one (the stairs' treads too), else 0.
    pub fn ground_height(&self, x: f32, y: f32) -> f32 {
        self.ground.as_ref().map_or(0.0, |g| g.height(x, y))
    }
}

fn world_groups() -> InteractionGroups {
    InteractionGroups::all().with_memberships(WORLD_GROUP)
}

/// A static box collider tagged `tag`, centre `c`, half extents `half`.
fn add_box(world: &mut PhysicsWorld, c: [f32; 3], half: [f32; 3], tag: u128) -> ColliderHandle {
    world.insert_collider(
        ColliderBuilder::cuboid(half[0], half[1], half[2])
            .translation(Vector::from(c))
            .collision_groups(world_groups())
            .user_data(tag),
        None,
    )
}

/// The plane ground (a thick slab whose top is z = 0).
fn add_plane(world: &mut PhysicsWorld, friction: f32) {
    world.insert_collider(
        ColliderBuilder::cuboid(60.0, 60.0, 0.5)
            .translation(Vector::new(10.0, 0.0, -0.5))
            .friction(friction)
            .collision_groups(world_groups())
            .user_data(TAG_GROUND),
        None,
    );
}

/// Builds the config's task into `world`. `density` multiplies the obstacle counts.
pub fn build(
    world: &mut PhysicsWorld,
    cfg: &EnvConfig,
    density: f32,
    rng: &mut ChaCha8Rng,
) -> Result<Scene, crate::sim::SimError> {
    let count = |n: usize| ((n as f32) * density.max(0.0)).round() as usize;
    let mut scene = Scene {
        goal: cfg.goal.then(|| cfg.task.goal()).flatten(),
        ..Scene::default()
    };
    match cfg.task {
        Task::Mountain => ground::build_mountain(world, cfg.friction, &mut scene)?,
        Task::Hill => ground::build_hill(world, cfg.friction, rng, &mut scene)?,
        Task::Heightfield => {
            ground::build_rough_field(world, cfg.friction, rng, &mut scene)?;
            blocks::build_thin(world, cfg, count(THIN_COUNT), rng, &mut scene);
        }
        Task::Flat => add_plane(world, cfg.friction),
        Task::ThinObstacles | Task::MovingObstacles => {
            add_plane(world, cfg.friction);
            blocks::build_thin(world, cfg, count(THIN_COUNT), rng, &mut scene);
        }
        Task::WideObstacles => {
            add_plane(world, cfg.friction);
            blocks::build_thin_wide(world, cfg, count(WIDE_THIN_COUNT), rng, &mut scene);
        }
        Task::Spheres => {
            add_plane(world, cfg.friction);
            blocks::build_spheres(world, cfg, count, rng, &mut scene);
        }
        Task::Stairs => {
            add_plane(world, cfg.friction);
            structures::build_stairs(world, &mut scene);
        }
        Task::ChairDesk => {
            add_plane(world, cfg.friction);
            structures::build_chair_desk(world, count, rng, &mut scene);
        }
    }
    moving::draw_directions(&mut scene, rng);
    Ok(scene)
}
