//! Network modules and the burn operations they call: shapes, gradients, parity with references.

mod acting;
mod bench;
mod gaussian;
mod mamba_step;
mod memory;
mod ops_conv;
mod ops_layer_norm;
mod ops_linear;
mod ops_mamba_pointwise;
mod ops_pool;
mod ops_scan;
mod params;
mod registry;
mod scan_gradient;
mod shapes;
mod transformer;

use locomamba::nn::ObsShape;

/// Observations of 84 proprioceptive values, 4 depth frames of 64 x 64 and 19 privileged values,
/// with 12 actions: the shape most tests here build networks for.
pub(crate) const SHAPE: ObsShape = ObsShape {
    proprio_dim: 84,
    depth_frames: 4,
    depth_height: 64,
    depth_width: 64,
    action_dim: 12,
    privileged_dim: 19,
};
