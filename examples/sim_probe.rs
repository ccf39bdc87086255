//! Prints the standing height band and how often random actions end episodes.
use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::Env;
fn main() {
    let c = EnvConfig {
        task: Task::Flat,
        domain_randomization: false,
        start_xy_range: 0.0,
        ..EnvConfig::default()
    };
    let mut env = Env::new(&c, 3, 1.0).expect("env");
    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
    for s in 0..125 {
        env.step(&[0.0; 6]);
        let z = env.trunk_pose().translation.z;
        if s >= 10 {
            lo = lo.min(z);
            hi = hi.max(z);
        }
    }
    println!("standing height band [{lo:.4}, {hi:.4}]");
    let c = EnvConfig {
        task: Task::ThinObstacles,
        ..EnvConfig::default()
    };
    let mut env = Env::new(&c, 3, 1.0).expect("env");
    let mut ends = 0;
    let mut x = 0.1f32;
    for _ in 0..1000 {
        let a: Vec<f32> = (0..6)
            .map(|k| {
                x = (x * 3.7 + k as f32).sin();
                x
            })
            .collect();
        let r = env.step(&a);
        if r.terminated {
            ends += 1;
            env.reset(ends as u64, 1.0).expect("reset");
        }
    }
    println!("random-action falls in 1000 steps: {ends}");
    let c = EnvConfig {
        task: Task::ThinObstacles,
        domain_randomization: false,
        ..EnvConfig::default()
    };
    let mut env = Env::new(&c, 5, 1.0).expect("env");
    let t0 = std::time::Instant::now();
    for _ in 0..1600 {
        env.settle();
    }
    println!(
        "physics sub-step alone: {:.1} us",
        t0.elapsed().as_secs_f64() * 1e6 / 1600.0
    );
    let t0 = std::time::Instant::now();
    for _ in 0..100 {
        env.reset(9, 1.0).expect("reset");
    }
    println!("reset: {:.3} ms", t0.elapsed().as_secs_f64() * 1e3 / 100.0);
}
