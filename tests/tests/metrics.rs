//! `/metrics` on every binary: after known traffic, the counters moved by exactly that much, by
//! route pattern (never the raw path), method and status class; the text parses strictly; the
//! process and build families are there; the gateway's own families are on its METRICS_PORT
//! and `/metrics` is not reachable through its public port; storage calls are timed by
//! operation on every engine.

use std::time::{Duration, Instant};

use hbnb_tests::api::{delete, get, id_of, post};
use hbnb_tests::db::{Api, Engine};
use hbnb_tests::metrics::{scrape, Scrape};
use hbnb_tests::{client, closed_port, Service};
use serde_json::json;

/// Families every binary exports.
const COMMON_FAMILIES: &[&str] = &[
    "http_requests_total",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "hbnb_build_info",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_threads",
    "process_start_time_seconds",
];

fn assert_common(name: &str, scrape: &Scrape) {
    for family in COMMON_FAMILIES {
        assert!(
            scrape.types.contains_key(*family),
            "{name}: no {family} family; it has {:?}",
            scrape.families()
        );
    }
    assert!(
        scrape.sum("process_resident_memory_bytes", &[]) > 1e6,
        "{name}: RSS"
    );
    assert!(scrape.sum("process_open_fds", &[]) >= 3.0, "{name}: fds");
    assert_eq!(
        scrape.sum("hbnb_build_info", &[("binary", name)]),
        1.0,
        "{name}: hbnb_build_info{{binary=\"{name}\"}}"
    );
    // The scrape itself is in flight while the text is written (the gateway's is on its
    // metrics listener, which counts nothing: its in-flight requests are the public port's).
    let in_flight = scrape.value("http_requests_in_flight", &[]);
    let least = if name == "gateway" { 0.0 } else { 1.0 };
    assert!(in_flight >= least, "{name}: {in_flight} in flight");
}

/// The database pool's gauges: some connection open, idle ones among them, a limit.
fn assert_pool(name: &str, scrape: &Scrape) {
    let open = scrape.value("db_pool_connections", &[("state", "open")]);
    let idle = scrape.value("db_pool_connections", &[("state", "idle")]);
    let max = scrape.value("db_pool_max_connections", &[]);
    assert!(
        open >= 1.0 && idle <= open && open <= max,
        "{name}: pool open {open}, idle {idle}, max {max}"
    );
}

async fn get_status(url: &str) -> u16 {
    client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .status()
        .as_u16()
}

/// `count` GETs of `path`, each expected to answer `status`.
async fn hit(service: &Service, path: &str, count: usize, status: u16) {
    for _ in 0..count {
        assert_eq!(get_status(&service.url(path)).await, status, "GET {path}");
    }
}

/// The change of one request counter and of its latency histogram's count between two scrapes.
fn deltas(before: &Scrape, after: &Scrape, route: &str, method: &str, class: &str) -> (f64, f64) {
    let labels = [("route", route), ("method", method), ("status", class)];
    let requests =
        after.value("http_requests_total", &labels) - before.value("http_requests_total", &labels);
    let timed = [("route", route), ("method", method)];
    let histogram = after.value("http_request_duration_seconds_count", &timed)
        - before.value("http_request_duration_seconds_count", &timed);
    (requests, histogram)
}

#[tokio::test]
async fn services_count_requests_by_route_pattern_method_and_status_class() {
    let hello = Service::start("hello-service", &[]).await;
    let number = Service::start("number-service", &[]).await;
    let api = Api::start(Engine::Sqlite).await;
    let web = Service::start("web-dynamic", &[("DATABASE_URL", api.db.url.as_str())]).await;

    // hello-service: 3 × 200 on its page.
    let before = scrape(&hello.url("/metrics")).await;
    hit(&hello, "/airbnb-onepage/", 3, 200).await;
    let after = scrape(&hello.url("/metrics")).await;
    assert_common("hello-service", &after);
    assert_eq!(
        deltas(&before, &after, "/airbnb-onepage/", "GET", "2xx"),
        (3.0, 3.0),
        "hello-service /airbnb-onepage/"
    );

    // number-service: two numbers, one route pattern; a non-number is a 404 of no route.
    let before = scrape(&number.url("/metrics")).await;
    hit(&number, "/number_odd_or_even/7", 1, 200).await;
    hit(&number, "/number_odd_or_even/8", 1, 200).await;
    hit(&number, "/nope/at/all", 2, 404).await;
    let after = scrape(&number.url("/metrics")).await;
    assert_common("number-service", &after);
    let number_route = after
        .samples
        .iter()
        .filter(|s| s.name == "http_requests_total")
        .filter_map(|s| s.labels.get("route"))
        .find(|r| r.starts_with("/number_odd_or_even/"))
        .cloned()
        .unwrap_or_else(|| panic!("no /number_odd_or_even/ route label: {:?}", after.samples));
    assert!(
        number_route.contains('{'),
        "the route label is the pattern, not the path: {number_route}"
    );
    assert_eq!(
        deltas(&before, &after, &number_route, "GET", "2xx"),
        (2.0, 2.0)
    );
    assert_eq!(
        deltas(&before, &after, "unmatched", "GET", "4xx"),
        (2.0, 2.0)
    );
    for sample in after
        .samples
        .iter()
        .filter(|s| s.name == "http_requests_total")
    {
        let route = &sample.labels["route"];
        assert!(
            !route.contains("/7") && !route.contains("/8") && !route.contains("nope"),
            "a raw path became a label: {route}"
        );
    }

    // api-service: 3 × 404 on a path of no resource, 2 × 404 on one state, 1 × 200 list.
    let before = scrape(&api.url("/metrics")).await;
    hit(&api.service, "/api/v1/nope", 3, 404).await;
    hit(&api.service, "/api/v1/states/no-such-id", 1, 404).await;
    hit(&api.service, "/api/v1/states/another-id", 1, 404).await;
    hit(&api.service, "/api/v1/states", 1, 200).await;
    let after = scrape(&api.url("/metrics")).await;
    assert_common("api-service", &after);
    let unmatched_404 = after.sum(
        "http_requests_total",
        &[("status", "4xx"), ("method", "GET")],
    ) - before.sum(
        "http_requests_total",
        &[("status", "4xx"), ("method", "GET")],
    );
    assert_eq!(unmatched_404, 5.0, "api-service: every 4xx");
    assert_eq!(
        deltas(&before, &after, "/api/v1/states/{id}", "GET", "4xx"),
        (2.0, 2.0),
        "api-service /api/v1/states/{{id}}: {:?}",
        after
            .samples
            .iter()
            .filter(|s| s.name == "http_requests_total")
            .collect::<Vec<_>>()
    );
    assert_eq!(
        deltas(&before, &after, "/api/v1/states", "GET", "2xx"),
        (1.0, 1.0)
    );
    assert_pool("api-service", &after);
    assert_eq!(after.value("password_hash_queue_capacity", &[]), 32.0);
    assert_eq!(after.value("password_hash_queue_depth", &[]), 0.0);
    assert!(after.has_family("password_hash_queue_depth"));

    // web-dynamic: 2 pages.
    let before = scrape(&web.url("/metrics")).await;
    hit(&web, "/2-hbnb/", 2, 200).await;
    let after = scrape(&web.url("/metrics")).await;
    assert_common("web-dynamic", &after);
    assert_pool("web-dynamic", &after);
    let web_2xx = after.sum(
        "http_requests_total",
        &[("status", "2xx"), ("method", "GET")],
    ) - before.sum(
        "http_requests_total",
        &[("status", "2xx"), ("method", "GET")],
    );
    // The two pages and the first scrape (counted when it finished).
    assert_eq!(web_2xx, 3.0, "web-dynamic 2xx");
}

/// The change of `db_query_duration_seconds_count{operation}` between two scrapes.
fn queries(before: &Scrape, after: &Scrape, operation: &str) -> f64 {
    let labels = [("operation", operation)];
    after.value("db_query_duration_seconds_count", &labels)
        - before.value("db_query_duration_seconds_count", &labels)
}

/// The storage's families, at rest: nobody waiting for a pooled connection, no timeout, and
/// every operation label a method name (never an id or a path).
fn assert_storage_at_rest(name: &str, scrape: &Scrape) {
    for family in [
        "db_query_duration_seconds",
        "db_pool_waiting_requests",
        "db_pool_acquire_timeouts_total",
    ] {
        assert!(scrape.has_family(family), "{name}: no {family}");
    }
    assert_eq!(scrape.types["db_query_duration_seconds"], "histogram");
    assert_eq!(
        scrape.value("db_pool_waiting_requests", &[]),
        0.0,
        "{name}: waiting at rest"
    );
    assert_eq!(scrape.value("db_pool_acquire_timeouts_total", &[]), 0.0);
    for sample in scrape
        .samples
        .iter()
        .filter(|s| s.name == "db_query_duration_seconds_count")
    {
        let operation = &sample.labels["operation"];
        assert!(
            !operation.is_empty()
                && operation
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}: operation label {operation:?}"
        );
    }
}

/// Each call of a storage method is one observation under its operation, on the api-service
/// and on web-dynamic's pages. Each path is read once after a write, so no cached answer
/// (SQLite, PostgreSQL) hides a query.
async fn storage_times_each_call_by_operation(engine: Engine) {
    let api = Api::start(engine).await;
    let web = Service::start("web-dynamic", &[("DATABASE_URL", api.db.url.as_str())]).await;
    let client = client();

    let before = scrape(&api.url("/metrics")).await;
    let mut ids = Vec::new();
    for name in ["Alabama", "Bavaria", "Corsica"] {
        let (status, state) = post(&client, &api.api("/states"), &json!({ "name": name })).await;
        assert_eq!(status, 201, "POST /states: {state}");
        ids.push(id_of(&state));
    }
    let created = scrape(&api.url("/metrics")).await;
    assert_eq!(
        queries(&before, &created, "create_state"),
        3.0,
        "api-service: 3 POSTs, 3 create_state; operations: {:?}",
        created
            .samples
            .iter()
            .filter(|s| s.name == "db_query_duration_seconds_count")
            .collect::<Vec<_>>()
    );
    let seconds = created.value(
        "db_query_duration_seconds_sum",
        &[("operation", "create_state")],
    );
    assert!(seconds > 0.0, "create_state took {seconds} s");
    assert_eq!(queries(&before, &created, "get_states"), 0.0);

    let (status, _) = get(&client, &api.api(&format!("/states/{}", ids[0]))).await;
    assert_eq!(status, 200);
    let (status, _) = delete(&client, &api.api(&format!("/states/{}", ids[1]))).await;
    assert_eq!(status, 200);
    let (status, listed) = get(&client, &api.api("/states")).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let after = scrape(&api.url("/metrics")).await;
    for (operation, calls) in [
        ("get_states", 1.0),
        ("delete_states", 1.0),
        ("list_states", 1.0),
        ("create_state", 0.0),
    ] {
        assert_eq!(
            queries(&created, &after, operation),
            calls,
            "api-service: {operation}"
        );
    }
    assert_storage_at_rest("api-service", &after);

    // web-dynamic: a page of the states with their cities, and one state's page.
    let before = scrape(&web.url("/metrics")).await;
    hit(&web, "/cities_by_states", 1, 200).await;
    hit(&web, &format!("/states/{}", ids[2]), 1, 200).await;
    let after = scrape(&web.url("/metrics")).await;
    for (operation, calls) in [
        ("states_with_cities", 1.0),
        ("get_states", 1.0),
        ("cities_of_state", 1.0),
    ] {
        assert_eq!(
            queries(&before, &after, operation),
            calls,
            "web-dynamic: {operation}"
        );
    }
    assert_storage_at_rest("web-dynamic", &after);
}

hbnb_tests::all_engines!(storage_times_each_call_by_operation);

#[tokio::test]
async fn db_backup_exports_the_shared_families_and_its_own() {
    let api = Api::start(Engine::Sqlite).await;
    let dir = hbnb_tests::backup::BackupDir::new();
    let backup = Service::start(
        "db-backup",
        &[
            ("DATABASE_URL", api.db.url.as_str()),
            ("BACKUP_DIR", dir.as_str()),
            ("BACKUP_INTERVAL", "1h"),
        ],
    )
    .await;
    let before = scrape(&backup.url("/metrics")).await;
    hit(&backup, "/healthz", 2, 200).await;
    let after = scrape(&backup.url("/metrics")).await;
    assert_common("db-backup", &after);
    assert_eq!(
        deltas(&before, &after, "/healthz", "GET", "2xx"),
        (2.0, 2.0)
    );
    for family in [
        "db_backup_last_success_timestamp_seconds",
        "db_backup_last_duration_seconds",
        "db_backup_last_size_bytes",
        "db_backup_success_total",
        "db_backup_failure_total",
        "db_backup_running",
        "db_backup_next_run_timestamp_seconds",
        "db_backup_interval_seconds",
    ] {
        assert!(after.has_family(family), "db-backup: no {family}");
    }
    assert_eq!(after.value("db_backup_interval_seconds", &[]), 3600.0);
    assert_eq!(after.types["db_backup_success_total"], "counter");
}

/// Polls the gateway's metrics until `check` holds, with a deadline.
async fn wait_for(url: &str, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let scraped = scrape(url).await;
        if check(&scraped) {
            return scraped;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never seen in\n{scraped:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn gateway_counts_by_route_and_upstream_on_its_own_port_only() {
    let hello = Service::start("hello-service", &[]).await;
    let api = Api::start(Engine::Sqlite).await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let gateway = Service::start(
        "gateway",
        &[
            ("HELLO_UPSTREAM", hello.base_url().as_str()),
            ("API_UPSTREAM", api.service.base_url().as_str()),
            ("NUMBER_UPSTREAM", dead.as_str()),
            ("WEB_UPSTREAM", api.service.base_url().as_str()),
            ("HEALTH_INTERVAL", "100ms"),
        ],
    )
    .await;
    let metrics = gateway.metrics_url().await;
    assert_ne!(metrics, gateway.url("/metrics"), "a port of its own");

    // Not through the public port: neither the gateway's nor a service's behind it.
    let upstream_before = scrape(&api.url("/metrics")).await;
    assert_eq!(get_status(&gateway.url("/metrics")).await, 404);
    let upstream_after = scrape(&api.url("/metrics")).await;
    assert_eq!(
        upstream_after.value(
            "http_requests_total",
            &[("route", "/metrics"), ("method", "GET"), ("status", "2xx")]
        ) - upstream_before.value(
            "http_requests_total",
            &[("route", "/metrics"), ("method", "GET"), ("status", "2xx")]
        ),
        1.0,
        "only our own scrape reached the api-service's /metrics"
    );

    let api_url = api.service.base_url();
    let before = wait_for(&metrics, "health of every instance", |s| {
        s.value(
            "gateway_upstream_healthy",
            &[("upstream_name", "api"), ("upstream", &api_url)],
        ) == 1.0
            && s.types.contains_key("gateway_upstream_healthy")
            && s.samples.iter().any(|x| {
                x.name == "gateway_upstream_healthy"
                    && x.labels.get("upstream").map(String::as_str) == Some(&dead)
                    && x.value == 0.0
            })
    })
    .await;
    hit(&gateway, "/api/v1/nope", 3, 404).await;
    hit(&gateway, "/airbnb-onepage/", 2, 200).await;
    hit(&gateway, "/airbnb-dynamic/number_odd_or_even/4", 1, 502).await;
    hit(&gateway, "/airbnb-dynamic/other", 1, 404).await;
    let after = scrape(&metrics).await;
    assert_common("gateway", &after);

    let api_route = "prefix /api/";
    assert_eq!(deltas(&before, &after, api_route, "GET", "4xx"), (3.0, 3.0));
    let hello_route = "regex ^/airbnb-onepage(/.*)?$";
    assert_eq!(
        deltas(&before, &after, hello_route, "GET", "2xx"),
        (2.0, 2.0)
    );
    let number_route = "regex ^/airbnb-dynamic/number_odd_or_even/([0-9]+)/?$";
    assert_eq!(
        deltas(&before, &after, number_route, "GET", "5xx"),
        (1.0, 1.0)
    );
    assert_eq!(
        deltas(&before, &after, "prefix /airbnb-dynamic/", "GET", "4xx"),
        (1.0, 1.0)
    );
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    assert_eq!(
        delta(
            "gateway_upstream_requests_total",
            &[("upstream", &api_url), ("status", "4xx")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            "gateway_upstream_requests_total",
            &[("upstream", &hello.base_url()), ("status", "2xx")]
        ),
        2.0
    );
    assert_eq!(
        delta(
            "gateway_upstream_response_seconds_count",
            &[("upstream", &api_url)]
        ),
        3.0
    );
    assert_eq!(
        delta("gateway_error_responses_total", &[("status", "502")]),
        1.0
    );
    // Every attempt on the dead instance failed to connect: the first and each retry.
    let retries = delta("gateway_retries_total", &[("route", number_route)]);
    assert!(retries >= 1.0, "the 502 was retried");
    assert_eq!(
        delta(
            "gateway_upstream_connect_failures_total",
            &[("upstream", &dead)]
        ),
        1.0 + retries
    );
    let hello_bytes = delta("gateway_response_bytes_total", &[("route", hello_route)]);
    assert_eq!(hello_bytes, 2.0 * "Hello HBNB!".len() as f64);
    assert_eq!(after.sum("gateway_config_info", &[]), 1.0);
    // The pools: connections to hello are open, and idle once their exchanges are over (one
    // pool per worker: one or two connections).
    let authority = hello.base_url().trim_start_matches("http://").to_owned();
    let pooled = wait_for(&metrics, "hello's connections idle in the pools", |s| {
        let open = s.value(
            "gateway_upstream_connections",
            &[("authority", &authority), ("state", "open")],
        );
        let idle = s.value(
            "gateway_upstream_connections",
            &[("authority", &authority), ("state", "idle")],
        );
        (1.0..=2.0).contains(&open) && idle == open
    })
    .await;
    assert!(pooled.has_family("gateway_upstream_connections"));
    for result in ["success", "failure"] {
        assert!(
            after
                .get(
                    "gateway_config_reloads_total",
                    &hbnb_tests::metrics::to_labels(&[("result", result)])
                )
                .is_some(),
            "reloads {{result={result}}} exists from the start"
        );
    }
}

#[tokio::test]
async fn gateway_counts_config_reloads_and_shows_the_config_hash() {
    let dir = std::env::temp_dir().join(format!("hbnb_metrics_reload_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    let config = |status: u16| {
        format!("[upstreams]\n\n[[route]]\nmatch = \"prefix\"\npath = \"/\"\nstatus = {status}\n")
    };
    std::fs::write(&path, config(404)).unwrap();
    let gateway = Service::start("gateway", &[("GATEWAY_CONFIG", path.to_str().unwrap())]).await;
    let metrics = gateway.metrics_url().await;
    let hash = |s: &Scrape| {
        s.samples
            .iter()
            .find(|x| x.name == "gateway_config_info")
            .map(|x| x.labels["hash"].clone())
            .unwrap()
    };
    let first = scrape(&metrics).await;
    let reloads =
        |s: &Scrape, result: &str| s.value("gateway_config_reloads_total", &[("result", result)]);

    std::fs::write(&path, config(410)).unwrap();
    gateway.signal("HUP");
    let second = wait_for(&metrics, "a successful reload", |s| {
        reloads(s, "success") == 1.0
    })
    .await;
    assert_ne!(
        hash(&first),
        hash(&second),
        "the hash follows the configuration"
    );
    assert_eq!(reloads(&second, "failure"), 0.0);
    assert_eq!(get_status(&gateway.url("/x")).await, 410);

    std::fs::write(&path, "not toml [").unwrap();
    gateway.signal("HUP");
    let third = wait_for(&metrics, "a refused reload", |s| {
        reloads(s, "failure") == 1.0
    })
    .await;
    assert_eq!(reloads(&third, "success"), 1.0);
    assert_eq!(
        hash(&third),
        hash(&second),
        "the running configuration is kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The metric names a PromQL expression reads: identifiers that are not functions (followed by
/// `(`), keywords, label names (inside `{}` or `by (...)`), or ranges.
fn promql_metric_names(expr: &str) -> Vec<String> {
    let strings = regex::Regex::new(r#""[^"]*""#).unwrap();
    let matchers = regex::Regex::new(r"\{[^}]*\}").unwrap();
    let grouping = regex::Regex::new(
        r"(?-u:\b)(by|without|on|ignoring|group_left|group_right)[ \t]*\([^)]*\)",
    )
    .unwrap();
    let ranges = regex::Regex::new(r"\[[^\]]*\]").unwrap();
    let identifier = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    let text = strings.replace_all(expr, "");
    let text = matchers.replace_all(&text, " ");
    let text = grouping.replace_all(&text, " ");
    let text = ranges.replace_all(&text, " ");
    let keywords = ["and", "or", "unless", "offset", "bool"];
    let mut names = Vec::new();
    for found in identifier.find_iter(&text) {
        let rest = text[found.end()..].trim_start();
        let name = found.as_str();
        let number_part = found.start() > 0
            && text[..found.start()]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_digit() || c == '.');
        if rest.starts_with('(') || keywords.contains(&name) || number_part {
            continue;
        }
        names.push(name.to_owned());
    }
    names
}

#[test]
fn promql_names_are_found_and_functions_labels_and_ranges_are_not() {
    assert_eq!(
        promql_metric_names(
            r#"histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{status="5xx", x=~"y"}[5m]))) / b_total"#
        ),
        ["a_bucket", "b_total"]
    );
    assert_eq!(promql_metric_names("time() - c_seconds"), ["c_seconds"]);
}

/// Every binary, after traffic that creates each family's series, scraped: the sample names.
async fn exported_sample_names() -> std::collections::BTreeSet<String> {
    let hello = Service::start("hello-service", &[]).await;
    let number = Service::start("number-service", &[]).await;
    let api = Api::start(Engine::Sqlite).await;
    let web = Service::start("web-dynamic", &[("DATABASE_URL", api.db.url.as_str())]).await;
    let dir = hbnb_tests::backup::BackupDir::new();
    let backup = Service::start(
        "db-backup",
        &[
            ("DATABASE_URL", api.db.url.as_str()),
            ("BACKUP_DIR", dir.as_str()),
        ],
    )
    .await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let gateway = Service::start(
        "gateway",
        &[
            ("HELLO_UPSTREAM", hello.base_url().as_str()),
            ("NUMBER_UPSTREAM", dead.as_str()),
            ("API_UPSTREAM", api.service.base_url().as_str()),
            ("WEB_UPSTREAM", web.base_url().as_str()),
        ],
    )
    .await;
    hit(&gateway, "/airbnb-onepage/", 1, 200).await;
    hit(&gateway, "/airbnb-dynamic/number_odd_or_even/2", 1, 502).await;
    let created = client()
        .post(gateway.url("/api/v1/states"))
        .json(&serde_json::json!({"name": "Metrics"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    hit(&gateway, "/2-hbnb/", 1, 200).await;
    hit(&number, "/number/3", 1, 200).await;
    let mut names = std::collections::BTreeSet::new();
    for url in [
        hello.url("/metrics"),
        number.url("/metrics"),
        api.url("/metrics"),
        web.url("/metrics"),
        backup.url("/metrics"),
        gateway.metrics_url().await,
    ] {
        let scraped = scrape(&url).await;
        names.extend(scraped.samples.iter().map(|s| s.name.clone()));
    }
    names
}

#[tokio::test]
async fn the_dashboard_queries_only_metrics_the_binaries_export() {
    let root = hbnb_tests::workspace_root();
    let path = root.join("deploy/grafana/dashboards/hbnb.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut used = std::collections::BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"]
            .as_array()
            .expect("every panel has targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            let names = promql_metric_names(expr);
            assert!(!names.is_empty(), "{expr}: names no metric");
            used.extend(names);
        }
    }
    let exported = exported_sample_names().await;
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no binary exports: {missing:?}\nexported: {exported:?}"
    );
    // And it shows what an operator needs: requests, errors, latency per route and upstream,
    // instance health, the database pool, the hash queue, the backup's age.
    for needed in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "gateway_upstream_response_seconds_bucket",
        "gateway_upstream_healthy",
        "db_pool_connections",
        "db_query_duration_seconds_bucket",
        "db_pool_waiting_requests",
        "password_hash_queue_depth",
        "db_backup_last_success_timestamp_seconds",
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }

    // The scrape configuration names every binary, each at its port (the gateway's metrics port).
    let config = std::fs::read_to_string(root.join("deploy/prometheus/prometheus.yml")).unwrap();
    for (job, target) in [
        ("gateway", "gateway:9180"),
        ("hello-service", "hello-service:5000"),
        ("number-service", "number-service:5001"),
        ("api-service", "api-service:5002"),
        ("web-dynamic", "web-dynamic:5003"),
        ("db-backup", "db-backup:5004"),
    ] {
        assert!(
            config.contains(&format!("job_name: {job}\n"))
                && config.contains(&format!("\"{target}\"")),
            "prometheus.yml: no job {job} scraping {target}"
        );
    }
}

/// The PromQL expressions of a Prometheus rule file: `expr: <one line>` or `expr: |` and the
/// lines indented under it (the layout of deploy/prometheus/alerts.yml).
fn rule_exprs(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        if rest.trim() != "|" {
            exprs.push(rest.trim().to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.len() - l.trim_start().len() > indent && !l.trim().is_empty())
            .map(|l| l.trim())
            .collect();
        exprs.push(body.join(" "));
    }
    exprs
}

#[tokio::test]
async fn the_alert_rules_use_only_metrics_the_binaries_export() {
    let root = hbnb_tests::workspace_root();
    let text = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let exprs = rule_exprs(&text);
    assert!(exprs.len() >= 5, "{exprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        let names = promql_metric_names(expr);
        assert!(!names.is_empty(), "{expr}: names no metric");
        used.extend(names);
    }
    // `up` is Prometheus's own series for each scrape.
    used.remove("up");
    let exported = exported_sample_names().await;
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the alert rules use metrics no binary exports: {missing:?}\nexported: {exported:?}"
    );
    for needed in [
        "db_backup_last_success_timestamp_seconds",
        "db_backup_remote_last_success_timestamp_seconds",
        "db_backup_upload_failures_total",
    ] {
        assert!(used.contains(needed), "no alert uses {needed}");
    }
}

#[tokio::test]
async fn an_upgraded_gateway_serves_metrics_on_the_same_port() {
    let scratch = std::env::temp_dir().join(format!("hbnb_metrics_upgrade_{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let pid_file = scratch.join("gateway.pid");
    let port = closed_port().to_string();
    let hello = Service::start("hello-service", &[]).await;
    let gateway = Service::start(
        "gateway",
        &[
            ("HELLO_UPSTREAM", hello.base_url().as_str()),
            ("METRICS_PORT", port.as_str()),
            ("PID_FILE", pid_file.to_str().unwrap()),
        ],
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let first = gateway.pid();
    let deadline = Instant::now() + Duration::from_secs(20);
    while gateway.current_pid() != Some(first) {
        assert!(Instant::now() < deadline, "no pid file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hit(&gateway, "/airbnb-onepage/", 1, 200).await;
    gateway.signal("USR2");
    // The successor binds the same metrics port beside its predecessor (SO_REUSEPORT), writes
    // the pid file once ready, and the predecessor exits.
    let deadline = Instant::now() + Duration::from_secs(30);
    let successor = loop {
        if let Some(pid) = gateway.current_pid().filter(|&pid| pid != first) {
            if !hbnb_tests::process_alive(first) {
                break pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no upgrade; output:\n{}",
            gateway.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(hbnb_tests::process_alive(successor));
    let listening = gateway
        .logs()
        .iter()
        .filter(|l| {
            l.contains("\"metrics listening\"") && l.contains(&format!("\"metrics_port\":{port}"))
        })
        .count();
    assert_eq!(listening, 2, "both processes listened on {port}");
    // Only the successor answers now: its counters start from zero.
    let scraped = scrape(&url).await;
    assert_eq!(
        scraped.value(
            "http_requests_total",
            &[
                ("route", "regex ^/airbnb-onepage(/.*)?$"),
                ("method", "GET"),
                ("status", "2xx")
            ]
        ),
        0.0
    );
    hit(&gateway, "/airbnb-onepage/", 2, 200).await;
    let scraped = scrape(&url).await;
    assert_eq!(
        scraped.value(
            "http_requests_total",
            &[
                ("route", "regex ^/airbnb-onepage(/.*)?$"),
                ("method", "GET"),
                ("status", "2xx")
            ]
        ),
        2.0
    );
    // Before the pid file goes: dropping the gateway reads it to stop the successor.
    drop(gateway);
    let _ = std::fs::remove_dir_all(&scratch);
}
