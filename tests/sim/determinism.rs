//! Same seed => bitwise identical trajectories with 1 or 2 threads, and across snapshot/restore.

use locomamba::recipe::{EnvConfig, Task};
use locomamba::sim::VecEnv;
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
