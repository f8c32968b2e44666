//! Answers read from the database, kept until the database changes: the same `GET` is computed
//! once per change of the data, however many instances share the database.
//!
//! The rule that keeps it correct with several instances: a read that arrives after a write was
//! acknowledged (by any instance) must see that write. So before a cached answer is used, the
//! database's data version is checked by a query that *starts after the request arrived*; the
//! answer is used only if it was computed under that same version. Versions (storage's
//! `DataVersion`) change with every committed write, by any connection of any process.
//!
//! Checks are shared: requests arriving while a check runs wait for the next one (which starts
//! after them), so under load one query serves a whole batch of requests; a request waits for at
//! most two checks. Entries are tagged with the version checked *before* they were computed, so
//! a write committed during the computation makes the entry stale, never the reverse. When the
//! version moves on, every older entry is dropped at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpResponse};
use futures_util::future::BoxFuture;
use futures_util::stream::{LocalBoxStream, Stream, StreamExt};
use tokio::sync::{watch, Notify};

/// Asks the database for its current data version.
pub type VersionCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

#[derive(Debug, Clone, clap::Args)]
pub struct CacheSettings {
    /// Bytes of answers kept until the data changes (0 turns the cache off).
    #[arg(long = "response-cache-bytes", env = "RESPONSE_CACHE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_bytes: usize,
}

/// One answer as the handler gave it.
#[derive(Clone)]
struct Cached {
    headers: HeaderMap,
    body: Bytes,
}

pub struct ResponseCache {
    /// None: caching is off (no version source, or a zero budget).
    fence: Option<Arc<Fence>>,
    entries: Mutex<Entries>,
    /// The keys being computed now, and how their waiters are woken (see `hit_or_lead`).
    flights: Mutex<HashMap<String, Arc<Notify>>>,
    max_bytes: usize,
    /// Paths answered without the cache (their answers do not come from the database).
    bypass: &'static [&'static str],
}

#[derive(Default)]
struct Entries {
    /// The check generation and version the entries were computed under.
    generation: u64,
    version: Option<Arc<str>>,
    map: HashMap<String, Cached>,
    /// Insertion order, for evicting the oldest first when over budget.
    order: VecDeque<String>,
    bytes: usize,
}

impl ResponseCache {
    pub fn new(
        check: Option<VersionCheck>,
        max_bytes: usize,
        bypass: &'static [&'static str],
    ) -> Self {
        Self {
            fence: check
                .filter(|_| max_bytes > 0)
                .map(|check| Arc::new(Fence::new(check))),
            entries: Mutex::new(Entries::default()),
            flights: Mutex::new(HashMap::new()),
            max_bytes,
            bypass,
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        match self.entries.lock() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The cached answer for `key`; or, when another request is computing it now, that answer
    /// once it is done (so that a change of the data costs one computation per key, not one per
    /// request arriving meanwhile: under 20 writes/s, 16 clients each computed every search);
    /// or the right to compute it (`Lead`, others wait for it), or to compute it alone (the one
    /// awaited did not give an answer to keep: too large, failed, or too slow).
    async fn hit_or_lead(&self, version: &Arc<str>, key: &str) -> Lookup<'_> {
        if let Some(hit) = self.lookup(version, key) {
            return Lookup::Hit(hit);
        }
        let notify = {
            let mut flights = lock(&self.flights);
            match flights.get(key) {
                Some(notify) => Arc::clone(notify),
                None => {
                    let notify = Arc::new(Notify::new());
                    flights.insert(key.to_owned(), Arc::clone(&notify));
                    return Lookup::Lead(Flight {
                        cache: self,
                        key: key.to_owned(),
                        notify,
                    });
                }
            }
        };
        let done = notify.notified();
        tokio::pin!(done);
        // Registered before the flight can end: its end is not missed.
        done.as_mut().enable();
        if lock(&self.flights)
            .get(key)
            .is_some_and(|now| Arc::ptr_eq(now, &notify))
        {
            let _ = tokio::time::timeout(FLIGHT_WAIT, done).await;
        }
        match self.lookup(version, key) {
            Some(hit) => Lookup::Hit(hit),
            None => Lookup::Alone,
        }
    }

    fn lookup(&self, version: &Arc<str>, key: &str) -> Option<Cached> {
        let entries = self.entries();
        if entries.version.as_ref() != Some(version) {
            return None;
        }
        entries.map.get(key).cloned()
    }

    fn insert(&self, generation: u64, version: Arc<str>, key: String, value: Cached) {
        let size = key.len() + value.body.len() + 64 * value.headers.len();
        if size > self.max_bytes / 4 {
            return;
        }
        let mut entries = self.entries();
        if entries.version.as_ref() != Some(&version) {
            if generation < entries.generation {
                return; // computed under a version that has been superseded
            }
            *entries = Entries {
                generation,
                version: Some(version),
                ..Entries::default()
            };
        }
        while entries.bytes + size > self.max_bytes {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(gone) = entries.map.remove(&oldest) {
                entries.bytes -= oldest.len() + gone.body.len() + 64 * gone.headers.len();
            }
        }
        if entries.map.insert(key.clone(), value).is_none() {
            entries.order.push_back(key);
            entries.bytes += size;
        }
    }
}

impl ResponseCache {
    /// The body `compute` makes for `key` under the current data version: kept from an earlier
    /// computation when the data has not changed since (for answers the middleware cannot key,
    /// e.g. a search given in a POST body). `compute`'s errors are returned, not kept.
    pub async fn body<F, Fut, E>(&self, key: String, compute: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, E>>,
    {
        let checked = match &self.fence {
            Some(fence) => fence.current().await.ok(),
            None => None,
        };
        let Some((generation, version)) = checked else {
            return compute().await;
        };
        let _flight = match self.hit_or_lead(&version, &key).await {
            Lookup::Hit(hit) => return Ok(hit.body),
            Lookup::Lead(flight) => Some(flight),
            Lookup::Alone => None,
        };
        let body = compute().await?;
        let value = Cached {
            headers: HeaderMap::new(),
            body: body.clone(),
        };
        self.insert(generation, version, key, value);
        Ok(body)
    }
}

/// How long a request waits for another computing the same answer before computing it itself.
const FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

enum Lookup<'a> {
    Hit(Cached),
    Lead(Flight<'a>),
    Alone,
}

/// A key being computed: ended (its waiters woken) when dropped, answered or not.
struct Flight<'a> {
    cache: &'a ResponseCache,
    key: String,
    notify: Arc<Notify>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.cache.flights);
        if flights
            .get(&self.key)
            .is_some_and(|now| Arc::ptr_eq(now, &self.notify))
        {
            flights.remove(&self.key);
        }
        drop(flights);
        self.notify.notify_waiters();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// An answer of [`ResponseCache::stream`].
pub enum Answer<E> {
    /// Small enough to keep: whole, from the cache or just computed.
    Whole(Bytes),
    /// Sent as it is produced: too large to keep, or the cache is off.
    Streaming(LocalBoxStream<'static, Result<Bytes, E>>),
}

impl ResponseCache {
    /// The answer `compute` streams for `key` under the current data version, as `body` does,
    /// for answers that may be too large to hold: what fits in one entry is read ahead (one chunk
    /// at least), and an answer that ends within it is kept and answered whole; a longer one is
    /// answered as it comes, not kept. Either way the first chunk is waited for, so that an error before it
    /// is the request's error (a 503, say), not a cut-off answer.
    pub async fn stream<F, Fut, S, E>(&self, key: String, compute: F) -> Result<Answer<E>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<S, E>>,
        S: Stream<Item = Result<Bytes, E>> + Unpin + 'static,
        E: 'static,
    {
        let checked = match &self.fence {
            Some(fence) => fence.current().await.ok(),
            None => None,
        };
        let mut _flight = None;
        if let Some((_, version)) = &checked {
            match self.hit_or_lead(version, &key).await {
                Lookup::Hit(hit) => return Ok(Answer::Whole(hit.body)),
                Lookup::Lead(flight) => _flight = Some(flight),
                Lookup::Alone => {}
            }
        }
        let mut stream = compute().await?;
        let keep_up_to = match checked {
            Some(_) => self.max_bytes / 4,
            None => 0,
        };
        let mut head = Vec::new();
        let mut size = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len();
            head.push(chunk);
            // Past one chunk, whatever the budget: an answer of one chunk is sent whole too.
            if size > keep_up_to && head.len() > 1 {
                let head = futures_util::stream::iter(head.into_iter().map(Ok));
                return Ok(Answer::Streaming(head.chain(stream).boxed_local()));
            }
        }
        let body = match head.len() {
            1 => head.pop().unwrap_or_default(),
            _ => Bytes::from(head.concat()),
        };
        if let Some((generation, version)) = checked {
            let value = Cached {
                headers: HeaderMap::new(),
                body: body.clone(),
            };
            self.insert(generation, version, key, value);
        }
        Ok(Answer::Whole(body))
    }
}

/// Middleware for a scope whose `GET`/`HEAD` answers depend only on the path, the query and the
/// database: 200 answers are kept (see the module doc). Needs `web::Data<ResponseCache>`.
pub async fn read_through(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let cache = req.app_data::<web::Data<ResponseCache>>().cloned();
    let (cache, fence) = match cache {
        Some(cache)
            if matches!(*req.method(), Method::GET | Method::HEAD)
                && !cache.bypass.contains(&req.path()) =>
        {
            match cache.fence.clone() {
                Some(fence) => (cache, fence),
                None => return Ok(next.call(req).await?.map_into_boxed_body()),
            }
        }
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let (generation, version) = match fence.current().await {
        Ok(checked) => checked,
        Err(error) => {
            tracing::debug!(%error, "data version unknown; answering without the cache");
            return Ok(next.call(req).await?.map_into_boxed_body());
        }
    };
    let key = match req.query_string() {
        "" => req.path().to_owned(),
        query => format!("{}?{query}", req.path()),
    };
    let _flight = match cache.hit_or_lead(&version, &key).await {
        Lookup::Hit(hit) => {
            let mut response = HttpResponse::new(StatusCode::OK);
            *response.headers_mut() = hit.headers;
            return Ok(req.into_response(response.set_body(BoxBody::new(hit.body))));
        }
        Lookup::Lead(flight) => Some(flight),
        Lookup::Alone => None,
    };
    let response = next.call(req).await?;
    if response.status() != StatusCode::OK {
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let body = match actix_web::body::to_bytes(body).await {
        Ok(body) => body,
        Err(_) => {
            return Err(actix_web::error::ErrorInternalServerError(
                "the answer's body could not be read",
            ))
        }
    };
    cache.insert(
        generation,
        version,
        key,
        Cached {
            headers: head.headers().clone(),
            body: body.clone(),
        },
    );
    Ok(ServiceResponse::new(
        request,
        head.set_body(BoxBody::new(body)),
    ))
}

/// Shared data-version checks (see the module doc).
struct Fence {
    check: VersionCheck,
    state: Mutex<FenceState>,
    results: watch::Sender<Checked>,
}

#[derive(Default)]
struct FenceState {
    /// The generation of the check running now, or of the last one.
    started: u64,
    running: bool,
    /// The highest generation a waiter needs.
    wanted: u64,
}

#[derive(Clone)]
struct Checked {
    generation: u64,
    version: Result<Arc<str>, Arc<str>>,
}

impl Fence {
    fn new(check: VersionCheck) -> Self {
        let (results, _) = watch::channel(Checked {
            generation: 0,
            version: Err("not checked yet".into()),
        });
        Self {
            check,
            state: Mutex::new(FenceState::default()),
            results,
        }
    }

    fn state(&self) -> MutexGuard<'_, FenceState> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The data version as of a check that started after this call: (its generation, version).
    async fn current(self: &Arc<Self>) -> Result<(u64, Arc<str>), Arc<str>> {
        let mut results = self.results.subscribe();
        let need = {
            let mut state = self.state();
            let need = state.started + 1;
            if state.running {
                state.wanted = state.wanted.max(need);
            } else {
                state.running = true;
                state.started = need;
                tokio::spawn(self.clone().run(need));
            }
            need
        };
        loop {
            {
                let checked = results.borrow_and_update();
                if checked.generation >= need {
                    return checked.version.clone().map(|v| (checked.generation, v));
                }
            }
            if results.changed().await.is_err() {
                return Err("the version checks stopped".into());
            }
        }
    }

    /// Runs checks back to back while requests wait for a newer one.
    async fn run(self: Arc<Self>, mut generation: u64) {
        let mut running = Running(Some(self.clone()));
        loop {
            let version = (self.check)().await.map(Arc::from).map_err(Arc::from);
            let mut state = self.state();
            self.results.send_replace(Checked {
                generation,
                version,
            });
            if state.wanted > generation {
                generation = state.started + 1;
                state.started = generation;
            } else {
                state.running = false;
                running.0 = None;
                return;
            }
        }
    }
}

/// If a check's task is dropped mid-way (its runtime shutting down), its waiters are released
/// with an error (they answer without the cache) and the next request starts a new check.
struct Running(Option<Arc<Fence>>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(fence) = self.0.take() {
            let mut state = fence.state();
            state.running = false;
            fence.results.send_replace(Checked {
                generation: state.started,
                version: Err("the version check was cancelled".into()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn counting_check(calls: Arc<AtomicU64>, version: Arc<AtomicU64>) -> VersionCheck {
        Arc::new(move || {
            let calls = calls.clone();
            let version = version.clone();
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(version.load(Ordering::SeqCst).to_string())
            })
        })
    }

    #[tokio::test]
    async fn a_check_starts_after_the_request() {
        let calls = Arc::new(AtomicU64::new(0));
        let version = Arc::new(AtomicU64::new(1));
        let fence = Arc::new(Fence::new(counting_check(calls.clone(), version.clone())));
        let (_, first) = fence.current().await.unwrap();
        assert_eq!(&*first, "1");
        version.store(2, Ordering::SeqCst);
        // A request after the change must see it, never the earlier check's answer.
        let (_, second) = fence.current().await.unwrap();
        assert_eq!(&*second, "2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_requests_share_checks() {
        let calls = Arc::new(AtomicU64::new(0));
        let version = Arc::new(AtomicU64::new(7));
        let fence = Arc::new(Fence::new(counting_check(calls.clone(), version)));
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let fence = fence.clone();
                tokio::spawn(async move { fence.current().await })
            })
            .collect();
        for waiter in waiters {
            assert_eq!(&*waiter.await.unwrap().unwrap().1, "7");
        }
        // 50 requests, at most a few checks (each waiter needs one started after it).
        assert!(calls.load(Ordering::SeqCst) <= 3, "{calls:?}");
    }

    /// Requests arriving while an answer is computed wait for it instead of computing it too;
    /// an answer too large to keep is streamed, computed by each request, never kept.
    #[tokio::test]
    async fn one_computation_per_key_and_version() {
        let calls = Arc::new(AtomicU64::new(0));
        let version = Arc::new(AtomicU64::new(1));
        let cache = Arc::new(ResponseCache::new(
            Some(counting_check(calls, version)),
            1 << 20,
            &[],
        ));
        const REQUESTS: u64 = 20;
        let computed = Arc::new(AtomicU64::new(0));
        let arrived = Arc::new(AtomicU64::new(0));
        let local = tokio::task::LocalSet::new();
        let answers: Vec<_> = (0..REQUESTS)
            .map(|_| {
                let (cache, computed, arrived) = (cache.clone(), computed.clone(), arrived.clone());
                local.spawn_local(async move {
                    // On the LocalSet a request arrives and, finding the flight, waits on it in
                    // one poll (the version check is ready at once).
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let answer = cache
                        .stream("POST /search".to_owned(), || async {
                            computed.fetch_add(1, Ordering::SeqCst);
                            // Still computing until every other request has arrived.
                            while arrived.load(Ordering::SeqCst) < REQUESTS {
                                tokio::task::yield_now().await;
                            }
                            let chunks = [Ok::<_, ()>(Bytes::from("[1,")), Ok(Bytes::from("2]"))];
                            Ok(futures_util::stream::iter(chunks))
                        })
                        .await;
                    match answer {
                        Ok(Answer::Whole(body)) => body,
                        _ => panic!("a small answer is answered whole"),
                    }
                })
            })
            .collect();
        local
            .run_until(async {
                for answer in answers {
                    assert_eq!(answer.await.unwrap(), "[1,2]");
                }
            })
            .await;
        assert_eq!(computed.load(Ordering::SeqCst), 1);

        let large = Bytes::from(vec![b'x'; 300 * 1024]);
        for round in 1..=2 {
            let answer = cache
                .stream("POST /large".to_owned(), || async {
                    Ok::<_, ()>(futures_util::stream::iter([
                        Ok(large.clone()),
                        Ok(large.clone()),
                    ]))
                })
                .await;
            let Ok(Answer::Streaming(chunks)) = answer else {
                panic!("round {round}: over a quarter of the budget, the answer is streamed");
            };
            let chunks: Vec<_> = chunks.collect().await;
            assert_eq!(chunks.len(), 2);
        }
    }

    #[test]
    fn a_superseded_version_never_replaces_a_newer_one() {
        let never: VersionCheck = Arc::new(|| Box::pin(async { Err("unused".to_owned()) }));
        let cache = ResponseCache::new(Some(never), 1 << 20, &[]);
        let entry = |text: &'static str| Cached {
            headers: HeaderMap::new(),
            body: Bytes::from_static(text.as_bytes()),
        };
        cache.insert(5, "v5".into(), "/a".into(), entry("new"));
        cache.insert(4, "v4".into(), "/a".into(), entry("old"));
        assert!(cache.lookup(&"v4".into(), "/a").is_none());
        assert_eq!(cache.lookup(&"v5".into(), "/a").unwrap().body, "new");
        cache.insert(6, "v6".into(), "/b".into(), entry("b"));
        assert!(
            cache.lookup(&"v5".into(), "/a").is_none(),
            "older entries are dropped"
        );
    }

    #[test]
    fn the_budget_evicts_the_oldest() {
        let never: VersionCheck = Arc::new(|| Box::pin(async { Err("unused".to_owned()) }));
        let cache = ResponseCache::new(Some(never), 4096, &[]);
        let body = Bytes::from(vec![b'x'; 900]);
        for key in ["/1", "/2", "/3", "/4", "/5"] {
            cache.insert(
                1,
                "v".into(),
                key.into(),
                Cached {
                    headers: HeaderMap::new(),
                    body: body.clone(),
                },
            );
        }
        assert!(cache.lookup(&"v".into(), "/1").is_none());
        assert!(cache.lookup(&"v".into(), "/5").is_some());
    }
}
