//! The OpenAPI description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations (`handlers/`), the request body types they deserialize and the storage models
//! they answer, served at `/api/v1/openapi.json`, with a Swagger UI at `/api/docs/` (reachable
//! through the gateway's `/api/` route) and `/apidocs/` (the original's flasgger address). The
//! UI's files are compiled in (`vendored`): no CDN. This module depends on the handlers, never
//! the reverse; `the_document_covers_every_route` (tests/tests/api_openapi.rs) keeps the
//! document and the routes in step.

use actix_web::{web, HttpResponse, Resource};
use hbnb_storage::{Amenity, City, Dict, Model, Place, Review, State, User};
use utoipa::openapi::OpenApi as Document_;
use utoipa::{OpenApi, PartialSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ErrorBody;
use crate::handlers::{self as h, Empty, Status};

/// Where the document is served (inside the `/api/v1` scope, so it gets CORS like the rest).
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HBNB REST API",
        version = "v1",
        description = "The course's AirBnB clone API (AirBnB_clone_v3), on SQLite or PostgreSQL. \
                       Errors are `{\"error\": \"<message>\"}`; every route also answers with a \
                       trailing slash, and HEAD where it answers GET. A method a path does not \
                       list answers 405 with the path's methods in `Allow`; OPTIONS answers 200 \
                       with the same list in `Allow` and `Access-Control-Allow-Methods`. Request \
                       bodies ignore the keys their schema does not list (ids and timestamps \
                       are always the server's)."
    ),
    paths(
        h::status, h::stats,
        h::list_states, h::create_state, h::get_state, h::update_state, h::delete_state,
        h::list_cities, h::create_city, h::get_city, h::update_city, h::delete_city,
        h::list_amenities, h::create_amenity, h::get_amenity, h::update_amenity, h::delete_amenity,
        h::list_users, h::create_user, h::get_user, h::update_user, h::delete_user,
        h::list_places, h::create_place, h::get_place, h::update_place, h::delete_place,
        h::search_places,
        h::list_reviews, h::create_review, h::get_review, h::update_review, h::delete_review,
        h::list_place_amenities, h::link_amenity, h::unlink_amenity,
    ),
    components(schemas(Status, ErrorBody, Empty)),
    tags(
        (name = "status", description = "Liveness of the API and object counts"),
        (name = "states"), (name = "cities"), (name = "amenities"), (name = "users"),
        (name = "places"), (name = "reviews"),
        (name = "place amenities", description = "The Place ↔ Amenity link"),
    )
)]
pub struct ApiDoc;

impl ApiDoc {
    /// The document: the paths and bodies above, and the `to_dict()` of each model they answer.
    pub fn document() -> Document_ {
        let mut document = ApiDoc::openapi();
        let components = document.components.get_or_insert_with(Default::default);
        fn add<M: Model>(components: &mut utoipa::openapi::Components) {
            components
                .schemas
                .insert(M::name().into_owned(), Dict::<M>::schema());
        }
        add::<State>(components);
        add::<City>(components);
        add::<Amenity>(components);
        add::<User>(components);
        add::<Place>(components);
        add::<Review>(components);
        document
    }
}

/// The document as JSON, built once at start-up (it never changes while running) and shared by
/// every worker; `Bytes` clones are reference counts, not copies.
pub struct Document(web::Bytes);

impl Document {
    pub fn build() -> Self {
        let json = ApiDoc::document().to_json().unwrap_or_else(|error| {
            format!("{{\"error\": \"cannot write the document: {error}\"}}")
        });
        Self(web::Bytes::from(json))
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn serve_document(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

/// A Swagger UI page at `prefix` (e.g. `/api/docs`) reading [`DOCUMENT_PATH`].
pub fn swagger_ui(prefix: &str) -> SwaggerUi {
    SwaggerUi::new(format!("{prefix}/{{_:.*}}")).config(Config::new([DOCUMENT_PATH]))
}

/// `prefix` without the slash redirects to the page (Swagger UI's files are relative to it).
pub fn swagger_redirect(prefix: &'static str) -> Resource {
    web::resource(prefix).to(move || async move {
        HttpResponse::PermanentRedirect()
            .insert_header((actix_web::http::header::LOCATION, format!("{prefix}/")))
            .finish()
    })
}
