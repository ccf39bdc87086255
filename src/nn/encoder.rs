//! Encoders: proprioception MLP -> one state token, Nature CNN on stacked depth frames -> one
//! visual token per grid cell, optional learned positional embedding.

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::init::{ortho_conv, ortho_linear};
use crate::ops::conv::{InputLayout, conv2d_relu};
use crate::recipe::{EncoderConfig, EncoderKind};

/// Observation sizes the networks are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObsShape {
    /// Length of the proprioceptive vector.
    pub proprio_dim: usize,
    /// Stacked depth frames (input channels of the CNN).
    pub depth_frames: usize,
    /// Depth image height in pixels.
    pub depth_height: usize,
    /// Depth image width in pixels.
    pub depth_width: usize,
    /// Action dimension of the policy.
    pub action_dim: usize,
    /// Floats of privileged simulator state available to the critic; the value branch takes
    /// them only when the recipe asks for an asymmetric critic (`ppo.asymmetric_critic`).
    pub privileged_dim: usize,
}

/// Output side of a valid (unpadded) convolution, `None` when the kernel does not fit.
fn conv_out(size: usize, kernel: usize, stride: usize) -> Option<usize> {
    (size >= kernel).then(|| (size - kernel) / stride + 1)
}

/// The CNN grid (rows, cols) for a depth image, `None` when the image is too small.
pub fn cnn_grid(height: usize, width: usize) -> Option<(usize, usize)> {
    let side = |s| {
        conv_out(s, 8, 4)
            .and_then(|s| conv_out(s, 4, 2))
            .and_then(|s| conv_out(s, 3, 1))
    };
    Some((side(height)?, side(width)?))
}

/// Number of tokens the encoder emits: the grid cells plus one state token for `Loco`; just the
/// state token without depth (`shape.depth_frames == 0`, the state-only model).
pub fn token_count(kind: EncoderKind, shape: &ObsShape) -> Option<usize> {
    let state = usize::from(kind == EncoderKind::Loco);
    if shape.depth_frames == 0 {
        return (state == 1).then_some(1);
    }
    let (h, w) = cnn_grid(shape.depth_height, shape.depth_width)?;
    Some(h * w + state)
}

/// Proprioception + depth encoder producing `[B, tokens, visual_dim]`.
#[derive(Module, Debug)]
pub struct Encoder {
    /// Hidden layers of the proprioception MLP (ReLU after each); empty for vision-only.
    pub state_mlp: Vec<Linear>,
    /// Linear + ReLU from the MLP output to the state token; `None` for vision-only.
    pub state_token: Option<Linear>,
    /// Nature CNN convolutions 8x8/4 (32), 4x4/2 (64), 3x3/1 (64), ReLU after each; empty
    /// without depth.
    pub convs: Vec<Conv2d>,
    /// 1x1 convolution projecting each grid cell to a `visual_dim` token; `None` without depth.
    pub projection: Option<Conv2d>,
    /// Learned positional embedding `[tokens, visual_dim]`, when enabled.
    pub positional: Option<Param<Tensor<2>>>,
}

impl Encoder {
    /// Builds the encoder described by `cfg` for observations of `shape`.
    pub fn new(cfg: &EncoderConfig, shape: &ObsShape, device: &Device) -> Self {
        let gain = std::f64::consts::SQRT_2;
        let (state_mlp, state_token) = match cfg.kind {
            EncoderKind::Loco => {
                let mut layers = Vec::new();
                let mut width = shape.proprio_dim;
                for &h in &cfg.hidden_shapes {
                    layers.push(ortho_linear(width, h, gain, device));
                    width = h;
                }
                let token = ortho_linear(width, cfg.visual_dim, gain, device);
                (layers, Some(token))
            }
            EncoderKind::VisionOnly => (Vec::new(), None),
        };
        let specs = [
            (shape.depth_frames, 32, 8, 4),
            (32, 64, 4, 2),
            (64, 64, 3, 1),
        ];
        let with_depth = shape.depth_frames > 0;
        let convs = specs
            .iter()
            .filter(|_| with_depth)
            .map(|&(i, o, k, s)| ortho_conv([i, o], k, s, gain, device))
            .collect();
        let projection = with_depth.then(|| ortho_conv([64, cfg.visual_dim], 1, 1, gain, device));
        let positional = cfg.positional_embedding.then(|| {
            let tokens = token_count(cfg.kind, shape).unwrap_or(1);
            Param::from_tensor(Tensor::random(
                [tokens, cfg.visual_dim],
                burn::tensor::Distribution::Normal(0.0, 0.02),
                device,
            ))
        });
        Self {
            state_mlp,
            state_token,
            convs,
            projection,
            positional,
        }
    }

    /// Width of the tokens it emits.
    pub fn width(&self) -> usize {
        match (&self.state_token, &self.projection) {
            (Some(token), _) => token.weight.dims()[1],
            (None, Some(projection)) => projection.weight.dims()[0],
            (None, None) => unreachable!("an encoder has a state token, depth, or both"),
        }
    }

    /// Whether the first output token is the proprioceptive state token.
    pub fn has_state_token(&self) -> bool {
        self.state_token.is_some()
    }

    /// proprio `[B, P]` (ignored for vision-only), depth `[B, frames, H, W]` (ignored without
    /// depth) -> tokens `[B, T, visual_dim]`, state token first, then the grid in raster order.
    pub fn forward(&self, proprio: Tensor<2>, depth: Tensor<4>) -> Tensor<3> {
        let visual = self.projection.as_ref().map(|projection| {
            // The first layer reads the NCHW depth stack; every layer writes NHWC, so the
            // projection's output rows are the tokens in raster order.
            let mut x = depth;
            let mut layout = InputLayout::Nchw;
            for conv in &self.convs {
                x = conv2d_relu(conv, x, layout);
                layout = InputLayout::Nhwc;
            }
            let x = conv2d_relu(projection, x, layout);
            let [b, h, w, d] = x.dims();
            x.reshape([b, h * w, d])
        });
        let state = self.state_token.as_ref().map(|token| {
            let mut s = proprio;
            for layer in &self.state_mlp {
                s = relu(layer.forward(s));
            }
            relu(token.forward(s)).unsqueeze_dim::<3>(1)
        });
        let tokens = match (state, visual) {
            (Some(s), Some(v)) => Tensor::cat(vec![s, v], 1),
            (Some(s), None) => s,
            (None, Some(v)) => v,
            (None, None) => unreachable!("an encoder has a state token, depth, or both"),
        };
        match &self.positional {
            Some(p) => tokens + p.val().unsqueeze_dim::<3>(0),
            None => tokens,
        }
    }
}
