//! Writes a depth PNG of the thin-obstacles start view to the path given as the first argument.
use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::{Env, write_depth_png};
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "depth.png".into());
    let c = EnvConfig {
        task: Task::ThinObstacles,
        domain_randomization: false,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    };
    let mut env = Env::new(&c, 3, 1.0).expect("env");
    for _ in 0..5 {
        env.step(&[0.0; 6]);
    }
    let mut m = vec![0.0; c.depth.width * c.depth.height];
    env.render_metric(&mut m);
    write_depth_png(
        std::path::Path::new(&path),
        &m,
        c.depth.width,
        c.depth.height,
        c.depth.near,
        c.depth.far,
    )
    .expect("png");
    println!("trunk {:?}", env.trunk_pose().translation);
}
