//! Upstreams and their instances. An instance given by address (`http://127.0.0.1:5002`) is one
//! instance. One given by host name (`http://tasks.api-service:5002` on Docker Swarm,
//! `http://api-service:5002` under `docker compose --scale`) stands for every address the name
//! resolves to: the name is looked up again every `UPSTREAM_RESOLVE_INTERVAL` and each address
//! becomes an instance, added and dropped as tasks come and go, each keeping its health (what
//! Traefik and Nginx Plus' `resolve` do; plain Nginx resolves once, at start). Until a name has
//! resolved, or when a lookup fails, the instances it had are kept (at first: connect by name).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::health::InstanceHealth;

/// One instance of an upstream: where to connect and what it is called in logs.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `host:port` or `unix:/path`, what we connect to (and the pool key).
    pub authority: Arc<str>,
    /// The URL as configured, or `http://address:port` for an address a name resolved to: the
    /// probe's base URL, the name in logs, and the key that keeps its health across reloads.
    pub url: Arc<str>,
    /// Shared with the same instance in the previous table, so a reload keeps what the probes
    /// and failures learnt.
    pub health: Arc<InstanceHealth>,
    /// Which configured entry it comes from.
    source: usize,
}

/// An instance as configured.
#[derive(Debug)]
pub struct Source {
    pub url: Arc<str>,
    /// For a Unix socket (`unix:/run/hbnb/api.sock`): its path, and `host`/`port` unused.
    pub unix_path: Option<String>,
    pub host: String,
    pub port: u16,
}

impl Source {
    /// A host name, looked up again and again; an address or a Unix socket is used as it is.
    fn is_name(&self) -> bool {
        self.unix_path.is_none()
            && self
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_err()
    }

    /// What the pool connects to: `host:port`, or `unix:/path`.
    fn authority(&self) -> String {
        match &self.unix_path {
            Some(path) => format!("unix:{path}"),
            None => format!("{}:{}", self.host, self.port),
        }
    }
}

#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    sources: Vec<Source>,
    /// Replaced whole when a name resolves to other addresses; requests take a snapshot.
    instances: RwLock<Arc<[Instance]>>,
    next: AtomicUsize,
}

/// A name's addresses, or why there are none this time.
pub type Resolution = Result<Vec<SocketAddr>, String>;

impl Upstream {
    /// One instance per configured entry (names not resolved yet); `health` gives each its
    /// state from the previous table, by URL.
    pub fn new(
        name: &str,
        sources: Vec<Source>,
        health: impl Fn(&str) -> Arc<InstanceHealth>,
    ) -> Self {
        let instances = sources
            .iter()
            .enumerate()
            .map(|(source, entry)| Instance {
                authority: Arc::from(entry.authority()),
                url: entry.url.clone(),
                health: health(&entry.url),
                source,
            })
            .collect();
        Self {
            name: name.to_owned(),
            sources,
            instances: RwLock::new(instances),
            next: AtomicUsize::new(0),
        }
    }

    /// The instances now (a cheap snapshot: a reference count).
    pub fn instances(&self) -> Arc<[Instance]> {
        match self.instances.read() {
            Ok(instances) => instances.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `instances` in the order to try them for one request: round-robin start, then the rest.
    /// Healthy instances come first; the others only as a last resort.
    pub fn rotation<'a>(
        &self,
        instances: &'a [Instance],
    ) -> impl Iterator<Item = &'a Instance> + Clone {
        let len = instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % len.max(1);
        let ordered = move || (0..len).map(move |i| &instances[(start + i) % len]);
        ordered()
            .filter(|i| i.health.is_available())
            .chain(ordered().filter(|i| !i.health.is_available()))
    }

    /// The configured entries that are host names, by index, for `refresh`.
    pub fn names(&self) -> impl Iterator<Item = (usize, &Source)> {
        self.sources.iter().enumerate().filter(|(_, s)| s.is_name())
    }

    /// Replaces the instances of every name by the addresses `lookup` found for it (a failed or
    /// empty lookup keeps what the name had). An instance seen before, here or in `known` (the
    /// previous table's, by URL), keeps its health. Returns the URLs added and removed.
    pub fn refresh(
        &self,
        lookup: &HashMap<usize, Resolution>,
        known: &HashMap<Arc<str>, Arc<InstanceHealth>>,
    ) -> (Vec<Arc<str>>, Vec<Arc<str>>) {
        let current = self.instances();
        let health = |url: &Arc<str>| {
            current
                .iter()
                .find(|i| &i.url == url)
                .map(|i| i.health.clone())
                .or_else(|| known.get(url).cloned())
                .unwrap_or_default()
        };
        let mut next: Vec<Instance> = Vec::with_capacity(current.len());
        for (index, source) in self.sources.iter().enumerate() {
            match lookup.get(&index) {
                Some(Ok(addresses)) if source.is_name() && !addresses.is_empty() => {
                    let mut addresses = addresses.clone();
                    addresses.sort();
                    for address in addresses {
                        let url: Arc<str> = Arc::from(format!("http://{address}"));
                        if next.iter().any(|i| i.url == url) {
                            continue;
                        }
                        next.push(Instance {
                            authority: Arc::from(address.to_string()),
                            health: health(&url),
                            url,
                            source: index,
                        });
                    }
                }
                _ => next.extend(current.iter().filter(|i| i.source == index).cloned()),
            }
        }
        let added: Vec<Arc<str>> = next
            .iter()
            .filter(|n| !current.iter().any(|c| c.url == n.url))
            .map(|n| n.url.clone())
            .collect();
        let removed: Vec<Arc<str>> = current
            .iter()
            .filter(|c| !next.iter().any(|n| n.url == c.url))
            .map(|c| c.url.clone())
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            let next: Arc<[Instance]> = next.into();
            match self.instances.write() {
                Ok(mut instances) => *instances = next,
                Err(poisoned) => *poisoned.into_inner() = next,
            }
        }
        (added, removed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::HealthPolicy;

    fn upstream() -> Upstream {
        let source = |url: &str, host: &str| Source {
            url: Arc::from(url),
            unix_path: None,
            host: host.to_owned(),
            port: 5002,
        };
        Upstream::new(
            "api",
            vec![
                source("http://127.0.0.1:5002", "127.0.0.1"),
                source("http://tasks.api:5002", "tasks.api"),
            ],
            |_| Arc::default(),
        )
    }

    fn urls(upstream: &Upstream) -> Vec<String> {
        upstream
            .instances()
            .iter()
            .map(|i| i.url.to_string())
            .collect()
    }

    fn found(addresses: &[&str]) -> HashMap<usize, Resolution> {
        let addresses = addresses.iter().map(|a| a.parse().unwrap()).collect();
        HashMap::from([(1, Ok(addresses))])
    }

    fn health_of(upstream: &Upstream, url: &str) -> Arc<InstanceHealth> {
        let instances = upstream.instances();
        let instance = instances.iter().find(|i| &*i.url == url).unwrap();
        instance.health.clone()
    }

    #[test]
    fn a_name_stands_for_every_address_it_resolves_to() {
        let api = upstream();
        assert_eq!(api.names().map(|(i, _)| i).collect::<Vec<_>>(), [1]);
        assert_eq!(
            urls(&api),
            ["http://127.0.0.1:5002", "http://tasks.api:5002"]
        );

        let none = HashMap::new();
        let (added, removed) = api.refresh(&found(&["10.0.0.2:5002", "10.0.0.1:5002"]), &none);
        assert_eq!(
            urls(&api),
            [
                "http://127.0.0.1:5002",
                "http://10.0.0.1:5002",
                "http://10.0.0.2:5002"
            ]
        );
        assert_eq!((added.len(), removed.len()), (2, 1));
        let instances = api.instances();
        assert_eq!(&*instances[1].authority, "10.0.0.1:5002");

        // A task goes, another comes: the one that stays keeps its health.
        let policy = HealthPolicy {
            max_fails: 1,
            fail_timeout: Duration::from_secs(60),
        };
        health_of(&api, "http://10.0.0.1:5002").record_failure(policy);
        let (added, removed) = api.refresh(&found(&["10.0.0.3:5002", "10.0.0.1:5002"]), &none);
        assert_eq!(
            urls(&api),
            [
                "http://127.0.0.1:5002",
                "http://10.0.0.1:5002",
                "http://10.0.0.3:5002"
            ]
        );
        assert_eq!(&*added[0], "http://10.0.0.3:5002");
        assert_eq!(&*removed[0], "http://10.0.0.2:5002");
        assert!(!health_of(&api, "http://10.0.0.1:5002").is_available());
        assert!(health_of(&api, "http://10.0.0.3:5002").is_available());

        // A failed or empty lookup keeps what the name had.
        let failed = HashMap::from([(1, Err("no such host".to_owned()))]);
        assert_eq!(api.refresh(&failed, &none), (vec![], vec![]));
        assert_eq!(api.refresh(&found(&[]), &none), (vec![], vec![]));
        assert_eq!(urls(&api).len(), 3);

        // A reloaded table's upstream takes the health the old one learnt.
        let reloaded = upstream();
        let known = HashMap::from([(
            Arc::from("http://10.0.0.1:5002"),
            health_of(&api, "http://10.0.0.1:5002"),
        )]);
        reloaded.refresh(&found(&["10.0.0.1:5002"]), &known);
        assert!(Arc::ptr_eq(
            &health_of(&reloaded, "http://10.0.0.1:5002"),
            &health_of(&api, "http://10.0.0.1:5002")
        ));
    }

    #[test]
    fn addresses_are_not_names() {
        for host in ["127.0.0.1", "[::1]", "10.1.2.3"] {
            let source = Source {
                url: Arc::from("http://x"),
                unix_path: None,
                host: host.into(),
                port: 1,
            };
            assert!(!source.is_name(), "{host}");
        }
        let source = Source {
            url: Arc::from("http://x"),
            unix_path: None,
            host: "api-service".into(),
            port: 1,
        };
        assert!(source.is_name());
        let socket = Source {
            url: Arc::from("unix:/run/hbnb/api.sock"),
            unix_path: Some("/run/hbnb/api.sock".into()),
            host: String::new(),
            port: 0,
        };
        assert!(!socket.is_name());
        assert_eq!(socket.authority(), "unix:/run/hbnb/api.sock");
    }
}
