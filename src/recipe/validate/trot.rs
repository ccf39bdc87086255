//! The rules of `[env.trot]`'s modulation: ranges that keep the trot's frequency positive, an
//! exploration std, and a trot to modulate at all (the gait prior's action mode).

use super::Checker;
use crate::recipe::types::{ActionMode, EnvConfig};

/// Checks the trot's modulation keys.
pub(super) fn check_trot(c: &mut Checker, env: &EnvConfig) {
    let trot = &env.trot;
    c.check(
        (0.0..1.0).contains(&trot.frequency_range),
        "env.trot.frequency_range",
        trot.frequency_range,
        "a fraction in [0, 1) (the frequency stays positive)",
    );
    c.check(
        (0.0..=1.0).contains(&trot.amplitude_range),
        "env.trot.amplitude_range",
        trot.amplitude_range,
        "a fraction in [0, 1]",
    );
    c.check(
        trot.modulation_std == 0.0 || (1e-3..=2.0).contains(&trot.modulation_std),
        "env.trot.modulation_std",
        trot.modulation_std,
        "0 (ppo.init_log_std's) or a standard deviation in [0.001, 2]",
    );
    c.check(
        env.action_mode == ActionMode::TrotResidual
            || (trot.frequency_range == 0.0 && trot.amplitude_range == 0.0),
        "env.trot",
        "frequency_range or amplitude_range > 0 with env.action_mode = \"joint_targets\"",
        "env.action_mode = \"trot_residual\" (only the gait prior has a trot to modulate)",
    );
}
