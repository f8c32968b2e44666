//! `/healthz` (the process is up) and `/readyz` (it can serve: its own check passes and it is not
//! shutting down). Readiness turns false the moment shutdown begins, so a load balancer stops
//! sending new work before the listener closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use futures_util::future::BoxFuture;

type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Readiness {
    shutting_down: Arc<AtomicBool>,
    check: Option<Check>,
    health_check: Option<Check>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service-specific check (e.g. "the database answers and migrations are applied").
    pub fn with_check<F>(mut self, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.check = Some(Arc::new(check));
        self
    }

    /// Makes `/healthz` depend on a service-specific condition too (e.g. db-backup: "the last
    /// good backup is recent"). Without one, `/healthz` only says the process is up.
    pub fn with_health_check<F>(mut self, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        self.health_check = Some(Arc::new(check));
        self
    }

    pub async fn healthy(&self) -> Result<(), String> {
        match &self.health_check {
            Some(check) => check().await,
            None => Ok(()),
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub async fn ready(&self) -> Result<(), String> {
        if self.is_shutting_down() {
            return Err("shutting down".to_owned());
        }
        match &self.check {
            Some(check) => check().await,
            None => Ok(()),
        }
    }
}

/// Registers `/healthz` and `/readyz`; the `Readiness` is read from app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.healthy().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "unhealthy", "reason": reason})),
    }
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.ready().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "not ready", "reason": reason})),
    }
}
