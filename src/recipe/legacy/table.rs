//! The mapping from legacy (Python LocoTransformer) config keys to recipe keys. This table is the
//! single source of truth; `migrations/README.md` documents it and a test checks they agree.

/// What happens to one legacy key.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Copied as is to this recipe key.
    Copy(&'static str),
    /// Converted by a dedicated step in `convert` (the string says what it becomes).
    Special(&'static str),
    /// Only one value is supported; another value is an error (the string says which value).
    Require(&'static str),
}

/// `(legacy dotted key, rule)`. Legacy keys not in this table have no counterpart: they are kept as
/// comments in the output, with a warning each.
pub const TABLE: &[(&str, Rule)] = &[
    (
        "env_name",
        Rule::Special(
            "\"A1MoveGround\" converts; \"A1MoveGroundMPC\" (the convex-MPC controller) is refused",
        ),
    ),
    ("env.reward_scale", Rule::Copy("env.reward.scale")),
    ("env.obs_norm", Rule::Copy("ppo.obs_norm")),
    ("env.horizon", Rule::Copy("env.horizon")),
    (
        "env.env_build.motor_control_mode",
        Rule::Require("\"POSITION\" (PD position control)"),
    ),
    (
        "env.env_build.other_direction_penalty",
        Rule::Copy("env.reward.lateral_velocity"),
    ),
    (
        "env.env_build.z_penalty",
        Rule::Copy("env.reward.z_velocity"),
    ),
    ("env.env_build.clip_num", Rule::Copy("env.action_clip")),
    ("env.env_build.time_step_s", Rule::Copy("env.time_step_s")),
    (
        "env.env_build.num_action_repeat",
        Rule::Copy("env.action_repeat"),
    ),
    (
        "env.env_build.add_last_action_input",
        Rule::Copy("env.last_action_in_obs"),
    ),
    ("env.env_build.diagonal_act", Rule::Copy("env.diagonal_act")),
    (
        "env.env_build.get_image",
        Rule::Special(
            "false: the State-Only model (sequence.model = \"state_only\"), no depth rendered",
        ),
    ),
    (
        "env.env_build.depth_image",
        Rule::Special("true with get_image (depth, not RGB); false only without images"),
    ),
    (
        "env.env_build.depth_norm",
        Rule::Special("env.depth.transform: true -> \"log_sqrt\", false -> \"linear\""),
    ),
    (
        "env.env_build.rgbd",
        Rule::Require("false (RGB-D input is not built)"),
    ),
    (
        "env.env_build.grayscale",
        Rule::Require("false (grayscale input is not built)"),
    ),
    ("env.env_build.z_constrain", Rule::Copy("env.z_constrain")),
    (
        "env.env_build.no_displacement",
        Rule::Special(
            "env.displacement_in_obs = not no_displacement (true: the 84-value observation)",
        ),
    ),
    (
        "env.env_build.enable_action_interpolation",
        Rule::Require("false (targets are held over the action repeat)"),
    ),
    (
        "env.env_build.enable_action_filter",
        Rule::Require("false (no low-pass filter on actions)"),
    ),
    (
        "env.env_build.frame_extract",
        Rule::Copy("env.depth.frame_spacing"),
    ),
    (
        "env.env_build.reset_frame_idx",
        Rule::Special(
            "true: env.depth.frame_offsets = \"random\" (\"fixed_delay\" with fixed_delay_observation)",
        ),
    ),
    (
        "env.env_build.fixed_delay_observation",
        Rule::Special(
            "true: env.fixed_latency = true, and fixed frame offsets with reset_frame_idx",
        ),
    ),
    (
        "env.env_build.interpolation",
        Rule::Copy("env.depth.frame_averaging"),
    ),
    (
        "env.env_build.random_shape",
        Rule::Copy("env.random_box_sizes"),
    ),
    ("env.env_build.goal", Rule::Copy("env.goal")),
    (
        "env.env_build.subgoal_reward",
        Rule::Copy("env.reward.sphere_bonus"),
    ),
    (
        "env.env_build.check_contact",
        Rule::Copy("env.check_contact"),
    ),
    (
        "env.env_build.get_image_interval",
        Rule::Require("1 (every policy step renders a depth frame)"),
    ),
    ("env.env_build.alive_reward", Rule::Copy("env.reward.alive")),
    ("env.env_build.fall_reward", Rule::Copy("env.reward.fall")),
    (
        "env.env_build.fric_coeff",
        Rule::Special(
            "env.friction = fric_coeff[0]; the spinning and rolling coefficients have no counterpart and are kept as a comment",
        ),
    ),
    (
        "env.env_build.moving",
        Rule::Special(
            "random_blocks_sparse: env.task = \"moving_obstacles\"; heightfield, thin_wide: env.moving = true; no effect elsewhere (as in the original)",
        ),
    ),
    ("env.env_build.target_vel", Rule::Copy("env.target_vel")),
    (
        "env.env_build.random_init_range",
        Rule::Copy("env.start_xy_range"),
    ),
    (
        "env.env_build.domain_randomization",
        Rule::Copy("env.domain_randomization"),
    ),
    (
        "env.env_build.terrain_type",
        Rule::Special("env.task (see the terrain table)"),
    ),
    (
        "replay_buffer.time_limit_filter",
        Rule::Copy("ppo.bootstrap_time_limits"),
    ),
    (
        "encoder.hidden_shapes",
        Rule::Special(
            "encoder.hidden_shapes; absent or empty means a vision-only encoder (encoder.kind = \"vision_only\")",
        ),
    ),
    ("encoder.visual_dim", Rule::Copy("encoder.visual_dim")),
    (
        "net.transformer_params",
        Rule::Special(
            "sequence: by --model: one Mamba layer [visual_dim, 16, 4, 2] per Transformer layer (mamba, the default), the layers as given (transformer), or none (concat, state_only)",
        ),
    ),
    (
        "net.mamba_params",
        Rule::Special("sequence: model = \"mamba\", layers as given"),
    ),
    ("net.append_hidden_shapes", Rule::Copy("head.hidden_shapes")),
    (
        "net.hidden_shapes",
        Rule::Special("the State-Only MLP: encoder.hidden_shapes"),
    ),
    ("collector.epoch_frames", Rule::Copy("ppo.rollout_steps")),
    (
        "collector.max_episode_frames",
        Rule::Special("env.horizon = min(env.horizon, max_episode_frames)"),
    ),
    (
        "collector.eval_episodes",
        Rule::Copy("logging.eval_episodes"),
    ),
    ("general_setting.discount", Rule::Copy("ppo.discount")),
    (
        "general_setting.num_epochs",
        Rule::Special("experiment.total_env_steps = num_epochs x epoch_frames"),
    ),
    (
        "general_setting.batch_size",
        Rule::Copy("ppo.minibatch_size"),
    ),
    (
        "general_setting.gae",
        Rule::Special("false -> ppo.gae_lambda = 1 (Monte-Carlo advantages)"),
    ),
    (
        "general_setting.save_interval",
        Rule::Copy("logging.checkpoint_interval"),
    ),
    (
        "general_setting.eval_interval",
        Rule::Copy("logging.eval_interval"),
    ),
    ("ppo.plr", Rule::Copy("ppo.policy_lr")),
    ("ppo.vlr", Rule::Copy("ppo.value_lr")),
    ("ppo.clip_para", Rule::Copy("ppo.clip")),
    ("ppo.opt_epochs", Rule::Copy("ppo.epochs")),
    ("ppo.tau", Rule::Copy("ppo.gae_lambda")),
    ("ppo.shuffle", Rule::Copy("ppo.shuffle")),
    ("ppo.entropy_coeff", Rule::Copy("ppo.entropy_coef")),
];

/// Legacy `terrain_type` values and the task each becomes.
pub const TERRAINS: &[(&str, &str)] = &[
    ("plane", "flat"),
    ("random_blocks_sparse", "thin_obstacles"),
    ("random_blocks_sparse_thin_wide", "wide_obstacles"),
    ("random_blocks_sparse_with_subgoal", "spheres"),
    ("random_blocks_sparse_and_heightfield", "heightfield"),
    ("mount", "mountain"),
    ("stairs", "stairs"),
    ("random_chair_desk", "chair_desk"),
    ("random_hill", "hill"),
];

/// Looks a legacy key up in [`TABLE`].
pub fn rule(key: &str) -> Option<Rule> {
    TABLE.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
}
