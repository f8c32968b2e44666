//! The OpenAPI description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations (`handlers.rs`) and the schemas below, served at `/api/v1/openapi.json`, with a
//! Swagger UI at `/api/docs/` (reachable through the gateway's `/api/` route) and `/apidocs/`
//! (the original's flasgger address). The UI's files are compiled in (`vendored`): no CDN.
//!
//! The handlers build their JSON with `to_dict()` (storage), so the types here describe the wire
//! format only; `the_document_covers_every_route` (tests/tests/api_openapi.rs) keeps the two in step.

use actix_web::{web, HttpResponse, Resource};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::handlers as h;

/// Where the document is served (inside the `/api/v1` scope, so it gets CORS like the rest).
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HBNB REST API",
        version = "v1",
        description = "The course's AirBnB clone API (AirBnB_clone_v3), on SQLite or PostgreSQL. \
                       Errors are `{\"error\": \"<message>\"}`; every route also answers with a trailing slash."
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
    components(schemas(
        Status, Stats, ErrorBody, Empty,
        State, City, Amenity, User, Place, Review,
        NewState, NewCity, NewAmenity, NewUser, UserChanges, NewPlace, PlaceChanges, NewReview,
        ReviewChanges, PlaceSearch,
    )),
    tags(
        (name = "status", description = "Liveness of the API and object counts"),
        (name = "states"), (name = "cities"), (name = "amenities"), (name = "users"),
        (name = "places"), (name = "reviews"),
        (name = "place amenities", description = "The Place ↔ Amenity link"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once at start-up (it never changes while running) and shared by
/// every worker; `Bytes` clones are reference counts, not copies.
pub struct Document(web::Bytes);

impl Document {
    pub fn build() -> Self {
        let json = ApiDoc::openapi().to_json().unwrap_or_else(|error| {
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

// ---- wire types (documentation only) -----------------------------------------------------------

/// `GET /status`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "OK"}))]
pub struct Status {
    status: String,
}

/// `GET /stats`: the number of objects of each class.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    amenities: i64,
    cities: i64,
    places: i64,
    reviews: i64,
    states: i64,
    users: i64,
}

/// Every error: 400 (with the spec's exact message), 404 `Not found`, 405, 413.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": "Not found"}))]
pub struct ErrorBody {
    error: String,
}

/// The answer to a successful DELETE: `{}`.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// Timestamps are UTC, written `%Y-%m-%dT%H:%M:%S.%f` (six fractional digits, no zone).
#[derive(Serialize, ToSchema)]
pub struct State {
    #[serde(rename = "__class__")]
    #[schema(example = "State")]
    class: String,
    #[schema(format = Uuid)]
    id: String,
    #[schema(example = "2017-03-25T02:17:06.000000")]
    created_at: String,
    #[schema(example = "2017-03-25T02:17:06.000000")]
    updated_at: String,
    #[schema(max_length = 128, example = "California")]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct City {
    #[serde(rename = "__class__")]
    #[schema(example = "City")]
    class: String,
    #[schema(format = Uuid)]
    id: String,
    created_at: String,
    updated_at: String,
    #[schema(format = Uuid)]
    state_id: String,
    #[schema(max_length = 128, example = "San Francisco")]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Amenity {
    #[serde(rename = "__class__")]
    #[schema(example = "Amenity")]
    class: String,
    #[schema(format = Uuid)]
    id: String,
    created_at: String,
    updated_at: String,
    #[schema(max_length = 128, example = "Wifi")]
    name: String,
}

/// The password is stored as an argon2id hash and never returned.
#[derive(Serialize, ToSchema)]
pub struct User {
    #[serde(rename = "__class__")]
    #[schema(example = "User")]
    class: String,
    #[schema(format = Uuid)]
    id: String,
    created_at: String,
    updated_at: String,
    #[schema(max_length = 128)]
    email: String,
    #[schema(max_length = 128)]
    first_name: Option<String>,
    #[schema(max_length = 128)]
    last_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Place {
    #[serde(rename = "__class__")]
    #[schema(example = "Place")]
    class: String,
    #[schema(format = Uuid)]
    id: String,
    created_at: String,
    updated_at: String,
    #[schema(format = Uuid)]
    city_id: String,
    #[schema(format = Uuid)]
    user_id: String,
    #[schema(max_length = 128)]
    name: String,
    #[schema(max_length = 1024)]
    description: Option<String>,
    number_rooms: i32,
    number_bathrooms: i32,
    max_guest: i32,
    price_by_night: i32,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct Review {
    #[serde(rename = "__class__")]
    #[schema(example = "Review")]
    class: String,
    #[schema(format = Uuid)]
    id: String,
    created_at: String,
    updated_at: String,
    #[schema(format = Uuid)]
    place_id: String,
    #[schema(format = Uuid)]
    user_id: String,
    #[schema(max_length = 1024)]
    text: String,
}

// ---- request bodies ----------------------------------------------------------------------------
// Any other key is ignored (ids and timestamps are always the server's). A body that is not a
// JSON object answers 400 `Not a JSON`.

/// POST or PUT a state; PUT may leave `name` out (nothing changes).
#[derive(Serialize, ToSchema)]
pub struct NewState {
    #[schema(max_length = 128)]
    name: String,
}

/// POST or PUT a city (its state comes from the URL; `state_id` is ignored on PUT).
#[derive(Serialize, ToSchema)]
pub struct NewCity {
    #[schema(max_length = 128)]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewAmenity {
    #[schema(max_length = 128)]
    name: String,
}

/// POST a user: `Missing email`, then `Missing password`.
#[derive(Serialize, ToSchema)]
pub struct NewUser {
    #[schema(max_length = 128)]
    email: String,
    #[schema(max_length = 128)]
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// PUT a user: `email` is ignored; a new `password` is hashed once.
#[derive(Serialize, ToSchema)]
pub struct UserChanges {
    password: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// POST a place (its city comes from the URL): `Missing user_id`, an unknown user 404, then
/// `Missing name`.
#[derive(Serialize, ToSchema)]
pub struct NewPlace {
    #[schema(format = Uuid)]
    user_id: String,
    #[schema(max_length = 128)]
    name: String,
    description: Option<String>,
    number_rooms: Option<i32>,
    number_bathrooms: Option<i32>,
    max_guest: Option<i32>,
    price_by_night: Option<i32>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// PUT a place: `user_id` and `city_id` are ignored.
#[derive(Serialize, ToSchema)]
pub struct PlaceChanges {
    name: Option<String>,
    description: Option<String>,
    number_rooms: Option<i32>,
    number_bathrooms: Option<i32>,
    max_guest: Option<i32>,
    price_by_night: Option<i32>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// POST a review (its place comes from the URL): `Missing user_id`, an unknown user 404, then
/// `Missing text`.
#[derive(Serialize, ToSchema)]
pub struct NewReview {
    #[schema(format = Uuid)]
    user_id: String,
    #[schema(max_length = 1024)]
    text: String,
}

/// PUT a review: `user_id` and `place_id` are ignored.
#[derive(Serialize, ToSchema)]
pub struct ReviewChanges {
    text: Option<String>,
}

/// `places_search`: every list optional. States and cities are inclusive (a state brings all its
/// cities' places, without duplicates); `amenities` keeps the places having all of them. Empty or
/// missing lists: every place. Unknown ids match nothing.
#[derive(Serialize, ToSchema)]
pub struct PlaceSearch {
    states: Option<Vec<String>>,
    cities: Option<Vec<String>>,
    amenities: Option<Vec<String>>,
}
