//! Grounds other than the plane, as height maps turned into triangle meshes: the `mountain`, the
//! rough field under the `heightfield` task's pillars, and the procedural `hill`.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rapier3d::prelude::*;

use super::{MOUNTAIN, Scene, world_groups};
use crate::sim::SimError;
use crate::sim::robot::TAG_GROUND;

/// A regular grid of ground heights: vertex `(i, j)` at `(x0 + i cell, y0 + j cell)`, heights
/// stored `[i * ny + j]`. Heights between vertices are interpolated bilinearly.
#[derive(Debug, Clone, PartialEq)]
pub struct HeightGrid {
    /// x of vertex column 0.
    pub x0: f32,
    /// y of vertex row 0.
    pub y0: f32,
    /// Spacing between vertices, both axes.
    pub cell: f32,
    /// Vertices along x.
    pub nx: usize,
    /// Vertices along y.
    pub ny: usize,
    /// Heights, `nx * ny`.
    pub heights: Vec<f32>,
}

impl HeightGrid {
    /// A grid whose vertex `(i, j)` has height `f(x, y)`.
    pub fn from_fn(
        x0: f32,
        y0: f32,
        cell: f32,
        nx: usize,
        ny: usize,
        mut f: impl FnMut(usize, usize) -> f32,
    ) -> Self {
        let mut heights = Vec::with_capacity(nx * ny);
        for i in 0..nx {
            for j in 0..ny {
                heights.push(f(i, j));
            }
        }
        Self {
            x0,
            y0,
            cell,
            nx,
            ny,
            heights,
        }
    }

    /// Height at `(x, y)`, clamped to the grid's edge outside it.
    pub fn height(&self, x: f32, y: f32) -> f32 {
        let fx = ((x - self.x0) / self.cell).clamp(0.0, (self.nx - 1) as f32);
        let fy = ((y - self.y0) / self.cell).clamp(0.0, (self.ny - 1) as f32);
        let (i, j) = (
            (fx as usize).min(self.nx - 2),
            (fy as usize).min(self.ny - 2),
        );
        let (tx, ty) = (fx - i as f32, fy - j as f32);
        let h = |a: usize, b: usize| self.heights[a * self.ny + b];
        let low = h(i, j) * (1.0 - tx) + h(i + 1, j) * tx;
        let high = h(i, j + 1) * (1.0 - tx) + h(i + 1, j + 1) * tx;
        low * (1.0 - ty) + high * ty
    }

    /// Makes the grid the scene's ground: a static collider and the height map of
    /// [`Scene::ground_height`].
    fn install(
        self,
        world: &mut PhysicsWorld,
        friction: f32,
        scene: &mut Scene,
    ) -> Result<(), SimError> {
        self.insert(world, friction)?;
        scene.ground = Some(self);
        Ok(())
    }

    /// The grid as a static ground collider (two triangles per cell).
    fn insert(&self, world: &mut PhysicsWorld, friction: f32) -> Result<(), SimError> {
        let mut verts = Vec::with_capacity(self.nx * self.ny);
        for i in 0..self.nx {
            for j in 0..self.ny {
                let x = self.x0 + self.cell * i as f32;
                let y = self.y0 + self.cell * j as f32;
                verts.push(Vector::new(x, y, self.heights[i * self.ny + j]));
            }
        }
        let mut idx = Vec::with_capacity(2 * (self.nx - 1) * (self.ny - 1));
        let n = self.ny as u32;
        for i in 0..self.nx as u32 - 1 {
            for j in 0..n - 1 {
                let a = i * n + j;
                let b = a + n;
                idx.push([a, b, a + 1]);
                idx.push([a + 1, b, b + 1]);
            }
        }
        let c = ColliderBuilder::trimesh(verts, idx)
            .map_err(|e| SimError::Terrain(format!("{e:?}")))?
            .friction(friction)
            .collision_groups(world_groups())
            .user_data(TAG_GROUND);
        world.insert_collider(c, None);
        Ok(())
    }
}

/// `mountain`: a Gaussian hill of height 2 m and width 5 m with its summit at (12, 0), over a
/// 36 x 36 m mesh of 0.6 m cells. (The original's `mount` heightmap image is 51.2 m square with a
/// goal at (4, 11.5, 3.5); this hill is a procedural stand-in.)
pub fn build_mountain(
    world: &mut PhysicsWorld,
    friction: f32,
    scene: &mut Scene,
) -> Result<(), SimError> {
    let [cx, cy, h, w] = MOUNTAIN;
    let grid = HeightGrid::from_fn(-6.0, -18.0, 0.6, 61, 61, |i, j| {
        let (x, y) = (-6.0 + 0.6 * i as f32, -18.0 + 0.6 * j as f32);
        let r2 = (x - cx).powi(2) + (y - cy).powi(2);
        h * (-r2 / (2.0 * w * w)).exp()
    });
    grid.install(world, friction, scene)
}

/// The `heightfield` task's ground: 512 x 64 vertices 0.12 m apart (61.44 x 7.68 m centred at the
/// origin), heights drawn from 0-0.1 m per 2 x 2 vertices, and a flat 20 x 20 patch at the start.
pub fn build_rough_field(
    world: &mut PhysicsWorld,
    friction: f32,
    rng: &mut ChaCha8Rng,
    scene: &mut Scene,
) -> Result<(), SimError> {
    let (nx, ny, cell) = (512usize, 64usize, 0.12f32);
    let blocks: Vec<f32> = (0..(nx / 2) * (ny / 2))
        .map(|_| rng.random_range(0.0..0.1))
        .collect();
    let (ci, cj) = (nx / 2, ny / 2);
    let grid = HeightGrid::from_fn(
        -cell * (nx / 2) as f32,
        -cell * (ny / 2) as f32,
        cell,
        nx,
        ny,
        |i, j| {
            let flat = i.abs_diff(ci) < 10 && j.abs_diff(cj) < 10;
            if flat {
                0.0
            } else {
                blocks[(i / 2) * (ny / 2) + j / 2]
            }
        },
    );
    grid.install(world, friction, scene)
}

/// `hill`: 16 Gaussian bumps (heights 0.3-1.5 m, widths 2-5 m) over a 60 x 60 m mesh of 0.5 m
/// cells from x = -10, the start in its middle. (The original's `random_hill` loads a heightmap
/// that its repository does not ship; this is a procedural stand-in of similar size.)
pub fn build_hill(
    world: &mut PhysicsWorld,
    friction: f32,
    rng: &mut ChaCha8Rng,
    scene: &mut Scene,
) -> Result<(), SimError> {
    let bumps: Vec<[f32; 4]> = (0..16)
        .map(|_| {
            [
                rng.random_range(-8.0..48.0),
                rng.random_range(-28.0..28.0),
                rng.random_range(0.3..1.5),
                rng.random_range(2.0..5.0),
            ]
        })
        .collect();
    let grid = HeightGrid::from_fn(-10.0, -30.0, 0.5, 121, 121, |i, j| {
        let (x, y) = (-10.0 + 0.5 * i as f32, -30.0 + 0.5 * j as f32);
        bumps
            .iter()
            .map(|[bx, by, h, w]| {
                let r2 = (x - bx).powi(2) + (y - by).powi(2);
                h * (-r2 / (2.0 * w * w)).exp()
            })
            .sum()
    });
    grid.install(world, friction, scene)
}
