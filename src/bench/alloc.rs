//! The `runner` binary's global allocator: mimalloc, plus two atomic counters so benchmarks can
//! report the peak heap memory of a step. Where it is not installed (library tests), [`installed`]
//! is false and benchmarks print no memory column values.
//!
//! Why mimalloc: the networks allocate activations of tens of megabytes per op; glibc serves
//! blocks over 32 MB with fresh `mmap`s, so every op page-faults its output in again. mimalloc
//! with purging off reuses freed memory instead (README's Benchmarks give the measured effect).

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static USED: AtomicBool = AtomicBool::new(false);

/// mimalloc, counting live and peak bytes.
pub struct PeakAlloc;

/// mimalloc's `mi_option_purge_delay` (its index in `mi_option_e`, the same in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process for reuse instead of returning it to the OS (mimalloc's purge
/// delay of -1): the heap stays at its peak, and no allocation page-faults twice. Call once at
/// start-up.
pub fn keep_freed_memory() {
    // SAFETY: sets a process-wide allocator option; valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call forwards to `MiMalloc` with the same arguments; the counters do not affect
// what is returned.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
            if !USED.load(Ordering::Relaxed) {
                USED.store(true, Ordering::Relaxed);
            }
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let ptr = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let new = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

/// True when [`PeakAlloc`] is the process's global allocator (it has served an allocation).
pub fn installed() -> bool {
    USED.load(Ordering::Relaxed)
}

/// Live heap bytes.
pub fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the live bytes now; returns them (the baseline).
pub fn reset_peak() -> usize {
    let now = current();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Highest live heap bytes since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Runs `f` and returns its result with the peak heap bytes it added above the live bytes at the
/// start, or `None` where the counting allocator is not installed.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Option<usize>) {
    let base = reset_peak();
    let out = f();
    let extra = peak().saturating_sub(base);
    (out, installed().then_some(extra))
}

/// Minor page faults of this process so far (Linux: `/proc/self/stat`), or `None` where the
/// count cannot be read. A call that faults pages in is still growing into fresh memory, which on
/// some virtual machines costs as much as the computation itself.
pub fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields resume after ')'.
    // minflt is field 10, the 8th after it.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(7)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn touching_fresh_memory_counts_page_faults() {
        let before = minor_faults().expect("Linux reports minor faults");
        // 64 MiB is served by a fresh mapping, whose pages fault in as they are written.
        let mut block = vec![0u8; 64 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&block);
        let after = minor_faults().unwrap();
        assert!(after > before, "{before} -> {after}");
    }
}
