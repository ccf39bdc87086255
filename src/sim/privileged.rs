//! Privileged simulator state for an asymmetric critic (`ppo.asymmetric_critic`): what defines
//! the reward or the danger ahead but the policy cannot observe. Laid out as [`Privileged`]
//! documents, [`PRIVILEGED_DIM`] floats per env.

use rapier3d::prelude::*;

use crate::sim::contacts;
use crate::sim::robot::{Robot, TAG_GROUND, TAG_OBSTACLE};
use crate::sim::terrain::Scene;

/// Obstacles whose offsets the privileged state lists, nearest first.
pub const NEAREST_OBSTACLES: usize = 3;
/// Obstacle offsets are clipped to +- this many metres; obstacles farther away are absent.
pub const SENSE_RANGE: f32 = 4.0;
/// Floats of privileged state per env.
pub const PRIVILEGED_DIM: usize = 3 + 1 + 2 + 4 + 3 * NEAREST_OBSTACLES;

/// The privileged state of one env, before flattening.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Privileged {
    /// Trunk linear velocity (world frame, m/s): the reward's `v_x` among it.
    pub velocity: [f32; 3],
    /// Trunk height above the ground beneath it (m).
    pub height: f32,
    /// Cosine and sine of the trunk's yaw (heading in the x-y plane).
    pub heading: [f32; 2],
    /// 1 where the foot (FR, FL, RR, RL) touches the ground or an obstacle, else 0.
    pub foot_contacts: [f32; 4],
    /// Per listed obstacle, nearest first: the offset (forward, left) in metres from the trunk to
    /// the nearest point of its footprint, in the heading frame, and 1 (0 for an empty slot,
    /// whose offset is 0).
    pub obstacles: [[f32; 3]; NEAREST_OBSTACLES],
}

/// The yaw of a trunk rotation: the angle of its forward (+x) axis in the world's x-y plane,
/// radians in [-pi, pi].
pub fn yaw_of(rotation: &Rotation) -> f32 {
    let forward = rotation * Vector::X;
    forward.y.atan2(forward.x)
}

impl Privileged {
    /// Reads the privileged state of `robot` in `world` among `scene`'s obstacles.
    pub fn read(world: &PhysicsWorld, robot: &Robot, scene: &Scene) -> Self {
        let body = &world.bodies[robot.trunk];
        let (pos, v) = (body.translation(), body.linvel());
        let yaw = yaw_of(body.rotation());
        let (sin, cos) = yaw.sin_cos();
        let mut foot_contacts = [0.0; 4];
        for (c, &foot) in foot_contacts.iter_mut().zip(&robot.feet) {
            *c = contacts::touching(world, &[foot], &[TAG_GROUND, TAG_OBSTACLE]) as u8 as f32;
        }
        Self {
            velocity: [v.x, v.y, v.z],
            height: pos.z - scene.ground_height(pos.x, pos.y),
            heading: [cos, sin],
            foot_contacts,
            obstacles: nearest_obstacles(&scene.obstacles, [pos.x, pos.y], yaw),
        }
    }

    /// The [`PRIVILEGED_DIM`] floats, in field order.
    pub fn write_to(&self, out: &mut [f32]) {
        assert_eq!(out.len(), PRIVILEGED_DIM, "privileged buffer length");
        let mut k = 0;
        let mut put = |x: f32| {
            out[k] = x;
            k += 1;
        };
        self.velocity.iter().for_each(|&x| put(x));
        put(self.height);
        self.heading.iter().for_each(|&x| put(x));
        self.foot_contacts.iter().for_each(|&x| put(x));
        self.obstacles.iter().flatten().for_each(|&x| put(x));
    }
}

/// The [`NEAREST_OBSTACLES`] obstacles (centre x, y and half extents x, y) nearest to `at`
/// within [`SENSE_RANGE`], each as (forward, left, 1) in the frame of heading `yaw`, nearest
/// first; empty slots are zeros.
pub fn nearest_obstacles(
    obstacles: &[[f32; 4]],
    at: [f32; 2],
    yaw: f32,
) -> [[f32; 3]; NEAREST_OBSTACLES] {
    let mut found: Vec<(f32, [f32; 2])> = obstacles
        .iter()
        .map(|&[cx, cy, hx, hy]| {
            // Nearest point of the axis-aligned footprint to `at`.
            let px = at[0].clamp(cx - hx, cx + hx);
            let py = at[1].clamp(cy - hy, cy + hy);
            let d = [px - at[0], py - at[1]];
            (d[0].hypot(d[1]), d)
        })
        .filter(|(dist, _)| *dist <= SENSE_RANGE)
        .collect();
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (sin, cos) = yaw.sin_cos();
    let mut out = [[0.0; 3]; NEAREST_OBSTACLES];
    for (slot, (_, [dx, dy])) in out.iter_mut().zip(found) {
        *slot = [cos * dx + sin * dy, -sin * dx + cos * dy, 1.0];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_obstacles_are_sorted_rotated_and_ranged() {
        // A box straight ahead 2 m (its near face at 1.8 m), one 1 m to the left, one too far.
        let obstacles = [
            [2.0, 0.0, 0.2, 0.2],
            [0.0, 1.0, 0.1, 0.1],
            [10.0, 0.0, 0.2, 0.2],
        ];
        let out = nearest_obstacles(&obstacles, [0.0, 0.0], 0.0);
        assert!((out[0][1] - 0.9).abs() < 1e-6 && out[0][0].abs() < 1e-6);
        assert!((out[1][0] - 1.8).abs() < 1e-6 && out[1][2] == 1.0);
        assert_eq!(out[2], [0.0; 3]);
        // Facing +y (yaw 90 degrees), the box at +y is straight ahead, the +x box to the right.
        let turned = nearest_obstacles(&obstacles, [0.0, 0.0], std::f32::consts::FRAC_PI_2);
        assert!((turned[0][0] - 0.9).abs() < 1e-5 && turned[0][1].abs() < 1e-5);
        assert!((turned[1][1] + 1.8).abs() < 1e-5);
    }

    #[test]
    fn inside_a_footprint_the_offset_is_zero() {
        let out = nearest_obstacles(&[[0.0, 0.0, 1.0, 1.0]], [0.5, -0.5], 0.3);
        assert_eq!(out[0], [0.0, 0.0, 1.0]);
    }
}
