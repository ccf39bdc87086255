//! The curriculum's level (0 = the easy start, 1 = the task; `[env.curriculum]`) and the rules
//! that move it between updates. The recipe maps a level to a difficulty
//! ([`EnvConfig::difficulty_at`](crate::recipe::EnvConfig::difficulty_at)); the level is saved in
//! checkpoints.

use crate::recipe::{CurriculumConfig, CurriculumDriver};
use crate::sim::EpisodeStats;

/// The level of a run that has collected `env_steps` env steps, for drivers that follow the
/// step count, and where a progress-driven curriculum starts.
pub fn level_at_steps(cfg: &CurriculumConfig, env_steps: u64) -> f32 {
    match cfg.driver {
        CurriculumDriver::Off => 1.0,
        CurriculumDriver::Steps => (env_steps as f64 / cfg.steps.max(1) as f64).min(1.0) as f32,
        CurriculumDriver::Progress => 0.0,
    }
}

/// The level after an update that ended with `env_steps` env steps collected and finished the
/// training episodes `finished`, from the level `level` it ran at.
pub fn next_level(
    cfg: &CurriculumConfig,
    level: f32,
    env_steps: u64,
    finished: &[EpisodeStats],
) -> f32 {
    match cfg.driver {
        CurriculumDriver::Off | CurriculumDriver::Steps => level_at_steps(cfg, env_steps),
        CurriculumDriver::Progress => {
            if finished.is_empty() {
                return level;
            }
            let mean =
                finished.iter().map(|e| e.distance as f64).sum::<f64>() / finished.len() as f64;
            let promote = cfg.promote_distance as f64;
            let moved = if mean >= promote {
                level + cfg.level_step
            } else if mean < 0.5 * promote {
                level - cfg.level_step
            } else {
                level
            };
            moved.clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RewardTerms;

    fn episode(distance: f32) -> EpisodeStats {
        EpisodeStats {
            env: 0,
            episode_return: 0.0,
            length: 10,
            distance,
            collisions: 0,
            spheres: 0,
            fell: false,
            reached_end: false,
            reward_terms: RewardTerms::default(),
        }
    }

    #[test]
    fn steps_driver_follows_the_step_count() {
        let cfg = CurriculumConfig {
            driver: CurriculumDriver::Steps,
            steps: 100,
            ..CurriculumConfig::default()
        };
        assert_eq!(level_at_steps(&cfg, 0), 0.0);
        assert_eq!(next_level(&cfg, 0.0, 25, &[]), 0.25);
        assert_eq!(next_level(&cfg, 0.9, 500, &[episode(-3.0)]), 1.0);
        let off = CurriculumConfig::default();
        assert_eq!(next_level(&off, 0.0, 0, &[]), 1.0);
    }

    #[test]
    fn progress_driver_promotes_holds_and_demotes_within_bounds() {
        let cfg = CurriculumConfig {
            driver: CurriculumDriver::Progress,
            promote_distance: 4.0,
            level_step: 0.1,
            ..CurriculumConfig::default()
        };
        let far = [episode(5.0), episode(3.5)];
        assert!((next_level(&cfg, 0.5, 0, &far) - 0.6).abs() < 1e-6);
        assert_eq!(next_level(&cfg, 0.5, 0, &[episode(3.0)]), 0.5);
        assert!((next_level(&cfg, 0.5, 0, &[episode(1.0)]) - 0.4).abs() < 1e-6);
        assert_eq!(next_level(&cfg, 0.95, 0, &far), 1.0);
        assert_eq!(next_level(&cfg, 0.05, 0, &[episode(0.0)]), 0.0);
        assert_eq!(
            next_level(&cfg, 0.3, 0, &[]),
            0.3,
            "no finished episode: no change"
        );
    }
}
