//! `/amenities` (spec §4.3).

use hbnb_storage::Amenity;

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, NameBody, NameChange};
use super::{Db, Id, Reply};
use crate::body::Body;

#[utoipa::path(
    get, path = "/api/v1/amenities", tag = "amenities", responses(List<Amenity>, Unavailable)
)]
pub async fn list_amenities(db: Db) -> Reply {
    super::list::<Amenity>(&db).await
}

#[utoipa::path(
    get, path = "/api/v1/amenities/{id}", tag = "amenities", params(("id" = String, Path)),
    responses(One<Amenity>, NotFound, Unavailable)
)]
pub async fn get_amenity(db: Db, id: Id) -> Reply {
    super::get::<Amenity>(&db, &id).await
}

#[utoipa::path(
    delete, path = "/api/v1/amenities/{id}", tag = "amenities", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_amenity(db: Db, id: Id) -> Reply {
    super::remove::<Amenity>(&db, &id).await
}

#[utoipa::path(
    post, path = "/api/v1/amenities", tag = "amenities", request_body = NameBody,
    responses(Made<Amenity>, BadBody, Unavailable)
)]
pub async fn create_amenity(db: Db, body: Body<NameBody>) -> Reply {
    let NameBody { name } = body.read().await?;
    created(hbnb_storage::to_dict(&db.create_amenity(&name.0).await?))
}

/// Ignores `id`, `created_at`, `updated_at`; sets `updated_at` to now. The 404 comes before the
/// body is read, as for every PUT (spec §8).
#[utoipa::path(
    put, path = "/api/v1/amenities/{id}", tag = "amenities", params(("id" = String, Path)),
    request_body = NameChange, responses(One<Amenity>, NotFound, BadBody, Unavailable)
)]
pub async fn update_amenity(db: Db, id: Id, body: Body<NameChange>) -> Reply {
    super::update::<Amenity, _>(&db, &id, body).await
}
