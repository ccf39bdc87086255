//! Running a trained policy outside the trainer, for Rust users: [`Policy::load`] a checkpoint
//! (or a folder `runner export` wrote), then [`Policy::act`] on raw proprioception and depth in
//! metres, one row per robot, to get joint position targets. The policy acts deterministically
//! (its mean action) on the CPU without autodiff, keeps each row's recurrent state (with
//! `[memory]`) and trot phase (with the gait prior) from one call to the next, and forgets them
//! at [`reset_rows`](Policy::reset_rows), which a caller calls at every episode start: the same
//! computation as the exported ONNX graph and as `runner eval`.

use burn::prelude::*;
use thiserror::Error;

use super::export::{ExportError, PolicySource, obs_shape};
use crate::nn::{ActorCritic, Memory, ObsShape};
use crate::recipe::{ActionMode, Recipe};
use crate::sim::action::{GaitPhase, joint_targets};
use crate::sim::depth::normalise;

/// Why a policy could not be loaded or run.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The checkpoint or exported folder could not be read.
    #[error(transparent)]
    Load(#[from] ExportError),
    /// An input has the wrong length.
    #[error("{input}: expected {expected} values ({per_row} per robot), got {got}")]
    Shape {
        /// Which input.
        input: &'static str,
        /// Values expected for the batch.
        expected: usize,
        /// Values per row.
        per_row: usize,
        /// Values given.
        got: usize,
    },
}

/// What a policy does for a batch of robots at one control step.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyOutput {
    /// Joint position targets per robot (rad, joint order FR, FL, RR, RL x hip, upper, lower).
    pub targets: Vec<[f32; 12]>,
    /// The raw (pre-tanh) deterministic action, `[batch * action_dim]`: what the simulator's
    /// `step` takes.
    pub action: Vec<f32>,
}

/// A trained policy ready to act; see the module documentation.
pub struct Policy {
    recipe: Recipe,
    model: ActorCritic,
    norm: Option<crate::ppo::normalizer::RunningNorm>,
    shape: ObsShape,
    tokens: usize,
    device: Device,
    /// Per row: the recurrent state (with `[memory]`), made at the first call.
    memory: Option<Memory>,
    /// Per row: control steps since the episode start and the trot's phase.
    gait: Vec<(usize, f32)>,
}

impl Policy {
    /// Loads a checkpoint folder, a run folder (its latest checkpoint) or an exported folder.
    pub fn load(path: &std::path::Path) -> Result<Self, PolicyError> {
        let src = PolicySource::load(path)?;
        let shape = obs_shape(&src.recipe).map_err(|reason| ExportError::Format {
            path: path.display().to_string(),
            reason,
        })?;
        let tokens = src.model.tokens_per_step(&shape);
        Ok(Self {
            model: src.model.valid(),
            recipe: src.recipe,
            norm: src.norm,
            shape,
            tokens,
            device: crate::device::cpu_device(),
            memory: None,
            gait: Vec::new(),
        })
    }

    /// The recipe the policy was trained with (its env: the observation layout, the camera).
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// Floats of proprioception per robot.
    pub fn proprio_dim(&self) -> usize {
        self.shape.proprio_dim
    }

    /// Floats of depth per robot (`frames x height x width`, newest frame first; 0 without).
    pub fn depth_dim(&self) -> usize {
        self.shape.depth_frames * self.shape.depth_height * self.shape.depth_width
    }

    /// Outputs of the raw action per robot.
    pub fn action_dim(&self) -> usize {
        self.shape.action_dim
    }

    /// Forgets every row's memory and trot phase (all episodes start).
    pub fn reset(&mut self) {
        self.memory = None;
        self.gait.clear();
    }

    /// Forgets the memory and trot phase of the rows whose flag is set (their episode starts).
    pub fn reset_rows(&mut self, rows: &[bool]) {
        if rows.len() != self.gait.len() {
            return self.reset();
        }
        if let Some(m) = &mut self.memory {
            m.reset_rows(rows);
        }
        for (g, &r) in self.gait.iter_mut().zip(rows) {
            if r {
                *g = (0, 0.0);
            }
        }
    }

    /// One control step for a batch of robots: raw proprioception (the observation layout of
    /// the recipe's env, `[batch * proprio_dim]`) and depth in metres (`[batch * depth_dim]`).
    pub fn act(&mut self, proprio: &[f32], depth_m: &[f32]) -> Result<PolicyOutput, PolicyError> {
        let d = &self.recipe.env.depth;
        let depth: Vec<f32> = depth_m
            .iter()
            .map(|&m| normalise(m.clamp(d.near, d.far), d.near, d.far, d.transform))
            .collect();
        self.act_normalised(proprio, &depth)
    }

    /// [`act`](Self::act) with depth already through the camera's transform, as the simulator's
    /// observations hold it (`VecEnv::depth`).
    pub fn act_normalised(
        &mut self,
        proprio: &[f32],
        depth: &[f32],
    ) -> Result<PolicyOutput, PolicyError> {
        let p = self.shape.proprio_dim;
        let batch = proprio.len().checked_div(p).unwrap_or(1);
        let check = |input, per_row: usize, got: usize| {
            (got != batch * per_row || (input == "proprio" && got == 0)).then_some(
                PolicyError::Shape {
                    input,
                    expected: batch.max(1) * per_row,
                    per_row,
                    got,
                },
            )
        };
        if let Some(e) =
            check("proprio", p, proprio.len()).or(check("depth", self.depth_dim(), depth.len()))
        {
            return Err(e);
        }
        if self.gait.len() != batch {
            self.reset();
            self.gait = vec![(0, 0.0); batch];
        }
        let mut normalised = proprio.to_vec();
        if let Some(norm) = &self.norm {
            norm.normalize(&mut normalised);
        }
        let s = &self.shape;
        let pt = Tensor::<2>::from_data(TensorData::new(normalised, [batch, p]), &self.device);
        let dims = [batch, s.depth_frames, s.depth_height, s.depth_width];
        let dt = Tensor::<4>::from_data(TensorData::new(depth.to_vec(), dims), &self.device);
        let mean = if self.recipe.memory.enabled {
            let memory = match self.memory.take() {
                Some(m) => m,
                None => self
                    .model
                    .zero_memory(batch, self.tokens, self.recipe.memory.context_steps)
                    .map_or_else(|| Memory::zeros(batch, Vec::new()), |m| m.policy),
            };
            let (mean, next) = self.model.act_memory(pt, dt, &memory);
            self.memory = Some(next);
            mean
        } else {
            self.model.act(pt, dt)
        };
        let action = mean
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 actions");
        let cfg = &self.recipe.env;
        let trot = cfg.action_mode == ActionMode::TrotResidual;
        let targets = action
            .chunks_exact(s.action_dim)
            .zip(&mut self.gait)
            .map(|(row, (steps, phase))| {
                let (frequency, amplitude) = GaitPhase::scales(cfg, row);
                let mut gait = if cfg.modulates_trot() {
                    GaitPhase {
                        phase: *phase,
                        amplitude,
                    }
                } else {
                    GaitPhase::fixed(cfg, *steps)
                };
                let targets = joint_targets(cfg, row, gait);
                if trot {
                    gait.advance(cfg, frequency);
                    *phase = gait.phase;
                }
                *steps += 1;
                targets
            })
            .collect();
        Ok(PolicyOutput { targets, action })
    }
}
