//! `/places/<place_id>/amenities[/<amenity_id>]` (spec §4.4). No body is read.

use hbnb_storage::{to_dict, to_dicts, Amenity, LinkOutcome, Place};

use super::answers::{Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, done, existing, fetch, ok, Db, Id, Reply};

type Link = actix_web::web::Path<(String, String)>;

#[utoipa::path(
    get, path = "/api/v1/places/{place_id}/amenities", tag = "place amenities",
    params(("place_id" = String, Path)),
    responses(List<Amenity>, NotFound, Unavailable)
)]
pub async fn list_place_amenities(db: Db, place_id: Id) -> Reply {
    let place_id = existing::<Place>(&db, &place_id).await?;
    ok(to_dicts(&db.amenities_of_place(&place_id).await?))
}

/// 201 when the link is new, 200 when it already existed.
#[utoipa::path(
    post, path = "/api/v1/places/{place_id}/amenities/{amenity_id}", tag = "place amenities",
    params(("place_id" = String, Path), ("amenity_id" = String, Path)),
    responses(Made<Amenity>, One<Amenity>, NotFound, Unavailable)
)]
pub async fn link_amenity(db: Db, ids: Link) -> Reply {
    let (place_id, amenity_id) = ids.into_inner();
    let place_id = existing::<Place>(&db, &place_id).await?;
    let amenity = fetch::<Amenity>(&db, &amenity_id).await?;
    match db.link_amenity(&place_id, &amenity.id).await? {
        LinkOutcome::Created => created(to_dict(&amenity)),
        LinkOutcome::AlreadyLinked => ok(to_dict(&amenity)),
    }
}

/// 404 also when the two are not linked.
#[utoipa::path(
    delete, path = "/api/v1/places/{place_id}/amenities/{amenity_id}", tag = "place amenities",
    params(("place_id" = String, Path), ("amenity_id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn unlink_amenity(db: Db, ids: Link) -> Reply {
    let (place_id, amenity_id) = ids.into_inner();
    let place_id = existing::<Place>(&db, &place_id).await?;
    let amenity_id = existing::<Amenity>(&db, &amenity_id).await?;
    done(db.unlink_amenity(&place_id, &amenity_id).await?)
}
