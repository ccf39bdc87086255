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
    let model = if keep_transformer {
        migrate::LegacyModel::Transformer
    } else {
        migrate::LegacyModel::Mamba
    };
    render::migrate_to_toml(&legacy, rel, &MigrateOptions { model })
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
                .any(|(k, _)| k == "replay_buffer.size"),
            "{}",
            fixture.display()
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
}

fn fixture(name: &str) -> PathBuf {
    root().join(format!("migrations/fixtures/{name}.json"))
}

#[test]
fn the_originals_keys_keep_their_meaning() {
    use recipe::{FrameOffsets, Task};
    let (r, _, _) = convert(&fixture("rl_static_thin"), false);
    assert!(
        !r.env.displacement_in_obs,
        "no_displacement: true is the 84-value observation"
    );
    assert_eq!(r.env.depth.frame_spacing, 1);
    assert_eq!(r.env.task, Task::ThinObstacles);
    let (r, _, _) = convert(
        &fixture("rl_static_frame_extract4_random_delay_thin"),
        false,
    );
    assert_eq!(r.env.depth.frame_spacing, 4);
    assert_eq!(r.env.depth.frame_offsets, FrameOffsets::Random);
    assert!(!r.env.fixed_latency);
    let (r, _, _) = convert(&fixture("rl_static_frame_extract4_fixed_delay_thin"), false);
    assert_eq!(r.env.depth.frame_offsets, FrameOffsets::FixedDelay);
    assert!(r.env.fixed_latency);
    let (r, _, _) = convert(
        &fixture("rl_static_frame_extract4_interpolation_thin"),
        false,
    );
    assert_eq!(r.env.depth.frame_offsets, FrameOffsets::None);
    assert!(r.env.depth.frame_averaging);
    let tasks = [
        ("rl_static_thin_goal", Task::Spheres),
        ("rl_static_thin_heightfield", Task::Heightfield),
        ("rl_static_thin_random_shape", Task::ThinObstacles),
        ("rl_static_thin_wide", Task::WideObstacles),
        ("rl_moving_thin", Task::MovingObstacles),
        ("rl_moving_thin_heightfield", Task::Heightfield),
        ("rl_moving_random_delay_thin_wide", Task::WideObstacles),
        ("rl_moving_thin_goal", Task::Spheres),
        ("rl_challenge_chair_desk", Task::ChairDesk),
        ("rl_challenge_hill", Task::Hill),
        ("rl_challenge_mountain", Task::Mountain),
        ("rl_challenge_stairs", Task::Stairs),
    ];
    for (name, task) in tasks {
        let (r, _, _) = convert(&fixture(name), false);
        assert_eq!(r.env.task, task, "{name}");
    }
    let (r, _, _) = convert(&fixture("rl_static_thin_random_shape"), false);
    assert!(r.env.random_box_sizes);
    let (r, _, _) = convert(&fixture("rl_static_thin_goal"), false);
    assert_eq!(r.env.reward.sphere_bonus, 100.0);
    let (r, _, _) = convert(&fixture("rl_moving_thin_heightfield"), false);
    assert!(r.env.moving);
    let (r, _, _) = convert(&fixture("rl_moving_thin_goal"), false);
    assert!(
        !r.env.moving,
        "moving has no effect on the subgoal terrain in the original"
    );
    for name in ["rl_challenge_stairs", "rl_challenge_mountain"] {
        let (r, _, _) = convert(&fixture(name), false);
        assert!(r.env.goal, "{name}");
    }
    let (r, _, _) = convert(&fixture("rl_challenge_mountain"), false);
    assert!(
        r.env.check_contact,
        "the original forces check_contact on mount"
    );
}

#[test]
fn the_state_only_config_converts_to_the_state_only_model() {
    let (r, report, _) = convert(&fixture("rl_static_state_only"), false);
    assert_eq!(r.sequence.model(), SequenceModel::StateOnly);
    assert!(!r.env.depth.enabled);
    assert_eq!(r.encoder.hidden_shapes, vec![256, 256]);
    assert!(report.report.notes.iter().any(|n| n.contains("State-Only")));
}

#[test]
fn model_flag_picks_the_network() {
    let path = fixture("rl_static_thin");
    let text = std::fs::read_to_string(&path).unwrap();
    let legacy = recipe::load::parse_text(&path, &text).unwrap();
    for (model, expected) in [
        (migrate::LegacyModel::Mamba, SequenceModel::Mamba),
        (
            migrate::LegacyModel::Transformer,
            SequenceModel::Transformer,
        ),
        (migrate::LegacyModel::Concat, SequenceModel::Concat),
        (migrate::LegacyModel::StateOnly, SequenceModel::StateOnly),
    ] {
        let (r, _, _) = render::migrate_to_toml(&legacy, &path, &MigrateOptions { model }).unwrap();
        assert_eq!(r.sequence.model(), expected);
    }
}

#[test]
fn mpc_configs_are_refused_with_a_reason() {
    let path = root().join("migrations/rejected/mpc_thin.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let legacy = recipe::load::parse_text(&path, &text).unwrap();
    let err = render::migrate_to_toml(&legacy, &path, &MigrateOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("mpc_thin.json"), "{err}");
    assert!(
        err.contains("A1MoveGroundMPC") && err.contains("not built"),
        "{err}"
    );
}

#[test]
fn every_note_about_the_time_step_says_how_to_reproduce_it() {
    let (_, report, _) = convert(&fixture("rl_static_thin"), false);
    assert!(
        report
            .report
            .notes
            .iter()
            .any(|n| n.contains("1 ms") && n.contains("env.time_step_s = 0.001"))
    );
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
