//! `/places/<place_id>/reviews` and `/reviews` (spec §4.3).

use hbnb_storage::{Database, Place, Review};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{owner, Changes};
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

impl Changes<Review> for ReviewChanges {
    async fn apply(self, review: &mut Review) -> Result<bool, ApiError> {
        let Some(text) = self.text else {
            return Ok(false);
        };
        review.text = text.into();
        Ok(true)
    }
}

collection!(
    Review, "reviews", "/api/v1/places/{place_id}/reviews", "place_id", Place => reviews_of_place,
    list: list_reviews,
    create: create_review(NewReview) => new_review,
);

async fn new_review(
    db: &Database,
    place_id: &str,
    body: Body<NewReview>,
) -> Result<Review, ApiError> {
    let body = body.object().await?;
    let user_id = owner(db, &body).await?;
    let NewReview { text, .. } = body.parse()?;
    Ok(db.create_review(place_id, &user_id, &text.0).await?)
}

by_id!(
    Review, "reviews", "/api/v1/reviews/{id}",
    get: get_review,
    /// Ignores `id`, `created_at`, `updated_at`, `user_id`, `place_id`; sets `updated_at` to now.
    put: update_review(ReviewChanges),
    delete: delete_review,
);
