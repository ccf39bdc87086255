//! Rollout videos: `runner video CHECKPOINT` (one episode of a policy) and `runner eval --video`
//! (one video per evaluated episode). Frames are the chase camera's ray-cast view with the
//! policy's depth input and the episode's numbers on it ([`frame`]), at [`FPS`] frames per second
//! of sim time, streamed into GIF or MP4 files ([`encode`]).

pub mod encode;
pub mod frame;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use thiserror::Error;

pub use encode::{FPS, VideoFormat, VideoWriter, ffmpeg_available};
pub use frame::{FrameComposer, Overlay};

use crate::recipe::EnvConfig;
use crate::run::eval::{Agent, EvalObserver, episode_index};
use crate::sim::{EpisodeStats, SimError, StepOutput, VecEnv};

/// Why a video could not be written.
#[derive(Debug, Error)]
pub enum VideoError {
    /// The output's extension names no format this runner writes.
    #[error("{0}: a video must end in .gif or .mp4")]
    Extension(PathBuf),
    /// The frame size cannot be encoded.
    #[error("a {width}x{height} frame is too large for a GIF (at most 65535 per side)")]
    Size {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The GIF encoder failed.
    #[error("GIF encoding failed: {0}")]
    Gif(String),
    /// `ffmpeg` is missing or failed.
    #[error("{0} (MP4 needs an ffmpeg binary on PATH; write a .gif instead)")]
    Ffmpeg(String),
    /// The env could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Counts the frames due as sim time advances, so a video has [`FPS`] frames per second of sim
/// time whatever the policy's control period.
#[derive(Debug, Clone)]
struct FrameClock {
    /// Sim seconds per policy step.
    step_s: f64,
    /// Policy steps so far.
    steps: u64,
    /// Frames drawn so far (the reset state's included).
    frames: u64,
}

impl FrameClock {
    fn new(cfg: &EnvConfig) -> FrameClock {
        FrameClock {
            step_s: cfg.time_step_s as f64 * cfg.action_repeat as f64,
            steps: 0,
            // The frame at time 0 is the reset state, drawn when the clock starts.
            frames: 1,
        }
    }

    /// Advances by one policy step and returns how many frames fall into it.
    fn step(&mut self) -> usize {
        self.steps += 1;
        // Frame k shows time k / FPS. A thousandth of a frame of slack absorbs the rounding of
        // an f32 control period (16 x 0.0025 s is 0.04 s less 1e-9).
        let now = self.steps as f64 * self.step_s * FPS as f64 + 1e-3;
        let due = (now.floor() as u64 + 1).saturating_sub(self.frames);
        self.frames += due;
        due as usize
    }
}

/// What [`record_rollout`] wrote.
#[derive(Debug, Clone)]
pub struct RolloutVideo {
    /// The video file.
    pub path: PathBuf,
    /// Frames in it.
    pub frames: usize,
    /// Policy steps simulated.
    pub steps: usize,
    /// The episode's statistics at its end (or when `max_steps` ran out).
    pub episode: EpisodeStats,
    /// Wall time of the whole rollout (simulation, rendering and encoding), in seconds.
    pub wall_s: f64,
}

/// Runs one episode of `agent` on `env_cfg` (one env, seeded by `seed`) for at most `max_steps`
/// policy steps and writes its video of `size` pixels to `path`.
pub fn record_rollout(
    agent: &mut dyn Agent,
    env_cfg: &EnvConfig,
    seed: u64,
    max_steps: usize,
    path: &Path,
    size: (usize, usize),
) -> Result<RolloutVideo, VideoError> {
    let start = Instant::now();
    let cfg = EnvConfig {
        num_envs: 1,
        ..env_cfg.clone()
    };
    let mut env = VecEnv::new(&cfg, seed)?;
    let mut composer = FrameComposer::new(size.0, size.1);
    let mut writer = VideoWriter::create(path, size.0, size.1)?;
    let mut clock = FrameClock::new(&cfg);
    writer.push(composer.compose(env.env(0)))?;
    let mut steps = 0;
    let mut episode = env.env(0).episode_stats(0);
    while steps < max_steps {
        let actions = agent.act(&env);
        let out = env.step(&actions);
        steps += 1;
        if let Some(done) = out.finished.first() {
            // The env has been reset to its next episode: that state is not this episode's.
            episode = done.clone();
            break;
        }
        let due = clock.step();
        if due > 0 {
            let frame = composer.compose(env.env(0));
            for _ in 0..due {
                writer.push(frame)?;
            }
        }
        episode = env.env(0).episode_stats(0);
    }
    let (path, frames) = writer.finish()?;
    Ok(RolloutVideo {
        path,
        frames,
        steps,
        episode,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

/// One env's recording during an evaluation.
struct Recording {
    composer: FrameComposer,
    clock: FrameClock,
    writer: Option<VideoWriter>,
    /// Episodes this env has finished.
    finished: usize,
}

/// An [`EvalObserver`] that writes a video of every evaluated episode into a folder, as
/// `episode-<i>.<gif|mp4>` with `i` the episode's place in the evaluation (env order). Episodes
/// an env runs beyond its share are not kept.
pub struct EpisodeVideos {
    dir: PathBuf,
    format: VideoFormat,
    size: (usize, usize),
    episodes: usize,
    recordings: Vec<Recording>,
    written: Vec<(PathBuf, usize)>,
    error: Option<VideoError>,
}

impl EpisodeVideos {
    /// Videos of `size` pixels in `format`, written into `dir`.
    pub fn new(dir: &Path, format: VideoFormat, size: (usize, usize)) -> EpisodeVideos {
        EpisodeVideos {
            dir: dir.to_path_buf(),
            format,
            size,
            episodes: 0,
            recordings: Vec::new(),
            written: Vec::new(),
            error: None,
        }
    }

    /// The videos written (path and frame count, in episode order), or the first error.
    pub fn finish(mut self) -> Result<Vec<(PathBuf, usize)>, VideoError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.written.sort();
        Ok(std::mem::take(&mut self.written))
    }

    /// Opens the video of env `e`'s next episode, if it is one of the evaluated ones, and
    /// draws its first frame.
    fn open(&self, env: &VecEnv, e: usize, rec: &mut Recording) -> Result<(), VideoError> {
        rec.clock = FrameClock::new(env.env(e).config());
        let Some(index) = episode_index(self.episodes, env.spec().num_envs, e, rec.finished) else {
            return Ok(());
        };
        let name = format!("episode-{index:03}.{}", self.format.extension());
        let mut writer = VideoWriter::create(&self.dir.join(name), self.size.0, self.size.1)?;
        writer.push(rec.composer.compose(env.env(e)))?;
        rec.writer = Some(writer);
        Ok(())
    }

    fn keep(&mut self, results: Vec<Result<Option<(PathBuf, usize)>, VideoError>>) {
        for r in results {
            match r {
                Ok(Some(done)) => self.written.push(done),
                Ok(None) => {}
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
        if self.error.is_some() {
            // Stop recording; unfinished files are removed as their writers drop.
            self.recordings.clear();
        }
    }
}

impl EvalObserver for EpisodeVideos {
    fn start(&mut self, env: &VecEnv, episodes: usize) {
        self.episodes = episodes;
        let mut recordings: Vec<Recording> = (0..env.spec().num_envs)
            .map(|e| Recording {
                composer: FrameComposer::new(self.size.0, self.size.1),
                clock: FrameClock::new(env.env(e).config()),
                writer: None,
                finished: 0,
            })
            .collect();
        let this = &*self;
        let results = recordings
            .par_iter_mut()
            .enumerate()
            .map(|(e, rec)| this.open(env, e, rec).map(|()| None))
            .collect();
        self.recordings = recordings;
        self.keep(results);
    }

    fn step(&mut self, env: &VecEnv, out: &StepOutput) {
        let mut recordings = std::mem::take(&mut self.recordings);
        let this = &*self;
        let results = recordings
            .par_iter_mut()
            .enumerate()
            .map(|(e, rec)| {
                if out.finished.iter().any(|f| f.env == e) {
                    let done = rec.writer.take().map(VideoWriter::finish).transpose()?;
                    rec.finished += 1;
                    this.open(env, e, rec)?;
                    return Ok(done);
                }
                let due = rec.clock.step();
                if let Some(writer) = rec.writer.as_mut().filter(|_| due > 0) {
                    let frame = rec.composer.compose(env.env(e));
                    for _ in 0..due {
                        writer.push(frame)?;
                    }
                }
                Ok(None)
            })
            .collect();
        self.recordings = recordings;
        self.keep(results);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_gives_25_frames_per_sim_second_at_any_control_period() {
        // (control period, policy steps, frames): the reset state plus one per 1/25 s.
        let f32_period = 0.0025f32 as f64 * 16.0;
        for (step_s, steps, expected) in [
            (f32_period, 1000, 1001),
            (0.02, 500, 251),
            (0.1, 100, 251),
            (0.03, 333, 250),
        ] {
            let mut clock = FrameClock {
                step_s,
                steps: 0,
                frames: 1,
            };
            let frames: usize = 1 + (0..steps).map(|_| clock.step()).sum::<usize>();
            assert_eq!(frames, expected, "step {step_s} s");
        }
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(
            VideoFormat::of(Path::new("a.GIF")).unwrap(),
            VideoFormat::Gif
        );
        assert_eq!(
            VideoFormat::of(Path::new("x/a.mp4")).unwrap(),
            VideoFormat::Mp4
        );
        let err = VideoFormat::of(Path::new("a.avi")).unwrap_err().to_string();
        assert!(
            err.contains("a.avi: a video must end in .gif or .mp4"),
            "{err}"
        );
    }
}
