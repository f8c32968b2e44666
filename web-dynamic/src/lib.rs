//! web-dynamic (port 5003): the course's web_dynamic site (spec §5) and the web_flask storage
//! pages (spec §3, rows 7–100), rendered with tera (autoescape on) from the shared storage, and the
//! static assets under `/static/` (actix-files: ETag, Last-Modified, 304, Range; gzip/brotli for
//! text; fingerprinted URLs cached for a year).
//!
//! Our rewrites (a project decision): asset URLs are absolute and carry `cache_id=<content fingerprint>`,
//! jQuery is vendored, the page scripts call the API same-origin (or at `API_PUBLIC_URL`, given
//! to them by the template), and every name and description is escaped.

pub mod assets;
mod places_html;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, HttpRequest, HttpResponse};
use hbnb_common::pages::{get_or_head, html_error, not_found, page, render};
use hbnb_common::response_cache::{self, CacheSettings, ResponseCache};
use hbnb_common::{AppOptions, Application, Readiness, ServerSettings};
use hbnb_storage::{Database, DatabaseSettings, State, StorageError};
use serde::Serialize;

use hbnb_common::static_files::StaticFiles;

use crate::assets::AssetFunction;

pub const DEFAULT_PORT: u16 = 5003;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "web-dynamic", about = "The course's web_dynamic HBNB site")]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The API's base URL as the browser sees it (e.g. http://host:5002); empty: same origin,
    /// which is right behind the gateway.
    #[arg(long = "api-public-url", env = "API_PUBLIC_URL", default_value = "")]
    pub api_public_url: String,
    /// The folder served under /static/ (default: the crate's static/ folder).
    #[arg(long = "static-dir", env = "STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheSettings,
}

/// What every handler reads.
pub struct Site {
    pub db: Database,
    pub tera: tera::Tera,
    pub api_base: String,
}

/// Fingerprints the static files, compiles the templates, connects to the database (running the
/// migrations), then binds and builds the server.
pub async fn build(settings: &Settings) -> std::io::Result<Application> {
    let static_dir = assets::find_static_dir(settings.static_dir.as_deref())?;
    let assets = Arc::new(StaticFiles::load(&static_dir)?);
    tracing::info!(dir = %static_dir.display(), files = ?assets.listing(), "static files fingerprinted");
    let tera = templates(assets.clone()).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let (db, version) = settings
        .database
        .open()
        .await
        .map_err(|e| std::io::Error::other(format!("cannot open the database: {e}")))?;
    let readiness = Readiness::new().with_check(db.readiness_check());
    let cache = web::Data::new(ResponseCache::new(
        version.map(|v| Arc::new(v.into_check()) as _),
        settings.cache.max_bytes,
        &[],
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
    let site = web::Data::new(Site {
        db,
        tera,
        api_base: settings
            .api_public_url
            .trim()
            .trim_end_matches('/')
            .to_owned(),
    });
    let assets = web::Data::from(assets);
    Application::build(
        &settings.server,
        DEFAULT_PORT,
        readiness,
        AppOptions::default(),
        move |cfg| {
            cfg.app_data(cache.clone());
            routes(cfg, site.clone(), assets.clone())
        },
    )
}

/// The templates, compiled into the binary so it runs from any directory. `.html` names turn
/// autoescaping on.
pub fn templates(assets: Arc<StaticFiles>) -> Result<tera::Tera, tera::Error> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates([
        ("hbnb.html", include_str!("../templates/hbnb.html")),
        (
            "7-states_list.html",
            include_str!("../templates/7-states_list.html"),
        ),
        (
            "8-cities_by_states.html",
            include_str!("../templates/8-cities_by_states.html"),
        ),
        ("9-states.html", include_str!("../templates/9-states.html")),
    ])?;
    tera.register_function("asset", AssetFunction(assets));
    Ok(tera)
}

/// How one HBNB page differs from the others (spec §3 rows 10–100, §5).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PageKind {
    pub styles: &'static [&'static str],
    /// The page's script (jQuery comes with it).
    pub script: Option<&'static str>,
    pub api_status: bool,
    pub amenity_checkboxes: bool,
    pub location_checkboxes: bool,
    /// Places rendered on the server (0–2, /hbnb).
    pub server_places: bool,
    pub places_section: bool,
    /// The Reviews block each place gets (101): `<h2>Reviews</h2>` and a `show` toggle.
    pub reviews: bool,
}

const FILTER_STYLES: &[&str] = &[
    "4-common.css",
    "3-header.css",
    "3-footer.css",
    "6-filters.css",
];
const ALL_STYLES: &[&str] = &[
    "4-common.css",
    "3-header.css",
    "3-footer.css",
    "6-filters.css",
    "8-places.css",
];

/// 0-hbnb (web_flask's 100-hbnb): the page every later one changes.
const PLACES_PAGE: PageKind = PageKind {
    styles: ALL_STYLES,
    script: None,
    api_status: false,
    amenity_checkboxes: false,
    location_checkboxes: false,
    server_places: true,
    places_section: true,
    reviews: false,
};
/// 3-hbnb on: the places come from the API, in the browser.
const SEARCH_PAGE: PageKind = PageKind {
    api_status: true,
    amenity_checkboxes: true,
    server_places: false,
    ..PLACES_PAGE
};

/// Path → page, in the course's order.
pub const PAGES: &[(&str, PageKind)] = &[
    (
        "/hbnb_filters",
        PageKind {
            styles: FILTER_STYLES,
            server_places: false,
            places_section: false,
            ..PLACES_PAGE
        },
    ),
    ("/hbnb", PLACES_PAGE),
    ("/0-hbnb", PLACES_PAGE),
    (
        "/1-hbnb",
        PageKind {
            script: Some("1-hbnb.js"),
            amenity_checkboxes: true,
            ..PLACES_PAGE
        },
    ),
    (
        "/2-hbnb",
        PageKind {
            script: Some("2-hbnb.js"),
            api_status: true,
            amenity_checkboxes: true,
            ..PLACES_PAGE
        },
    ),
    (
        "/3-hbnb",
        PageKind {
            script: Some("3-hbnb.js"),
            ..SEARCH_PAGE
        },
    ),
    (
        "/4-hbnb",
        PageKind {
            script: Some("4-hbnb.js"),
            ..SEARCH_PAGE
        },
    ),
    (
        "/100-hbnb",
        PageKind {
            script: Some("100-hbnb.js"),
            location_checkboxes: true,
            ..SEARCH_PAGE
        },
    ),
    (
        "/101-hbnb",
        PageKind {
            script: Some("101-hbnb.js"),
            location_checkboxes: true,
            reviews: true,
            ..SEARCH_PAGE
        },
    ),
];

/// The web_flask pages that list states (spec §3 rows 7–9): template, and whether 9-states'
/// template shows the list.
const STATE_LISTS: &[(&str, &str, bool)] = &[
    ("/states_list", "7-states_list.html", false),
    ("/cities_by_states", "8-cities_by_states.html", false),
    ("/states", "9-states.html", true),
];

pub fn routes(cfg: &mut web::ServiceConfig, site: web::Data<Site>, assets: web::Data<StaticFiles>) {
    cfg.app_data(site)
        .app_data(assets)
        .service(web::scope("/static").default_service(web::to(static_file)));
    // Every page is a function of the path and the database: rendered once per change of the
    // data (`read_through`), compressed per request.
    let mut pages = web::scope("")
        .wrap(from_fn(response_cache::read_through))
        .wrap(Compress::default())
        .service(page("/states/{id}").route(get_or_head().to(state)));
    for &(path, template, list) in STATE_LISTS {
        pages = pages.service(page(path).route(get_or_head().to(
            move |site: web::Data<Site>| async move { states_page(&site, template, list).await },
        )));
    }
    for (path, kind) in PAGES {
        let kind = *kind;
        pages = pages.service(page(path).route(
            get_or_head().to(move |site: web::Data<Site>| async move { hbnb(&site, kind).await }),
        ));
    }
    cfg.service(pages.default_service(web::to(not_found)));
}

/// `/static/<path>`: from memory, compressed once (see `hbnb_common::static_files`).
async fn static_file(req: HttpRequest, files: web::Data<StaticFiles>) -> HttpResponse {
    let raw = req.path().strip_prefix("/static/").unwrap_or("");
    files.serve(&req, raw).await
}

async fn hbnb(site: &Site, kind: PageKind) -> Result<HttpResponse, PageError> {
    let states = site.db.states_with_cities().await?;
    let amenities = site.db.amenities_sorted().await?;
    let places = if kind.server_places {
        site.db.places_with_owner().await?
    } else {
        Vec::new()
    };
    let mut context = tera::Context::new();
    context.insert("page", &kind);
    context.insert("api_base", &site.api_base);
    context.insert("states", &states);
    context.insert("amenities", &amenities);
    // Written in Rust, not by the template's loop: see `places_html`.
    context.insert("places_html", &places_html::place_articles(&places));
    Ok(render(&site.tera, "hbnb.html", &context))
}

/// `/states_list`, `/cities_by_states`, `/states`: the states sorted, each with its cities.
async fn states_page(
    site: &Site,
    template: &'static str,
    list: bool,
) -> Result<HttpResponse, PageError> {
    let mut context = tera::Context::new();
    context.insert("states", &site.db.states_with_cities().await?);
    context.insert("list", &list);
    Ok(render(&site.tera, template, &context))
}

/// `/states/<id>`: the state and its sorted cities, or `Not found!` (status 200, as the course).
async fn state(site: web::Data<Site>, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let mut context = tera::Context::new();
    context.insert("list", &false);
    if let Some(state) = site.db.get::<State>(&id).await? {
        let mut cities = site.db.cities_of_state(&state.id).await?;
        cities.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        context.insert("state", &state);
        context.insert("cities", &cities);
    }
    Ok(render(&site.tera, "9-states.html", &context))
}

/// What a page can fail with: the database (503 when unreachable, else 500), logged here with
/// its cause; the client gets the short HTML error page.
#[derive(Debug, thiserror::Error)]
#[error("storage read failed: {0}")]
pub struct PageError(#[from] StorageError);

impl actix_web::ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        if self.0.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!(error = %self.0, "storage read failed");
        let mut response = html_error(self.status_code());
        if self.0.is_unavailable() {
            // A database restarting or out of reach for a moment: say when to come back.
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(2u32),
            );
        }
        response
    }
}
