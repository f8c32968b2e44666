//! The endpoints of spec §4.2–4.5. Checks run in the order of §4.3 with the §8 choices: a missing
//! object or parent answers 404 first, then the body ("Not a JSON", "Missing ..."), then the field
//! types and sizes. PUT ignores the id, timestamps, the per-resource keys of §4.3 and any key that
//! is not a column; a PUT that changes no column answers the object unchanged.

use actix_web::{web, HttpRequest, HttpResponse};
use hbnb_storage::{
    to_dict, to_dicts, Amenity, City, Database, LinkOutcome, Model, Place, PlaceFields,
    PlaceSearch, Review, State, User, NAME_MAX, TEXT_MAX,
};
use serde_json::{json, Value};

use crate::body::{self, parse_id, Object};
use crate::error::ApiError;
use crate::password;

type Db = web::Data<Database>;
type Reply = Result<HttpResponse, ApiError>;

fn ok(value: impl serde::Serialize) -> Reply {
    Ok(HttpResponse::Ok().json(value))
}

fn created(value: impl serde::Serialize) -> Reply {
    Ok(HttpResponse::Created().json(value))
}

fn deleted(found: bool) -> Reply {
    if found {
        ok(json!({}))
    } else {
        Err(ApiError::NotFound)
    }
}

/// The object with this id, or 404 (also for an id that is not a UUID).
async fn fetch<M: Model>(db: &Database, raw_id: &str) -> Result<M, ApiError> {
    let id = parse_id(raw_id).ok_or(ApiError::NotFound)?;
    db.get::<M>(&id).await?.ok_or(ApiError::NotFound)
}

/// 404 unless an object with this id exists; returns the normalised id.
async fn existing<M: Model>(db: &Database, raw_id: &str) -> Result<String, ApiError> {
    let id = parse_id(raw_id).ok_or(ApiError::NotFound)?;
    if db.exists::<M>(&id).await? {
        Ok(id)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn remove<M: Model>(db: &Database, raw_id: &str) -> Reply {
    let id = parse_id(raw_id).ok_or(ApiError::NotFound)?;
    deleted(db.delete::<M>(&id).await?)
}

/// A required string field: "Missing <key>" when absent, then its type and size.
fn required(body: &Object, key: &str, max: usize) -> Result<String, ApiError> {
    body::string(body, key, max)?.ok_or_else(|| ApiError::bad_request(format!("Missing {key}")))
}

/// The `user_id` of a place or review POST: "Missing user_id", then 404 for an unknown user.
async fn owner(db: &Database, body: &Object) -> Result<String, ApiError> {
    match body.get("user_id") {
        None => Err(ApiError::bad_request("Missing user_id")),
        Some(Value::String(raw)) => existing::<User>(db, raw).await,
        Some(_) => Err(ApiError::bad_request("user_id must be a string")),
    }
}

/// Answers the PUT result: the updated row, or the unchanged object when nothing was set.
fn updated<M: Model>(row: Option<M>) -> Reply {
    ok(to_dict(&row.ok_or(ApiError::NotFound)?))
}

// ---- status and stats -------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "status",
    responses(
        (status = 200, body = crate::openapi::Status),
    )
)]
pub async fn status() -> Reply {
    ok(json!({"status": "OK"}))
}

#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "status",
    responses(
        (status = 200, body = crate::openapi::Stats),
    )
)]
pub async fn stats(db: Db) -> Reply {
    ok(serde_json::to_value(db.stats().await?).map_err(|e| ApiError::Internal(Box::new(e)))?)
}

// ---- states ------------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/states",
    tag = "states",
    responses(
        (status = 200, body = [crate::openapi::State]),
    )
)]
pub async fn list_states(db: Db) -> Reply {
    ok(to_dicts(&db.list::<State>().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/states/{id}",
    tag = "states",
    params(("id" = String, Path, description = "State id")),
    responses(
        (status = 200, body = crate::openapi::State),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_state(db: Db, id: web::Path<String>) -> Reply {
    ok(to_dict(&fetch::<State>(&db, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/states/{id}",
    tag = "states",
    params(("id" = String, Path, description = "State id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_state(db: Db, id: web::Path<String>) -> Reply {
    remove::<State>(&db, &id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/states",
    tag = "states",
    request_body(content = crate::openapi::NewState, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::openapi::State),
        (status = 400, description = "Not a JSON; Missing name", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_state(db: Db, req: HttpRequest, payload: web::Payload) -> Reply {
    let body = body::object(&req, payload).await?;
    let name = required(&body, "name", NAME_MAX)?;
    created(to_dict(&db.create_state(&name).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/states/{id}",
    tag = "states",
    params(("id" = String, Path, description = "State id")),
    request_body(content = crate::openapi::NewState, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (ignored: id, created_at, updated_at); updated_at set to now", body = crate::openapi::State),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_state(
    db: Db,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let mut state = fetch::<State>(&db, &id).await?;
    let body = body::object(&req, payload).await?;
    let Some(name) = body::string(&body, "name", NAME_MAX)? else {
        return ok(to_dict(&state));
    };
    state.name = name;
    updated(db.update_state(&state).await?)
}

// ---- cities ------------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/states/{state_id}/cities",
    tag = "cities",
    params(("state_id" = String, Path, description = "State id")),
    responses(
        (status = 200, body = [crate::openapi::City]),
        (status = 404, description = "Unknown state", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_cities(db: Db, state_id: web::Path<String>) -> Reply {
    let state_id = existing::<State>(&db, &state_id).await?;
    ok(to_dicts(&db.cities_of_state(&state_id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/cities/{id}",
    tag = "cities",
    params(("id" = String, Path, description = "City id")),
    responses(
        (status = 200, body = crate::openapi::City),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_city(db: Db, id: web::Path<String>) -> Reply {
    ok(to_dict(&fetch::<City>(&db, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/cities/{id}",
    tag = "cities",
    params(("id" = String, Path, description = "City id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_city(db: Db, id: web::Path<String>) -> Reply {
    remove::<City>(&db, &id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/states/{state_id}/cities",
    tag = "cities",
    params(("state_id" = String, Path, description = "State id")),
    request_body(content = crate::openapi::NewCity, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::openapi::City),
        (status = 404, description = "Unknown state", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON; Missing name", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_city(
    db: Db,
    state_id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let state_id = existing::<State>(&db, &state_id).await?;
    let body = body::object(&req, payload).await?;
    let name = required(&body, "name", NAME_MAX)?;
    created(to_dict(&db.create_city(&state_id, &name).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/cities/{id}",
    tag = "cities",
    params(("id" = String, Path, description = "City id")),
    request_body(content = crate::openapi::NewCity, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (ignored: id, created_at, updated_at, state_id); updated_at set to now", body = crate::openapi::City),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_city(
    db: Db,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let mut city = fetch::<City>(&db, &id).await?;
    let body = body::object(&req, payload).await?;
    let Some(name) = body::string(&body, "name", NAME_MAX)? else {
        return ok(to_dict(&city));
    };
    city.name = name;
    updated(db.update_city(&city).await?)
}

// ---- amenities ---------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/amenities",
    tag = "amenities",
    responses(
        (status = 200, body = [crate::openapi::Amenity]),
    )
)]
pub async fn list_amenities(db: Db) -> Reply {
    ok(to_dicts(&db.list::<Amenity>().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/amenities/{id}",
    tag = "amenities",
    params(("id" = String, Path, description = "Amenity id")),
    responses(
        (status = 200, body = crate::openapi::Amenity),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_amenity(db: Db, id: web::Path<String>) -> Reply {
    ok(to_dict(&fetch::<Amenity>(&db, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/amenities/{id}",
    tag = "amenities",
    params(("id" = String, Path, description = "Amenity id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_amenity(db: Db, id: web::Path<String>) -> Reply {
    remove::<Amenity>(&db, &id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/amenities",
    tag = "amenities",
    request_body(content = crate::openapi::NewAmenity, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::openapi::Amenity),
        (status = 400, description = "Not a JSON; Missing name", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_amenity(db: Db, req: HttpRequest, payload: web::Payload) -> Reply {
    let body = body::object(&req, payload).await?;
    let name = required(&body, "name", NAME_MAX)?;
    created(to_dict(&db.create_amenity(&name).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/amenities/{id}",
    tag = "amenities",
    params(("id" = String, Path, description = "Amenity id")),
    request_body(content = crate::openapi::NewAmenity, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (ignored: id, created_at, updated_at); updated_at set to now", body = crate::openapi::Amenity),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_amenity(
    db: Db,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let mut amenity = fetch::<Amenity>(&db, &id).await?;
    let body = body::object(&req, payload).await?;
    let Some(name) = body::string(&body, "name", NAME_MAX)? else {
        return ok(to_dict(&amenity));
    };
    amenity.name = name;
    updated(db.update_amenity(&amenity).await?)
}

// ---- users -------------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    responses(
        (status = 200, body = [crate::openapi::User]),
    )
)]
pub async fn list_users(db: Db) -> Reply {
    ok(to_dicts(&db.list::<User>().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, body = crate::openapi::User),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_user(db: Db, id: web::Path<String>) -> Reply {
    ok(to_dict(&fetch::<User>(&db, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_user(db: Db, id: web::Path<String>) -> Reply {
    remove::<User>(&db, &id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body(content = crate::openapi::NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::openapi::User),
        (status = 400, description = "Not a JSON; Missing email; Missing password", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_user(db: Db, req: HttpRequest, payload: web::Payload) -> Reply {
    let body = body::object(&req, payload).await?;
    let email = required(&body, "email", NAME_MAX)?;
    let password = required(&body, "password", NAME_MAX)?;
    let first_name = body::nullable_string(&body, "first_name", NAME_MAX)?.flatten();
    let last_name = body::nullable_string(&body, "last_name", NAME_MAX)?.flatten();
    let hash = password::hash(password).await?;
    let user = db
        .create_user(&email, &hash, first_name.as_deref(), last_name.as_deref())
        .await?;
    created(to_dict(&user))
}

#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    request_body(content = crate::openapi::UserChanges, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (ignored: id, created_at, updated_at, email); updated_at set to now", body = crate::openapi::User),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_user(
    db: Db,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let mut user = fetch::<User>(&db, &id).await?;
    let body = body::object(&req, payload).await?;
    let new_password = body::string(&body, "password", NAME_MAX)?;
    let first_name = body::nullable_string(&body, "first_name", NAME_MAX)?;
    let last_name = body::nullable_string(&body, "last_name", NAME_MAX)?;
    if new_password.is_none() && first_name.is_none() && last_name.is_none() {
        return ok(to_dict(&user));
    }
    if let Some(new_password) = new_password {
        user.password = password::hash(new_password).await?;
    }
    if let Some(first_name) = first_name {
        user.first_name = first_name;
    }
    if let Some(last_name) = last_name {
        user.last_name = last_name;
    }
    updated(db.update_user(&user).await?)
}

// ---- places ------------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/cities/{city_id}/places",
    tag = "places",
    params(("city_id" = String, Path, description = "City id")),
    responses(
        (status = 200, body = [crate::openapi::Place]),
        (status = 404, description = "Unknown city", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_places(db: Db, city_id: web::Path<String>) -> Reply {
    let city_id = existing::<City>(&db, &city_id).await?;
    ok(to_dicts(&db.places_of_city(&city_id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/places/{id}",
    tag = "places",
    params(("id" = String, Path, description = "Place id")),
    responses(
        (status = 200, body = crate::openapi::Place),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_place(db: Db, id: web::Path<String>) -> Reply {
    ok(to_dict(&fetch::<Place>(&db, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/places/{id}",
    tag = "places",
    params(("id" = String, Path, description = "Place id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_place(db: Db, id: web::Path<String>) -> Reply {
    remove::<Place>(&db, &id).await
}

/// The place columns a POST or PUT may set, each None when absent.
struct PlaceChanges {
    name: Option<String>,
    description: Option<Option<String>>,
    number_rooms: Option<i32>,
    number_bathrooms: Option<i32>,
    max_guest: Option<i32>,
    price_by_night: Option<i32>,
    latitude: Option<Option<f64>>,
    longitude: Option<Option<f64>>,
}

impl PlaceChanges {
    fn read(body: &Object) -> Result<Self, ApiError> {
        Ok(Self {
            name: body::string(body, "name", NAME_MAX)?,
            description: body::nullable_string(body, "description", TEXT_MAX)?,
            number_rooms: body::integer(body, "number_rooms")?,
            number_bathrooms: body::integer(body, "number_bathrooms")?,
            max_guest: body::integer(body, "max_guest")?,
            price_by_night: body::integer(body, "price_by_night")?,
            latitude: body::nullable_number(body, "latitude")?,
            longitude: body::nullable_number(body, "longitude")?,
        })
    }

    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.number_rooms.is_none()
            && self.number_bathrooms.is_none()
            && self.max_guest.is_none()
            && self.price_by_night.is_none()
            && self.latitude.is_none()
            && self.longitude.is_none()
    }

    fn apply(self, fields: &mut PlaceFields) {
        if let Some(v) = self.name {
            fields.name = v;
        }
        if let Some(v) = self.description {
            fields.description = v;
        }
        if let Some(v) = self.number_rooms {
            fields.number_rooms = v;
        }
        if let Some(v) = self.number_bathrooms {
            fields.number_bathrooms = v;
        }
        if let Some(v) = self.max_guest {
            fields.max_guest = v;
        }
        if let Some(v) = self.price_by_night {
            fields.price_by_night = v;
        }
        if let Some(v) = self.latitude {
            fields.latitude = v;
        }
        if let Some(v) = self.longitude {
            fields.longitude = v;
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/cities/{city_id}/places",
    tag = "places",
    params(("city_id" = String, Path, description = "City id")),
    request_body(content = crate::openapi::NewPlace, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::openapi::Place),
        (status = 404, description = "Unknown city, or unknown user", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON; Missing user_id; Missing name", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_place(
    db: Db,
    city_id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let city_id = existing::<City>(&db, &city_id).await?;
    let body = body::object(&req, payload).await?;
    let user_id = owner(&db, &body).await?;
    let name = required(&body, "name", NAME_MAX)?;
    let mut fields = PlaceFields {
        name,
        ..PlaceFields::default()
    };
    PlaceChanges::read(&body)?.apply(&mut fields);
    created(to_dict(
        &db.create_place(&city_id, &user_id, &fields).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/places/{id}",
    tag = "places",
    params(("id" = String, Path, description = "Place id")),
    request_body(content = crate::openapi::PlaceChanges, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (ignored: id, created_at, updated_at, user_id, city_id); updated_at set to now", body = crate::openapi::Place),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_place(
    db: Db,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let mut place = fetch::<Place>(&db, &id).await?;
    let body = body::object(&req, payload).await?;
    let changes = PlaceChanges::read(&body)?;
    if changes.is_empty() {
        return ok(to_dict(&place));
    }
    let mut fields = PlaceFields {
        name: std::mem::take(&mut place.name),
        description: place.description.take(),
        number_rooms: place.number_rooms,
        number_bathrooms: place.number_bathrooms,
        max_guest: place.max_guest,
        price_by_night: place.price_by_night,
        latitude: place.latitude,
        longitude: place.longitude,
    };
    changes.apply(&mut fields);
    let place = Place {
        name: fields.name,
        description: fields.description,
        number_rooms: fields.number_rooms,
        number_bathrooms: fields.number_bathrooms,
        max_guest: fields.max_guest,
        price_by_night: fields.price_by_night,
        latitude: fields.latitude,
        longitude: fields.longitude,
        ..place
    };
    updated(db.update_place(&place).await?)
}

/// A list of ids in a search body: None when absent or null, each element normalised (None for
/// a string that is not a UUID, which names nothing); 400 for anything but a list of strings.
fn id_list(body: &Object, key: &str) -> Result<Option<Vec<Option<String>>>, ApiError> {
    let bad = || ApiError::bad_request(format!("{key} must be a list of ids"));
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(parse_id).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/places_search",
    tag = "places",
    request_body(content = crate::openapi::PlaceSearch, content_type = "application/json"),
    responses(
        (status = 200, body = [crate::openapi::Place]),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn search_places(db: Db, req: HttpRequest, payload: web::Payload) -> Reply {
    let body = body::object(&req, payload).await?;
    let states = id_list(&body, "states")?.unwrap_or_default();
    let cities = id_list(&body, "cities")?.unwrap_or_default();
    let amenities = id_list(&body, "amenities")?.unwrap_or_default();
    let search = PlaceSearch {
        states: states.iter().flatten().cloned().collect(),
        cities: cities.iter().flatten().cloned().collect(),
        amenities: amenities.iter().flatten().cloned().collect(),
    };
    // Ids that are not UUIDs match nothing: states/cities given but all such match no place
    // (our rewrite), and such an amenity is one no place has.
    let nothing = (search.states.is_empty() && search.cities.is_empty())
        && (!states.is_empty() || !cities.is_empty());
    if nothing || search.amenities.len() < amenities.len() {
        return ok(json!([]));
    }
    ok(to_dicts(&db.search_places(&search).await?))
}

// ---- reviews -----------------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/places/{place_id}/reviews",
    tag = "reviews",
    params(("place_id" = String, Path, description = "Place id")),
    responses(
        (status = 200, body = [crate::openapi::Review]),
        (status = 404, description = "Unknown place", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_reviews(db: Db, place_id: web::Path<String>) -> Reply {
    let place_id = existing::<Place>(&db, &place_id).await?;
    ok(to_dicts(&db.reviews_of_place(&place_id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/reviews/{id}",
    tag = "reviews",
    params(("id" = String, Path, description = "Review id")),
    responses(
        (status = 200, body = crate::openapi::Review),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_review(db: Db, id: web::Path<String>) -> Reply {
    ok(to_dict(&fetch::<Review>(&db, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/reviews/{id}",
    tag = "reviews",
    params(("id" = String, Path, description = "Review id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete_review(db: Db, id: web::Path<String>) -> Reply {
    remove::<Review>(&db, &id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/places/{place_id}/reviews",
    tag = "reviews",
    params(("place_id" = String, Path, description = "Place id")),
    request_body(content = crate::openapi::NewReview, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::openapi::Review),
        (status = 404, description = "Unknown place, or unknown user", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON; Missing user_id; Missing text", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create_review(
    db: Db,
    place_id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let place_id = existing::<Place>(&db, &place_id).await?;
    let body = body::object(&req, payload).await?;
    let user_id = owner(&db, &body).await?;
    let text = required(&body, "text", TEXT_MAX)?;
    created(to_dict(
        &db.create_review(&place_id, &user_id, &text).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/reviews/{id}",
    tag = "reviews",
    params(("id" = String, Path, description = "Review id")),
    request_body(content = crate::openapi::ReviewChanges, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (ignored: id, created_at, updated_at, user_id, place_id); updated_at set to now", body = crate::openapi::Review),
        (status = 404, description = "Unknown id", body = crate::openapi::ErrorBody),
        (status = 400, description = "Not a JSON", body = crate::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update_review(
    db: Db,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    let mut review = fetch::<Review>(&db, &id).await?;
    let body = body::object(&req, payload).await?;
    let Some(text) = body::string(&body, "text", TEXT_MAX)? else {
        return ok(to_dict(&review));
    };
    review.text = text;
    updated(db.update_review(&review).await?)
}

// ---- place <-> amenity -------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/places/{place_id}/amenities",
    tag = "place amenities",
    params(("place_id" = String, Path, description = "Place id")),
    responses(
        (status = 200, body = [crate::openapi::Amenity]),
        (status = 404, description = "Unknown place", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_place_amenities(db: Db, place_id: web::Path<String>) -> Reply {
    let place_id = existing::<Place>(&db, &place_id).await?;
    ok(to_dicts(&db.amenities_of_place(&place_id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/places/{place_id}/amenities/{amenity_id}",
    tag = "place amenities",
    params(("place_id" = String, Path, description = "Place id"), ("amenity_id" = String, Path, description = "Amenity id")),
    responses(
        (status = 201, description = "Linked now", body = crate::openapi::Amenity),
        (status = 200, description = "Already linked", body = crate::openapi::Amenity),
        (status = 404, description = "Unknown place or amenity", body = crate::openapi::ErrorBody),
    )
)]
pub async fn link_amenity(db: Db, ids: web::Path<(String, String)>) -> Reply {
    let (place_id, amenity_id) = ids.into_inner();
    let place_id = existing::<Place>(&db, &place_id).await?;
    let amenity = fetch::<Amenity>(&db, &amenity_id).await?;
    match db.link_amenity(&place_id, &amenity.id).await? {
        LinkOutcome::Created => created(to_dict(&amenity)),
        LinkOutcome::AlreadyLinked => ok(to_dict(&amenity)),
    }
}

#[utoipa::path(
    delete,
    path = "/api/v1/places/{place_id}/amenities/{amenity_id}",
    tag = "place amenities",
    params(("place_id" = String, Path, description = "Place id"), ("amenity_id" = String, Path, description = "Amenity id")),
    responses(
        (status = 200, body = crate::openapi::Empty),
        (status = 404, description = "Unknown place or amenity, or not linked", body = crate::openapi::ErrorBody),
    )
)]
pub async fn unlink_amenity(db: Db, ids: web::Path<(String, String)>) -> Reply {
    let (place_id, amenity_id) = ids.into_inner();
    let place_id = existing::<Place>(&db, &place_id).await?;
    let amenity_id = existing::<Amenity>(&db, &amenity_id).await?;
    deleted(db.unlink_amenity(&place_id, &amenity_id).await?)
}
