//! `/states` (spec §4.3).

use hbnb_storage::State;

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, NameBody, NameChange};
use super::{Db, Id, Reply};
use crate::body::Body;

#[utoipa::path(get, path = "/api/v1/states", tag = "states", responses(List<State>, Unavailable))]
pub async fn list_states(db: Db) -> Reply {
    super::list::<State>(&db).await
}

#[utoipa::path(
    get, path = "/api/v1/states/{id}", tag = "states", params(("id" = String, Path)),
    responses(One<State>, NotFound, Unavailable)
)]
pub async fn get_state(db: Db, id: Id) -> Reply {
    super::get::<State>(&db, &id).await
}

#[utoipa::path(
    delete, path = "/api/v1/states/{id}", tag = "states", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_state(db: Db, id: Id) -> Reply {
    super::remove::<State>(&db, &id).await
}

#[utoipa::path(
    post, path = "/api/v1/states", tag = "states", request_body = NameBody,
    responses(Made<State>, BadBody, Unavailable)
)]
pub async fn create_state(db: Db, body: Body<NameBody>) -> Reply {
    let NameBody { name } = body.read().await?;
    created(hbnb_storage::to_dict(&db.create_state(&name.0).await?))
}

/// Ignores `id`, `created_at`, `updated_at`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/states/{id}", tag = "states", params(("id" = String, Path)),
    request_body = NameChange, responses(One<State>, NotFound, BadBody, Unavailable)
)]
pub async fn update_state(db: Db, id: Id, body: Body<NameChange>) -> Reply {
    super::update::<State, _>(&db, &id, body).await
}
