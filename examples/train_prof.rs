//! Times the whole actor-critic training step of a recipe (forward, backward and Adam at one
//! minibatch, as `runner bench nets` does) in a loop suited to `perf record`:
//! `cargo run --release --example train_prof -- [RECIPE] [BATCH] [REPEATS]` (default
//! recipes/walk_flat.toml, 512, 10).

use std::path::PathBuf;
use std::time::Instant;

use locomamba::bench::train_step::TrainStep;
use locomamba::device::cpu_device;
use locomamba::recipe::{Overrides, load};
use locomamba::run::export::obs_shape;
use locomamba::run::threads::on_pool;

#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

fn main() {
    locomamba::bench::alloc::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let recipe_path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "recipes/walk_flat.toml".into()),
    );
    let batch: usize = args
        .next()
        .map_or(512, |s| s.parse().expect("BATCH is a number"));
    let repeats: usize = args
        .next()
        .map_or(10, |s| s.parse().expect("REPEATS is a number"));
    let recipe = load(&recipe_path, &Overrides::default()).expect("a valid recipe");
    let shape = obs_shape(&recipe).expect("a known env");
    let device = cpu_device().autodiff();
    let mut step = TrainStep::new(&recipe, &shape, batch, &device).expect("a valid network");
    // On a pool's worker, as the runner runs every command.
    let ms = on_pool(None, || {
        step.run();
        let start = Instant::now();
        for _ in 0..repeats {
            step.run();
        }
        start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64
    })
    .expect("a thread pool");
    println!(
        "{}: {ms:.1} ms per train step at batch {batch}",
        recipe_path.display()
    );
}
