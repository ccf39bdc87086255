//! Semantic rules a well-typed recipe must also satisfy; each broken rule is one [`Violation`]
//! naming the key path, the value found and what was expected.

use std::collections::HashSet;

mod memory;
mod trot;

use super::types::{
    CurriculumConfig, CurriculumDriver, Recipe, SequenceConfig, SequenceModel, Task,
};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted key path, with list indices.
    pub path: String,
    /// The offending value.
    pub found: String,
    /// The rule, phrased as what was expected.
    pub expected: String,
}

/// Longest physics step accepted, in seconds.
const MAX_TIME_STEP_S: f32 = 0.02;
/// Longest policy step (physics step x action repeat) accepted, in seconds.
const MAX_CONTROL_PERIOD_S: f64 = 1.0;
/// Fastest commanded speed accepted, in m/s.
const MAX_TARGET_VEL: f32 = 5.0;
/// Largest friction coefficient accepted.
const MAX_FRICTION: f32 = 5.0;
/// Farthest depth clip accepted, in metres.
const MAX_DEPTH_FAR: f32 = 100.0;

fn check_curriculum(c: &mut Checker, cur: &CurriculumConfig) {
    match cur.driver {
        CurriculumDriver::Off => {}
        CurriculumDriver::Steps => c.check(
            cur.steps > 0,
            "env.curriculum.steps",
            cur.steps,
            "env steps > 0 for driver = \"steps\"",
        ),
        CurriculumDriver::Progress => {
            c.positive(
                cur.promote_distance as f64,
                "env.curriculum.promote_distance",
            );
            c.check(
                cur.level_step > 0.0 && cur.level_step <= 1.0,
                "env.curriculum.level_step",
                cur.level_step,
                "a level change in (0, 1]",
            );
        }
    }
    if cur.driver != CurriculumDriver::Off {
        c.check(
            cur.density_start.is_some() || cur.target_vel_start.is_some(),
            "env.curriculum",
            "neither density_start nor target_vel_start",
            "a start value for at least one of them (what the curriculum ramps)",
        );
    }
    if let Some(d) = cur.density_start {
        c.check(
            d >= 0.0,
            "env.curriculum.density_start",
            d,
            "a density >= 0",
        );
    }
    if let Some(v) = cur.target_vel_start {
        c.check(
            (0.0..=MAX_TARGET_VEL).contains(&v),
            "env.curriculum.target_vel_start",
            v,
            "a speed in [0, 5] m/s",
        );
    }
}

struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn check(&mut self, ok: bool, path: impl Into<String>, found: impl ToString, expected: &str) {
        if !ok {
            self.out.push(Violation {
                path: path.into(),
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
    }

    fn positive(&mut self, value: f64, path: impl Into<String>) {
        self.check(value > 0.0, path, value, "a value > 0");
    }

    fn sizes(&mut self, values: &[usize], path: &str, allow_empty: bool) {
        self.check(
            allow_empty || !values.is_empty(),
            path,
            "[]",
            "a non-empty list of sizes",
        );
        for (i, v) in values.iter().enumerate() {
            self.check(*v > 0, format!("{path}[{i}]"), v, "a size > 0");
        }
    }
}

/// Every rule the recipe breaks, in a stable order (empty when valid). Expects a resolved recipe.
pub fn violations(r: &Recipe) -> Vec<Violation> {
    let mut c = Checker { out: Vec::new() };

    let e = &r.experiment;
    c.check(
        !e.name.is_empty()
            && e.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)),
        "experiment.name",
        format!("{:?}", e.name),
        "a non-empty name of letters, digits, '-', '_' or '.' (it names a folder)",
    );
    c.check(
        !e.seeds.is_empty(),
        "experiment.seeds",
        "[]",
        "at least one seed",
    );
    let mut seen = HashSet::new();
    for (i, s) in e.seeds.iter().enumerate() {
        c.check(
            seen.insert(*s),
            format!("experiment.seeds[{i}]"),
            s,
            "unique seeds (this one repeats)",
        );
    }
    c.check(
        e.total_env_steps > 0,
        "experiment.total_env_steps",
        e.total_env_steps,
        "a value > 0",
    );
    c.check(
        !e.output_dir.is_empty(),
        "experiment.output_dir",
        "\"\"",
        "a folder path",
    );

    let env = &r.env;
    c.check(
        env.num_envs > 0,
        "env.num_envs",
        env.num_envs,
        "a value > 0",
    );
    c.check(env.horizon > 0, "env.horizon", env.horizon, "a value > 0");
    c.check(
        env.time_step_s > 0.0 && env.time_step_s <= MAX_TIME_STEP_S,
        "env.time_step_s",
        env.time_step_s,
        "a physics step in (0, 0.02] s (the original's is 0.0025; PD-driven joints and contacts \
         are unstable at longer steps)",
    );
    let control_period = env.time_step_s as f64 * env.action_repeat as f64;
    c.check(
        control_period <= MAX_CONTROL_PERIOD_S,
        "env.action_repeat",
        format!(
            "{} ({control_period:.3} s per policy step)",
            env.action_repeat
        ),
        "at most 1 s per policy step (env.time_step_s x env.action_repeat; the original's is 0.04 s)",
    );
    c.check(
        env.action_repeat > 0,
        "env.action_repeat",
        env.action_repeat,
        "a value > 0",
    );
    c.check(
        env.solver_substeps > 0,
        "env.solver_substeps",
        env.solver_substeps,
        "a value > 0",
    );
    c.check(
        env.solver_pgs_iterations > 0,
        "env.solver_pgs_iterations",
        env.solver_pgs_iterations,
        "a value > 0",
    );
    c.check(
        env.action_clip.len() == 3 || env.action_clip.len() == 12,
        "env.action_clip",
        format!("{} values", env.action_clip.len()),
        "3 values (abduction, hip, knee for every leg) or 12 (FR, FL, RR, RL)",
    );
    for (i, v) in env.action_clip.iter().enumerate() {
        c.check(
            *v > 0.0 && *v <= std::f32::consts::PI,
            format!("env.action_clip[{i}]"),
            v,
            "a joint-angle range in (0, pi] rad",
        );
    }
    c.check(
        (0.0..=MAX_TARGET_VEL).contains(&env.target_vel),
        "env.target_vel",
        env.target_vel,
        "a speed in [0, 5] m/s (the A1's top speed is about 3.3 m/s)",
    );
    c.check(
        env.start_xy_range >= 0.0,
        "env.start_xy_range",
        env.start_xy_range,
        "a range >= 0",
    );
    c.check(
        (0.0..=5.0).contains(&env.settle_s),
        "env.settle_s",
        env.settle_s,
        "seconds in [0, 5]",
    );
    c.check(
        env.obstacle_density >= 0.0,
        "env.obstacle_density",
        env.obstacle_density,
        "a density >= 0",
    );
    c.check(
        env.friction > 0.0 && env.friction <= MAX_FRICTION,
        "env.friction",
        env.friction,
        "a friction coefficient in (0, 5] (rubber on concrete is about 1)",
    );
    check_curriculum(&mut c, &env.curriculum);
    let d = &env.depth;
    c.check(d.width > 0, "env.depth.width", d.width, "a size > 0");
    c.check(d.height > 0, "env.depth.height", d.height, "a size > 0");
    c.check(d.frames > 0, "env.depth.frames", d.frames, "a size > 0");
    c.check(
        d.vertical_fov_deg > 0.0 && d.vertical_fov_deg < 180.0,
        "env.depth.vertical_fov_deg",
        d.vertical_fov_deg,
        "an angle in (0, 180) degrees",
    );
    c.positive(d.near as f64, "env.depth.near");
    c.check(
        d.far > d.near && d.far <= MAX_DEPTH_FAR,
        "env.depth.far",
        d.far,
        "a far clip greater than env.depth.near and at most 100 m",
    );

    c.check(
        d.frame_spacing > 0,
        "env.depth.frame_spacing",
        d.frame_spacing,
        "a spacing > 0 (policy steps between stacked frames)",
    );
    let state_only = r.sequence.model() == SequenceModel::StateOnly;
    c.check(
        d.enabled || state_only,
        "env.depth.enabled",
        d.enabled,
        "true: only sequence.model = \"state_only\" renders no depth",
    );
    c.check(
        !env.goal || env.task.goal().is_some(),
        "env.goal",
        format!("true with env.task = \"{}\"", env.task.name()),
        "a task with a goal (\"stairs\" or \"mountain\")",
    );
    let boxes = [
        Task::ThinObstacles,
        Task::MovingObstacles,
        Task::Heightfield,
    ];
    c.check(
        !env.random_box_sizes || boxes.contains(&env.task),
        "env.random_box_sizes",
        format!("true with env.task = \"{}\"", env.task.name()),
        "a pillar task (\"thin_obstacles\", \"moving_obstacles\" or \"heightfield\")",
    );
    let movers = [
        Task::ThinObstacles,
        Task::MovingObstacles,
        Task::Heightfield,
        Task::WideObstacles,
    ];
    c.check(
        !env.moving || movers.contains(&env.task),
        "env.moving",
        format!("true with env.task = \"{}\"", env.task.name()),
        "a task with box obstacles that move in the original (\"thin_obstacles\", \"heightfield\", \"wide_obstacles\")",
    );

    let enc = &r.encoder;
    c.sizes(&enc.hidden_shapes, "encoder.hidden_shapes", false);
    c.check(
        enc.visual_dim > 0,
        "encoder.visual_dim",
        enc.visual_dim,
        "a size > 0",
    );

    match &r.sequence {
        SequenceConfig::Transformer { layers } => {
            c.check(
                !layers.is_empty(),
                "sequence.layers",
                "[]",
                "at least one layer",
            );
            for (i, l) in layers.iter().enumerate() {
                c.check(
                    l.n_heads > 0,
                    format!("sequence.layers[{i}][0]"),
                    l.n_heads,
                    "n_heads > 0",
                );
                c.check(
                    l.n_heads == 0 || enc.visual_dim.is_multiple_of(l.n_heads),
                    format!("sequence.layers[{i}][0]"),
                    format!("n_heads = {}", l.n_heads),
                    &format!(
                        "a head count dividing encoder.visual_dim ({})",
                        enc.visual_dim
                    ),
                );
                c.check(
                    l.dim_feedforward > 0,
                    format!("sequence.layers[{i}][1]"),
                    l.dim_feedforward,
                    "dim_feedforward > 0",
                );
            }
        }
        SequenceConfig::Mamba { layers, .. } => {
            c.check(
                !layers.is_empty(),
                "sequence.layers",
                "[]",
                "at least one layer",
            );
            for (i, l) in layers.iter().enumerate() {
                let d_model = l.d_model.unwrap_or(enc.visual_dim);
                c.check(
                    d_model == enc.visual_dim,
                    format!("sequence.layers[{i}][0]"),
                    format!("d_model = {d_model}"),
                    &format!("d_model equal to encoder.visual_dim ({})", enc.visual_dim),
                );
                c.check(
                    l.d_state > 0,
                    format!("sequence.layers[{i}][1]"),
                    l.d_state,
                    "d_state > 0",
                );
                c.check(
                    l.d_conv > 0,
                    format!("sequence.layers[{i}][2]"),
                    l.d_conv,
                    "d_conv > 0",
                );
                c.check(
                    l.expand > 0,
                    format!("sequence.layers[{i}][3]"),
                    l.expand,
                    "expand > 0",
                );
            }
        }
        SequenceConfig::Concat {} | SequenceConfig::StateOnly {} => {}
    }
    c.check(
        !state_only || enc.kind == super::types::EncoderKind::Loco,
        "encoder.kind",
        "\"vision_only\" with sequence.model = \"state_only\"",
        "\"loco\": the state-only model has only the state MLP",
    );
    c.sizes(&r.head.hidden_shapes, "head.hidden_shapes", true);

    let p = &r.ppo;
    c.positive(p.policy_lr, "ppo.policy_lr");
    c.positive(p.value_lr, "ppo.value_lr");
    c.positive(p.adam_eps, "ppo.adam_eps");
    c.positive(p.clip as f64, "ppo.clip");
    c.check(
        p.value_clip >= 0.0,
        "ppo.value_clip",
        p.value_clip,
        "a value >= 0 (0 = no clipping)",
    );
    c.check(p.epochs > 0, "ppo.epochs", p.epochs, "a value > 0");
    c.check(
        p.minibatch_size > 0,
        "ppo.minibatch_size",
        p.minibatch_size,
        "a value > 0",
    );
    c.check(
        p.rollout_steps > 0,
        "ppo.rollout_steps",
        p.rollout_steps,
        "a value > 0",
    );
    c.check(
        p.minibatch_size <= p.rollout_steps,
        "ppo.minibatch_size",
        p.minibatch_size,
        &format!(
            "a minibatch no larger than ppo.rollout_steps ({})",
            p.rollout_steps
        ),
    );
    c.check(
        env.num_envs == 0 || p.rollout_steps.is_multiple_of(env.num_envs),
        "ppo.rollout_steps",
        p.rollout_steps,
        &format!(
            "a multiple of env.num_envs ({}): each env collects rollout_steps / num_envs steps",
            env.num_envs
        ),
    );
    c.check(
        p.discount > 0.0 && p.discount <= 1.0,
        "ppo.discount",
        p.discount,
        "a discount in (0, 1]",
    );
    c.check(
        (0.0..=1.0).contains(&p.gae_lambda),
        "ppo.gae_lambda",
        p.gae_lambda,
        "a lambda in [0, 1]",
    );
    c.check(
        p.entropy_coef >= 0.0,
        "ppo.entropy_coef",
        p.entropy_coef,
        "a coefficient >= 0",
    );
    c.check(
        p.value_coef >= 0.0,
        "ppo.value_coef",
        p.value_coef,
        "a coefficient >= 0",
    );
    c.positive(p.max_grad_norm as f64, "ppo.max_grad_norm");
    c.check(
        (-5.0..=2.0).contains(&p.init_log_std),
        "ppo.init_log_std",
        p.init_log_std,
        "a log-std in [-5, 2] (the policy clamps to this range)",
    );
    c.check(
        (0.0..1.0).contains(&p.noise_correlation),
        "ppo.noise_correlation",
        p.noise_correlation,
        "a correlation in [0, 1) (0: white noise)",
    );

    memory::check_memory(&mut c, r);
    trot::check_trot(&mut c, env);

    let l = &r.logging;
    c.check(
        l.log_interval > 0,
        "logging.log_interval",
        l.log_interval,
        "a value > 0",
    );
    c.check(
        l.checkpoint_interval > 0,
        "logging.checkpoint_interval",
        l.checkpoint_interval,
        "a value > 0",
    );
    c.check(
        l.eval_interval == 0 || l.eval_episodes > 0,
        "logging.eval_episodes",
        l.eval_episodes,
        "at least one episode when logging.eval_interval > 0",
    );
    c.out
}
