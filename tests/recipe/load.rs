//! Shipped recipes load; layers apply in order (defaults <- file <- env <- sweep point <- --set);
//! sweeps expand into validated variants.

use std::path::{Path, PathBuf};

use locomamba::recipe::{self, Overrides, SequenceConfig, SequenceModel, Task};

/// Every recipe in `recipes/`, as paths relative to the crate.
fn shipped() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| format!("recipes/{n}"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    files
}

#[test]
fn fast_thin_recipes_differ_only_in_the_sequence_section() {
    let load = |f: &str| {
        recipe::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(f),
            &Overrides::default(),
        )
        .unwrap()
    };
    let mut m = load("recipes/mamba_thin_fast.toml");
    let t = load("recipes/transformer_thin_fast.toml");
    assert_eq!(m.sequence.model(), SequenceModel::Mamba);
    assert_eq!(t.sequence.model(), SequenceModel::Transformer);
    m.sequence = t.sequence.clone();
    m.experiment.name = t.experiment.name.clone();
    assert_eq!(m, t);
}

/// The variants of a comparison sweep (`recipes/thin_compare*.toml`), by name.
fn sweep_variants(file: &str) -> Vec<(String, recipe::Recipe)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let source = recipe::read_source(&path).unwrap();
    recipe::variants(&source, &Overrides::default())
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.recipe))
        .collect()
}

#[test]
fn the_comparison_sweeps_train_exactly_the_fast_recipes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fast = |f: &str, sets: &[&str]| {
        let overrides = Overrides {
            sets: sets.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        };
        recipe::load(&root.join(f), &overrides).unwrap()
    };
    // Everything but the experiment's name, seeds and budget comes from the fast recipes.
    let same = |mut variant: recipe::Recipe, mut expected: recipe::Recipe, what: &str| {
        assert_eq!(variant.experiment.total_env_steps, 614_400, "{what}");
        variant.experiment = expected.experiment.clone();
        expected.sweep.clear();
        assert_eq!(variant, expected, "{what}");
    };
    // The comparisons trained the fixed trot the fast recipes had before they adopted the
    // modulated one (results/thin_gait_vs_compare); everything else is the fast recipes'.
    let fixed_trot = [
        "env.diagonal_act=true",
        "env.heading_in_obs=false",
        "env.trot.frequency_range=0",
        "env.trot.amplitude_range=0",
        "env.trot.modulation_std=0",
        "ppo.init_log_std=-2.9957323",
    ];
    for (file, memory, seeds) in [
        ("recipes/thin_compare.toml", "memory.enabled=false", 5),
        ("recipes/thin_compare_memory.toml", "memory.enabled=true", 3),
    ] {
        let variants = sweep_variants(file);
        let names: Vec<&str> = variants.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["model-transformer", "model-mamba"], "{file}");
        for (name, variant) in variants {
            assert_eq!(variant.experiment.seeds.len(), seeds, "{file}");
            let model = name.trim_start_matches("model-");
            let sets: Vec<&str> = fixed_trot.iter().copied().chain([memory]).collect();
            let expected = fast(&format!("recipes/{model}_thin_fast.toml"), &sets);
            same(variant, expected, &format!("{file} {name}"));
        }
    }
    let transformer = fast("recipes/transformer_thin_fast.toml", &fixed_trot);
    for (name, mut variant) in sweep_variants("recipes/thin_compare_baselines.toml") {
        let model = variant.sequence.model();
        assert!(
            matches!(model, SequenceModel::Concat | SequenceModel::StateOnly),
            "{name}: {model:?}"
        );
        if model == SequenceModel::StateOnly {
            assert!(!variant.env.depth.enabled, "State-Only renders no depth");
            variant.env.depth.enabled = true;
        }
        variant.sequence = transformer.sequence.clone();
        same(variant, transformer.clone(), &name);
    }
}

/// Asserts that each kept run `results/<kept>/base/seed-<s>` (s in `seeds`) trained `budget` env
/// steps of `recipe_file` with the `--set`s `sets`: their resolved recipes are equal but for the
/// experiment.
fn assert_kept_runs_trained(kept: &str, seeds: u64, budget: u64, recipe_file: &str, sets: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let overrides = Overrides {
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..Overrides::default()
    };
    let mut shipped = recipe::load(&root.join(recipe_file), &overrides).unwrap();
    for seed in 0..seeds {
        let path = root.join(format!("results/{kept}/base/seed-{seed}/recipe.toml"));
        let run = recipe::load(&path, &Overrides::default()).unwrap();
        assert_eq!(run.experiment.total_env_steps, budget, "{kept} seed {seed}");
        shipped.experiment = run.experiment.clone();
        assert_eq!(run, shipped, "{kept} seed {seed}");
    }
}

#[test]
fn the_kept_gait_runs_trained_the_fast_recipes() {
    // results/thin_gait and results/thin_gait_tf are the evidence the fast recipes adopted the
    // modulated trot on: their resolved recipes are the fast recipes but for the experiment.
    for (kept, model) in [("thin_gait", "mamba"), ("thin_gait_tf", "transformer")] {
        let fast = format!("recipes/{model}_thin_fast.toml");
        assert_kept_runs_trained(kept, 2, 614_400, &fast, &[]);
    }
}

#[test]
fn the_kept_walk_fast_runs_trained_the_walk_fast_recipe() {
    // results/walk_headpen is the evidence walk_fast adopted `env.reward.heading = 0.1` on: its
    // resolved recipes are walk_fast's but for the experiment.
    let walk_fast = "recipes/walk_fast.toml";
    assert_kept_runs_trained("walk_headpen", 2, 1_310_720, walk_fast, &[]);
    // The earlier kept runs are today's recipe with the `--set`s README names:
    // results/walk_fallpen (the fall penalty, before the heading penalty), results/walk_target (a
    // higher target velocity instead) and results/walk_fast (before the settling and the fall
    // penalty).
    let no_heading = "env.reward.heading=0";
    assert_kept_runs_trained("walk_fallpen", 3, 1_310_720, walk_fast, &[no_heading]);
    let target = [no_heading, "env.target_vel=1.5"];
    assert_kept_runs_trained("walk_target", 2, 1_310_720, walk_fast, &target);
    let before = [
        no_heading,
        "env.settle_s=0",
        "env.reward.fall=-20",
        "experiment.total_env_steps=2000000",
    ];
    assert_kept_runs_trained("walk_fast", 2, 2_000_000, walk_fast, &before);
}

fn tmp_recipe(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn shipped_recipes_load_validate_and_point_at_the_schema() {
    for file in &shipped() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("#:schema ../schemas/recipe.schema.json\n"),
            "{file} must start with the schema directive"
        );
        let source = recipe::read_source(&path).unwrap_or_else(|e| panic!("{e}"));
        let variants =
            recipe::variants(&source, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!variants.is_empty());
    }
}

#[test]
fn paper_recipes_match_the_original_setup() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mamba = recipe::load(&dir.join("recipes/mamba_thin.toml"), &Overrides::default()).unwrap();
    assert_eq!(mamba.env.task, Task::ThinObstacles);
    assert_eq!(mamba.sequence.model(), SequenceModel::Mamba);
    assert_eq!(mamba.sequence.depth(), 2);
    let tf = recipe::load(
        &dir.join("recipes/transformer_thin.toml"),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(tf.sequence.model(), SequenceModel::Transformer);
    assert_eq!(tf.env.horizon, 1000);
    assert_eq!(tf.env.action_repeat, 16);
    assert_eq!(tf.env.time_step_s, 0.0025);
}

#[test]
fn json_and_toml_recipes_are_the_same_model() {
    let (_d1, toml_path) =
        tmp_recipe("version = 1\n[ppo]\nclip = 0.1\n[sequence]\nmodel = \"mamba\"\n");
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("r.json");
    std::fs::write(
        &json_path,
        r#"{"version": 1, "ppo": {"clip": 0.1}, "sequence": {"model": "mamba"}}"#,
    )
    .unwrap();
    let a = recipe::load(&toml_path, &Overrides::default()).unwrap();
    let b = recipe::load(&json_path, &Overrides::default()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn layers_apply_in_order() {
    let (_d, path) = tmp_recipe("[ppo]\nclip = 0.1\nepochs = 5\nentropy_coef = 0.01\n");
    let none = recipe::load(&path, &Overrides::default()).unwrap();
    assert_eq!(
        (none.ppo.clip, none.ppo.epochs, none.ppo.discount),
        (0.1, 5, 0.99)
    );
    let env = Overrides {
        env: vec![
            ("LOCOMAMBA_PPO__EPOCHS".into(), "7".into()),
            ("LOCOMAMBA_PPO__ENTROPY_COEF".into(), "0.02".into()),
            (
                "LOCOMAMBA_UNRELATED".into(),
                "ignored: no section separator".into(),
            ),
            ("OTHER__THING".into(), "ignored: other prefix".into()),
        ],
        sets: vec!["ppo.entropy_coef=0.03".into()],
    };
    let r = recipe::load(&path, &env).unwrap();
    assert_eq!(r.ppo.clip, 0.1, "file beats defaults");
    assert_eq!(r.ppo.epochs, 7, "environment beats file");
    assert_eq!(r.ppo.entropy_coef, 0.03, "--set beats environment");
}

#[test]
fn set_accepts_lists_and_strings() {
    let (_d, path) = tmp_recipe("version = 1\n");
    let r = recipe::load(
        &path,
        &Overrides {
            env: vec![],
            sets: vec!["experiment.seeds=[3, 4]".into(), "env.task=flat".into()],
        },
    )
    .unwrap();
    assert_eq!(r.experiment.seeds, vec![3, 4]);
    assert_eq!(r.env.task, Task::Flat);
}

#[test]
fn set_and_env_accept_exponent_floats_and_quoted_strings() {
    let (_d, path) = tmp_recipe("version = 1\n");
    let r = recipe::load(
        &path,
        &Overrides {
            env: vec![("LOCOMAMBA_PPO__VALUE_LR".into(), "2.5E-4".into())],
            sets: vec![
                "ppo.policy_lr=1e-3".into(),
                "ppo.clip=0.1".into(),
                "experiment.name=\"my_run\"".into(),
            ],
        },
    )
    .unwrap();
    assert_eq!(r.ppo.policy_lr, 1e-3);
    assert_eq!(r.ppo.value_lr, 2.5e-4);
    assert_eq!(r.ppo.clip, 0.1);
    assert_eq!(r.experiment.name, "my_run");
}

#[test]
fn switching_the_model_by_override_keeps_the_depth() {
    let (_d, path) = tmp_recipe(
        "[encoder]\nvisual_dim = 64\n[sequence]\nmodel = \"transformer\"\nlayers = [[2, 128], [2, 128], [2, 128]]\n",
    );
    let r = recipe::load(
        &path,
        &Overrides {
            env: vec![],
            sets: vec!["sequence.model=mamba".into()],
        },
    )
    .unwrap();
    match r.sequence {
        SequenceConfig::Mamba {
            layers,
            bidirectional,
        } => {
            assert_eq!(layers.len(), 3);
            assert!(!bidirectional);
            for l in layers {
                assert_eq!(
                    (l.d_model, l.d_state, l.d_conv, l.expand),
                    (Some(64), 16, 4, 2)
                );
            }
        }
        other => panic!("expected mamba, got {other:?}"),
    }
    // Setting the same model keeps the written layers.
    let r = recipe::load(
        &path,
        &Overrides {
            env: vec![],
            sets: vec!["sequence.model=transformer".into()],
        },
    )
    .unwrap();
    assert_eq!(r.sequence.depth(), 3);
    if let SequenceConfig::Transformer { layers } = r.sequence {
        assert_eq!(layers[0].dim_feedforward, 128);
    }
}

#[test]
fn named_and_positional_layers_agree() {
    let (_d1, a) = tmp_recipe("[sequence]\nmodel = \"mamba\"\nlayers = [[256, 16, 4, 2]]\n");
    let (_d2, b) = tmp_recipe(
        "[sequence]\nmodel = \"mamba\"\nlayers = [{ d_model = 256, d_state = 16, d_conv = 4, expand = 2 }]\n",
    );
    let (_d3, c) = tmp_recipe("[sequence]\nmodel = \"mamba\"\nlayers = [{ d_state = 16 }]\n");
    let ra = recipe::load(&a, &Overrides::default()).unwrap();
    assert_eq!(ra, recipe::load(&b, &Overrides::default()).unwrap());
    assert_eq!(ra, recipe::load(&c, &Overrides::default()).unwrap());
}

#[test]
fn resolved_recipe_round_trips_through_toml() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/mamba_thin.toml");
    let r = recipe::load(&path, &Overrides::default()).unwrap();
    let (_d, again) = tmp_recipe(&r.to_toml());
    assert_eq!(recipe::load(&again, &Overrides::default()).unwrap(), r);
}

#[test]
fn sweep_expands_grid_with_names_and_validates_each_point() {
    let (_d, path) = tmp_recipe(
        "[encoder]\nvisual_dim = 64\n[sequence]\nmodel = \"transformer\"\nlayers = [[1, 64]]\n\
         [sweep]\n\"sequence.model\" = [\"transformer\", \"mamba\"]\n\"ppo.policy_lr\" = [1e-4, 3e-4]\n",
    );
    let source = recipe::read_source(&path).unwrap();
    let variants = recipe::variants(&source, &Overrides::default()).unwrap();
    let names: Vec<_> = variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "policy_lr-0.0001_model-transformer",
            "policy_lr-0.0001_model-mamba",
            "policy_lr-0.0003_model-transformer",
            "policy_lr-0.0003_model-mamba"
        ]
    );
    assert_eq!(variants[1].recipe.sequence.model(), SequenceModel::Mamba);
    assert_eq!(variants[2].recipe.ppo.policy_lr, 3e-4);
    assert!(variants.iter().all(|v| v.recipe.sweep.is_empty()));
    // Every variant differs from the base only in the swept keys.
    let base = source.resolve(&Overrides::default(), &[]).unwrap();
    for v in &variants {
        assert_eq!(v.recipe.env, base.env);
        assert_eq!(v.recipe.encoder, base.encoder);
        assert_eq!(v.recipe.experiment, base.experiment);
    }
}

#[test]
fn set_on_a_swept_key_is_refused() {
    let (_d, path) = tmp_recipe("[sweep]\n\"ppo.clip\" = [0.1, 0.2]\n");
    let source = recipe::read_source(&path).unwrap();
    let err = recipe::variants(
        &source,
        &Overrides {
            env: vec![],
            sets: vec!["ppo.clip=0.3".into()],
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("overrides a swept key"), "{err}");
}
