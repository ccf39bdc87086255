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
