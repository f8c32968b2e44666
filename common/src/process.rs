//! Process-wide settings every server applies once, before it starts its threads.

use std::sync::Once;

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

/// Free heap memory that, once this much more of it has appeared since the last look, is handed
/// back to the OS.
const TRIM_WHEN_FREED: usize = 8 * 1024 * 1024;
const TRIM_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Hands freed heap memory back to the OS once a burst has passed.
///
/// What a burst allocates (5,000 connections' buffers, the upstream connections opened for their
/// requests) is freed when it ends, but glibc returns only the free memory at the top of a heap;
/// the rest stays resident: 5,000 idle keep-alive connections left the gateway at 182 MiB while
/// 82 MiB of it was free, and at 80 MiB after they had all gone. `malloc_trim` releases the free
/// pages inside the heaps too. Every `TRIM_CHECK` this looks at how much of the heap is free
/// (`mallinfo2`, a walk of the allocator's free lists): when at least `TRIM_WHEN_FREED` more
/// than the least seen since the last trim is free, it trims, on a blocking thread (it locks
/// each heap briefly). A steady load frees and reuses the same memory and never triggers it.
pub fn trim_after_bursts() {
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(TRIM_CHECK);
        let mut least_free = usize::MAX;
        loop {
            ticker.tick().await;
            // SAFETY: mallinfo2 only reads the allocator's statistics; it is thread-safe.
            let free = unsafe { libc::mallinfo2() }.fordblks;
            least_free = least_free.min(free);
            if free - least_free < TRIM_WHEN_FREED {
                continue;
            }
            let trimmed = tokio::task::spawn_blocking(|| {
                // SAFETY: malloc_trim only returns free memory; it is thread-safe.
                unsafe { libc::malloc_trim(0) }
            })
            .await;
            tracing::debug!(free, released = ?trimmed.ok().map(|r| r == 1), "heap trimmed after a burst");
            // The trimmed pages still count as free: from here on, only newly freed ones count.
            least_free = free;
        }
    });
}
