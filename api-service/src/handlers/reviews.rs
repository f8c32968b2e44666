//! `/places/<place_id>/reviews` and `/reviews` (spec §4.3).

use hbnb_storage::{to_dict, to_dicts, Database, Place, Review, StorageError};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, existing, get, ok, owner, remove, update, Changes, Db, Id, Reply, Stored};
use crate::body::{Body, Text};
use crate::error::ApiError;

/// POST a review (its place comes from the URL): `Missing user_id`, an unknown user 404, then
/// `Missing text`.
#[derive(Deserialize, ToSchema)]
pub struct NewReview {
    /// A user's id; one that names no user answers 404.
    pub user_id: String,
    pub text: Text,
}

/// PUT a review: `user_id` and `place_id` are ignored.
#[derive(Deserialize, ToSchema)]
pub struct ReviewChanges {
    #[schema(nullable = false)]
    pub text: Option<Text>,
}

impl Stored for Review {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError> {
        db.update_review(self).await
    }
}

impl Changes<Review> for ReviewChanges {
    async fn apply(self, review: &mut Review) -> Result<bool, ApiError> {
        let Some(text) = self.text else {
            return Ok(false);
        };
        review.text = text.into();
        Ok(true)
    }
}

#[utoipa::path(
    get, path = "/api/v1/places/{place_id}/reviews", tag = "reviews",
    params(("place_id" = String, Path)),
    responses(List<Review>, NotFound, Unavailable)
)]
pub async fn list_reviews(db: Db, place_id: Id) -> Reply {
    let place_id = existing::<Place>(&db, &place_id).await?;
    ok(to_dicts(&db.reviews_of_place(&place_id).await?))
}

/// The parent comes from the URL (the body's key for it is ignored).
#[utoipa::path(
    post, path = "/api/v1/places/{place_id}/reviews", tag = "reviews",
    params(("place_id" = String, Path)), request_body = NewReview,
    responses(Made<Review>, NotFound, BadBody, Unavailable)
)]
pub async fn create_review(db: Db, place_id: Id, body: Body<NewReview>) -> Reply {
    let place_id = existing::<Place>(&db, &place_id).await?;
    let body = body.object().await?;
    let user_id = owner(&db, &body).await?;
    let NewReview { text, .. } = body.parse()?;
    let review = db.create_review(&place_id, &user_id, &text.0).await?;
    created(to_dict(&review))
}

#[utoipa::path(
    get, path = "/api/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses(One<Review>, NotFound, Unavailable)
)]
pub async fn get_review(db: Db, id: Id) -> Reply {
    get::<Review>(&db, &id).await
}

/// Ignores `id`, `created_at`, `updated_at`, `user_id`, `place_id`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    request_body = ReviewChanges,
    responses(One<Review>, NotFound, BadBody, Unavailable)
)]
pub async fn update_review(db: Db, id: Id, body: Body<ReviewChanges>) -> Reply {
    update::<Review, _>(&db, &id, body).await
}

#[utoipa::path(
    delete, path = "/api/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_review(db: Db, id: Id) -> Reply {
    remove::<Review>(&db, &id).await
}
