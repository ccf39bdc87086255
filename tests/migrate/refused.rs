//! Legacy configs that cannot run are refused naming the key the user wrote: a config without
//! its `env` object, and a value out of range reported under the legacy key, then the recipe key
//! it converts to.

use locomamba::recipe::{self, Overrides};

fn load_err(name: &str, json: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, json).unwrap();
    let err = recipe::load(&path, &Overrides::default()).expect_err("config should be refused");
    err.to_string()
}

const GOOD_ENV: &str = r#""env": {"env_build": {"terrain_type": "plane", "frame_extract": 1}}"#;

#[test]
fn a_config_without_its_env_object_is_refused() {
    for (env, found) in [(r#""env": null"#, "found null"), (r#""env": 3"#, "found 3")] {
        let msg = load_err(
            "null_env.json",
            &format!(r#"{{"env_name": "A1MoveGround", {env}, "net": {{}}}}"#),
        );
        for part in [
            "null_env.json",
            "key `env`",
            found,
            "without it the config describes no task",
        ] {
            assert!(msg.contains(part), "{msg:?} lacks {part:?}");
        }
    }
    let msg = load_err("no_env.json", r#"{"env_name": "A1MoveGround", "net": {}}"#);
    assert!(msg.contains("key `env`: found no `env` key"), "{msg}");
    // And a config with one converts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.json");
    std::fs::write(
        &path,
        format!(r#"{{"env_name": "A1MoveGround", {GOOD_ENV}}}"#),
    )
    .unwrap();
    recipe::load(&path, &Overrides::default()).expect("a config with env converts");
}

#[test]
fn an_out_of_range_legacy_value_names_the_legacy_key_then_the_recipe_key() {
    let msg = load_err(
        "negative.json",
        r#"{"env_name": "A1MoveGround", "env": {"env_build": {"frame_extract": -2}}}"#,
    );
    for part in [
        "negative.json",
        "key `env.env_build.frame_extract`",
        "converted to recipe key `env.depth.frame_spacing`",
        "-2",
    ] {
        assert!(msg.contains(part), "{msg:?} lacks {part:?}");
    }
}
