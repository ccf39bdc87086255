//! One trainer per run folder: `<run>/lock` names the process training it (host, pid, and its
//! Slurm array task when there is one). A lock left by a dead process on this host, or by an
//! earlier attempt of the same Slurm task (requeued, perhaps onto another node), is taken over;
//! one held by a live process, or by a process on another host that cannot be checked, is
//! reported. The lock is removed when training ends.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Name of the lock file in a run folder.
pub const LOCK_FILE: &str = "lock";

/// Who holds a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOwner {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// `<array job id>_<task id>` under a Slurm job array, else `None`.
    #[serde(default)]
    pub slurm_task: Option<String>,
}

impl LockOwner {
    /// This process.
    pub fn current() -> LockOwner {
        LockOwner {
            host: hostname(),
            pid: std::process::id(),
            slurm_task: slurm_task(),
        }
    }

    /// Whether this owner is gone, so its lock may be taken over by `me`.
    fn is_stale_for(&self, me: &LockOwner) -> bool {
        if self.slurm_task.is_some() && self.slurm_task == me.slurm_task {
            // An earlier attempt of this very Slurm task: Slurm runs one attempt at a time.
            return true;
        }
        self.host == me.host && self.pid != me.pid && !process_alive(self.pid)
    }
}

/// A run is being trained by someone else.
#[derive(Debug, Error)]
pub enum LockError {
    /// Held by a live process on this host.
    #[error(
        "{path}: this run is being trained by process {} on this host ({}); wait for it, or stop it",
        owner.pid, owner.host
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Its holder.
        owner: LockOwner,
    },
    /// Held by a process on another host.
    #[error(
        "{path}: this run is locked by process {} on host {}, which cannot be checked from here; \
         if that process is gone, delete the lock file",
        owner.pid, owner.host
    )]
    OtherHost {
        /// The lock file.
        path: PathBuf,
        /// Its holder.
        owner: LockOwner,
    },
    /// The lock file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A held lock; dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// The holder of `run_dir`'s lock, if its file exists and parses.
pub fn holder(run_dir: &Path) -> Option<LockOwner> {
    let text = std::fs::read_to_string(run_dir.join(LOCK_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Fails when `run_dir` is held by a live owner other than this process.
pub fn ensure_free(run_dir: &Path) -> Result<(), LockError> {
    let path = run_dir.join(LOCK_FILE);
    let me = LockOwner::current();
    match holder(run_dir) {
        Some(owner) if owner == me || owner.is_stale_for(&me) => Ok(()),
        Some(owner) if owner.host == me.host => Err(LockError::Busy { path, owner }),
        Some(owner) => Err(LockError::OtherHost { path, owner }),
        None => Ok(()),
    }
}

impl RunLock {
    /// Takes `run_dir`'s lock (the folder must exist), taking over a stale one.
    pub fn acquire(run_dir: &Path) -> Result<RunLock, LockError> {
        let path = run_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let me = LockOwner::current();
        let text = serde_json::to_string(&me).expect("owner serialises");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(text.as_bytes()).map_err(io)?;
                    file.sync_all().map_err(io)?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    ensure_free(run_dir)?;
                    // Stale (or unreadable, e.g. cut short by a crash): take it over.
                    std::fs::remove_file(&path).map_err(io)?;
                }
                Err(e) => return Err(io(e)),
            }
        }
        // Someone else created it between our removal and our creation.
        match holder(run_dir) {
            Some(owner) => Err(LockError::Busy { path, owner }),
            None => Err(io(std::io::Error::other("lock file keeps reappearing"))),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This host's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// `<array job id>_<task id>` from Slurm's environment, when this process is an array task.
pub fn slurm_task() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?;
    Some(format!("{job}_{task}"))
}

/// Whether process `pid` exists on this host (`/proc/<pid>`; a zombie counts as gone).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_released_on_drop_and_a_dead_owner_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(holder(dir.path()), Some(LockOwner::current()));
        // The same process may look (its own lock is not "busy").
        assert!(ensure_free(dir.path()).is_ok());
        drop(lock);
        assert!(holder(dir.path()).is_none(), "removed on drop");
        // A live process on this host (pid 1) holds it: busy.
        let live = LockOwner {
            pid: 1,
            slurm_task: None,
            ..LockOwner::current()
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&live).unwrap(),
        )
        .unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("being trained by process 1 on this host"),
            "{err}"
        );
        // A dead one (a pid beyond the kernel's limit): taken over.
        let dead = LockOwner {
            pid: u32::MAX - 1,
            ..live.clone()
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let _taken = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(holder(dir.path()).unwrap().pid, std::process::id());
    }

    #[test]
    fn a_lock_from_another_host_is_reported_unless_it_is_the_same_slurm_task() {
        let dir = tempfile::tempdir().unwrap();
        let other = LockOwner {
            host: "node-17".into(),
            pid: 4242,
            slurm_task: Some("99_3".into()),
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&other).unwrap(),
        )
        .unwrap();
        let err = ensure_free(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("locked by process 4242 on host node-17"),
            "{err}"
        );
        let me = LockOwner {
            slurm_task: Some("99_3".into()),
            ..LockOwner::current()
        };
        assert!(
            other.is_stale_for(&me),
            "a requeued attempt of the same task"
        );
    }
}
