//! Recipe format versions. A file written for an older version is upgraded step by step on load
//! (version n -> n + 1 by `STEPS[n - 1]`); a newer version than this runner knows is refused.

use std::path::Path;

use serde_json::Value;

use super::error::RecipeError;
use super::types::CURRENT_VERSION;

/// One upgrade step: rewrites a version-n value tree into version n + 1.
type Step = fn(Value) -> Value;

/// Upgrade steps, index 0 upgrades version 1 to 2, and so on; a future format change appends
/// its step here and bumps `CURRENT_VERSION`.
const STEPS: &[Step] = &[v1_to_v2];

/// Version 2 moved the obstacle-density curriculum (`env.density_curriculum_steps`,
/// `env.density_curriculum_start`) into `[env.curriculum]`, which also ramps the target velocity
/// and can be driven by progress.
pub fn v1_to_v2(mut value: Value) -> Value {
    let Some(env) = value.get_mut("env").and_then(Value::as_object_mut) else {
        return value;
    };
    let steps = env.remove("density_curriculum_steps");
    let start = env.remove("density_curriculum_start");
    match steps {
        None => {}
        Some(n) if n.as_u64() == Some(0) => {}
        // Anything else moves as written, so a bad value is reported at its new key.
        Some(n) => {
            let mut cur = serde_json::Map::new();
            cur.insert("driver".into(), Value::from("steps"));
            cur.insert("steps".into(), n);
            cur.insert("density_start".into(), start.unwrap_or(Value::from(0.0)));
            env.insert("curriculum".into(), Value::Object(cur));
        }
    }
    value
}

/// Version 1 is the first format: its upgrade to itself is the identity.
pub fn identity_v1(value: Value) -> Value {
    value
}

/// Upgrades `value` from its `version` (1 when absent, the first format) to [`CURRENT_VERSION`].
pub fn upgrade(file: &Path, value: Value) -> Result<Value, RecipeError> {
    upgrade_with(file, value, STEPS, CURRENT_VERSION)
}

/// [`upgrade`] with an explicit list of steps and target version (for tests of the mechanism).
pub fn upgrade_with(
    file: &Path,
    mut value: Value,
    steps: &[Step],
    current: u32,
) -> Result<Value, RecipeError> {
    let found = value.get("version").cloned();
    let version = match &found {
        None => 1,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= 1 && v <= current as u64 => v as u32,
            _ => return Err(version_error(file, n.to_string(), current)),
        },
        Some(other) => return Err(version_error(file, other.to_string(), current)),
    };
    if version == 1 {
        value = identity_v1(value);
    }
    for step in &steps[(version - 1) as usize..(current - 1) as usize] {
        value = step(value);
    }
    if let Value::Object(map) = &mut value {
        map.insert("version".into(), Value::from(current));
    }
    Ok(value)
}

fn version_error(file: &Path, found: String, supported: u32) -> RecipeError {
    RecipeError::Version {
        file: file.to_path_buf(),
        found,
        supported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_without_a_curriculum_only_changes_its_version() {
        let v = json!({"version": 1, "ppo": {"clip": 0.1}});
        let up = upgrade(Path::new("r.toml"), v).unwrap();
        assert_eq!(up, json!({"version": 2, "ppo": {"clip": 0.1}}));
    }

    #[test]
    fn v1_density_curriculum_moves_into_its_section() {
        let v = json!({"version": 1, "env": {"task": "flat", "density_curriculum_steps": 300,
            "density_curriculum_start": 0.25}});
        let up = upgrade(Path::new("r.toml"), v).unwrap();
        assert_eq!(
            up["env"],
            json!({"task": "flat", "curriculum": {"driver": "steps", "steps": 300,
                "density_start": 0.25}})
        );
        let off = json!({"env": {"density_curriculum_steps": 0, "density_curriculum_start": 0.5}});
        assert_eq!(upgrade(Path::new("r.toml"), off).unwrap()["env"], json!({}));
    }

    #[test]
    fn missing_version_is_v1() {
        let v = json!({"ppo": {"clip": 0.1}});
        let up = upgrade(Path::new("r.toml"), v).unwrap();
        assert_eq!(up["version"], json!(CURRENT_VERSION));
    }

    #[test]
    fn steps_run_in_order_from_the_file_version() {
        fn v1_to_v2(mut v: Value) -> Value {
            let clip = v["ppo"]["clip_para"].take();
            v["ppo"] = json!({ "clip": clip });
            v
        }
        fn v2_to_v3(mut v: Value) -> Value {
            v["ppo"]["epochs"] = json!(7);
            v
        }
        let steps: &[Step] = &[v1_to_v2, v2_to_v3];
        let old = json!({"version": 1, "ppo": {"clip_para": 0.3}});
        let up = upgrade_with(Path::new("r.toml"), old, steps, 3).unwrap();
        assert_eq!(up, json!({"version": 3, "ppo": {"clip": 0.3, "epochs": 7}}));
        let mid = json!({"version": 2, "ppo": {"clip": 0.3}});
        let up = upgrade_with(Path::new("r.toml"), mid, steps, 3).unwrap();
        assert_eq!(up, json!({"version": 3, "ppo": {"clip": 0.3, "epochs": 7}}));
    }

    #[test]
    fn newer_or_bad_versions_are_refused() {
        for bad in [
            json!(CURRENT_VERSION + 1),
            json!(0),
            json!("one"),
            json!(-1),
        ] {
            let err = upgrade(Path::new("r.toml"), json!({ "version": bad })).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("r.toml") && msg.contains("`version`"), "{msg}");
        }
    }
}
