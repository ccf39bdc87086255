//! One A1 environment: episode logic and metrics. Observations are kept by
//! [`ObservationHistory`](super::observation::ObservationHistory), the reward formula is in
//! [`super::reward`].

use crate::recipe::{Difficulty, EnvConfig};
mod accessors;
mod episode;

pub use episode::{EpisodeStats, StepResult, validate};

use crate::sim::SimError;
pub use crate::sim::action::action_dim;
use crate::sim::action::{GaitPhase, joint_targets};
use crate::sim::contacts;
use crate::sim::depth::Camera;
use crate::sim::observation::{DISPLACEMENT_CLIP, ObservationHistory, Reading};
pub use crate::sim::observation::{HISTORY, proprio_dim};
use crate::sim::privileged::yaw_of;
use crate::sim::reward::{RewardTerms, StepMotion};
use crate::sim::robot::{Robot, RobotParams, TAG_GROUND, TAG_OBSTACLE, a1};
use crate::sim::terrain::{self, Scene};
use crate::sim::timing::SimTiming;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;
use std::time::Instant;

/// Termination: trunk up-axis world-z below this.
pub const MIN_UP_Z: f32 = 0.6;
/// Termination: trunk height above ground below this.
pub const MIN_HEIGHT: f32 = 0.2;
/// Sphere collection radius in x-y.
pub const SPHERE_REACH: f32 = 0.2;
/// Fraction of depth pixels dropped (set to the far clip) under domain randomisation.
pub const DEPTH_DROPOUT: f32 = 0.01;
/// Distance to the goal (x-y) that counts as reaching it (`mountain`, `stairs`).
pub const SUMMIT_REACH: f32 = 1.0;
/// With `env.z_constrain`: termination when the trunk is higher than this above the ground.
pub const MAX_HEIGHT: f32 = 0.8;
/// With `env.check_contact`: the speed (m/s) at or below which a robot in contact is stuck.
pub const STUCK_SPEED: f32 = 0.05;
/// Largest control latency domain randomisation draws (s); `env.fixed_latency` uses it always.
pub const MAX_LATENCY_S: f32 = 0.04;

/// One simulated A1 episode stream.
pub struct Env {
    cfg: EnvConfig,
    camera: Camera,
    world: PhysicsWorld,
    robot: Robot,
    scene: Scene,
    rng: ChaCha8Rng,
    episode_seed: u64,
    difficulty: Difficulty,
    motors_on: bool,
    steps: usize,
    obs: ObservationHistory,
    start: Vector,
    /// Trunk position at the end of the previous policy step.
    prev_position: Vector,
    episode_return: f32,
    collisions: usize,
    spheres: usize,
    reached_end: bool,
    fell: bool,
    term_sums: RewardTerms,
    actions: Vec<f32>,
    /// Time spent in physics and depth since the last [`Env::take_timing`].
    timing: SimTiming,
    /// The modulated trot's phase (with `env.trot` frequency or amplitude modulation).
    gait: GaitPhase,
}

/// What the physics sub-steps of one policy step measured.
#[derive(Debug, Clone, Copy, Default)]
struct PhysicsStep {
    /// `sum(tau^2) * dt` over the sub-steps.
    energy: f32,
    /// Whether a non-foot robot body touched an obstacle in any sub-step.
    touched_obstacle: bool,
}

fn up_z(rot: &Rotation) -> f32 {
    (*rot * Vector::Z).z
}

impl Env {
    /// Builds an env and starts its first episode from `episode_seed` with the given obstacle
    /// density (and the config's target velocity).
    pub fn new(cfg: &EnvConfig, episode_seed: u64, density: f32) -> Result<Env, SimError> {
        let difficulty = Difficulty {
            obstacle_density: density,
            target_vel: cfg.target_vel,
        };
        Self::with_difficulty(cfg, episode_seed, difficulty)
    }

    /// Builds an env and starts its first episode from `episode_seed` at `difficulty` (what a
    /// curriculum sets).
    pub fn with_difficulty(
        cfg: &EnvConfig,
        episode_seed: u64,
        difficulty: Difficulty,
    ) -> Result<Env, SimError> {
        validate(cfg)?;
        let mut world = PhysicsWorld::new();
        let robot = Robot::build(&mut world, 0.0, 0.0, RobotParams::nominal());
        let mut env = Env {
            cfg: cfg.clone(),
            camera: Camera::new(&cfg.depth),
            world,
            robot,
            scene: Scene::default(),
            rng: ChaCha8Rng::seed_from_u64(episode_seed),
            episode_seed,
            difficulty,
            motors_on: true,
            steps: 0,
            obs: ObservationHistory::new(cfg),
            prev_position: Vector::ZERO,
            start: Vector::ZERO,
            episode_return: 0.0,
            collisions: 0,
            spheres: 0,
            reached_end: false,
            fell: false,
            term_sums: RewardTerms::default(),
            actions: Vec::new(),
            timing: SimTiming::default(),
            gait: GaitPhase::fixed(cfg, 0),
        };
        env.reset_with(episode_seed, difficulty)?;
        Ok(env)
    }

    /// Starts a new episode with the given obstacle density (and the config's target velocity).
    pub fn reset(&mut self, episode_seed: u64, density: f32) -> Result<(), SimError> {
        let difficulty = Difficulty {
            obstacle_density: density,
            target_vel: self.cfg.target_vel,
        };
        self.reset_with(episode_seed, difficulty)
    }

    /// Starts a new episode at `difficulty`: re-draws the scene, the robot's parameters and its
    /// start position.
    pub fn reset_with(
        &mut self,
        episode_seed: u64,
        difficulty: Difficulty,
    ) -> Result<(), SimError> {
        let started = Instant::now();
        let cfg = &self.cfg;
        let density = difficulty.obstacle_density;
        self.episode_seed = episode_seed;
        self.difficulty = difficulty;
        self.rng = ChaCha8Rng::seed_from_u64(episode_seed);
        let rng = &mut self.rng;
        let mut world = PhysicsWorld::new();
        world.gravity = Vector::new(0.0, 0.0, -9.81);
        world.integration_parameters.dt = cfg.time_step_s;
        world.integration_parameters.num_solver_iterations = cfg.solver_substeps;
        world.integration_parameters.num_internal_pgs_iterations = cfg.solver_pgs_iterations;
        let scene = terrain::build(&mut world, cfg, density, rng)?;
        let params = if cfg.domain_randomization {
            RobotParams {
                mass_scale: rng.random_range(0.8..1.2),
                inertia_scale: rng.random_range(0.5..1.5),
                motor_strength: rng.random_range(0.8..1.2),
                joint_friction: rng.random_range(0.0..0.05),
                foot_friction: rng.random_range(0.5..1.25),
                kp: rng.random_range(50.0..70.0),
                kd: rng.random_range(0.4..0.8),
                latency_steps: {
                    let drawn = rng.random_range(0.0..MAX_LATENCY_S);
                    let latency = if cfg.fixed_latency {
                        MAX_LATENCY_S
                    } else {
                        drawn
                    };
                    (latency / cfg.time_step_s).round() as usize
                },
            }
        } else {
            RobotParams::nominal()
        };
        let r = cfg.start_xy_range.max(0.0);
        let (dx, dy) = if r > 0.0 {
            (rng.random_range(-r..r), rng.random_range(-r..r))
        } else {
            (0.0, 0.0)
        };
        let (x, y) = (scene.start[0] + dx, scene.start[1] + dy);
        let z0 = scene.ground_height(x, y);
        let robot = Robot::build(&mut world, x, y, params);
        if z0 != 0.0 {
            for h in std::iter::once(robot.trunk).chain(robot.links) {
                let b = &mut world.bodies[h];
                let t = b.translation() + Vector::new(0.0, 0.0, z0);
                b.set_translation(t, true);
            }
        }
        self.world = world;
        self.robot = robot;
        self.scene = scene;
        self.motors_on = true;
        self.steps = 0;
        self.start = self.world.bodies[self.robot.trunk].translation();
        self.episode_return = 0.0;
        self.collisions = 0;
        self.spheres = 0;
        self.reached_end = false;
        self.fell = false;
        self.term_sums = RewardTerms::default();
        self.actions.clear();
        self.gait = GaitPhase::fixed(cfg, 0);
        let mut stand = [0.0; 12];
        for (k, s) in stand.iter_mut().enumerate() {
            *s = a1().leg.stand_pose[k % 3];
        }
        self.robot.set_targets(&mut self.world, &stand, true);
        // One settling sub-step builds the scene-query structures for the first depth frame.
        // (`PhysicsWorld::detect_collisions` would do it without advancing time, but in rapier
        // 0.36.1 it leaves the multibody frozen afterwards.)
        self.world.step();
        let settle = cfg.settle_substeps();
        if settle > 0 {
            (0..settle).for_each(|_| self.world.step());
            self.start = self.world.bodies[self.robot.trunk].translation();
        }
        let (imu, heading) = self.read_imu();
        let mut q = [0.0; 12];
        let mut qd = [0.0; 12];
        self.robot.joint_state(&self.world, &mut q, &mut qd);
        self.render_frame();
        let goal = self.goal_reading();
        self.prev_position = self.world.bodies[self.robot.trunk].translation();
        self.obs.reset(
            Reading {
                goal,
                displacement: [0.0; 3],
                imu,
                targets: stand,
                q,
                phase: [0.0, 1.0],
                heading,
            },
            &mut self.rng,
        );
        self.timing.total_s += started.elapsed().as_secs_f64();
        Ok(())
    }

    /// The IMU reading (roll, pitch, roll rate, pitch rate) and the heading reading (cosine and
    /// sine of the yaw, yaw rate); rates in the trunk frame.
    fn read_imu(&self) -> ([f32; 4], [f32; 3]) {
        let b = &self.world.bodies[self.robot.trunk];
        let q = *b.rotation();
        let roll = (2.0 * (q.w * q.x + q.y * q.z)).atan2(1.0 - 2.0 * (q.x * q.x + q.y * q.y));
        let pitch = (2.0 * (q.w * q.y - q.z * q.x)).clamp(-1.0, 1.0).asin();
        let w = q.inverse() * b.angvel();
        let (sin, cos) = yaw_of(&q).sin_cos();
        ([roll, pitch, w.x, w.y], [cos, sin, w.z])
    }

    /// Trunk position and goal position, for goal tasks' observations (zeros otherwise).
    fn goal_reading(&self) -> [f32; 6] {
        let Some(g) = self.scene.goal else {
            return [0.0; 6];
        };
        let p = self.world.bodies[self.robot.trunk].translation();
        [p.x, p.y, p.z, g[0], g[1], g[2]]
    }

    fn render_frame(&mut self) {
        if !self.obs.has_depth() {
            return;
        }
        let started = Instant::now();
        let pose = *self.world.bodies[self.robot.trunk].position();
        let frame = self.obs.frame_mut();
        self.camera.render_metric(&self.world, &pose, frame);
        if self.cfg.domain_randomization {
            let n = frame.len();
            let drops = ((n as f32) * DEPTH_DROPOUT).round() as usize;
            for _ in 0..drops {
                let k = self.rng.random_range(0..n);
                frame[k] = self.cfg.depth.far;
            }
        }
        self.camera.normalise(frame);
        self.timing.depth_s += started.elapsed().as_secs_f64();
    }

    /// Joint targets for raw policy outputs: tanh, then the standing pose +- the clip (with the
    /// gait prior, added to the trot at this step's phase).
    pub fn targets_from_action(&self, action: &[f32]) -> [f32; 12] {
        joint_targets(&self.cfg, action, self.gait_at(action))
    }

    /// The trot's phase and amplitude for this step's `action`: the integrated phase and the
    /// action's amplitude scale when the policy modulates the trot, else the fixed trot's.
    fn gait_at(&self, action: &[f32]) -> GaitPhase {
        let amplitude = if self.cfg.modulates_trot() {
            GaitPhase::scales(&self.cfg, action).1
        } else {
            1.0
        };
        GaitPhase {
            phase: self.gait_phase(),
            amplitude,
        }
    }

    /// Turns the joint motors on or off (off: the robot is limp).
    pub fn set_motors(&mut self, on: bool) {
        self.motors_on = on;
    }

    /// Advances one policy step with raw policy outputs (`action_dim` values).
    pub fn step(&mut self, action: &[f32]) -> StepResult {
        let step_started = Instant::now();
        self.actions.extend_from_slice(action);
        let targets = self.targets_from_action(action);
        let started = Instant::now();
        let physics = self.advance_physics(&targets);
        self.timing.physics_s += started.elapsed().as_secs_f64();
        self.steps += 1;
        if self.cfg.modulates_trot() {
            let (frequency, _) = GaitPhase::scales(&self.cfg, action);
            self.gait.advance(&self.cfg, frequency);
        }
        let body = &self.world.bodies[self.robot.trunk];
        let (pos, v, rot) = (body.translation(), body.linvel(), *body.rotation());
        let height = pos.z - self.scene.ground_height(pos.x, pos.y);
        let fell = up_z(&rot) < MIN_UP_Z
            || height < MIN_HEIGHT
            || (self.cfg.z_constrain && height > MAX_HEIGHT)
            || (self.cfg.check_contact && self.stuck(v));
        let spheres = self.collect_spheres(pos);
        let goal_progress = self.scene.goal.map_or(0.0, |g| {
            let goal = Vector::from(g);
            let dt = self.cfg.time_step_s * self.cfg.action_repeat as f32;
            ((goal - self.prev_position).length() - (goal - pos).length()) / dt
        });
        let rewarded = self
            .scene
            .goal
            .map_or(0.0, |g| (g[1] - pos.y).atan2(g[0] - pos.x));
        let terms = RewardTerms::of_step(
            &self.cfg.reward,
            self.difficulty.target_vel,
            &StepMotion {
                velocity: [v.x, v.y, v.z],
                energy: physics.energy,
                fell,
                spheres,
                goal_progress: self.scene.goal.map(|_| goal_progress),
                yaw_off: yaw_of(self.world.bodies[self.robot.trunk].rotation()) - rewarded,
            },
        );
        let reward = self.cfg.reward.scale * terms.sum();
        self.record_step(&terms, reward, pos, physics.touched_obstacle, spheres, fell);
        self.observe(targets, pos);
        self.timing.total_s += step_started.elapsed().as_secs_f64();
        StepResult {
            reward,
            terms,
            terminated: fell,
            truncated: !fell && self.steps >= self.cfg.horizon,
        }
    }

    /// The original's `check_contact` end: at most [`STUCK_SPEED`] while a non-foot body touches
    /// the ground or an obstacle.
    fn stuck(&self, v: Vector) -> bool {
        v.length() <= STUCK_SPEED
            && contacts::touching(
                &self.world,
                &self.robot.body_colliders,
                &[TAG_GROUND, TAG_OBSTACLE],
            )
    }

    /// Runs the `action_repeat` physics sub-steps of one policy step towards `targets` (after the
    /// robot's latency, the previous targets), moving obstacles along.
    fn advance_physics(&mut self, targets: &[f32; 12]) -> PhysicsStep {
        let dt = self.cfg.time_step_s;
        let p = self.robot.params;
        let fmax = a1().motor.torque_limit * p.motor_strength;
        let mut out = PhysicsStep::default();
        let mut q = [0.0; 12];
        let mut qd = [0.0; 12];
        let latency = p.latency_steps.min(self.cfg.action_repeat);
        let moving = !self.scene.moving.is_empty();
        if moving && self.steps > 0 && self.steps.is_multiple_of(terrain::MOVE_PERIOD) {
            terrain::redraw_moving(&mut self.scene, &mut self.rng);
        }
        let prev = self.obs.last_targets();
        for sub in 0..self.cfg.action_repeat {
            let active = if sub < latency { &prev } else { targets };
            if sub == 0 || sub == latency {
                self.robot
                    .set_targets(&mut self.world, active, self.motors_on);
            }
            if moving {
                terrain::advance_moving(&mut self.world, &mut self.scene, dt);
            }
            if self.motors_on {
                self.robot.joint_state(&self.world, &mut q, &mut qd);
                for k in 0..12 {
                    let tau = (p.kp * (active[k] - q[k]) - p.kd * qd[k]).clamp(-fmax, fmax);
                    out.energy += tau * tau * dt;
                }
            }
            self.world.step();
            out.touched_obstacle = out.touched_obstacle || self.touching_obstacle();
        }
        out
    }

    /// Removes the spheres within reach of the trunk at `pos`; returns how many.
    fn collect_spheres(&mut self, pos: Vector) -> usize {
        let mut got = 0;
        for s in &mut self.scene.spheres {
            if let Some(c) = s.collider {
                let d2 = (s.pos[0] - pos.x).powi(2) + (s.pos[1] - pos.y).powi(2);
                if d2 <= SPHERE_REACH * SPHERE_REACH {
                    self.world.remove_collider(c);
                    s.collider = None;
                    got += 1;
                }
            }
        }
        got
    }

    /// Adds one step to the episode's statistics.
    fn record_step(
        &mut self,
        terms: &RewardTerms,
        reward: f32,
        pos: Vector,
        touched: bool,
        spheres: usize,
        fell: bool,
    ) {
        self.spheres += spheres;
        self.collisions += touched as usize;
        self.reached_end |= match self.cfg.task.goal() {
            Some([gx, gy, _]) => {
                (pos.x - gx).powi(2) + (pos.y - gy).powi(2) <= SUMMIT_REACH * SUMMIT_REACH
            }
            None => pos.x >= terrain::FIELD_X[1],
        };
        self.episode_return += reward;
        self.term_sums.accumulate(terms);
        self.fell = fell;
    }

    /// Reads the sensors after a step that commanded `targets` and left the trunk at `pos` into
    /// the observation history.
    fn observe(&mut self, targets: [f32; 12], pos: Vector) {
        let (imu, heading) = self.read_imu();
        let mut q = [0.0; 12];
        let mut qd = [0.0; 12];
        self.robot.joint_state(&self.world, &mut q, &mut qd);
        let d = (pos - self.prev_position).clamp(
            Vector::splat(-DISPLACEMENT_CLIP),
            Vector::splat(DISPLACEMENT_CLIP),
        );
        self.prev_position = pos;
        self.obs.push(Reading {
            goal: self.goal_reading(),
            displacement: [d.x, d.y, d.z],
            imu,
            targets,
            q,
            phase: [self.gait.phase.sin(), self.gait.phase.cos()],
            heading,
        });
        self.render_frame();
        self.obs.push_frame();
    }

    fn touching_obstacle(&self) -> bool {
        contacts::touching(&self.world, &self.robot.body_colliders, &[TAG_OBSTACLE])
    }
}
