//! Bad recipes and legacy configs: every error names the file (or other origin), the key path or
//! line, what was found and what was expected.

use std::path::{Path, PathBuf};

use locomamba::recipe::{self, Overrides, RecipeError};

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn load_err(name: &str, text: &str) -> (PathBuf, String) {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = write(&dir, name, text);
    let err = recipe::load(&path, &Overrides::default()).expect_err("recipe should be rejected");
    (path, err.to_string())
}

pub(crate) fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}

#[test]
fn unknown_key_names_file_path_and_known_keys() {
    let (path, msg) = load_err("r.toml", "version = 1\n[ppo]\nclip_para = 0.2\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`ppo.clip_para`",
            "unknown field",
            "clip",
        ],
    );
}

#[test]
fn unknown_section_is_rejected() {
    let (path, msg) = load_err("r.toml", "[optimizer]\nlr = 1\n");
    assert_has(
        &msg,
        &[&path.display().to_string(), "optimizer", "unknown field"],
    );
}

#[test]
fn wrong_type_says_found_and_expected() {
    let (path, msg) = load_err("r.toml", "[env]\nnum_envs = \"four\"\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`env.num_envs`",
            "string",
            "expected",
        ],
    );
}

#[test]
fn mamba_d_model_must_equal_visual_dim() {
    let (path, msg) = load_err(
        "r.toml",
        "[encoder]\nvisual_dim = 64\n[sequence]\nmodel = \"mamba\"\nlayers = [[64, 16, 4, 2], [128, 16, 4, 2]]\n",
    );
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`sequence.layers[1][0]`",
            "d_model = 128",
            "encoder.visual_dim (64)",
        ],
    );
}

#[test]
fn heads_must_divide_visual_dim() {
    let (_, msg) = load_err(
        "r.toml",
        "[encoder]\nvisual_dim = 64\n[sequence]\nmodel = \"transformer\"\nlayers = [[1, 256], [3, 256]]\n",
    );
    assert_has(
        &msg,
        &[
            "`sequence.layers[1][0]`",
            "n_heads = 3",
            "dividing encoder.visual_dim (64)",
        ],
    );
}

#[test]
fn layer_with_wrong_arity_names_the_layer() {
    let (_, msg) = load_err(
        "r.toml",
        "[sequence]\nmodel = \"mamba\"\nlayers = [[256, 16, 4]]\n",
    );
    assert_has(
        &msg,
        &["`sequence.layers[0]`", "expected 4 integers", "found 3"],
    );
}

#[test]
fn layer_element_of_wrong_type_names_the_element() {
    let (_, msg) = load_err(
        "r.toml",
        "[sequence]\nmodel = \"transformer\"\nlayers = [[1, 256], [1, \"x\"]]\n",
    );
    assert_has(&msg, &["`sequence.layers[1][1]`", "string"]);
}

#[test]
fn unknown_sequence_model_lists_known_ones() {
    let (_, msg) = load_err("r.toml", "[sequence]\nmodel = \"lstm\"\n");
    assert_has(&msg, &["sequence", "lstm", "transformer", "mamba"]);
}

#[test]
fn empty_seeds_rejected() {
    let (path, msg) = load_err("r.toml", "[experiment]\nseeds = []\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`experiment.seeds`",
            "at least one seed",
        ],
    );
}

#[test]
fn duplicate_seeds_rejected() {
    let (_, msg) = load_err("r.toml", "[experiment]\nseeds = [1, 2, 1]\n");
    assert_has(&msg, &["`experiment.seeds[2]`", "unique"]);
}

#[test]
fn unknown_task_lists_known_tasks() {
    let (path, msg) = load_err("r.toml", "[env]\ntask = \"lava_field\"\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`env.task`",
            "lava_field",
            "thin_obstacles",
            "mountain",
        ],
    );
}

#[test]
fn minibatch_larger_than_rollout_rejected() {
    let (path, msg) = load_err(
        "r.toml",
        "[ppo]\nminibatch_size = 4096\nrollout_steps = 1024\n",
    );
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`ppo.minibatch_size`",
            "found 4096",
            "ppo.rollout_steps (1024)",
        ],
    );
}

#[test]
fn rule_broken_by_a_defaulted_key_still_names_the_file() {
    // Only rollout_steps is written; minibatch_size keeps its default (1024) and breaks the rule.
    let (path, msg) = load_err("r.toml", "[ppo]\nrollout_steps = 512\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "left at its default",
            "`ppo.minibatch_size`",
            "found 1024",
            "ppo.rollout_steps (512)",
        ],
    );
}

#[test]
fn exploration_noise_correlation_of_one_or_more_rejected() {
    let (path, msg) = load_err("r.toml", "[ppo]\nnoise_correlation = 1.0\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`ppo.noise_correlation`",
            "found 1",
            "[0, 1)",
        ],
    );
}

#[test]
fn zero_size_rejected() {
    let (_, msg) = load_err("r.toml", "[encoder]\nhidden_shapes = [256, 0]\n");
    assert_has(&msg, &["`encoder.hidden_shapes[1]`", "found 0", "> 0"]);
}

#[test]
fn malformed_toml_gives_line_and_column() {
    let (path, msg) = load_err("r.toml", "version = 1\n[ppo]\nclip = = 0.2\n");
    assert_has(
        &msg,
        &[&format!("{}:3:", path.display()), "TOML syntax error"],
    );
}

#[test]
fn malformed_json_gives_line_and_column() {
    let (path, msg) = load_err(
        "r.json",
        "{\n  \"version\": 1,\n  \"ppo\": { \"clip\": }\n}\n",
    );
    assert_has(
        &msg,
        &[&format!("{}:3:", path.display()), "JSON syntax error"],
    );
}

#[test]
fn nonexistent_file_is_named() {
    let err = recipe::load(Path::new("no/such/recipe.toml"), &Overrides::default()).unwrap_err();
    assert!(matches!(err, RecipeError::Io { .. }));
    assert_has(&err.to_string(), &["no/such/recipe.toml", "cannot read"]);
}

#[test]
fn unsupported_extension_is_named() {
    let (_, msg) = load_err("r.yaml", "version: 1\n");
    assert_has(&msg, &["r.yaml", "expected .toml or .json"]);
}

#[test]
fn newer_version_refused() {
    let (_, msg) = load_err("r.toml", "version = 9\n");
    assert_has(&msg, &["`version`", "found 9", "from 1 to 2"]);
}

#[test]
fn bad_env_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "r.toml", "version = 1\n");
    let overrides = Overrides {
        env: vec![("LOCOMAMBA_PPO__CLIP".into(), "wide".into())],
        sets: vec![],
    };
    let msg = recipe::load(&path, &overrides).unwrap_err().to_string();
    assert_has(
        &msg,
        &[
            "environment variable LOCOMAMBA_PPO__CLIP",
            "`ppo.clip`",
            "string",
        ],
    );
}

#[test]
fn bad_set_argument_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "r.toml", "version = 1\n");
    let overrides = Overrides {
        env: vec![],
        sets: vec!["ppo.epochs=0".into()],
    };
    let msg = recipe::load(&path, &overrides).unwrap_err().to_string();
    assert_has(&msg, &["--set ppo.epochs=0", "`ppo.epochs`", "found 0"]);
    let overrides = Overrides {
        env: vec![],
        sets: vec!["ppo.epochs".into()],
    };
    let msg = recipe::load(&path, &overrides).unwrap_err().to_string();
    assert_has(&msg, &["--set \"ppo.epochs\"", "KEY=VALUE"]);
}

#[test]
fn empty_sweep_axis_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "r.toml", "[sweep]\n\"ppo.clip\" = []\n");
    let source = recipe::read_source(&path).unwrap();
    let msg = recipe::variants(&source, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert_has(&msg, &["sweep.\"ppo.clip\"", "empty list"]);
}

#[test]
fn bad_sweep_value_names_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "r.toml",
        "[sweep]\n\"ppo.epochs\" = [1, \"many\"]\n",
    );
    let source = recipe::read_source(&path).unwrap();
    let msg = recipe::variants(&source, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert_has(&msg, &["sweep point ppo.epochs=\"many\"", "`ppo.epochs`"]);
}

#[test]
fn nan_and_infinity_are_named_as_such_in_files_and_overrides() {
    let (path, msg) = load_err("r.toml", "version = 1\n[ppo]\npolicy_lr = nan\n");
    assert_has(
        &msg,
        &[
            &path.display().to_string(),
            "`ppo.policy_lr`",
            "found NaN",
            "a finite number",
        ],
    );
    let (_, msg) = load_err(
        "r.toml",
        "version = 1\n[env]\naction_clip = [0.5, inf, 0.5]\n",
    );
    assert_has(&msg, &["`env.action_clip[1]`", "found inf"]);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ok.toml", "version = 1\n");
    let overrides = Overrides {
        sets: vec!["ppo.value_lr=-inf".into()],
        ..Default::default()
    };
    let msg = recipe::load(&path, &overrides).unwrap_err().to_string();
    assert_has(
        &msg,
        &["--set ppo.value_lr=-inf", "`ppo.value_lr`", "found -inf"],
    );
}

#[test]
fn physical_keys_outside_what_the_simulator_can_mean_are_refused() {
    for (text, key, expected) in [
        (
            "[env]\ntime_step_s = 5.0\n",
            "`env.time_step_s`",
            "(0, 0.02] s",
        ),
        (
            "[env]\ntime_step_s = 0.01\naction_repeat = 200\n",
            "`env.action_repeat`",
            "at most 1 s per policy step",
        ),
        ("[env]\nfriction = 40.0\n", "`env.friction`", "(0, 5]"),
        (
            "[env]\ntarget_vel = 30.0\n",
            "`env.target_vel`",
            "[0, 5] m/s",
        ),
        (
            "[env]\naction_clip = [0.5, 7.0, 0.5]\n",
            "`env.action_clip[1]`",
            "(0, pi] rad",
        ),
        (
            "[env.depth]\nfar = 1000.0\n",
            "`env.depth.far`",
            "at most 100 m",
        ),
    ] {
        let (_, msg) = load_err("r.toml", &format!("version = 1\n{text}"));
        assert_has(&msg, &[key, expected]);
    }
}

#[test]
fn memory_needs_fusion_layers_and_a_forward_only_mamba() {
    let (_, msg) = load_err(
        "memory_concat.toml",
        "[sequence]\nmodel = \"concat\"\n[memory]\nenabled = true\n",
    );
    assert_has(
        &msg,
        &[
            "memory_concat.toml",
            "`memory.enabled`",
            "\"concat\"",
            "no fusion layers",
        ],
    );
    let (_, msg) = load_err(
        "memory_bidirectional.toml",
        "[sequence]\nmodel = \"mamba\"\nbidirectional = true\n[memory]\nenabled = true\n",
    );
    assert_has(
        &msg,
        &["`memory.enabled`", "bidirectional", "unidirectional"],
    );
}

#[test]
fn memory_segments_must_tile_the_rollout_and_the_minibatches() {
    let base = "[env]\nnum_envs = 4\n[ppo]\nrollout_steps = 64\nminibatch_size = 32\n";
    let (_, msg) = load_err(
        "memory_segment.toml",
        &format!("{base}[memory]\nenabled = true\nsegment_steps = 5\n"),
    );
    assert_has(&msg, &["`memory.segment_steps`", "5", "16 steps per env"]);
    // Segments of the default length (16 steps) do not fill a minibatch of 24.
    let (_, msg) = load_err(
        "memory_minibatch.toml",
        "[env]\nnum_envs = 4\n[ppo]\nrollout_steps = 64\nminibatch_size = 24\n[memory]\nenabled = true\n",
    );
    assert_has(&msg, &["`ppo.minibatch_size`", "24", "segment of 16 steps"]);
    let (_, msg) = load_err(
        "memory_context.toml",
        "[memory]\nenabled = true\ncontext_steps = 0\n",
    );
    assert_has(&msg, &["`memory.context_steps`", "at least 1"]);
}
