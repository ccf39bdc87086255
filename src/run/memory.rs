//! What a recipe will need in memory, estimated from its sizes before anything is allocated, and
//! the check that refuses a recipe the machine (or `--max-memory`) cannot hold, naming the keys
//! that make it large. An estimate, not a measurement: it counts the buffers that grow with the
//! recipe's sizes (depth images, rollout storage, the networks' activations and parameters) and
//! leaves out the fixed costs (physics worlds, code, allocator slack).

use thiserror::Error;

use crate::nn::encoder::cnn_grid;
use crate::recipe::{Recipe, SequenceConfig};
use crate::sim::observation::proprio_dim;

const F32: f64 = 4.0;

/// Bytes per part of a recipe's memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Depth images of every env: the camera's ray table, the frame stacks (observation,
    /// terminal copy, the vectorised env's batch) and the render buffer.
    pub depth_buffers: f64,
    /// One update's rollout: observations, actions, log-probabilities, values and rewards of
    /// `ppo.rollout_steps` transitions.
    pub rollout_storage: f64,
    /// Parameters with their gradients and Adam moments, and one minibatch's activations kept
    /// for the backward pass, for the policy and the value network.
    pub networks: f64,
}

/// A part of the estimate and the keys that size it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryPart {
    /// [`MemoryEstimate::depth_buffers`].
    DepthBuffers,
    /// [`MemoryEstimate::rollout_storage`].
    RolloutStorage,
    /// [`MemoryEstimate::networks`].
    Networks,
}

impl MemoryPart {
    /// What the part is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            MemoryPart::DepthBuffers => "depth buffers",
            MemoryPart::RolloutStorage => "rollout storage",
            MemoryPart::Networks => "networks and update",
        }
    }

    /// The keys whose product sizes the part, the image size first (every part grows with it).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            MemoryPart::DepthBuffers => &[
                "env.depth.width",
                "env.depth.height",
                "env.depth.frames",
                "env.num_envs",
            ],
            MemoryPart::RolloutStorage => &[
                "env.depth.width",
                "env.depth.height",
                "env.depth.frames",
                "ppo.rollout_steps",
            ],
            MemoryPart::Networks => &[
                "env.depth.width",
                "env.depth.height",
                "ppo.minibatch_size",
                "encoder.visual_dim",
                "sequence.layers",
            ],
        }
    }
}

impl MemoryEstimate {
    /// The sum of the parts, in bytes.
    pub fn total(&self) -> f64 {
        self.depth_buffers + self.rollout_storage + self.networks
    }

    /// The largest part.
    pub fn largest(&self) -> MemoryPart {
        let parts = [
            (MemoryPart::DepthBuffers, self.depth_buffers),
            (MemoryPart::RolloutStorage, self.rollout_storage),
            (MemoryPart::Networks, self.networks),
        ];
        parts
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("three parts")
            .0
    }
}

/// Activations (floats per sample) and parameters (floats) of the fusion layers over `tokens`
/// tokens of width `width`, a Transformer's queries attending over `context` steps of them.
fn sequence_floats(sequence: &SequenceConfig, tokens: f64, width: f64, context: f64) -> (f64, f64) {
    match sequence {
        SequenceConfig::Transformer { layers } => layers.iter().fold((0.0, 0.0), |acc, l| {
            let (heads, ff) = (l.n_heads as f64, l.dim_feedforward as f64);
            // Projections, norms and residuals (~8 widths per token), the feed-forward's two
            // activations, the attention weights of every head (softmax in and out) over the
            // window's tokens, and with memory the window's keys and values.
            let keys = context * tokens;
            let windows = if context > 1.0 {
                2.0 * keys * width
            } else {
                0.0
            };
            let act = tokens * (8.0 * width + 2.0 * ff) + 2.0 * heads * tokens * keys + windows;
            let params = 4.0 * width * width + 2.0 * width * ff;
            (acc.0 + act, acc.1 + params)
        }),
        SequenceConfig::Mamba { layers, .. } => layers.iter().fold((0.0, 0.0), |acc, l| {
            let inner = l.expand as f64 * width;
            // In and out projections, the convolution, the gates, and the scan's inputs and
            // per-token states.
            let act = tokens * (inner * (8.0 + 2.0 * l.d_state as f64) + 2.0 * width);
            let params = 3.0 * width * inner + inner * (l.d_conv as f64 + 3.0 * l.d_state as f64);
            (acc.0 + act, acc.1 + params)
        }),
        SequenceConfig::Concat {} | SequenceConfig::StateOnly {} => (0.0, 0.0),
    }
}

/// The memory `recipe` needs, in bytes per part.
pub fn estimate(recipe: &Recipe) -> MemoryEstimate {
    let env = &recipe.env;
    let d = &env.depth;
    let depth_on = d.enabled;
    let pixels = if depth_on {
        d.width as f64 * d.height as f64
    } else {
        0.0
    };
    let frames = d.frames as f64;
    let envs = env.num_envs as f64;
    let proprio = proprio_dim(env) as f64;
    // Ray table (a 3-vector and its forward part), three frame stacks, one render buffer.
    let depth_buffers = envs * pixels * (4.0 * F32 + 3.0 * frames * F32 + F32);
    let per_transition = proprio + frames * pixels + 2.0 * 12.0 + 8.0;
    let rollout_storage = recipe.ppo.rollout_steps as f64 * per_transition * F32;
    let (h, w) = (d.height, d.width);
    let width = recipe.encoder.visual_dim as f64;
    let (conv_act, tokens) = match cnn_grid(h, w).filter(|_| depth_on) {
        Some((h3, w3)) => {
            let side = |s: usize, k: usize, st: usize| ((s.saturating_sub(k)) / st + 1) as f64;
            let (h1, w1) = (side(h, 8, 4), side(w, 8, 4));
            let (h2, w2) = (side(h1 as usize, 4, 2), side(w1 as usize, 4, 2));
            let cells = (h3 * w3) as f64;
            // Input, each convolution's unfolded input and output, and the 1x1 projection.
            let act = frames * pixels
                + h1 * w1 * (frames * 64.0 + 32.0)
                + h2 * w2 * (32.0 * 16.0 + 64.0)
                + cells * (64.0 * 9.0 + 64.0 + width);
            (act, cells + 1.0)
        }
        None => (0.0, 1.0),
    };
    let context = if recipe.memory.enabled {
        recipe.memory.context_steps as f64
    } else {
        1.0
    };
    let (seq_act, seq_params) = sequence_floats(&recipe.sequence, tokens, width, context);
    let head = recipe
        .head
        .hidden_shapes
        .iter()
        .map(|&n| n as f64)
        .sum::<f64>();
    let per_sample = conv_act + seq_act + tokens * width + head + proprio;
    let conv_params = 64.0 * frames * 32.0 + 16.0 * 32.0 * 64.0 + 9.0 * 64.0 * 64.0 + 64.0 * width;
    let params = conv_params + seq_params + 4.0 * tokens * width * 64.0;
    // Two networks (policy and value); activations twice (forward values and their gradients);
    // parameters four times (values, gradients, two Adam moments).
    let networks =
        2.0 * (recipe.ppo.minibatch_size as f64 * per_sample * 2.0 * F32 + params * 4.0 * F32);
    MemoryEstimate {
        depth_buffers,
        rollout_storage,
        networks,
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn mem_total_bytes(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// This machine's memory in bytes (Linux `/proc/meminfo`), when known.
pub fn machine_memory_bytes() -> Option<f64> {
    mem_total_bytes(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// Bytes as `12.3 GB`-style text (powers of 1024, as `free -h` prints them).
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Parses a memory size: `8G`, `512M`, `2.5GiB`, `1T`, or plain bytes.
pub fn parse_bytes(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a size such as 8G, 512M or 2.5GiB"))?;
    let scale = match unit
        .trim()
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use K, M, G or T)"
            ));
        }
    };
    Ok(value * scale)
}

/// A recipe that would not fit.
#[derive(Debug, Error)]
#[error(
    "{origin}: key `{key}` (with {others}): the recipe needs about {needed} ({parts}), more than \
     the {limit} {limit_source}; make it smaller, or pass --max-memory if the estimate is wrong"
)]
pub struct MemoryError {
    /// The recipe file.
    pub origin: String,
    /// The first key that sizes the largest part.
    pub key: &'static str,
    /// The other keys it multiplies with.
    pub others: String,
    /// The estimated total.
    pub needed: String,
    /// Each part.
    pub parts: String,
    /// The limit.
    pub limit: String,
    /// Where the limit comes from.
    pub limit_source: &'static str,
}

/// Refuses `recipe` (read from `origin`) when its [`estimate`] exceeds `max_bytes` (default:
/// this machine's memory; no check when that is unknown). Returns the estimate when it fits.
pub fn check(
    recipe: &Recipe,
    origin: &str,
    max_bytes: Option<f64>,
) -> Result<MemoryEstimate, Box<MemoryError>> {
    let e = estimate(recipe);
    let (limit, limit_source) = match max_bytes {
        Some(b) => (b, "--max-memory"),
        None => match machine_memory_bytes() {
            Some(b) => (b, "memory of this machine"),
            None => return Ok(e),
        },
    };
    if e.total() <= limit {
        return Ok(e);
    }
    let keys = e.largest().keys();
    let parts = [
        (MemoryPart::DepthBuffers, e.depth_buffers),
        (MemoryPart::RolloutStorage, e.rollout_storage),
        (MemoryPart::Networks, e.networks),
    ]
    .iter()
    .map(|(p, b)| format!("{} {}", p.describe(), human_bytes(*b)))
    .collect::<Vec<_>>()
    .join(", ");
    Err(Box::new(MemoryError {
        origin: origin.to_string(),
        key: keys[0],
        others: keys[1..].join(", "),
        needed: human_bytes(e.total()),
        parts,
        limit: human_bytes(limit),
        limit_source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("512").unwrap(), 512.0);
        assert_eq!(parse_bytes("8G").unwrap(), 8.0 * 1024f64.powi(3));
        assert_eq!(parse_bytes("2.5GiB").unwrap(), 2.5 * 1024f64.powi(3));
        assert_eq!(parse_bytes("64mb").unwrap(), 64.0 * 1024f64.powi(2));
        assert!(parse_bytes("lots").unwrap_err().contains("expected a size"));
        assert!(parse_bytes("3X").unwrap_err().contains("unknown unit"));
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(
            mem_total_bytes("MemTotal:  2048 kB\nMemFree: 1 kB\n"),
            Some(2048.0 * 1024.0)
        );
    }

    #[test]
    fn the_paper_recipe_fits_a_laptop_and_a_huge_camera_does_not() {
        let paper = Recipe::default();
        let e = estimate(&paper);
        // 16,384 transitions of 4 x 64 x 64 floats: about 1 GiB of rollout.
        assert!(
            (e.rollout_storage / 1024f64.powi(3) - 1.0).abs() < 0.1,
            "{e:?}"
        );
        assert!(e.total() < 8.0 * 1024f64.powi(3), "{e:?}");
        let gib24 = Some(24.0 * 1024f64.powi(3));
        assert!(check(&paper, "r.toml", gib24).is_ok());
        let mut huge = Recipe::default();
        huge.env.depth.width = 100_000;
        huge.env.depth.height = 100_000;
        let text = check(&huge, "r.toml", gib24).unwrap_err().to_string();
        assert!(
            text.starts_with("r.toml: key `env.depth.width` (with env.depth.height"),
            "{text}"
        );
        assert!(
            text.contains("more than the 24.0 GiB --max-memory"),
            "{text}"
        );
        // Attention over the image's tokens grows with their square: the networks dominate.
        assert_eq!(estimate(&huge).largest(), MemoryPart::Networks);
        // A camera of many envs with small networks and rollouts: the depth buffers dominate.
        let mut wide = Recipe::default();
        wide.env.num_envs = 4096;
        wide.env.depth.width = 512;
        wide.env.depth.height = 512;
        wide.ppo.rollout_steps = 4096;
        wide.ppo.minibatch_size = 8;
        assert_eq!(estimate(&wide).largest(), MemoryPart::DepthBuffers);
    }
}
