//! Recurrent step mode equals the parallel forward (max abs diff <= 1e-5 in f32) for several
//! d_state, d_conv and expand.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::mamba::MambaBlockConfig;

fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn step_by_step_equals_parallel_forward() {
    let device = cpu_device();
    let (batch, len, d_model) = (3, 9, 12);
    for (d_state, d_conv, expand) in [(1, 1, 1), (4, 2, 2), (16, 4, 2), (8, 3, 3)] {
        let dims = MambaBlockConfig {
            d_model,
            d_state,
            d_conv,
            expand,
        };
        let block = dims.init(&device);
        let x = Tensor::<3>::random(
            [batch, len, d_model],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let parallel = block.forward(x.clone(), false);
        let mut state = block.zero_state(batch, &device);
        let mut outs = Vec::new();
        for t in 0..len {
            let xt = x.clone().narrow(1, t, 1).reshape([batch, d_model]);
            let (y, next) = block.step(xt, state);
            state = next;
            outs.push(y.unsqueeze_dim::<3>(1));
        }
        let stepped = Tensor::cat(outs, 1);
        let diff = max_abs_diff(parallel, stepped);
        assert!(diff <= 1e-5, "{dims:?}: max abs diff {diff}");
    }
}

#[test]
fn bidirectional_differs_from_forward_only_and_keeps_shape() {
    let device = cpu_device();
    let dims = MambaBlockConfig {
        d_model: 8,
        d_state: 4,
        d_conv: 3,
        expand: 2,
    };
    let block = dims.init(&device);
    let x = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
    let uni = block.forward(x.clone(), false);
    let bi = block.forward(x, true);
    assert_eq!(bi.dims(), [2, 5, 8]);
    assert!(max_abs_diff(uni, bi) > 1e-4);
}

#[test]
fn mamba_is_causal() {
    // Changing the last token must leave earlier outputs unchanged.
    let device = cpu_device();
    let block = MambaBlockConfig::new(8)
        .with_d_state(4)
        .with_d_conv(4)
        .with_expand(2)
        .init(&device);
    let x = Tensor::<3>::random([1, 6, 8], Distribution::Normal(0.0, 1.0), &device);
    let mut x2 = x.clone();
    x2 = x2.slice_assign([0..1, 5..6, 0..8], Tensor::ones([1, 1, 8], &device) * 3.0);
    let a = block.forward(x, false).narrow(1, 0, 5);
    let b = block.forward(x2, false).narrow(1, 0, 5);
    assert!(max_abs_diff(a, b) == 0.0);
}

#[test]
fn a_whole_stack_steps_like_its_parallel_forward() {
    use locomamba::nn::fusion::Fusion;
    use locomamba::nn::registry::build_fusion;
    use locomamba::recipe::{MambaLayer, SequenceConfig};
    let device = cpu_device();
    let (batch, len, width) = (2, 7, 16);
    let seq = SequenceConfig::Mamba {
        layers: vec![
            MambaLayer {
                d_model: Some(width),
                d_state: 8,
                d_conv: 4,
                expand: 2,
            };
            3
        ],
        bidirectional: false,
    };
    let fusion = build_fusion(&seq, width, 17, &device).unwrap();
    let Fusion::Mamba(stack) = &fusion else {
        panic!("a Mamba sequence builds a Mamba stack");
    };
    let x = Tensor::<3>::random([batch, len, width], Distribution::Normal(0.0, 1.0), &device);
    let parallel = fusion.forward(x.clone());
    let mut states = stack.zero_state(batch, &device);
    let mut outs = Vec::new();
    for t in 0..len {
        let (y, next) = stack.step(x.clone().narrow(1, t, 1).reshape([batch, width]), states);
        states = next;
        outs.push(y.unsqueeze_dim::<3>(1));
    }
    let diff = max_abs_diff(parallel, Tensor::cat(outs, 1));
    assert!(diff <= 1e-5, "max abs diff {diff}");
}
