//! What a robot needs to know to run an exported policy, written both into the ONNX file's
//! `metadata_props` (one key per field, JSON values) and as a JSON sidecar: the inputs and
//! outputs, the joints and their order, the stand pose, the action clip and mapping, the control
//! period, the observation layout, the depth camera, the trot, the memory, the recipe, and which
//! checkpoint (update, weights hash) the policy came from.

use serde::Serialize;
use serde_json::{Value, json};

use crate::recipe::{ActionMode, EnvConfig, Recipe};
use crate::sim::action::joint_clip;
use crate::sim::observation::HISTORY;
use crate::sim::robot::a1;

/// The A1's joints in the order of the targets (and of the original's `MOTOR_NAMES`).
pub const JOINT_NAMES: [&str; 12] = [
    "FR_hip_joint",
    "FR_upper_joint",
    "FR_lower_joint",
    "FL_hip_joint",
    "FL_upper_joint",
    "FL_lower_joint",
    "RR_hip_joint",
    "RR_upper_joint",
    "RR_lower_joint",
    "RL_hip_joint",
    "RL_upper_joint",
    "RL_lower_joint",
];

/// A graph input or output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    /// Its name in the graph.
    pub name: String,
    /// Its shape, `"batch"` for the dynamic batch dimension.
    pub shape: Vec<Value>,
    /// What it holds, in which units.
    pub description: String,
}

/// One field of the proprioceptive vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservationField {
    /// Field name.
    pub name: &'static str,
    /// Floats it takes.
    pub size: usize,
    /// What it holds.
    pub description: &'static str,
}

/// The proprioceptive vector's fields in order, as the simulator writes them.
pub fn observation_layout(env: &EnvConfig) -> Vec<ObservationField> {
    let mut out = Vec::new();
    let mut push = |on: bool, name, size, description| {
        if on {
            out.push(ObservationField {
                name,
                size,
                description,
            });
        }
    };
    push(
        env.goal,
        "goal",
        6,
        "trunk position (x, y, z) then goal position (x, y, z), m",
    );
    push(
        env.displacement_in_obs,
        "displacement",
        3 * HISTORY,
        "trunk displacement per control step (x, y, z) clipped to 0.1 m, newest step first",
    );
    push(
        true,
        "imu",
        4 * HISTORY,
        "roll, pitch (rad), roll rate, pitch rate (rad/s), newest step first",
    );
    push(
        env.last_action_in_obs,
        "last_targets",
        12 * HISTORY,
        "joint position targets commanded (rad, joint order), newest step first",
    );
    push(
        true,
        "joint_angles",
        12 * HISTORY,
        "joint angles (rad, joint order), newest step first",
    );
    push(
        env.modulates_trot(),
        "trot_phase",
        2,
        "sine and cosine of the trot's phase at the coming step (the phase input)",
    );
    push(
        env.heading_in_obs,
        "heading",
        3 * HISTORY,
        "cosine and sine of the trunk's yaw (world frame), yaw rate (rad/s), newest step first",
    );
    out
}

/// The facts an exported policy carries, one JSON value per key.
pub fn metadata(
    recipe: &Recipe,
    ports: (&[Port], &[Port]),
    memory: Option<Value>,
    checkpoint: (u64, u64, &str),
) -> Vec<(String, Value)> {
    let env = &recipe.env;
    let (update, env_steps, weights_sha256) = checkpoint;
    let stand: Vec<f32> = (0..12).map(|k| a1().leg.stand_pose[k % 3]).collect();
    let clip: Vec<f32> = (0..12).map(|k| joint_clip(env, k)).collect();
    let trot_residual = env.action_mode == ActionMode::TrotResidual;
    let mapping = format!(
        "targets = stand_pose + clamp({}action_clip * tanh(a_joint), -action_clip, action_clip){}",
        if trot_residual { "trot(phase) + " } else { "" },
        if env.diagonal_act {
            "; a_joint takes outputs 0..3 for FR and RL, 3..6 for FL and RR"
        } else {
            ""
        },
    );
    let depth = env.depth.enabled.then(|| {
        let d = &env.depth;
        json!({
            "frames": d.frames,
            "height": d.height,
            "width": d.width,
            "near_m": d.near,
            "far_m": d.far,
            "vertical_fov_deg": d.vertical_fov_deg,
            "transform": d.transform,
            "frame_spacing": d.frame_spacing,
            "order": "newest frame first, each [height, width] row-major, z-depth in metres",
        })
    });
    let trot = trot_residual.then(|| {
        let t = &env.trot;
        json!({
            "period_steps": t.period_steps,
            "hip": t.hip,
            "knee": t.knee,
            "knee_lag": t.knee_lag,
            "frequency_range": t.frequency_range,
            "amplitude_range": t.amplitude_range,
            "phase": if env.modulates_trot() {
                "feed phase_out back as the next step's phase; 0 at an episode start"
            } else {
                "2 pi x (control steps since the episode start) / period_steps; phase_out is the next"
            },
        })
    });
    let recipe_toml = recipe.to_toml();
    vec![
        ("format".into(), json!("locomamba-policy/1")),
        ("model".into(), json!(recipe.sequence.model().name())),
        ("inputs".into(), json!(ports.0)),
        ("outputs".into(), json!(ports.1)),
        ("joint_names".into(), json!(JOINT_NAMES)),
        ("stand_pose".into(), json!(stand)),
        ("action_clip".into(), json!(clip)),
        ("action_mode".into(), json!(env.action_mode)),
        ("action_mapping".into(), json!(mapping)),
        (
            "control_period_s".into(),
            json!(env.time_step_s * env.action_repeat as f32),
        ),
        ("observation_layout".into(), json!(observation_layout(env))),
        ("depth".into(), depth.unwrap_or(Value::Null)),
        ("trot".into(), trot.unwrap_or(Value::Null)),
        ("memory".into(), memory.unwrap_or(Value::Null)),
        ("checkpoint_update".into(), json!(update)),
        ("checkpoint_env_steps".into(), json!(env_steps)),
        ("weights_sha256".into(), json!(weights_sha256)),
        ("recipe".into(), json!(recipe_toml)),
    ]
}

/// `metadata_props` entries: strings as they are, everything else as JSON text.
pub fn props(fields: &[(String, Value)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::observation::proprio_dim;

    #[test]
    fn the_layout_adds_up_to_the_proprioception() {
        let mut env = EnvConfig::default();
        for (goal, displacement, last) in [(false, false, true), (true, true, false)] {
            env.goal = goal;
            env.displacement_in_obs = displacement;
            env.last_action_in_obs = last;
            env.heading_in_obs = goal;
            env.trot.frequency_range = if last { 0.0 } else { 0.5 };
            env.action_mode = if last {
                ActionMode::JointTargets
            } else {
                ActionMode::TrotResidual
            };
            assert_eq!(env.modulates_trot(), !last);
            let total: usize = observation_layout(&env).iter().map(|f| f.size).sum();
            assert_eq!(total, proprio_dim(&env));
        }
    }
}
