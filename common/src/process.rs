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
