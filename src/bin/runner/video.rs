//! `runner video` and `runner eval --video`: rollout videos of a policy or a sanity agent.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use locomamba::device;
use locomamba::run;
use locomamba::run::eval::PolicyAgent;
use locomamba::run::video::{EpisodeVideos, VideoFormat, record_rollout};

use crate::cli::{FrameSize, VideoFormatArg};

/// What `runner eval --video` asked for.
#[derive(Debug, Clone)]
pub struct EvalVideos {
    /// Folder of the videos.
    pub dir: PathBuf,
    /// Container (default: mp4 with ffmpeg, else gif).
    pub format: Option<VideoFormatArg>,
    /// Frame size.
    pub frame: FrameSize,
}

impl EvalVideos {
    /// The evaluation observer that writes the videos.
    pub fn observer(&self) -> Result<EpisodeVideos> {
        let format = match self.format {
            Some(VideoFormatArg::Gif) => VideoFormat::Gif,
            Some(VideoFormatArg::Mp4) => VideoFormat::Mp4,
            None => VideoFormat::best_available(),
        };
        require_ffmpeg(format, "--video-format mp4", "use gif")?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        Ok(EpisodeVideos::new(
            &self.dir,
            format,
            (self.frame.width, self.frame.height),
        ))
    }
}

/// Fails before anything runs when `format` is MP4 and no `ffmpeg` is on PATH; `what` names the
/// request and `instead` the way out.
fn require_ffmpeg(format: VideoFormat, what: &str, instead: &str) -> Result<()> {
    if format == VideoFormat::Mp4 && !run::video::ffmpeg_available() {
        anyhow::bail!("{what}: MP4 needs an ffmpeg binary on PATH; {instead} instead");
    }
    Ok(())
}

/// Prints what an evaluation's observer wrote.
pub fn report_written(videos: EpisodeVideos) -> Result<()> {
    for (path, frames) in videos.finish()? {
        println!("wrote {} ({frames} frames)", path.display());
    }
    Ok(())
}

/// `runner video CHECKPOINT`: one episode of the checkpoint's policy as a video.
pub fn video(
    path: &Path,
    task: Option<&str>,
    seed: u64,
    steps: Option<usize>,
    output: Option<&Path>,
    frame: FrameSize,
) -> Result<()> {
    let checkpoint = run::checkpoint::resolve(path)?;
    let mut recipe = run::checkpoint::recipe_of(&checkpoint)?;
    if let Some(task) = task {
        recipe.env.task = crate::evaluate::task_named(task)?;
    }
    let device = device::select(&recipe.backend)?;
    let model = run::checkpoint::model_of(&checkpoint, &recipe, &device)?;
    let norm = run::checkpoint::norm_of(&checkpoint)?;
    let mut agent = PolicyAgent::new(&model, norm.as_ref(), &device, &recipe.memory);
    let output = match output {
        Some(o) => o.to_path_buf(),
        None => run::paths::eval_output(&checkpoint, recipe.env.task.name(), seed)
            .with_extension(VideoFormat::best_available().extension()),
    };
    let format = VideoFormat::of(&output)?;
    require_ffmpeg(format, &output.display().to_string(), "name a .gif")?;
    let max_steps = steps.unwrap_or(recipe.env.horizon);
    let size = (frame.width, frame.height);
    let video = record_rollout(&mut agent, &recipe.env, seed, max_steps, &output, size)?;
    let e = &video.episode;
    println!(
        "wrote {} ({}, {} frames at {} fps, {}x{}): {} steps, distance {:.2} m, return {:.2}, \
         collisions {}, {}; {:.1} s",
        video.path.display(),
        format.extension().to_uppercase(),
        video.frames,
        run::video::FPS,
        frame.width,
        frame.height,
        video.steps,
        e.distance,
        e.episode_return,
        e.collisions,
        if e.fell { "fell" } else { "did not fall" },
        video.wall_s
    );
    Ok(())
}
