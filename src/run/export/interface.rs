//! What surrounds the network in an exported policy, in the units a robot has: the running
//! observation normaliser and its clip, the depth camera's clip and transform, and the action
//! mapping (tanh, the diagonal mirroring, the trot prior at the input phase with its modulation,
//! the clip and the stand pose) to joint position targets, with the trot's next phase.

use std::f32::consts::{PI, TAU};

use super::graph::Graph;
use crate::ppo::normalizer::RunningNorm;
use crate::recipe::{ActionMode, DepthTransform, EnvConfig};
use crate::sim::action::joint_clip;
use crate::sim::robot::a1;

/// Raw proprioception `[B, P]` -> what the networks read: `(x - mean) / sqrt(var + 1e-8)`,
/// clipped to +- the normaliser's clip (the identity without a normaliser).
pub fn normalise_proprio(g: &mut Graph, x: &str, norm: Option<&RunningNorm>) -> String {
    let Some(norm) = norm else {
        return x.to_string();
    };
    let dim = norm.dim();
    let mean: Vec<f32> = norm.mean.iter().map(|&m| m as f32).collect();
    let inv_std: Vec<f32> = norm
        .var
        .iter()
        .map(|&v| (1.0 / (v + 1e-8).sqrt()) as f32)
        .collect();
    let mean = g.constant("obs_mean", &[dim], &mean);
    let inv_std = g.constant("obs_inv_std", &[dim], &inv_std);
    let centred = g.sub(x, &mean);
    let z = g.mul(&centred, &inv_std);
    let (lo, hi) = (g.scalar(-norm.clip), g.scalar(norm.clip));
    g.op("Clip", &[&z, &lo, &hi], &[])
}

/// Depth in metres `[B, F, H, W]` -> the networks' input: clipped to the camera's `[near, far]`,
/// then the configured transform.
pub fn normalise_depth(g: &mut Graph, metres: &str, env: &EnvConfig) -> String {
    let d = &env.depth;
    let (near, far) = (g.scalar(d.near), g.scalar(d.far));
    let clipped = g.op("Clip", &[metres, &near, &far], &[]);
    match d.transform {
        DepthTransform::LogSqrt => {
            let one = g.scalar(1.0);
            let shifted = g.add(&clipped, &one);
            let log = g.unary("Log", &shifted);
            let root = g.unary("Sqrt", &log);
            let offset = g.scalar(1.25);
            let centred = g.sub(&root, &offset);
            let scale = g.scalar(0.425);
            g.div(&centred, &scale)
        }
        DepthTransform::Linear => {
            let shifted = g.sub(&clipped, &near);
            let range = g.scalar(d.far - d.near);
            g.div(&shifted, &range)
        }
    }
}

/// Output columns of the raw action that drive joint `k`: with `diagonal_act`, FR = RL use
/// outputs 0..3 and FL = RR use 3..6.
fn joint_columns(env: &EnvConfig) -> Vec<i64> {
    (0..12)
        .map(|k| {
            let (leg, j) = (k / 3, k % 3);
            if env.diagonal_act {
                let base = if leg == 0 || leg == 3 { 0 } else { 3 };
                (base + j) as i64
            } else {
                k as i64
            }
        })
        .collect()
}

/// The trot's `1 + range x tanh(a)` scale from output column `column` of the raw action
/// `[B, A]`: `[B, 1]`.
fn modulation_scale(g: &mut Graph, action: &str, column: usize, range: f32) -> String {
    let a = g.slice(action, 1, column as i64, column as i64 + 1);
    let t = g.unary("Tanh", &a);
    let r = g.scalar(range);
    let scaled = g.mul(&t, &r);
    let one = g.scalar(1.0);
    g.add(&scaled, &one)
}

/// Joint targets `[B, 12]` (and, with the trot prior, its next phase `[B, 1]`) for the raw
/// action `[B, A]` with the trot at `phase` `[B, 1]` (radians), as the simulator maps them.
pub fn joint_targets(
    g: &mut Graph,
    action: &str,
    phase: Option<&str>,
    env: &EnvConfig,
) -> (String, Option<String>) {
    let raw = g.gather(action, 1, &joint_columns(env));
    let squashed = g.unary("Tanh", &raw);
    let clips: Vec<f32> = (0..12).map(|k| joint_clip(env, k)).collect();
    let clip = g.constant("action_clip", &[12], &clips);
    let mut offset = g.mul(&clip, &squashed);
    let mut next_phase = None;
    if env.action_mode == ActionMode::TrotResidual {
        let phase = phase.expect("the trot prior reads its phase");
        let trot = &env.trot;
        let mut column = 12 / if env.diagonal_act { 2 } else { 1 };
        let mut frequency = None;
        let mut amplitude = None;
        if env.modulates_trot() && trot.frequency_range > 0.0 {
            frequency = Some(modulation_scale(g, action, column, trot.frequency_range));
            column += 1;
        }
        if env.modulates_trot() && trot.amplitude_range > 0.0 {
            amplitude = Some(modulation_scale(g, action, column, trot.amplitude_range));
        }
        let prior = trot_prior(g, phase, amplitude.as_deref(), env);
        offset = g.add(&prior, &offset);
        next_phase = Some(advance_phase(g, phase, frequency.as_deref(), env));
    }
    let neg: Vec<f32> = clips.iter().map(|c| -c).collect();
    let lo = g.constant("clip_low", &[12], &neg);
    let offset = g.op("Max", &[&offset, &lo], &[]);
    let offset = g.op("Min", &[&offset, &clip], &[]);
    let stand: Vec<f32> = (0..12).map(|k| a1().leg.stand_pose[k % 3]).collect();
    let stand = g.constant("stand_pose", &[12], &stand);
    (g.add(&stand, &offset), next_phase)
}

/// The trot's joint offsets `[B, 12]` at `phase` `[B, 1]`, amplitudes scaled by `amplitude`
/// `[B, 1]` (1 when absent): per leg, hip `hip s sin(p)`, knee `-knee s max(sin(p - 2 pi lag), 0)`,
/// `p` the phase for FR and RL and the phase + pi for FL and RR.
fn trot_prior(g: &mut Graph, phase: &str, amplitude: Option<&str>, env: &EnvConfig) -> String {
    let trot = &env.trot;
    let shift: Vec<f32> = (0..12)
        .map(|k| if matches!(k / 3, 1 | 2) { PI } else { 0.0 })
        .collect();
    let hip: Vec<f32> = (0..12)
        .map(|k| if k % 3 == 1 { trot.hip } else { 0.0 })
        .collect();
    let knee: Vec<f32> = (0..12)
        .map(|k| if k % 3 == 2 { -trot.knee } else { 0.0 })
        .collect();
    let shift = g.constant("leg_phase", &[12], &shift);
    let leg_phase = g.add(phase, &shift);
    let lag = g.scalar(TAU * trot.knee_lag);
    let knee_phase = g.sub(&leg_phase, &lag);
    let (hip, knee) = (
        g.constant("trot_hip", &[12], &hip),
        g.constant("trot_knee", &[12], &knee),
    );
    let (hip, knee) = match amplitude {
        Some(s) => (g.mul(&hip, s), g.mul(&knee, s)),
        None => (hip, knee),
    };
    let sin = g.unary("Sin", &leg_phase);
    let hip_offset = g.mul(&hip, &sin);
    let knee_sin = g.unary("Sin", &knee_phase);
    let bend = g.unary("Relu", &knee_sin);
    let knee_offset = g.mul(&knee, &bend);
    g.add(&hip_offset, &knee_offset)
}

/// The phase after one control step: `(phase + 2 pi f / period) mod 2 pi`, `f` the frequency
/// scale (1 unmodulated).
fn advance_phase(g: &mut Graph, phase: &str, frequency: Option<&str>, env: &EnvConfig) -> String {
    let period = g.scalar(env.trot.period_steps.max(1e-3));
    let tau = g.scalar(TAU);
    let turn = match frequency {
        Some(f) => g.mul(&tau, f),
        None => tau.clone(),
    };
    let step = g.div(&turn, &period);
    let sum = g.add(phase, &step);
    g.op(
        "Mod",
        &[&sum, &tau],
        &[("fmod", super::graph::Attr::Int(1))],
    )
}
