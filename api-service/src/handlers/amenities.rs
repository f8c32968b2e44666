//! `/amenities` (spec §4.3). A PUT checks the id (404) before the body, like every PUT (spec §8).

use hbnb_storage::{to_dict, Amenity, Database, StorageError};

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{
    created, get, list, remove, update, Db, Id, NameBody, NameChange, Named, Reply, Stored,
};
use crate::body::Body;

impl Stored for Amenity {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError> {
        db.update_amenity(self).await
    }
}

impl Named for Amenity {
    fn name(&mut self) -> &mut String {
        &mut self.name
    }
}

#[utoipa::path(
    get, path = "/api/v1/amenities", tag = "amenities",
    responses(List<Amenity>, Unavailable)
)]
pub async fn list_amenities(db: Db) -> Reply {
    list::<Amenity>(&db).await
}

#[utoipa::path(
    post, path = "/api/v1/amenities", tag = "amenities", request_body = NameBody,
    responses(Made<Amenity>, BadBody, Unavailable)
)]
pub async fn create_amenity(db: Db, body: Body<NameBody>) -> Reply {
    let NameBody { name } = body.read().await?;
    created(to_dict(&db.create_amenity(&name.0).await?))
}

#[utoipa::path(
    get, path = "/api/v1/amenities/{id}", tag = "amenities", params(("id" = String, Path)),
    responses(One<Amenity>, NotFound, Unavailable)
)]
pub async fn get_amenity(db: Db, id: Id) -> Reply {
    get::<Amenity>(&db, &id).await
}

/// Ignores `id`, `created_at`, `updated_at`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/amenities/{id}", tag = "amenities", params(("id" = String, Path)),
    request_body = NameChange,
    responses(One<Amenity>, NotFound, BadBody, Unavailable)
)]
pub async fn update_amenity(db: Db, id: Id, body: Body<NameChange>) -> Reply {
    update::<Amenity, _>(&db, &id, body).await
}

/// Its links to places go with it.
#[utoipa::path(
    delete, path = "/api/v1/amenities/{id}", tag = "amenities", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_amenity(db: Db, id: Id) -> Reply {
    remove::<Amenity>(&db, &id).await
}
