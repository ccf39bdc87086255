//! `runner bench scan`: the fused selective-scan operation (what the Mamba block runs: the CPU
//! kernels on CPU backends, the CubeCL kernels on CUDA) against the tensor-op reference scan on the
//! same device, forward and forward + backward through autodiff, with the bandwidth the fused path
//! achieves (bytes of inputs read once and outputs written once, see
//! [`crate::kernels::selective_scan::forward_bytes`]).
//!
//! Each timing ends by reading one scalar back, which waits for the device's queue.

use crate::bench::table::{Align, Table, num};
use burn::prelude::*;

use super::nets::mean_ms;
use crate::kernels::selective_scan::{ScanDims, achieved_gbps, backward_bytes, forward_bytes};
use crate::nn::scan_reference::selective_scan;
use crate::ops::scan::ScanInputs;
use crate::ops::scan::selective_scan_fused;

/// Sizes and limits of one `runner bench scan`.
#[derive(Debug, Clone)]
pub struct ScanBenchOptions {
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Sequence lengths.
    pub lens: Vec<usize>,
    /// Channels (`d_inner`).
    pub channels: usize,
    /// State size (`d_state`).
    pub state: usize,
    /// Timed repetitions per cell (after one warm-up).
    pub repeats: usize,
    /// The reference is skipped where its autodiff graph would hold more than this many bytes.
    pub reference_limit_bytes: usize,
}

/// One shape's timings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanBenchRow {
    /// The shape.
    pub dims: ScanDims,
    /// Fused forward, ms.
    pub fused_fwd_ms: f64,
    /// Fused forward + backward, ms.
    pub fused_fwd_bwd_ms: f64,
    /// Reference forward and forward + backward, ms (`None`: skipped, too large).
    pub reference_ms: Option<(f64, f64)>,
}

impl ScanBenchRow {
    /// Achieved bandwidth of the fused forward, GB/s.
    pub fn fwd_gbps(&self) -> f64 {
        achieved_gbps(forward_bytes(&self.dims), self.fused_fwd_ms)
    }

    /// Achieved bandwidth of the fused forward + backward, GB/s.
    pub fn fwd_bwd_gbps(&self) -> f64 {
        let bytes = forward_bytes(&self.dims) + backward_bytes(&self.dims);
        achieved_gbps(bytes, self.fused_fwd_bwd_ms)
    }
}

/// Bytes the reference keeps in its autodiff graph, roughly: six `[B, C, N]` tensors per step.
fn reference_graph_bytes(d: &ScanDims) -> usize {
    6 * d.batch * d.len * d.channels * d.state * size_of::<f32>()
}

/// Forward of `scan`, waiting for the result.
fn forward(scan: &dyn Fn(ScanInputs) -> (Tensor<3>, Tensor<3>), x: &ScanInputs) {
    let (y, _) = scan(x.clone());
    let _ = y.sum().into_scalar::<f32>();
}

/// Forward + backward of `scan` (loss = sum of `y` and of the last state), waiting for `du`.
fn forward_backward(scan: &dyn Fn(ScanInputs) -> (Tensor<3>, Tensor<3>), x: &ScanInputs) {
    let (y, last) = scan(x.clone());
    let grads = (y.sum() + last.sum()).backward();
    if let Some(du) = x.u.grad(&grads) {
        let _ = du.sum().into_scalar::<f32>();
    }
}

/// Times every `(batch, len)` of `opts` on `device` (its autodiff form is used for the backward).
pub fn run(device: &Device, opts: &ScanBenchOptions) -> Vec<ScanBenchRow> {
    let fused = |x: ScanInputs| selective_scan_fused(&x);
    let reference = |x: ScanInputs| selective_scan(x);
    let ad = device.clone().autodiff();
    let mut rows = Vec::new();
    for &batch in &opts.batches {
        for &len in &opts.lens {
            let dims = ScanDims {
                batch,
                len,
                channels: opts.channels,
                state: opts.state,
            };
            let plain = ScanInputs::random(&dims, device);
            let tracked = ScanInputs::random(&dims, &ad).require_grad();
            let r = opts.repeats;
            let fused_fwd_ms = mean_ms(r, || forward(&fused, &plain));
            let fused_fwd_bwd_ms = mean_ms(r, || forward_backward(&fused, &tracked));
            let reference_ms =
                (reference_graph_bytes(&dims) <= opts.reference_limit_bytes).then(|| {
                    (
                        mean_ms(r, || forward(&reference, &plain)),
                        mean_ms(r, || forward_backward(&reference, &tracked)),
                    )
                });
            rows.push(ScanBenchRow {
                dims,
                fused_fwd_ms,
                fused_fwd_bwd_ms,
                reference_ms,
            });
        }
    }
    rows
}

/// The rows as a table (times in ms).
pub fn table(rows: &[ScanBenchRow]) -> Table {
    let mut t = Table::new(&[
        ("batch", Align::Right),
        ("len", Align::Right),
        ("d_inner", Align::Right),
        ("d_state", Align::Right),
        ("fused fwd", Align::Right),
        ("reference fwd", Align::Right),
        ("fused fwd+bwd", Align::Right),
        ("reference fwd+bwd", Align::Right),
        ("fwd GB/s", Align::Right),
        ("fwd+bwd GB/s", Align::Right),
    ]);
    for r in rows {
        let (rf, rb) = r
            .reference_ms
            .map_or(("skipped".into(), "skipped".into()), |(f, b)| {
                (num(f, 3), num(b, 3))
            });
        t.push(vec![
            r.dims.batch.to_string(),
            r.dims.len.to_string(),
            r.dims.channels.to_string(),
            r.dims.state.to_string(),
            num(r.fused_fwd_ms, 3),
            rf,
            num(r.fused_fwd_bwd_ms, 3),
            rb,
            num(r.fwd_gbps(), 1),
            num(r.fwd_bwd_gbps(), 1),
        ]);
    }
    t.note(
        "Times in ms; GB/s counts inputs read once and outputs written once; `skipped`: the \
         reference's autodiff graph would exceed the memory limit.",
    )
}
