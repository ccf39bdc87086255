//! `runner report`: the statistics report of an experiment folder, on a partial sweep (one run
//! without data yet), and a clear error for a folder without runs.

use std::path::Path;
use std::process::Command;

fn write_run(exp: &Path, variant: &str, seed: u64, distances: &[f64]) {
    let dir = exp.join(variant).join(format!("seed-{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from(
        "update,env_steps,perf/wall_time_s,train/distance,eval/distance,eval/episode_return,eval/collisions,eval/fall_rate\n",
    );
    for (i, d) in distances.iter().enumerate() {
        let steps = 1000 * (i + 1);
        let wall = 3.0 * (i + 1) as f64;
        csv += &format!(
            "{},{steps},{wall},{},{d},{},0,0\n",
            i + 1,
            d - 1.0,
            10.0 * d
        );
    }
    std::fs::write(dir.join("metrics.csv"), csv).unwrap();
}

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(args)
        .output()
        .expect("run runner")
}

#[test]
fn a_partial_sweep_gets_a_report_with_iqms_and_the_probability_of_improvement() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    write_run(&exp, "mamba", 0, &[1.0, 4.0]);
    write_run(&exp, "mamba", 1, &[2.0, 6.0, 8.0]);
    write_run(&exp, "transformer", 0, &[0.5, 2.0]);
    std::fs::create_dir_all(exp.join("transformer/seed-1")).unwrap();
    let out = runner(&["report", exp.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(exp.join("report.md")).expect("report.md written");
    assert_eq!(
        md,
        String::from_utf8_lossy(&out.stdout),
        "printed as written"
    );
    assert!(md.contains("No data yet: transformer/seed-1."), "{md}");
    // At the end: mamba's final distances 4 and 8 (IQM of two values = their mean, 6).
    assert!(md.contains("| mamba | 2 | 2500 | 6.00 ["), "{md}");
    // At equal env steps (2000, the most every run has reached): 4 and 6 -> 5.
    assert!(md.contains("## At equal env steps (2000"), "{md}");
    assert!(md.contains("| mamba | 2 | 2000 | 5.00 ["), "{md}");
    for stem in ["learning_curves_env_steps", "learning_curves_wall_time"] {
        assert!(md.contains(&format!("]({stem}.png)")), "{md}");
    }
    // Both of mamba's runs beat transformer's only run: P = 1 with no spread.
    assert!(md.contains("| mamba | - | 1.00 [1.00, 1.00] |"), "{md}");
    assert!(
        md.contains("| transformer | 0.00 [0.00, 0.00] | - |"),
        "{md}"
    );
}

/// Decodes a PNG, returning its width and height and how many distinct colours it has.
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    let colours: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()]
        .chunks(info.color_type.samples())
        .collect();
    (info.width, info.height, colours.len())
}

#[test]
fn the_learning_curves_are_a_png_that_decodes_and_an_svg_that_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    write_run(&exp, "mamba", 0, &[1.0, 4.0, 5.0]);
    write_run(&exp, "transformer", 0, &[0.5, 2.0, 2.5]);
    let out_dir = tmp.path().join("out");
    let out = runner(&[
        "report",
        exp.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (width, height, colours) = decode_png(&out_dir.join("learning_curves_env_steps.png"));
    assert_eq!((width, height), (1200, 800));
    assert!(
        colours > 10,
        "a drawn figure, not a blank image: {colours} colours"
    );
    let svg = std::fs::read_to_string(out_dir.join("learning_curves_env_steps.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    for label in ["mamba", "transformer", "distance (m)", "env steps"] {
        assert!(
            texts.iter().any(|t| t.trim() == label),
            "{label} in {texts:?}"
        );
    }
    assert!(
        !exp.join("report.md").exists(),
        "-o puts the report elsewhere"
    );
}

#[test]
fn a_folder_without_runs_is_refused_with_the_layout_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let out = runner(&["report", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no runs (expected <variant>/seed-<n>/metrics.csv"),
        "{err}"
    );
}

fn write_eval(exp: &Path, run: &str, name: &str, episodes: u64, distance: f64, collisions: f64) {
    let dir = exp.join(run).join("eval");
    std::fs::create_dir_all(&dir).unwrap();
    let json = serde_json::json!({
        "task": "x", "episodes": episodes, "mean_distance": distance, "mean_collisions": collisions,
        "fall_rate": 0.0, "mean_return": 2.0 * distance, "std_distance": 1.0,
    });
    std::fs::write(dir.join(name), json.to_string()).unwrap();
}

#[test]
fn final_evaluations_pool_eval_seeds_per_task_and_sample_efficiency_counts_who_got_there() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    // mamba reaches 8 m at 3000 steps (9 s) in seed 0 and never in seed 1; transformer at 2000.
    write_run(&exp, "mamba", 0, &[1.0, 4.0, 8.5]);
    write_run(&exp, "mamba", 1, &[2.0, 6.0, 7.0]);
    write_run(&exp, "transformer", 0, &[0.5, 9.0, 3.0]);
    for run in ["mamba/seed-0", "mamba/seed-1", "transformer/seed-0"] {
        std::fs::write(
            exp.join(run).join("recipe.toml"),
            "version = 2\n[env]\ntask = \"thin_obstacles\"\n",
        )
        .unwrap();
    }
    let thin = "thin_obstacles";
    // Two eval seeds of 10 episodes pool into 20: (4 + 8) / 2 = 6 m for mamba/seed-0.
    write_eval(
        &exp,
        "mamba/seed-0",
        &format!("update-0000003-{thin}-seed0.json"),
        10,
        4.0,
        100.0,
    );
    write_eval(
        &exp,
        "mamba/seed-0",
        &format!("update-0000003-{thin}-seed1.json"),
        10,
        8.0,
        300.0,
    );
    // An older checkpoint's evaluation is not the final one.
    write_eval(
        &exp,
        "mamba/seed-0",
        &format!("update-0000002-{thin}-seed0.json"),
        10,
        50.0,
        0.0,
    );
    write_eval(
        &exp,
        "mamba/seed-1",
        &format!("update-0000003-{thin}-seed0.json"),
        20,
        10.0,
        0.0,
    );
    write_eval(
        &exp,
        "transformer/seed-0",
        &format!("update-0000003-{thin}-seed0.json"),
        20,
        1.0,
        500.0,
    );
    write_eval(
        &exp,
        "transformer/seed-0",
        "update-0000003-wide_obstacles-seed0.json",
        20,
        3.0,
        7.0,
    );
    let out = runner(&["report", exp.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(exp.join("report.md")).unwrap();
    assert!(md.contains("## Env steps to first reach 8 m"), "{md}");
    assert!(
        md.contains("| mamba | 1 of 2 | 3000 [3000, 3000] | 9 [9, 9] |"),
        "{md}"
    );
    assert!(
        md.contains("| transformer | 1 of 1 | 2000 [2000, 2000] | 6 [6, 6] |"),
        "{md}"
    );
    // Trained task first, the held-out one after it.
    let thin_at = md.find("### thin_obstacles\n").expect(&md);
    let wide_at = md.find("### wide_obstacles (held out)\n").expect(&md);
    assert!(thin_at < wide_at, "{md}");
    // mamba's two runs score 6 and 10 m (IQM of two = mean 8), collisions 200 and 0 (100).
    assert!(
        md.contains("| mamba | 2 | 20 | 8.00 [6.00, 10.00] | 100.00 [0.00, 200.00] | 0.00 [0.00, 0.00] | 16.00 ["),
        "{md}"
    );
    assert!(
        md.contains("| transformer | 1 | 20 | 1.00 [1.00, 1.00] | 500.00 ["),
        "{md}"
    );
    assert!(
        md.contains("| transformer | 1 | 20 | 3.00 [3.00, 3.00] | 7.00 ["),
        "{md}"
    );
    // Both mamba runs beat the transformer's on thin obstacles.
    assert!(md.contains("on thin_obstacles:"), "{md}");
    let after_thin = &md[thin_at..wide_at];
    assert!(
        after_thin.contains("| mamba | - | 1.00 [1.00, 1.00] |"),
        "{after_thin}"
    );
    // --reach changes the threshold; a bad one is refused by name.
    let out = runner(&["report", exp.to_str().unwrap(), "--reach", "5"]);
    assert!(out.status.success());
    let md = std::fs::read_to_string(exp.join("report.md")).unwrap();
    assert!(md.contains("| mamba | 2 of 2 | 2500 ["), "{md}");
    let out = runner(&["report", exp.to_str().unwrap(), "--reach", "0"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--reach 0: expected a positive distance")
    );
}

#[test]
fn several_experiments_are_reported_side_by_side_with_their_variants_named_by_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("compare");
    let memory = tmp.path().join("compare_memory");
    write_run(&plain, "model-mamba", 0, &[1.0, 4.0]);
    write_run(&plain, "model-mamba", 1, &[2.0, 6.0]);
    write_run(&memory, "model-mamba", 0, &[3.0, 9.0]);
    write_run(&memory, "model-mamba", 1, &[2.0, 7.0]);
    let out_dir = tmp.path().join("both");
    let args = ["report", plain.to_str().unwrap(), memory.to_str().unwrap()];
    let refused = runner(&args);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("2 experiment folders given") && err.contains("--output"),
        "{err}"
    );
    assert!(!plain.join("report.md").exists() && !out_dir.exists());
    let mut with_output = args.to_vec();
    with_output.extend(["--output", out_dir.to_str().unwrap()]);
    let out = runner(&with_output);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(out_dir.join("report.md")).expect("report.md written");
    assert!(
        md.starts_with("# Report: compare + compare_memory\n"),
        "{md}"
    );
    assert!(
        md.contains(
            "4 runs with data in 2 variants (compare/model-mamba, compare_memory/model-mamba)"
        ),
        "{md}"
    );
    // Final distances 4 and 6 against 9 and 7: every memory run beats every plain one.
    assert!(
        md.contains("| compare/model-mamba | 2 | 2000 | 5.00 ["),
        "{md}"
    );
    assert!(
        md.contains("| compare_memory/model-mamba | 2 | 2000 | 8.00 ["),
        "{md}"
    );
    assert!(
        md.contains("| compare_memory/model-mamba | 1.00 [1.00, 1.00] | - |"),
        "the probability of improvement compares the experiments' variants:\n{md}"
    );
    assert!(out_dir.join("learning_curves_env_steps.png").is_file());
}
