//! `runner export`: writes the ONNX policy and, with `--check`, compares it in onnxruntime with
//! this crate's own outputs.

use std::path::Path;

use anyhow::{Context, Result, bail};
use locomamba::run::export::{self, PolicySource, check};

/// Exports the policy of `checkpoint` into `output` (default `<run>/exported/`); `check` is
/// `(control steps, python interpreter)` of the parity check.
pub fn export(
    checkpoint: &Path,
    output: Option<&Path>,
    check: Option<(usize, &str)>,
) -> Result<()> {
    let src = PolicySource::load(checkpoint)
        .with_context(|| format!("loading {}", checkpoint.display()))?;
    let dir = output.map_or_else(|| export::default_dir(checkpoint), Path::to_path_buf);
    let written = export::export(&src, &dir)?;
    println!(
        "exported the {} policy (update {}, {} env steps) to {}: {} ({} nodes, {:.1} MB), {}, {}, {}",
        src.recipe.sequence.model().name(),
        src.update,
        src.env_steps,
        dir.display(),
        export::ONNX_FILE,
        written.nodes,
        written.bytes as f64 / 1e6,
        export::SIDECAR_FILE,
        export::WEIGHTS_FILE,
        export::RECIPE_FILE,
    );
    let Some((steps, python)) = check else {
        return Ok(());
    };
    let report = check::run(&src, &dir, steps, python)?;
    for (name, err) in &report.max_abs_error {
        println!("check: {name}: max |onnxruntime - locomamba| = {err:.3e}");
    }
    for line in &report.mismatches {
        println!("check: mismatch: {line}");
    }
    if !report.passed {
        bail!(
            "the exported model differs from this crate's outputs beyond atol {} + rtol {} x the \
             output's largest magnitude, over {} steps",
            check::ATOL,
            check::RTOL,
            report.steps
        );
    }
    println!(
        "check: passed over {} control steps of {} envs (atol {} + rtol {} x the output's largest \
         magnitude; onnx.checker full_check)",
        report.steps,
        check::BATCH,
        check::ATOL,
        check::RTOL
    );
    Ok(())
}
