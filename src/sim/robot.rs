//! The Unitree A1 as a rapier multibody: trunk root, 4 legs x (abduction, hip, knee) revolute joints
//! with force-based position motors (PD: `Kp (q* - q) - Kd qdot`, clamped at the torque limit).
//!
//! World frame: z up, x forward. Leg order FR, FL, RR, RL; joint order per leg abduction, hip, knee.

use rapier3d::prelude::*;

/// Trunk box size (x, y, z) in metres.
pub const TRUNK_SIZE: [f32; 3] = [0.267, 0.194, 0.114];
/// Trunk mass in kg.
pub const TRUNK_MASS: f32 = 4.713;
/// Hip (abduction joint) positions in the trunk frame, per leg.
pub const HIP_POS: [[f32; 2]; 4] = [
    [0.183, -0.047],
    [0.183, 0.047],
    [-0.183, -0.047],
    [-0.183, 0.047],
];
/// Lateral offset hip-to-thigh (sign follows the side).
pub const THIGH_OFFSET: f32 = 0.085;
/// Thigh and calf length in metres.
pub const LINK_LEN: f32 = 0.2;
/// Hip (abduction) link mass.
pub const HIP_MASS: f32 = 0.696;
/// Thigh mass.
pub const THIGH_MASS: f32 = 1.013;
/// Calf mass (foot included).
pub const CALF_MASS: f32 = 0.166;
/// Foot sphere radius.
pub const FOOT_RADIUS: f32 = 0.02;
/// Joint limits per leg joint (abduction, hip, knee).
pub const JOINT_LIMITS: [[f32; 2]; 3] = [[-0.80, 0.80], [-1.05, 4.19], [-2.70, -0.92]];
/// Motor torque limit in Nm.
pub const TORQUE_LIMIT: f32 = 33.5;
/// Standing pose per leg.
pub const STAND_POSE: [f32; 3] = [0.0, 0.9, -1.8];
/// Trunk start height.
pub const START_HEIGHT: f32 = 0.32;

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
    /// Foot friction coefficient.
    pub foot_friction: f32,
    /// Proportional gain.
    pub kp: f32,
    /// Derivative gain.
    pub kd: f32,
    /// Action latency in physics sub-steps.
    pub latency_steps: usize,
}

impl RobotParams {
    /// The Python original's nominal parameters with the given friction.
    pub fn nominal(friction: f32) -> Self {
        Self {
            mass_scale: 1.0,
            inertia_scale: 1.0,
            motor_strength: 1.0,
            joint_friction: 0.0,
            foot_friction: friction,
            kp: 80.0,
            kd: 0.4,
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
    /// Parameters used to build it.
    pub params: RobotParams,
}

fn mass_props(mass: f32, half: Vector, p: &RobotParams) -> MassProperties {
    let m = mass * p.mass_scale;
    let i = Vector::new(
        m * (half.y * half.y + half.z * half.z) / 3.0,
        m * (half.x * half.x + half.z * half.z) / 3.0,
        m * (half.x * half.x + half.y * half.y) / 3.0,
    ) * p.inertia_scale;
    MassProperties::new(Vector::ZERO, m, i)
}

fn robot_groups() -> InteractionGroups {
    InteractionGroups::new(ROBOT_GROUP, WORLD_GROUP, InteractionTestMode::And)
}

impl Robot {
    /// Inserts the robot at `(x, y, START_HEIGHT)` in the standing pose.
    pub fn build(world: &mut PhysicsWorld, x: f32, y: f32, params: RobotParams) -> Robot {
        let base = Vector::new(x, y, START_HEIGHT);
        let half = Vector::from(TRUNK_SIZE) * 0.5;
        let trunk = world.insert_body(
            RigidBodyBuilder::dynamic()
                .translation(base)
                .additional_mass_properties(mass_props(TRUNK_MASS, half, &params)),
        );
        let mut body_colliders = Vec::new();
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
        let max_force = TORQUE_LIMIT * params.motor_strength;
        for hp in HIP_POS.iter() {
            let side = if hp[1] < 0.0 { -1.0 } else { 1.0 };
            // Link frames at zero configuration (all joint angles 0, legs straight down).
            let offsets = [
                Vector::new(hp[0], hp[1], 0.0),
                Vector::new(0.0, side * THIGH_OFFSET, 0.0),
                Vector::new(0.0, 0.0, -LINK_LEN),
            ];
            let leg_axes = [Vector::X, Vector::Y, Vector::Y];
            let masses = [HIP_MASS, THIGH_MASS, CALF_MASS];
            let mut parent = trunk;
            let mut pos = base;
            for j in 0..3 {
                pos += offsets[j];
                let lim = JOINT_LIMITS[j];
                let shape_half = if j == 0 {
                    Vector::new(0.04, 0.04, 0.04)
                } else {
                    Vector::new(0.02, 0.015, LINK_LEN * 0.5)
                };
                let body = world.insert_body(
                    RigidBodyBuilder::dynamic()
                        .translation(pos)
                        .additional_mass_properties(mass_props(masses[j], shape_half, &params)),
                );
                if j >= 1 {
                    let c = ColliderBuilder::capsule_z(LINK_LEN * 0.5 - 0.02, 0.015)
                        .translation(Vector::new(0.0, 0.0, -LINK_LEN * 0.5))
                        .density(0.0)
                        .collision_groups(robot_groups())
                        .user_data(TAG_ROBOT_BODY);
                    if j == 1 {
                        body_colliders.push(world.insert_collider(c, Some(body)));
                    } else {
                        // Calf: shin capsule stops short of the foot, the foot is a sphere.
                        let shin = ColliderBuilder::capsule_z(LINK_LEN * 0.5 - 0.04, 0.013)
                            .translation(Vector::new(0.0, 0.0, -LINK_LEN * 0.45))
                            .density(0.0)
                            .collision_groups(robot_groups())
                            .user_data(TAG_ROBOT_BODY);
                        body_colliders.push(world.insert_collider(shin, Some(body)));
                        world.insert_collider(
                            ColliderBuilder::ball(FOOT_RADIUS)
                                .translation(Vector::new(0.0, 0.0, -LINK_LEN))
                                .density(0.0)
                                .friction(params.foot_friction)
                                .collision_groups(robot_groups())
                                .user_data(TAG_FOOT),
                            Some(body),
                        );
                    }
                }
                let target = STAND_POSE[j];
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
            params,
        };
        robot.set_initial_pose(world);
        robot
    }

    fn set_initial_pose(&self, world: &mut PhysicsWorld) {
        for (k, h) in self.joints.iter().enumerate() {
            let link = world
                .multibody_joints
                .get_mut(*h)
                .and_then(|(mb, id)| mb.link_mut(id));
            if let Some(l) = link {
                l.joint.apply_displacement(&[STAND_POSE[k % 3]]);
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
                TORQUE_LIMIT * p.motor_strength,
            )
        } else {
            (0.0, p.joint_friction, 0.0)
        };
        for (k, h) in self.joints.iter().enumerate() {
            let link = world
                .multibody_joints
                .get_mut(*h)
                .and_then(|(mb, id)| mb.link_mut(id));
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
            let mut ang = 2.0 * s.atan2(rel.w);
            if ang > std::f32::consts::PI {
                ang -= 2.0 * std::f32::consts::PI;
            } else if ang < -std::f32::consts::PI {
                ang += 2.0 * std::f32::consts::PI;
            }
            q[k] = ang;
            let axis_w = *pb.rotation() * a;
            qd[k] = (cb.angvel() - pb.angvel()).dot(axis_w);
        }
    }
}
