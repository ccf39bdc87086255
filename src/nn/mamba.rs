//! The Mamba-1 block: pre-norm, in_proj, depthwise causal conv, SiLU, x_proj, dt_proj + softplus,
//! selective scan with `A = -exp(A_log)` and D skip, SiLU(z) gate, out_proj, residual.

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::silu;

use super::scan_reference::selective_scan;
use super::token_linear::{token_linear, token_linear_part};
use crate::ops::layer_norm::{LAYER_NORM_EPS, layer_norm_rows, layer_norm_tokens};
use crate::ops::mamba_pointwise::{ConvStart, causal_conv_silu, silu_gate};
use crate::ops::scan::ScanInputs;
use crate::ops::scan::{selective_scan_fused, selective_scan_y};

/// Configuration of one Mamba block (its sizes); [`init`](Self::init) builds the block.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct MambaBlockConfig {
    /// Token width.
    pub d_model: usize,
    /// SSM state size per channel.
    #[config(default = 16)]
    pub d_state: usize,
    /// Width of the depthwise causal convolution.
    #[config(default = 4)]
    pub d_conv: usize,
    /// d_inner = expand x d_model.
    #[config(default = 2)]
    pub expand: usize,
}

impl MambaBlockConfig {
    /// Channels of the inner stream.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }
    /// Rank of the step-size projection, ceil(d_model / 16).
    pub fn dt_rank(&self) -> usize {
        self.d_model.div_ceil(16)
    }

    /// Builds the block with the Mamba paper's initialisation.
    pub fn init(&self, device: &Device) -> MambaBlock {
        let dims = *self;
        let (dm, di, n, k, r) = (
            dims.d_model,
            dims.d_inner(),
            dims.d_state,
            dims.d_conv,
            dims.dt_rank(),
        );
        let conv_bound = 1.0 / (k as f64).sqrt();
        let dt_std = 1.0 / (r as f64).sqrt();
        let (dt_min, dt_max) = (1e-3f64, 1e-1f64);
        let dt = (Tensor::<1>::random([di], Distribution::Uniform(0.0, 1.0), device)
            * (dt_max.ln() - dt_min.ln())
            + dt_min.ln())
        .exp()
        .clamp_min(1e-4);
        // inverse softplus: dt + log(1 - exp(-dt))
        let inv_dt = dt.clone() + (dt.neg().exp().neg() + 1.0).log();
        let a_row: Vec<f32> = (1..=n).map(|i| (i as f32).ln()).collect();
        let a_log = Tensor::<1>::from_data(TensorData::new(a_row, [n]), device)
            .unsqueeze_dim::<2>(0)
            .repeat_dim(0, di);
        let mut dt_proj = LinearConfig::new(r, di).with_bias(false).init(device);
        dt_proj.weight = Param::from_tensor(Tensor::random(
            [r, di],
            Distribution::Uniform(-dt_std, dt_std),
            device,
        ));
        MambaBlock {
            norm: LayerNormConfig::new(dm)
                .with_epsilon(LAYER_NORM_EPS)
                .init(device),
            in_proj: LinearConfig::new(dm, 2 * di).with_bias(false).init(device),
            conv_weight: Param::from_tensor(Tensor::random(
                [di, k],
                Distribution::Uniform(-conv_bound, conv_bound),
                device,
            )),
            conv_bias: Param::from_tensor(Tensor::random(
                [di],
                Distribution::Uniform(-conv_bound, conv_bound),
                device,
            )),
            x_proj: LinearConfig::new(di, r + 2 * n)
                .with_bias(false)
                .init(device),
            dt_proj,
            dt_bias: Param::from_tensor(inv_dt),
            a_log: Param::from_tensor(a_log),
            d: Param::from_tensor(Tensor::ones([di], device)),
            out_proj: LinearConfig::new(di, dm).with_bias(false).init(device),
        }
    }
}

/// Recurrent state of one block for a batch of sequences: where the next token continues from.
#[derive(Debug, Clone)]
pub struct MambaState {
    /// The causal convolution's last inputs, oldest first: `[B, conv_history(d_conv), d_inner]`
    /// (see [`conv_history`]; zeros for inputs of an earlier episode).
    pub conv: Tensor<3>,
    /// SSM hidden state `[B, d_inner, d_state]`.
    pub ssm: Tensor<3>,
}

/// Rows of [`MambaState::conv`]: the `d_conv - 1` inputs before the next token, and one (unused)
/// row for a width-1 convolution, so that the state never has an empty dimension.
pub fn conv_history(d_conv: usize) -> usize {
    (d_conv - 1).max(1)
}

/// One Mamba-1 block with residual.
#[derive(Module, Debug)]
pub struct MambaBlock {
    /// Pre-norm.
    pub norm: LayerNorm,
    /// d_model -> 2 x d_inner (x and gate z), no bias.
    pub in_proj: Linear,
    /// Depthwise conv weights `[d_inner, d_conv]`; the last column multiplies the current token.
    pub conv_weight: Param<Tensor<2>>,
    /// Depthwise conv bias `[d_inner]`.
    pub conv_bias: Param<Tensor<1>>,
    /// d_inner -> dt_rank + 2 x d_state, no bias.
    pub x_proj: Linear,
    /// dt_rank -> d_inner, no bias (its bias is `dt_bias`, applied inside the scan).
    pub dt_proj: Linear,
    /// Step-size bias `[d_inner]`, initialised so softplus(dt) lies in [1e-3, 1e-1].
    pub dt_bias: Param<Tensor<1>>,
    /// `log(-A)` `[d_inner, d_state]`, S4D-real init log(1..=d_state).
    pub a_log: Param<Tensor<2>>,
    /// Skip `[d_inner]`, ones.
    pub d: Param<Tensor<1>>,
    /// d_inner -> d_model, no bias.
    pub out_proj: Linear,
}

impl MambaBlock {
    /// The block's sizes, read back from its parameters.
    pub fn dims(&self) -> MambaBlockConfig {
        let [di, n] = self.a_log.dims();
        let [dm, _] = self.in_proj.weight.dims();
        let [_, k] = self.conv_weight.dims();
        MambaBlockConfig {
            d_model: dm,
            d_state: n,
            d_conv: k,
            expand: di / dm,
        }
    }

    /// A zero recurrent state for `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> MambaState {
        let dims = self.dims();
        MambaState {
            conv: Tensor::zeros([batch, conv_history(dims.d_conv), dims.d_inner()], device),
            ssm: Tensor::zeros([batch, dims.d_inner(), dims.d_state], device),
        }
    }

    /// Splits the x_proj output `[B, L, r + 2N]` into (dt `[B, L, r]`, b, c `[B, L, N]`).
    fn split_dbc(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        let n = self.a_log.dims()[1];
        let r = self.dt_proj.weight.dims()[0];
        (
            x.clone().narrow(2, 0, r),
            x.clone().narrow(2, r, n),
            x.narrow(2, r + n, n),
        )
    }

    /// The mixer without norm and residual on a normalised sequence `[B, L, d_model]`,
    /// continuing from `state` (zero when `None`) with `reset` `[B, L]` (1 where an episode
    /// starts): its output, the scan's last state (where `keep_state`), and the convolution's
    /// inputs.
    fn mix_from(
        &self,
        h: Tensor<3>,
        state: Option<&MambaState>,
        reset: Option<Tensor<2>>,
        keep_state: bool,
    ) -> (Tensor<3>, Option<Tensor<3>>, Tensor<3>) {
        let di = self.a_log.dims()[0];
        let conv_in = token_linear_part(&self.in_proj, h.clone(), 0..di);
        let start = ConvStart {
            prev: state.map(|s| s.conv.clone()),
            reset: reset.clone(),
        };
        let x = causal_conv_silu(
            conv_in.clone(),
            self.conv_weight.val(),
            self.conv_bias.val(),
            &start,
        );
        let z = token_linear_part(&self.in_proj, h, di..2 * di);
        let (dt, b, c) = self.split_dbc(token_linear(&self.x_proj, x.clone()));
        let mut inputs = self.scan_inputs(x, token_linear(&self.dt_proj, dt), b, c);
        inputs.h0 = state.map(|s| s.ssm.clone());
        inputs.reset = reset;
        let (y, last) = if keep_state {
            let (y, last) = selective_scan_fused(&inputs);
            (y, Some(last))
        } else {
            (selective_scan_y(&inputs), None)
        };
        (token_linear(&self.out_proj, silu_gate(y, z)), last, conv_in)
    }

    /// The mixer without norm and residual, on a normalised sequence `[B, L, d_model]`.
    pub fn mix(&self, h: Tensor<3>) -> Tensor<3> {
        self.mix_from(h, None, None, false).0
    }

    fn scan_inputs(
        &self,
        u: Tensor<3>,
        delta: Tensor<3>,
        b: Tensor<3>,
        c: Tensor<3>,
    ) -> ScanInputs {
        ScanInputs {
            u,
            delta,
            a: self.a_log.val().exp().neg(),
            b,
            c,
            d: self.d.val(),
            delta_bias: self.dt_bias.val(),
            h0: None,
            reset: None,
        }
    }

    /// Parallel forward over a whole sequence `[B, L, d_model]`; `bidirectional` adds the mixer
    /// run on the reversed sequence (same weights), reversed back.
    pub fn forward(&self, x: Tensor<3>, bidirectional: bool) -> Tensor<3> {
        let h = layer_norm_tokens(&self.norm, x.clone());
        let mut y = self.mix(h.clone());
        if bidirectional {
            y = y + self.mix(h.flip([1])).flip([1]);
        }
        x + y
    }

    /// Parallel forward over `[B, L, d_model]` continuing each sequence from `state` (zero when
    /// `None`), the state zeroed before every token whose `reset` `[B, L]` is 1: the output and
    /// the state after the last token. Unidirectional (memory runs forward in time).
    pub fn forward_from(
        &self,
        x: Tensor<3>,
        state: Option<&MambaState>,
        reset: Option<Tensor<2>>,
    ) -> (Tensor<3>, MambaState) {
        let [batch, len, _] = x.dims();
        let dims = self.dims();
        let device = x.device();
        let h = layer_norm_tokens(&self.norm, x.clone());
        let (y, ssm, conv_in) = self.mix_from(h, state, reset.clone(), true);
        let ssm = ssm.expect("the state is kept");
        // The convolution's next inputs: the last `history` of (previous inputs, this call's),
        // zeroed where they precede the latest reset.
        let history = conv_history(dims.d_conv);
        let prev = state.map_or_else(
            || Tensor::zeros([batch, history, dims.d_inner()], &device),
            |s| s.conv.clone(),
        );
        let all = Tensor::cat(vec![prev, conv_in], 1);
        let mut conv = all.narrow(1, len, history);
        if let Some(reset) = reset {
            let flags = reset
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 resets");
            let keep: Vec<f32> = (0..batch * history)
                .map(|i| {
                    let (b, j) = (i / history, i % history);
                    let last = (0..len).rev().find(|&t| flags[b * len + t] != 0.0);
                    // Row j holds input index len - history + j of this call.
                    let index = (len + j) as isize - history as isize;
                    f32::from(u8::from(last.is_none_or(|r| index >= r as isize)))
                })
                .collect();
            let keep = Tensor::<3>::from_data(TensorData::new(keep, [batch, history, 1]), &device);
            conv = conv * keep;
        }
        (x + y, MambaState { conv, ssm })
    }

    /// One recurrent step: `x` `[B, d_model]` -> (`y` `[B, d_model]`, next state), in plain
    /// tensor ops. Processing a sequence token by token equals [`forward_from`](Self::forward_from)
    /// (the oracle of the parity tests; resets are the caller's, by zeroing the state).
    pub fn step(&self, x: Tensor<2>, state: MambaState) -> (Tensor<2>, MambaState) {
        let [batch, dm] = x.dims();
        let di = self.a_log.dims()[0];
        let k = self.conv_weight.dims()[1];
        let xz = self.in_proj.forward(layer_norm_rows(&self.norm, x.clone()));
        let xin = xz.clone().narrow(1, 0, di);
        let z = xz.narrow(1, di, di);
        let newest = xin.reshape([batch, 1, di]);
        // The conv window, oldest first: the previous k - 1 inputs and this one.
        let window = if k > 1 {
            Tensor::cat(vec![state.conv.clone().narrow(1, 0, k - 1), newest], 1)
        } else {
            newest
        };
        let taps = self.conv_weight.val().swap_dims(0, 1).unsqueeze_dim::<3>(0);
        let xc = (window.clone() * taps).sum_dim(1).reshape([batch, di])
            + self.conv_bias.val().unsqueeze_dim::<2>(0);
        let u = silu(xc).reshape([batch, 1, di]);
        let (dt, b, c) = self.split_dbc(token_linear(&self.x_proj, u.clone()));
        let mut inputs = self.scan_inputs(u, token_linear(&self.dt_proj, dt), b, c);
        inputs.h0 = Some(state.ssm);
        let (y, ssm) = selective_scan(inputs);
        let y = y.reshape([batch, di]) * silu(z);
        let conv = if k > 1 {
            window.narrow(1, 1, k - 1)
        } else {
            state.conv
        };
        (
            x + self.out_proj.forward(y).reshape([batch, dm]),
            MambaState { conv, ssm },
        )
    }
}
