//! Passwords: argon2id, stored as a PHC string (which records its parameters, so changing them
//! later keeps old hashes verifiable), hashed once when set, never returned.
//!
//! Cost: OWASP's argon2id minimum with the smallest memory, m = 7 MiB, t = 5, p = 1 (the cheat
//! sheet lists it as equivalent to m = 19 MiB, t = 2), or `ARGON2_MEMORY_KIB` /
//! `ARGON2_ITERATIONS` (the tests lower them: debug builds are slow).
//!
//! Hashing is bounded, because each hash holds its memory for its whole run and a burst of
//! sign-ups must not take the service down: a few dedicated threads (`HASH_THREADS`, default one
//! per core), at a lower CPU priority than the workers, so requests that do not hash are not
//! delayed; a bounded queue (`HASH_QUEUE`) in front of them; a request that finds the queue full
//! is refused at once (503 with `Retry-After`), never left to time out. Each thread reuses its
//! hashing memory while it has work and frees it when its queue runs dry, so the service returns
//! to its resting size after a burst.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// OWASP's argon2id minimum (m = 7 MiB, t = 5, p = 1).
pub const DEFAULT_MEMORY_KIB: u32 = 7 * 1024;
pub const DEFAULT_ITERATIONS: u32 = 5;

/// What a refused request is told to wait, in seconds.
pub const RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, Clone, clap::Args)]
pub struct HashSettings {
    /// Threads that hash passwords (default: one per core).
    #[arg(long = "hash-threads", env = "HASH_THREADS")]
    pub threads: Option<usize>,
    /// Sign-ups that may wait for a hashing thread; more at once are answered 503.
    #[arg(long = "hash-queue", env = "HASH_QUEUE", default_value_t = 32)]
    pub queue: usize,
    /// argon2id memory cost in KiB.
    #[arg(long = "argon2-memory-kib", env = "ARGON2_MEMORY_KIB", default_value_t = DEFAULT_MEMORY_KIB)]
    pub memory_kib: u32,
    /// argon2id iterations.
    #[arg(long = "argon2-iterations", env = "ARGON2_ITERATIONS", default_value_t = DEFAULT_ITERATIONS)]
    pub iterations: u32,
}

impl Default for HashSettings {
    fn default() -> Self {
        Self {
            threads: None,
            queue: 32,
            memory_kib: DEFAULT_MEMORY_KIB,
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

struct Job {
    password: String,
    reply: oneshot::Sender<Result<String, argon2::password_hash::Error>>,
}

/// The hashing threads and their queue.
pub struct Hasher {
    jobs: SyncSender<Job>,
    /// Jobs queued or running, for the metrics and the logs.
    pending: Arc<AtomicUsize>,
}

static HASHER: OnceLock<Hasher> = OnceLock::new();

/// Starts the hashing threads (once per process; later calls keep the first pool).
pub fn start(settings: &HashSettings) -> Result<&'static Hasher, String> {
    let params = Params::new(settings.memory_kib, settings.iterations, 1, None)
        .map_err(|error| format!("invalid argon2 cost: {error}"))?;
    Ok(HASHER.get_or_init(|| Hasher::spawn(settings, params)))
}

/// `password_hash_queue_depth` (sign-ups queued or being hashed) and
/// `password_hash_queue_capacity` (`HASH_QUEUE`), read at each scrape.
pub fn watch_queue(settings: &HashSettings) {
    use hbnb_common::metrics::register;
    use prometheus::IntGauge;
    let depth = register(
        IntGauge::new(
            "password_hash_queue_depth",
            "Password hashes queued or running now; at capacity plus the hashing threads, sign-ups are answered 503.",
        )
        .unwrap_or_else(|_| unreachable!("valid metric options")),
    );
    let capacity = register(
        IntGauge::new(
            "password_hash_queue_capacity",
            "HASH_QUEUE: hashes that may wait for a hashing thread.",
        )
        .unwrap_or_else(|_| unreachable!("valid metric options")),
    );
    capacity.set(i64::try_from(settings.queue).unwrap_or(i64::MAX));
    hbnb_common::metrics::on_scrape(move || {
        depth.set(i64::try_from(hasher().pending()).unwrap_or(i64::MAX));
    });
}

fn hasher() -> &'static Hasher {
    HASHER.get_or_init(|| {
        let settings = HashSettings::default();
        let params =
            Params::new(settings.memory_kib, settings.iterations, 1, None).unwrap_or_default();
        Hasher::spawn(&settings, params)
    })
}

impl Hasher {
    fn spawn(settings: &HashSettings, params: Params) -> Hasher {
        let threads = settings
            .threads
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (jobs, queue) = mpsc::sync_channel(settings.queue);
        let queue = Arc::new(Mutex::new(queue));
        let pending = Arc::new(AtomicUsize::new(0));
        for index in 0..threads {
            let queue = queue.clone();
            let pending = pending.clone();
            let params = params.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || work(&queue, &pending, params));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password-hashing thread");
            }
        }
        tracing::info!(
            threads,
            queue = settings.queue,
            memory_kib = params.m_cost(),
            iterations = params.t_cost(),
            "password hashing: argon2id"
        );
        Hasher { jobs, pending }
    }

    /// Jobs queued or being hashed right now.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

/// One hashing thread: takes jobs until the pool is dropped (never, in a running service).
fn work(queue: &Mutex<Receiver<Job>>, pending: &AtomicUsize, params: Params) {
    lower_priority();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut memory: Option<Vec<Block>> = None;
    loop {
        let next = {
            let Ok(queue) = queue.lock() else { return };
            match queue.try_recv() {
                Ok(job) => Ok(job),
                Err(TryRecvError::Empty) => {
                    // Nothing waiting: give the memory back before sleeping (allocations this
                    // large are mmap-backed, so freeing returns them to the OS).
                    memory = None;
                    queue.recv()
                }
                Err(TryRecvError::Disconnected) => return,
            }
        };
        let Ok(job) = next else { return };
        let blocks =
            memory.get_or_insert_with(|| vec![Block::default(); argon2.params().block_count()]);
        let result = hash_with(&argon2, &job.password, blocks);
        pending.fetch_sub(1, Ordering::Relaxed);
        // The request may have gone away meanwhile; nothing to do then.
        let _ = job.reply.send(result);
    }
}

/// Hashing threads yield to the request workers (nice 10): a burst of sign-ups then costs the
/// sign-ups' latency, not every other request's.
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread's own id; no memory is shared.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10)
    };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the hashing thread's priority");
    }
}

fn salt() -> Result<SaltString, argon2::password_hash::Error> {
    // 32 bytes from the OS generator (two v4 UUIDs: 244 random bits).
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    SaltString::encode_b64(&bytes)
}

/// The PHC string `$argon2id$v=19$m=...,t=...,p=1$<salt>$<hash>`, computed in `blocks`.
fn hash_with(
    argon2: &Argon2<'_>,
    password: &str,
    blocks: &mut [Block],
) -> Result<String, argon2::password_hash::Error> {
    let salt = salt()?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        Ok(argon2.hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            out,
            &mut *blocks,
        )?)
    })?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Hashes on the hashing threads; `ApiError::Busy` at once when their queue is full.
pub async fn hash(password: String) -> Result<String, ApiError> {
    let hasher = hasher();
    let (reply, answer) = oneshot::channel();
    hasher.pending.fetch_add(1, Ordering::Relaxed);
    if let Err(error) = hasher.jobs.try_send(Job { password, reply }) {
        hasher.pending.fetch_sub(1, Ordering::Relaxed);
        return Err(match error {
            TrySendError::Full(_) => ApiError::Busy {
                retry_after: RETRY_AFTER_SECS,
            },
            TrySendError::Disconnected(_) => {
                ApiError::Internal("the password-hashing threads are gone".into())
            }
        });
    }
    answer
        .await
        .map_err(|_| ApiError::Internal("a password-hashing thread stopped".into()))?
        .map_err(|e| ApiError::Internal(e.to_string().into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[test]
    fn a_hash_is_a_phc_string_argon2_verifies() {
        let params = Params::new(64, 1, 1, None).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut blocks = vec![Block::default(); argon2.params().block_count()];
        let first = hash_with(&argon2, "secret", &mut blocks).unwrap();
        // The same memory, reused, gives another correct hash (a new salt).
        let second = hash_with(&argon2, "secret", &mut blocks).unwrap();
        assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{first}");
        assert_ne!(first, second);
        for stored in [&first, &second] {
            let parsed = PasswordHash::new(stored).unwrap();
            assert!(Argon2::default()
                .verify_password(b"secret", &parsed)
                .is_ok());
            assert!(Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err());
        }
    }
}
