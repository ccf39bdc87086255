//! Read access to an env's state, for the vectorised env, evaluation, rendering and tests.

use rapier3d::prelude::*;

use super::{Env, EpisodeStats};
use crate::recipe::{Difficulty, EnvConfig, Task};
use crate::sim::action::GaitPhase;
use crate::sim::privileged::Privileged;
use crate::sim::robot::Robot;
use crate::sim::terrain::Scene;
use crate::sim::timing::SimTiming;

impl Env {
    /// Current proprioception (`proprio_dim` floats).
    pub fn proprio(&self) -> &[f32] {
        self.obs.proprio()
    }

    /// Current depth stack (`frames * height * width`, newest frame first), normalised.
    pub fn depth(&self) -> &[f32] {
        self.obs.depth()
    }

    /// The privileged state an asymmetric critic sees (velocity, height, heading, foot contacts,
    /// nearest obstacles).
    pub fn privileged(&self) -> Privileged {
        Privileged::read(&self.world, &self.robot, &self.scene)
    }

    /// Metric depth (metres) of the current view, without dropout.
    pub fn render_metric(&self, out: &mut [f32]) {
        let pose = *self.world.bodies[self.robot.trunk].position();
        self.camera.render_metric(&self.world, &pose, out);
    }

    /// Seconds spent in physics and depth rendering since the previous call (or since the env
    /// was built), and starts counting again.
    pub fn take_timing(&mut self) -> SimTiming {
        std::mem::take(&mut self.timing)
    }

    /// The physics world (for inspection and tests).
    pub fn world(&self) -> &PhysicsWorld {
        &self.world
    }

    /// The physics world, mutable (tests place objects; call [`Env::settle`] after).
    pub fn world_mut(&mut self) -> &mut PhysicsWorld {
        &mut self.world
    }

    /// Advances physics by one sub-step without a policy step, which also refreshes the
    /// scene-query structures after editing the world.
    pub fn settle(&mut self) {
        self.world.step();
    }

    /// The robot's handles.
    pub fn robot(&self) -> &Robot {
        &self.robot
    }

    /// The scene the current task built.
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// Trunk pose.
    pub fn trunk_pose(&self) -> Pose {
        *self.world.bodies[self.robot.trunk].position()
    }

    /// The env's config.
    pub fn config(&self) -> &EnvConfig {
        &self.cfg
    }

    /// Policy steps in the current episode.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Seed of the current episode.
    pub fn episode_seed(&self) -> u64 {
        self.episode_seed
    }

    /// Obstacle density of the current episode.
    pub fn density(&self) -> f32 {
        self.difficulty.obstacle_density
    }

    /// Obstacle density and target velocity of the current episode.
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// Raw actions applied since the last reset (for snapshots).
    pub fn actions(&self) -> &[f32] {
        &self.actions
    }

    /// The trot's phase (radians) at the coming step: the integrated phase of a modulated trot,
    /// else the fixed trot's at this step of the episode (what an exported policy's `phase`
    /// input takes).
    pub fn gait_phase(&self) -> f32 {
        if self.cfg.modulates_trot() {
            self.gait.phase
        } else {
            GaitPhase::fixed(&self.cfg, self.steps).phase
        }
    }

    /// Statistics of the episode so far.
    pub fn episode_stats(&self, env: usize) -> EpisodeStats {
        let pos = self.world.bodies[self.robot.trunk].translation();
        let distance = match self.cfg.task {
            Task::Mountain => (pos - self.start).length(),
            _ => pos.x - self.start.x,
        };
        EpisodeStats {
            env,
            episode_return: self.episode_return,
            length: self.steps,
            distance,
            collisions: self.collisions,
            spheres: self.spheres,
            fell: self.fell,
            reached_end: self.reached_end,
            reward_terms: self.term_sums,
        }
    }
}
