//! Deploying a trained policy from Rust: load it, then feed it a robot's observations every
//! control step and send the joint targets it returns to the motors. Here the robot is the
//! simulator, so the episodes are the ones `runner eval` runs and the mean distance printed
//! equals `runner eval CHECKPOINT --episodes N --seed S`'s.
//!
//! cargo run --release --example deploy -- CHECKPOINT [EPISODES] [SEED]

use std::path::PathBuf;

use anyhow::{Context, Result};
use locomamba::run::deploy::Policy;
use locomamba::run::eval::episode_quota;
use locomamba::sim::VecEnv;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .context("usage: deploy CHECKPOINT [EPISODES] [SEED]")?,
    );
    let episodes: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let seed: u64 = args.next().map_or(Ok(0), |a| a.parse())?;

    // A checkpoint, a run folder, or the folder `runner export` wrote.
    let mut policy = Policy::load(&path)?;
    let mut cfg = policy.recipe().env.clone();
    cfg.num_envs = episodes.clamp(1, cfg.num_envs.max(1));
    let mut env = VecEnv::new(&cfg, seed)?;
    let robots = cfg.num_envs;

    let mut distances: Vec<Vec<f32>> = vec![Vec::new(); robots];
    let quota = |e: usize| episode_quota(episodes, robots, e);
    let mut worst_target_gap = 0.0f32;
    while (0..robots).any(|e| distances[e].len() < quota(e)) {
        // The simulator hands out depth already through the camera's transform; a robot's
        // driver would call `policy.act(proprio, depth_in_metres)` instead.
        let out = policy.act_normalised(env.proprio(), env.depth())?;
        // What the motors would get: the same targets the simulator computes from the action.
        for (e, targets) in out.targets.iter().enumerate() {
            let row = &out.action[e * policy.action_dim()..(e + 1) * policy.action_dim()];
            let sim = env.env(e).targets_from_action(row);
            for (a, b) in targets.iter().zip(sim) {
                worst_target_gap = worst_target_gap.max((a - b).abs());
            }
        }
        env.step(&out.action);
        let step = env.last_output();
        for ep in &step.finished {
            if distances[ep.env].len() < quota(ep.env) {
                distances[ep.env].push(ep.distance);
            }
        }
        // A new episode starts where one ended: the policy forgets that robot's past.
        let starts: Vec<bool> = (0..robots)
            .map(|e| step.terminated[e] || step.truncated[e])
            .collect();
        policy.reset_rows(&starts);
    }
    let all: Vec<f64> = distances.concat().iter().map(|&d| d as f64).collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let std = (all.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
    println!(
        "{} episodes on {}: distance {mean:.2} +- {std:.2} m (largest gap between the policy's \
         targets and the simulator's: {worst_target_gap:.1e} rad)",
        all.len(),
        cfg.task.name()
    );
    Ok(())
}
