//! `/states/<state_id>/cities` and `/cities` (spec §4.3).

use hbnb_storage::{to_dict, to_dicts, City, State};

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, existing, ok, NameBody, NameChange};
use super::{Db, Id, Reply};
use crate::body::Body;

#[utoipa::path(
    get, path = "/api/v1/states/{state_id}/cities", tag = "cities",
    params(("state_id" = String, Path)), responses(List<City>, NotFound, Unavailable)
)]
pub async fn list_cities(db: Db, state_id: Id) -> Reply {
    let state_id = existing::<State>(&db, &state_id).await?;
    ok(to_dicts(&db.cities_of_state(&state_id).await?))
}

#[utoipa::path(
    get, path = "/api/v1/cities/{id}", tag = "cities", params(("id" = String, Path)),
    responses(One<City>, NotFound, Unavailable)
)]
pub async fn get_city(db: Db, id: Id) -> Reply {
    super::get::<City>(&db, &id).await
}

/// Its places, their reviews and links go with it.
#[utoipa::path(
    delete, path = "/api/v1/cities/{id}", tag = "cities", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_city(db: Db, id: Id) -> Reply {
    super::remove::<City>(&db, &id).await
}

/// The state comes from the URL (a `state_id` in the body is ignored).
#[utoipa::path(
    post, path = "/api/v1/states/{state_id}/cities", tag = "cities",
    params(("state_id" = String, Path)), request_body = NameBody,
    responses(Made<City>, NotFound, BadBody, Unavailable)
)]
pub async fn create_city(db: Db, state_id: Id, body: Body<NameBody>) -> Reply {
    let state_id = existing::<State>(&db, &state_id).await?;
    let NameBody { name } = body.read().await?;
    created(to_dict(&db.create_city(&state_id, &name.0).await?))
}

/// Ignores `id`, `created_at`, `updated_at`, `state_id`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/cities/{id}", tag = "cities", params(("id" = String, Path)),
    request_body = NameChange, responses(One<City>, NotFound, BadBody, Unavailable)
)]
pub async fn update_city(db: Db, id: Id, body: Body<NameChange>) -> Reply {
    super::update::<City, _>(&db, &id, body).await
}
