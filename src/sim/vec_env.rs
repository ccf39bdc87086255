//! N environments stepped in parallel with rayon into flat observation buffers.

use crate::recipe::{Difficulty, EnvConfig};
use crate::sim::SimError;
use crate::sim::env::{self, Env, EpisodeStats, StepResult};
use crate::sim::privileged::PRIVILEGED_DIM;
use crate::sim::reward::RewardTerms;
use crate::sim::timing::SimTiming;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Sizes of a `VecEnv`'s buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    /// Number of envs.
    pub num_envs: usize,
    /// Floats of proprioception per env.
    pub proprio_dim: usize,
    /// Stacked depth frames.
    pub depth_frames: usize,
    /// Depth image height.
    pub depth_height: usize,
    /// Depth image width.
    pub depth_width: usize,
    /// Policy outputs per env.
    pub action_dim: usize,
    /// Floats of privileged state per env (for an asymmetric critic).
    pub privileged_dim: usize,
}

impl EnvSpec {
    /// The buffer sizes of an env built from `cfg`, without building it (the config is
    /// validated as [`VecEnv::new`] would).
    pub fn of(cfg: &EnvConfig) -> Result<EnvSpec, SimError> {
        env::validate(cfg)?;
        if cfg.num_envs == 0 {
            return Err(SimError::InvalidConfig("num_envs must be positive".into()));
        }
        Ok(EnvSpec {
            num_envs: cfg.num_envs,
            proprio_dim: env::proprio_dim(cfg),
            depth_frames: crate::sim::observation::depth_frames(cfg),
            depth_height: cfg.depth.height,
            depth_width: cfg.depth.width,
            action_dim: env::action_dim(cfg),
            privileged_dim: PRIVILEGED_DIM,
        })
    }

    /// Floats of depth per env.
    pub fn depth_dim(&self) -> usize {
        self.depth_frames * self.depth_height * self.depth_width
    }
}

/// What one `VecEnv::step` produced.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    /// Per env total reward (scaled).
    pub reward: Vec<f32>,
    /// Per env: fell (no bootstrap).
    pub terminated: Vec<bool>,
    /// Per env: hit the horizon.
    pub truncated: Vec<bool>,
    /// `[num_envs * proprio_dim]`, rows valid where terminated | truncated.
    pub terminal_proprio: Vec<f32>,
    /// `[num_envs * depth_dim]`, rows valid where terminated | truncated.
    pub terminal_depth: Vec<f32>,
    /// `[num_envs * privileged_dim]`, rows valid where terminated | truncated.
    pub terminal_privileged: Vec<f32>,
    /// Per env, this step's reward terms (unscaled).
    pub reward_terms: Vec<RewardTerms>,
    /// Episodes that ended this step.
    pub finished: Vec<EpisodeStats>,
}

/// Serializable state of a `VecEnv`: per env its episode index, difficulty and actions since
/// reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VecEnvSnapshot {
    /// The seed the `VecEnv` was built with.
    pub seed: u64,
    /// Obstacle density applied at future resets.
    pub density: f32,
    /// Target velocity applied at future resets (absent in older snapshots: the config's).
    #[serde(default)]
    pub target_vel: Option<f32>,
    /// Per env state.
    pub envs: Vec<EnvSnapshot>,
}

/// Serializable state of one env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvSnapshot {
    /// Episodes started so far (the current one included) minus one.
    pub episode: u64,
    /// Density of the current episode.
    pub density: f32,
    /// Target velocity of the current episode (absent in older snapshots: the config's).
    #[serde(default)]
    pub target_vel: Option<f32>,
    /// Raw actions since the current episode's reset.
    pub actions: Vec<f32>,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of episode `episode` of env `index` under run seed `seed`.
pub fn episode_seed(seed: u64, index: usize, episode: u64) -> u64 {
    splitmix(
        splitmix(seed)
            ^ splitmix(index as u64).rotate_left(17)
            ^ episode.wrapping_mul(0xA24B_AED4_963E_E407),
    )
}

struct Slot {
    env: Env,
    episode: u64,
    result: StepResult,
    done: Option<EpisodeStats>,
    terminal_proprio: Vec<f32>,
    terminal_depth: Vec<f32>,
    terminal_privileged: [f32; PRIVILEGED_DIM],
    error: Option<SimError>,
}

/// N environments, stepped in parallel; results do not depend on the thread count.
pub struct VecEnv {
    seed: u64,
    difficulty: Difficulty,
    spec: EnvSpec,
    slots: Vec<Slot>,
    proprio: Vec<f32>,
    depth: Vec<f32>,
    privileged: Vec<f32>,
    /// Whether steps read the privileged state (only an asymmetric critic needs it).
    reads_privileged: bool,
    out: StepOutput,
}

impl VecEnv {
    /// Builds `cfg.num_envs` envs; env i is seeded from (seed, i). Resets them all.
    pub fn new(cfg: &EnvConfig, seed: u64) -> Result<VecEnv, SimError> {
        let snap = VecEnvSnapshot {
            seed,
            density: cfg.obstacle_density,
            target_vel: Some(cfg.target_vel),
            envs: (0..cfg.num_envs)
                .map(|_| EnvSnapshot {
                    episode: 0,
                    density: cfg.obstacle_density,
                    target_vel: Some(cfg.target_vel),
                    actions: vec![],
                })
                .collect(),
        };
        Self::restore(cfg, &snap)
    }

    /// Rebuilds a `VecEnv` from a snapshot by replaying each env's actions since its reset.
    pub fn restore(cfg: &EnvConfig, snapshot: &VecEnvSnapshot) -> Result<VecEnv, SimError> {
        let spec = EnvSpec::of(cfg)?;
        if snapshot.envs.len() != cfg.num_envs {
            return Err(SimError::SnapshotMismatch(format!(
                "snapshot has {} envs, config asks for {}",
                snapshot.envs.len(),
                cfg.num_envs
            )));
        }
        for (i, s) in snapshot.envs.iter().enumerate() {
            if s.actions.len() % spec.action_dim != 0
                || s.actions.len() / spec.action_dim >= cfg.horizon
            {
                return Err(SimError::SnapshotMismatch(format!(
                    "env {i}: {} actions do not fit action_dim {} and horizon {}",
                    s.actions.len(),
                    spec.action_dim,
                    cfg.horizon
                )));
            }
        }
        let slots: Vec<Result<Slot, SimError>> = snapshot
            .envs
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let difficulty = Difficulty {
                    obstacle_density: s.density,
                    target_vel: s.target_vel.unwrap_or(cfg.target_vel),
                };
                let seed = episode_seed(snapshot.seed, i, s.episode);
                let mut env = Env::with_difficulty(cfg, seed, difficulty)?;
                for a in s.actions.chunks(spec.action_dim) {
                    env.step(a);
                }
                Ok(Slot {
                    env,
                    episode: s.episode,
                    result: StepResult::default(),
                    done: None,
                    terminal_proprio: vec![0.0; spec.proprio_dim],
                    terminal_depth: vec![0.0; spec.depth_dim()],
                    terminal_privileged: [0.0; PRIVILEGED_DIM],
                    error: None,
                })
            })
            .collect();
        let slots = slots.into_iter().collect::<Result<Vec<_>, _>>()?;
        let n = cfg.num_envs;
        let mut v = VecEnv {
            seed: snapshot.seed,
            difficulty: Difficulty {
                obstacle_density: snapshot.density,
                target_vel: snapshot.target_vel.unwrap_or(cfg.target_vel),
            },
            spec,
            slots,
            proprio: vec![0.0; n * spec.proprio_dim],
            depth: vec![0.0; n * spec.depth_dim()],
            privileged: vec![0.0; n * PRIVILEGED_DIM],
            reads_privileged: false,
            out: StepOutput {
                reward: vec![0.0; n],
                terminated: vec![false; n],
                truncated: vec![false; n],
                terminal_proprio: vec![0.0; n * spec.proprio_dim],
                terminal_depth: vec![0.0; n * spec.depth_dim()],
                terminal_privileged: vec![0.0; n * PRIVILEGED_DIM],
                reward_terms: vec![RewardTerms::default(); n],
                finished: Vec::new(),
            },
        };
        v.gather_obs();
        Ok(v)
    }

    fn gather_obs(&mut self) {
        let (pd, dd) = (self.spec.proprio_dim, self.spec.depth_dim());
        for (i, s) in self.slots.iter().enumerate() {
            self.proprio[i * pd..(i + 1) * pd].copy_from_slice(s.env.proprio());
            self.depth[i * dd..(i + 1) * dd].copy_from_slice(s.env.depth());
            if self.reads_privileged {
                s.env
                    .privileged()
                    .write_to(&mut self.privileged[i * PRIVILEGED_DIM..(i + 1) * PRIVILEGED_DIM]);
            }
        }
    }

    /// Makes every step read the privileged state into [`privileged`](Self::privileged) and the
    /// terminal rows (off by default: only an asymmetric critic needs it). Reads it now too.
    pub fn read_privileged(&mut self) {
        self.reads_privileged = true;
        self.gather_obs();
    }

    /// Buffer sizes.
    pub fn spec(&self) -> EnvSpec {
        self.spec
    }

    /// Current proprioception, `[num_envs * proprio_dim]`.
    pub fn proprio(&self) -> &[f32] {
        &self.proprio
    }

    /// Current depth stacks, `[num_envs * frames * height * width]`, newest frame first.
    pub fn depth(&self) -> &[f32] {
        &self.depth
    }

    /// Current privileged state (for an asymmetric critic), `[num_envs * privileged_dim]`; zeros
    /// unless [`read_privileged`](Self::read_privileged) was called.
    pub fn privileged(&self) -> &[f32] {
        &self.privileged
    }

    /// Steps every env with its raw actions (`[num_envs * action_dim]`); finished envs reset.
    ///
    /// # Panics
    /// If `actions` has the wrong length, or a finished env cannot be rebuilt (its config was
    /// validated at construction, so this indicates a bug).
    pub fn step(&mut self, actions: &[f32]) -> &StepOutput {
        let ad = self.spec.action_dim;
        assert_eq!(actions.len(), self.spec.num_envs * ad, "actions length");
        let (seed, difficulty, reads_privileged) =
            (self.seed, self.difficulty, self.reads_privileged);
        self.slots
            .par_iter_mut()
            .zip(actions.par_chunks(ad))
            .enumerate()
            .for_each(|(i, (s, a))| {
                s.result = s.env.step(a);
                s.done = None;
                if s.result.terminated || s.result.truncated {
                    s.done = Some(s.env.episode_stats(i));
                    s.terminal_proprio.copy_from_slice(s.env.proprio());
                    s.terminal_depth.copy_from_slice(s.env.depth());
                    if reads_privileged {
                        s.env.privileged().write_to(&mut s.terminal_privileged);
                    }
                    s.episode += 1;
                    let episode = episode_seed(seed, i, s.episode);
                    if let Err(e) = s.env.reset_with(episode, difficulty) {
                        s.error = Some(e);
                    }
                }
            });
        if let Some(e) = self.slots.iter().find_map(|s| s.error.as_ref()) {
            panic!("env reset failed: {e}");
        }
        let (pd, dd) = (self.spec.proprio_dim, self.spec.depth_dim());
        self.out.finished.clear();
        for (i, s) in self.slots.iter_mut().enumerate() {
            self.out.reward[i] = s.result.reward;
            self.out.terminated[i] = s.result.terminated;
            self.out.truncated[i] = s.result.truncated;
            self.out.reward_terms[i] = s.result.terms;
            if let Some(st) = s.done.take() {
                self.out.terminal_proprio[i * pd..(i + 1) * pd]
                    .copy_from_slice(&s.terminal_proprio);
                self.out.terminal_depth[i * dd..(i + 1) * dd].copy_from_slice(&s.terminal_depth);
                self.out.terminal_privileged[i * PRIVILEGED_DIM..(i + 1) * PRIVILEGED_DIM]
                    .copy_from_slice(&s.terminal_privileged);
                self.out.finished.push(st);
            }
        }
        self.gather_obs();
        &self.out
    }

    /// Sets the obstacle density and target velocity of each env's next episode (curriculum).
    pub fn set_difficulty(&mut self, difficulty: Difficulty) {
        self.difficulty = difficulty;
    }

    /// Serializable state; `restore` continues bitwise identically.
    pub fn snapshot(&self) -> VecEnvSnapshot {
        VecEnvSnapshot {
            seed: self.seed,
            density: self.difficulty.obstacle_density,
            target_vel: Some(self.difficulty.target_vel),
            envs: self
                .slots
                .iter()
                .map(|s| EnvSnapshot {
                    episode: s.episode,
                    density: s.env.density(),
                    target_vel: Some(s.env.difficulty().target_vel),
                    actions: s.env.actions().to_vec(),
                })
                .collect(),
        }
    }

    /// The output of the latest [`step`](Self::step) (empty before the first).
    pub fn last_output(&self) -> &StepOutput {
        &self.out
    }

    /// Seconds the envs spent in physics and depth rendering since the previous call, summed
    /// over the envs (thread time: with several threads more than the wall time), and starts
    /// counting again.
    pub fn take_timing(&mut self) -> SimTiming {
        let mut sum = SimTiming::default();
        for s in &mut self.slots {
            sum += s.env.take_timing();
        }
        sum
    }

    /// The envs (for inspection).
    pub fn env(&self, i: usize) -> &Env {
        &self.slots[i].env
    }
}
