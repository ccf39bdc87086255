//! A Mamba-1 block as ONNX nodes: pre-norm, the two halves of `in_proj`, the depthwise causal
//! convolution as a grouped `Conv` (its history from the recurrent state, or zero padding), SiLU,
//! `x_proj` in its three parts, `dt_proj` + bias + `Softplus`, the selective scan unrolled over
//! the step's fixed token count in plain operators, the D skip, the SiLU(z) gate, `out_proj` and
//! the residual. Mirrors [`MambaBlock::forward`] and [`MambaBlock::forward_from`].

use super::graph::{Attr, Graph};
use super::network::{host, layer_norm};
use crate::nn::mamba::{MambaBlock, conv_history};

/// The recurrent state of one block as graph values: the convolution's last inputs
/// `[B, conv_history, d_inner]` and the SSM state `[B, d_inner, d_state]`.
#[derive(Debug, Clone)]
pub struct StateValues {
    /// Convolution history.
    pub conv: String,
    /// SSM state.
    pub ssm: String,
}

/// Columns `cols` of a `[rows, cols_total]` row-major matrix.
fn columns(values: &[f32], total: usize, cols: std::ops::Range<usize>) -> Vec<f32> {
    values
        .chunks_exact(total)
        .flat_map(|row| row[cols.clone()].iter().copied())
        .collect()
}

/// `x` `[B, L, d_in]` times columns `cols` of the weight `[d_in, total]`.
fn matmul_columns(
    g: &mut Graph,
    x: &str,
    (dims, w): (&[usize], &[f32]),
    cols: std::ops::Range<usize>,
) -> String {
    let part = columns(w, dims[1], cols.clone());
    let c = g.constant("weight", &[dims[0], cols.len()], &part);
    g.matmul(x, &c)
}

/// The mixer on a normalised sequence `h` `[B, L, d_model]` of `len` tokens, continuing from
/// `state` (zero when `None`): its output `[B, L, d_model]` and, with a state, the next state.
fn mix(
    g: &mut Graph,
    block: &MambaBlock,
    h: &str,
    len: usize,
    state: Option<&StateValues>,
) -> (String, Option<StateValues>) {
    let dims = block.dims();
    let (di, n, k) = (dims.d_inner(), dims.d_state, dims.d_conv);
    let r = block.dt_proj.weight.dims()[0];
    let (in_dims, in_w) = host(block.in_proj.weight.val());
    let xin = matmul_columns(g, h, (&in_dims, &in_w), 0..di);
    let z = matmul_columns(g, h, (&in_dims, &in_w), di..2 * di);

    // Depthwise causal convolution over time, channels first: [B, d_inner, L].
    let (_, conv_w) = host(block.conv_weight.val());
    let (_, conv_b) = host(block.conv_bias.val());
    let weight = g.constant("conv_weight", &[di, 1, k], &conv_w);
    let bias = g.constant("conv_bias", &[di], &conv_b);
    let xt = g.transpose(&xin, &[0, 2, 1]);
    let history = conv_history(k);
    let (conv, next_conv) = match state {
        None => {
            let y = g.op(
                "Conv",
                &[&xt, &weight, &bias],
                &[
                    ("kernel_shape", Attr::Ints(vec![k as i64])),
                    ("group", Attr::Int(di as i64)),
                    ("pads", Attr::Ints(vec![k as i64 - 1, 0])),
                ],
            );
            (y, None)
        }
        Some(s) => {
            let prev = g.transpose(&s.conv, &[0, 2, 1]);
            let all = g.concat(&[&prev, &xt], 2);
            let y = g.op(
                "Conv",
                &[&all, &weight, &bias],
                &[
                    ("kernel_shape", Attr::Ints(vec![k as i64])),
                    ("group", Attr::Int(di as i64)),
                ],
            );
            let out_len = (history + len + 1 - k) as i64;
            let y = if out_len == len as i64 {
                y
            } else {
                g.slice(&y, 2, out_len - len as i64, out_len)
            };
            let total = (history + len) as i64;
            let last = g.slice(&all, 2, total - history as i64, total);
            (y, Some(g.transpose(&last, &[0, 2, 1])))
        }
    };
    let conv = g.silu(&conv);
    let u = g.transpose(&conv, &[0, 2, 1]);

    let (x_dims, x_w) = host(block.x_proj.weight.val());
    let dt = matmul_columns(g, &u, (&x_dims, &x_w), 0..r);
    let b = matmul_columns(g, &u, (&x_dims, &x_w), r..r + n);
    let c = matmul_columns(g, &u, (&x_dims, &x_w), r + n..r + 2 * n);
    let (dt_dims, dt_w) = host(block.dt_proj.weight.val());
    let dt_w = g.constant("dt_proj", &dt_dims, &dt_w);
    let delta = g.matmul(&dt, &dt_w);
    let (_, dt_bias) = host(block.dt_bias.val());
    let dt_bias = g.constant("dt_bias", &[di], &dt_bias);
    let delta = g.add(&delta, &dt_bias);
    let delta = g.unary("Softplus", &delta);

    let (_, a) = host(block.a_log.val().exp().neg());
    let a = g.constant("a", &[di, n], &a);
    let (_, d) = host(block.d.val());
    let d = g.constant("d", &[di], &d);
    let (y, last) = scan(g, (&u, &delta, &b, &c), &a, len, di, state);
    let skip = g.mul(&u, &d);
    let y = g.add(&y, &skip);
    let gate = g.silu(&z);
    let y = g.mul(&y, &gate);
    let (out_dims, out_w) = host(block.out_proj.weight.val());
    let y = g.linear(&y, (&out_dims, &out_w), None);
    let next = next_conv.map(|conv| StateValues { conv, ssm: last });
    (y, next)
}

/// The selective scan unrolled over `len` tokens: `u`, `delta` `[B, L, C]`, `b`, `c` `[B, L, N]`,
/// `a` `[C, N]`, from `state` (zero when `None`) -> (`y` `[B, L, C]` without the D skip, the
/// last state `[B, C, N]`).
fn scan(
    g: &mut Graph,
    (u, delta, b, c): (&str, &str, &str, &str),
    a: &str,
    len: usize,
    channels: usize,
    state: Option<&StateValues>,
) -> (String, String) {
    let per_token = |g: &mut Graph, x: &str, width: usize| -> Vec<String> {
        if len == 1 {
            vec![x.to_string()]
        } else {
            g.split(x, 1, len, 1)
        }
        .into_iter()
        .map(|t| g.reshape(&t, &[0, width as i64, 1]))
        .collect()
    };
    let us = per_token(g, u, channels);
    let deltas = per_token(g, delta, channels);
    // b_t and c_t as [B, 1, N] rows.
    let rows = |g: &mut Graph, x: &str| -> Vec<String> {
        if len == 1 {
            vec![x.to_string()]
        } else {
            g.split(x, 1, len, 1)
        }
    };
    let bs = rows(g, b);
    let cs = rows(g, c);
    let mut h = state.map(|s| s.ssm.clone());
    let mut ys = Vec::with_capacity(len);
    for t in 0..len {
        let du = g.mul(&deltas[t], &us[t]);
        let input = g.mul(&du, &bs[t]);
        h = Some(match h {
            None => input,
            Some(prev) => {
                let da = g.mul(&deltas[t], a);
                let decay = g.unary("Exp", &da);
                let kept = g.mul(&decay, &prev);
                g.add(&kept, &input)
            }
        });
        let hc = g.mul(h.as_ref().expect("set above"), &cs[t]);
        ys.push(g.reduce_sum(&hc, &[2], false));
    }
    let ys: Vec<String> = ys.iter().map(|y| g.unsqueeze(y, &[1])).collect();
    let refs: Vec<&str> = ys.iter().map(String::as_str).collect();
    let y = if len == 1 {
        ys[0].clone()
    } else {
        g.concat(&refs, 1)
    };
    (y, h.expect("at least one token"))
}

/// One block over a whole step's tokens `x` `[B, L, d_model]` without memory; `bidirectional`
/// adds the mixer on the reversed tokens, reversed back.
pub fn block(
    g: &mut Graph,
    block: &MambaBlock,
    x: &str,
    len: usize,
    bidirectional: bool,
) -> String {
    let h = layer_norm(g, x, &block.norm);
    let (mut y, _) = mix(g, block, &h, len, None);
    if bidirectional {
        let reversed: Vec<i64> = (0..len as i64).rev().collect();
        let hr = g.gather(&h, 1, &reversed);
        let (yr, _) = mix(g, block, &hr, len, None);
        let yr = g.gather(&yr, 1, &reversed);
        y = g.add(&y, &yr);
    }
    g.add(x, &y)
}

/// One block over a step's tokens continuing from `state`: the output and the next state.
pub fn block_from(
    g: &mut Graph,
    block: &MambaBlock,
    x: &str,
    len: usize,
    state: &StateValues,
) -> (String, StateValues) {
    let h = layer_norm(g, x, &block.norm);
    let (y, next) = mix(g, block, &h, len, Some(state));
    (g.add(x, &y), next.expect("a state in, a state out"))
}
