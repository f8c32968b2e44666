//! The log's output: lines gathered in one buffer and written by a thread of their own in
//! batches, as Nginx's `access_log ... buffer=64k flush=...` does.
//!
//! Never written by a request's worker: a slow stdout (a pipe whose reader lags, `docker logs`)
//! must not stall serving. A line is appended to the buffer (one lock, one copy); the first line
//! of a batch wakes the writer thread, which lets more lines join for up to `FLUSH_EVERY` (or
//! until `BATCH` bytes wait), then writes them in one syscall. A queue that woke the thread for
//! every line (tracing-appender's) cost the gateway about a tenth of its CPU in wake-ups and
//! `sched_yield` spins. Not lossy: beyond `MAX_PENDING` bytes, logging waits for the thread. An
//! idle process's lines appear within `FLUSH_EVERY`; dropping the [`Flusher`] writes the rest.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest a line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes that make a batch worth writing at once.
const BATCH: usize = 64 * 1024;
/// Bytes waiting beyond which a line waits for the writer thread (back-pressure).
const MAX_PENDING: usize = 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// A batch has begun, is full, or the log is closing.
    ready: Condvar,
    /// The writer thread took the waiting bytes.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves only bytes behind: still usable.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Appends whole lines to the log; cheap to clone (one per event).
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogWriter {
    /// Appends `line` (whole lines) to what the writer thread writes next.
    pub fn append(&self, line: &[u8]) {
        self.append_prefixed(b"", line);
    }

    /// Appends `prefix` then `line` (one line), as one piece: no other line comes between.
    pub fn append_prefixed(&self, prefix: &[u8], line: &[u8]) {
        let mut pending = self.shared.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.closed {
            pending = self
                .shared
                .drained
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let starts_batch = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(prefix);
        pending.bytes.extend_from_slice(line);
        if starts_batch || pending.bytes.len() >= BATCH {
            self.shared.ready.notify_one();
        }
    }
}

/// Keeps the writer thread; dropping it writes what waits and stops the thread.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A writer for `sink` and the thread that writes its batches.
pub fn start(mut sink: Box<dyn Write + Send>) -> (LogWriter, Flusher) {
    let shared = Arc::new(Shared::default());
    let writer = LogWriter {
        shared: shared.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = shared.clone();
            move || {
                let mut batch = Vec::with_capacity(BATCH);
                while take_batch(&shared, &mut batch) {
                    // Nowhere to report a failing log output but the log itself.
                    let _ = sink.write_all(&batch).and_then(|()| sink.flush());
                    batch.clear();
                }
            }
        })
        .ok();
    (writer, Flusher { shared, thread })
}

/// Waits for a batch to begin, lets it gather, and swaps it into `batch`; false once the log
/// is closed and everything has been taken.
fn take_batch(shared: &Shared, batch: &mut Vec<u8>) -> bool {
    let mut pending = shared.lock();
    while pending.bytes.is_empty() {
        if pending.closed {
            return false;
        }
        pending = shared
            .ready
            .wait(pending)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    let deadline = Instant::now() + FLUSH_EVERY;
    while pending.bytes.len() < BATCH && !pending.closed {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        pending = shared
            .ready
            .wait_timeout(pending, left)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
    std::mem::swap(&mut pending.bytes, batch);
    shared.drained.notify_all();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_of_every_thread_arrives_whole_and_in_its_order() {
        let sink = Collected::default();
        let (writer, flusher) = start(Box::new(sink.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        writer
                            .write_all(
                                format!("thread {t} line {i} {}\n", "x".repeat(i % 90)).as_bytes(),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flusher);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            let (t, i): (usize, usize) = (words[1].parse().unwrap(), words[3].parse().unwrap());
            assert_eq!(
                i, next[t],
                "thread {t}: line {i} out of order or torn: {line:?}"
            );
            assert_eq!(words.get(4).map_or(0, |x| x.len()), i % 90);
            next[t] += 1;
        }
        assert_eq!(next, [20_000; 4]);
    }

    #[test]
    fn a_line_of_an_idle_log_appears_within_the_flush_interval() {
        let sink = Collected::default();
        let (mut writer, _flusher) = start(Box::new(sink.clone()));
        let written = Instant::now();
        writer.write_all(b"alone\n").unwrap();
        let deadline = written + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the line never came out");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"alone\n");
        assert!(
            written.elapsed() < FLUSH_EVERY * 10,
            "took {:?}",
            written.elapsed()
        );
    }
}
