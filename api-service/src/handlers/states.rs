//! `/states` (spec §4.3).

use hbnb_storage::State;

use super::NameChange;

collection!(
    State, "states", "/api/v1/states",
    list: list_states,
    create: create_state => create_state
);

by_id!(
    State, "states", "/api/v1/states/{id}",
    get: get_state,
    /// Ignores `id`, `created_at`, `updated_at`; sets `updated_at` to now.
    put: update_state(NameChange),
    /// Its cities go with it, and their places, reviews and links.
    delete: delete_state,
);
