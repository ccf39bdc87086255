//! GAE and returns against a hand-computed example with a time-limit end and a fall.

use locomamba::ppo::gae::{GaeInput, gae};

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} != {b:?}");
    }
}

/// Two envs, four steps, gamma 0.9, lambda 0.8. Env 0: time-limit end at step 1 (terminal value 2),
/// fall at step 3. Env 1: no end, bootstrapped from its last value 10.
///
/// Env 0 by hand: t3 fall: d = 1 - 0.8 = 0.2, A = 0.2. t2: d = 1 + 0.9*0.8 - 0.7 = 1.02,
/// A = 1.02 + 0.72*0.2 = 1.164. t1 time limit: d = 1 + 0.9*2 - 0.6 = 2.2, A = 2.2 (no carry).
/// t0: d = 1 + 0.9*0.6 - 0.5 = 1.04, A = 1.04 + 0.72*2.2 = 2.624.
/// Env 1: t3: d = 1 + 0.9*10 = 10; then 7.2, 5.184, 3.73248.
#[test]
fn hand_computed_example() {
    let rewards = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    let values = [0.5, 0.0, 0.6, 0.0, 0.7, 0.0, 0.8, 0.0];
    let terminated = [false, false, false, false, false, false, true, false];
    let truncated = [false, false, true, false, false, false, false, false];
    let terminal_values = [0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let input = GaeInput {
        envs: 2,
        rewards: &rewards,
        values: &values,
        terminated: &terminated,
        truncated: &truncated,
        terminal_values: &terminal_values,
        last_values: &[99.0, 10.0],
    };
    let (adv, ret) = gae(&input, 0.9, 0.8, true);
    close(&adv, &[2.624, 3.73248, 2.2, 5.184, 1.164, 7.2, 0.2, 10.0]);
    close(&ret, &[3.124, 3.73248, 2.8, 5.184, 1.864, 7.2, 1.0, 10.0]);

    // Without time-limit bootstrapping the time-limit end counts as a plain end:
    // t1: d = 1 - 0.6 = 0.4; t0: 1.04 + 0.72*0.4 = 1.328.
    let (adv, _) = gae(&input, 0.9, 0.8, false);
    close(&[adv[0], adv[2]], &[1.328, 0.4]);
}

#[test]
fn lambda_one_gives_discounted_returns_minus_values() {
    let rewards = [1.0, 2.0, 3.0];
    let values = [0.3, 0.2, 0.1];
    let none = [false; 3];
    let input = GaeInput {
        envs: 1,
        rewards: &rewards,
        values: &values,
        terminated: &none,
        truncated: &none,
        terminal_values: &[0.0; 3],
        last_values: &[4.0],
    };
    let (adv, ret) = gae(&input, 0.5, 1.0, true);
    let r2 = 3.0 + 0.5 * 4.0;
    let r1 = 2.0 + 0.5 * r2;
    let r0 = 1.0 + 0.5 * r1;
    close(&ret, &[r0, r1, r2]);
    close(&adv, &[r0 - 0.3, r1 - 0.2, r2 - 0.1]);
}
