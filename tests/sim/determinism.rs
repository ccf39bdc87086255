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

/// A free-floating chain of `links` revolute links driven by motors, stepped with upstream
/// rapier's arithmetic or the patch's: every body's pose and velocities, as bits, at every step.
fn chain_bits(links: usize, upstream: bool) -> Vec<u32> {
    use rapier3d::prelude::*;
    let mut world = PhysicsWorld::new();
    let base = world
        .insert(
            RigidBodyBuilder::dynamic().translation(Vector::new(0.0, 0.0, 3.0)),
            ColliderBuilder::cuboid(0.2, 0.1, 0.05),
        )
        .0;
    let (mut parent, mut bodies, mut joints) = (base, vec![base], Vec::new());
    for i in 0..links {
        let body = world
            .insert(
                RigidBodyBuilder::dynamic().translation(Vector::new(
                    0.0,
                    0.0,
                    3.0 - 0.2 * i as f32,
                )),
                ColliderBuilder::capsule_z(0.08, 0.03),
            )
            .0;
        let axis = [Vector::X, Vector::Y, Vector::Z][i % 3];
        let joint = RevoluteJointBuilder::new(axis)
            .local_anchor1(Vector::new(0.0, 0.0, -0.1))
            .local_anchor2(Vector::new(0.0, 0.0, 0.1))
            .limits([-1.0, 1.0])
            .contacts_enabled(false)
            .motor_model(MotorModel::ForceBased)
            .motor_position(0.3, 40.0, 1.0)
            .motor_max_force(20.0);
        joints.push(
            world
                .multibody_joints
                .insert(parent, body, joint, true)
                .expect("a chain is a tree"),
        );
        bodies.push(body);
        parent = body;
    }
    let (multibody, _) = world.multibody_joints.get_mut(joints[0]).unwrap();
    multibody.set_upstream_reference(upstream);
    let mut bits = Vec::new();
    for step in 0..120 {
        let target = 0.8 * (0.1 * step as f32).sin();
        for &j in &joints {
            let (multibody, link) = world.multibody_joints.get_mut(j).unwrap();
            let joint = &mut multibody.link_mut(link).unwrap().joint.data;
            joint.set_motor_position(JointAxis::AngX, target, 40.0, 1.0);
        }
        world.step();
        for &b in &bodies {
            let rb = &world.bodies[b];
            let (p, q) = (rb.translation(), rb.rotation());
            bits.extend([p.x, p.y, p.z, q.x, q.y, q.z, q.w].map(f32::to_bits));
            bits.extend(rb.linvel().to_array().map(f32::to_bits));
            bits.extend(rb.angvel().to_array().map(f32::to_bits));
        }
    }
    bits
}

/// Links deep in a long chain have supports of more columns than the patch's row-wise products
/// take (12); they go through nalgebra's routines on the compact buffers, the others through the
/// rows, and both must give upstream's bits.
#[test]
fn a_long_free_chain_reproduces_upstreams_arithmetic_bit_for_bit() {
    let patched = chain_bits(10, false);
    let upstream = chain_bits(10, true);
    assert_eq!(patched.len(), upstream.len());
    let first_difference = patched.iter().zip(&upstream).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "trajectories differ");
    let moved = patched[..19] != patched[patched.len() - 11 * 13..][..19];
    assert!(moved, "the chain moved");
}
