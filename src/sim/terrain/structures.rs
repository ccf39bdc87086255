//! Built structures: the `stairs` and the chairs and desks of `chair_desk`, from boxes.

use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

use super::ground::HeightGrid;
use super::{Scene, add_box};
use crate::sim::robot::{TAG_GROUND, TAG_OBSTACLE};

/// The stairs' slabs: half extents (2, 25, 0.2), centred at x = 2.75 + 0.44 n with tops at
/// these heights (three steps of 0.1 m up, a plateau at 0.4 m, three down).
pub const STAIR_TOPS: [f32; 7] = [0.1, 0.2, 0.3, 0.4, 0.3, 0.2, 0.1];

/// Top of the stairs at `x`: the highest slab covering it, or 0.
pub fn stairs_height(x: f32) -> f32 {
    STAIR_TOPS
        .iter()
        .enumerate()
        .filter(|(n, _)| (x - (2.75 + 0.44 * *n as f32)).abs() <= 2.0)
        .map(|(_, &top)| top)
        .fold(0.0, f32::max)
}

/// `stairs`: seven overlapping slabs across the 50 m wide ground; the robot starts at
/// x = -0.15 and the goal is at (10, 0, 0).
pub fn build_stairs(world: &mut PhysicsWorld, scene: &mut Scene) {
    for (n, top) in STAIR_TOPS.iter().enumerate() {
        add_box(
            world,
            [2.75 + 0.44 * n as f32, 0.0, top - 0.2],
            [2.0, 25.0, 0.2],
            // The slabs are walked on: ground for contact checks, not obstacles.
            TAG_GROUND,
        );
    }
    scene.ground = Some(HeightGrid::from_fn(-5.0, -25.0, 0.02, 1001, 2, |i, _| {
        stairs_height(-5.0 + 0.02 * i as f32)
    }));
    scene.start = [-0.15, 0.0];
}

/// One chair: seat 0.37 x 0.29 m at 0.34 m on four legs, backrest up to 0.65 m.
fn chair(world: &mut PhysicsWorld, x: f32, y: f32) {
    let (hx, hy) = (0.185, 0.145);
    add_box(world, [x, y, 0.34], [hx, hy, 0.02], TAG_OBSTACLE);
    add_box(
        world,
        [x - hx + 0.02, y, 0.495],
        [0.02, hy, 0.155],
        TAG_OBSTACLE,
    );
    for (sx, sy) in [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)] {
        let (lx, ly) = (x + sx * (hx - 0.02), y + sy * (hy - 0.02));
        add_box(world, [lx, ly, 0.16], [0.02, 0.02, 0.16], TAG_OBSTACLE);
    }
}

/// One desk: top 0.60 x 1.48 m at 0.58 m on four legs.
fn desk(world: &mut PhysicsWorld, x: f32, y: f32) {
    let (hx, hy) = (0.30, 0.74);
    add_box(world, [x, y, 0.56], [hx, hy, 0.02], TAG_OBSTACLE);
    for (sx, sy) in [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)] {
        let (lx, ly) = (x + sx * (hx - 0.03), y + sy * (hy - 0.03));
        add_box(world, [lx, ly, 0.27], [0.03, 0.03, 0.27], TAG_OBSTACLE);
    }
}

/// `chair_desk`: 50 chairs and 30 desks on a Poisson disc of spacing 1.1 m over x 2.5-28.5,
/// y -3-3 (the original's reset layout), between walls at y = +-3.0. `count` scales the numbers
/// with the obstacle density.
pub fn build_chair_desk(
    world: &mut PhysicsWorld,
    count: impl Fn(usize) -> usize,
    rng: &mut ChaCha8Rng,
    scene: &mut Scene,
) {
    for s in [-1.0f32, 1.0] {
        add_box(
            world,
            [15.0, s * 3.0, 3.0],
            [30.05, 0.156, 3.0],
            TAG_OBSTACLE,
        );
    }
    let (chairs, desks) = (count(50), count(30));
    let pts = super::blocks::poisson_points(rng, chairs + desks, [2.5, 28.5], [-2.7, 2.7], 1.1);
    for (k, p) in pts.iter().enumerate() {
        if k < chairs {
            chair(world, p[0], p[1]);
            scene.obstacles.push([p[0], p[1], 0.185, 0.145]);
            scene.obstacle_tops.push(0.65);
        } else {
            desk(world, p[0], p[1]);
            scene.obstacles.push([p[0], p[1], 0.30, 0.74]);
            scene.obstacle_tops.push(0.58);
        }
    }
}
