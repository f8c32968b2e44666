//! Per-client request rate limits (Nginx's `limit_req zone=... burst=N nodelay`): a token bucket
//! per client IP and route. A bucket holds up to `burst` requests and refills at `rate` per
//! second; a request finding it empty is answered 429 with `Retry-After` (the whole seconds until
//! a token is back), without reaching the upstream.
//!
//! A small bucket table of our own rather than the `governor` crate: one `f64` pair per client
//! under a sharded mutex is all Nginx's algorithm needs, and it costs no dependency tree. The
//! table is bounded: past `MAX_CLIENTS_PER_SHARD` clients in a shard, the full buckets (clients
//! that would be allowed anyway) are forgotten; if that frees nothing, the shard starts afresh
//! (Nginx's zone, when full, answers 503 to everyone instead).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hbnb_common::ConnectionSlot;
use serde::Deserialize;

const SHARDS: usize = 16;
const MAX_CLIENTS_PER_SHARD: usize = 16 * 1024;

/// A route's limit, as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second per client IP, sustained.
    pub rate: f64,
    /// Requests a client may make at once beyond the sustained rate (at least 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_burst() -> u32 {
    1
}

impl RateLimit {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!("rate {} must be above 0", self.rate));
        }
        if self.burst == 0 {
            return Err("burst must be at least 1".into());
        }
        Ok(())
    }

    /// `10` or `10/s`, `600/m`, with `,burst=N` (the `RATE_LIMIT` variable).
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let mut parts = text.split(',').map(str::trim);
        let rate = parts.next().unwrap_or_default();
        let (number, per) = match rate.split_once('/') {
            Some((number, unit)) => (
                number,
                match unit {
                    "s" => 1.0,
                    "m" => 60.0,
                    other => return Err(format!("unknown rate unit {other:?} (s or m)")),
                },
            ),
            None => (rate, 1.0),
        };
        let number: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{rate:?} is not a rate"))?;
        let mut limit = RateLimit {
            rate: number / per,
            burst: default_burst(),
        };
        for part in parts {
            match part.split_once('=') {
                Some(("burst", n)) => {
                    limit.burst = n.trim().parse().map_err(|_| format!("burst {n:?}"))?
                }
                _ => return Err(format!("unknown rate limit option {part:?}")),
            }
        }
        limit.validate()?;
        Ok(limit)
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of one route.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Takes a token for `client`; when there is none, how long until there is.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let shard = &self.shards[self.hasher.hash_one(client) as usize % SHARDS];
        let mut buckets = match shard.lock() {
            Ok(buckets) => buckets,
            Err(poisoned) => poisoned.into_inner(),
        };
        let capacity = f64::from(self.limit.burst);
        let rate = self.limit.rate;
        if buckets.len() >= MAX_CLIENTS_PER_SHARD && !buckets.contains_key(&client) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity
            });
            if buckets.len() >= MAX_CLIENTS_PER_SHARD {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Lets the request through its route's rate limit, by the client's address (the peer's, or
/// behind a trusted proxy the one its `X-Forwarded-For` names: `real_ip`), or answers 429.
pub fn admit(
    client: Option<IpAddr>,
    limiter: Option<&RateLimiter>,
) -> Result<(), crate::error::ProxyError> {
    if let (Some(limiter), Some(peer)) = (limiter, client) {
        if let Err(wait) = limiter.check(peer) {
            return Err(crate::error::ProxyError::RateLimited {
                retry_after: retry_after_secs(wait),
            });
        }
    }
    Ok(())
}

/// Open connections per client IP (Nginx's `limit_conn`, which answers 503 too). A connection
/// counts from its first request (when the request head has been read, as in Nginx) until it
/// closes; one over the limit gets 503 and is closed.
#[derive(Debug)]
pub struct ConnectionLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropped with the connection's data.
pub struct ConnectionPermit {
    limit: Arc<ConnectionLimit>,
    client: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = match self.limit.open.lock() {
            Ok(open) => open,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

impl ConnectionLimit {
    /// `max` connections per client; 0: no limit.
    pub fn new(max: usize) -> Arc<ConnectionLimit> {
        Arc::new(ConnectionLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn enter(self: &Arc<Self>, client: IpAddr) -> Option<ConnectionPermit> {
        let mut open = match self.open.lock() {
            Ok(open) => open,
            Err(poisoned) => poisoned.into_inner(),
        };
        let count = open.entry(client).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ConnectionPermit {
            limit: self.clone(),
            client,
        })
    }
}

/// Counts the request's connection against its client's limit, on the connection's first
/// request; 503 when the client has too many open.
///
/// Behind a trusted proxy the client is the one the connection's first request names: a
/// proxy's connection carries many clients' requests, and counts against the first.
pub fn admit_connection(
    req: &actix_web::HttpRequest,
    client: Option<IpAddr>,
    limit: &Arc<ConnectionLimit>,
) -> Result<(), crate::error::ProxyError> {
    if limit.max == 0 {
        return Ok(());
    }
    let (Some(slot), Some(peer)) = (req.conn_data::<ConnectionSlot>(), client) else {
        return Ok(());
    };
    if slot.is_empty() {
        match limit.enter(peer) {
            Some(permit) => slot.fill(permit),
            None => return Err(crate::error::ProxyError::TooManyConnections),
        }
    }
    Ok(())
}

/// `Retry-After` in whole seconds, at least 1 (RFC 9110 §10.2.3).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            rate: 2.0,
            burst: 3,
        });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(a, start).is_ok());
        }
        let wait = limiter.check_at(a, start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        assert!(
            limiter.check_at(b, start).is_ok(),
            "another client is not limited"
        );
        assert!(limiter
            .check_at(a, start + Duration::from_millis(500))
            .is_ok());
        assert!(limiter
            .check_at(a, start + Duration::from_millis(500))
            .is_err());
        // Refills to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.check_at(a, later).is_ok());
        }
        assert!(limiter.check_at(a, later).is_err());
    }

    #[test]
    fn parse() {
        assert_eq!(
            RateLimit::parse("10/s, burst=20").unwrap(),
            RateLimit {
                rate: 10.0,
                burst: 20
            }
        );
        assert_eq!(RateLimit::parse("120/m").unwrap().rate, 2.0);
        assert_eq!(RateLimit::parse("5").unwrap().burst, 1);
        assert!(RateLimit::parse("0").is_err());
        assert!(RateLimit::parse("5/h").is_err());
        assert!(RateLimit::parse("5,burst=0").is_err());
        assert!(RateLimit::parse("5,bust=3").is_err());
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(RateLimit {
            rate: 1.0,
            burst: 1,
        });
        let now = Instant::now();
        for i in 0..(SHARDS * MAX_CLIENTS_PER_SHARD * 2) as u32 {
            let _ = limiter.check_at(IpAddr::from(i.to_be_bytes()), now);
        }
        let total: usize = limiter.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * MAX_CLIENTS_PER_SHARD, "{total}");
    }

    #[test]
    fn connections_are_counted_per_client_and_given_back() {
        let limit = ConnectionLimit::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = limit.enter(a).unwrap();
        let _second = limit.enter(a).unwrap();
        assert!(limit.enter(a).is_none());
        assert!(limit.enter(b).is_some());
        drop(first);
        assert!(limit.enter(a).is_some());
        assert!(
            limit.open.lock().unwrap().get(&b).is_none(),
            "closed clients are forgotten"
        );
    }
}
