//! A third-person colour view of an env's scene for rollout videos: one ray per pixel through
//! rapier's query pipeline, as the depth camera casts them, from a camera that follows the trunk.
//! Each hit is coloured by what it hit (ground with a 1 m grid, obstacle, sphere, trunk, leg,
//! foot) and shaded by its surface normal against a fixed sun; rays that miss show the sky, and
//! distant ground fades into it.

use rapier3d::prelude::*;

use super::depth::{TILE, leaf_tree, pyramid_through, reaches_positive_side};
use super::robot::{
    SPHERE_GROUP, TAG_FOOT, TAG_GROUND, TAG_OBSTACLE, TAG_ROBOT_BODY, TAG_SPHERE, WORLD_GROUP,
};

/// Longest ray in metres; colliders beyond it are left out of the frame's tree.
pub const VIEW_RANGE: f32 = 40.0;
/// Camera position relative to the trunk, in the world frame: behind, to the right and above
/// the 1.4 m thin obstacles, looking down at about 45 degrees, so obstacles rarely hide the robot.
pub const CHASE_OFFSET: [f32; 3] = [-1.6, -0.9, 1.9];
/// How far in front of an obstacle that would hide the robot the camera moves, in metres.
const OCCLUDER_MARGIN: f32 = 0.1;
/// Vertical field of view in degrees.
pub const VERTICAL_FOV_DEG: f32 = 50.0;

/// An RGB colour, 8 bits per channel.
pub type Rgb = [u8; 3];

/// Sky colour at the horizon.
const SKY_HORIZON: [f32; 3] = [205.0, 222.0, 240.0];
/// Sky colour straight up.
const SKY_ZENITH: [f32; 3] = [120.0, 160.0, 210.0];
/// Fraction of light every surface gets whatever its orientation.
const AMBIENT: f32 = 0.4;

/// What a ray hit, from the collider's user-data tag and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The ground (plane or height mesh).
    Ground,
    /// A box obstacle or a corridor wall.
    Obstacle,
    /// A collectable sphere.
    Sphere,
    /// The robot's trunk.
    Trunk,
    /// A thigh or shin link.
    Leg,
    /// A foot.
    Foot,
}

impl Surface {
    fn of(collider: &Collider) -> Surface {
        match collider.user_data {
            TAG_GROUND => Surface::Ground,
            TAG_SPHERE => Surface::Sphere,
            TAG_FOOT => Surface::Foot,
            TAG_ROBOT_BODY if collider.shape().as_cuboid().is_some() => Surface::Trunk,
            TAG_ROBOT_BODY => Surface::Leg,
            TAG_OBSTACLE => Surface::Obstacle,
            _ => Surface::Obstacle,
        }
    }

    /// Unshaded colour of the surface at world point `p`.
    pub fn albedo(self, p: Vector) -> [f32; 3] {
        match self {
            Surface::Ground => {
                let line = |v: f32| (v - v.round()).abs() < 0.015;
                if line(p.x) || line(p.y) {
                    [110.0, 110.0, 110.0]
                } else if (p.x.floor() + p.y.floor()) as i64 % 2 == 0 {
                    [196.0, 196.0, 190.0]
                } else {
                    [172.0, 172.0, 166.0]
                }
            }
            Surface::Obstacle => [178.0, 84.0, 62.0],
            Surface::Sphere => [235.0, 190.0, 40.0],
            Surface::Trunk => [60.0, 90.0, 150.0],
            Surface::Leg => [50.0, 50.0, 58.0],
            Surface::Foot => [25.0, 25.0, 25.0],
        }
    }
}

/// A pinhole camera of `width x height` pixels; [`render`](Self::render) fills an RGB image.
#[derive(Debug, Clone)]
pub struct View {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Tangent of half the vertical field of view.
    tan_half_v: f32,
}

/// The chase camera's eye and the point it looks at, for a trunk position: [`CHASE_OFFSET`]
/// from the trunk, moved towards it when an obstacle or sphere stands between them.
pub fn chase(world: &PhysicsWorld, trunk: Vector) -> (Vector, Vector) {
    let offset = Vector::from(CHASE_OFFSET);
    let (length, dir) = (offset.length(), offset.normalize());
    let scenery = InteractionGroups::new(
        Group::ALL,
        WORLD_GROUP | SPHERE_GROUP,
        InteractionTestMode::And,
    );
    let qp = world.query_pipeline_with_filter(QueryFilter::new().groups(scenery));
    let reach = qp
        .cast_ray(&Ray::new(trunk, dir), length, true)
        .map_or(length, |(_, toi)| (toi - OCCLUDER_MARGIN).max(0.2));
    // Look slightly ahead of the trunk, so the way ahead fills more of the frame.
    (trunk + dir * reach, trunk + Vector::new(0.4, 0.0, -0.1))
}

impl View {
    /// A view of `width x height` pixels with the [`VERTICAL_FOV_DEG`] field of view.
    pub fn new(width: usize, height: usize) -> View {
        View {
            width,
            height,
            tan_half_v: (VERTICAL_FOV_DEG.to_radians() * 0.5).tan(),
        }
    }

    /// Renders `world` seen from `eye` looking at `target` into `out` (`width * height * 3`
    /// bytes, rows top to bottom, RGB).
    pub fn render(&self, world: &PhysicsWorld, eye: Vector, target: Vector, out: &mut [u8]) {
        assert_eq!(out.len(), self.width * self.height * 3, "RGB buffer size");
        let forward = (target - eye).normalize();
        let right = forward.cross(Vector::Z).normalize();
        let up = right.cross(forward);
        let tan_half_h = self.tan_half_v * self.width as f32 / self.height as f32;
        // Image-plane coordinates of a pixel edge (column or row index, fractional allowed).
        let u_at = |c: f32| (2.0 * c / self.width as f32 - 1.0) * tan_half_h;
        let v_at = |r: f32| (1.0 - 2.0 * r / self.height as f32) * self.tan_half_v;
        let ray_dir = |u: f32, v: f32| forward + right * u + up * v;
        let nearby: Vec<(usize, Aabb)> = world
            .colliders
            .iter()
            .map(|(h, c)| (h.into_raw_parts().0 as usize, c.compute_aabb()))
            .filter(|(_, aabb)| aabb.distance_to_local_point(eye, true) <= VIEW_RANGE)
            .collect();
        let sun = Vector::new(-0.35, -0.25, 1.0).normalize();
        // As the depth camera does: each tile of pixels casts through a tree of only the
        // colliders that reach into its pyramid.
        for r0 in (0..self.height).step_by(TILE) {
            for c0 in (0..self.width).step_by(TILE) {
                let (r1, c1) = ((r0 + TILE).min(self.height), (c0 + TILE).min(self.width));
                let (u0, u1) = (u_at(c0 as f32), u_at(c1 as f32));
                let (v0, v1) = (v_at(r0 as f32), v_at(r1 as f32));
                let planes = pyramid_through([
                    ray_dir(u0, v0),
                    ray_dir(u1, v0),
                    ray_dir(u1, v1),
                    ray_dir(u0, v1),
                ]);
                let bvh = leaf_tree(nearby.iter().copied().filter(|(_, aabb)| {
                    planes.iter().all(|&n| reaches_positive_side(aabb, eye, n))
                }));
                let qp = QueryPipeline {
                    dispatcher: world.narrow_phase.query_dispatcher(),
                    bvh: &bvh,
                    bodies: &world.bodies,
                    colliders: &world.colliders,
                    filter: QueryFilter::new(),
                };
                for r in r0..r1 {
                    let v = v_at(r as f32 + 0.5);
                    for c in c0..c1 {
                        let dir = ray_dir(u_at(c as f32 + 0.5), v).normalize();
                        let colour = shade(&qp, world, eye, dir, sun);
                        out[(r * self.width + c) * 3..][..3].copy_from_slice(&colour);
                    }
                }
            }
        }
    }
}

/// The colour seen along one ray.
fn shade(qp: &QueryPipeline, world: &PhysicsWorld, eye: Vector, dir: Vector, sun: Vector) -> Rgb {
    let sky = sky(dir);
    let Some((handle, hit)) = qp.cast_ray_and_get_normal(&Ray::new(eye, dir), VIEW_RANGE, true)
    else {
        return sky.map(|v| v as u8);
    };
    let surface = world
        .colliders
        .get(handle)
        .map_or(Surface::Obstacle, Surface::of);
    let point = eye + dir * hit.time_of_impact;
    let albedo = surface.albedo(point);
    let light = AMBIENT + (1.0 - AMBIENT) * hit.normal.dot(sun).max(0.0);
    // Distant surfaces fade into the sky, so the horizon is not a hard edge.
    let fog = (hit.time_of_impact / VIEW_RANGE).powi(2).min(1.0);
    std::array::from_fn(|i| {
        let lit = (albedo[i] * light).min(255.0);
        (lit * (1.0 - fog) + sky[i] * fog).round() as u8
    })
}

/// The sky's colour in direction `dir`: horizon colour blending into the zenith's.
fn sky(dir: Vector) -> [f32; 3] {
    let t = dir.z.clamp(0.0, 1.0).sqrt();
    std::array::from_fn(|i| SKY_HORIZON[i] * (1.0 - t) + SKY_ZENITH[i] * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ground_grid_alternates_and_draws_lines_on_whole_metres() {
        let g = Surface::Ground;
        assert_eq!(g.albedo(Vector::new(0.5, 0.5, 0.0)), [196.0, 196.0, 190.0]);
        assert_eq!(g.albedo(Vector::new(1.5, 0.5, 0.0)), [172.0, 172.0, 166.0]);
        assert_eq!(
            g.albedo(Vector::new(2.005, 0.5, 0.0)),
            [110.0, 110.0, 110.0]
        );
    }

    #[test]
    fn the_sky_brightens_towards_the_horizon() {
        assert_eq!(sky(Vector::new(1.0, 0.0, 0.0)), SKY_HORIZON);
        assert_eq!(sky(Vector::Z), SKY_ZENITH);
    }
}
