//! The Unitree A1 as a rapier multibody: trunk root, 4 legs x (abduction, hip, knee) revolute joints
//! with force-based position motors (PD: `Kp (q* - q) - Kd qdot`, clamped at the torque limit).
//!
//! World frame: z up, x forward. Leg order FR, FL, RR, RL; joint order per leg abduction, hip, knee.

use rapier3d::prelude::*;
use serde::Deserialize;

/// The robot description file, compiled in: `src/sim/a1.toml`.
pub const A1_TOML: &str = include_str!("a1.toml");

/// Trunk of a [`RobotDescription`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkDescription {
    /// Box size (x, y, z) in metres.
    pub size: [f32; 3],
    /// Mass in kg.
    pub mass: f32,
    /// Height of the trunk centre at reset.
    pub start_height: f32,
}

/// Legs of a [`RobotDescription`] (all four alike, mirrored by side).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegDescription {
    /// Abduction joint positions (x, y) in the trunk frame: FR, FL, RR, RL.
    pub hip_positions: [[f32; 2]; 4],
    /// Lateral offset hip-to-thigh (sign follows the side).
    pub thigh_offset: f32,
    /// Thigh and calf length in metres.
    pub link_length: f32,
    /// Hip (abduction) link mass.
    pub hip_mass: f32,
    /// Thigh mass.
    pub thigh_mass: f32,
    /// Calf mass (foot included).
    pub calf_mass: f32,
    /// Foot sphere radius.
    pub foot_radius: f32,
    /// Limits (low, high) per joint: abduction, hip, knee.
    pub joint_limits: [[f32; 2]; 3],
    /// Standing pose per leg (abduction, hip, knee).
    pub stand_pose: [f32; 3],
}

/// Motors of a [`RobotDescription`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotorDescription {
    /// Torque limit in Nm.
    pub torque_limit: f32,
    /// Nominal proportional gain.
    pub kp: f32,
    /// Nominal derivative gain.
    pub kd: f32,
}

/// The robot's geometry, masses, joint limits and motor constants, as read from [`A1_TOML`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotDescription {
    /// The trunk.
    pub trunk: TrunkDescription,
    /// The legs.
    pub leg: LegDescription,
    /// The motors.
    pub motor: MotorDescription,
}

/// The A1 description, parsed from [`A1_TOML`] on first use.
pub fn a1() -> &'static RobotDescription {
    static A1: std::sync::OnceLock<RobotDescription> = std::sync::OnceLock::new();
    A1.get_or_init(|| {
        toml::from_str(A1_TOML).expect("src/sim/a1.toml parses (checked by a unit test)")
    })
}

/// Collision group of robot bodies.
pub const ROBOT_GROUP: Group = Group::GROUP_1;
/// Collision group of terrain and obstacles.
pub const WORLD_GROUP: Group = Group::GROUP_2;
/// Collision group of collectable spheres (seen by the camera, touched by nothing).
pub const SPHERE_GROUP: Group = Group::GROUP_3;

/// Collider tag (user data) of robot bodies other than feet.
pub const TAG_ROBOT_BODY: u128 = 1;
/// Collider tag of feet.
pub const TAG_FOOT: u128 = 2;
/// Collider tag of obstacles (things a collision is counted against).
pub const TAG_OBSTACLE: u128 = 3;
/// Collider tag of ground and terrain.
pub const TAG_GROUND: u128 = 4;
/// Collider tag of spheres.
pub const TAG_SPHERE: u128 = 5;

/// Physical parameters drawn per episode (nominal without domain randomisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobotParams {
    /// Mass multiplier.
    pub mass_scale: f32,
    /// Inertia multiplier.
    pub inertia_scale: f32,
    /// Motor strength multiplier (scales the torque limit).
    pub motor_strength: f32,
    /// Joint friction (extra damping, Nm s/rad).
    pub joint_friction: f32,
    /// Foot friction coefficient; a contact's friction is this times the ground's (PyBullet's
    /// combine rule), so it acts as a multiplier of `env.friction` (1 when not randomised).
    pub foot_friction: f32,
    /// Proportional gain.
    pub kp: f32,
    /// Derivative gain.
    pub kd: f32,
    /// Action latency in physics sub-steps.
    pub latency_steps: usize,
}

impl RobotParams {
    /// The Python original's nominal parameters (the ground sets the friction).
    pub fn nominal() -> Self {
        Self {
            mass_scale: 1.0,
            inertia_scale: 1.0,
            motor_strength: 1.0,
            joint_friction: 0.0,
            foot_friction: 1.0,
            kp: a1().motor.kp,
            kd: a1().motor.kd,
            latency_steps: 0,
        }
    }
}

/// Handles of one robot inside a physics world.
#[derive(Debug, Clone)]
pub struct Robot {
    /// Trunk body (multibody root).
    pub trunk: RigidBodyHandle,
    /// Link bodies in joint order (leg-major).
    pub links: [RigidBodyHandle; 12],
    /// Joint handles in joint order.
    pub joints: [MultibodyJointHandle; 12],
    /// Joint axes in the parent frame.
    pub axes: [Vector; 12],
    /// Colliders of the robot that are not feet.
    pub body_colliders: Vec<ColliderHandle>,
    /// The foot colliders, in leg order (FR, FL, RR, RL).
    pub feet: [ColliderHandle; 4],
    /// Parameters used to build it.
    pub params: RobotParams,
}

/// Mass properties of a box-like link of half extents `half` with its centre of mass at `com`
/// (link frame), scaled by the episode's mass and inertia multipliers.
fn mass_props(mass: f32, com: Vector, half: Vector, p: &RobotParams) -> MassProperties {
    let m = mass * p.mass_scale;
    let i = Vector::new(
        m * (half.y * half.y + half.z * half.z) / 3.0,
        m * (half.x * half.x + half.z * half.z) / 3.0,
        m * (half.x * half.x + half.y * half.y) / 3.0,
    ) * p.inertia_scale;
    MassProperties::new(com, m, i)
}

/// The multibody link driven by joint `h`.
fn link_mut(world: &mut PhysicsWorld, h: MultibodyJointHandle) -> Option<&mut MultibodyLink> {
    world
        .multibody_joints
        .get_mut(h)
        .and_then(|(mb, id)| mb.link_mut(id))
}

fn robot_groups() -> InteractionGroups {
    InteractionGroups::new(ROBOT_GROUP, WORLD_GROUP, InteractionTestMode::And)
}

impl Robot {
    /// Inserts the robot at `(x, y, start height)` in the standing pose.
    pub fn build(world: &mut PhysicsWorld, x: f32, y: f32, params: RobotParams) -> Robot {
        let base = Vector::new(x, y, a1().trunk.start_height);
        let half = Vector::from(a1().trunk.size) * 0.5;
        let trunk = world.insert_body(
            RigidBodyBuilder::dynamic()
                .translation(base)
                .additional_mass_properties(mass_props(
                    a1().trunk.mass,
                    Vector::ZERO,
                    half,
                    &params,
                ))
                // The motors are re-targeted through the multibody, which does not wake bodies.
                .can_sleep(false),
        );
        let mut body_colliders = Vec::new();
        let mut feet = Vec::with_capacity(4);
        body_colliders.push(
            world.insert_collider(
                ColliderBuilder::cuboid(half.x, half.y, half.z)
                    .density(0.0)
                    .collision_groups(robot_groups())
                    .user_data(TAG_ROBOT_BODY),
                Some(trunk),
            ),
        );
        let mut links = Vec::with_capacity(12);
        let mut joints = Vec::with_capacity(12);
        let mut axes = Vec::with_capacity(12);
        let max_force = a1().motor.torque_limit * params.motor_strength;
        let leg = &a1().leg;
        for hp in leg.hip_positions.iter() {
            let side = if hp[1] < 0.0 { -1.0 } else { 1.0 };
            // Link frames at zero configuration (all joint angles 0, legs straight down).
            let offsets = [
                Vector::new(hp[0], hp[1], 0.0),
                Vector::new(0.0, side * leg.thigh_offset, 0.0),
                Vector::new(0.0, 0.0, -leg.link_length),
            ];
            let leg_axes = [Vector::X, Vector::Y, Vector::Y];
            let masses = [leg.hip_mass, leg.thigh_mass, leg.calf_mass];
            let mut parent = trunk;
            let mut pos = base;
            for j in 0..3 {
                pos += offsets[j];
                let lim = leg.joint_limits[j];
                // Hip links are compact; thigh and calf have their mass spread along the link.
                let (shape_half, com) = if j == 0 {
                    (Vector::new(0.04, 0.04, 0.04), Vector::ZERO)
                } else {
                    (
                        Vector::new(0.02, 0.015, leg.link_length * 0.5),
                        Vector::new(0.0, 0.0, -leg.link_length * 0.5),
                    )
                };
                let body = world.insert_body(
                    RigidBodyBuilder::dynamic()
                        .translation(pos)
                        .additional_mass_properties(mass_props(masses[j], com, shape_half, &params))
                        .can_sleep(false),
                );
                if j >= 1 {
                    let c = ColliderBuilder::capsule_z(leg.link_length * 0.5 - 0.02, 0.015)
                        .translation(Vector::new(0.0, 0.0, -leg.link_length * 0.5))
                        .density(0.0)
                        .collision_groups(robot_groups())
                        .user_data(TAG_ROBOT_BODY);
                    if j == 1 {
                        body_colliders.push(world.insert_collider(c, Some(body)));
                    } else {
                        // Calf: shin capsule stops short of the foot, the foot is a sphere.
                        let shin = ColliderBuilder::capsule_z(leg.link_length * 0.5 - 0.04, 0.013)
                            .translation(Vector::new(0.0, 0.0, -leg.link_length * 0.45))
                            .density(0.0)
                            .collision_groups(robot_groups())
                            .user_data(TAG_ROBOT_BODY);
                        body_colliders.push(world.insert_collider(shin, Some(body)));
                        feet.push(
                            world.insert_collider(
                                ColliderBuilder::ball(leg.foot_radius)
                                    .translation(Vector::new(0.0, 0.0, -leg.link_length))
                                    .density(0.0)
                                    .friction(params.foot_friction)
                                    .friction_combine_rule(CoefficientCombineRule::Multiply)
                                    .collision_groups(robot_groups())
                                    .user_data(TAG_FOOT),
                                Some(body),
                            ),
                        );
                    }
                }
                let target = leg.stand_pose[j];
                let joint = RevoluteJointBuilder::new(leg_axes[j])
                    .local_anchor1(offsets[j])
                    .local_anchor2(Vector::ZERO)
                    .limits(lim)
                    .contacts_enabled(false)
                    .motor_model(MotorModel::ForceBased)
                    .motor_position(target, params.kp, params.kd + params.joint_friction)
                    .motor_max_force(max_force);
                let h = world
                    .multibody_joints
                    .insert(parent, body, joint, true)
                    .expect("robot joints form a tree");
                links.push(body);
                joints.push(h);
                axes.push(leg_axes[j]);
                parent = body;
            }
        }
        let robot = Robot {
            trunk,
            links: links.try_into().expect("12 links"),
            joints: joints.try_into().expect("12 joints"),
            axes: axes.try_into().expect("12 axes"),
            body_colliders,
            feet: feet.try_into().expect("4 feet"),
            params,
        };
        robot.set_initial_pose(world);
        robot
    }

    fn set_initial_pose(&self, world: &mut PhysicsWorld) {
        for (k, h) in self.joints.iter().enumerate() {
            let link = link_mut(world, *h);
            if let Some(l) = link {
                l.joint.apply_displacement(&[a1().leg.stand_pose[k % 3]]);
            }
        }
        if let Some((mb, _)) = world.multibody_joints.get_mut(self.joints[0]) {
            mb.forward_kinematics(&world.bodies, true);
            mb.update_rigid_bodies(&mut world.bodies, false);
        }
    }

    /// Sets the 12 motor targets (radians) and the motors' on/off state.
    pub fn set_targets(&self, world: &mut PhysicsWorld, targets: &[f32; 12], motors_on: bool) {
        let p = &self.params;
        let (kp, kd, fmax) = if motors_on {
            (
                p.kp,
                p.kd + p.joint_friction,
                a1().motor.torque_limit * p.motor_strength,
            )
        } else {
            (0.0, p.joint_friction, 0.0)
        };
        for (k, h) in self.joints.iter().enumerate() {
            let link = link_mut(world, *h);
            if let Some(l) = link {
                l.joint
                    .data
                    .set_motor_position(JointAxis::AngX, targets[k], kp, kd)
                    .set_motor_max_force(JointAxis::AngX, fmax);
            }
        }
    }

    /// Joint angles and velocities, measured from the link bodies' relative motion.
    pub fn joint_state(&self, world: &PhysicsWorld, q: &mut [f32; 12], qd: &mut [f32; 12]) {
        for k in 0..12 {
            let parent = if k % 3 == 0 {
                self.trunk
            } else {
                self.links[k - 1]
            };
            let pb = &world.bodies[parent];
            let cb = &world.bodies[self.links[k]];
            let rel = pb.rotation().inverse() * *cb.rotation();
            let a = self.axes[k];
            let s = Vector::new(rel.x, rel.y, rel.z).dot(a);
            // Wrap into one turn centred on the middle of the joint's range (the hip's range
            // reaches past pi).
            let [lo, hi] = a1().leg.joint_limits[k % 3];
            let mid = 0.5 * (lo + hi);
            let tau = std::f32::consts::TAU;
            let ang = 2.0 * s.atan2(rel.w);
            q[k] = ang - tau * ((ang - mid) / tau).round();
            let axis_w = *pb.rotation() * a;
            qd[k] = (cb.angvel() - pb.angvel()).dot(axis_w);
        }
    }
}

#[cfg(test)]
mod description_tests {
    use super::*;

    #[test]
    fn a1_description_parses_with_the_public_facts() {
        let d = a1();
        assert_eq!(d.trunk.size, [0.267, 0.194, 0.114]);
        assert_eq!(d.leg.hip_positions[0], [0.183, -0.047]);
        assert_eq!(d.leg.joint_limits[2], [-2.70, -0.92]);
        assert_eq!(d.leg.stand_pose, [0.0, 0.9, -1.8]);
        assert_eq!(
            (d.motor.torque_limit, d.motor.kp, d.motor.kd),
            (33.5, 80.0, 0.4)
        );
        let total = d.trunk.mass + 4.0 * (d.leg.hip_mass + d.leg.thigh_mass + d.leg.calf_mass);
        assert!(
            (total - 12.2).abs() < 0.3,
            "A1 total mass about 12 kg, got {total}"
        );
    }
}
