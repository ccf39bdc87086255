//! Streams RGB frames into a video file: animated GIF with the `gif` crate, or MP4 through an
//! `ffmpeg` binary on PATH (H.264). The file appears under its name only when it is complete:
//! frames go to a hidden sibling that is renamed at [`VideoWriter::finish`] and removed when the
//! writer is dropped unfinished.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use super::VideoError;

/// Frames per second of sim time in every video.
pub const FPS: u32 = 25;

/// A video container, chosen by the output's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFormat {
    /// Animated GIF (256 colours per frame), written by the `gif` crate.
    Gif,
    /// H.264 in MP4, encoded by `ffmpeg`.
    Mp4,
}

impl VideoFormat {
    /// The format of `path` from its extension (`.gif` or `.mp4`).
    pub fn of(path: &Path) -> Result<VideoFormat, VideoError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("gif") => Ok(VideoFormat::Gif),
            Some(e) if e.eq_ignore_ascii_case("mp4") => Ok(VideoFormat::Mp4),
            _ => Err(VideoError::Extension(path.to_path_buf())),
        }
    }

    /// MP4 when `ffmpeg` runs on this machine, else GIF: the default of `runner video`.
    pub fn best_available() -> VideoFormat {
        if ffmpeg_available() {
            VideoFormat::Mp4
        } else {
            VideoFormat::Gif
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            VideoFormat::Gif => "gif",
            VideoFormat::Mp4 => "mp4",
        }
    }
}

/// Whether an `ffmpeg` binary on PATH answers `ffmpeg -version`.
pub fn ffmpeg_available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

enum Sink {
    Gif(gif::Encoder<BufWriter<std::fs::File>>),
    Mp4 {
        child: Child,
        stdin: BufWriter<ChildStdin>,
    },
}

/// A video being written, frame by frame.
pub struct VideoWriter {
    path: PathBuf,
    partial: PathBuf,
    sink: Option<Sink>,
    width: usize,
    height: usize,
    frames: usize,
}

impl VideoWriter {
    /// Starts a video of `width x height` frames at `path` (its format from the extension).
    pub fn create(path: &Path, width: usize, height: usize) -> Result<VideoWriter, VideoError> {
        let format = VideoFormat::of(path)?;
        let io = |source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let partial = dir.join(format!(".{name}.partial-{}", std::process::id()));
        let sink = match format {
            VideoFormat::Gif => {
                let (w, h) = (u16::try_from(width), u16::try_from(height));
                let (Ok(w), Ok(h)) = (w, h) else {
                    return Err(VideoError::Size { width, height });
                };
                let file = std::fs::File::create(&partial).map_err(io)?;
                let mut encoder = gif::Encoder::new(BufWriter::new(file), w, h, &[])
                    .map_err(|e| VideoError::Gif(e.to_string()))?;
                encoder
                    .set_repeat(gif::Repeat::Infinite)
                    .map_err(|e| VideoError::Gif(e.to_string()))?;
                Sink::Gif(encoder)
            }
            VideoFormat::Mp4 => {
                let mut child = Command::new("ffmpeg")
                    .args(["-hide_banner", "-loglevel", "error", "-y"])
                    .args(["-f", "rawvideo", "-pixel_format", "rgb24"])
                    .args(["-video_size", &format!("{width}x{height}")])
                    .args(["-framerate", &FPS.to_string(), "-i", "-"])
                    // yuv420p (what players expect) needs even sides.
                    .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
                    .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4"])
                    .arg(&partial)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| VideoError::Ffmpeg(format!("cannot start ffmpeg: {e}")))?;
                let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
                Sink::Mp4 { child, stdin }
            }
        };
        Ok(VideoWriter {
            path: path.to_path_buf(),
            partial,
            sink: Some(sink),
            width,
            height,
            frames: 0,
        })
    }

    /// Appends one frame (`width * height * 3` bytes, RGB, rows top to bottom).
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), VideoError> {
        assert_eq!(rgb.len(), self.width * self.height * 3, "frame size");
        match self.sink.as_mut().expect("an unfinished writer") {
            Sink::Gif(encoder) => {
                // Speed 20 of NeuQuant's 1..=30 (1 is best): learns the palette from every 20th
                // pixel, about 4 ms for a 320x240 frame here (speed 10 took 7 ms).
                let mut frame =
                    gif::Frame::from_rgb_speed(self.width as u16, self.height as u16, rgb, 20);
                frame.delay = (100 / FPS) as u16;
                encoder
                    .write_frame(&frame)
                    .map_err(|e| VideoError::Gif(e.to_string()))?;
            }
            Sink::Mp4 { stdin, .. } => {
                stdin
                    .write_all(rgb)
                    .map_err(|e| VideoError::Ffmpeg(format!("writing a frame: {e}")))?;
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Completes the file and moves it to its name; returns its path and frame count.
    pub fn finish(mut self) -> Result<(PathBuf, usize), VideoError> {
        let sink = self.sink.take().expect("an unfinished writer");
        let result = close(sink, &self.path).and_then(|()| {
            std::fs::rename(&self.partial, &self.path).map_err(|source| VideoError::Io {
                path: self.path.clone(),
                source,
            })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&self.partial);
        }
        result.map(|()| (self.path.clone(), self.frames))
    }
}

/// Completes the stream of `sink` (the video meant for `path`) and flushes it to disk.
fn close(sink: Sink, path: &Path) -> Result<(), VideoError> {
    match sink {
        Sink::Gif(encoder) => {
            let io = |source| VideoError::Io {
                path: path.to_path_buf(),
                source,
            };
            let mut file = encoder
                .into_inner()
                .map_err(|e| VideoError::Gif(e.to_string()))?;
            file.flush().map_err(io)?;
            file.get_ref().sync_all().map_err(io)
        }
        Sink::Mp4 { child, stdin } => {
            // Closing ffmpeg's input ends the stream; it then writes the file and exits.
            // (An error's message is taken and the error dropped, which closes the pipe too.)
            let flushed = stdin
                .into_inner()
                .map(drop)
                .map_err(|e| e.error().to_string());
            let out = child
                .wait_with_output()
                .map_err(|e| VideoError::Ffmpeg(e.to_string()))?;
            flushed.map_err(VideoError::Ffmpeg)?;
            if !out.status.success() {
                return Err(VideoError::Ffmpeg(format!(
                    "ffmpeg exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        }
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            if let Sink::Mp4 { mut child, stdin } = sink {
                drop(stdin);
                let _ = child.wait();
            }
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
