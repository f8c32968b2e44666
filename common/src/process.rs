//! Process-wide settings every server applies once, before it starts its threads.

use std::sync::Once;

/// Large allocations (request bodies, rendered pages, password-hashing memory) always come from
/// `mmap` and go back to the OS when freed. glibc's default raises this threshold to the size of
/// the largest block freed so far, after which such blocks are carved from the heap and kept for
/// good: a burst of 7 MiB hashes, or of 300 KB pages, would leave the process that much bigger.
const MMAP_THRESHOLD: i32 = 128 * 1024;

pub fn tune_allocator() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: mallopt only changes allocator parameters; called before the workers start.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        if ok != 1 {
            tracing::warn!("mallopt(M_MMAP_THRESHOLD) refused; large freed blocks may be kept");
        }
    });
}
