//! Stopping cleanly: Ctrl-C (SIGINT), a Slurm time-limit warning (SIGUSR1) and preemption or
//! `scancel` (SIGTERM) all raise one flag that the training loop checks between updates; running
//! jobs then write a checkpoint and stop. A second Ctrl-C exits at once.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use signal_hook::consts::{SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

/// Raised to stop: running jobs checkpoint and return.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// The last SIGUSR1 or SIGTERM received (0 for none, or Ctrl-C only).
static LAST: AtomicI32 = AtomicI32::new(0);

/// Installs the handlers (once per process).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: writing checkpoints, then stopping (Ctrl-C again to quit at once)");
    });
    match Signals::new([SIGUSR1, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    LAST.store(signal, Ordering::SeqCst);
                    STOP.store(true, Ordering::SeqCst);
                    let what = if signal == SIGUSR1 {
                        "SIGUSR1 (time limit near)"
                    } else {
                        "SIGTERM"
                    };
                    eprintln!("\n{what}: writing checkpoints, then stopping");
                }
            });
        }
        Err(e) => eprintln!("warning: cannot watch SIGUSR1/SIGTERM: {e}"),
    }
}

/// Whether the stop came from Slurm's time-limit warning.
pub fn time_limit_warned() -> bool {
    LAST.load(Ordering::SeqCst) == SIGUSR1
}
