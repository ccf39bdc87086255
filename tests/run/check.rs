//! `runner check`: reports the build, runs the Mamba forward check on every CPU backend, never
//! fails for a missing GPU, and `--require-gpu` fails without one.

use std::process::Command;

use locomamba::check;

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .output()
        .expect("runner starts")
}

#[test]
fn forward_check_passes_on_both_cpu_backends() {
    let report = check::run();
    let names: Vec<_> = report.forward.iter().map(|c| c.backend).collect();
    assert!(
        names.contains(&"flex") && names.contains(&"ndarray"),
        "{names:?}"
    );
    for c in &report.forward {
        assert!(c.passed(), "{}: {:?}", c.backend, c.max_abs_diff);
    }
}

#[test]
fn check_reports_and_succeeds_without_a_gpu() {
    let out = runner(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(concat!("locomamba ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("cuda: "), "{text}");
    assert!(text.contains("wgpu: "), "{text}");
    assert!(text.contains("mamba forward on flex"), "{text}");
    assert!(text.contains("mamba forward on ndarray"), "{text}");
}

#[test]
fn require_gpu_fails_plainly_when_no_device_can_be_used() {
    if check::run().gpu_usable() {
        eprintln!("skipped: a GPU is usable here");
        return;
    }
    for flag in ["--require-gpu", "--require-cuda"] {
        let out = runner(&["check", flag]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--require-gpu: no usable GPU (cuda: "),
            "{err}"
        );
    }
}
