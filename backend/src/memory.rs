//! Gives memory freed after a burst back to the system.
//!
//! glibc's allocator keeps freed heap memory for reuse, and past a burst
//! of 60 KB buffers (fragments, bundles, TCP frames) its mmap threshold
//! has grown so that even those stay on the heap: measured in
//! `tests/hostile.rs`, the server's RSS stayed 50-90 MB above where it
//! started long after every buffer was freed. `malloc_trim` hands whole
//! free pages back (inside the heap too, not only at its top); a trim
//! every few seconds costs well under a millisecond when little is free.
//! The one foreign call is allowed here alone.
#![allow(unsafe_code)]

use std::time::Duration;

/// How often freed memory is handed back.
const EVERY: Duration = Duration::from_secs(2);

/// Trims now; true if some memory was released.
pub(crate) fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists, under its locks.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Trims every [`EVERY`] until the token is cancelled.
pub(crate) async fn trim_periodically(stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => { trim(); }
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_memory_goes_back() {
        // Many buffers below the mmap threshold, freed: the trim finds pages to give back.
        let buffers: Vec<Vec<u8>> = (0..2000).map(|i| vec![i as u8; 60_000]).collect();
        drop(buffers);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(super::trim(), "60 MB freed and nothing to hand back?");
        }
    }
}
