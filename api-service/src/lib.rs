//! api-service (port 5002): the HBNB REST API v1 (spec §4) over SQLite or PostgreSQL.
//!
//! Handlers ([`handlers`], one module per resource) are thin: they check ids and bodies in the
//! order of spec §4.3 and call `hbnb_storage`, where all the SQL lives. Bodies are read by one
//! extractor ([`body::Body`]). Every failure is an [`error::ApiError`] answered as
//! `{"error": "..."}`. Each resource answers exactly the methods listed for it below: others get
//! 405 with that list in `Allow`, and `OPTIONS` gets 200 with the same list ([`cors`]).

pub mod body;
pub mod cors;
pub mod demo;
pub mod error;
pub mod handlers;
pub mod openapi;
pub mod password;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{middleware, web, HttpRequest, Resource};
use hbnb_common::pages::get_or_head;
use hbnb_common::response_cache::{self, CacheSettings, ResponseCache};
use hbnb_common::{AppOptions, Application, Readiness, ServerSettings};
use hbnb_storage::{Database, DatabaseSettings};

use crate::error::ApiError;
use crate::handlers as h;

pub const DEFAULT_PORT: u16 = 5002;

/// GETs whose answers do not come from the database: no data-version check for them.
const UNCACHED: &[&str] = &["/api/v1/status", "/api/v1/status/", "/api/v1/openapi.json"];

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "api-service",
    about = "The HBNB REST API v1 over SQLite, PostgreSQL or MySQL/MariaDB"
)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub hashing: password::HashSettings,
    #[command(flatten)]
    pub cache: CacheSettings,
    /// Load the demo data set (11 states, ..., 718 reviews) when the database is empty.
    #[arg(long, env = "DEMO_DATA", default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub demo_data: bool,
}

/// Connects to the database (running the migrations), then binds and builds the server.
pub async fn build(settings: &Settings) -> std::io::Result<Application> {
    password::start(&settings.hashing).map_err(std::io::Error::other)?;
    let (db, version) = settings
        .database
        .open()
        .await
        .map_err(|e| std::io::Error::other(format!("cannot open the database: {e}")))?;
    if settings.demo_data {
        let hash = password::hash(demo::PASSWORD.to_owned())
            .await
            .map_err(|e| std::io::Error::other(format!("DEMO_DATA: {e}")))?;
        demo::load_if_empty(&db, &hash)
            .await
            .map_err(|e| std::io::Error::other(format!("DEMO_DATA: cannot load: {e}")))?;
    }
    let readiness = Readiness::new().with_check(db.readiness_check());
    let cache = web::Data::new(ResponseCache::new(
        version.map(|v| Arc::new(v.into_check()) as _),
        settings.cache.max_bytes,
        UNCACHED,
    ));
    let pooled = db.clone();
    hbnb_common::metrics::watch_pool(move || {
        let stats = pooled.pool_stats();
        (stats.open, stats.idle, stats.max)
    });
    // Storage's query latencies and pool waiters go to this process's registry (see
    // `hbnb_storage::metrics`), recorded only if this process records.
    if hbnb_common::metrics::recording() {
        hbnb_common::metrics::register(hbnb_storage::metrics::record());
    }
    password::watch_queue(&settings.hashing);
    let data = web::Data::new(db);
    let document = web::Data::new(openapi::Document::build());
    Application::build(
        &settings.server,
        DEFAULT_PORT,
        readiness,
        AppOptions::default(),
        move |cfg| {
            cfg.app_data(cache.clone());
            routes(cfg, data.clone(), document.clone())
        },
    )
}

/// A resource at `path` and `path/` answering the methods `allow`: `OPTIONS` lists them, any
/// other method not routed answers 405 with them in `Allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource([path.to_owned(), format!("{path}/")])
        .route(
            web::route()
                .method(Method::OPTIONS)
                .to(move |req: HttpRequest| async move { cors::preflight(&req, allow) }),
        )
        .default_service(web::to(move || async move {
            Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow })
        }))
}

const GET: &str = "GET, HEAD, OPTIONS";
const GET_POST: &str = "GET, HEAD, OPTIONS, POST";
const GET_PUT_DELETE: &str = "DELETE, GET, HEAD, OPTIONS, PUT";
const POST: &str = "OPTIONS, POST";
const POST_DELETE: &str = "DELETE, OPTIONS, POST";

pub fn routes(
    cfg: &mut web::ServiceConfig,
    db: web::Data<Database>,
    document: web::Data<openapi::Document>,
) {
    use web::{delete, post, put};
    cfg.app_data(db)
        .app_data(document)
        // Swagger UI: under /api/ so it works through the gateway, and at the original's /apidocs/.
        .service(openapi::swagger_redirect("/api/docs"))
        .service(openapi::swagger_ui("/api/docs"))
        .service(openapi::swagger_redirect("/apidocs"))
        .service(openapi::swagger_ui("/apidocs"))
        .service(
            web::scope("/api/v1")
                .wrap(middleware::from_fn(response_cache::read_through))
                .wrap(middleware::from_fn(cors::cors))
                .service(resource("/status", GET).route(get_or_head().to(h::status)))
                .service(resource("/stats", GET).route(get_or_head().to(h::stats)))
                .service(
                    resource("/openapi.json", GET).route(get_or_head().to(openapi::serve_document)),
                )
                // states
                .service(
                    resource("/states", GET_POST)
                        .route(get_or_head().to(h::list_states))
                        .route(post().to(h::create_state)),
                )
                .service(
                    resource("/states/{id}", GET_PUT_DELETE)
                        .route(get_or_head().to(h::get_state))
                        .route(put().to(h::update_state))
                        .route(delete().to(h::delete_state)),
                )
                // cities
                .service(
                    resource("/states/{id}/cities", GET_POST)
                        .route(get_or_head().to(h::list_cities))
                        .route(post().to(h::create_city)),
                )
                .service(
                    resource("/cities/{id}", GET_PUT_DELETE)
                        .route(get_or_head().to(h::get_city))
                        .route(put().to(h::update_city))
                        .route(delete().to(h::delete_city)),
                )
                // amenities
                .service(
                    resource("/amenities", GET_POST)
                        .route(get_or_head().to(h::list_amenities))
                        .route(post().to(h::create_amenity)),
                )
                .service(
                    resource("/amenities/{id}", GET_PUT_DELETE)
                        .route(get_or_head().to(h::get_amenity))
                        .route(put().to(h::update_amenity))
                        .route(delete().to(h::delete_amenity)),
                )
                // users
                .service(
                    resource("/users", GET_POST)
                        .route(get_or_head().to(h::list_users))
                        .route(post().to(h::create_user)),
                )
                .service(
                    resource("/users/{id}", GET_PUT_DELETE)
                        .route(get_or_head().to(h::get_user))
                        .route(put().to(h::update_user))
                        .route(delete().to(h::delete_user)),
                )
                // places
                .service(
                    resource("/cities/{id}/places", GET_POST)
                        .route(get_or_head().to(h::list_places))
                        .route(post().to(h::create_place)),
                )
                .service(
                    resource("/places/{id}", GET_PUT_DELETE)
                        .route(get_or_head().to(h::get_place))
                        .route(put().to(h::update_place))
                        .route(delete().to(h::delete_place)),
                )
                .service(resource("/places_search", POST).route(post().to(h::search_places)))
                // reviews
                .service(
                    resource("/places/{id}/reviews", GET_POST)
                        .route(get_or_head().to(h::list_reviews))
                        .route(post().to(h::create_review)),
                )
                .service(
                    resource("/reviews/{id}", GET_PUT_DELETE)
                        .route(get_or_head().to(h::get_review))
                        .route(put().to(h::update_review))
                        .route(delete().to(h::delete_review)),
                )
                // place <-> amenity
                .service(
                    resource("/places/{id}/amenities", GET)
                        .route(get_or_head().to(h::list_place_amenities)),
                )
                .service(
                    resource("/places/{id}/amenities/{amenity_id}", POST_DELETE)
                        .route(post().to(h::link_amenity))
                        .route(delete().to(h::unlink_amenity)),
                )
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
