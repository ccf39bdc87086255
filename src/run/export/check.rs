//! The parity check of an exported policy against this crate's own path: the simulator is stepped
//! with the policy for a few envs and control steps (with memory: an episode of 50 steps, one
//! row's state reset halfway through as at an episode start), recording the graph's inputs in
//! robot units and the outputs this crate computes for them (the networks' forward, and the
//! simulator's own action mapping and trot phase). `scripts/check_onnx.py` runs the ONNX file on
//! the recorded inputs in onnxruntime, feeding each `h_out` back as the next `h_in`, and
//! compares every step.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ExportError, PolicySource, io_err, state_input, state_output};
use crate::nn::Memory;
use crate::recipe::ActionMode;
use crate::sim::VecEnv;
use crate::sim::action::GaitPhase;
use crate::sim::depth::{denormalise, normalise};

/// Absolute tolerance of the comparison: `|onnx - rust| <= ATOL + RTOL max|rust|`, the maximum
/// over the output's values at that step, so that a small output (the raw action of a fresh
/// policy is about 0.01) is held to its own scale.
pub const ATOL: f32 = 1e-6;
/// Relative tolerance of the comparison, of the output's largest magnitude.
pub const RTOL: f32 = 1e-4;
/// Envs (the batch) of the recording.
pub const BATCH: usize = 2;
/// The check script, run with `python3` (needs `onnx`, `onnxruntime` and `numpy`).
pub const SCRIPT: &str = include_str!("../../../scripts/check_onnx.py");

/// One control step of the recording: what the graph gets and what it must give.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Per env: its episode (re)starts at this step (its recurrent state is zero).
    pub reset: Vec<bool>,
    /// Input name -> flat values `[BATCH, ...]` (the recurrent state inputs are not recorded:
    /// the script feeds back its own outputs).
    pub inputs: BTreeMap<String, Vec<f32>>,
    /// Output name -> the values this crate computed.
    pub expected: BTreeMap<String, Vec<f32>>,
}

/// A recording for the check script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fixture {
    /// Envs per step.
    pub batch: usize,
    /// Recurrent state input names, in order.
    pub state_inputs: Vec<String>,
    /// The matching outputs.
    pub state_outputs: Vec<String>,
    /// Per-env shapes of the state.
    pub state_shapes: Vec<Vec<usize>>,
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// Steps the simulator (seed `seed`, [`BATCH`] envs) with the policy of `src` for `steps` control
/// steps, recording the graph's inputs and this crate's outputs.
pub fn record(src: &PolicySource, steps: usize, seed: u64) -> Result<Fixture, String> {
    let mut cfg = src.recipe.env.clone();
    cfg.num_envs = BATCH;
    let mut env = VecEnv::new(&cfg, seed).map_err(|e| e.to_string())?;
    let spec = env.spec();
    let device = crate::device::cpu_device();
    let model = src.model.valid();
    let (tokens, state_shapes) = src.memory_shapes(&crate::nn::ObsShape::from(&spec));
    let mut memory: Option<Memory> = src.recipe.memory.enabled.then(|| {
        model
            .zero_memory(BATCH, tokens, src.recipe.memory.context_steps)
            .map_or_else(|| Memory::zeros(BATCH, Vec::new()), |m| m.policy)
    });
    let d = &cfg.depth;
    let mut out = Vec::with_capacity(steps);
    for t in 0..steps {
        let last = env.last_output();
        let reset: Vec<bool> = (0..BATCH)
            .map(|b| {
                t == 0
                    || last.terminated.get(b).is_some_and(|&x| x)
                    || last.truncated.get(b).is_some_and(|&x| x)
                    || (b == 0 && t == steps / 2)
            })
            .collect();
        if let Some(m) = &mut memory {
            m.reset_rows(&reset);
        }
        let mut inputs = BTreeMap::new();
        let raw = env.proprio().to_vec();
        let mut proprio = raw.clone();
        if let Some(norm) = &src.norm {
            norm.normalize(&mut proprio);
        }
        if src.model.encoder.has_state_token() {
            inputs.insert("proprio".to_string(), raw);
        }
        // The graph gets metres; this crate's networks read them through the simulator's own
        // transform, so both sides see the same depth.
        let metres: Vec<f32> = env
            .depth()
            .iter()
            .map(|&v| denormalise(v, d.near, d.far, d.transform).clamp(d.near, d.far))
            .collect();
        let depth: Vec<f32> = metres
            .iter()
            .map(|&m| normalise(m, d.near, d.far, d.transform))
            .collect();
        if src.model.encoder.projection.is_some() {
            inputs.insert("depth".to_string(), metres);
        }
        let trot = cfg.action_mode == ActionMode::TrotResidual;
        let phases: Vec<f32> = (0..BATCH).map(|b| env.env(b).gait_phase()).collect();
        if trot {
            inputs.insert("phase".to_string(), phases.clone());
        }
        let p =
            Tensor::<2>::from_data(TensorData::new(proprio, [BATCH, spec.proprio_dim]), &device);
        let dims = [
            BATCH,
            spec.depth_frames,
            spec.depth_height,
            spec.depth_width,
        ];
        let dt = Tensor::<4>::from_data(TensorData::new(depth, dims), &device);
        let mut expected = BTreeMap::new();
        let action = match &memory {
            Some(m) => {
                let (mean, next) = model.act_memory(p, dt, m);
                for (i, b) in next.buffers.iter().enumerate() {
                    expected.insert(state_output(i), b.values.clone());
                }
                memory = Some(next);
                flat(mean)
            }
            None => flat(model.act(p, dt)),
        };
        let a = spec.action_dim;
        let mut targets = Vec::with_capacity(BATCH * 12);
        let mut next_phase = Vec::with_capacity(BATCH);
        for (b, row) in action.chunks_exact(a).enumerate() {
            targets.extend(env.env(b).targets_from_action(row));
            let mut gait = GaitPhase {
                phase: phases[b],
                amplitude: 1.0,
            };
            gait.advance(&cfg, GaitPhase::scales(&cfg, row).0);
            next_phase.push(gait.phase);
        }
        expected.insert("targets".to_string(), targets);
        expected.insert("action".to_string(), action.clone());
        if trot {
            expected.insert("phase_out".to_string(), next_phase);
        }
        out.push(Step {
            reset,
            inputs,
            expected,
        });
        env.step(&action);
    }
    Ok(Fixture {
        batch: BATCH,
        state_inputs: (0..state_shapes.len()).map(state_input).collect(),
        state_outputs: (0..state_shapes.len()).map(state_output).collect(),
        state_shapes,
        atol: ATOL,
        rtol: RTOL,
        steps: out,
    })
}

/// The check's outcome, as the script reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// Steps compared.
    pub steps: usize,
    /// Output name -> the largest absolute difference over all steps.
    pub max_abs_error: BTreeMap<String, f64>,
    /// Whether every value was within tolerance (and the checker passed).
    pub passed: bool,
    /// The first values beyond tolerance, as the script names them.
    #[serde(default)]
    pub mismatches: Vec<String>,
}

/// Records `steps` control steps of the policy of `src` and compares the model exported into
/// `dir` with them ([`compare`]).
pub fn run(
    src: &PolicySource,
    dir: &Path,
    steps: usize,
    python: &str,
) -> Result<CheckReport, ExportError> {
    let fixture = record(src, steps, 7).map_err(ExportError::Check)?;
    compare(dir, &fixture, python)
}

/// Runs the check script with `python` on the model exported into `dir` and `fixture`, both
/// written to `dir/.check/` for the script and removed afterwards.
pub fn compare(dir: &Path, fixture: &Fixture, python: &str) -> Result<CheckReport, ExportError> {
    let work = dir.join(".check");
    std::fs::create_dir_all(&work).map_err(io_err(&work))?;
    let fixture_path = work.join("fixture.json");
    let text = serde_json::to_vec(fixture).expect("fixture serialises");
    std::fs::write(&fixture_path, text).map_err(io_err(&fixture_path))?;
    let script_path = work.join("check_onnx.py");
    std::fs::write(&script_path, SCRIPT).map_err(io_err(&script_path))?;
    let output = Command::new(python)
        .arg(&script_path)
        .arg(dir.join(super::ONNX_FILE))
        .arg(&fixture_path)
        .output()
        .map_err(|e| {
            ExportError::Check(format!(
                "cannot run {python} ({e}): the check runs the exported model in onnxruntime \
                 (pip install onnx onnxruntime)"
            ))
        });
    let _ = std::fs::remove_dir_all(&work);
    let output = output?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<CheckReport>(l).ok());
    match report {
        Some(mut report) => {
            report.mismatches = stdout
                .lines()
                .filter_map(|l| l.strip_prefix("mismatch: "))
                .map(str::to_string)
                .collect();
            Ok(report)
        }
        None => Err(ExportError::Check(format!(
            "the check script failed (exit {:?}):\n{stdout}{stderr}",
            output.status.code()
        ))),
    }
}
