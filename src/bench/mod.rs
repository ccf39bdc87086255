//! `runner bench`: network ([`nets`], its training step in [`train_step`]), selective-scan
//! ([`scan`]), simulator ([`env`]) and end-to-end training ([`train`]) throughput, and the counting
//! allocator ([`alloc`]) that lets the network rows report peak heap memory. [`run`] picks the
//! measurement and its per-device sizes.

pub mod alloc;
pub mod env;
pub mod estimate;
pub mod flops;
pub mod memory;
pub mod nets;
pub mod scan;
pub mod table;
pub mod train;
pub mod train_step;

use thiserror::Error;

use crate::device::{self, DeviceError};
use crate::nn::ObsShape;
use crate::ppo::trainer::TrainError;
use crate::recipe::{BackendKind, Recipe, Task};
use crate::sim::{EnvSpec, SimError};
pub use table::{Format, Machine, Report};

/// The recipes measured when `runner bench` is given none: the two paper setups on thin obstacles.
pub const DEFAULT_RECIPES: [&str; 2] = ["recipes/transformer_thin.toml", "recipes/mamba_thin.toml"];

/// What `runner bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchKind {
    /// Forward/backward/Adam and inference of the fusion networks, and token-count scaling.
    Nets,
    /// Simulator policy steps per second and depth-image time.
    Env,
    /// End-to-end env steps per second (rollout + update), Transformer vs Mamba.
    Train,
    /// The fused selective scan vs the tensor-op reference (time and bandwidth).
    Scan,
    /// Memory across control steps: acting latency against the steps of context, and the
    /// training step against segment length and context, Transformer vs Mamba.
    Memory,
}

impl BenchKind {
    /// The subcommand's name (`nets`, `env`, `train`, `scan`), as clap spells it.
    pub fn name(self) -> String {
        use clap::ValueEnum;
        self.to_possible_value()
            .map_or_else(|| format!("{self:?}"), |v| v.get_name().to_string())
    }
}

/// Sizes of the measurements; empty scan lists take the device's defaults ([`scan_batches`],
/// [`scan_lens`]).
#[derive(Debug, Clone)]
pub struct BenchSizes {
    /// Updates to time for `train`.
    pub updates: u64,
    /// Untimed updates before the timed ones for `train`.
    pub warmup_updates: u64,
    /// Policy steps per task for `env`.
    pub steps: usize,
    /// Batch of the training-step rows for `nets`.
    pub batch: usize,
    /// Batch sizes for `scan`.
    pub batches: Vec<usize>,
    /// Sequence lengths for `scan`.
    pub lens: Vec<usize>,
}

/// Why a benchmark could not run.
#[derive(Debug, Error)]
pub enum BenchError {
    /// The recipe's backend cannot be used here.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The simulator could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Training could not start or stopped.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The networks could not be built.
    #[error(transparent)]
    Network(#[from] crate::nn::NnError),
}

/// Default scan batch sizes on CPU and on CUDA.
pub fn scan_batches(cuda: bool) -> Vec<usize> {
    if cuda {
        vec![256, 1024, 4096]
    } else {
        vec![256, 1024]
    }
}

/// Default scan sequence lengths on CPU and on CUDA.
pub fn scan_lens(cuda: bool) -> Vec<usize> {
    if cuda {
        vec![17, 256, 1024, 4096]
    } else {
        vec![17, 65, 257]
    }
}

/// Runs measurement `what` on `recipes` (the first one's backend and sizes, every one for `train`)
/// and returns its report; `command` is the command line that asked for it, for the report's
/// header.
pub fn run(
    what: BenchKind,
    recipes: &[Recipe],
    sizes: BenchSizes,
    command: &str,
) -> Result<Report, BenchError> {
    let first = &recipes[0];
    let device = device::select(&first.backend)?;
    let title = format!(
        "runner bench {}, backend {:?}, {} rayon threads",
        what.name(),
        first.backend.kind,
        rayon::current_num_threads()
    );
    let tables = match what {
        BenchKind::Nets => {
            let spec = EnvSpec::of(&first.env)?;
            let options = nets::BenchOptions {
                train_batch: sizes.batch,
                infer_batches: vec![1, first.env.num_envs],
                ..Default::default()
            };
            vec![nets::table(&nets::run(
                first,
                &ObsShape::from(&spec),
                &device,
                &options,
            ))]
        }
        BenchKind::Env => {
            vec![env::bench_env(&first.env, &Task::ALL, first.env.num_envs, sizes.steps)?.table()]
        }
        BenchKind::Train => {
            let mut rows = Vec::new();
            for recipe in recipes {
                let device = device::select(&recipe.backend)?;
                rows.push(train::train_bench(
                    recipe,
                    sizes.updates,
                    sizes.warmup_updates,
                    &device,
                )?);
                eprintln!("measured {}", recipe.experiment.name);
            }
            train::tables(&rows)
        }
        BenchKind::Memory => {
            let spec = EnvSpec::of(&first.env)?;
            let options = memory::MemoryBenchOptions {
                minibatch: first.ppo.minibatch_size,
                ..Default::default()
            };
            vec![memory::table(&memory::run(
                first,
                &ObsShape::from(&spec),
                &device,
                &options,
            ))]
        }
        BenchKind::Scan => {
            let cuda = first.backend.kind == BackendKind::Cuda;
            let or_default = |given: Vec<usize>, default: Vec<usize>| {
                if given.is_empty() { default } else { given }
            };
            let options = scan::ScanBenchOptions {
                batches: or_default(sizes.batches, scan_batches(cuda)),
                lens: or_default(sizes.lens, scan_lens(cuda)),
                channels: 512,
                state: 16,
                repeats: 3,
                reference_limit_bytes: if cuda { 32 << 30 } else { 4 << 30 },
            };
            vec![scan::table(&scan::run(&device, &options))]
        }
    };
    Ok(Report {
        title,
        command: command.to_string(),
        machine: Machine::detect(),
        tables,
    })
}
