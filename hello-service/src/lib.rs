//! hello-service (port 5000): the course's `0-hello_route` edited for 0x1A task 0 —
//! `/airbnb-onepage/` answers `Hello HBNB!` — plus the starter route `/`.

use actix_web::{web, HttpResponse};
use hbnb_common::pages::{get_only, get_or_head, not_found};
use hbnb_common::{AppOptions, Application, Readiness, ServerSettings};

pub const DEFAULT_PORT: u16 = 5000;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "hello-service",
    about = "Serves /airbnb-onepage/ (Hello HBNB!)"
)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
}

pub fn build(settings: &Settings) -> std::io::Result<Application> {
    Application::build(
        &settings.server,
        DEFAULT_PORT,
        Readiness::new(),
        AppOptions::default(),
        routes,
    )
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Two resources, not one with three paths: a resource's metrics label is its first pattern.
    cfg.service(
        web::resource(["/airbnb-onepage/", "/airbnb-onepage"])
            .route(get_or_head().to(hello))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/")
            .route(get_or_head().to(hello))
            .default_service(web::to(get_only)),
    )
    .default_service(web::to(not_found));
}

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("Hello HBNB!")
}
