//! The ray-cast depth camera: one ray per pixel through rapier's query pipeline.
//!
//! The pipeline runs over a bounding-volume tree of the camera's own, rebuilt at every frame from
//! the colliders' current poses, holding only what this frame can show: terrain, obstacle and
//! sphere colliders whose bounding box meets the view frustum within the longest ray. The physics
//! broad phase's tree holds the whole arena and the robot's links too, which sit right in front of
//! the lens, so there every ray visited them only for the group filter to discard them. Culling
//! keeps every collider a pixel ray can hit, so the image is the same (`tests/sim/depth.rs` checks
//! it against rays through the broad phase); README's Benchmarks give the time it saves.
//!
//! A tile sees the ground and at most a few dozen obstacles: its rays skip the tree and go to
//! each collider in turn, nearest first, stopping at the first one whose bounding box lies beyond
//! the nearest hit so far; a box's ray cast (parry's, step for step) takes the lens in the box's
//! frame and the ray's reciprocal direction from the tile and the pixel instead of working them
//! out per box and ray. Same hits, same image.

use crate::recipe::{DepthConfig, DepthTransform};
use crate::sim::robot::{SPHERE_GROUP, WORLD_GROUP};
use rapier3d::parry::partitioning::{Bvh, BvhBuildStrategy};
use rapier3d::prelude::*;

/// Camera position ahead of the trunk centre along the body x axis, in metres.
pub const CAMERA_FORWARD: f32 = 0.23;
/// Horizontal-to-vertical aspect of the image plane, as the original's.
pub const ASPECT: f32 = 1.6;

/// Side length in pixels of the square image tiles that each get their own culled collider list
/// (or tree, past `FEW_LEAVES` colliders).
pub const TILE: usize = 16;

/// A tile that sees at most this many colliders casts its rays at each of them in turn instead
/// of through a tree (64 measured faster than 4, 8, 16 and 32: `runner bench env`'s depth column
/// and timings of the thin obstacle, chair and desk, spheres and stairs tasks).
const FEW_LEAVES: usize = 64;

/// A collider whose bounding box is further from the lens than the nearest hit so far times this
/// is not cast at: a time of impact is a distance along a unit ray, computed to a few ulps.
const BEYOND_HIT: f32 = 1.001;

/// A rectangle of pixels and the pyramid its rays fill.
#[derive(Debug, Clone)]
struct Tile {
    /// Pixel rows.
    rows: std::ops::Range<usize>,
    /// Pixel columns.
    cols: std::ops::Range<usize>,
    /// Inward normals (body frame) of the pyramid's four side planes, through the lens and the
    /// tile's outer pixel edges (not its pixel centres, so every ray of the tile is inside).
    frustum: [Vector; 4],
}

/// Inward normals of the pyramid from the lens through the image-plane rectangle
/// `[u0, u1] x [v0, v1]` (a pixel ray's direction is `(1, -u, -v)` before normalising).
fn pyramid(u0: f32, u1: f32, v0: f32, v1: f32) -> [Vector; 4] {
    pyramid_through([
        Vector::new(1.0, -u0, -v0),
        Vector::new(1.0, -u1, -v0),
        Vector::new(1.0, -u1, -v1),
        Vector::new(1.0, -u0, -v1),
    ])
}

/// Inward normals of the four side planes of the pyramid from the origin along the edge
/// directions `corners` (in order around the pyramid).
pub(super) fn pyramid_through(corners: [Vector; 4]) -> [Vector; 4] {
    let inside = corners.iter().fold(Vector::ZERO, |a, &c| a + c);
    std::array::from_fn(|i| {
        let n = corners[i].cross(corners[(i + 1) % 4]);
        if n.dot(inside) < 0.0 { -n } else { n }
    })
}

/// A collider a tile's rays are cast at one by one.
enum Target<'a> {
    /// A box, with what parry's cuboid ray cast derives from the pose computed once per tile.
    Box(BoxTarget),
    /// Any other shape, through parry's ray cast.
    Shape(&'a Pose, &'a dyn Shape),
}

impl<'a> Target<'a> {
    /// The target for a collider at `pose` of `shape`, seen from the lens at `origin`.
    fn new(pose: &'a Pose, shape: &'a dyn Shape, origin: Vector) -> Target<'a> {
        match shape.as_cuboid() {
            Some(cuboid) => Target::Box(BoxTarget::new(
                (pose.rotation != Rotation::IDENTITY).then(|| pose.rotation.inverse()),
                pose.inverse_transform_point(origin),
                cuboid.half_extents,
            )),
            None => Target::Shape(pose, shape),
        }
    }

    /// Time of impact of `ray` within `max_toi`, solid, as rapier's query pipeline computes it.
    fn cast(&self, ray: &PixelRay, max_toi: f32) -> Option<f32> {
        match self {
            Target::Box(b) => b.cast(ray, max_toi),
            Target::Shape(pose, shape) => shape.cast_ray(pose, &ray.ray(), max_toi, true),
        }
    }
}

/// A pixel's ray in the world frame, with the reciprocals of its direction's components that
/// parry's box ray cast divides by (the same for every unrotated box, so worked out once).
struct PixelRay {
    /// The lens.
    origin: Vector,
    /// Unit direction.
    dir: [f32; 3],
    /// `1 / dir[i]` (infinite where `dir[i]` is 0, where the cast does not read it).
    inverse: [f32; 3],
}

impl PixelRay {
    /// The ray from `origin` along the unit `dir`.
    fn new(origin: Vector, dir: Vector) -> PixelRay {
        let dir = dir.to_array();
        PixelRay {
            origin,
            dir,
            inverse: dir.map(|d| 1.0 / d),
        }
    }

    /// The same ray as parry's.
    fn ray(&self) -> Ray {
        Ray::new(self.origin, Vector::from_array(self.dir))
    }
}

/// The first of `targets` (sorted by their `reach`, the distance from the lens to their bounding
/// box) that `ray` hits within `max_toi`, and its time of impact.
fn first_hit_of(targets: &[(f32, Target)], ray: &PixelRay, max_toi: f32) -> Option<f32> {
    let mut nearest = max_toi;
    let mut hit = false;
    for (reach, target) in targets {
        // Nearest first: a box whose closest point lies beyond the nearest hit (with a margin
        // far above the rounding of a time of impact) cannot come closer, nor can the ones after
        // it.
        if *reach > nearest * BEYOND_HIT {
            break;
        }
        if let Some(toi) = target.cast(ray, nearest)
            && toi < nearest
        {
            nearest = toi;
            hit = true;
        }
    }
    hit.then_some(nearest)
}

/// A box collider in a tile's view: what parry's ray cast derives from the box's pose for every
/// ray (the lens in the box's frame, the box's inverse rotation), worked out once per tile.
struct BoxTarget {
    /// The inverse of the box's rotation, `None` for an unrotated box (whose frame's directions
    /// are the world's).
    inverse_rotation: Option<Rotation>,
    /// The lens in the box's frame.
    origin: [f32; 3],
    /// `-half_extents[i] - origin[i]`: the lower slab planes' offsets from the lens.
    to_lower: [f32; 3],
    /// `half_extents[i] - origin[i]`: the upper slab planes' offsets from the lens.
    to_upper: [f32; 3],
    /// The box's half side lengths.
    half_extents: [f32; 3],
}

impl BoxTarget {
    /// A box of `half_extents` whose frame holds the lens at `origin`.
    fn new(inverse_rotation: Option<Rotation>, origin: Vector, half_extents: Vector) -> BoxTarget {
        let (origin, half_extents) = (origin.to_array(), half_extents.to_array());
        BoxTarget {
            inverse_rotation,
            origin,
            to_lower: std::array::from_fn(|i| -half_extents[i] - origin[i]),
            to_upper: std::array::from_fn(|i| half_extents[i] - origin[i]),
            half_extents,
        }
    }

    /// parry's solid ray cast against a cuboid (`Aabb::cast_local_ray` on `[-half, half]`), step
    /// for step.
    fn cast(&self, ray: &PixelRay, max_toi: f32) -> Option<f32> {
        let (dir, inverse) = match self.inverse_rotation {
            Some(r) => {
                let local = PixelRay::new(ray.origin, r * Vector::from_array(ray.dir));
                (local.dir, local.inverse)
            }
            None => (ray.dir, ray.inverse),
        };
        let (mut tmin, mut tmax) = (0.0f32, max_toi);
        for i in 0..3 {
            if dir[i] == 0.0 {
                let half = self.half_extents[i];
                if self.origin[i] < -half || self.origin[i] > half {
                    return None;
                }
            } else {
                let mut near = self.to_lower[i] * inverse[i];
                let mut far = self.to_upper[i] * inverse[i];
                if near > far {
                    std::mem::swap(&mut near, &mut far);
                }
                tmin = tmin.max(near);
                tmax = tmax.min(far);
                if tmin > tmax {
                    return None;
                }
            }
        }
        Some(tmin)
    }
}

/// Per-pixel unit ray directions in the body frame, precomputed once.
#[derive(Debug, Clone)]
pub struct Camera {
    dirs: Vec<Vector>,
    /// Forward component of each direction (metric ray length -> z-depth).
    fwd: Vec<f32>,
    /// Image width in pixels.
    width: usize,
    /// The pyramid of the whole image.
    frustum: [Vector; 4],
    /// The image in tiles.
    tiles: Vec<Tile>,
    /// Length of the longest ray (a corner pixel's, reaching the far plane).
    max_range: f32,
    near: f32,
    far: f32,
    transform: DepthTransform,
}

impl Camera {
    /// Builds the pixel rays of a camera from its configuration.
    pub fn new(cfg: &DepthConfig) -> Camera {
        let tv = (cfg.vertical_fov_deg.to_radians() * 0.5).tan();
        let th = tv * ASPECT;
        let u_at = |c: usize| (2.0 * c as f32 / cfg.width as f32 - 1.0) * th;
        let v_at = |r: usize| (2.0 * r as f32 / cfg.height as f32 - 1.0) * tv;
        let mut dirs = Vec::with_capacity(cfg.width * cfg.height);
        let mut fwd = Vec::with_capacity(cfg.width * cfg.height);
        for r in 0..cfg.height {
            for c in 0..cfg.width {
                let u = (2.0 * (c as f32 + 0.5) / cfg.width as f32 - 1.0) * th;
                let v = (2.0 * (r as f32 + 0.5) / cfg.height as f32 - 1.0) * tv;
                let d = Vector::new(1.0, -u, -v).normalize();
                fwd.push(d.x);
                dirs.push(d);
            }
        }
        let mut tiles = Vec::new();
        for r0 in (0..cfg.height).step_by(TILE) {
            for c0 in (0..cfg.width).step_by(TILE) {
                let (r1, c1) = ((r0 + TILE).min(cfg.height), (c0 + TILE).min(cfg.width));
                tiles.push(Tile {
                    rows: r0..r1,
                    cols: c0..c1,
                    frustum: pyramid(u_at(c0), u_at(c1), v_at(r0), v_at(r1)),
                });
            }
        }
        let max_range = cfg.far / fwd.iter().cloned().fold(1.0, f32::min);
        Camera {
            dirs,
            fwd,
            width: cfg.width,
            frustum: pyramid(-th, th, -tv, tv),
            tiles,
            max_range,
            near: cfg.near,
            far: cfg.far,
            transform: cfg.transform,
        }
    }

    /// Metric z-depth (along the optical axis) of every pixel, clipped to [near, far].
    pub fn render_metric(&self, world: &PhysicsWorld, trunk: &Pose, out: &mut [f32]) {
        let origin = lens(trunk);
        let groups = camera_groups();
        // A pyramid's planes in the world frame, and whether a box reaches inside all of them.
        let planes = |frustum: &[Vector; 4]| frustum.map(|n| trunk.rotation * n);
        let in_view = |aabb: &Aabb, planes: &[Vector; 4]| {
            planes
                .iter()
                .all(|&n| reaches_positive_side(aabb, origin, n))
        };
        let image = planes(&self.frustum);
        let visible: Vec<(usize, Aabb)> = world
            .colliders
            .iter()
            .filter(|(_, c)| c.collision_groups().test(groups))
            .map(|(h, c)| (h.into_raw_parts().0 as usize, c.compute_aabb()))
            .filter(|(_, aabb)| {
                aabb.distance_to_local_point(origin, true) <= self.max_range
                    && in_view(aabb, &image)
            })
            .collect();
        let mut leaves = Vec::with_capacity(visible.len());
        let mut targets = Vec::with_capacity(FEW_LEAVES);
        for tile in &self.tiles {
            let tile_planes = planes(&tile.frustum);
            leaves.clear();
            leaves.extend(
                visible
                    .iter()
                    .filter(|(_, aabb)| in_view(aabb, &tile_planes))
                    .copied(),
            );
            if leaves.len() <= FEW_LEAVES {
                targets.clear();
                targets.extend(leaves.iter().filter_map(|&(id, aabb)| {
                    let (co, _) = world.colliders.get_unknown_gen(id as u32)?;
                    let reach = aabb.distance_to_local_point(origin, true);
                    Some((reach, Target::new(co.position(), co.shape(), origin)))
                }));
                targets.sort_by(|a, b| a.0.total_cmp(&b.0));
                for r in tile.rows.clone() {
                    let k = r * self.width;
                    let pixels = k + tile.cols.start..k + tile.cols.end;
                    self.cast_rays(trunk, pixels.clone(), &mut out[pixels], |ray, max_toi| {
                        first_hit_of(&targets, ray, max_toi)
                    });
                }
                continue;
            }
            let bvh = leaf_tree(leaves.iter().copied());
            let qp = QueryPipeline {
                dispatcher: world.narrow_phase.query_dispatcher(),
                bvh: &bvh,
                bodies: &world.bodies,
                colliders: &world.colliders,
                filter: QueryFilter::new().groups(groups),
            };
            for r in tile.rows.clone() {
                let k = r * self.width;
                let pixels = k + tile.cols.start..k + tile.cols.end;
                self.cast_rays(trunk, pixels.clone(), &mut out[pixels], |ray, max_toi| {
                    qp.cast_ray(&ray.ray(), max_toi, true).map(|(_, toi)| toi)
                });
            }
        }
    }

    /// [`render_metric`](Self::render_metric) through the physics broad phase's tree, with
    /// nothing culled: the oracle the culled camera is tested against.
    pub fn render_metric_unculled(&self, world: &PhysicsWorld, trunk: &Pose, out: &mut [f32]) {
        let qp = world.query_pipeline_with_filter(QueryFilter::new().groups(camera_groups()));
        self.cast_rays(trunk, 0..out.len(), out, |ray, max_toi| {
            qp.cast_ray(&ray.ray(), max_toi, true).map(|(_, toi)| toi)
        });
    }

    /// One ray from the lens for each pixel of `pixels`, its time of impact within the far plane
    /// from `first_hit` (`None`: nothing that near), written to `out` as clipped z-depth.
    fn cast_rays(
        &self,
        trunk: &Pose,
        pixels: std::ops::Range<usize>,
        out: &mut [f32],
        first_hit: impl Fn(&PixelRay, f32) -> Option<f32>,
    ) {
        let origin = lens(trunk);
        for (k, o) in pixels.zip(out.iter_mut()) {
            let ray = PixelRay::new(origin, trunk.rotation * self.dirs[k]);
            // A hit beyond the far plane reads as the far plane, so no ray goes further.
            let d = match first_hit(&ray, self.far / self.fwd[k]) {
                Some(toi) => toi * self.fwd[k],
                None => self.far,
            };
            *o = d.clamp(self.near, self.far);
        }
    }

    /// Normalises metric depth in place with the configured transform.
    pub fn normalise(&self, buf: &mut [f32]) {
        for d in buf {
            *d = normalise(*d, self.near, self.far, self.transform);
        }
    }
}

/// A bounding-volume tree over `(collider index, box)` leaves, keyed as rapier's query pipeline
/// expects.
pub(super) fn leaf_tree(leaves: impl Iterator<Item = (usize, Aabb)>) -> Bvh {
    let leaves: Vec<(usize, Aabb)> = leaves.collect();
    if leaves.len() > 2 {
        Bvh::from_iter(BvhBuildStrategy::Binned, leaves)
    } else {
        // parry 0.31's `from_iter` files one or two leaves under keys 0 and 1 whatever their ids
        // (and then panics looking an id up), so small trees are built by insertion.
        let mut bvh = Bvh::new();
        for (id, aabb) in leaves {
            bvh.insert(aabb, id as u32);
        }
        bvh
    }
}

/// The camera's position in the world for a trunk pose.
fn lens(trunk: &Pose) -> Vector {
    trunk.transform_point(Vector::new(CAMERA_FORWARD, 0.0, 0.0))
}

/// What the camera sees: colliders in the world or sphere groups.
fn camera_groups() -> InteractionGroups {
    InteractionGroups::new(
        Group::ALL,
        WORLD_GROUP | SPHERE_GROUP,
        InteractionTestMode::And,
    )
}

/// Whether some point of `aabb` lies on the side of the plane through `origin` that `normal`
/// points to (the box's corner furthest along the normal decides).
pub(super) fn reaches_positive_side(aabb: &Aabb, origin: Vector, normal: Vector) -> bool {
    let corner = Vector::new(
        if normal.x >= 0.0 {
            aabb.maxs.x
        } else {
            aabb.mins.x
        },
        if normal.y >= 0.0 {
            aabb.maxs.y
        } else {
            aabb.mins.y
        },
        if normal.z >= 0.0 {
            aabb.maxs.z
        } else {
            aabb.mins.z
        },
    );
    (corner - origin).dot(normal) >= 0.0
}

/// The configured depth transform of one metric value.
pub fn normalise(d: f32, near: f32, far: f32, t: DepthTransform) -> f32 {
    match t {
        DepthTransform::LogSqrt => (((d + 1.0).ln()).sqrt() - 1.25) / 0.425,
        DepthTransform::Linear => (d - near) / (far - near),
    }
}

/// Inverse of [`normalise`]: back to metres.
pub fn denormalise(v: f32, near: f32, far: f32, t: DepthTransform) -> f32 {
    match t {
        DepthTransform::LogSqrt => {
            let s = v * 0.425 + 1.25;
            (s * s).exp() - 1.0
        }
        DepthTransform::Linear => v * (far - near) + near,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn normalise_roundtrip() {
        for t in [DepthTransform::LogSqrt, DepthTransform::Linear] {
            for d in [0.3f32, 1.0, 4.2, 10.0] {
                let back = denormalise(normalise(d, 0.3, 10.0, t), 0.3, 10.0, t);
                assert!((back - d).abs() < 1e-4, "{t:?} {d} {back}");
            }
        }
    }
}
