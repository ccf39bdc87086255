//! `runner check`: what this build can do on this machine (the successor of the Python project's
//! requirements check). It never fails for a missing GPU (unless asked to); it says so. On every backend that can
//! run, it checks a tiny Mamba block: the parallel forward (the fused selective-scan operation)
//! against a token-by-token recurrence (the tensor-op reference scan).

use std::fmt;

use burn::prelude::*;
use burn::tensor::Distribution;

use crate::device::Gpu;
use crate::nn::mamba::MambaBlockConfig;

/// Largest |parallel - step| accepted by the forward check (f32).
pub const FORWARD_TOLERANCE: f32 = 1e-4;

/// The result of the tiny Mamba forward check on one backend.
#[derive(Debug, Clone)]
pub struct ForwardCheck {
    /// Backend name.
    pub backend: &'static str,
    /// Largest absolute difference between the parallel forward and the step recurrence, or why
    /// the check could not run.
    pub max_abs_diff: Result<f32, String>,
}

impl ForwardCheck {
    /// True when the check ran and agreed within [`FORWARD_TOLERANCE`].
    pub fn passed(&self) -> bool {
        matches!(self.max_abs_diff, Ok(d) if d <= FORWARD_TOLERANCE)
    }
}

/// The findings of `runner check`.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Crate version.
    pub version: &'static str,
    /// Backends compiled into this binary.
    pub backends: Vec<&'static str>,
    /// Threads rayon (simulator, CPU kernels) will use.
    pub cpu_threads: usize,
    /// Each GPU backend (CUDA, wgpu), its status in words (for wgpu: the adapter and its plane
    /// size), and whether a device can be used.
    pub gpus: Vec<(Gpu, String, bool)>,
    /// The Mamba forward check on every backend that can run.
    pub forward: Vec<ForwardCheck>,
}

impl CheckReport {
    /// True when some GPU backend is compiled in and a device answered.
    pub fn gpu_usable(&self) -> bool {
        self.gpus.iter().any(|(_, _, ok)| *ok)
    }

    /// The GPU backends' statuses, one per line.
    pub fn gpu_statuses(&self) -> String {
        self.gpus
            .iter()
            .map(|(gpu, status, _)| format!("{}: {status}", gpu.name()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// True when every forward check that ran passed.
    pub fn forward_ok(&self) -> bool {
        self.forward.iter().all(ForwardCheck::passed)
    }
}

/// Runs the checks.
pub fn run() -> CheckReport {
    let mut backends = vec!["cpu (flex, ndarray)"];
    #[allow(deprecated)]
    let mut devices = vec![("flex", Device::flex()), ("ndarray", Device::ndarray())];
    let mut gpus = Vec::new();
    for gpu in Gpu::ALL {
        if gpu.compiled() {
            backends.push(gpu.name());
        }
        let (status, ok) = gpu.status();
        if ok {
            devices.extend(gpu.device().map(|d| (gpu.name(), d)));
        }
        gpus.push((gpu, status, ok));
    }
    let forward = devices
        .into_iter()
        .map(|(backend, device)| ForwardCheck {
            backend,
            max_abs_diff: mamba_forward_parity(&device),
        })
        .collect();
    CheckReport {
        version: env!("CARGO_PKG_VERSION"),
        backends,
        cpu_threads: rayon::current_num_threads(),
        gpus,
        forward,
    }
}

/// Runs a tiny Mamba block on `device` both ways (parallel forward, token by token) and returns
/// the largest absolute difference. A panic inside the backend is reported as an error.
pub fn mamba_forward_parity(device: &Device) -> Result<f32, String> {
    let device = device.clone();
    let run = move || {
        device.seed(7);
        let dims = MambaBlockConfig {
            d_model: 8,
            d_state: 4,
            d_conv: 3,
            expand: 2,
        };
        let (batch, len) = (2, 6);
        let block = dims.init(&device);
        let x = Tensor::<3>::random(
            [batch, len, dims.d_model],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let parallel = block.forward(x.clone(), false);
        let mut state = block.zero_state(batch, &device);
        let mut steps = Vec::with_capacity(len);
        for t in 0..len {
            let xt = x.clone().narrow(1, t, 1).reshape([batch, dims.d_model]);
            let (yt, next) = block.step(xt, state);
            state = next;
            steps.push(yt.reshape([batch, 1, dims.d_model]));
        }
        let stepped = Tensor::cat(steps, 1);
        (parallel - stepped).abs().max().into_scalar::<f32>()
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked".into())
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "locomamba {}", self.version)?;
        writeln!(f, "backends compiled: {}", self.backends.join(", "))?;
        writeln!(f, "cpu threads: {}", self.cpu_threads)?;
        for (gpu, status, _) in &self.gpus {
            writeln!(f, "{}: {status}", gpu.name())?;
        }
        for c in &self.forward {
            match &c.max_abs_diff {
                Ok(d) => writeln!(
                    f,
                    "mamba forward on {}: fused scan vs step recurrence, max |diff| {d:.2e} ({})",
                    c.backend,
                    if c.passed() { "ok" } else { "FAILED" }
                )?,
                Err(e) => writeln!(f, "mamba forward on {}: FAILED to run: {e}", c.backend)?,
            }
        }
        Ok(())
    }
}
