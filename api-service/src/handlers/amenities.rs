//! `/amenities` (spec §4.3). A PUT checks the id (404) before the body, like every PUT (spec §8).

use hbnb_storage::Amenity;

use super::NameChange;

collection!(
    Amenity, "amenities", "/api/v1/amenities",
    list: list_amenities,
    create: create_amenity => create_amenity
);

by_id!(
    Amenity, "amenities", "/api/v1/amenities/{id}",
    get: get_amenity,
    /// Ignores `id`, `created_at`, `updated_at`; sets `updated_at` to now.
    put: update_amenity(NameChange),
    /// Its links to places go with it.
    delete: delete_amenity,
);
