//! The observation history of one env: the last [`HISTORY`] readings of each sensor, written into
//! the proprioception vector, and the stack of depth frames.
//!
//! Proprioception layout, in the original's order (its sensors sorted by name), histories newest
//! first:
//! 1. with `env.goal`: trunk position and goal position, world frame (6 floats);
//! 2. with `env.displacement_in_obs`: `[d_t, d_t-1, d_t-2]`, the trunk's (dx, dy, dz) per policy
//!    step, world frame, clipped to +-0.1 m (9 floats);
//! 3. `[imu_t, imu_t-1, imu_t-2]`: roll, pitch, roll rate, pitch rate (12 floats);
//! 4. with `env.last_action_in_obs`: `[targets_t, targets_t-1, targets_t-2]`, the 12 joint
//!    targets (36 floats);
//! 5. `[q_t, q_t-1, q_t-2]`: the 12 joint angles (36 floats);
//! 6. when the policy modulates the trot (`env.trot.frequency_range` or `amplitude_range`): the
//!    sine and cosine of the trot's phase at the coming step (2 floats);
//! 7. with `env.heading_in_obs`: `[heading_t, heading_t-1, heading_t-2]`, the cosine and sine of
//!    the trunk's yaw (world frame) and its yaw rate (9 floats).
//!
//! With the defaults that is 84 floats, 93 with the displacement sensor. Joint order: legs FR,
//! FL, RR, RL; per leg abduction, hip, knee.
//!
//! Depth: the last `frames x frame_spacing` frames are kept (newest first, every slot holding
//! the first frame after a reset); the stack holds `frames` of them, at indices `i k + o_i` for
//! spacing `k` and per-episode offsets `o_i` ([`frame_indices`]), each optionally averaged with
//! the `d` older frames after it (`env.depth.frame_averaging`).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::recipe::{EnvConfig, FrameOffsets};

/// History length of every proprioceptive signal.
pub const HISTORY: usize = 3;

/// Largest displacement per policy step the displacement sensor reports, per axis (m).
pub const DISPLACEMENT_CLIP: f32 = 0.1;

/// Proprioception length for a config.
pub fn proprio_dim(cfg: &EnvConfig) -> usize {
    let goal = if cfg.goal { 6 } else { 0 };
    let displacement = if cfg.displacement_in_obs {
        3 * HISTORY
    } else {
        0
    };
    let phase = if cfg.modulates_trot() { 2 } else { 0 };
    let heading = if cfg.heading_in_obs { 3 * HISTORY } else { 0 };
    goal + displacement
        + heading
        + 4 * HISTORY
        + 12 * HISTORY * if cfg.last_action_in_obs { 2 } else { 1 }
        + phase
}

/// Depth frames in the stack: `env.depth.frames`, or none when depth is off.
pub fn depth_frames(cfg: &EnvConfig) -> usize {
    if cfg.depth.enabled {
        cfg.depth.frames
    } else {
        0
    }
}

/// History indices (newest = 0) of the stacked frames for `frames` frames at spacing `spacing`:
/// `i k` plus the per-episode offset of `offsets` (drawn from `rng` for `Random`).
pub fn frame_indices(
    frames: usize,
    spacing: usize,
    offsets: FrameOffsets,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    (0..frames)
        .map(|i| {
            i * spacing
                + match offsets {
                    FrameOffsets::None => 0,
                    FrameOffsets::Random => rng.random_range(0..spacing),
                    FrameOffsets::FixedDelay => spacing - 1,
                }
        })
        .collect()
}

/// One proprioceptive reading: what a policy step adds to the history.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Trunk position and goal position (goal tasks).
    pub goal: [f32; 6],
    /// Trunk displacement since the previous step, clipped to [`DISPLACEMENT_CLIP`].
    pub displacement: [f32; 3],
    /// Roll, pitch, roll rate, pitch rate.
    pub imu: [f32; 4],
    /// The joint targets commanded this step.
    pub targets: [f32; 12],
    /// The joint angles.
    pub q: [f32; 12],
    /// Sine and cosine of the modulated trot's phase at the coming step (read only when the
    /// policy modulates the trot).
    pub phase: [f32; 2],
    /// Cosine and sine of the trunk's yaw, then its yaw rate (read only with
    /// `env.heading_in_obs`).
    pub heading: [f32; 3],
}

/// Histories and the observation vectors built from them.
#[derive(Debug, Clone)]
pub struct ObservationHistory {
    goal_in_obs: bool,
    displacement_in_obs: bool,
    last_action_in_obs: bool,
    phase_in_obs: bool,
    heading_in_obs: bool,
    frames: usize,
    spacing: usize,
    offsets: FrameOffsets,
    averaging: bool,
    goal: [f32; 6],
    displacement: [[f32; 3]; HISTORY],
    imu: [[f32; 4]; HISTORY],
    targets: [[f32; 12]; HISTORY],
    q: [[f32; 12]; HISTORY],
    phase: [f32; 2],
    heading: [[f32; 3]; HISTORY],
    /// The newest depth frame, normalised (rendered into by the env).
    frame: Vec<f32>,
    /// The last `frames x spacing` frames, newest first.
    depth_history: Vec<f32>,
    /// History indices of the stacked frames (this episode's).
    indices: Vec<usize>,
    /// Older frames averaged into each stacked frame (this episode's).
    averaged: usize,
    depth_stack: Vec<f32>,
    proprio: Vec<f32>,
}

impl ObservationHistory {
    /// Empty histories sized for `cfg`.
    pub fn new(cfg: &EnvConfig) -> Self {
        let frames = depth_frames(cfg);
        let n = if frames > 0 {
            cfg.depth.width * cfg.depth.height
        } else {
            0
        };
        let spacing = cfg.depth.frame_spacing.max(1);
        Self {
            goal_in_obs: cfg.goal,
            displacement_in_obs: cfg.displacement_in_obs,
            last_action_in_obs: cfg.last_action_in_obs,
            phase_in_obs: cfg.modulates_trot(),
            heading_in_obs: cfg.heading_in_obs,
            frames,
            spacing,
            offsets: cfg.depth.frame_offsets,
            averaging: cfg.depth.frame_averaging,
            goal: [0.0; 6],
            displacement: [[0.0; 3]; HISTORY],
            imu: [[0.0; 4]; HISTORY],
            targets: [[0.0; 12]; HISTORY],
            q: [[0.0; 12]; HISTORY],
            phase: [0.0, 1.0],
            heading: [[1.0, 0.0, 0.0]; HISTORY],
            frame: vec![0.0; n],
            depth_history: vec![0.0; n * frames * spacing],
            indices: (0..frames).map(|i| i * spacing).collect(),
            averaged: 0,
            depth_stack: vec![0.0; n * frames],
            proprio: vec![0.0; proprio_dim(cfg)],
        }
    }

    /// Whether depth frames are observed (the env renders only then).
    pub fn has_depth(&self) -> bool {
        self.frames > 0
    }

    /// This episode's history indices of the stacked frames.
    pub fn frame_indices(&self) -> &[usize] {
        &self.indices
    }

    /// The buffer the env renders the newest depth frame into.
    pub fn frame_mut(&mut self) -> &mut Vec<f32> {
        &mut self.frame
    }

    /// Starts an episode: every history slot holds `reading` (the displacement history zeros),
    /// every kept frame the current one; this episode's frame offsets and averaging are drawn
    /// from `rng` (only when those options are on).
    pub fn reset(&mut self, reading: Reading, rng: &mut ChaCha8Rng) {
        self.goal = reading.goal;
        self.displacement = [[0.0; 3]; HISTORY];
        self.imu = [reading.imu; HISTORY];
        self.targets = [reading.targets; HISTORY];
        self.q = [reading.q; HISTORY];
        self.phase = reading.phase;
        self.heading = [reading.heading; HISTORY];
        if self.frames > 0 {
            self.indices = frame_indices(self.frames, self.spacing, self.offsets, rng);
            self.averaged = if self.averaging {
                rng.random_range(0..self.spacing)
            } else {
                0
            };
            let n = self.frame.len();
            for k in 0..self.frames * self.spacing {
                self.depth_history[k * n..(k + 1) * n].copy_from_slice(&self.frame);
            }
            self.write_stack();
        }
        self.write_proprio();
    }

    /// Adds a policy step's reading (newest first) and rebuilds the proprioception.
    pub fn push(&mut self, reading: Reading) {
        self.goal = reading.goal;
        self.displacement.rotate_right(1);
        self.displacement[0] = reading.displacement;
        self.imu.rotate_right(1);
        self.imu[0] = reading.imu;
        self.targets.rotate_right(1);
        self.targets[0] = reading.targets;
        self.q.rotate_right(1);
        self.q[0] = reading.q;
        self.phase = reading.phase;
        self.heading.rotate_right(1);
        self.heading[0] = reading.heading;
        self.write_proprio();
    }

    /// Shifts the frame history by one frame, puts the current frame first and rebuilds the stack.
    pub fn push_frame(&mut self) {
        if self.frames == 0 {
            return;
        }
        let n = self.frame.len();
        let kept = self.frames * self.spacing;
        self.depth_history.copy_within(0..n * (kept - 1), n);
        self.depth_history[..n].copy_from_slice(&self.frame);
        self.write_stack();
    }

    fn write_stack(&mut self) {
        let n = self.frame.len();
        let kept = self.frames * self.spacing;
        for (f, &idx) in self.indices.iter().enumerate() {
            let out = &mut self.depth_stack[f * n..(f + 1) * n];
            let last = (idx + self.averaged).min(kept - 1);
            out.copy_from_slice(&self.depth_history[idx * n..(idx + 1) * n]);
            if last > idx {
                for k in idx + 1..=last {
                    let older = &self.depth_history[k * n..(k + 1) * n];
                    for (o, v) in out.iter_mut().zip(older) {
                        *o += v;
                    }
                }
                let scale = 1.0 / (last - idx + 1) as f32;
                out.iter_mut().for_each(|o| *o *= scale);
            }
        }
    }

    /// The joint targets of the latest step.
    pub fn last_targets(&self) -> [f32; 12] {
        self.targets[0]
    }

    /// Current proprioception (`proprio_dim` floats).
    pub fn proprio(&self) -> &[f32] {
        &self.proprio
    }

    /// Current depth stack (`frames * height * width`, newest frame first), normalised.
    pub fn depth(&self) -> &[f32] {
        &self.depth_stack
    }

    fn write_proprio(&mut self) {
        let mut k = 0;
        let p = &mut self.proprio;
        if self.goal_in_obs {
            p[..6].copy_from_slice(&self.goal);
            k += 6;
        }
        if self.displacement_in_obs {
            for h in &self.displacement {
                p[k..k + 3].copy_from_slice(h);
                k += 3;
            }
        }
        for h in &self.imu {
            p[k..k + 4].copy_from_slice(h);
            k += 4;
        }
        if self.last_action_in_obs {
            for h in &self.targets {
                p[k..k + 12].copy_from_slice(h);
                k += 12;
            }
        }
        for h in &self.q {
            p[k..k + 12].copy_from_slice(h);
            k += 12;
        }
        if self.phase_in_obs {
            p[k..k + 2].copy_from_slice(&self.phase);
            k += 2;
        }
        if self.heading_in_obs {
            for h in &self.heading {
                p[k..k + 3].copy_from_slice(h);
                k += 3;
            }
        }
        debug_assert_eq!(k, p.len());
    }
}
