//! Global gradient-norm clipping (PyTorch's `clip_grad_norm_`): all gradients of the trained modules
//! are scaled by `min(1, max_norm / total_norm)`, `total_norm` taken over every parameter together.
//! (burn's own `GradientClipping::Norm` clips each parameter tensor separately.)

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.total += g.powf_scalar(2.0).sum().into_scalar::<f32>() as f64;
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// Sum of squared gradient entries over `module`'s parameters.
pub fn squared_norm<M: Module>(grads: &GradientsParams, module: &M) -> f64 {
    let mut v = SquaredNorm { grads, total: 0.0 };
    module.visit(&mut v);
    v.total
}

/// Multiplies the gradients of `module`'s parameters by `factor`.
pub fn scale<M: Module>(grads: &mut GradientsParams, module: &M, factor: f32) {
    module.visit(&mut Scale { grads, factor });
}

/// The factor that brings a global norm down to `max_norm` (1 when already below).
pub fn clip_factor(norm: f64, max_norm: f64) -> f32 {
    if norm.is_finite() && norm > max_norm {
        (max_norm / (norm + 1e-6)) as f32
    } else {
        1.0
    }
}
