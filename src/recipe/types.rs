//! The typed recipe: one struct per section, each field documented and defaulted.
//!
//! Defaults are the Python LocoTransformer project's values unless a field says otherwise, so a
//! recipe that only names what it changes reproduces the original setup.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::layers::{MambaLayer, RawLayer, TransformerLayer};

/// Format version written by this runner; older versions are upgraded by `recipe::version`.
pub const CURRENT_VERSION: u32 = 1;

/// One experiment: what to train, on which task, with which networks and budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(title = "locomamba recipe")]
pub struct Recipe {
    /// Recipe format version. Older versions are migrated on load; newer ones are refused.
    pub version: u32,
    /// Name, seeds, budget and output location.
    pub experiment: ExperimentConfig,
    /// The simulated task: robot control, terrain, rewards, depth camera.
    pub env: EnvConfig,
    /// How proprioception and depth become tokens.
    pub encoder: EncoderConfig,
    /// The cross-modal fusion network over the tokens (Transformer or Mamba).
    pub sequence: SequenceConfig,
    /// The MLP after fusion (legacy `append_hidden_shapes`).
    pub head: HeadConfig,
    /// PPO hyperparameters.
    pub ppo: PpoConfig,
    /// Compute backend.
    pub backend: BackendConfig,
    /// TensorBoard, metrics, checkpoint and evaluation cadence.
    pub logging: LoggingConfig,
    /// Grid of overrides: each key is a dotted recipe path, each value the list of values to try.
    /// The runner trains every combination for every seed, e.g.
    /// `"sequence.model" = ["transformer", "mamba"]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("default" = {}))]
    pub sweep: BTreeMap<String, Vec<serde_json::Value>>,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            version: CURRENT_VERSION,
            experiment: ExperimentConfig::default(),
            env: EnvConfig::default(),
            encoder: EncoderConfig::default(),
            sequence: SequenceConfig::default(),
            head: HeadConfig::default(),
            ppo: PpoConfig::default(),
            backend: BackendConfig::default(),
            logging: LoggingConfig::default(),
            sweep: BTreeMap::new(),
        }
    }
}

/// `[experiment]`: what the run is called, which seeds, how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name; outputs go to `<output_dir>/<name>/`.
    pub name: String,
    /// Seeds to train; each seed is an independent run. Must be non-empty and unique.
    pub seeds: Vec<u64>,
    /// Environment steps (policy steps summed over all envs) per run.
    pub total_env_steps: u64,
    /// Root folder for runs.
    pub output_dir: String,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "experiment".into(),
            seeds: vec![0],
            total_env_steps: 15_000_000,
            output_dir: "runs".into(),
        }
    }
}

/// Which terrain and obstacles the robot walks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Flat ground, no obstacles.
    Flat,
    /// 50 thin boxes (0.36 x 0.36 x 1.4 m) in a walled corridor (legacy `random_blocks_sparse`).
    ThinObstacles,
    /// Wide walls across the corridor with gaps, plus thin boxes (legacy `random_blocks_sparse_thin_wide`).
    WideObstacles,
    /// Thin boxes that move (legacy `moving: true`).
    MovingObstacles,
    /// Thin or wide obstacles (`env.sphere_obstacles`) plus spheres to collect for a bonus
    /// (legacy `random_blocks_sparse_with_subgoal`: thin).
    Spheres,
    /// A heightfield hill with the goal at the summit (legacy `mount`).
    Mountain,
}

impl Task {
    /// Every task, in declaration order.
    pub const ALL: [Task; 6] = [
        Task::Flat,
        Task::ThinObstacles,
        Task::WideObstacles,
        Task::MovingObstacles,
        Task::Spheres,
        Task::Mountain,
    ];

    /// The recipe spelling of this task.
    pub fn name(self) -> &'static str {
        match self {
            Task::Flat => "flat",
            Task::ThinObstacles => "thin_obstacles",
            Task::WideObstacles => "wide_obstacles",
            Task::MovingObstacles => "moving_obstacles",
            Task::Spheres => "spheres",
            Task::Mountain => "mountain",
        }
    }
}

/// The obstacle layout of the `spheres` task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SphereObstacles {
    /// The thin-obstacles layout (the paper's "Thin & Sphere").
    Thin,
    /// The wide-obstacles layout (the paper's "Wide & Sphere").
    Wide,
}

/// `[env]`: the simulated A1 task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EnvConfig {
    /// Task (terrain and obstacles).
    pub task: Task,
    /// Obstacle layout under the spheres of the `spheres` task.
    pub sphere_obstacles: SphereObstacles,
    /// Parallel environments per run.
    pub num_envs: usize,
    /// Episode length limit in policy steps; reaching it is a time-limit end, not a fall.
    pub horizon: usize,
    /// Physics time step in seconds (legacy `time_step_s`).
    pub time_step_s: f32,
    /// Physics steps per policy action (legacy `num_action_repeat`); 16 x 2.5 ms = 25 Hz.
    pub action_repeat: usize,
    /// Solver sub-steps per physics step (rapier's `num_solver_iterations`). 1 integrates once
    /// per `time_step_s`, as the Python original's PyBullet did; 2 halves the integration error
    /// (README, Simulator) at about 1.7x the physics cost.
    pub solver_substeps: usize,
    /// Gauss-Seidel passes over the contacts, joint limits and motors per sub-step (rapier's
    /// `num_internal_pgs_iterations`).
    pub solver_pgs_iterations: usize,
    /// Diagonal action mode: 6 outputs drive the pairs FR=RL and FL=RR (legacy `diagonal_act`).
    pub diagonal_act: bool,
    /// Half-range of each joint target around the standing pose, in radians (legacy `clip_num`):
    /// 3 values (abduction, hip, knee) used for every leg, or 12 (FR, FL, RR, RL).
    pub action_clip: Vec<f32>,
    /// Include the last 3 joint-target vectors in the proprioception (legacy `add_last_action_input`).
    pub last_action_in_obs: bool,
    /// Forward velocity the reward asks for, in m/s (legacy `target_vel`).
    pub target_vel: f32,
    /// Randomise masses, inertia, motor strength, friction, PD gains and latency on every reset.
    pub domain_randomization: bool,
    /// Start position is drawn uniformly within +- this many metres in x and y (legacy `random_init_range`).
    pub start_xy_range: f32,
    /// Obstacle-count multiplier (1 = the paper's density); a curriculum can change it.
    pub obstacle_density: f32,
    /// Ground friction coefficient (legacy `fric_coeff[0]`); domain randomisation multiplies it at
    /// the feet by a foot friction drawn from 0.5-1.25 per episode.
    pub friction: f32,
    /// Reward coefficients.
    pub reward: RewardConfig,
    /// Depth camera.
    pub depth: DepthConfig,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            task: Task::ThinObstacles,
            sphere_obstacles: SphereObstacles::Thin,
            num_envs: 4,
            horizon: 1000,
            time_step_s: 0.0025,
            action_repeat: 16,
            solver_substeps: 1,
            solver_pgs_iterations: 4,
            diagonal_act: true,
            action_clip: vec![0.05, 0.5, 0.5],
            last_action_in_obs: true,
            target_vel: 1.0,
            domain_randomization: true,
            start_xy_range: 1.0,
            obstacle_density: 1.0,
            friction: 1.0,
            reward: RewardConfig::default(),
            depth: DepthConfig::default(),
        }
    }
}

/// `[env.reward]`: coefficients of each reward term (per policy step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// Multiplies the whole reward (legacy `reward_scale`).
    pub scale: f32,
    /// Weight of the forward term `v_t^2 - (min(v_x, v_t) - v_t)^2`.
    pub forward: f32,
    /// Weight of the `-v_z^2` penalty (legacy `z_penalty`).
    pub z_velocity: f32,
    /// Weight of the `-v_y^2` penalty (legacy `other_direction_penalty`).
    pub lateral_velocity: f32,
    /// Weight of the energy penalty `-sum(tau^2) dt` over physics sub-steps.
    pub energy: f32,
    /// Added every step the robot is alive (legacy `alive_reward`).
    pub alive: f32,
    /// Added once when the robot falls (legacy `fall_reward`).
    pub fall: f32,
    /// Added for each sphere collected in the `spheres` task.
    pub sphere_bonus: f32,
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            scale: 1.0,
            forward: 1.0,
            z_velocity: 1.0,
            lateral_velocity: 0.0,
            energy: 0.005,
            alive: -0.05,
            fall: -20.0,
            sphere_bonus: 100.0,
        }
    }
}

/// How metric depth becomes the network's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DepthTransform {
    /// The original's `(sqrt(ln(d + 1)) - 1.25) / 0.425`.
    LogSqrt,
    /// `(d - near) / (far - near)`, in [0, 1].
    Linear,
}

/// `[env.depth]`: the ray-cast depth camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DepthConfig {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Frames stacked as channels, newest first.
    pub frames: usize,
    /// Vertical field of view in degrees.
    pub vertical_fov_deg: f32,
    /// Near clip in metres.
    pub near: f32,
    /// Far clip in metres; rays that hit nothing read this.
    pub far: f32,
    /// Depth normalisation.
    pub transform: DepthTransform,
}

impl Default for DepthConfig {
    fn default() -> Self {
        Self {
            width: 64,
            height: 64,
            frames: 4,
            vertical_fov_deg: 60.0,
            near: 0.3,
            far: 10.0,
            transform: DepthTransform::LogSqrt,
        }
    }
}

/// Which observations the encoder turns into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// Proprioception (one state token) plus depth (visual tokens): LocoTransformer / LocoMamba.
    Loco,
    /// Depth only (visual tokens, no state token).
    VisionOnly,
}

/// `[encoder]`: proprioception MLP and depth CNN that produce the tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Which modalities are encoded.
    pub kind: EncoderKind,
    /// Hidden sizes of the proprioception MLP (legacy `encoder.hidden_shapes`).
    pub hidden_shapes: Vec<usize>,
    /// Token width shared by all tokens. Note: the Python original ignored this and used 64.
    pub visual_dim: usize,
    /// Add a learned positional embedding per token (off in the original).
    pub positional_embedding: bool,
    /// Policy and value share the encoder (CNN, state MLP, token projections), as in the original.
    pub shared: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            kind: EncoderKind::Loco,
            hidden_shapes: vec![256, 256],
            visual_dim: 256,
            positional_embedding: false,
            shared: true,
        }
    }
}

/// Names of the fusion models, as written in `sequence.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SequenceModel {
    /// Transformer encoder layers (LocoTransformer).
    Transformer,
    /// Mamba selective state-space layers (LocoMamba).
    Mamba,
}

impl SequenceModel {
    /// The recipe spelling.
    pub fn name(self) -> &'static str {
        match self {
            SequenceModel::Transformer => "transformer",
            SequenceModel::Mamba => "mamba",
        }
    }
}

/// `[sequence]`: the fusion network over the tokens, tagged by `model`.
///
/// Layers are written positionally (`[n_heads, dim_feedforward]`, `[d_model, d_state, d_conv, expand]`)
/// or by name. Omitting `layers` gives the model's default two-layer stack.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = describe_model_tag)]
pub enum SequenceConfig {
    /// Post-LayerNorm Transformer encoder layers with ReLU feed-forward, as PyTorch's default.
    Transformer {
        /// One entry per layer: `[n_heads, dim_feedforward]`.
        #[serde(default = "default_transformer_layers")]
        layers: Vec<TransformerLayer>,
    },
    /// Mamba-1 blocks with a selective scan; state token first, then visual tokens in raster order.
    Mamba {
        /// One entry per layer: `[d_model, d_state, d_conv, expand]`; `d_model` must equal `encoder.visual_dim`.
        #[serde(default = "default_mamba_layers")]
        layers: Vec<MambaLayer>,
        /// Scan forward and reversed and sum the two (off in the original).
        #[serde(default)]
        bidirectional: bool,
    },
}

/// Documents the `model` tag in every variant of the `[sequence]` schema.
fn describe_model_tag(schema: &mut schemars::Schema) {
    let Some(variants) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for variant in variants {
        if let Some(tag) = variant.pointer_mut("/properties/model") {
            tag["description"] = serde_json::json!(
                "Fusion model: \"transformer\" (the default) or \"mamba\"; picks the layer format."
            );
        }
    }
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig::Transformer {
            layers: default_transformer_layers(),
        }
    }
}

impl SequenceConfig {
    /// Which model this is.
    pub fn model(&self) -> SequenceModel {
        match self {
            SequenceConfig::Transformer { .. } => SequenceModel::Transformer,
            SequenceConfig::Mamba { .. } => SequenceModel::Mamba,
        }
    }

    /// Number of fusion layers.
    pub fn depth(&self) -> usize {
        match self {
            SequenceConfig::Transformer { layers } => layers.len(),
            SequenceConfig::Mamba { layers, .. } => layers.len(),
        }
    }
}

/// `[sequence]` as written, before the model tag picks the layer type. Deserialising through this
/// untagged form keeps exact key paths in errors (serde's tagged enums buffer and lose them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    model: SequenceModel,
    #[serde(default)]
    layers: Option<Vec<RawLayer>>,
    #[serde(default)]
    bidirectional: Option<bool>,
}

/// Converts raw layers, prefixing an error with its relative path (`@layers[1]: ...`); the loader
/// joins that onto the section's key path.
fn convert_layers<'a, L: TryFrom<&'a RawLayer, Error = String>>(
    raw: &'a Option<Vec<RawLayer>>,
    default: fn() -> Vec<L>,
) -> Result<Vec<L>, String> {
    match raw {
        None => Ok(default()),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, l)| L::try_from(l).map_err(|m| format!("@layers[{i}]: {m}")))
            .collect(),
    }
}

impl<'de> Deserialize<'de> for SequenceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawSequence::deserialize(d)?;
        match raw.model {
            SequenceModel::Transformer => {
                if raw.bidirectional.is_some() {
                    return Err(D::Error::custom(
                        "@bidirectional: found a setting for the transformer, expected it only with model = \"mamba\"",
                    ));
                }
                let layers = convert_layers(&raw.layers, default_transformer_layers)
                    .map_err(D::Error::custom)?;
                Ok(SequenceConfig::Transformer { layers })
            }
            SequenceModel::Mamba => {
                let layers =
                    convert_layers(&raw.layers, default_mamba_layers).map_err(D::Error::custom)?;
                Ok(SequenceConfig::Mamba {
                    layers,
                    bidirectional: raw.bidirectional.unwrap_or(false),
                })
            }
        }
    }
}

fn default_transformer_layers() -> Vec<TransformerLayer> {
    vec![TransformerLayer::default(); 2]
}

fn default_mamba_layers() -> Vec<MambaLayer> {
    vec![MambaLayer::default(); 2]
}

/// `[head]`: MLP after pooling the fused tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// Hidden sizes (legacy `append_hidden_shapes`), ReLU between.
    pub hidden_shapes: Vec<usize>,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden_shapes: vec![256, 256],
        }
    }
}

/// How learning rates change over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Linearly decayed to 0 at the end of the run.
    Linear,
    /// Constant.
    Constant,
}

/// `[ppo]`: PPO hyperparameters (CleanRL / rsl_rl names, legacy names in brackets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Policy learning rate (legacy `plr`).
    pub policy_lr: f64,
    /// Value learning rate (legacy `vlr`).
    pub value_lr: f64,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// Adam epsilon.
    pub adam_eps: f64,
    /// Surrogate clip range (legacy `clip_para`).
    pub clip: f32,
    /// Clip the value loss to this range around the old value; 0 = plain MSE.
    pub value_clip: f32,
    /// Passes over each rollout (legacy `opt_epochs`).
    pub epochs: usize,
    /// Transitions per minibatch (legacy `batch_size`).
    pub minibatch_size: usize,
    /// Transitions collected per update, summed over envs (legacy `epoch_frames`).
    pub rollout_steps: usize,
    /// Shuffle transitions before splitting into minibatches (legacy `shuffle`).
    pub shuffle: bool,
    /// Discount factor (legacy `discount`).
    pub discount: f32,
    /// GAE lambda (legacy `tau`).
    pub gae_lambda: f32,
    /// Bootstrap time-limit ends from the value of the terminal observation (legacy `time_limit_filter`).
    pub bootstrap_time_limits: bool,
    /// Entropy bonus coefficient (legacy `entropy_coeff`).
    pub entropy_coef: f32,
    /// Value-loss coefficient.
    pub value_coef: f32,
    /// Gradient-norm clip.
    pub max_grad_norm: f32,
    /// Running mean/std normalisation of proprioception (legacy `obs_norm`).
    pub obs_norm: bool,
    /// Normalise advantages per minibatch.
    pub normalize_advantages: bool,
    /// Initial log standard deviation of the Gaussian policy (ln 0.125).
    pub init_log_std: f32,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            policy_lr: 1e-4,
            value_lr: 1e-4,
            lr_schedule: LrSchedule::Linear,
            adam_eps: 1e-5,
            clip: 0.2,
            value_clip: 0.0,
            epochs: 3,
            minibatch_size: 1024,
            rollout_steps: 16_384,
            shuffle: true,
            discount: 0.99,
            gae_lambda: 0.95,
            bootstrap_time_limits: true,
            entropy_coef: 0.005,
            value_coef: 0.5,
            max_grad_norm: 0.5,
            obs_norm: true,
            normalize_advantages: true,
            init_log_std: -2.079_441_6,
        }
    }
}

/// Compute backends a recipe can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// CPU (always available).
    Cpu,
    /// NVIDIA GPU through CUDA (needs the `cuda` cargo feature and a device).
    Cuda,
}

/// burn's CPU backends (both run the fused selective scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CpuBackend {
    /// burn's Flex backend (the faster one on these networks, see README).
    Flex,
    /// burn's NdArray backend.
    Ndarray,
}

/// `[backend]`: where the networks run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Backend for the networks.
    pub kind: BackendKind,
    /// Which CPU backend runs the networks when `kind = "cpu"`.
    pub cpu_backend: CpuBackend,
    /// CPU threads for the simulator and CPU tensor ops; 0 = all cores.
    pub cpu_threads: usize,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            kind: BackendKind::Cpu,
            cpu_backend: CpuBackend::Flex,
            cpu_threads: 0,
        }
    }
}

/// `[logging]`: what is written and how often (intervals in PPO updates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Write TensorBoard event files.
    pub tensorboard: bool,
    /// Log scalars every this many updates.
    pub log_interval: usize,
    /// Write a checkpoint every this many updates (and always at the end; legacy `save_interval`).
    pub checkpoint_interval: usize,
    /// Run a deterministic evaluation every this many updates; 0 = never (legacy `eval_interval`).
    pub eval_interval: usize,
    /// Episodes per evaluation (legacy `eval_episodes`).
    pub eval_episodes: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            tensorboard: true,
            log_interval: 1,
            checkpoint_interval: 10,
            eval_interval: 50,
            eval_episodes: 1,
        }
    }
}

impl Recipe {
    /// Fills in values that depend on other sections (a Mamba layer without `d_model` takes
    /// `encoder.visual_dim`), so that the recipe written next to a run is fully explicit.
    pub fn resolved(mut self) -> Self {
        let width = self.encoder.visual_dim;
        if let SequenceConfig::Mamba { layers, .. } = &mut self.sequence {
            for layer in layers {
                layer.d_model.get_or_insert(width);
            }
        }
        self
    }

    /// This recipe as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe always serialises to TOML")
    }
}
