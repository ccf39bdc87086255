//! One video frame of an env: the chase camera's colour view, the policy's newest depth frame
//! inset in the top-right corner (near = bright, as `runner render` writes it), and an overlay
//! of the episode's step, distance and return.

use crate::run::font;
use crate::sim::Env;
use crate::sim::png_out::grey_of_observed;
use crate::sim::view::{View, chase};

/// Side of the depth inset relative to the frame's height.
const INSET_FRACTION: f32 = 0.36;

/// Draws frames of one size, reusing its buffers.
pub struct FrameComposer {
    view: View,
    rgb: Vec<u8>,
}

/// The episode's numbers printed on a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlay {
    /// Policy steps since the episode's reset.
    pub step: usize,
    /// Sim time since the reset in seconds.
    pub time_s: f32,
    /// Distance moved along +x in metres.
    pub distance: f32,
    /// Return so far.
    pub episode_return: f32,
}

impl Overlay {
    /// The overlay of `env`'s episode so far.
    pub fn of(env: &Env) -> Overlay {
        let stats = env.episode_stats(0);
        let cfg = env.config();
        Overlay {
            step: env.steps(),
            time_s: env.steps() as f32 * cfg.time_step_s * cfg.action_repeat as f32,
            distance: stats.distance,
            episode_return: stats.episode_return,
        }
    }
}

impl FrameComposer {
    /// Frames of `width x height` pixels.
    pub fn new(width: usize, height: usize) -> FrameComposer {
        FrameComposer {
            view: View::new(width, height),
            rgb: vec![0; width * height * 3],
        }
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.view.width, self.view.height)
    }

    /// Renders `env`'s current state as a frame (RGB, rows top to bottom).
    pub fn compose(&mut self, env: &Env) -> &[u8] {
        let trunk = env.trunk_pose().translation;
        let (eye, target) = chase(env.world(), trunk);
        self.view.render(env.world(), eye, target, &mut self.rgb);
        self.inset_depth(env);
        self.draw_overlay(&Overlay::of(env));
        &self.rgb
    }

    /// Copies the newest depth frame of the policy's input, scaled by nearest neighbour, into
    /// the top-right corner with a white border.
    fn inset_depth(&mut self, env: &Env) {
        let cfg = &env.config().depth;
        let (dw, dh) = (cfg.width, cfg.height);
        if dw == 0 || dh == 0 {
            return;
        }
        let (w, h) = self.size();
        let side = ((h as f32 * INSET_FRACTION) as usize).max(1);
        let (iw, ih) = if dw >= dh {
            (side, (side * dh / dw).max(1))
        } else {
            ((side * dw / dh).max(1), side)
        };
        if iw + 4 > w || ih + 4 > h {
            return;
        }
        // No camera (`env.depth.enabled = false`, the state-only model): no inset.
        let Some(newest) = env.depth().get(..dw * dh).filter(|_| cfg.enabled) else {
            return;
        };
        let (x0, y0) = (w - iw - 2, 2);
        for y in y0 - 1..=y0 + ih {
            for x in x0 - 1..=x0 + iw {
                let inside = y >= y0 && y < y0 + ih && x >= x0 && x < x0 + iw;
                let value = if inside {
                    let (sy, sx) = ((y - y0) * dh / ih, (x - x0) * dw / iw);
                    grey_of_observed(newest[sy * dw + sx], cfg)
                } else {
                    255
                };
                self.rgb[(y * w + x) * 3..][..3].fill(value);
            }
        }
    }

    /// The step, time, distance and return on a light box in the top-left corner.
    fn draw_overlay(&mut self, o: &Overlay) {
        let (w, h) = self.size();
        let px = (h as f32 / 17.0).clamp(9.0, 28.0);
        let lines = [
            format!("step {}   {:.1} s", o.step, o.time_s),
            format!("distance {:.2} m", o.distance),
            format!("return {:.1}", o.episode_return),
        ];
        let line_h = px * 1.25;
        let (box_w, box_h) = (
            ((px * 9.0) as usize).min(w),
            ((line_h * lines.len() as f32 + px * 0.5) as usize).min(h),
        );
        for y in 0..box_h {
            for v in &mut self.rgb[y * w * 3..(y * w + box_w) * 3] {
                *v = (*v as f32 * 0.35 + 255.0 * 0.65) as u8;
            }
        }
        for (i, line) in lines.iter().enumerate() {
            let baseline = px * 0.25 + line_h * (i as f32 + 1.0) - px * 0.25;
            font::draw_text(&mut self.rgb, w, (4.0, baseline), px, line, [0, 0, 0]);
        }
    }
}
