//! What a checkpoint saves of a trainer and restores into a fresh one: the weights, both
//! optimiser states and the [`TrainerState`].

use super::{RECENT_EPISODES, RestoreError, Trainer};
use crate::nn::{ActorCritic, BranchMemories};
use crate::ppo::state::TrainerState;
use crate::sim::{EpisodeStats, VecEnv};

/// One of the trainer's two optimisers, for saving and loading their states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerRole {
    /// Adam for the encoder and policy branch.
    Policy,
    /// Adam for the value branch.
    Value,
}

impl Trainer {
    /// Replaces the networks through `load` (e.g. loading a checkpoint's weights into them).
    pub fn load_model<E>(
        &mut self,
        load: impl FnOnce(ActorCritic) -> Result<ActorCritic, E>,
    ) -> Result<(), E> {
        self.model = load(self.model.clone())?;
        Ok(())
    }

    /// Everything of the run that is not a tensor, for a checkpoint.
    pub fn state(&self) -> TrainerState {
        TrainerState {
            seed: self.seed,
            counters: self.counters,
            norm: self.norm.clone(),
            env: self.env.snapshot(),
            recent_episodes: self.recent.iter().cloned().collect(),
            lr_scale: self.lr_scale,
            privileged_norm: self.privileged_norm.clone(),
            reward_norm: self.reward_norm.clone(),
            curriculum_level: Some(self.curriculum_level),
            exploration_noise: self
                .noise
                .is_correlated()
                .then(|| self.noise.last().to_vec()),
        }
    }

    /// Restores what [`state`](Self::state) saved, into a trainer freshly built from the same
    /// recipe and seed.
    pub fn restore_state(&mut self, state: TrainerState) -> Result<(), RestoreError> {
        if state.seed != self.seed {
            return Err(RestoreError::SeedMismatch {
                saved: state.seed,
                run: self.seed,
            });
        }
        // Checked before anything is restored, so a mismatch leaves the trainer as it was.
        if let Some(last) = state.exploration_noise
            && !self.noise.restore(last)
        {
            return Err(RestoreError::ExplorationNoise);
        }
        self.env = VecEnv::restore(&self.recipe.env, &state.env)?;
        if self.recipe.ppo.asymmetric_critic {
            self.env.read_privileged();
        }
        self.norm = state.norm;
        self.counters = state.counters;
        self.lr_scale = state.lr_scale;
        self.privileged_norm = state.privileged_norm;
        self.reward_norm = state.reward_norm;
        self.curriculum_level = state.curriculum_level.unwrap_or_else(|| {
            crate::ppo::curriculum::level_at_steps(
                &self.recipe.env.curriculum,
                state.counters.env_steps,
            )
        });
        self.restore_recent_episodes(state.recent_episodes);
        Ok(())
    }

    /// With `[memory]` on: every env's recurrent state of both fusion stacks, for a checkpoint.
    pub fn memory(&self) -> Option<&BranchMemories> {
        self.memory.as_ref()
    }

    /// Restores what [`memory`](Self::memory) saved; its envs and buffers must match this
    /// run's.
    pub fn restore_memory(&mut self, saved: BranchMemories) -> Result<(), RestoreError> {
        let Some(current) = &self.memory else {
            return Err(RestoreError::Memory(
                "the checkpoint has one, but the recipe's memory.enabled is false".into(),
            ));
        };
        let shapes = |m: &BranchMemories| {
            [&m.policy, &m.value].map(|x| {
                let shapes: Vec<Vec<usize>> = x.buffers.iter().map(|b| b.shape.clone()).collect();
                (x.batch, shapes)
            })
        };
        if shapes(current) != shapes(&saved) {
            return Err(RestoreError::Memory(format!(
                "saved states {:?} do not fit this run's {:?}",
                shapes(&saved),
                shapes(current)
            )));
        }
        self.memory = Some(saved);
        Ok(())
    }

    /// The serialised state of one optimiser.
    pub fn optimizer_bytes(&self, role: OptimizerRole) -> Result<Vec<u8>, RestoreError> {
        let opt = match role {
            OptimizerRole::Policy => &self.opt_policy,
            OptimizerRole::Value => &self.opt_value,
        };
        let bytes = opt
            .into_bytes()
            .map_err(|e| RestoreError::Optimizer(format!("{e:?}")))?;
        Ok(bytes.to_vec())
    }

    /// Loads one optimiser's state from what [`optimizer_bytes`](Self::optimizer_bytes) wrote.
    pub fn load_optimizer(
        &mut self,
        role: OptimizerRole,
        bytes: Vec<u8>,
    ) -> Result<(), RestoreError> {
        let opt = match role {
            OptimizerRole::Policy => &mut self.opt_policy,
            OptimizerRole::Value => &mut self.opt_value,
        };
        *opt = opt
            .clone()
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| RestoreError::Optimizer(format!("{e:?}")))?;
        Ok(())
    }

    /// Replaces the recent-episode window (when resuming from a checkpoint).
    pub(super) fn restore_recent_episodes(&mut self, episodes: Vec<EpisodeStats>) {
        self.recent = episodes.into();
        while self.recent.len() > RECENT_EPISODES {
            self.recent.pop_front();
        }
    }
}
