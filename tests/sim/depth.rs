//! The depth camera reads known distances and the far clip on an empty view.

use locomamba::recipe::{DepthTransform, EnvConfig, Task};
use locomamba::sim::Env;
use locomamba::sim::depth::{CAMERA_FORWARD, denormalise};
use locomamba::sim::robot::{TAG_OBSTACLE, WORLD_GROUP};
use rapier3d::prelude::*;

fn cfg() -> EnvConfig {
    EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    }
}

#[test]
fn wall_at_known_distance_reads_that_distance() {
    let c = cfg();
    let mut env = Env::new(&c, 1, 1.0).unwrap();
    let pose = env.trunk_pose();
    let cam = pose.transform_point(Vector::new(CAMERA_FORWARD, 0.0, 0.0));
    let dist = 2.0;
    env.world_mut().insert_collider(
        ColliderBuilder::cuboid(0.05, 5.0, 5.0)
            .translation(Vector::new(cam.x + dist + 0.05, cam.y, 0.0))
            .collision_groups(InteractionGroups::all().with_memberships(WORLD_GROUP))
            .user_data(TAG_OBSTACLE),
        None,
    );
    env.settle();
    let pose = env.trunk_pose();
    let cam2 = pose.transform_point(Vector::new(CAMERA_FORWARD, 0.0, 0.0));
    let (w, h) = (c.depth.width, c.depth.height);
    let mut m = vec![0.0; w * h];
    env.render_metric(&mut m);
    // Centre of the image: average the 4 central pixels (even size), correct for the camera pitch.
    let centre = [
        (h / 2 - 1) * w + w / 2 - 1,
        (h / 2 - 1) * w + w / 2,
        (h / 2) * w + w / 2 - 1,
        (h / 2) * w + w / 2,
    ];
    let d: f32 = centre.iter().map(|&k| m[k]).sum::<f32>() / 4.0;
    let fwd = pose.rotation * Vector::X;
    let expected = (cam.x + dist - cam2.x) / fwd.x;
    assert!((d - expected).abs() < 0.01, "read {d}, expected {expected}");
    // Through the normalised pipeline as well.
    let v = locomamba::sim::depth::normalise(d, c.depth.near, c.depth.far, c.depth.transform);
    let back = denormalise(v, c.depth.near, c.depth.far, c.depth.transform);
    assert!((back - expected).abs() < 0.01);
}

#[test]
fn empty_view_reads_far_clip() {
    let mut c = cfg();
    c.depth.transform = DepthTransform::Linear;
    let env = Env::new(&c, 1, 1.0).unwrap();
    let (w, h) = (c.depth.width, c.depth.height);
    let mut m = vec![0.0; w * h];
    env.render_metric(&mut m);
    // The top row looks above the horizon: nothing there.
    assert!(m[..w].iter().all(|&d| d == c.depth.far), "{:?}", &m[..4]);
    // Normalised observation of the top row is exactly 1 (linear transform, newest frame).
    assert!(env.depth()[..w].iter().all(|&v| (v - 1.0).abs() < 1e-6));
}

#[test]
fn png_is_written() {
    let c = cfg();
    let env = Env::new(&c, 1, 1.0).unwrap();
    let mut m = vec![0.0; c.depth.width * c.depth.height];
    env.render_metric(&mut m);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.png");
    locomamba::sim::write_depth_png(
        &p,
        &m,
        c.depth.width,
        c.depth.height,
        c.depth.near,
        c.depth.far,
    )
    .unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let err =
        locomamba::sim::write_depth_png(&p, &m[1..], c.depth.width, c.depth.height, 0.3, 10.0);
    assert!(err.unwrap_err().to_string().contains("pixels"));
}

#[test]
fn spheres_are_seen_by_the_camera() {
    use locomamba::sim::depth::Camera;
    use locomamba::sim::terrain::SPHERE_RADIUS;
    let mut c = cfg();
    c.task = Task::Spheres;
    let env = Env::new(&c, 3, 1.0).unwrap();
    let sphere = env
        .scene()
        .spheres
        .first()
        .expect("the spheres task places spheres");
    // The camera 0.5 m behind the sphere's centre, looking along +x: obstacles keep at least
    // 0.9 m from a sphere, so nothing else can be in between.
    let gap = 0.5;
    let [sx, sy, sz] = sphere.pos;
    let pose = Pose::from_translation(Vector::new(sx - gap - CAMERA_FORWARD, sy, sz));
    let camera = Camera::new(&c.depth);
    let (w, h) = (c.depth.width, c.depth.height);
    let mut m = vec![0.0; w * h];
    camera.render_metric(env.world(), &pose, &mut m);
    let centre = (h / 2) * w + w / 2;
    let expected = gap - SPHERE_RADIUS;
    assert!(
        (m[centre] - expected).abs() < 0.01,
        "read {}, expected {expected}",
        m[centre]
    );
}

#[test]
fn culled_camera_equals_rays_through_the_whole_broad_phase() {
    use locomamba::sim::depth::Camera;
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for task in Task::ALL {
        let mut c = cfg();
        c.task = task;
        let mut env = Env::new(&c, 5, 1.0).unwrap();
        // Moving obstacles away from where the broad phase first saw them.
        for _ in 0..3 {
            env.step(&[0.0; 6]);
        }
        let camera = Camera::new(&c.depth);
        let n = c.depth.width * c.depth.height;
        let (mut culled, mut whole) = (vec![0.0; n], vec![0.0; n]);
        let mut poses = vec![env.trunk_pose()];
        for _ in 0..12 {
            let t = Vector::new(
                rng.random_range(-2.0..30.0),
                rng.random_range(-3.0..3.0),
                rng.random_range(0.15..2.5),
            );
            let r = Rotation::from_rotation_z(rng.random_range(-3.1..3.1))
                * Rotation::from_rotation_y(rng.random_range(-0.8..0.8))
                * Rotation::from_rotation_x(rng.random_range(-0.8..0.8));
            poses.push(Pose::from_parts(t, r));
        }
        for pose in &poses {
            camera.render_metric(env.world(), pose, &mut culled);
            camera.render_metric_unculled(env.world(), pose, &mut whole);
            let differ = culled.iter().zip(&whole).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "{task:?} at {pose:?}: {differ} pixels differ");
        }
    }
}

#[test]
fn rotated_boxes_read_as_through_the_whole_broad_phase() {
    use locomamba::sim::depth::Camera;
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let c = cfg();
    let mut env = Env::new(&c, 2, 1.0).unwrap();
    let cam = env
        .trunk_pose()
        .transform_point(Vector::new(CAMERA_FORWARD, 0.0, 0.0));
    // Boxes turned about random axes ahead of the camera, some of them overlapping.
    for _ in 0..12 {
        let rotation = Rotation::from_rotation_z(rng.random_range(-3.1..3.1))
            * Rotation::from_rotation_y(rng.random_range(-1.5..1.5))
            * Rotation::from_rotation_x(rng.random_range(-3.1..3.1));
        let at = Vector::new(
            cam.x + rng.random_range(0.6..4.0),
            cam.y + rng.random_range(-1.5..1.5),
            rng.random_range(0.0..0.8),
        );
        env.world_mut().insert_collider(
            ColliderBuilder::cuboid(
                rng.random_range(0.05..0.6),
                rng.random_range(0.05..0.6),
                rng.random_range(0.05..0.6),
            )
            .position(Pose::from_parts(at, rotation))
            .collision_groups(InteractionGroups::all().with_memberships(WORLD_GROUP))
            .user_data(TAG_OBSTACLE),
            None,
        );
    }
    env.settle();
    let camera = Camera::new(&c.depth);
    let n = c.depth.width * c.depth.height;
    let (mut culled, mut whole) = (vec![0.0; n], vec![0.0; n]);
    let base = env.trunk_pose();
    for k in 0..8 {
        let turn = Rotation::from_rotation_z(0.15 * k as f32 - 0.5)
            * Rotation::from_rotation_y(0.05 * k as f32 - 0.2);
        let pose = Pose::from_parts(base.translation, turn * base.rotation);
        camera.render_metric(env.world(), &pose, &mut culled);
        camera.render_metric_unculled(env.world(), &pose, &mut whole);
        let near_boxes = culled.iter().filter(|&&d| d < 4.5).count();
        assert!(near_boxes > n / 20, "the boxes fill part of view {k}");
        let differ = culled.iter().zip(&whole).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "view {k}: {differ} pixels differ");
    }
}
