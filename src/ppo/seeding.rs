//! Seeding: every random draw of a run comes from generators derived from its seed, so the same
//! seed gives the same initial weights, and update `u` draws from `(seed, u)` alone.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::nn::{self, ActorCritic, NnError, ObsShape};
use crate::recipe::Recipe;

/// Mixes a seed and an index into a new seed (SplitMix64 finaliser).
pub fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Serialises seeded initialisation: burn may seed a backend's generator globally, so two jobs
/// initialising at once would interleave draws.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds the networks with parameters drawn from `seed` (same seed, same initial weights, on
/// every backend).
pub fn build_seeded(
    recipe: &Recipe,
    shape: &ObsShape,
    device: &Device,
    seed: u64,
) -> Result<ActorCritic, NnError> {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Every backend draws its own random numbers: a GPU's networks are drawn on the CPU and moved,
    // so a seed gives the same initial weights on every backend.
    let inner = device.clone().inner();
    let on_cpu = [
        crate::recipe::CpuBackend::Flex,
        crate::recipe::CpuBackend::Ndarray,
    ]
    .into_iter()
    .any(|b| crate::device::cpu_device_of(b) == inner);
    let draw_on = if on_cpu {
        device.clone()
    } else {
        crate::device::cpu_device().autodiff()
    };
    draw_on.seed(mix_seed(seed, u64::MAX));
    let model = nn::build_actor_critic(recipe, shape, &draw_on)?;
    // burn initialises parameters lazily; draw them all now, in module order, under the lock.
    model.visit(&mut InitializeNow);
    Ok(if on_cpu { model } else { model.fork(device) })
}

/// Touches every parameter so lazily initialised ones are drawn immediately.
struct InitializeNow;

impl ModuleVisitor for InitializeNow {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// A standard normal sample (Box-Muller).
pub fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}
