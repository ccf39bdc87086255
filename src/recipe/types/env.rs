//! `[env]` and its subsections: the task, the reward and the depth camera.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::trot::{ActionMode, TrotConfig};

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
    /// The thin boxes on rough ground: a heightfield of 0.12 m cells with heights drawn from
    /// 0-0.1 m per 2 x 2 cells and a flat patch at the start (legacy
    /// `random_blocks_sparse_and_heightfield`).
    Heightfield,
    /// Seven slabs across the corridor, 0.1 m rise and 0.44 m tread: three up, a plateau at 0.4 m,
    /// three down; the goal is at (10, 0, 0) (legacy `stairs`).
    Stairs,
    /// 50 chairs and 30 desks, each built from boxes of the original's sizes, between walls
    /// (legacy `random_chair_desk`).
    ChairDesk,
    /// Rolling procedural hills (legacy `random_hill`, whose heightmap is not in the original's
    /// repository): sums of Gaussian bumps up to about 2 m over a 60 x 60 m field.
    Hill,
}

impl Task {
    /// Every task, in declaration order.
    pub const ALL: [Task; 10] = [
        Task::Flat,
        Task::ThinObstacles,
        Task::WideObstacles,
        Task::MovingObstacles,
        Task::Spheres,
        Task::Mountain,
        Task::Heightfield,
        Task::Stairs,
        Task::ChairDesk,
        Task::Hill,
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
            Task::Heightfield => "heightfield",
            Task::Stairs => "stairs",
            Task::ChairDesk => "chair_desk",
            Task::Hill => "hill",
        }
    }

    /// The goal position of tasks that have one (`stairs`, `mountain`), for `env.goal`.
    pub fn goal(self) -> Option<[f32; 3]> {
        match self {
            Task::Stairs => Some([10.0, 0.0, 0.0]),
            Task::Mountain => Some(MOUNTAIN_GOAL),
            _ => None,
        }
    }
}

/// The summit of the `mountain` task, its goal (x, y, z).
pub const MOUNTAIN_GOAL: [f32; 3] = [12.0, 0.0, 2.0];

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
    /// Seconds the robot stands in its standing pose, motors on, at the start of every episode
    /// before the policy's first step (the original's `reset_time` settling, which its soft resets
    /// skip). The robot is dropped from 0.32 m; a trot that starts swinging while it lands folds
    /// a weakly randomised robot below the 0.2 m fall height within 0.25 s. 0: no settling.
    pub settle_s: f32,
    /// Obstacle-count multiplier (1 = the paper's density); a curriculum can change it.
    pub obstacle_density: f32,
    /// Ground friction coefficient (legacy `fric_coeff[0]`); domain randomisation multiplies it at
    /// the feet by a foot friction drawn from 0.5-1.25 per episode.
    pub friction: f32,
    /// Add the base displacement sensor to the proprioception (legacy `no_displacement: false`):
    /// the trunk's (dx, dy, dz) per policy step, world frame, clipped to +-0.1 m, for the last 3
    /// steps (9 values; 93 in all with `last_action_in_obs`). Off in every config of the original.
    pub displacement_in_obs: bool,
    /// Add the heading sensor to the proprioception: cosine and sine of the trunk's yaw in the world
    /// frame (the forward reward points along +x, yaw 0) and its yaw rate (rad/s, trunk frame), for
    /// the last 3 steps (9 values). What a state estimator gives a real robot; without it a policy
    /// cannot see that it has turned away from +x. Off in every config of the original.
    pub heading_in_obs: bool,
    /// Goal task (legacy `goal`, only for tasks with a goal: `stairs`, `mountain`): the
    /// observation adds the trunk position and the goal position (6 values, world frame) and the
    /// reward adds `reward.goal` x the progress towards the goal per second, with the forward term
    /// measured on the planar speed in any direction.
    pub goal: bool,
    /// Box obstacles of random sizes (legacy `random_shape`, for `thin_obstacles`, `moving_obstacles`
    /// and `heightfield`): half-extents in x and y of 0.213-0.570 m and half-heights of 0.45-0.95 m.
    pub random_box_sizes: bool,
    /// End an episode when the robot is stuck (legacy `check_contact`): speed at most 0.05 m/s
    /// while a non-foot body touches the ground or any robot body touches an obstacle.
    pub check_contact: bool,
    /// Also end an episode when the trunk rises above 0.8 m (legacy `z_constrain`).
    pub z_constrain: bool,
    /// Box obstacles move, as the original's `moving: true` moves them (on `thin_obstacles`,
    /// `heightfield`, and the thin pillars of `wide_obstacles`; `moving_obstacles` is
    /// `thin_obstacles` with this on).
    pub moving: bool,
    /// With `domain_randomization`, fix the control latency at its maximum, 0.04 s, instead of
    /// drawing it from 0-0.04 s (legacy `fixed_delay_observation`).
    pub fixed_latency: bool,
    /// A curriculum over the obstacle density and the target velocity of newly reset episodes.
    pub curriculum: CurriculumConfig,
    /// How policy outputs become joint targets.
    pub action_mode: ActionMode,
    /// The trot of the gait prior.
    pub trot: TrotConfig,
    /// Reward coefficients.
    pub reward: RewardConfig,
    /// Depth camera.
    pub depth: DepthConfig,
}

/// What a newly reset episode is asked to do: the two quantities a curriculum ramps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difficulty {
    /// Obstacle-count multiplier (1 = the paper's density).
    pub obstacle_density: f32,
    /// Forward velocity the reward asks for (m/s).
    pub target_vel: f32,
}

impl EnvConfig {
    /// Physics sub-steps of `settle_s`, the standing at an episode's start.
    pub fn settle_substeps(&self) -> usize {
        (self.settle_s / self.time_step_s).round() as usize
    }

    /// The task's own difficulty: `obstacle_density` and `target_vel`.
    pub fn full_difficulty(&self) -> Difficulty {
        Difficulty {
            obstacle_density: self.obstacle_density,
            target_vel: self.target_vel,
        }
    }

    /// The difficulty at curriculum level `level` (0 = the curriculum's start, 1 = the task's own
    /// values, clamped to [0, 1]); each quantity without a start value stays the task's.
    pub fn difficulty_at(&self, level: f32) -> Difficulty {
        let level = level.clamp(0.0, 1.0);
        let ramp = |start: Option<f32>, end: f32| match start {
            Some(s) if self.curriculum.driver != CurriculumDriver::Off => s + (end - s) * level,
            _ => end,
        };
        Difficulty {
            obstacle_density: ramp(self.curriculum.density_start, self.obstacle_density),
            target_vel: ramp(self.curriculum.target_vel_start, self.target_vel),
        }
    }
}

/// What moves a curriculum's level from 0 (easy) to 1 (the task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CurriculumDriver {
    /// No curriculum: every episode gets the task's own values.
    Off,
    /// The run's env steps: the level rises linearly over `env.curriculum.steps`.
    Steps,
    /// Training progress (Isaac Lab's terrain-level rule): after each update whose finished
    /// training episodes walked `env.curriculum.promote_distance` metres or more on average, the
    /// level rises by `env.curriculum.level_step`; below half that distance it falls by as much.
    Progress,
}

/// `[env.curriculum]`: ramps of the obstacle density and the target velocity of newly reset
/// episodes from a start value (level 0) to the task's `env.obstacle_density` and
/// `env.target_vel` (level 1). The level is stored in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CurriculumConfig {
    /// What moves the level.
    pub driver: CurriculumDriver,
    /// With `driver = "steps"`: env steps over which the level rises from 0 to 1.
    pub steps: u64,
    /// With `driver = "progress"`: mean distance per finished training episode (metres along
    /// +x) that promotes the level; below half of it demotes.
    pub promote_distance: f32,
    /// With `driver = "progress"`: change of the level per promotion or demotion.
    pub level_step: f32,
    /// Obstacle density at level 0; absent: the density does not ramp.
    pub density_start: Option<f32>,
    /// Target velocity (m/s) at level 0; absent: the target velocity does not ramp.
    pub target_vel_start: Option<f32>,
}

impl Default for CurriculumConfig {
    fn default() -> Self {
        Self {
            driver: CurriculumDriver::Off,
            steps: 0,
            promote_distance: 4.0,
            level_step: 0.05,
            density_start: None,
            target_vel_start: None,
        }
    }
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
            settle_s: 0.0,
            obstacle_density: 1.0,
            friction: 1.0,
            displacement_in_obs: false,
            heading_in_obs: false,
            goal: false,
            random_box_sizes: false,
            moving: false,
            check_contact: false,
            z_constrain: false,
            fixed_latency: false,
            curriculum: CurriculumConfig::default(),
            action_mode: ActionMode::JointTargets,
            trot: TrotConfig::default(),
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
    /// Weight of the heading penalty `-heading * yaw^2`, yaw being the trunk's angle off +x (off the
    /// direction to the goal on goal tasks), wrapped to [-pi, pi]. Not in the original: its forward
    /// term hardly notices a slow turn within the discount's horizon, so its policies drift off
    /// course over an episode.
    pub heading: f32,
    /// Weight of the energy penalty `-sum(tau^2) dt` over physics sub-steps.
    pub energy: f32,
    /// Added every step the robot is alive (legacy `alive_reward`).
    pub alive: f32,
    /// Added once when the robot falls (legacy `fall_reward`).
    pub fall: f32,
    /// Added for each sphere collected in the `spheres` task (legacy `subgoal_reward`).
    pub sphere_bonus: f32,
    /// With `env.goal`: weight of the progress towards the goal, in metres per second (legacy
    /// `goal_coeff`).
    pub goal: f32,
}

impl Default for RewardConfig {
    fn default() -> Self {
        Self {
            scale: 1.0,
            forward: 1.0,
            z_velocity: 1.0,
            lateral_velocity: 0.0,
            heading: 0.0,
            energy: 0.005,
            alive: -0.05,
            fall: -20.0,
            sphere_bonus: 100.0,
            goal: 10.0,
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
    /// Render depth at all; `sequence.model = "state_only"` turns it off (legacy
    /// `get_image: false`), and nothing else may.
    pub enabled: bool,
    /// Policy steps between stacked frames (legacy `frame_extract`): the camera keeps the last
    /// `frames x frame_spacing` frames and the stack holds those at indices `0, k, 2k, ...`
    /// (newest first).
    pub frame_spacing: usize,
    /// Per-episode offsets of the stacked frames within each spacing block (legacy
    /// `reset_frame_idx`, and `fixed_delay_observation` for `fixed_delay`).
    pub frame_offsets: FrameOffsets,
    /// Average each stacked frame with the `d` frames before it, `d` drawn per episode from
    /// `0..frame_spacing` (legacy `interpolation`).
    pub frame_averaging: bool,
}

impl EnvConfig {
    /// Whether the policy modulates the trot's frequency or amplitude (and observes its phase).
    pub fn modulates_trot(&self) -> bool {
        self.action_mode == ActionMode::TrotResidual
            && (self.trot.frequency_range > 0.0 || self.trot.amplitude_range > 0.0)
    }

    /// Policy outputs after the joints' that modulate the trot: its frequency (when
    /// `trot.frequency_range > 0`), then its amplitude (when `trot.amplitude_range > 0`).
    pub fn modulation_outputs(&self) -> usize {
        if !self.modulates_trot() {
            return 0;
        }
        usize::from(self.trot.frequency_range > 0.0) + usize::from(self.trot.amplitude_range > 0.0)
    }
}

/// Where in each block of `frame_spacing` frames a stacked frame is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrameOffsets {
    /// Indices `i k`: the newest frame of each block.
    None,
    /// Indices `i k + r_i`, each `r_i` drawn from `0..k` at every reset.
    Random,
    /// Indices `i k + k - 1`: the oldest frame of each block, the largest fixed delay.
    FixedDelay,
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
            enabled: true,
            frame_spacing: 1,
            frame_offsets: FrameOffsets::None,
            frame_averaging: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curriculum_ramps_only_the_quantities_with_a_start() {
        let cfg = EnvConfig {
            obstacle_density: 1.0,
            target_vel: 1.0,
            curriculum: CurriculumConfig {
                driver: CurriculumDriver::Steps,
                steps: 1000,
                density_start: Some(0.2),
                ..CurriculumConfig::default()
            },
            ..EnvConfig::default()
        };
        assert_eq!(cfg.difficulty_at(0.0).obstacle_density, 0.2);
        assert!((cfg.difficulty_at(0.5).obstacle_density - 0.6).abs() < 1e-6);
        assert_eq!(cfg.difficulty_at(1.0).obstacle_density, 1.0);
        assert_eq!(cfg.difficulty_at(7.0).obstacle_density, 1.0);
        assert_eq!(cfg.difficulty_at(0.0).target_vel, 1.0);
        let both = EnvConfig {
            curriculum: CurriculumConfig {
                target_vel_start: Some(0.4),
                ..cfg.curriculum.clone()
            },
            ..cfg.clone()
        };
        assert!((both.difficulty_at(0.5).target_vel - 0.7).abs() < 1e-6);
        let off = EnvConfig {
            curriculum: CurriculumConfig {
                driver: CurriculumDriver::Off,
                ..both.curriculum.clone()
            },
            ..both
        };
        assert_eq!(off.difficulty_at(0.0), off.full_difficulty());
    }
}
