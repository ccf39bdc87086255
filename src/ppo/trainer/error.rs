//! Why training stops, why a saved state does not fit, and the check for non-finite parameters.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use thiserror::Error;

use super::to_vec;
use crate::nn::{ActorCritic, NnError};
use crate::sim::SimError;

/// Why training stopped with an error.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The networks could not be built from the recipe.
    #[error(transparent)]
    Network(#[from] NnError),
    /// The simulator could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A loss or a parameter became NaN or infinite.
    #[error(
        "update {update}: {what} is not finite ({value}); stopping, the last good checkpoint is kept"
    )]
    NonFinite {
        /// The update at which it happened.
        update: u64,
        /// Which quantity.
        what: String,
        /// Its value.
        value: f64,
    },
}

/// Why a saved [`TrainerState`](crate::ppo::state::TrainerState) does not fit this trainer.
#[derive(Debug, Error)]
pub enum RestoreError {
    /// The state belongs to another seed.
    #[error("checkpoint of seed {saved}, but the run resumes seed {run}")]
    SeedMismatch {
        /// The saved run's seed.
        saved: u64,
        /// This trainer's seed.
        run: u64,
    },
    /// The simulator snapshot does not fit the recipe's env.
    #[error(transparent)]
    Env(#[from] SimError),
    /// An optimiser state could not be read or written.
    #[error("optimiser state: {0}")]
    Optimizer(String),
    /// The saved acting memory does not fit this run's `[memory]` and networks.
    #[error("acting memory: {0}")]
    Memory(String),
    /// The saved exploration noise has another number of envs or outputs than this run.
    #[error("exploration noise: the checkpoint's does not fit this run's envs and outputs")]
    ExplorationNoise,
}

/// Finds a NaN or infinite parameter value, if any.
struct NonFiniteParam(Option<f64>);

impl ModuleVisitor for NonFiniteParam {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.0.is_none() {
            self.0 = to_vec(param.val())
                .into_iter()
                .find(|v| !v.is_finite())
                .map(f64::from);
        }
    }
}

/// The first NaN or infinite value among `model`'s parameters.
pub fn first_non_finite_param(model: &ActorCritic) -> Option<f64> {
    let mut visitor = NonFiniteParam(None);
    model.visit(&mut visitor);
    visitor.0
}
