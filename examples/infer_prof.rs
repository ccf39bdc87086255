//! Times rollout inference (`act_and_value`) of a recipe's actor-critic at a batch, in a loop
//! suited to `perf record`: `cargo run --release --example infer_prof -- [RECIPE] [BATCH] [REPEATS]`.

use std::path::PathBuf;
use std::time::Instant;

use locomamba::bench::train_step::random_inputs;
use locomamba::device::cpu_device;
use locomamba::nn::registry::build_actor_critic;
use locomamba::recipe::{Overrides, load};
use locomamba::run::export::obs_shape;
use locomamba::run::threads::on_pool;

fn main() {
    let mut args = std::env::args().skip(1);
    let recipe_path = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "recipes/walk_flat.toml".into()),
    );
    let batch: usize = args
        .next()
        .map_or(16, |s| s.parse().expect("BATCH is a number"));
    let repeats: usize = args
        .next()
        .map_or(200, |s| s.parse().expect("REPEATS is a number"));
    let recipe = load(&recipe_path, &Overrides::default()).expect("a valid recipe");
    let shape = obs_shape(&recipe).expect("a known env");
    let device = cpu_device();
    let model = build_actor_critic(&recipe, &shape, &device).expect("a valid network");
    let asym = recipe.ppo.asymmetric_critic;
    let inputs = random_inputs(&shape, batch, asym, &device);
    let ms = on_pool(None, || {
        let _ = model.act_and_value(inputs.clone(), None);
        let start = Instant::now();
        for _ in 0..repeats {
            let (m, v, _) = model.act_and_value(inputs.clone(), None);
            let _ = (m.into_data(), v.into_data());
        }
        start.elapsed().as_secs_f64() * 1e3 / repeats.max(1) as f64
    })
    .expect("a thread pool");
    println!(
        "{}: {ms:.3} ms per act_and_value at batch {batch}",
        recipe_path.display()
    );
}
