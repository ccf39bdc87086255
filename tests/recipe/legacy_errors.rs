//! Legacy Python configs that cannot become recipes: every refusal names the file, the key the
//! user wrote and what was expected.

use super::errors::{assert_has, load_err, write};

#[test]
fn unknown_legacy_terrain_lists_known_ones() {
    let legacy = r#"{"env_name": "A1MoveGround", "env": {"env_build": {"terrain_type": "lava"}}}"#;
    let (_, msg) = load_err("old.json", legacy);
    assert_has(
        &msg,
        &[
            "old.json",
            "env.env_build.terrain_type",
            "lava",
            "random_blocks_sparse (thin_obstacles)",
            "mount (mountain)",
        ],
    );
}

#[test]
fn legacy_mpc_environment_is_refused_by_name() {
    let legacy = r#"{"env_name": "A1MoveGroundMPC", "env": {"env_build": {"terrain_type": "random_blocks_sparse"}}}"#;
    let (_, msg) = load_err("old.json", legacy);
    assert_has(
        &msg,
        &["old.json", "`env_name`", "A1MoveGroundMPC", "not built"],
    );
}

#[test]
fn unsupported_legacy_value_is_named() {
    let legacy =
        r#"{"env_name": "A1MoveGround", "env": {"env_build": {"motor_control_mode": "TORQUE"}}}"#;
    let (_, msg) = load_err("old.json", legacy);
    assert_has(
        &msg,
        &[
            "old.json",
            "`env.env_build.motor_control_mode`",
            "TORQUE",
            "POSITION",
        ],
    );
}

#[test]
fn legacy_switches_for_features_not_built_are_errors_not_warnings() {
    for (key, value, expected) in [
        ("enable_action_filter", "true", "no low-pass filter"),
        (
            "enable_action_interpolation",
            "true",
            "held over the action repeat",
        ),
        (
            "get_image_interval",
            "2",
            "every policy step renders a depth frame",
        ),
    ] {
        let legacy = format!(
            r#"{{"env_name": "A1MoveGround", "env": {{"env_build": {{"{key}": {value}}}}}}}"#
        );
        let (_, msg) = load_err("old.json", &legacy);
        assert_has(
            &msg,
            &[
                "old.json",
                &format!("`env.env_build.{key}`"),
                value,
                expected,
            ],
        );
    }
}

#[test]
fn migrating_a_recipe_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "recipe.json",
        r#"{"version": 1, "env": {"num_envs": 2}}"#,
    );
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let err =
        locomamba::recipe::legacy::render::migrate_to_toml(&value, &path, &Default::default())
            .unwrap_err()
            .to_string();
    assert_has(
        &err,
        &["recipe.json", "not a legacy Python config", "version"],
    );
}
