//! Grid search over the open-loop trot's parameters on flat ground (`cargo run --release
//! --example trot_search [1|0]`, 1 = domain randomisation on): prints the parameter sets whose
//! worst forward distance over 10 seeds of 10 s is largest. `Trot::default()` came from it.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::Env;
use locomamba::sim::gait::Trot;
fn main() {
    let args: Vec<f32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let dr = args.first().copied().unwrap_or(1.0) > 0.5;
    let mut results = Vec::new();
    for period in [9.0f32, 10.0, 11.0] {
        for hip in [0.15f32, 0.2, 0.25, 0.3] {
            for knee in [0.4f32, 0.45, 0.5] {
                for lag in [0.15f32, 0.25, 0.35] {
                    let trot = Trot {
                        period_steps: period,
                        hip,
                        knee,
                        knee_lag: lag,
                    };
                    let mut dists = Vec::new();
                    let mut falls = 0;
                    for seed in 0..10u64 {
                        let cfg = EnvConfig {
                            task: Task::Flat,
                            domain_randomization: dr,
                            ..EnvConfig::default()
                        };
                        let mut env = Env::new(&cfg, 100 + seed, 1.0).unwrap();
                        let x0 = env.trunk_pose().translation.x;
                        let mut fell = false;
                        for t in 0..250 {
                            let r = env.step(&trot.action(&cfg, t));
                            if r.terminated {
                                fell = true;
                                break;
                            }
                        }
                        falls += fell as usize;
                        dists.push(env.trunk_pose().translation.x - x0);
                    }
                    let min = dists.iter().cloned().fold(f32::INFINITY, f32::min);
                    let mean = dists.iter().sum::<f32>() / dists.len() as f32;
                    results.push((min, mean, falls, trot));
                }
            }
        }
    }
    results.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    for r in results.iter().take(12) {
        println!("min {:.2} mean {:.2} falls {} {:?}", r.0, r.1, r.2, r.3);
    }
}
