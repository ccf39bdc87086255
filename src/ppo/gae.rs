//! Generalised advantage estimation over a rollout laid out `[step][env]`.
//!
//! A fall (`terminated`) ends the return: nothing is bootstrapped. A time-limit end (`truncated`)
//! is not a failure: the return is bootstrapped from the value of the terminal observation
//! (`terminal_value`), as the Python original's `time_limit_filter` does. Either way the next
//! step's values belong to a new episode, so the recursion restarts there.

/// One rollout's per-step signals, each `[steps * envs]`, row `t` holding env `0..envs`.
#[derive(Debug, Clone, Copy)]
pub struct GaeInput<'a> {
    /// Number of envs (row width).
    pub envs: usize,
    /// Reward received after the action at each step.
    pub rewards: &'a [f32],
    /// Value estimate of the observation the action was taken from.
    pub values: &'a [f32],
    /// The step ended the episode by a fall (no bootstrap).
    pub terminated: &'a [bool],
    /// The step ended the episode at the time limit (bootstrap from `terminal_values`).
    pub truncated: &'a [bool],
    /// Value of the terminal observation where `truncated`, ignored elsewhere.
    pub terminal_values: &'a [f32],
    /// Value of the observation after the last step, per env.
    pub last_values: &'a [f32],
}

/// Advantages and returns (`advantage + value`, the value targets), each `[steps * envs]`.
pub fn gae(
    input: &GaeInput,
    discount: f32,
    lambda: f32,
    bootstrap_time_limits: bool,
) -> (Vec<f32>, Vec<f32>) {
    let n = input.rewards.len();
    let envs = input.envs;
    assert!(
        envs > 0 && n.is_multiple_of(envs),
        "rollout length {n} is not a multiple of {envs} envs"
    );
    for (name, len) in [
        ("values", input.values.len()),
        ("terminated", input.terminated.len()),
        ("truncated", input.truncated.len()),
        ("terminal_values", input.terminal_values.len()),
    ] {
        assert_eq!(len, n, "gae: {name} has {len} entries, rewards {n}");
    }
    assert_eq!(
        input.last_values.len(),
        envs,
        "gae: last_values must have one entry per env"
    );
    let steps = n / envs;
    let mut advantages = vec![0.0; n];
    let mut running = vec![0.0f32; envs];
    for t in (0..steps).rev() {
        for (e, carry_e) in running.iter_mut().enumerate() {
            let i = t * envs + e;
            let episode_ended = input.terminated[i] || input.truncated[i];
            let next_value = if input.terminated[i] {
                0.0
            } else if input.truncated[i] {
                if bootstrap_time_limits {
                    input.terminal_values[i]
                } else {
                    0.0
                }
            } else if t + 1 < steps {
                input.values[i + envs]
            } else {
                input.last_values[e]
            };
            let delta = input.rewards[i] + discount * next_value - input.values[i];
            let carry = if episode_ended { 0.0 } else { *carry_e };
            *carry_e = delta + discount * lambda * carry;
            advantages[i] = *carry_e;
        }
    }
    let returns = advantages
        .iter()
        .zip(input.values)
        .map(|(a, v)| a + v)
        .collect();
    (advantages, returns)
}
