//! Recipes too large for the machine (or `--max-memory`) are refused before anything is
//! allocated or written, naming the file and the keys that make them large.

#[test]
fn a_recipe_too_large_for_memory_is_refused_before_anything_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = tmp.path().join("huge.toml");
    std::fs::write(
        &huge,
        "version = 1\n[env.depth]\nwidth = 100000\nheight = 100000\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["describe", huge.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("huge.toml: key `env.depth.width` (with env.depth.height"),
        "{err}"
    );
    assert!(err.contains("the recipe needs about"), "{err}");
    // The same on a sweep, with a limit given: no run folder is created.
    let small = tmp.path().join("small.toml");
    let output_dir = tmp.path().join("runs");
    std::fs::write(
        &small,
        format!(
            "version = 1\n[experiment]\noutput_dir = \"{}\"\n",
            output_dir.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["sweep", small.to_str().unwrap(), "--max-memory", "64M"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than the 64.0 MiB --max-memory"), "{err}");
    assert!(!output_dir.exists(), "nothing written");
}
