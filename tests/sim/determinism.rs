//! Same seed => bitwise identical trajectories with 1 or 2 threads, across snapshot/restore, and
//! with the vendored rapier's patch or upstream's arithmetic.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::joints::action_dim;
use locomamba::sim::{Env, VecEnv};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn cfg() -> EnvConfig {
    EnvConfig {
        task: Task::ThinObstacles,
        num_envs: 2,
        horizon: 60,
        ..EnvConfig::default()
    }
}

fn run(threads: usize, steps: usize) -> (Vec<f32>, Vec<f32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let c = cfg();
        let mut v = VecEnv::new(&c, 42).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut acts = vec![0.0f32; c.num_envs * v.spec().action_dim];
        let mut proprio = Vec::new();
        let mut rewards = Vec::new();
        for _ in 0..steps {
            acts.iter_mut()
                .for_each(|a| *a = rng.random_range(-2.0..2.0));
            let out = v.step(&acts);
            rewards.extend_from_slice(&out.reward);
            proprio.extend_from_slice(v.proprio());
        }
        let d = v.depth();
        proprio.extend_from_slice(&d[..64]);
        (proprio, rewards)
    })
}

#[test]
fn one_and_two_threads_agree_bitwise() {
    let a = run(1, 100);
    let b = run(2, 100);
    assert!(
        a.0.iter()
            .zip(&b.0)
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
    assert!(
        a.1.iter()
            .zip(&b.1)
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
    assert!(a.0.iter().any(|&x| x != a.0[0]), "observations vary");
}

#[test]
fn snapshot_restore_continues_identically() {
    let c = cfg();
    let mut v = VecEnv::new(&c, 9).unwrap();
    let ad = v.spec().action_dim;
    let acts: Vec<f32> = (0..c.num_envs * ad)
        .map(|k| (k as f32 * 0.37).sin())
        .collect();
    for _ in 0..70 {
        v.step(&acts);
    }
    let snap = v.snapshot();
    let json = serde_json::to_string(&snap).unwrap();
    let snap2 = serde_json::from_str(&json).unwrap();
    let mut w = VecEnv::restore(&c, &snap2).unwrap();
    assert_eq!(v.proprio(), w.proprio());
    for _ in 0..10 {
        let r1 = v.step(&acts).reward.clone();
        let r2 = w.step(&acts).reward.clone();
        assert_eq!(r1, r2);
        assert_eq!(v.proprio(), w.proprio());
        assert_eq!(v.depth(), w.depth());
    }
    let mut bad = c.clone();
    bad.num_envs = 3;
    let err = VecEnv::restore(&bad, &snap).err().unwrap();
    assert!(err.to_string().contains("snapshot has 2 envs"));
}

/// One episode of random actions on a randomised robot, every step's observation and trunk pose as
/// bits, with upstream rapier's arithmetic (`upstream`) or the vendored patch's (vendor/README.md:
/// the mass matrix formed over each link's support, a joint axis's constraint row solved once).
fn trajectory_bits(upstream: bool) -> Vec<u32> {
    let c = EnvConfig {
        task: Task::ThinObstacles,
        horizon: 150,
        ..EnvConfig::default()
    };
    let mut env = Env::new(&c, 11, 1.0).unwrap();
    let trunk_joint = env.robot().joints[0];
    let (multibody, _) = env
        .world_mut()
        .multibody_joints
        .get_mut(trunk_joint)
        .expect("the robot is a multibody");
    multibody.set_upstream_reference(upstream);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut acts = vec![0.0f32; action_dim(&c)];
    let mut bits = Vec::new();
    for _ in 0..c.horizon {
        acts.iter_mut()
            .for_each(|a| *a = rng.random_range(-1.5..1.5));
        let out = env.step(&acts);
        bits.extend(env.proprio().iter().map(|x| x.to_bits()));
        let pose = env.trunk_pose();
        let (p, q) = (pose.translation, pose.rotation);
        bits.extend([p.x, p.y, p.z, q.x, q.y, q.z, q.w].map(f32::to_bits));
        bits.push(out.reward.to_bits());
        if out.terminated || out.truncated {
            break;
        }
    }
    bits
}

#[test]
fn the_patched_rapier_reproduces_upstreams_arithmetic_bit_for_bit() {
    let patched = trajectory_bits(false);
    let upstream = trajectory_bits(true);
    assert!(
        patched.len() > 40 * 50,
        "the episode ran ({} values)",
        patched.len()
    );
    let first_difference = patched.iter().zip(&upstream).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "trajectories differ");
    assert_eq!(patched.len(), upstream.len());
}
