//! The rules of `[memory]`: a model that can remember, and segments that tile the rollout and
//! the minibatches.

use super::Checker;
use crate::recipe::types::{Recipe, SequenceConfig};

/// Checks `[memory]` against the model and the rollout's sizes.
pub(super) fn check_memory(c: &mut Checker, r: &Recipe) {
    let m = &r.memory;
    let model = r.sequence.model();
    if m.enabled {
        c.check(
            model.has_layers(),
            "memory.enabled",
            format!("true with sequence.model = \"{}\"", model.name()),
            "sequence.model = \"transformer\" or \"mamba\" (the baselines have no fusion layers to carry memory)",
        );
        let bidirectional = matches!(
            r.sequence,
            SequenceConfig::Mamba {
                bidirectional: true,
                ..
            }
        );
        c.check(
            !bidirectional,
            "memory.enabled",
            "true with sequence.bidirectional = true",
            "a unidirectional Mamba (a reversed scan cannot run across control steps)",
        );
    }
    c.check(
        m.context_steps > 0,
        "memory.context_steps",
        m.context_steps,
        "at least 1 step (the current one)",
    );
    let p = &r.ppo;
    let envs = r.env.num_envs;
    if !m.enabled || envs == 0 || !p.rollout_steps.is_multiple_of(envs) {
        return;
    }
    let steps = p.rollout_steps / envs;
    let segment = m.segment_len(steps);
    c.check(
        segment > 0 && steps.is_multiple_of(segment),
        "memory.segment_steps",
        m.segment_steps,
        &format!(
            "a length dividing the rollout's {steps} steps per env (ppo.rollout_steps / env.num_envs), or 0 for all of them"
        ),
    );
    c.check(
        segment == 0 || p.minibatch_size.is_multiple_of(segment),
        "ppo.minibatch_size",
        p.minibatch_size,
        &format!(
            "a multiple of the memory segment of {segment} steps (minibatches are whole segments)"
        ),
    );
}
