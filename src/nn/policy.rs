//! LocoTransformer pooling, MLP heads, the Gaussian policy and value branches, the actor-critic.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::encoder::Encoder;
use super::fusion::Fusion;
use super::init::ortho_linear;
use super::memory::{BranchMemories, Memory};

/// Lower and upper clamp of the policy log-std.
pub const LOG_STD_RANGE: (f32, f32) = (-5.0, 2.0);

/// An MLP with ReLU after every layer.
#[derive(Module, Debug)]
pub struct Head {
    /// The hidden layers.
    pub layers: Vec<Linear>,
}

impl Head {
    /// Builds hidden layers `input -> hidden[0] -> ...`; returns the head and its output width.
    pub fn new(input: usize, hidden: &[usize], device: &Device) -> (Self, usize) {
        let mut width = input;
        let mut layers = Vec::new();
        for &h in hidden {
            layers.push(ortho_linear(width, h, std::f64::consts::SQRT_2, device));
            width = h;
        }
        (Self { layers }, width)
    }

    /// `[B, input]` -> `[B, width]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layers.iter().fold(x, |x, l| relu(l.forward(x)))
    }
}

/// Policy side: fusion, head, mean layer and the state-independent log-std.
#[derive(Module, Debug)]
pub struct PolicyBranch {
    /// Fusion layers.
    pub fusion: Fusion,
    /// Head MLP.
    pub head: Head,
    /// Linear layer to the action mean.
    pub mean: Linear,
    /// Unclamped learnable log-std `[A]`.
    pub log_std: Param<Tensor<1>>,
}

/// Value side: fusion, head and the value layer; an asymmetric critic's head also reads
/// privileged state beside the pooled tokens.
#[derive(Module, Debug)]
pub struct ValueBranch {
    /// Fusion layers.
    pub fusion: Fusion,
    /// Floats of privileged state concatenated to the pooled tokens (0: a symmetric critic).
    pub privileged_dim: usize,
    /// Head MLP.
    pub head: Head,
    /// Linear layer to the scalar value.
    pub value: Linear,
}

/// Builds the output linear layer with orthogonal init of the given gain.
pub fn output_layer(input: usize, output: usize, gain: f64, device: &Device) -> Linear {
    ortho_linear(input, output, gain, device)
}

impl PolicyBranch {
    /// Tokens `[B, T, D]` -> action mean `[B, A]`.
    pub fn forward(&self, tokens: Tensor<3>, has_state_token: bool) -> Tensor<2> {
        let pooled = self
            .fusion
            .pool(self.fusion.forward(tokens), has_state_token);
        self.mean.forward(self.head.forward(pooled))
    }

    /// The log-std clamped to [`LOG_STD_RANGE`].
    pub fn log_std(&self) -> Tensor<1> {
        self.log_std.val().clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1)
    }
}

impl PolicyBranch {
    /// [`forward`](Self::forward) over `steps` control steps per sequence with memory: tokens
    /// `[B * steps, T, D]` -> (action mean `[B * steps, A]`, the memory after the last step).
    /// See [`Fusion::forward_memory`].
    pub fn forward_memory(
        &self,
        tokens: Tensor<3>,
        has_state_token: bool,
        (memory, starts, steps): (&Memory, &[bool], usize),
    ) -> (Tensor<2>, Memory) {
        let (fused, next) = self.fusion.forward_memory(tokens, memory, starts, steps);
        let pooled = self.fusion.pool(fused, has_state_token);
        (self.mean.forward(self.head.forward(pooled)), next)
    }
}

impl ValueBranch {
    /// Tokens `[B, T, D]` (and, for an asymmetric critic, privileged state
    /// `[B, privileged_dim]`) -> value `[B]`.
    ///
    /// # Panics
    /// If privileged state is missing for an asymmetric critic.
    pub fn forward(
        &self,
        tokens: Tensor<3>,
        has_state_token: bool,
        privileged: Option<Tensor<2>>,
    ) -> Tensor<1> {
        let pooled = self
            .fusion
            .pool(self.fusion.forward(tokens), has_state_token);
        self.head_value(pooled, privileged)
    }

    /// The value head over pooled tokens (and privileged state): `[B]`.
    fn head_value(&self, mut pooled: Tensor<2>, privileged: Option<Tensor<2>>) -> Tensor<1> {
        if self.privileged_dim > 0 {
            let extra = privileged.expect("an asymmetric critic needs the privileged state");
            pooled = Tensor::cat(vec![pooled, extra], 1);
        }
        let v = self.value.forward(self.head.forward(pooled));
        let [b, _] = v.dims();
        v.reshape([b])
    }

    /// [`forward`](Self::forward) over `steps` control steps per sequence with memory: tokens
    /// `[B * steps, T, D]` -> (value `[B * steps]`, the memory after the last step).
    pub fn forward_memory(
        &self,
        tokens: Tensor<3>,
        has_state_token: bool,
        privileged: Option<Tensor<2>>,
        (memory, starts, steps): (&Memory, &[bool], usize),
    ) -> (Tensor<1>, Memory) {
        let (fused, next) = self.fusion.forward_memory(tokens, memory, starts, steps);
        let pooled = self.fusion.pool(fused, has_state_token);
        (self.head_value(pooled, privileged), next)
    }
}

/// The full actor-critic. The trainer steps `encoder` + `policy` with the policy optimiser and
/// `value` (+ `value_encoder`) with the value optimiser.
#[derive(Module, Debug)]
pub struct ActorCritic {
    /// Shared trunk (policy side).
    pub encoder: Encoder,
    /// The value side's own encoder, `Some` when `encoder.shared = false`.
    pub value_encoder: Option<Encoder>,
    /// Fusion + head + mean layer + log-std.
    pub policy: PolicyBranch,
    /// Fusion + head + value layer.
    pub value: ValueBranch,
}

impl ActorCritic {
    /// proprio `[B, proprio_dim]` (ignored for vision-only), depth `[B, frames, H, W]` and,
    /// for an asymmetric critic, privileged state `[B, privileged_dim]` (ignored otherwise) ->
    /// (mean `[B, A]`, value `[B]`). With a shared encoder the value gradient also flows into it.
    pub fn forward(
        &self,
        proprio: Tensor<2>,
        depth: Tensor<4>,
        privileged: Option<Tensor<2>>,
    ) -> (Tensor<2>, Tensor<1>) {
        let has_state = self.encoder.has_state_token();
        let (tokens, value_tokens) = self.tokens(proprio, depth);
        let mean = self.policy.forward(tokens, has_state);
        let value = self.value.forward(value_tokens, has_state, privileged);
        (mean, value)
    }

    /// What acting needs from one control step of `B` envs: the action mean `[B, A]`, the value
    /// `[B]` and, with `memory`, both branches' memories after the step (continuing, no episode
    /// starting). The same values bit for bit as [`forward`](Self::forward) and
    /// [`forward_memory`](Self::forward_memory), with the policy and value branches run at the
    /// same time on rayon's threads: a branch's few rows leave a thread idle. Training keeps
    /// those two, so that an autodiff graph grows in one order.
    pub fn act_and_value(
        &self,
        (proprio, depth, privileged): (Tensor<2>, Tensor<4>, Option<Tensor<2>>),
        memory: Option<&BranchMemories>,
    ) -> (Tensor<2>, Tensor<1>, Option<BranchMemories>) {
        let has_state = self.encoder.has_state_token();
        let (tokens, value_tokens) = self.tokens(proprio, depth);
        let Some(memory) = memory else {
            let (mean, value) = rayon::join(
                || self.policy.forward(tokens, has_state),
                || self.value.forward(value_tokens, has_state, privileged),
            );
            return (mean, value, None);
        };
        let starts = vec![false; memory.policy.batch];
        let ((mean, policy), (value, value_memory)) = rayon::join(
            || {
                self.policy
                    .forward_memory(tokens, has_state, (&memory.policy, &starts, 1))
            },
            || {
                self.value.forward_memory(
                    value_tokens,
                    has_state,
                    privileged,
                    (&memory.value, &starts, 1),
                )
            },
        );
        let next = BranchMemories {
            policy,
            value: value_memory,
        };
        (mean, value, Some(next))
    }

    /// The tokens of the policy branch and of the value branch: the same with a shared encoder.
    fn tokens(&self, proprio: Tensor<2>, depth: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let tokens = self.encoder.forward(proprio.clone(), depth.clone());
        let value_tokens = match &self.value_encoder {
            Some(enc) => enc.forward(proprio, depth),
            None => tokens.clone(),
        };
        (tokens, value_tokens)
    }

    /// The policy alone (what a deployed robot runs): proprio and depth -> action mean `[B, A]`.
    pub fn act(&self, proprio: Tensor<2>, depth: Tensor<4>) -> Tensor<2> {
        let tokens = self.encoder.forward(proprio, depth);
        self.policy.forward(tokens, self.encoder.has_state_token())
    }

    /// Tokens the encoder emits per control step for observations of `shape`.
    pub fn tokens_per_step(&self, shape: &super::ObsShape) -> usize {
        let kind = if self.encoder.has_state_token() {
            crate::recipe::EncoderKind::Loco
        } else {
            crate::recipe::EncoderKind::VisionOnly
        };
        super::encoder::token_count(kind, shape).unwrap_or(1)
    }

    /// A zero memory of both fusion stacks for `batch` envs whose steps give `tokens` tokens, with
    /// `context_steps` steps of context for a Transformer; `None` for the baselines.
    pub fn zero_memory(
        &self,
        batch: usize,
        tokens: usize,
        context_steps: usize,
    ) -> Option<BranchMemories> {
        let width = self.encoder.width();
        Some(BranchMemories {
            policy: self
                .policy
                .fusion
                .zero_memory(batch, tokens, width, context_steps)?,
            value: self
                .value
                .fusion
                .zero_memory(batch, tokens, width, context_steps)?,
        })
    }

    /// [`forward`](Self::forward) with memory over `steps` consecutive control steps of each of
    /// `B` envs: inputs of `B * steps` rows (row `b * steps + s`), an episode starting at the
    /// rows whose `starts` flag is set, both branches continuing from `memory` ->
    /// (mean `[B * steps, A]`, value `[B * steps]`, the memories after the last step).
    pub fn forward_memory(
        &self,
        (proprio, depth, privileged): (Tensor<2>, Tensor<4>, Option<Tensor<2>>),
        memory: &BranchMemories,
        starts: &[bool],
        steps: usize,
    ) -> (Tensor<2>, Tensor<1>, BranchMemories) {
        let has_state = self.encoder.has_state_token();
        let (tokens, value_tokens) = self.tokens(proprio, depth);
        let (mean, policy) =
            self.policy
                .forward_memory(tokens, has_state, (&memory.policy, starts, steps));
        let (value, value_memory) = self.value.forward_memory(
            value_tokens,
            has_state,
            privileged,
            (&memory.value, starts, steps),
        );
        (
            mean,
            value,
            BranchMemories {
                policy,
                value: value_memory,
            },
        )
    }

    /// [`act`](Self::act) with memory: one control step of `B` envs from the policy's memory ->
    /// (mean `[B, A]`, the policy's next memory). What a deployed robot runs.
    pub fn act_memory(
        &self,
        proprio: Tensor<2>,
        depth: Tensor<4>,
        memory: &Memory,
    ) -> (Tensor<2>, Memory) {
        let tokens = self.encoder.forward(proprio, depth);
        let starts = vec![false; memory.batch];
        self.policy
            .forward_memory(tokens, self.encoder.has_state_token(), (memory, &starts, 1))
    }

    /// Whether the value branch reads privileged state (an asymmetric critic).
    pub fn asymmetric(&self) -> bool {
        self.value.privileged_dim > 0
    }

    /// The policy log-std `[A]`, clamped to [`LOG_STD_RANGE`].
    pub fn log_std(&self) -> Tensor<1> {
        self.policy.log_std()
    }
}

const HALF_LOG_2PI: f32 = 0.918_938_5;

/// Log-density of `actions` `[B, A]` under the diagonal Gaussian (`mean` `[B, A]`, `log_std`
/// `[A]`), summed over action dimensions: `[B]`. The sample is the unsquashed one.
pub fn gaussian_log_prob(mean: Tensor<2>, log_std: Tensor<1>, actions: Tensor<2>) -> Tensor<1> {
    let [b, a] = mean.dims();
    let ls = log_std.reshape([1, a]);
    let z = (actions - mean) / ls.clone().exp();
    let per_dim = z.powi_scalar(2) * (-0.5) - ls - HALF_LOG_2PI;
    per_dim.sum_dim(1).reshape([b])
}

/// Entropy of the diagonal Gaussian, summed over action dimensions. The log-std is
/// state-independent, so this is one scalar for the whole batch, returned as a `[1]` tensor.
pub fn gaussian_entropy(log_std: Tensor<1>) -> Tensor<1> {
    (log_std + (0.5 + HALF_LOG_2PI)).sum()
}
