//! The route table as data. The built-in default *is* the course's Nginx (0x1A tasks 2–5
//! combined); a TOML file can replace it. Everything is validated once, when loaded: a bad file is
//! refused with an error that names the problem, never discovered per request.
//!
//! ```toml
//! [upstreams]
//! hello = ["http://127.0.0.1:5000"]
//! number = ["http://127.0.0.1:5001", "http://127.0.0.1:5011"]
//!
//! [[route]]
//! match = "regex"                  # exact | prefix | regex
//! path = '^/airbnb-dynamic/number_odd_or_even/([0-9]+)/?$'
//! rewrite = "/number_odd_or_even/$1"
//! upstream = "number"              # or: static_dir = "web-dynamic/static", or: status = 404
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hbnb_common::static_files::StaticFiles;
use regex::Regex;

use crate::health::InstanceHealth;
use crate::upstream::{Source, Upstream};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("route {index} ({path:?}): {problem}")]
    Route {
        index: usize,
        path: String,
        problem: String,
    },
    #[error("upstream {name:?}: {problem}")]
    Upstream { name: String, problem: String },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("{name}: {problem}")]
    Setting { name: &'static str, problem: String },
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    Exact,
    Prefix,
    Regex,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Proxies whose `X-Forwarded-For` names the client (Nginx's `set_real_ip_from`):
    /// addresses or CIDR blocks (`TRUSTED_PROXIES` overrides them). See `real_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<String>>,
    #[serde(default)]
    pub upstreams: BTreeMap<String, Vec<String>>,
    #[serde(rename = "route", default)]
    pub routes: Vec<RouteConfig>,
    /// HTTPS: the certificate and key (`TLS_CERT`/`TLS_KEY` override them).
    #[serde(default)]
    pub tls: Option<crate::tls::TlsFiles>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(rename = "match")]
    pub kind: MatchKind,
    pub path: String,
    #[serde(default)]
    pub rewrite: Option<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub static_dir: Option<PathBuf>,
    #[serde(default)]
    pub status: Option<u16>,
    /// Per-client request rate on this route (Nginx's `limit_req`): `{ rate = 10, burst = 20 }`.
    #[serde(default)]
    pub rate_limit: Option<crate::limits::RateLimit>,
    /// Response headers this route sets (Nginx's `add_header ... always`), replacing the
    /// upstream's: e.g. `{ "Strict-Transport-Security" = "max-age=31536000" }` (sent over
    /// HTTPS only, as RFC 6797 asks). Static routes get `X-Content-Type-Options: nosniff`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// The four upstreams the built-in table names, with the environment variables that override them.
pub const DEFAULT_UPSTREAMS: [(&str, &str, u16); 4] = [
    ("hello", "HELLO_UPSTREAM", 5000),
    ("number", "NUMBER_UPSTREAM", 5001),
    ("api", "API_UPSTREAM", 5002),
    ("web", "WEB_UPSTREAM", 5003),
];

impl FileConfig {
    /// The course's Nginx: tasks 2–5 combined (spec §6). `/static/` is served from `static_dir`
    /// when one is given, otherwise proxied to the web site like N1/N2 do.
    pub fn builtin(static_dir: Option<&Path>) -> FileConfig {
        let upstream = |name: &str| RouteConfig {
            kind: MatchKind::Prefix,
            path: String::new(),
            rewrite: None,
            upstream: Some(name.to_owned()),
            static_dir: None,
            status: None,
            rate_limit: None,
            headers: BTreeMap::new(),
        };
        let routes = vec![
            RouteConfig {
                kind: MatchKind::Regex,
                path: "^/airbnb-onepage(/.*)?$".into(),
                ..upstream("hello")
            },
            RouteConfig {
                kind: MatchKind::Regex,
                path: "^/airbnb-dynamic/number_odd_or_even/([0-9]+)/?$".into(),
                rewrite: Some("/number_odd_or_even/$1".into()),
                ..upstream("number")
            },
            RouteConfig {
                path: "/airbnb-dynamic/".into(),
                upstream: None,
                status: Some(404),
                ..upstream("number")
            },
            RouteConfig {
                path: "/api/".into(),
                ..upstream("api")
            },
            match static_dir {
                Some(dir) => RouteConfig {
                    path: "/static/".into(),
                    upstream: None,
                    static_dir: Some(dir.to_path_buf()),
                    ..upstream("web")
                },
                None => RouteConfig {
                    path: "/static/".into(),
                    ..upstream("web")
                },
            },
            RouteConfig {
                kind: MatchKind::Exact,
                path: "/".into(),
                rewrite: Some("/2-hbnb/".into()),
                ..upstream("web")
            },
            RouteConfig {
                path: "/".into(),
                ..upstream("web")
            },
        ];
        let upstreams = DEFAULT_UPSTREAMS
            .iter()
            .map(|(name, _, port)| ((*name).to_owned(), vec![format!("http://127.0.0.1:{port}")]))
            .collect();
        FileConfig {
            trusted_proxies: None,
            upstreams,
            routes,
            tls: None,
        }
    }

    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// `RATE_LIMIT` (`10/s,burst=20`): the limit of every proxied route that has none of its
    /// own.
    pub fn apply_default_rate_limit(&mut self, value: Option<&str>) -> Result<(), ConfigError> {
        let Some(value) = value
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != "off")
        else {
            return Ok(());
        };
        let limit =
            crate::limits::RateLimit::parse(value).map_err(|problem| ConfigError::Setting {
                name: "RATE_LIMIT",
                problem,
            })?;
        for route in &mut self.routes {
            if route.upstream.is_some() && route.rate_limit.is_none() {
                route.rate_limit = Some(limit);
            }
        }
        Ok(())
    }

    /// `HELLO_UPSTREAM` & co. replace the named upstream's instance list.
    pub fn apply_env_overrides(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for (name, variable, _) in DEFAULT_UPSTREAMS {
            if let Some(value) = lookup(variable).filter(|v| !v.trim().is_empty()) {
                let instances = value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                self.upstreams.insert(name.to_owned(), instances);
            }
        }
    }
}

#[derive(Debug)]
pub enum Action {
    Proxy(Arc<Upstream>),
    /// A folder read into memory when the table is compiled (Nginx's `alias`).
    Static(Arc<StaticFiles>),
    Status(u16),
}

#[derive(Debug)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Regex {
        regex: Regex,
        /// What every match starts with, when that is known (`anchored_starts`).
        starts: Option<Vec<String>>,
    },
}

#[derive(Debug)]
pub struct Route {
    matcher: Matcher,
    rewrite: Option<String>,
    pub action: Action,
    /// The route's `route` label in the metrics: its match kind and path (`prefix /api/`).
    pub label: Arc<str>,
    /// Its per-client rate limit, if it has one (buckets start full again after a reload).
    pub limiter: Option<crate::limits::RateLimiter>,
    /// Response headers it sets.
    pub headers: Vec<(
        actix_web::http::header::HeaderName,
        actix_web::http::header::HeaderValue,
    )>,
}

/// What a request path resolved to.
pub struct Resolved<'a> {
    pub route: &'a Route,
    /// The path to send upstream (or the file path relative to a static dir); `None` = unchanged.
    pub rewritten: Option<String>,
    /// For static routes: the path below the route's prefix.
    pub rest: &'a str,
}

#[derive(Debug)]
pub struct RouteTable {
    /// In the configured order.
    routes: Vec<Route>,
    /// Indexes into `routes`, in the order `resolve` tries them (`search_order`).
    search_order: Vec<usize>,
    /// A fingerprint of the configuration compiled (after environment overrides).
    pub hash: u64,
    /// Whose `X-Forwarded-For` is believed (empty: nobody's).
    pub trusted_proxies: crate::real_ip::TrustedProxies,
}

impl RouteTable {
    /// How many routes it has.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    pub fn compile(config: &FileConfig) -> Result<RouteTable, ConfigError> {
        Self::compile_after(config, None)
    }

    /// Compiles `config`; instances that `previous` has too keep their health state.
    pub fn compile_after(
        config: &FileConfig,
        previous: Option<&RouteTable>,
    ) -> Result<RouteTable, ConfigError> {
        let known = previous.map(RouteTable::health_by_url).unwrap_or_default();
        let trusted_proxies = crate::real_ip::TrustedProxies::parse(
            config.trusted_proxies.iter().flatten().map(String::as_str),
        )
        .map_err(|problem| ConfigError::Setting {
            name: "trusted_proxies (TRUSTED_PROXIES)",
            problem,
        })?;
        let mut upstreams = BTreeMap::new();
        for (name, urls) in &config.upstreams {
            let upstream = compile_upstream(name, urls, |url| {
                known.get(url).cloned().unwrap_or_default()
            })?;
            upstreams.insert(name.clone(), Arc::new(upstream));
        }
        let mut routes = Vec::with_capacity(config.routes.len());
        for (index, route) in config.routes.iter().enumerate() {
            let problem = |problem: String| ConfigError::Route {
                index,
                path: route.path.clone(),
                problem,
            };
            if !route.path.starts_with('/') && !(route.kind == MatchKind::Regex) {
                return Err(problem("path must start with '/'".into()));
            }
            let matcher = match route.kind {
                MatchKind::Exact => Matcher::Exact(route.path.clone()),
                MatchKind::Prefix => Matcher::Prefix(route.path.clone()),
                MatchKind::Regex => Matcher::regex(&route.path)
                    .map_err(|e| problem(format!("invalid regex: {e}")))?,
            };
            let action = match (&route.upstream, &route.static_dir, route.status) {
                (Some(name), None, None) => Action::Proxy(
                    upstreams
                        .get(name)
                        .cloned()
                        .ok_or_else(|| problem(format!("unknown upstream {name:?}")))?,
                ),
                (None, Some(dir), None) => {
                    if route.kind != MatchKind::Prefix {
                        return Err(problem("static_dir needs match = \"prefix\"".into()));
                    }
                    if !dir.is_dir() {
                        return Err(problem(format!(
                            "static_dir {} is not a directory",
                            dir.display()
                        )));
                    }
                    let files = StaticFiles::load(dir).map_err(|e| {
                        problem(format!("cannot read static_dir {}: {e}", dir.display()))
                    })?;
                    Action::Static(Arc::new(files))
                }
                (None, None, Some(status)) => {
                    if !(100..=599).contains(&status) {
                        return Err(problem(format!("status {status} is not an HTTP status")));
                    }
                    Action::Status(status)
                }
                _ => {
                    return Err(problem(
                        "give exactly one of upstream, static_dir or status".into(),
                    ))
                }
            };
            let limiter = match route.rate_limit {
                Some(limit) => {
                    limit.validate().map_err(&problem)?;
                    Some(crate::limits::RateLimiter::new(limit))
                }
                None => None,
            };
            let mut headers = Vec::new();
            for (name, value) in &route.headers {
                let name = actix_web::http::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| problem(format!("{name:?} is not a header name")))?;
                let value = actix_web::http::header::HeaderValue::from_str(value)
                    .map_err(|_| problem(format!("{value:?} is not a header value")))?;
                headers.push((name, value));
            }
            if matches!(action, Action::Static(_))
                && !headers.iter().any(|(n, _)| n == "x-content-type-options")
            {
                headers.push((
                    actix_web::http::header::X_CONTENT_TYPE_OPTIONS,
                    actix_web::http::header::HeaderValue::from_static("nosniff"),
                ));
            }
            if let Some(rewrite) = &route.rewrite {
                if !rewrite.starts_with('/') {
                    return Err(problem("rewrite must start with '/'".into()));
                }
                if matches!(action, Action::Static(_)) {
                    return Err(problem("a static route cannot rewrite".into()));
                }
            }
            let kind = match route.kind {
                MatchKind::Exact => "exact",
                MatchKind::Prefix => "prefix",
                MatchKind::Regex => "regex",
            };
            routes.push(Route {
                matcher,
                rewrite: route.rewrite.clone(),
                action,
                label: format!("{kind} {}", route.path).into(),
                limiter,
                headers,
            });
        }
        if routes.is_empty() {
            return Err(ConfigError::Route {
                index: 0,
                path: String::new(),
                problem: "the configuration has no [[route]]".into(),
            });
        }
        let search_order = search_order(&routes);
        let hash = crate::metrics::fingerprint(format!("{config:?}").as_bytes());
        Ok(RouteTable {
            routes,
            search_order,
            hash,
            trusted_proxies,
        })
    }

    /// Every instance's health, by URL: what a table replacing this one keeps.
    pub fn health_by_url(&self) -> HashMap<Arc<str>, Arc<InstanceHealth>> {
        let mut known = HashMap::new();
        for upstream in self.upstreams() {
            known.extend(
                upstream
                    .instances()
                    .iter()
                    .map(|i| (i.url.clone(), i.health.clone())),
            );
        }
        known
    }

    /// Every upstream some route proxies to, once each.
    pub fn upstreams(&self) -> Vec<Arc<Upstream>> {
        let mut seen: Vec<Arc<Upstream>> = Vec::new();
        for route in &self.routes {
            if let Action::Proxy(upstream) = &route.action {
                if !seen.iter().any(|u| Arc::ptr_eq(u, upstream)) {
                    seen.push(upstream.clone());
                }
            }
        }
        seen
    }

    /// The first route that matches `path` (routes are tried in order, like a list of locations;
    /// `search_order` only moves a literal ahead of regexes it can never share a path with).
    pub fn resolve<'a>(&'a self, path: &'a str) -> Option<Resolved<'a>> {
        self.search_order
            .iter()
            .find_map(|&index| self.routes[index].resolve(path))
    }
}

impl Route {
    fn resolve<'a>(&'a self, path: &'a str) -> Option<Resolved<'a>> {
        match &self.matcher {
            Matcher::Exact(exact) if path == exact => Some(Resolved {
                route: self,
                rewritten: self.rewrite.clone(),
                rest: "",
            }),
            Matcher::Prefix(prefix) if path.starts_with(prefix.as_str()) => {
                let rest = &path[prefix.len()..];
                let rewritten = self.rewrite.as_ref().map(|r| format!("{r}{rest}"));
                Some(Resolved {
                    route: self,
                    rewritten,
                    rest,
                })
            }
            Matcher::Regex { regex, .. } => {
                let captures = regex.captures(path)?;
                let rewritten = self.rewrite.as_ref().map(|template| {
                    let mut out = String::new();
                    captures.expand(template, &mut out);
                    out
                });
                Some(Resolved {
                    route: self,
                    rewritten,
                    rest: "",
                })
            }
            _ => None,
        }
    }
}

impl Matcher {
    fn regex(pattern: &str) -> Result<Matcher, regex::Error> {
        Ok(Matcher::Regex {
            regex: Regex::new(pattern)?,
            starts: anchored_starts(pattern),
        })
    }

    fn is_literal(&self) -> bool {
        !matches!(self, Matcher::Regex { .. })
    }

    /// True when no path can match both: a literal and an anchored regex whose every match
    /// starts with a literal the other cannot share (two regexes are never assumed disjoint).
    fn disjoint(&self, other: &Matcher) -> bool {
        let (literal, starts) = match (self, other) {
            (Matcher::Regex { starts, .. }, literal) | (literal, Matcher::Regex { starts, .. })
                if literal.is_literal() =>
            {
                (literal, starts)
            }
            (Matcher::Exact(a), Matcher::Exact(b)) => return a != b,
            (Matcher::Exact(exact), Matcher::Prefix(prefix))
            | (Matcher::Prefix(prefix), Matcher::Exact(exact)) => {
                return !exact.starts_with(prefix.as_str())
            }
            (Matcher::Prefix(a), Matcher::Prefix(b)) => {
                return !a.starts_with(b.as_str()) && !b.starts_with(a.as_str())
            }
            _ => return false,
        };
        let Some(starts) = starts else { return false };
        starts.iter().all(|start| match literal {
            Matcher::Exact(exact) => !exact.starts_with(start.as_str()),
            Matcher::Prefix(prefix) => {
                !prefix.starts_with(start.as_str()) && !start.starts_with(prefix.as_str())
            }
            Matcher::Regex { .. } => false,
        })
    }
}

/// The literals every match of `pattern` starts with, when it is anchored at the start of the
/// path and they are finitely many; `None` when a match could start anywhere or with anything.
fn anchored_starts(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    use regex_syntax::hir::Look;
    let hir = regex_syntax::parse(pattern).ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let starts = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    starts
        .literals()?
        .iter()
        .map(|literal| String::from_utf8(literal.as_bytes().to_vec()).ok())
        .collect()
}

/// The order `resolve` tries routes in: the configured order, except that a literal route moves
/// ahead of the regexes before it when it can share a path with none of the routes it passes, so
/// the first match is the same for every path and `/api/` needs no regex.
fn search_order(routes: &[Route]) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::with_capacity(routes.len());
    for (index, route) in routes.iter().enumerate() {
        let mut at = order.len();
        if route.matcher.is_literal() {
            let passable = order
                .iter()
                .rev()
                .take_while(|&&earlier| routes[earlier].matcher.disjoint(&route.matcher))
                .count();
            // Move only as far as the earliest regex among the routes it may pass.
            if let Some(first_regex) = order[order.len() - passable..]
                .iter()
                .position(|&earlier| !routes[earlier].matcher.is_literal())
            {
                at = order.len() - passable + first_regex;
            }
        }
        order.insert(at, index);
    }
    order
}

/// The path of an instance given as a Unix socket: `unix:/path.sock`, or Nginx's
/// `http://unix:/path.sock:` (the trailing colon, and a `/` after it, optional).
fn unix_socket_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("unix:")
        .or_else(|| url.strip_prefix("http://unix:"))?;
    let path = path.strip_suffix(":/").unwrap_or(path);
    Some(path.strip_suffix(':').unwrap_or(path))
}

fn compile_upstream(
    name: &str,
    urls: &[String],
    health: impl Fn(&str) -> Arc<InstanceHealth>,
) -> Result<Upstream, ConfigError> {
    let problem = |problem: String| ConfigError::Upstream {
        name: name.to_owned(),
        problem,
    };
    if urls.is_empty() {
        return Err(problem("no instance listed".into()));
    }
    let mut sources = Vec::with_capacity(urls.len());
    for url in urls {
        if let Some(path) = unix_socket_path(url) {
            hbnb_common::listen::check_socket_path(std::path::Path::new(path))
                .map_err(|e| problem(format!("{url:?}: {e}")))?;
            if !path.starts_with('/') {
                return Err(problem(format!(
                    "{url:?}: give the socket's absolute path (unix:/run/hbnb/api.sock)"
                )));
            }
            sources.push(Source {
                url: Arc::from(url.as_str()),
                unix_path: Some(path.to_owned()),
                host: String::new(),
                port: 0,
            });
            continue;
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|e| problem(format!("{url:?} is not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(problem(format!(
                "{url:?}: only http:// and unix: (a Unix socket) upstreams are supported"
            )));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(problem(format!(
                "{url:?}: give a base URL without a path (use a route's rewrite to change paths)"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| problem(format!("{url:?} has no host")))?;
        sources.push(Source {
            url: Arc::from(url.as_str()),
            unix_path: None,
            host: authority.host().to_owned(),
            port: authority.port_u16().unwrap_or(80),
        });
    }
    Ok(Upstream::new(name, sources, health))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> RouteTable {
        RouteTable::compile(&FileConfig::builtin(None)).unwrap()
    }

    fn target(table: &RouteTable, path: &str) -> (String, Option<String>) {
        let resolved = table.resolve(path).unwrap();
        let name = match &resolved.route.action {
            Action::Proxy(upstream) => upstream.name.clone(),
            Action::Static(_) => "static".into(),
            Action::Status(status) => status.to_string(),
        };
        (name, resolved.rewritten)
    }

    /// `resolve` as configured: the first route in the file's order that matches.
    fn resolve_in_file_order<'a>(table: &'a RouteTable, path: &'a str) -> Option<Resolved<'a>> {
        table.routes.iter().find_map(|route| route.resolve(path))
    }

    /// Paths near every route's own path: itself, longer, shorter, and with a changed last byte.
    fn paths_near(table: &RouteTable) -> Vec<String> {
        let mut paths = vec!["/".to_owned(), String::new(), "x".into()];
        for route in &table.routes {
            let seed = match &route.matcher {
                Matcher::Exact(path) | Matcher::Prefix(path) => path.clone(),
                Matcher::Regex { starts, .. } => starts.clone().unwrap_or_default().concat(),
            };
            for end in 0..=seed.len() {
                if let Some(head) = seed.get(..end) {
                    paths.extend([head.to_owned(), format!("{head}x"), format!("{head}/1")]);
                }
            }
            paths.extend([
                format!("{seed}89"),
                format!("{seed}89/"),
                format!("{seed}/a/b"),
            ]);
        }
        paths
    }

    fn assert_same_first_match(table: &RouteTable) {
        for path in paths_near(table) {
            let ours = table
                .resolve(&path)
                .map(|r| (r.route as *const Route, r.rewritten));
            let file =
                resolve_in_file_order(table, &path).map(|r| (r.route as *const Route, r.rewritten));
            assert_eq!(
                ours, file,
                "{path:?} resolves differently from the file's order"
            );
        }
    }

    #[test]
    fn literal_routes_are_tried_before_regexes_they_cannot_overlap() {
        let t = builtin();
        let first = &t.routes[t.search_order[0]];
        assert!(matches!(&first.matcher, Matcher::Prefix(p) if p == "/api/"));
        // `/airbnb-dynamic/` overlaps the number regex, and `/` overlaps everything: both stay
        // behind the regexes, as in the file.
        let position = |path: &str| {
            t.search_order
                .iter()
                .position(|&i| matches!(&t.routes[i].matcher, Matcher::Prefix(p) if p == path))
                .unwrap()
        };
        let number_regex = t
            .search_order
            .iter()
            .position(|&i| t.routes[i].rewrite.is_some() && !t.routes[i].matcher.is_literal())
            .unwrap();
        assert!(position("/airbnb-dynamic/") > number_regex);
        assert_eq!(position("/"), t.routes.len() - 1);
        assert_same_first_match(&t);
    }

    #[test]
    fn reordering_never_changes_which_route_matches() {
        let route = |kind: &str, path: &str| {
            format!("[[route]]\nmatch = \"{kind}\"\npath = {path:?}\nstatus = 204\n")
        };
        let tables = [
            // Unanchored, alternation that escapes the anchor, optional and repeated characters,
            // a regex whose start a later prefix shares, exact routes on both sides.
            [
                route("regex", "/api/"),
                route("prefix", "/api/"),
                route("regex", "^/a|/b"),
                route("prefix", "/b"),
                route("regex", "^/ab?c"),
                route("prefix", "/ac"),
                route("exact", "/a"),
                route("regex", "^/(x|y)z+"),
                route("prefix", "/xzz"),
                route("prefix", "/y"),
                route("exact", "/q"),
                route("prefix", "/"),
            ]
            .concat(),
            [
                route("regex", "(?i)^/api"),
                route("prefix", "/API/"),
                route("regex", "^/s[0-9]/"),
                route("prefix", "/s1"),
                route("prefix", "/t"),
            ]
            .concat(),
        ];
        for text in tables {
            let config: FileConfig = toml::from_str(&text).unwrap();
            let table = RouteTable::compile(&config).unwrap();
            assert_same_first_match(&table);
        }
        assert_same_first_match(&builtin());
    }

    #[test]
    fn builtin_table_is_the_course_nginx() {
        let t = builtin();
        assert_eq!(target(&t, "/airbnb-onepage/"), ("hello".into(), None));
        assert_eq!(target(&t, "/airbnb-onepage"), ("hello".into(), None));
        assert_eq!(
            target(&t, "/airbnb-dynamic/number_odd_or_even/89"),
            ("number".into(), Some("/number_odd_or_even/89".into()))
        );
        assert_eq!(
            target(&t, "/airbnb-dynamic/number_odd_or_even/007/"),
            ("number".into(), Some("/number_odd_or_even/007".into()))
        );
        assert_eq!(target(&t, "/airbnb-dynamic/number_odd_or_even/-4").0, "404");
        assert_eq!(target(&t, "/airbnb-dynamic/number_odd_or_even/4x").0, "404");
        assert_eq!(target(&t, "/airbnb-dynamic/").0, "404");
        assert_eq!(target(&t, "/api/v1/states"), ("api".into(), None));
        assert_eq!(target(&t, "/static/styles/4-common.css").0, "web");
        assert_eq!(target(&t, "/"), ("web".into(), Some("/2-hbnb/".into())));
        assert_eq!(target(&t, "/101-hbnb/"), ("web".into(), None));
    }

    #[test]
    fn the_example_file_is_the_builtin_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.example.toml");
        let file = FileConfig::load(&path).unwrap();
        let builtin = FileConfig::builtin(None);
        assert_eq!(file.upstreams, builtin.upstreams);
        assert_eq!(
            format!("{:?}", file.routes),
            format!("{:?}", builtin.routes)
        );
    }

    #[test]
    fn static_dir_replaces_static_proxying() {
        let dir = std::env::temp_dir().join(format!("gw-config-static-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("images")).unwrap();
        std::fs::write(dir.join("images/logo.png"), b"\x89PNG").unwrap();
        let t = RouteTable::compile(&FileConfig::builtin(Some(&dir))).unwrap();
        let resolved = t.resolve("/static/images/logo.png").unwrap();
        let Action::Static(files) = &resolved.route.action else {
            panic!("not a static route")
        };
        assert!(files.fingerprint("images/logo.png").is_some());
        assert_eq!(resolved.rest, "images/logo.png");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn env_overrides_give_several_instances() {
        let mut config = FileConfig::builtin(None);
        config.apply_env_overrides(|v| {
            (v == "HELLO_UPSTREAM").then(|| "http://127.0.0.1:1, http://localhost:2".to_owned())
        });
        let t = RouteTable::compile(&config).unwrap();
        let Action::Proxy(upstream) = &t.resolve("/airbnb-onepage/").unwrap().route.action else {
            panic!("not a proxy route")
        };
        let instances = upstream.instances();
        let authorities: Vec<_> = instances.iter().map(|i| &*i.authority).collect();
        assert_eq!(authorities, ["127.0.0.1:1", "localhost:2"]);
        let first: Vec<_> = upstream
            .rotation(&instances)
            .map(|i| i.authority.clone())
            .collect();
        let second: Vec<_> = upstream
            .rotation(&instances)
            .map(|i| i.authority.clone())
            .collect();
        assert_ne!(
            first[0], second[0],
            "round-robin starts on the next instance"
        );
    }

    #[test]
    fn unix_socket_instances_in_both_forms_beside_tcp() {
        let mut config = FileConfig::builtin(None);
        config.apply_env_overrides(|v| {
            (v == "API_UPSTREAM").then(|| {
                "unix:/run/hbnb/api.sock, http://unix:/run/hbnb/api2.sock:, http://127.0.0.1:1"
                    .to_owned()
            })
        });
        let t = RouteTable::compile(&config).unwrap();
        let Action::Proxy(upstream) = &t.resolve("/api/v1/states").unwrap().route.action else {
            panic!("not a proxy route")
        };
        let instances = upstream.instances();
        let authorities: Vec<_> = instances.iter().map(|i| &*i.authority).collect();
        assert_eq!(
            authorities,
            [
                "unix:/run/hbnb/api.sock",
                "unix:/run/hbnb/api2.sock",
                "127.0.0.1:1"
            ]
        );
        // Unix sockets are never looked up as names.
        assert_eq!(upstream.names().count(), 0);
        assert_eq!(&*instances[1].url, "http://unix:/run/hbnb/api2.sock:");
    }

    #[test]
    fn invalid_files_are_refused_with_the_problem_named() {
        let bad = |text: &str| {
            let config: FileConfig = toml::from_str(text).unwrap();
            RouteTable::compile(&config).unwrap_err().to_string()
        };
        assert!(
            bad("[[route]]\nmatch = \"regex\"\npath = \"(\"\nupstream = \"x\"")
                .contains("invalid regex")
        );
        assert!(
            bad("[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"nope\"")
                .contains("unknown upstream \"nope\"")
        );
        assert!(bad("[upstreams]\na = [\"https://x\"]\n[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"a\"")
            .contains("only http://"));
        assert!(
            bad("[upstreams]\na = [\"unix:run/a.sock\"]\n[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"a\"")
                .contains("absolute path")
        );
        assert!(
            bad("[[route]]\nmatch = \"prefix\"\npath = \"/\"\nstatus = 404\nupstream = \"a\"")
                .contains("exactly one")
        );
        assert!(toml::from_str::<FileConfig>("[[route]]\nmatch = \"glob\"\npath = \"/\"").is_err());
        assert!(toml::from_str::<FileConfig>(
            "[[route]]\nmatch = \"prefix\"\npath = \"/\"\ntypo = 1"
        )
        .is_err());
    }
}
