//! Throughput benchmark; run with
//! `cargo test --release --test sim bench -- --ignored --nocapture`.

use locomamba::bench::env::bench_env;
use locomamba::recipe::{EnvConfig, Task};

#[test]
#[ignore]
fn bench_all_tasks() {
    let c = EnvConfig::default();
    let report = bench_env(&c, &Task::ALL, 4, 300).unwrap();
    print!("{}", report.table().text());
    assert_eq!(report.rows.len(), Task::ALL.len());
    assert!(
        report
            .rows
            .iter()
            .all(|r| r.single_steps_per_s > 0.0 && r.depth_ms > 0.0)
    );
}
