//! Memory across control steps (`Fusion::forward_memory`): one pass over a segment of steps with
//! episode starts inside equals stepping through it one control step at a time (outputs and
//! final memory), for Mamba and for the windowed Transformer; Mamba's pass also equals its
//! token-by-token recurrence in plain tensor ops; an episode start makes everything after it
//! independent of everything before it; and without context the memory changes nothing.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::Memory;
use locomamba::nn::fusion::Fusion;
use locomamba::nn::mamba::MambaState;
use locomamba::nn::registry::build_fusion;
use locomamba::recipe::{MambaLayer, SequenceConfig, TransformerLayer};

const WIDTH: usize = 8;
const TOKENS: usize = 5;

fn mamba() -> SequenceConfig {
    SequenceConfig::Mamba {
        layers: vec![
            MambaLayer {
                d_model: Some(WIDTH),
                d_state: 4,
                d_conv: 4,
                expand: 2,
            };
            2
        ],
        bidirectional: false,
    }
}

fn transformer() -> SequenceConfig {
    SequenceConfig::Transformer {
        layers: vec![
            TransformerLayer {
                n_heads: 2,
                dim_feedforward: 16,
            };
            2
        ],
    }
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// A memory with random state (and, for a Transformer, some context steps not of the episode).
fn random_memory(fusion: &Fusion, batch: usize, context: usize, device: &Device) -> Memory {
    let mut m = fusion
        .zero_memory(batch, TOKENS, WIDTH, context)
        .expect("a stack with memory");
    let flags = matches!(fusion, Fusion::Transformer(_)).then(|| m.buffers.len() - 1);
    for (i, b) in m.buffers.iter_mut().enumerate() {
        if Some(i) == flags {
            for (k, v) in b.values.iter_mut().enumerate() {
                *v = f32::from(u8::from(k % 3 != 0));
            }
        } else {
            b.values = values(normal([b.values.len()], device));
        }
    }
    m
}

/// Runs `x` `[batch * steps, T, D]` one control step at a time: before a step that starts an
/// episode the sequence's memory row is zeroed, as the vectorised env does on `done`.
fn stepwise(
    fusion: &Fusion,
    x: &Tensor<3>,
    memory: &Memory,
    starts: &[bool],
    (batch, steps): (usize, usize),
) -> (Vec<f32>, Memory) {
    let mut m = memory.clone();
    let mut outs = vec![Vec::new(); batch];
    for s in 0..steps {
        let rows: Vec<bool> = (0..batch).map(|b| starts[b * steps + s]).collect();
        m.reset_rows(&rows);
        let idx: Vec<i64> = (0..batch).map(|b| (b * steps + s) as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(idx, [batch]), &x.device());
        let xs = x.clone().select(0, index);
        let (y, next) = fusion.forward_memory(xs, &m, &vec![false; batch], 1);
        m = next;
        for (b, chunk) in values(y).chunks(TOKENS * WIDTH).enumerate() {
            outs[b].push(chunk.to_vec());
        }
    }
    (outs.into_iter().flatten().flatten().collect(), m)
}

/// Episode starts for 3 sequences of 7 steps: sequence 0 none, sequence 1 at steps 2 and 5,
/// sequence 2 at step 0.
fn starts() -> Vec<bool> {
    let mut s = vec![false; 21];
    s[7 + 2] = true;
    s[7 + 5] = true;
    s[14] = true;
    s
}

#[test]
fn one_pass_over_a_segment_equals_stepping_through_it() {
    let device = cpu_device();
    let (batch, steps) = (3, 7);
    for (name, seq, context) in [
        ("mamba", mamba(), 1),
        ("transformer, 3 steps of context", transformer(), 3),
        ("transformer, 1 step", transformer(), 1),
        ("transformer, 9 steps", transformer(), 9),
    ] {
        let fusion = build_fusion(&seq, WIDTH, TOKENS, &device).unwrap();
        let memory = random_memory(&fusion, batch, context, &device);
        let x = normal([batch * steps, TOKENS, WIDTH], &device);
        let starts = starts();
        let (y, last) = fusion.forward_memory(x.clone(), &memory, &starts, steps);
        let (want, want_last) = stepwise(&fusion, &x, &memory, &starts, (batch, steps));
        let d = max_abs_diff(&values(y), &want);
        assert!(d <= 1e-4, "{name}: outputs differ by {d}");
        for (i, (a, b)) in last.buffers.iter().zip(&want_last.buffers).enumerate() {
            let d = max_abs_diff(&a.values, &b.values);
            assert!(d <= 1e-4, "{name}: memory buffer {i} differs by {d}");
        }
    }
}

#[test]
fn mamba_memory_equals_the_token_by_token_recurrence() {
    let device = cpu_device();
    let (batch, steps) = (3, 7);
    let fusion = build_fusion(&mamba(), WIDTH, TOKENS, &device).unwrap();
    let Fusion::Mamba(stack) = &fusion else {
        unreachable!()
    };
    let memory = random_memory(&fusion, batch, 1, &device);
    let x = normal([batch * steps, TOKENS, WIDTH], &device);
    let starts = starts();
    let (y, last) = fusion.forward_memory(x.clone(), &memory, &starts, steps);
    let stream = x.reshape([batch, steps * TOKENS, WIDTH]);
    let mut states: Vec<MambaState> = (0..stack.layers.len())
        .map(|i| MambaState {
            conv: memory.tensor3(2 * i, &device),
            ssm: memory.tensor3(2 * i + 1, &device),
        })
        .collect();
    let mut outs = Vec::new();
    for t in 0..steps * TOKENS {
        if t % TOKENS == 0 {
            // Zero the rows whose step t / TOKENS starts an episode.
            let keep: Vec<f32> = (0..batch)
                .map(|b| f32::from(u8::from(!starts[b * steps + t / TOKENS])))
                .collect();
            let keep = Tensor::<3>::from_data(TensorData::new(keep, [batch, 1, 1]), &device);
            states = states
                .into_iter()
                .map(|s| MambaState {
                    conv: s.conv * keep.clone(),
                    ssm: s.ssm * keep.clone(),
                })
                .collect();
        }
        let xt = stream.clone().narrow(1, t, 1).reshape([batch, WIDTH]);
        let (yt, next) = stack.step(xt, states);
        states = next;
        outs.push(yt.unsqueeze_dim::<3>(1));
    }
    let want = Tensor::cat(outs, 1).reshape([batch * steps, TOKENS, WIDTH]);
    let d = max_abs_diff(&values(y), &values(want));
    assert!(d <= 1e-4, "outputs differ by {d}");
    for (i, s) in states.into_iter().enumerate() {
        let conv = max_abs_diff(&last.buffers[2 * i].values, &values(s.conv));
        let ssm = max_abs_diff(&last.buffers[2 * i + 1].values, &values(s.ssm));
        assert!(
            conv <= 1e-4 && ssm <= 1e-4,
            "block {i}: conv {conv}, ssm {ssm}"
        );
    }
}

#[test]
fn an_episode_start_forgets_everything_before_it() {
    let device = cpu_device();
    let (batch, steps) = (3, 7);
    for (name, seq) in [("mamba", mamba()), ("transformer", transformer())] {
        let fusion = build_fusion(&seq, WIDTH, TOKENS, &device).unwrap();
        let memory = random_memory(&fusion, batch, 4, &device);
        let x = normal([batch * steps, TOKENS, WIDTH], &device);
        let starts = starts();
        let (y, _) = fusion.forward_memory(x.clone(), &memory, &starts, steps);
        // Another memory and other tokens before sequence 1's start at step 5.
        let other_memory = random_memory(&fusion, batch, 4, &device);
        let noise = normal([batch * steps, TOKENS, WIDTH], &device);
        let before: Vec<f32> = (0..batch * steps)
            .map(|r| f32::from(u8::from((7..7 + 5).contains(&r))))
            .collect();
        let before =
            Tensor::<3>::from_data(TensorData::new(before, [batch * steps, 1, 1]), &device);
        let x2 = x + noise * before;
        let (y2, _) = fusion.forward_memory(x2, &other_memory, &starts, steps);
        let (y, y2) = (values(y), values(y2));
        let row = TOKENS * WIDTH;
        let d = max_abs_diff(&y[(7 + 5) * row..14 * row], &y2[(7 + 5) * row..14 * row]);
        assert!(d <= 1e-6, "{name}: steps after the start changed by {d}");
        // Sequence 2 starts at step 0: the other memory changes nothing there either.
        let d = max_abs_diff(&y[14 * row..], &y2[14 * row..]);
        assert!(
            d <= 1e-6,
            "{name}: a sequence starting at step 0 changed by {d}"
        );
        // And the perturbation did reach the steps before the start.
        assert!(max_abs_diff(&y[7 * row..12 * row], &y2[7 * row..12 * row]) > 1e-3);
    }
}

#[test]
fn without_context_a_step_equals_the_memoryless_forward() {
    let device = cpu_device();
    let batch = 4;
    for (name, seq, context) in [("mamba", mamba(), 1), ("transformer", transformer(), 1)] {
        let fusion = build_fusion(&seq, WIDTH, TOKENS, &device).unwrap();
        let memory = fusion.zero_memory(batch, TOKENS, WIDTH, context).unwrap();
        let x = normal([batch, TOKENS, WIDTH], &device);
        let (y, _) = fusion.forward_memory(x.clone(), &memory, &[false; 4], 1);
        let want = fusion.forward(x);
        let d = max_abs_diff(&values(y), &values(want));
        assert!(d <= 1e-5, "{name}: differs by {d}");
    }
}

#[test]
fn a_transformer_with_one_step_of_context_never_looks_back() {
    let device = cpu_device();
    let batch = 3;
    let fusion = build_fusion(&transformer(), WIDTH, TOKENS, &device).unwrap();
    let mut memory = fusion.zero_memory(batch, TOKENS, WIDTH, 1).unwrap();
    for step in 0..3 {
        let x = normal([batch, TOKENS, WIDTH], &device);
        let (y, next) = fusion.forward_memory(x.clone(), &memory, &[false; 3], 1);
        let d = max_abs_diff(&values(y), &values(fusion.forward(x)));
        assert!(
            d <= 1e-5,
            "step {step}: differs from the memoryless forward by {d}"
        );
        memory = next;
    }
}
