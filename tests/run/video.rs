//! Rollout videos: `runner eval --video` writes one GIF per evaluated episode and `runner video`
//! one of a checkpoint's policy; both decode with the expected frame count and size, and a bad
//! output name is refused before anything runs.

use std::path::Path;
use std::process::Command;

use crate::tiny::Tiny;

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .output()
        .expect("run runner")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Frame count and (width, height) of every frame of a GIF.
fn decode_gif(path: &Path) -> (usize, Vec<(u16, u16)>) {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::fs::File::open(path).unwrap())
        .expect("a GIF header");
    let mut sizes = Vec::new();
    while let Some(frame) = decoder.read_next_frame().expect("a GIF frame") {
        assert_eq!(frame.delay, 4, "25 frames per second");
        sizes.push((frame.width, frame.height));
    }
    (sizes.len(), sizes)
}

#[test]
fn eval_writes_one_video_per_episode_with_a_frame_per_step() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("videos");
    let stdout = ok(&runner(&[
        "eval",
        "--agent",
        "zero",
        "--episodes",
        "3",
        "--set",
        "env.horizon=6",
        "--set",
        "env.num_envs=2",
        "--set",
        "env.task=\"thin_obstacles\"",
        "--video",
        dir.to_str().unwrap(),
        "--video-format",
        "gif",
        "--width",
        "64",
        "--height",
        "48",
    ]));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    // Env 0 contributes 2 episodes and env 1 one; no partial file is left behind.
    assert_eq!(
        names,
        ["episode-000.gif", "episode-001.gif", "episode-002.gif"]
    );
    for name in &names {
        let (frames, sizes) = decode_gif(&dir.join(name));
        // The reset state and the first 5 steps (the 6th ends the episode).
        assert_eq!(frames, 6, "{name}");
        assert!(sizes.iter().all(|&s| s == (64, 48)), "{name}: {sizes:?}");
        assert!(stdout.contains(&format!("{name} (6 frames)")), "{stdout}");
    }
}

#[test]
fn video_records_a_checkpoints_policy_and_refuses_unknown_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = Tiny {
        epochs: 1,
        ..Tiny::default()
    }
    .write(tmp.path());
    ok(&runner(&["train", recipe.to_str().unwrap()]));
    let run = tmp.path().join("runs/tiny/base/seed-0");
    let bad = runner(&["video", run.to_str().unwrap(), "-o", "x.avi"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("x.avi: a video must end in .gif or .mp4"),
        "{err}"
    );
    let out = tmp.path().join("rollout.gif");
    let stdout = ok(&runner(&[
        "video",
        run.to_str().unwrap(),
        "--steps",
        "5",
        "-o",
        out.to_str().unwrap(),
        "--width",
        "80",
        "--height",
        "60",
    ]));
    assert!(
        stdout.contains("(GIF, 6 frames at 25 fps, 80x60): 5 steps"),
        "{stdout}"
    );
    let (frames, sizes) = decode_gif(&out);
    assert_eq!(frames, 6, "the reset state and 5 steps");
    assert!(sizes.iter().all(|&s| s == (80, 60)), "{sizes:?}");
}

#[test]
fn with_ffmpeg_on_path_eval_videos_are_h264_mp4s_of_the_same_frames() {
    if !locomamba::run::video::ffmpeg_available() {
        eprintln!("skipped: no ffmpeg on PATH (the GIF tests cover the frames)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("videos");
    ok(&runner(&[
        "eval",
        "--agent",
        "trot",
        "--episodes",
        "1",
        "--set",
        "env.horizon=8",
        "--video",
        dir.to_str().unwrap(),
        "--width",
        "63",
        "--height",
        "47",
    ]));
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "default=nw=1"])
        .arg(dir.join("episode-000.mp4"))
        .output()
        .expect("ffprobe comes with ffmpeg");
    let info = String::from_utf8_lossy(&probe.stdout);
    // Odd sides are padded to even ones for yuv420p.
    for line in [
        "codec_name=h264",
        "width=64",
        "height=48",
        "nb_read_frames=8",
    ] {
        assert!(info.lines().any(|l| l == line), "{line} in {info}");
    }
}

#[test]
fn an_env_without_a_camera_records_without_the_depth_inset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("videos");
    ok(&runner(&[
        "eval",
        "--agent",
        "zero",
        "--episodes",
        "1",
        "--set",
        "env.horizon=3",
        "--set",
        "sequence.model=\"state_only\"",
        "--set",
        "env.depth.enabled=false",
        "--video",
        dir.to_str().unwrap(),
        "--video-format",
        "gif",
        "--width",
        "32",
        "--height",
        "24",
    ]));
    let (frames, _) = decode_gif(&dir.join("episode-000.gif"));
    assert_eq!(frames, 3);
}
