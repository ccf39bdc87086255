//! The ray-cast depth camera: one ray per pixel through rapier's query pipeline.

use crate::recipe::{DepthConfig, DepthTransform};
use crate::sim::robot::{SPHERE_GROUP, WORLD_GROUP};
use rapier3d::prelude::*;

/// Camera position ahead of the trunk centre along the body x axis, in metres.
pub const CAMERA_FORWARD: f32 = 0.23;
/// Horizontal-to-vertical aspect of the image plane, as the original's.
pub const ASPECT: f32 = 1.6;

/// Per-pixel unit ray directions in the body frame, precomputed once.
#[derive(Debug, Clone)]
pub struct Camera {
    dirs: Vec<Vector>,
    /// Forward component of each direction (metric ray length -> z-depth).
    fwd: Vec<f32>,
    near: f32,
    far: f32,
    transform: DepthTransform,
}

impl Camera {
    /// Builds the pixel rays of a camera from its configuration.
    pub fn new(cfg: &DepthConfig) -> Camera {
        let tv = (cfg.vertical_fov_deg.to_radians() * 0.5).tan();
        let th = tv * ASPECT;
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
        Camera {
            dirs,
            fwd,
            near: cfg.near,
            far: cfg.far,
            transform: cfg.transform,
        }
    }

    /// Metric z-depth (along the optical axis) of every pixel, clipped to [near, far].
    pub fn render_metric(&self, world: &PhysicsWorld, trunk: &Pose, out: &mut [f32]) {
        let origin = trunk.transform_point(Vector::new(CAMERA_FORWARD, 0.0, 0.0));
        let filter = QueryFilter::new().groups(InteractionGroups::new(
            Group::ALL,
            WORLD_GROUP | SPHERE_GROUP,
            InteractionTestMode::And,
        ));
        let qp = world.query_pipeline_with_filter(filter);
        let max_len = self.far / self.fwd.iter().cloned().fold(1.0, f32::min);
        for (k, o) in out.iter_mut().enumerate() {
            let dir = trunk.rotation * self.dirs[k];
            let ray = Ray::new(origin, dir);
            let d = match qp.cast_ray(&ray, max_len, true) {
                Some((_, toi)) => toi * self.fwd[k],
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
