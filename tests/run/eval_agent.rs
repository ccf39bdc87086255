//! `runner eval --agent`: the sanity agents run in the original's action space whatever the
//! recipe's, so the trot agent walks under a recipe with the gait prior too (it used to be added
//! to the prior's own trot and fall).

use std::process::Command;

fn trot_distance(recipe: &str) -> f64 {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(root)
        .args([
            "eval",
            "--agent",
            "trot",
            "--recipe",
            recipe,
            "--episodes",
            "2",
        ])
        .args(["--set", "env.num_envs=2", "--set", "env.horizon=150"])
        .output()
        .expect("run runner eval");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{recipe}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let distance = stdout
        .split("distance ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|d| d.parse().ok());
    distance.unwrap_or_else(|| panic!("no distance in {stdout:?}"))
}

#[test]
fn the_trot_agent_walks_under_a_gait_prior_recipe_as_under_a_plain_one() {
    let plain = trot_distance("recipes/quick.toml");
    let prior = trot_distance("recipes/walk_flat.toml");
    // 150 policy steps are 6 s: the trot covers about 2 m.
    assert!(plain > 1.0, "plain recipe: {plain} m");
    assert!(prior > 1.0, "gait-prior recipe: {prior} m");
}
