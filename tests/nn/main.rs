//! Network modules and the burn operations they call: shapes, gradients, parity with references.

mod bench;
mod gaussian;
mod mamba_step;
mod memory;
mod ops_conv;
mod ops_layer_norm;
mod ops_linear;
mod ops_mamba_pointwise;
mod ops_scan;
mod params;
mod registry;
mod scan_gradient;
mod shapes;
mod transformer;
