//! A readable module tree with parameter counts, for `runner describe`.

use std::fmt::Write;

use burn::prelude::*;

use crate::nn::fusion::Fusion;
use crate::nn::policy::ActorCritic;
use crate::recipe::{Recipe, SequenceModel};

/// What the fusion remembers across control steps under `recipe`, in one line.
pub fn memory_line(recipe: &Recipe) -> String {
    let m = &recipe.memory;
    if !m.enabled {
        return "off: each control step's tokens alone (the depth frame stack is the only memory)"
            .into();
    }
    let steps = recipe.ppo.rollout_steps / recipe.env.num_envs.max(1);
    let segment = m.segment_len(steps);
    let what = match recipe.sequence.model() {
        SequenceModel::Mamba => {
            "Mamba's state runs on through the episode (constant cost per step)".to_string()
        }
        _ => format!(
            "the Transformer attends over the last {} control steps of the episode",
            m.context_steps
        ),
    };
    format!("on: {what}; reset at every episode start; trained on segments of {segment} steps")
}

fn fusion_line(f: &Fusion) -> String {
    match f {
        Fusion::Transformer(t) => format!("transformer x{} (post-LN, ReLU FF)", t.layers.len()),
        Fusion::Mamba(m) => format!(
            "mamba x{}{}",
            m.layers.len(),
            if m.bidirectional {
                " (bidirectional)"
            } else {
                ""
            }
        ),
        Fusion::Concat(c) if c.tokens == 1 => "none (state only: the state token)".to_string(),
        Fusion::Concat(c) => format!("none (concat: {} tokens flattened)", c.tokens),
    }
}

/// Renders the module tree of `model` with total and per-part parameter counts.
pub fn describe(model: &ActorCritic) -> String {
    let mut s = String::new();
    let e = &model.encoder;
    let enc_total = e.num_params();
    let _ = writeln!(s, "ActorCritic: {} parameters", model.num_params());
    let _ = writeln!(
        s,
        "  encoder (shared: {}): {enc_total}",
        model.value_encoder.is_none()
    );
    let state: usize = e.state_mlp.iter().map(|l| l.num_params()).sum::<usize>()
        + e.state_token.as_ref().map_or(0, |l| l.num_params());
    let _ = writeln!(s, "    state mlp + token: {state}");
    let cnn: usize = e.convs.iter().map(|c| c.num_params()).sum();
    let _ = writeln!(s, "    cnn: {cnn}");
    let _ = writeln!(s, "    token projection: {}", e.projection.num_params());
    if let Some(p) = &e.positional {
        let _ = writeln!(s, "    positional embedding: {}", p.num_params());
    }
    if let Some(v) = &model.value_encoder {
        let _ = writeln!(s, "  value encoder: {}", v.num_params());
    }
    let p = &model.policy;
    let _ = writeln!(s, "  policy: {}", p.num_params());
    let _ = writeln!(
        s,
        "    fusion {}: {}",
        fusion_line(&p.fusion),
        p.fusion.num_params()
    );
    let _ = writeln!(s, "    head: {}", p.head.num_params());
    let _ = writeln!(s, "    mean: {}", p.mean.num_params());
    let _ = writeln!(s, "    log_std: {}", p.log_std.num_params());
    let v = &model.value;
    let _ = writeln!(s, "  value: {}", v.num_params());
    let _ = writeln!(
        s,
        "    fusion {}: {}",
        fusion_line(&v.fusion),
        v.fusion.num_params()
    );
    let _ = writeln!(s, "    head: {}", v.head.num_params());
    let _ = writeln!(s, "    value: {}", v.value.num_params());
    s
}
