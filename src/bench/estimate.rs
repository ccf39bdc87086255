//! The wall time a run of a recipe will take on this machine, for `runner describe`: a short
//! measured burst of each part of an update (the simulator, policy inference at the env count, one
//! training step at the minibatch size) scaled to the recipe's budget. A few seconds of
//! measurement; the figure is a guide (evaluations and checkpoints add to it, the curriculum and
//! the robot's falls change the simulator's rate).

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bench::BenchError;
use crate::bench::env::vec_env_rate;
use crate::bench::nets::mean_ms;
use crate::bench::train_step::{TrainStep, random_inputs};
use crate::nn::{ObsShape, build_actor_critic};
use crate::recipe::Recipe;
use crate::sim::EnvSpec;

/// What the burst measured and the estimate it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeEstimate {
    /// Policy steps per second of the recipe's envs (random actions), on the current threads.
    pub sim_steps_per_s: f64,
    /// Milliseconds of one inference of policy and value at the env count.
    pub inference_ms: f64,
    /// Milliseconds of one training step (forward, backward, Adam) at the minibatch size.
    pub train_step_ms: f64,
    /// Seconds of one update: the rollout (simulator and inference) and its minibatch steps.
    pub update_s: f64,
    /// Seconds of the whole run.
    pub run_s: f64,
}

/// Measures the parts of an update of `recipe` on `device` and scales them to the run.
pub fn estimate(recipe: &Recipe, device: &Device) -> Result<TimeEstimate, BenchError> {
    let env = &recipe.env;
    let envs = env.num_envs.max(1);
    let spec = EnvSpec::of(env)?;
    let shape = ObsShape::from(&spec);
    let sim_steps = (256 / envs).clamp(4, 64);
    let sim_steps_per_s = vec_env_rate(env, sim_steps, &mut ChaCha8Rng::seed_from_u64(3))?;
    let model = build_actor_critic(recipe, &shape, device)?;
    let inputs = random_inputs(&shape, envs, model.asymmetric(), device);
    // As the rollout acts: both branches, at the same time.
    let inference_ms = mean_ms(3, || {
        let (m, v, _) = model.act_and_value(inputs.clone(), None);
        let _ = (m.into_data(), v.into_data());
    });
    let batch = recipe.ppo.minibatch_size.max(1);
    let mut step = TrainStep::new(recipe, &shape, batch, &device.clone().autodiff())?;
    let train_step_ms = mean_ms(1, || step.run());
    let ppo = &recipe.ppo;
    let rollout = ppo.rollout_steps as f64;
    let steps_per_env = rollout / envs as f64;
    let minibatches = (ppo.rollout_steps / batch).max(1) as f64 * ppo.epochs as f64;
    let update_s = rollout / sim_steps_per_s
        + steps_per_env * inference_ms / 1e3
        + minibatches * train_step_ms / 1e3;
    let updates = recipe
        .experiment
        .total_env_steps
        .div_ceil(ppo.rollout_steps.max(1) as u64)
        .max(1);
    Ok(TimeEstimate {
        sim_steps_per_s,
        inference_ms,
        train_step_ms,
        update_s,
        run_s: update_s * updates as f64,
    })
}

/// Seconds as hours and minutes (`2 h 05 min`), or minutes and seconds below an hour.
pub fn human_duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_or_minutes() {
        assert_eq!(human_duration(7500.0), "2 h 05 min");
        assert_eq!(human_duration(59.4), "0 min 59 s");
        assert_eq!(human_duration(61.0), "1 min 01 s");
    }
}
