//! `/states` (spec §4.3).

use hbnb_storage::{to_dict, Database, State, StorageError};

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{
    created, get, list, remove, update, Db, Id, NameBody, NameChange, Named, Reply, Stored,
};
use crate::body::Body;

impl Stored for State {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError> {
        db.update_state(self).await
    }
}

impl Named for State {
    fn name(&mut self) -> &mut String {
        &mut self.name
    }
}

#[utoipa::path(
    get, path = "/api/v1/states", tag = "states",
    responses(List<State>, Unavailable)
)]
pub async fn list_states(db: Db) -> Reply {
    list::<State>(&db).await
}

#[utoipa::path(
    post, path = "/api/v1/states", tag = "states", request_body = NameBody,
    responses(Made<State>, BadBody, Unavailable)
)]
pub async fn create_state(db: Db, body: Body<NameBody>) -> Reply {
    let NameBody { name } = body.read().await?;
    created(to_dict(&db.create_state(&name.0).await?))
}

#[utoipa::path(
    get, path = "/api/v1/states/{id}", tag = "states", params(("id" = String, Path)),
    responses(One<State>, NotFound, Unavailable)
)]
pub async fn get_state(db: Db, id: Id) -> Reply {
    get::<State>(&db, &id).await
}

/// Ignores `id`, `created_at`, `updated_at`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/states/{id}", tag = "states", params(("id" = String, Path)),
    request_body = NameChange,
    responses(One<State>, NotFound, BadBody, Unavailable)
)]
pub async fn update_state(db: Db, id: Id, body: Body<NameChange>) -> Reply {
    update::<State, _>(&db, &id, body).await
}

/// Its cities go with it, and their places, reviews and links.
#[utoipa::path(
    delete, path = "/api/v1/states/{id}", tag = "states", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_state(db: Db, id: Id) -> Reply {
    remove::<State>(&db, &id).await
}
