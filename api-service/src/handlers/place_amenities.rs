//! `/places/<place_id>/amenities[/<amenity_id>]` (spec §4.4). No body is read.

use hbnb_storage::{to_dict, Amenity, LinkOutcome, Place};

use super::answers::{Deleted, Made, NotFound, One, Unavailable};
use super::{created, done, existing, fetch, ok, Db, Reply};

type Link = actix_web::web::Path<(String, String)>;

collection!(
    Amenity, "place amenities", "/api/v1/places/{place_id}/amenities", "place_id",
    Place => amenities_of_place, list: list_place_amenities
);

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
