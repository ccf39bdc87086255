//! The third-person view of the videos: a known scene (a wall ahead of the camera, the robot
//! below it) shows the wall where it should be, sky above it, ground below, and the robot.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::Env;
use locomamba::sim::robot::{TAG_OBSTACLE, WORLD_GROUP};
use locomamba::sim::view::{Surface, VERTICAL_FOV_DEG, View};
use rapier3d::prelude::*;

const W: usize = 160;
const H: usize = 120;

fn pixel(rgb: &[u8], x: usize, y: usize) -> [u8; 3] {
    let k = (y * W + x) * 3;
    [rgb[k], rgb[k + 1], rgb[k + 2]]
}

/// Whether `c` is the obstacle colour under some lighting (red clearly above green and blue).
fn reddish(c: [u8; 3]) -> bool {
    c[0] as i32 > c[1] as i32 + 40 && c[0] as i32 > c[2] as i32 + 40
}

/// Whether `c` is sky (blue above red).
fn sky(c: [u8; 3]) -> bool {
    c[2] as i32 > c[0] as i32 + 15
}

/// Whether `c` is the ground's grey (channels within a few levels).
fn grey(c: [u8; 3]) -> bool {
    let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
    hi - lo < 16 && *lo > 60
}

#[test]
fn a_wall_ahead_fills_the_middle_of_the_frame_between_sky_and_ground() {
    let cfg = EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    };
    let mut env = Env::new(&cfg, 1, 1.0).unwrap();
    // A wall 2 m ahead of the eye, 2 m wide (|y| <= 1) and 1 m tall, facing the camera.
    let (eye, wall_x) = (Vector::new(1.0, 0.0, 0.5), 3.0);
    env.world_mut().insert_collider(
        ColliderBuilder::cuboid(0.05, 1.0, 0.5)
            .translation(Vector::new(wall_x + 0.05, 0.0, 0.5))
            .collision_groups(InteractionGroups::all().with_memberships(WORLD_GROUP))
            .user_data(TAG_OBSTACLE),
        None,
    );
    let view = View::new(W, H);
    let mut rgb = vec![0u8; W * H * 3];
    view.render(env.world(), eye, eye + Vector::X, &mut rgb);
    let centre = pixel(&rgb, W / 2, H / 2);
    assert!(reddish(centre), "centre {centre:?} is the wall");
    // The wall's side edges at |y| = 1 m, 2 m away: u = 0.5 of the half-width's tangent.
    let tan_v = (VERTICAL_FOV_DEG.to_radians() / 2.0).tan();
    let tan_h = tan_v * W as f32 / H as f32;
    let edge = (0.5 * (1.0 + 0.5 / tan_h) * W as f32) as usize;
    assert!(
        reddish(pixel(&rgb, edge - 3, H / 2)),
        "just inside the right edge"
    );
    assert!(
        !reddish(pixel(&rgb, edge + 3, H / 2)),
        "just outside the right edge"
    );
    assert!(
        reddish(pixel(&rgb, W - edge + 3, H / 2)),
        "just inside the left edge"
    );
    // Its top at z = 1, 0.5 m above the eye: v = 0.25 of the vertical tangent's scale.
    let top = (0.5 * (1.0 - 0.25 / tan_v) * H as f32) as usize;
    assert!(
        reddish(pixel(&rgb, W / 2, top + 3)),
        "just below the top edge"
    );
    assert!(
        sky(pixel(&rgb, W / 2, 2)),
        "sky above: {:?}",
        pixel(&rgb, W / 2, 2)
    );
    let below = pixel(&rgb, W / 2, H - 3);
    assert!(grey(below), "ground below: {below:?}");
    // The robot, standing at the origin, seen from above and behind.
    let trunk = env.trunk_pose().translation;
    let eye = trunk + Vector::new(-1.0, 0.0, 0.6);
    view.render(env.world(), eye, trunk, &mut rgb);
    let trunk_colour = Surface::Trunk.albedo(trunk);
    let c = pixel(&rgb, W / 2, H / 2);
    assert!(
        c[2] > c[0] + 40 && (c[2] as f32) <= trunk_colour[2] + 1.0,
        "the trunk's blue at the centre: {c:?}"
    );
}
