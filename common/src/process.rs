//! Process-wide settings every server applies once, before it starts its threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

/// Allocations from this size on (password-hashing memory, 7 MiB) always come from `mmap` and go
/// back to the OS when freed. glibc's default raises the threshold to the size of the largest
/// block freed so far, after which such blocks are carved from the heap and kept for good: a
/// burst of hashes would leave the process that much bigger. Below it, buffers (a proxied 300 KB
/// page, hyper's read buffer) are reused from the heap: mapping and unmapping them per request
/// cost the gateway a third of its time in page faults.
const MMAP_THRESHOLD: i32 = 1024 * 1024;
/// Free memory at the top of a heap beyond this is returned to the OS (fixed, like the above).
const TRIM_THRESHOLD: i32 = 2 * 1024 * 1024;

pub fn tune_allocator() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: mallopt only changes allocator parameters; called before the workers start.
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                & libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        };
        if ok != 1 {
            tracing::warn!("mallopt refused; large freed blocks may be kept");
        }
    });
}

/// How many connections must have closed since the last peak before memory is handed back.
const TRIM_AFTER_CLOSED: usize = 1024;
const TRIM_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Hands freed heap memory back to the OS after a wave of connections has closed.
///
/// Each connection's buffers are freed when it closes, but glibc returns only the free memory at
/// the top of a heap; the rest stays in the process (5,000 idle connections left the gateway at
/// 80 MiB after they had all gone). `malloc_trim` releases the free pages inside the heaps too.
/// It locks each heap briefly, so it runs on a blocking thread, only after at least
/// `TRIM_AFTER_CLOSED` connections have closed since the busiest moment.
/// `peak` is kept up to date by whoever counts `open` (it is reset here after each trim).
pub fn trim_after_connections_close(open: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) {
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(TRIM_CHECK);
        loop {
            ticker.tick().await;
            let now = open.load(Ordering::Relaxed);
            if peak.load(Ordering::Relaxed).saturating_sub(now) >= TRIM_AFTER_CLOSED {
                peak.store(now, Ordering::Relaxed);
                let trimmed = tokio::task::spawn_blocking(|| {
                    // SAFETY: malloc_trim only returns free memory; it is thread-safe.
                    unsafe { libc::malloc_trim(0) }
                })
                .await;
                tracing::debug!(released = ?trimmed.ok().map(|r| r == 1), "heap trimmed after connections closed");
            }
        }
    });
}
