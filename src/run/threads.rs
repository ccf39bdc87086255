//! Where a command's work runs: on a worker thread of a rayon pool.
//!
//! A parallel loop started on one of a pool's workers is split and joined by the workers
//! themselves. Started from any other thread (the process's main thread, say), the loop is handed
//! to the pool and its caller sleeps until a worker wakes it, once per loop. A training step starts
//! hundreds of loops (every layer's kernels), and those wake-ups cost 8-18% of a step at 2
//! threads. So the runner runs every command on a pool ([`on_pool`]), and each of a sweep's
//! workers runs its jobs on a pool of its own. Results do not depend on it: the kernels split work the same way on any
//! thread.

use rayon::{ThreadPoolBuildError, ThreadPoolBuilder};

/// Stack of each worker of [`on_pool`]: the 8 MiB a Linux main thread gets, since any command's
/// work (a report's plots, a schema, a migration) may now run there.
pub const WORKER_STACK_BYTES: usize = 8 << 20;

/// Runs `work` on a worker of a new rayon pool of `threads` threads (`None`: rayon's default,
/// `RAYON_NUM_THREADS` or one per core) and returns its result; the pool ends with it.
///
/// # Errors
/// When the operating system refuses the pool's threads.
pub fn on_pool<R: Send>(
    threads: Option<usize>,
    work: impl FnOnce() -> R + Send,
) -> Result<R, ThreadPoolBuildError> {
    let mut builder = ThreadPoolBuilder::new().stack_size(WORKER_STACK_BYTES);
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    Ok(builder.build()?.install(work))
}

#[cfg(test)]
mod tests {
    use super::on_pool;

    #[test]
    fn work_runs_on_a_worker_of_a_pool_of_the_given_size() {
        let (index, threads) = on_pool(Some(3), || {
            (rayon::current_thread_index(), rayon::current_num_threads())
        })
        .expect("a pool");
        assert!(index.is_some(), "the work ran outside the pool");
        assert_eq!(threads, 3);
        assert_eq!(rayon::current_thread_index(), None);
    }
}
