//! Times the whole actor-critic training step of a recipe (forward, backward and Adam at one
//! minibatch, as `runner bench nets` does) in a loop suited to `perf record`:
//! `cargo run --release --example train_prof -- [RECIPE] [BATCH] [REPEATS]` (default
//! recipes/walk_flat.toml, 512, 10).

use std::path::PathBuf;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::registry::build_actor_critic;
use locomamba::recipe::{Overrides, load};
use locomamba::run::export::obs_shape;

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
    let mut model = build_actor_critic(&recipe, &shape, &device).expect("a valid network");
    let mut optim = AdamConfig::new().init();
    let proprio = Tensor::<2>::random([batch, shape.proprio_dim], Distribution::Default, &device);
    let depth = Tensor::<4>::random(
        [
            batch,
            shape.depth_frames,
            shape.depth_height,
            shape.depth_width,
        ],
        Distribution::Default,
        &device,
    );
    let privileged = model.asymmetric().then(|| {
        Tensor::<2>::random(
            [batch, shape.privileged_dim],
            Distribution::Default,
            &device,
        )
    });
    let mut step = || {
        let (mean, value) = model.forward(proprio.clone(), depth.clone(), privileged.clone());
        let loss = mean.powi_scalar(2).mean() + value.powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model.clone(), grads);
    };
    step();
    let start = Instant::now();
    for _ in 0..repeats {
        step();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64;
    println!(
        "{}: {ms:.1} ms per train step at batch {batch}",
        recipe_path.display()
    );
}
