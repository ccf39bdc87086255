//! The rollout buffer: what PPO stores per transition, laid out `[step][env]` so row `t * envs + e`
//! is env `e` at step `t`; with memory across control steps, also where episodes start and the
//! recurrent state at each segment start.

use crate::nn::BranchMemories;

/// Floats per transition of each stored observation and of the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutWidths {
    /// Proprioception.
    pub proprio_dim: usize,
    /// Depth (frames x height x width).
    pub depth_len: usize,
    /// Action.
    pub action_dim: usize,
    /// Privileged state (0 without an asymmetric critic).
    pub privileged_dim: usize,
}

/// One rollout's transitions.
#[derive(Debug, Clone, Default)]
pub struct Rollout {
    /// Number of envs (row width).
    pub envs: usize,
    /// Floats per proprioceptive observation.
    pub proprio_dim: usize,
    /// Floats per depth observation (frames x height x width).
    pub depth_len: usize,
    /// Floats per action.
    pub action_dim: usize,
    /// Floats of privileged state per transition (0 without an asymmetric critic).
    pub privileged_dim: usize,
    /// Normalised proprioception the action was chosen from, `[n * proprio_dim]`.
    pub proprio: Vec<f32>,
    /// Depth stack the action was chosen from, `[n * depth_len]`.
    pub depth: Vec<f32>,
    /// Normalised privileged state the critic valued, `[n * privileged_dim]`.
    pub privileged: Vec<f32>,
    /// Raw (pre-tanh) sampled actions, `[n * action_dim]`.
    pub actions: Vec<f32>,
    /// Log-probability of the sampled action under the acting policy.
    pub log_probs: Vec<f32>,
    /// Value estimate of the observation.
    pub values: Vec<f32>,
    /// Reward after the action (divided by the return scale with `ppo.reward_norm`).
    pub rewards: Vec<f32>,
    /// The action ended the episode by a fall.
    pub terminated: Vec<bool>,
    /// The action ended the episode at the time limit.
    pub truncated: Vec<bool>,
    /// Value of the terminal observation where `truncated` (0 elsewhere).
    pub terminal_values: Vec<f32>,
    /// The transition's step is the first of its episode (memory forgets what came before).
    pub starts: Vec<bool>,
    /// With memory: the acting memory of every env at the start of each training segment
    /// (segment `k` begins at step `k x segment length`), what a replay of the segment starts
    /// from. One state per segment, not per step: a replay runs whole segments.
    pub segment_memory: Vec<BranchMemories>,
}

impl Rollout {
    /// An empty buffer for `envs` envs with room for `steps` steps of transitions of the
    /// given widths.
    pub fn new(envs: usize, steps: usize, widths: RolloutWidths) -> Self {
        let mut roll = Self::default();
        roll.reset(envs, steps, widths);
        roll
    }

    /// Empties the buffer for a new rollout of `envs` envs x `steps` steps of the given widths,
    /// keeping the memory it already holds (a rollout of the fast recipes is over 100 MB, which a
    /// fresh allocation would page-fault in again at every update).
    pub fn reset(&mut self, envs: usize, steps: usize, widths: RolloutWidths) {
        let n = envs * steps;
        let RolloutWidths {
            proprio_dim,
            depth_len,
            action_dim,
            privileged_dim,
        } = widths;
        (self.envs, self.proprio_dim, self.depth_len) = (envs, proprio_dim, depth_len);
        (self.action_dim, self.privileged_dim) = (action_dim, privileged_dim);
        let floats = [
            (&mut self.proprio, proprio_dim),
            (&mut self.depth, depth_len),
            (&mut self.privileged, privileged_dim),
            (&mut self.actions, action_dim),
            (&mut self.log_probs, 1),
            (&mut self.values, 1),
            (&mut self.rewards, 1),
            (&mut self.terminal_values, 1),
        ];
        for (v, width) in floats {
            v.clear();
            v.reserve(n * width);
        }
        for v in [&mut self.terminated, &mut self.truncated, &mut self.starts] {
            v.clear();
            v.reserve(n);
        }
        self.segment_memory.clear();
    }

    /// Number of transitions stored.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Copies the rows `indices` of a `[n * width]` buffer into one contiguous `[indices * width]`.
    pub fn gather(buffer: &[f32], width: usize, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * width);
        for &i in indices {
            out.extend_from_slice(&buffer[i * width..(i + 1) * width]);
        }
        out
    }
}

/// One minibatch of a rollout: its rows and, with memory, the segments they form.
#[derive(Debug, Clone)]
pub struct Minibatch {
    /// Rollout rows, segment after segment, each segment's steps in order.
    pub rows: Vec<usize>,
    /// Steps per segment (1 without memory: single transitions).
    pub segment: usize,
    /// With memory: the memory each segment starts from (one row per segment) and the
    /// episode-start flag of every row.
    pub memory: Option<(BranchMemories, Vec<bool>)>,
}

impl Minibatch {
    /// The minibatch of `units` of `roll`: transitions when `segment` is 1 and the rollout has
    /// no memory, else segments, unit `u` being segment `u / envs` of env `u % envs` (its steps
    /// `segment x (u / envs) ..` of that env).
    pub fn new(roll: &Rollout, units: &[usize], segment: usize) -> Self {
        if roll.segment_memory.is_empty() {
            return Minibatch {
                rows: units.to_vec(),
                segment: 1,
                memory: None,
            };
        }
        let envs = roll.envs;
        let mut rows = Vec::with_capacity(units.len() * segment);
        let mut parts = Vec::with_capacity(units.len());
        for &u in units {
            let (k, e) = (u / envs, u % envs);
            rows.extend((0..segment).map(|s| (k * segment + s) * envs + e));
            parts.push(roll.segment_memory[k].gather(&[e]));
        }
        let starts = rows.iter().map(|&r| roll.starts[r]).collect();
        Minibatch {
            rows,
            segment,
            memory: Some((BranchMemories::stack(&parts), starts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_empties_the_buffer_and_keeps_its_memory() {
        let widths = RolloutWidths {
            proprio_dim: 3,
            depth_len: 5,
            action_dim: 2,
            privileged_dim: 0,
        };
        let mut roll = Rollout::new(2, 4, widths);
        roll.depth.extend_from_slice(&[1.0; 40]);
        roll.values.extend_from_slice(&[0.5; 8]);
        roll.terminated.extend_from_slice(&[true; 8]);
        let capacity = roll.depth.capacity();
        roll.reset(2, 4, widths);
        assert!(roll.is_empty() && roll.depth.is_empty() && roll.terminated.is_empty());
        assert_eq!(roll.depth.capacity(), capacity);
        roll.reset(
            1,
            3,
            RolloutWidths {
                depth_len: 7,
                ..widths
            },
        );
        assert_eq!((roll.envs, roll.depth_len), (1, 7));
    }

    #[test]
    fn gather_copies_rows_in_order() {
        let buf = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        assert_eq!(
            Rollout::gather(&buf, 2, &[2, 0]),
            vec![20.0, 21.0, 0.0, 1.0]
        );
    }
}
