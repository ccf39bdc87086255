//! `runner check`: what this build can do on this machine (the successor of the Python project's
//! requirements check). It never fails for a missing GPU; it says so.

use std::fmt;

/// The findings of `runner check`.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Crate version.
    pub version: &'static str,
    /// Backends compiled into this binary.
    pub backends: Vec<&'static str>,
    /// Threads rayon (simulator, CPU kernels) will use.
    pub cpu_threads: usize,
    /// CUDA status in words.
    pub cuda: String,
    /// Whether a CUDA device can be used.
    cuda_ok: bool,
}

impl CheckReport {
    /// True when the `cuda` feature is compiled in and a device answered.
    pub fn cuda_usable(&self) -> bool {
        self.cuda_ok
    }
}

/// Runs the checks.
pub fn run() -> CheckReport {
    let mut backends = vec!["cpu (flex, ndarray)"];
    if cfg!(feature = "cuda") {
        backends.push("cuda");
    }
    let (cuda, cuda_ok) = cuda_status();
    CheckReport {
        version: env!("CARGO_PKG_VERSION"),
        backends,
        cpu_threads: rayon::current_num_threads(),
        cuda,
        cuda_ok,
    }
}

#[cfg(not(feature = "cuda"))]
pub(crate) fn cuda_status() -> (String, bool) {
    (
        "not compiled in (this binary was built without `--features cuda`); the CPU backend is used"
            .into(),
        false,
    )
}

#[cfg(feature = "cuda")]
pub(crate) fn cuda_status() -> (String, bool) {
    let visible = std::path::Path::new("/dev/nvidiactl").exists();
    if visible {
        ("compiled in; an NVIDIA device node is present".into(), true)
    } else {
        (
            "compiled in, but no CUDA device is visible on this machine; the CPU backend is used"
                .into(),
            false,
        )
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "locomamba {}", self.version)?;
        writeln!(f, "backends compiled: {}", self.backends.join(", "))?;
        writeln!(f, "cpu threads: {}", self.cpu_threads)?;
        writeln!(f, "cuda: {}", self.cuda)
    }
}
