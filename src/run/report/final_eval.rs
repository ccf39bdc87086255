//! The evaluations `runner eval` wrote beside each run (`eval/update-<N>-<task>-seed<S>.json`):
//! per run and task, the episodes of every evaluation seed of the newest evaluated checkpoint
//! pooled into one run score, so that a run evaluated with `--seed 0` and `--seed 1` over 10
//! episodes each counts as one run of 20 episodes.

use std::collections::BTreeMap;
use std::path::Path;

/// The metrics of a final evaluation, in table order: (JSON key, heading).
pub(super) const FINAL_METRICS: [(&str, &str); 4] = [
    ("mean_distance", "distance (m)"),
    ("mean_collisions", "collisions"),
    ("fall_rate", "fall rate"),
    ("mean_return", "return"),
];

/// One run's pooled evaluation on one task.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FinalEval {
    /// The task evaluated.
    pub task: String,
    /// The checkpoint's update number.
    pub update: u64,
    /// Episodes pooled over the evaluation seeds.
    pub episodes: u64,
    /// The evaluation seeds pooled, ascending.
    pub seeds: Vec<u64>,
    /// [`FINAL_METRICS`], each the episode-weighted mean over the seeds' evaluations.
    pub values: [f64; FINAL_METRICS.len()],
}

/// One evaluation file's (eval seed, episodes, [`FINAL_METRICS`]).
type SeedEval = (u64, u64, [f64; FINAL_METRICS.len()]);

/// `update-0000300-thin_obstacles-seed1.json` -> (300, "thin_obstacles", 1). Files written beside
/// an evaluation of more episodes (`...-seed1-4ep.json`) and anything else give `None`.
pub(super) fn parse_name(name: &str) -> Option<(u64, String, u64)> {
    let stem = name.strip_suffix(".json")?.strip_prefix("update-")?;
    let (update, rest) = stem.split_once('-')?;
    let (task, seed) = rest.rsplit_once("-seed")?;
    Some((update.parse().ok()?, task.to_string(), seed.parse().ok()?))
}

/// The pooled evaluations of the run in `run_dir`, one per task, all of its newest evaluated
/// update (earlier checkpoints' evaluations are ignored); empty when it has none. Unreadable
/// files are skipped.
pub(super) fn read(run_dir: &Path) -> Vec<FinalEval> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("eval")) else {
        return Vec::new();
    };
    let mut found: BTreeMap<(u64, String), Vec<SeedEval>> = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some((update, task, seed)) = parse_name(&name) else {
            continue;
        };
        let Some(json) = std::fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        else {
            continue;
        };
        let Some(episodes) = json.get("episodes").and_then(serde_json::Value::as_u64) else {
            continue;
        };
        let values = FINAL_METRICS.map(|(key, _)| {
            json.get(key)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN)
        });
        found
            .entry((update, task))
            .or_default()
            .push((seed, episodes, values));
    }
    let Some(newest) = found.keys().map(|(u, _)| *u).max() else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter(|((update, _), _)| *update == newest)
        .map(|((update, task), mut evals)| {
            evals.sort_by_key(|e| e.0);
            let episodes: u64 = evals.iter().map(|e| e.1).sum();
            let values = std::array::from_fn(|m| {
                evals.iter().map(|e| e.1 as f64 * e.2[m]).sum::<f64>() / episodes.max(1) as f64
            });
            FinalEval {
                task,
                update,
                episodes,
                seeds: evals.iter().map(|e| e.0).collect(),
                values,
            }
        })
        .collect()
}

/// The task a run was trained on (`env.task` of its `recipe.toml`), if readable.
pub(super) fn trained_task(run_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(run_dir.join("recipe.toml")).ok()?;
    let recipe: toml::Value = toml::from_str(&text).ok()?;
    Some(recipe.get("env")?.get("task")?.as_str()?.to_string())
}

/// The tasks of `evals` in report order: those runs were trained on first, then the held-out ones,
/// each group by name.
pub(super) fn task_order(evals: &[(String, FinalEval)], trained: &[String]) -> Vec<String> {
    let mut tasks: Vec<String> = evals.iter().map(|(_, e)| e.task.clone()).collect();
    tasks.sort_by_key(|t| (!trained.contains(t), t.clone()));
    tasks.dedup();
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_side_files_do_not() {
        assert_eq!(
            parse_name("update-0000300-thin_obstacles-seed1.json"),
            Some((300, "thin_obstacles".into(), 1))
        );
        assert_eq!(
            parse_name("update-0000012-wide_obstacles-seed0.json"),
            Some((12, "wide_obstacles".into(), 0))
        );
        assert_eq!(parse_name("update-0000300-flat-seed0-4ep.json"), None);
        assert_eq!(parse_name("summary.json"), None);
    }

    fn write(dir: &Path, name: &str, episodes: u64, distance: f64) {
        let json = serde_json::json!({
            "task": "t", "episodes": episodes, "mean_distance": distance,
            "mean_collisions": 10.0, "fall_rate": 0.5, "mean_return": 1.0,
        });
        std::fs::write(dir.join(name), json.to_string()).unwrap();
    }

    #[test]
    fn seeds_pool_by_episodes_and_only_the_newest_update_counts() {
        let dir = std::env::temp_dir().join(format!("locomamba-final-eval-{}", std::process::id()));
        let eval = dir.join("eval");
        std::fs::create_dir_all(&eval).unwrap();
        write(&eval, "update-0000300-thin_obstacles-seed0.json", 10, 4.0);
        write(&eval, "update-0000300-thin_obstacles-seed1.json", 30, 8.0);
        write(
            &eval,
            "update-0000300-thin_obstacles-seed1-5ep.json",
            5,
            100.0,
        );
        write(&eval, "update-0000300-wide_obstacles-seed0.json", 10, 2.0);
        write(&eval, "update-0000200-thin_obstacles-seed0.json", 10, 50.0);
        let evals = read(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(evals.len(), 2);
        let thin = &evals[0];
        assert_eq!(
            (thin.task.as_str(), thin.update, thin.episodes),
            ("thin_obstacles", 300, 40)
        );
        assert_eq!(thin.seeds, [0, 1]);
        assert!((thin.values[0] - 7.0).abs() < 1e-12, "{:?}", thin.values);
        assert_eq!(evals[1].task, "wide_obstacles");
        assert_eq!(evals[1].values[0], 2.0);
    }
}
