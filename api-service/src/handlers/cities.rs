//! `/states/<state_id>/cities` and `/cities` (spec §4.3).

use hbnb_storage::{City, Database, State};

use super::{NameBody, NameChange};
use crate::body::Body;
use crate::error::ApiError;

collection!(
    City, "cities", "/api/v1/states/{state_id}/cities", "state_id", State => cities_of_state,
    list: list_cities,
    create: create_city(NameBody) => new_city,
);

async fn new_city(db: &Database, state_id: &str, body: Body<NameBody>) -> Result<City, ApiError> {
    let NameBody { name } = body.read().await?;
    Ok(db.create_city(state_id, &name.0).await?)
}

by_id!(
    City, "cities", "/api/v1/cities/{id}",
    get: get_city,
    /// Ignores `id`, `created_at`, `updated_at`, `state_id`; sets `updated_at` to now.
    put: update_city(NameChange),
    /// Its places go with it, and their reviews and links.
    delete: delete_city,
);
