//! `/states/<state_id>/cities` and `/cities` (spec §4.3).

use hbnb_storage::{to_dict, to_dicts, City, Database, State, StorageError};

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{
    created, existing, get, ok, remove, update, Db, Id, NameBody, NameChange, Named, Reply, Stored,
};
use crate::body::Body;

impl Stored for City {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError> {
        db.update_city(self).await
    }
}

impl Named for City {
    fn name(&mut self) -> &mut String {
        &mut self.name
    }
}

#[utoipa::path(
    get, path = "/api/v1/states/{state_id}/cities", tag = "cities",
    params(("state_id" = String, Path)),
    responses(List<City>, NotFound, Unavailable)
)]
pub async fn list_cities(db: Db, state_id: Id) -> Reply {
    let state_id = existing::<State>(&db, &state_id).await?;
    ok(to_dicts(&db.cities_of_state(&state_id).await?))
}

/// The parent comes from the URL (the body's key for it is ignored).
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

#[utoipa::path(
    get, path = "/api/v1/cities/{id}", tag = "cities", params(("id" = String, Path)),
    responses(One<City>, NotFound, Unavailable)
)]
pub async fn get_city(db: Db, id: Id) -> Reply {
    get::<City>(&db, &id).await
}

/// Ignores `id`, `created_at`, `updated_at`, `state_id`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/cities/{id}", tag = "cities", params(("id" = String, Path)),
    request_body = NameChange,
    responses(One<City>, NotFound, BadBody, Unavailable)
)]
pub async fn update_city(db: Db, id: Id, body: Body<NameChange>) -> Reply {
    update::<City, _>(&db, &id, body).await
}

/// Its places go with it, and their reviews and links.
#[utoipa::path(
    delete, path = "/api/v1/cities/{id}", tag = "cities", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_city(db: Db, id: Id) -> Reply {
    remove::<City>(&db, &id).await
}
