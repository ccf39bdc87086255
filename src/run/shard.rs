//! Splitting a sweep over machines or Slurm array tasks: the grid (variants x seeds, in order) is
//! frozen in `runs/<exp>/sweep.json` at first use, so every shard and every later run agrees on
//! which item is which; shard `K/N` runs the items `i % N == K`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::atomic::write_atomic;

/// Name of the frozen grid in an experiment folder.
pub const GRID_FILE: &str = "sweep.json";

/// `--shard K/N`: this process runs the items `i % N == K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 0.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?}: expected K/N with 0 <= K < N, such as 0/4");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether item `i` of the grid belongs to this shard.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

/// One item of a frozen grid: a run folder to train.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridItem {
    /// Variant folder.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// What distinguishes the variant (`sequence.model = "mamba"`), for summaries.
    pub differs: String,
}

impl GridItem {
    /// The run folder below the experiment folder (`<variant>/seed-<n>`).
    pub fn run(&self) -> String {
        format!("{}/seed-{}", self.variant, self.seed)
    }
}

/// `sweep.json`: the sweep's items in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// The items.
    pub items: Vec<GridItem>,
}

/// The frozen grid and the recipe's disagree, or the file cannot be used.
#[derive(Debug, Error)]
pub enum GridError {
    /// The recipe's grid differs from the frozen one.
    #[error(
        "{path} froze a grid of {frozen} runs ({frozen_list}); this recipe gives {now} ({now_list}). \
         Shards must agree on the grid: use another experiment name, or delete {path} if no shard \
         of the old grid is still running"
    )]
    Changed {
        /// The grid file.
        path: PathBuf,
        /// Items frozen.
        frozen: usize,
        /// Their run folders, abridged.
        frozen_list: String,
        /// Items now.
        now: usize,
        /// Their run folders, abridged.
        now_list: String,
    },
    /// Reading, parsing or writing the grid failed.
    #[error("{path}: {message}")]
    File {
        /// The grid file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn abridged(items: &[GridItem]) -> String {
    let mut names: Vec<String> = items.iter().take(4).map(GridItem::run).collect();
    if items.len() > 4 {
        names.push(format!("... {} more", items.len() - 4));
    }
    names.join(", ")
}

/// Reads `experiment/sweep.json`, if there is one.
pub fn read_grid(experiment: &Path) -> Result<Option<Grid>, GridError> {
    let path = experiment.join(GRID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| GridError::File {
                path,
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(GridError::File {
            path,
            message: e.to_string(),
        }),
    }
}

/// Freezes `grid` in `experiment/sweep.json` at first use; later, refuses a grid that differs.
pub fn freeze(experiment: &Path, grid: &Grid) -> Result<(), GridError> {
    let path = experiment.join(GRID_FILE);
    match read_grid(experiment)? {
        Some(frozen) if frozen == *grid => Ok(()),
        Some(frozen) => Err(GridError::Changed {
            path,
            frozen: frozen.items.len(),
            frozen_list: abridged(&frozen.items),
            now: grid.items.len(),
            now_list: abridged(&grid.items),
        }),
        None => {
            let json = serde_json::to_string_pretty(grid).expect("grid serialises");
            write_atomic(&path, json.as_bytes()).map_err(|e| GridError::File {
                path,
                message: e.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(variant: &str, seed: u64) -> GridItem {
        GridItem {
            variant: variant.into(),
            seed,
            differs: String::new(),
        }
    }

    #[test]
    fn shards_parse_and_split_the_items_round_robin() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        let owned: Vec<usize> = (0..8).filter(|&i| s.owns(i)).collect();
        assert_eq!(owned, [1, 4, 7]);
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_grid_is_frozen_and_a_different_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let grid = Grid {
            items: vec![item("a", 0), item("a", 1)],
        };
        freeze(dir.path(), &grid).unwrap();
        freeze(dir.path(), &grid).unwrap();
        let other = Grid {
            items: vec![item("a", 0), item("a", 1), item("a", 2)],
        };
        let err = freeze(dir.path(), &other).unwrap_err().to_string();
        assert!(
            err.contains("froze a grid of 2 runs (a/seed-0, a/seed-1)"),
            "{err}"
        );
        assert!(err.contains("this recipe gives 3"), "{err}");
        assert_eq!(read_grid(dir.path()).unwrap(), Some(grid));
    }
}
