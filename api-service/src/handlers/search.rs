//! `POST /places_search` (spec §4.5 with our rewrite).

use hbnb_storage::{to_dicts, Place, PlaceSearch};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{BadBody, List, Unavailable};
use super::{ok, Db, Reply};
use crate::body::{parse_id, Body, Ids};

/// Every list optional (null = left out). States and cities are inclusive (a state brings all
/// its cities' places, without duplicates); `amenities` keeps the places having all of them.
/// Empty or missing lists: every place. Ids that name nothing match nothing.
#[derive(Deserialize, ToSchema)]
pub struct Search {
    pub states: Option<Option<Ids>>,
    pub cities: Option<Option<Ids>>,
    pub amenities: Option<Option<Ids>>,
}

/// The ids of a list, normalised, and whether every one of them was a UUID.
fn ids(list: Option<Option<Ids>>) -> (Vec<String>, bool) {
    let raw = list.flatten().unwrap_or_default().0;
    let ids: Vec<String> = raw.iter().filter_map(|id| parse_id(id)).collect();
    let all = ids.len() == raw.len();
    (ids, all)
}

#[utoipa::path(
    post, path = "/api/v1/places_search", tag = "places", request_body = Search,
    responses(List<Place>, BadBody, Unavailable)
)]
pub async fn search_places(db: Db, body: Body<Search>) -> Reply {
    let body = body.read().await?;
    let (states, all_states) = ids(body.states);
    let (cities, all_cities) = ids(body.cities);
    let (amenities, all_amenities) = ids(body.amenities);
    // Ids that are not UUIDs match nothing: states/cities given but all such match no place
    // (our rewrite), and such an amenity is one no place has.
    let nothing = states.is_empty() && cities.is_empty() && !(all_states && all_cities);
    if nothing || !all_amenities {
        return ok([(); 0]);
    }
    let search = PlaceSearch {
        states,
        cities,
        amenities,
    };
    ok(to_dicts(&db.search_places(&search).await?))
}
