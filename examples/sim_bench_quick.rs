//! Quick env throughput check: `cargo run --release --example sim_bench_quick`.
use locomamba::recipe::{EnvConfig, Task};
fn main() {
    let c = EnvConfig::default();
    let r = locomamba::bench::env::bench_env(&c, &[Task::Flat, Task::ThinObstacles], 2, 300)
        .expect("bench");
    print!("{}", r.table().text());
}
