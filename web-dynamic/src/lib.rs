//! web-dynamic (port 5003): the course's web_dynamic site (spec §5) and the web_flask storage
//! pages (spec §3, rows 7–100), rendered with tera (autoescape on) from the shared storage, and the
//! static assets under `/static/` (actix-files: ETag, Last-Modified, 304, Range; gzip/brotli for
//! text; fingerprinted URLs cached for a year).
//!
//! Our rewrites (spec README): asset URLs are absolute and carry `cache_id=<content fingerprint>`,
//! jQuery is vendored, the page scripts call the API same-origin (or at `API_PUBLIC_URL`, given
//! to them by the template), and every name and description is escaped.

pub mod assets;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, HttpRequest, HttpResponse};
use hbnb_common::pages::{get_only, get_or_head, html_error, not_found};
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
    let db = settings
        .database
        .connect()
        .await
        .map_err(|e| std::io::Error::other(format!("cannot open the database: {e}")))?;
    tracing::info!(engine = ?db.engine(), "database open, migrations applied");
    let check = db.clone();
    let readiness = Readiness::new().with_check(move || {
        let db = check.clone();
        Box::pin(async move { db.check_ready().await.map_err(|e| e.to_string()) })
    });
    let version = db
        .data_version(settings.database.url())
        .await
        .map_err(|e| std::io::Error::other(format!("cannot open the database: {e}")))?;
    let cache = web::Data::new(ResponseCache::new(
        version.map(|v| Arc::new(v.into_check()) as _),
        settings.cache.max_bytes,
        &[],
    ));
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
        AppOptions {
            access_log: true,
            ..AppOptions::default()
        },
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

const fn page_kind(
    script: Option<&'static str>,
    api_status: bool,
    amenity_checkboxes: bool,
    location_checkboxes: bool,
    server_places: bool,
) -> PageKind {
    PageKind {
        styles: ALL_STYLES,
        script,
        api_status,
        amenity_checkboxes,
        location_checkboxes,
        server_places,
        places_section: true,
    }
}

/// Path → page, in the course's order.
pub const PAGES: &[(&str, PageKind)] = &[
    (
        "/hbnb_filters",
        PageKind {
            styles: FILTER_STYLES,
            script: None,
            api_status: false,
            amenity_checkboxes: false,
            location_checkboxes: false,
            server_places: false,
            places_section: false,
        },
    ),
    ("/hbnb", page_kind(None, false, false, false, true)),
    ("/0-hbnb", page_kind(None, false, false, false, true)),
    (
        "/1-hbnb",
        page_kind(Some("1-hbnb.js"), false, true, false, true),
    ),
    (
        "/2-hbnb",
        page_kind(Some("2-hbnb.js"), true, true, false, true),
    ),
    (
        "/3-hbnb",
        page_kind(Some("3-hbnb.js"), true, true, false, false),
    ),
    (
        "/4-hbnb",
        page_kind(Some("4-hbnb.js"), true, true, false, false),
    ),
    (
        "/100-hbnb",
        page_kind(Some("100-hbnb.js"), true, true, true, false),
    ),
    (
        "/101-hbnb",
        page_kind(Some("101-hbnb.js"), true, true, true, false),
    ),
];

/// A route and its trailing-slash twin (Flask's `strict_slashes=False`: both served, no redirect).
fn page(path: &str) -> actix_web::Resource {
    web::resource([path.to_owned(), format!("{path}/")]).default_service(web::to(get_only))
}

pub fn routes(cfg: &mut web::ServiceConfig, site: web::Data<Site>, assets: web::Data<StaticFiles>) {
    cfg.app_data(site)
        .app_data(assets)
        .service(web::scope("/static").default_service(web::to(static_file)));
    // Every page is a function of the path and the database: rendered once per change of the
    // data (`read_through`), compressed per request.
    let mut pages = web::scope("")
        .wrap(from_fn(response_cache::read_through))
        .wrap(Compress::default())
        .service(page("/states_list").route(get_or_head().to(states_list)))
        .service(page("/cities_by_states").route(get_or_head().to(cities_by_states)))
        .service(page("/states").route(get_or_head().to(states)))
        .service(page("/states/{id}").route(get_or_head().to(state)));
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

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn storage_failure(error: &StorageError) -> HttpResponse {
    tracing::error!(%error, "storage read failed");
    if error.is_unavailable() {
        html_error(StatusCode::SERVICE_UNAVAILABLE)
    } else {
        html_error(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn render(site: &Site, template: &str, context: &tera::Context) -> HttpResponse {
    match site.tera.render(template, context) {
        Ok(body) => html(body),
        Err(error) => {
            tracing::error!(error = ?error, template, "template failed to render");
            html_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn hbnb(site: &Site, kind: PageKind) -> HttpResponse {
    let states = match site.db.states_with_cities().await {
        Ok(states) => states,
        Err(error) => return storage_failure(&error),
    };
    let amenities = match site.db.amenities_sorted().await {
        Ok(amenities) => amenities,
        Err(error) => return storage_failure(&error),
    };
    let places = if kind.server_places {
        match site.db.places_with_owner().await {
            Ok(places) => places,
            Err(error) => return storage_failure(&error),
        }
    } else {
        Vec::new()
    };
    let mut context = tera::Context::new();
    context.insert("page", &kind);
    context.insert("api_base", &site.api_base);
    context.insert("states", &states);
    context.insert("amenities", &amenities);
    context.insert("places", &places);
    render(site, "hbnb.html", &context)
}

async fn states_list(site: web::Data<Site>) -> HttpResponse {
    match site.db.states_with_cities().await {
        Ok(states) => {
            let mut context = tera::Context::new();
            context.insert("states", &states);
            render(&site, "7-states_list.html", &context)
        }
        Err(error) => storage_failure(&error),
    }
}

async fn cities_by_states(site: web::Data<Site>) -> HttpResponse {
    match site.db.states_with_cities().await {
        Ok(states) => {
            let mut context = tera::Context::new();
            context.insert("states", &states);
            render(&site, "8-cities_by_states.html", &context)
        }
        Err(error) => storage_failure(&error),
    }
}

/// `/states`: the list of 7-states_list under 9-states' template.
async fn states(site: web::Data<Site>) -> HttpResponse {
    match site.db.states_with_cities().await {
        Ok(states) => {
            let mut context = tera::Context::new();
            context.insert("states", &states);
            context.insert("list", &true);
            render(&site, "9-states.html", &context)
        }
        Err(error) => storage_failure(&error),
    }
}

/// `/states/<id>`: the state and its sorted cities, or `Not found!` (status 200, as the course).
async fn state(site: web::Data<Site>, id: web::Path<String>) -> HttpResponse {
    let state = match site.db.get::<State>(&id).await {
        Ok(state) => state,
        Err(error) => return storage_failure(&error),
    };
    let mut context = tera::Context::new();
    context.insert("list", &false);
    if let Some(state) = state {
        let mut cities = match site.db.cities_of_state(&state.id).await {
            Ok(cities) => cities,
            Err(error) => return storage_failure(&error),
        };
        cities.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        context.insert("state", &state);
        context.insert("cities", &cities);
    }
    render(&site, "9-states.html", &context)
}
