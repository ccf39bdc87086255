//! Does a trained policy hold its course? Runs a checkpoint's deterministic policy for one episode
//! on 8 envs of its recipe (episode seeds from `SEED`, as `runner eval --seed` draws them) and
//! prints each env's trunk position and yaw every 200 control steps, then per env the distance
//! along +x (what the reward and `runner eval` count), the length of the path walked, and the
//! final yaw. A policy that turns off +x walks a longer path than its distance.
//!
//! `cargo run --release --example course_probe -- RUN_OR_CHECKPOINT [SEED]`
use anyhow::{Context, Result};
use locomamba::run::deploy::Policy;
use locomamba::sim::VecEnv;
use locomamba::sim::privileged::yaw_of;

fn yaw_deg(env: &VecEnv, e: usize) -> f32 {
    yaw_of(&env.env(e).trunk_pose().rotation).to_degrees()
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().context("usage: course_probe RUN [SEED]")?);
    let seed: u64 = args.next().map_or(Ok(0), |a| a.parse())?;
    let mut policy = Policy::load(&path)?;
    let mut cfg = policy.recipe().env.clone();
    cfg.num_envs = 8;
    let mut env = VecEnv::new(&cfg, seed)?;
    let start: Vec<_> = (0..8)
        .map(|e| env.env(e).trunk_pose().translation)
        .collect();
    let mut last = start.clone();
    let mut path = [0.0f32; 8];
    let mut done = [false; 8];
    // The last step truncates every episode and resets the envs: stop one short of it.
    for s in 1..cfg.horizon {
        let out = policy.act_normalised(env.proprio(), env.depth())?;
        env.step(&out.action);
        let step = env.last_output();
        for e in 0..8 {
            done[e] |= step.terminated[e] || step.truncated[e];
            if !done[e] {
                let p = env.env(e).trunk_pose().translation;
                path[e] += (p.x - last[e].x).hypot(p.y - last[e].y);
                last[e] = p;
            }
        }
        if s % 200 == 0 {
            let cells: Vec<String> = (0..8)
                .map(|e| {
                    format!(
                        "({:5.1},{:5.1} {:4.0}d)",
                        last[e].x,
                        last[e].y,
                        yaw_deg(&env, e)
                    )
                })
                .collect();
            println!("step {s:4}: {}", cells.join(" "));
        }
    }
    let secs = (cfg.horizon - 1) as f32 * cfg.time_step_s * cfg.action_repeat as f32;
    for e in 0..8 {
        let along_x = last[e].x - start[e].x;
        println!(
            "env {e}: {along_x:5.1} m along +x ({:.2} m/s), path {:5.1} m ({:.2} m/s), yaw {:4.0} deg{}",
            along_x / secs,
            path[e],
            path[e] / secs,
            yaw_deg(&env, e),
            if done[e] { ", episode ended early" } else { "" }
        );
    }
    Ok(())
}
