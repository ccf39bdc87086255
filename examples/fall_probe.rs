//! How does a trained policy fall? Runs a checkpoint's deterministic policy for one episode on
//! `N` envs of its recipe (episode seeds from `SEED`, as `runner eval --seed` draws them) and
//! prints, for each env that fell, the control step of the fall and the trunk's state one step
//! before it (the env resets on the falling step): height above the ground, the z component of
//! its up axis (a fall is below 0.6), roll and pitch, forward and lateral speed; then the trunk's
//! roll and pitch over the last 10 steps, which tells a stumble from a slow topple.
//!
//! With `STEPS`, only the first `STEPS` control steps run; with a fifth argument `prior`, the
//! envs get zero actions (the trot prior alone, at its nominal frequency and amplitude) instead of
//! the policy's; with `stand`, zero actions and no trot (the standing pose held). `SETTLE_S` sets
//! `env.settle_s`, the standing before the first step.
//!
//! `cargo run --release --example fall_probe -- RUN_OR_CHECKPOINT [SEED] [N] [STEPS] [policy|prior|stand] [SETTLE_S]`
use anyhow::{Context, Result};
use locomamba::run::deploy::Policy;
use locomamba::sim::VecEnv;

/// Height, up-axis z, roll and pitch (degrees) and planar velocity of env `e`'s trunk.
fn trunk_state(env: &VecEnv, e: usize) -> [f32; 6] {
    use rapier3d::math::Vector;
    let body = &env.env(e).world().bodies[env.env(e).robot().trunk];
    let (p, v, rot) = (body.translation(), body.linvel(), *body.rotation());
    let (forward, left, up) = (rot * Vector::X, rot * Vector::Y, rot * Vector::Z);
    let pitch = forward.z.asin(); // nose up positive
    let roll = left.z.atan2(up.z);
    [
        p.z - env.env(e).scene().ground_height(p.x, p.y),
        up.z,
        roll.to_degrees(),
        pitch.to_degrees(),
        v.x,
        v.y,
    ]
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: fall_probe RUN [SEED] [N] [STEPS] [policy|prior|stand] [SETTLE_S]";
    let path = std::path::PathBuf::from(args.next().context(usage)?);
    let seed: u64 = args.next().map_or(Ok(0), |a| a.parse())?;
    let n: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let steps: Option<usize> = args.next().map(|a| a.parse()).transpose()?;
    let mode = args.next();
    let prior = matches!(mode.as_deref(), Some("prior" | "stand"));
    let settle_s: Option<f32> = args.next().map(|a| a.parse()).transpose()?;
    let mut policy = Policy::load(&path)?;
    let mut cfg = policy.recipe().env.clone();
    cfg.num_envs = n;
    if let Some(settle_s) = settle_s {
        cfg.settle_s = settle_s;
    }
    let steps = steps.unwrap_or(cfg.horizon).min(cfg.horizon);
    if mode.as_deref() == Some("stand") {
        cfg.trot.hip = 0.0;
        cfg.trot.knee = 0.0;
    }
    let mut env = VecEnv::new(&cfg, seed)?;
    let mut done = vec![false; n];
    let mut history: Vec<Vec<[f32; 6]>> = vec![Vec::new(); n];
    for s in 1..steps {
        let before: Vec<[f32; 6]> = (0..n).map(|e| trunk_state(&env, e)).collect();
        for (past, now) in history.iter_mut().zip(&before) {
            past.push(*now);
        }
        let out = policy.act_normalised(env.proprio(), env.depth())?;
        if prior {
            let zeros = vec![0.0; out.action.len()];
            env.step(&zeros);
        } else {
            env.step(&out.action);
        }
        let step = env.last_output();
        for e in 0..n {
            if done[e] {
                continue;
            }
            if step.terminated[e] {
                let [h, up, roll, pitch, vx, vy] = before[e];
                println!(
                    "env {e}: fell at step {s}: height {h:.3} m, up_z {up:.2}, roll {roll:5.1}, pitch {pitch:5.1} deg, vx {vx:.2}, vy {vy:.2} m/s"
                );
                let last: Vec<String> = history[e]
                    .iter()
                    .rev()
                    .take(10)
                    .rev()
                    .map(|t| format!("{:.0}/{:.0}@{:.2}", t[2], t[3], t[0]))
                    .collect();
                println!("   roll/pitch@height, last 10 steps: {}", last.join(" "));
            }
            done[e] |= step.terminated[e] || step.truncated[e];
        }
    }
    let ended = (0..n).filter(|&e| done[e]).count();
    println!("{ended} of {n} episodes ended within {steps} steps");
    Ok(())
}
