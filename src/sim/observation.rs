//! The observation history of one env: the last [`HISTORY`] IMU readings, joint targets and joint
//! angles, written into the proprioception vector, and the stack of depth frames.
//!
//! Proprioception layout (84 floats with `last_action_in_obs`, else 48), newest first:
//! `[imu_t, imu_t-1, imu_t-2]` (roll, pitch, roll rate, pitch rate; 12 floats), then
//! `[targets_t, targets_t-1, targets_t-2]` (12 joint targets each; 36 floats, only with
//! `last_action_in_obs`), then `[q_t, q_t-1, q_t-2]` (12 joint angles each; 36 floats).
//! Joint order: legs FR, FL, RR, RL; per leg abduction, hip, knee.

use crate::recipe::EnvConfig;

/// History length of every proprioceptive signal.
pub const HISTORY: usize = 3;

/// Proprioception length for a config.
pub fn proprio_dim(cfg: &EnvConfig) -> usize {
    4 * HISTORY + 12 * HISTORY * if cfg.last_action_in_obs { 2 } else { 1 }
}

/// One proprioceptive reading: what a policy step adds to the history.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Roll, pitch, roll rate, pitch rate.
    pub imu: [f32; 4],
    /// The joint targets commanded this step.
    pub targets: [f32; 12],
    /// The joint angles.
    pub q: [f32; 12],
}

/// Histories and the observation vectors built from them.
#[derive(Debug, Clone)]
pub struct ObservationHistory {
    last_action_in_obs: bool,
    frames: usize,
    imu: [[f32; 4]; HISTORY],
    targets: [[f32; 12]; HISTORY],
    q: [[f32; 12]; HISTORY],
    /// The newest depth frame, normalised (rendered into by the env).
    frame: Vec<f32>,
    depth_stack: Vec<f32>,
    proprio: Vec<f32>,
}

impl ObservationHistory {
    /// Empty histories sized for `cfg`.
    pub fn new(cfg: &EnvConfig) -> Self {
        let n = cfg.depth.width * cfg.depth.height;
        Self {
            last_action_in_obs: cfg.last_action_in_obs,
            frames: cfg.depth.frames,
            imu: [[0.0; 4]; HISTORY],
            targets: [[0.0; 12]; HISTORY],
            q: [[0.0; 12]; HISTORY],
            frame: vec![0.0; n],
            depth_stack: vec![0.0; n * cfg.depth.frames],
            proprio: vec![0.0; proprio_dim(cfg)],
        }
    }

    /// The buffer the env renders the newest depth frame into.
    pub fn frame_mut(&mut self) -> &mut Vec<f32> {
        &mut self.frame
    }

    /// Starts an episode: every history slot holds `reading`, every stacked frame the current one.
    pub fn reset(&mut self, reading: Reading) {
        self.imu = [reading.imu; HISTORY];
        self.targets = [reading.targets; HISTORY];
        self.q = [reading.q; HISTORY];
        let n = self.frame.len();
        for f in 0..self.frames {
            self.depth_stack[f * n..(f + 1) * n].copy_from_slice(&self.frame);
        }
        self.write_proprio();
    }

    /// Adds a policy step's reading (newest first) and rebuilds the proprioception.
    pub fn push(&mut self, reading: Reading) {
        self.imu.rotate_right(1);
        self.imu[0] = reading.imu;
        self.targets.rotate_right(1);
        self.targets[0] = reading.targets;
        self.q.rotate_right(1);
        self.q[0] = reading.q;
        self.write_proprio();
    }

    /// Shifts the depth stack by one frame and puts the current frame first.
    pub fn push_frame(&mut self) {
        let n = self.frame.len();
        self.depth_stack.copy_within(0..n * (self.frames - 1), n);
        self.depth_stack[..n].copy_from_slice(&self.frame);
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
    }
}
