//! Contact queries on the physics world: which robot colliders touch what.

use rapier3d::prelude::*;

/// Whether any of `colliders` is in active contact with a collider whose tag (`user_data`) is
/// one of `tags`.
pub fn touching(world: &PhysicsWorld, colliders: &[ColliderHandle], tags: &[u128]) -> bool {
    colliders.iter().any(|&c| {
        world.contact_pairs_with(c).any(|pair| {
            let other = if pair.collider1 == c {
                pair.collider2
            } else {
                pair.collider1
            };
            pair.has_any_active_contact()
                && world
                    .colliders
                    .get(other)
                    .is_some_and(|o| tags.contains(&o.user_data))
        })
    })
}
