//! The tiny recipe the run tests train: flat ground, 2 envs, 40 x 40 depth, small networks, so
//! an update takes a fraction of a second.

use std::path::{Path, PathBuf};

/// What a test varies in the tiny recipe; the rest is fixed.
pub struct Tiny<'a> {
    /// `experiment.name`.
    pub name: &'a str,
    /// The recipe's file name without `.toml` (default: the name).
    pub file: Option<&'a str>,
    /// `experiment.seeds`, as TOML.
    pub seeds: &'a str,
    /// `experiment.total_env_steps`.
    pub total_env_steps: u64,
    /// The `[sequence]` table's body.
    pub sequence: &'a str,
    /// `ppo.epochs`.
    pub epochs: usize,
    /// The `[logging]` table's body.
    pub logging: &'a str,
    /// Sweep both fusion models.
    pub sweep_models: bool,
}

impl Default for Tiny<'_> {
    fn default() -> Self {
        Tiny {
            name: "tiny",
            file: None,
            seeds: "[0]",
            total_env_steps: 16,
            sequence: "model = \"transformer\"\nlayers = [[2, 32]]",
            epochs: 2,
            logging: "",
            sweep_models: false,
        }
    }
}

impl Tiny<'_> {
    /// Writes `<dir>/<file>.toml`, its runs going to `<dir>/runs`, and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let sweep = if self.sweep_models {
            "[sweep]\n\"sequence.model\" = [\"transformer\", \"mamba\"]\n"
        } else {
            ""
        };
        let text = format!(
            r#"version = 1
[experiment]
name = "{name}"
seeds = {seeds}
total_env_steps = {total}
output_dir = "{out}"
[env]
task = "flat"
num_envs = 2
horizon = 12
domain_randomization = false
[env.depth]
width = 40
height = 40
[encoder]
hidden_shapes = [16]
visual_dim = 16
[sequence]
{sequence}
[head]
hidden_shapes = [16]
[ppo]
rollout_steps = 16
minibatch_size = 8
epochs = {epochs}
[logging]
{logging}
{sweep}"#,
            name = self.name,
            seeds = self.seeds,
            total = self.total_env_steps,
            out = dir.join("runs").display(),
            sequence = self.sequence,
            epochs = self.epochs,
            logging = self.logging,
        );
        let path = dir.join(format!("{}.toml", self.file.unwrap_or(self.name)));
        std::fs::write(&path, text).unwrap();
        path
    }
}
