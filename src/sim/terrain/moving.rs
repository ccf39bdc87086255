//! Moving obstacles, as the original moves them (`env.moving`): every policy step of the original
//! (16 ms of simulated time: its physics ran at 1 ms whatever `time_step_s` said) each box moved by
//! `MOVE_SCALE` x one of [`DIRECTIONS`] (its own, by index), 0.94-1.19 m/s; every
//! [`MOVE_PERIOD`] steps the four axis directions reverse and every other box draws a new
//! direction. Here a box moves at the same true speed whatever the policy step.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

use super::{FIELD_X, FIELD_Y, Scene};

/// The original's direction table (metres per policy step before [`MOVE_SCALE`]); the last four
/// entries stand still.
pub const DIRECTIONS: [[f32; 2]; 20] = [
    [0.005, 0.0],
    [-0.005, 0.0],
    [0.0, 0.005],
    [0.0, -0.005],
    [0.004, 0.004],
    [-0.004, 0.004],
    [0.004, -0.004],
    [-0.004, -0.004],
    [0.002, 0.006],
    [-0.002, 0.006],
    [0.002, -0.006],
    [-0.002, -0.006],
    [0.006, 0.002],
    [-0.006, 0.002],
    [0.006, -0.002],
    [-0.006, -0.002],
    [0.0, 0.0],
    [0.0, 0.0],
    [0.0, 0.0],
    [0.0, 0.0],
];
/// Multiplier of [`DIRECTIONS`] per original policy step (its `scale = 3`): 0.015-0.019 m.
pub const MOVE_SCALE: f32 = 3.0;
/// The original's true policy step in seconds (16 physics steps of 1 ms).
pub const ORIGINAL_STEP_S: f32 = 0.016;
/// Policy steps between direction changes.
pub const MOVE_PERIOD: usize = 150;

/// A kinematic obstacle and its direction.
#[derive(Debug, Clone)]
pub struct MovingObstacle {
    /// Its kinematic body.
    pub body: RigidBodyHandle,
    /// Index into [`DIRECTIONS`].
    pub direction: usize,
    /// Its entry in [`Scene::obstacles`], whose centre follows it.
    pub obstacle: usize,
}

impl MovingObstacle {
    /// Velocity in x-y, m/s.
    pub fn velocity(&self) -> [f32; 2] {
        let [x, y] = DIRECTIONS[self.direction];
        let k = MOVE_SCALE / ORIGINAL_STEP_S;
        [x * k, y * k]
    }
}

/// Draws every moving obstacle's first direction (uniform over the table).
pub fn draw_directions(scene: &mut Scene, rng: &mut ChaCha8Rng) {
    for m in &mut scene.moving {
        m.direction = rng.random_range(0..DIRECTIONS.len());
    }
}

/// The periodic change: the four axis directions reverse, every other box draws anew.
pub fn redraw_moving(scene: &mut Scene, rng: &mut ChaCha8Rng) {
    for m in &mut scene.moving {
        m.direction = match m.direction {
            0 => 1,
            1 => 0,
            2 => 3,
            3 => 2,
            _ => rng.random_range(0..DIRECTIONS.len()),
        };
    }
}

/// Moves kinematic obstacles over `dt` seconds (and their centres in [`Scene::obstacles`]). A box about to leave the obstacle field stops on
/// that axis (the original lets boxes drift through walls).
pub fn advance_moving(world: &mut PhysicsWorld, scene: &mut Scene, dt: f32) {
    for m in &mut scene.moving {
        let [vx, vy] = m.velocity();
        let (sx, sy, fraction) = (vx, vy, dt);
        let b = &mut world.bodies[m.body];
        let mut t = b.translation();
        let nx = t.x + sx * fraction;
        let ny = t.y + sy * fraction;
        if (FIELD_X[0] - 0.5..=FIELD_X[1] + 0.5).contains(&nx) {
            t.x = nx;
        }
        if (FIELD_Y[0]..=FIELD_Y[1]).contains(&ny) {
            t.y = ny;
        }
        b.set_next_kinematic_translation(t);
        let entry = &mut scene.obstacles[m.obstacle];
        (entry[0], entry[1]) = (t.x, t.y);
    }
}
