//! The `runner` command line: its commands and flags (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use locomamba::bench::BenchKind;
use locomamba::recipe::legacy::LegacyModel;
use locomamba::run::shard::Shard;

/// Train vision-guided quadruped locomotion policies (Transformer or Mamba fusion) with PPO.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    /// The command to run.
    pub command: Command,
}

/// Frame size of videos.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct FrameSize {
    /// Video width in pixels.
    #[arg(long, default_value_t = 320)]
    pub width: usize,
    /// Video height in pixels.
    #[arg(long, default_value_t = 240)]
    pub height: usize,
}

/// A video container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VideoFormatArg {
    /// Animated GIF.
    Gif,
    /// H.264 MP4 (through ffmpeg).
    Mp4,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train every seed and every point of the recipe's [sweep] grid (the main job).
    Sweep {
        /// The recipe (TOML, JSON, or a legacy JSON config).
        recipe: PathBuf,
        /// Override a recipe key, e.g. `--set ppo.clip=0.1` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Runs at a time; each gets an equal share of the CPU threads.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Backend for the networks (same as `--set backend.kind=...`).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Retrain finished runs (their old folders are renamed, not deleted).
        #[arg(long)]
        force: bool,
        /// Run only shard K of N: the runs i % N == K of the grid, which the first shard freezes
        /// in `runs/<exp>/sweep.json` (shards on several machines share the folder).
        #[arg(long, value_name = "K/N", conflicts_with = "slurm")]
        shard: Option<Shard>,
        /// Submit the sweep to Slurm as a job array (one task per shard) and a summary job
        /// after it, instead of running it here.
        #[arg(long)]
        slurm: bool,
        /// Slurm: array tasks running at once (default: all).
        #[arg(long, value_name = "P", requires = "slurm")]
        array_parallelism: Option<usize>,
        /// Slurm: time limit of each task (`HH:MM:SS`); tasks requeue themselves at it.
        #[arg(long, value_name = "HH:MM:SS", requires = "slurm")]
        time: Option<String>,
        /// Slurm: a further `sbatch` argument, e.g. `--sbatch-arg=--partition=cpu` (repeatable).
        #[arg(
            long = "sbatch-arg",
            value_name = "ARG",
            allow_hyphen_values = true,
            requires = "slurm"
        )]
        sbatch_args: Vec<String>,
        /// Slurm: print the batch script and the commands without submitting.
        #[arg(long, requires = "slurm")]
        dry_run: bool,
        /// Under Slurm: times a task may requeue itself at its time limit (counted by
        /// `SLURM_RESTART_COUNT`).
        #[arg(long, value_name = "N", default_value_t = 3)]
        max_requeues: u32,
        /// Refuse recipes whose estimated memory exceeds this (`8G`, `512M`; default: the
        /// machine's memory).
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        max_memory: Option<f64>,
    },
    /// Train one seed of the recipe (its sweep grid ignored).
    Train {
        /// The recipe (TOML, JSON, or a legacy JSON config).
        #[arg(required_unless_present = "resume", conflicts_with = "resume")]
        recipe: Option<PathBuf>,
        /// Continue one run folder (`runs/<experiment>/<variant>/seed-<n>`) from its last checkpoint,
        /// with the recipe stored in it; `--set` may change experiment.total_env_steps and
        /// logging.* (recorded in the run's recipe_changes.log), nothing else.
        #[arg(long, value_name = "RUN")]
        resume: Option<PathBuf>,
        /// Seed (default: the recipe's first).
        #[arg(long)]
        seed: Option<u64>,
        /// Backend for the networks (same as `--set backend.kind=...`).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Override a recipe key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Retrain a finished run.
        #[arg(long)]
        force: bool,
        /// Refuse recipes whose estimated memory exceeds this (`8G`, `512M`; default: the
        /// machine's memory).
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        max_memory: Option<f64>,
    },
    /// The summary table of an experiment folder from whatever has finished, listing the runs
    /// that have not (running, unfinished, not started); also writes report.md.
    Summarize {
        /// The experiment folder (`runs/<exp>`).
        experiment: PathBuf,
    },
    /// Evaluate a checkpoint deterministically (mean action).
    Eval {
        /// A checkpoint folder, a run's checkpoints/ folder, a run folder (latest checkpoint), or
        /// an experiment folder (`runs/<exp>`: the final checkpoint of every finished run; stored
        /// evaluations with at least as many episodes are kept, not redone).
        #[arg(required_unless_present = "agent")]
        checkpoint: Option<PathBuf>,
        /// Evaluate a sanity agent instead of a policy: `zero` (stands), `random` (white noise of
        /// the initial policy's std) or `trot` (an open-loop diagonal trot); the env is the
        /// recipe's (`--recipe`, else the defaults) or the checkpoint's, always with the
        /// original's action space (`env.action_mode = "joint_targets"`).
        #[arg(long, value_enum)]
        agent: Option<AgentArg>,
        /// Recipe whose env a sanity agent runs in.
        #[arg(long, requires = "agent")]
        recipe: Option<PathBuf>,
        /// Override a recipe key of that env (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Trot: policy steps per gait cycle (default: the recipe's `env.trot`).
        #[arg(long)]
        period: Option<f32>,
        /// Trot: hip swing amplitude (rad).
        #[arg(long)]
        hip: Option<f32>,
        /// Trot: knee bend amplitude (rad).
        #[arg(long)]
        knee: Option<f32>,
        /// Trot: lag of the knee behind the hip (fraction of a period).
        #[arg(long)]
        knee_lag: Option<f32>,
        /// Evaluate on another task (generalisation); repeatable or comma-separated, each
        /// evaluated in turn (default: the checkpoint's own task).
        #[arg(long, value_delimiter = ',')]
        task: Vec<String>,
        /// Episodes.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// Seed of the evaluation envs; repeatable or comma-separated (`--seed 0,1`: two
        /// evaluations, each written to its own file).
        #[arg(long, value_delimiter = ',', default_values_t = [0u64])]
        seed: Vec<u64>,
        /// Write a video of every evaluated episode into this folder (`episode-000.mp4`, ...).
        #[arg(long, value_name = "DIR")]
        video: Option<PathBuf>,
        /// Container of those videos (default: mp4 when an `ffmpeg` binary is on PATH, else gif).
        #[arg(long, value_enum, requires = "video")]
        video_format: Option<VideoFormatArg>,
        #[command(flatten)]
        frame: FrameSize,
    },
    /// Export a checkpoint's policy to ONNX (`policy.onnx`, with its metadata, a JSON sidecar,
    /// the weights and the recipe) for deployment; `--check` runs it in onnxruntime against this
    /// crate's own outputs.
    Export {
        /// A checkpoint folder, a run's checkpoints/ folder, or a run folder (latest checkpoint).
        checkpoint: PathBuf,
        /// Output folder (default: `<run>/exported/`).
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Step the simulator with the policy, run the exported model in onnxruntime on the
        /// same inputs (through `python3` with `onnx` and `onnxruntime`) and print the largest
        /// difference per output; fails beyond the tolerance.
        #[arg(long)]
        check: bool,
        /// Control steps the check records (with memory, the state carried through them).
        #[arg(long, default_value_t = 50, requires = "check")]
        check_steps: usize,
        /// The Python interpreter of the check.
        #[arg(
            long,
            default_value = "python3",
            env = "LOCOMAMBA_PYTHON",
            requires = "check"
        )]
        python: String,
    },
    /// Record one episode of a checkpoint's policy as a video: a chase camera's ray-cast view of
    /// the scene, the policy's depth input beside it, and the step, distance and return.
    Video {
        /// A checkpoint folder, a run's checkpoints/ folder, or a run folder (latest checkpoint).
        checkpoint: PathBuf,
        /// Run on another task than the checkpoint's.
        #[arg(long)]
        task: Option<String>,
        /// Seed of the env.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Policy steps at most (default: the recipe's episode length, `env.horizon`).
        #[arg(long)]
        steps: Option<usize>,
        /// Output file, `.mp4` (needs `ffmpeg` on PATH) or `.gif` (default: the run's `eval/`
        /// folder, mp4 when ffmpeg is available, else gif).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        frame: FrameSize,
    },
    /// Write the depth camera's view at the start of an episode as a PNG (near = bright).
    Render {
        /// The recipe whose env (task, camera) to render.
        recipe: PathBuf,
        /// Output PNG.
        #[arg(short, long, default_value = "depth.png")]
        output: PathBuf,
        /// Policy steps (zero action) before the frame is taken.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Seed of the episode (obstacle layout).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Override a recipe key (repeatable), e.g. `--set env.task=spheres`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Benchmarks: networks, simulator, or end-to-end training.
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        what: BenchKind,
        /// Recipes to measure (repeatable; default: the two thin-obstacles recipes).
        #[arg(long)]
        recipe: Vec<PathBuf>,
        /// Override a recipe key (repeatable), e.g. `--set env.num_envs=4`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Updates to time for `train`.
        #[arg(long, default_value_t = 2)]
        updates: u64,
        /// Untimed updates before the timed ones for `train`: the first update pays for the
        /// buffers' first touch and the allocator's growth, which a long run pays once.
        #[arg(long, default_value_t = 1)]
        warmup_updates: u64,
        /// Policy steps per task for `env`.
        #[arg(long, default_value_t = 200)]
        steps: usize,
        /// Batch of the training-step rows for `nets`.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Batch sizes for `scan` (comma-separated; default 256,1024 on CPU, 256,1024,4096 on CUDA).
        #[arg(long, value_delimiter = ',')]
        batches: Vec<usize>,
        /// Sequence lengths for `scan` (comma-separated; default 17,65,257 on CPU,
        /// 17,256,1024,4096 on CUDA).
        #[arg(long, value_delimiter = ',')]
        lens: Vec<usize>,
        /// Backend for the networks (same as `--set backend.kind=...`).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Print the tables in Markdown, headed by the machine and the command, exactly as
        /// README shows them.
        #[arg(long)]
        markdown: bool,
    },
    /// Convert a legacy Python LocoTransformer JSON config into a recipe.
    Migrate {
        /// The legacy JSON config.
        old: PathBuf,
        /// Write the recipe here (atomically) instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The network the config was trained with (the original's training script chose it, not
        /// the config); `get_image: false` always gives `state-only`.
        #[arg(long, value_enum, default_value_t = LegacyModel::Mamba)]
        model: LegacyModel,
        /// Same as `--model transformer`.
        #[arg(long, conflicts_with = "model")]
        keep_transformer: bool,
    },
    /// Print the recipe JSON Schema.
    Schema,
    /// Report the version, compiled backends, CPU threads and the GPU backends (CUDA, wgpu: the
    /// adapter and its plane size), and check a tiny Mamba forward on every backend that can run.
    Check {
        /// Exit with an error when no GPU (CUDA or wgpu) can be used.
        #[arg(long, alias = "require-cuda")]
        require_gpu: bool,
    },
    /// Write the statistics report of an experiment folder (`runs/<exp>`): interquartile means
    /// over seeds with bootstrap intervals, and the probability of improvement between variants.
    /// Several folders are reported side by side, their variants named `<exp>/<variant>`.
    Report {
        /// The experiment folders (one or more).
        #[arg(required = true)]
        experiments: Vec<PathBuf>,
        /// Folder for `report.md` and its figures (default: the experiment folder; required with
        /// several).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Sample efficiency: the env steps each run needs to first reach this evaluation
        /// distance in metres (default: 8, the LocoTransformer paper's Thin result).
        #[arg(long, value_name = "METRES", default_value_t = 8.0)]
        reach: f64,
    },
    /// Print the resolved recipe and its sweep variants.
    Describe {
        /// The recipe (TOML, JSON, or a legacy JSON config).
        recipe: PathBuf,
        /// Override a recipe key, e.g. `--set ppo.clip=0.1` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Refuse recipes whose estimated memory exceeds this (`8G`, `512M`; default: the
        /// machine's memory).
        #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
        max_memory: Option<f64>,
    },
}

/// `--agent`: the sanity agents of `runner eval`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AgentArg {
    /// All-zero actions (the standing pose).
    Zero,
    /// White Gaussian noise of the initial policy's standard deviation.
    Random,
    /// The open-loop diagonal trot.
    Trot,
}

/// `--backend`: where the networks run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    /// CPU (always available).
    Cpu,
    /// CUDA (a binary built with `--features cuda` and a device).
    Cuda,
    /// wgpu: Vulkan, Metal or DirectX 12 (a binary built with `--features wgpu` and an adapter).
    Wgpu,
}

/// `sets` with `--backend` appended as the last override.
pub fn with_backend(mut sets: Vec<String>, backend: Option<BackendArg>) -> Vec<String> {
    if let Some(b) = backend {
        let kind = match b {
            BackendArg::Cpu => "cpu",
            BackendArg::Cuda => "cuda",
            BackendArg::Wgpu => "wgpu",
        };
        sets.push(format!("backend.kind={kind}"));
    }
    sets
}

/// `--max-memory`: a size such as `8G`, in bytes.
fn parse_memory(text: &str) -> Result<f64, String> {
    locomamba::run::memory::parse_bytes(text)
}
