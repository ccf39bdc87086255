//! The depth frames TensorBoard shows at each evaluation during training (`eval/depth`): the
//! policy's newest depth input in the first evaluation env at the first step and at a quarter,
//! half and three quarters of the episode length (`env.horizon`) of its first episode, while it
//! lasts, side by side, near = bright.

use crate::run::eval::EvalObserver;
use crate::sim::png_out::grey_of_observed;
use crate::sim::{StepOutput, VecEnv};

/// The moments a frame is taken, as fractions of the episode length (the first step for 0).
pub const STRIP_MOMENTS: [f32; 4] = [0.0, 0.25, 0.5, 0.75];
/// Grey gap between frames, in pixels.
const GAP: usize = 2;

/// An [`EvalObserver`] that collects the strip.
#[derive(Debug, Default)]
pub struct DepthStrip {
    /// Frames taken so far (8-bit, `width * height` each).
    frames: Vec<Vec<u8>>,
    width: usize,
    height: usize,
    /// Whether env 0's first episode has ended.
    done: bool,
}

impl DepthStrip {
    /// An empty strip.
    pub fn new() -> DepthStrip {
        DepthStrip::default()
    }

    /// The frames side by side as one grayscale image `(pixels, width, height)`; `None` when
    /// no frame was taken (an episode shorter than the first moment, or no camera).
    pub fn image(&self) -> Option<(Vec<u8>, usize, usize)> {
        if self.frames.is_empty() || self.width == 0 {
            return None;
        }
        let n = self.frames.len();
        let width = n * self.width + (n - 1) * GAP;
        let mut out = vec![128u8; width * self.height];
        for (i, frame) in self.frames.iter().enumerate() {
            let x0 = i * (self.width + GAP);
            for y in 0..self.height {
                out[y * width + x0..][..self.width]
                    .copy_from_slice(&frame[y * self.width..][..self.width]);
            }
        }
        Some((out, width, self.height))
    }

    fn take(&mut self, env: &VecEnv) {
        let first = env.env(0);
        let cfg = &first.config().depth;
        let (w, h) = (cfg.width, cfg.height);
        // No camera (`env.depth.enabled = false`, the state-only model): nothing to show.
        let Some(newest) = first.depth().get(..w * h).filter(|_| cfg.enabled) else {
            return;
        };
        self.width = w;
        self.height = h;
        self.frames
            .push(newest.iter().map(|&v| grey_of_observed(v, cfg)).collect());
    }
}

impl EvalObserver for DepthStrip {
    fn start(&mut self, _env: &VecEnv, _episodes: usize) {}

    fn step(&mut self, env: &VecEnv, out: &StepOutput) {
        if self.done {
            return;
        }
        if out.finished.iter().any(|f| f.env == 0) {
            self.done = true;
            return;
        }
        let first = env.env(0);
        let horizon = first.config().horizon;
        let step = first.steps();
        let due = STRIP_MOMENTS
            .iter()
            .any(|m| ((m * horizon as f32) as usize).max(1) == step);
        if due {
            self.take(env);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_sit_side_by_side_with_grey_gaps() {
        let strip = DepthStrip {
            frames: vec![vec![0, 1, 2, 3], vec![10, 11, 12, 13]],
            width: 2,
            height: 2,
            done: false,
        };
        let (px, w, h) = strip.image().unwrap();
        assert_eq!((w, h), (6, 2));
        assert_eq!(px, [0, 1, 128, 128, 10, 11, 2, 3, 128, 128, 12, 13]);
        assert!(DepthStrip::new().image().is_none());
    }
}
