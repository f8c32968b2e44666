//! Re-resolves the host names among the upstream instances (see `upstream`): at start, before a
//! reloaded table serves, and every `UPSTREAM_RESOLVE_INTERVAL`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::RouteTable;
use crate::Shared;

/// Looks up every name of every upstream in `table` and refreshes their instances.
/// Instances that `previous` (the table being replaced) has too keep their health.
pub async fn refresh_table(table: &RouteTable, previous: Option<&RouteTable>) {
    let known = previous.map(RouteTable::health_by_url).unwrap_or_default();
    for upstream in table.upstreams() {
        let mut lookup = HashMap::new();
        for (index, source) in upstream.names() {
            let found = tokio::net::lookup_host((source.host.as_str(), source.port))
                .await
                .map(|addresses| addresses.collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            if let Err(error) = &found {
                tracing::warn!(upstream = %upstream.name, name = %source.host, %error, "cannot resolve an upstream name; keeping its instances");
            }
            lookup.insert(index, found);
        }
        if lookup.is_empty() {
            continue;
        }
        let (added, removed) = upstream.refresh(&lookup, &known);
        if !added.is_empty() || !removed.is_empty() {
            tracing::info!(upstream = %upstream.name, ?added, ?removed, "upstream instances changed");
        }
    }
}

/// Re-resolves the current table's names every `interval` (the first time at once).
pub fn spawn_resolver(shared: Arc<Shared>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            refresh_table(&shared.table(), None).await;
        }
    });
}
