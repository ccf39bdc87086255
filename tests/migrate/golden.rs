//! Legacy Python configs convert to their golden recipes; converted recipes load; every unmapped
//! key is warned about and kept as a comment; the mapping table is documented.

use std::path::{Path, PathBuf};

use locomamba::recipe::legacy::{self as migrate, MigrateOptions, render, table};
use locomamba::recipe::{self, Overrides, SequenceModel};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("migrations/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn convert(path: &Path, keep_transformer: bool) -> (recipe::Recipe, migrate::Converted, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let legacy = recipe::load::parse_text(path, &text).unwrap();
    // Paths are made relative so golden files do not depend on the checkout location.
    let rel = path.strip_prefix(root()).unwrap();
    render::migrate_to_toml(&legacy, rel, &MigrateOptions { keep_transformer })
        .unwrap_or_else(|e| panic!("{e}"))
}

fn golden_path(fixture: &Path, suffix: &str) -> PathBuf {
    let stem = fixture.file_stem().unwrap().to_str().unwrap();
    root().join(format!("migrations/golden/{stem}{suffix}.toml"))
}

fn compare_golden(golden: &Path, actual: &str) {
    if std::env::var_os("LOCOMAMBA_BLESS").is_some() {
        std::fs::write(golden, actual).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|_| {
        panic!(
            "missing golden {}; run with LOCOMAMBA_BLESS=1 to create it",
            golden.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the conversion:\n{actual}",
        golden.display()
    );
}

#[test]
fn at_least_the_required_fixtures_exist() {
    let names: Vec<String> = fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into())
        .collect();
    for needed in [
        "static_thin_transformer_1head.json",
        "moving_thin_transformer_8head.json",
        "vision_only_wide.json",
        "spheres_mamba_params.json",
        "mountain_no_visual_dim.json",
    ] {
        assert!(
            names.iter().any(|n| n == needed),
            "missing fixture {needed}"
        );
    }
}

#[test]
fn fixtures_convert_to_their_golden_outputs() {
    for fixture in fixtures() {
        let (_, _, text) = convert(&fixture, false);
        compare_golden(&golden_path(&fixture, ""), &text);
    }
    let keep = root().join("migrations/fixtures/moving_thin_transformer_8head.json");
    let (r, _, text) = convert(&keep, true);
    assert_eq!(r.sequence.model(), SequenceModel::Transformer);
    compare_golden(&golden_path(&keep, ".keep_transformer"), &text);
}

#[test]
fn converted_recipes_load_and_validate() {
    for fixture in fixtures() {
        let golden = golden_path(&fixture, "");
        let loaded = recipe::load(&golden, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        let direct =
            recipe::load(&fixture, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut expected = convert(&fixture, false).0;
        expected.experiment.name = loaded.experiment.name.clone();
        assert_eq!(loaded, expected, "{}", golden.display());
        assert_eq!(
            direct,
            expected,
            "in-memory migration of {}",
            fixture.display()
        );
    }
}

#[test]
fn key_mappings_are_applied() {
    let (r, report, _) = convert(
        &root().join("migrations/fixtures/moving_thin_transformer_8head.json"),
        false,
    );
    assert_eq!(r.env.task, recipe::Task::MovingObstacles);
    assert_eq!(r.experiment.total_env_steps, 1500 * 16384);
    assert_eq!(r.ppo.rollout_steps, 16384);
    assert_eq!(r.env.action_clip.len(), 12);
    assert_eq!(r.sequence.model(), SequenceModel::Mamba);
    assert_eq!(r.sequence.depth(), 2);
    assert!(
        report
            .report
            .notes
            .iter()
            .any(|n| n.contains("token width 64"))
    );

    let (r, report, _) = convert(
        &root().join("migrations/fixtures/mountain_no_visual_dim.json"),
        false,
    );
    assert_eq!(r.env.task, recipe::Task::Mountain);
    assert_eq!(r.encoder.visual_dim, 256);
    assert_eq!(r.ppo.gae_lambda, 1.0);
    assert_eq!(r.env.horizon, 500);
    assert!(
        report
            .report
            .notes
            .iter()
            .any(|n| n.contains("no encoder.visual_dim"))
    );

    let (r, _, _) = convert(
        &root().join("migrations/fixtures/vision_only_wide.json"),
        false,
    );
    assert_eq!(r.encoder.kind, recipe::EncoderKind::VisionOnly);
    assert_eq!(r.env.task, recipe::Task::WideObstacles);

    let (r, _, _) = convert(
        &root().join("migrations/fixtures/spheres_mamba_params.json"),
        false,
    );
    assert_eq!(r.env.task, recipe::Task::Spheres);
    assert_eq!(r.encoder.visual_dim, 128);
    assert_eq!(r.ppo.policy_lr, 2e-4);
}

#[test]
fn every_unmapped_key_is_warned_and_kept_as_a_comment() {
    for fixture in fixtures() {
        let text = std::fs::read_to_string(&fixture).unwrap();
        let legacy: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (_, converted, toml) = convert(&fixture, false);
        let report = &converted.report;
        let warnings = report.warnings();
        // Recompute independently: every leaf key not in the table must be reported.
        let mut leaves = Vec::new();
        collect_leaves("", &legacy, &mut leaves);
        for key in leaves {
            if table::rule(&key).is_none() {
                assert!(
                    warnings.iter().any(|w| w.contains(&format!("`{key}`"))),
                    "{}: no warning for {key}",
                    fixture.display()
                );
                assert!(
                    toml.contains(&format!("# {key} = ")),
                    "{}: {key} not kept as a comment",
                    fixture.display()
                );
            }
        }
        assert!(
            report
                .unmapped
                .iter()
                .any(|(k, _)| k == "replay_buffer.size")
        );
        assert!(
            report
                .unmapped
                .iter()
                .any(|(k, _)| k == "env.env_build.fric_coeff[1..]")
        );
    }
}

fn collect_leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_leaves(&key, v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn mapping_table_is_documented() {
    let doc = std::fs::read_to_string(root().join("migrations/README.md")).unwrap();
    for (key, _) in table::TABLE {
        assert!(
            doc.contains(&format!("`{key}`")),
            "migrations/README.md does not document `{key}`"
        );
    }
    for (terrain, task) in table::TERRAINS {
        assert!(
            doc.contains(terrain) && doc.contains(task),
            "terrain {terrain} undocumented"
        );
    }
    for terrain in table::PLANNED_TERRAINS {
        assert!(
            doc.contains(terrain),
            "planned terrain {terrain} undocumented"
        );
    }
}

#[test]
fn runner_migrate_writes_atomically_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new.toml");
    let fixture = root().join("migrations/fixtures/static_thin_transformer_1head.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args([
            "migrate",
            fixture.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("replay_buffer.size"),
        "{stderr}"
    );
    assert!(stderr.contains("token width 64"), "{stderr}");
    recipe::load(&out, &Overrides::default()).unwrap();
}
