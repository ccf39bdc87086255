//! `[memory]`: what the fusion network remembers across the control steps of an episode.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[memory]`: memory across control steps. Off in the original and the paper recipes, where both
/// fusion models see the tokens of one control step (the depth frame stack is the only memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Carry memory across the control steps of an episode, reset at every episode start. Mamba:
    /// the token stream runs on from one step's tokens to the next's (each block's convolution
    /// inputs and SSM state carry over), acting costs the same at every step. Transformer: each
    /// step's tokens attend over the tokens of the last `context_steps` steps of the episode.
    /// Needs fusion layers (not `concat` or `state_only`) and a unidirectional Mamba.
    pub enabled: bool,
    /// Transformer with memory: control steps of context, the current one included (1 = no
    /// memory). Mamba ignores it: its state summarises the whole episode.
    pub context_steps: usize,
    /// Control steps per training segment: each minibatch is a set of whole env segments of this
    /// length, replayed in one pass from the recurrent state stored at their start, the state
    /// reset at the episode starts inside them; gradients stop at segment starts. 0: the
    /// rollout's steps per env (`ppo.rollout_steps / env.num_envs`). Must divide that, and
    /// `ppo.minibatch_size` must be a multiple of it.
    pub segment_steps: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            context_steps: 16,
            segment_steps: 0,
        }
    }
}

impl MemoryConfig {
    /// The segment length in control steps for rollouts of `steps_per_env` steps per env.
    pub fn segment_len(&self, steps_per_env: usize) -> usize {
        if self.segment_steps == 0 {
            steps_per_env
        } else {
            self.segment_steps
        }
    }
}
