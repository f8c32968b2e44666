//! `POST /places_search` (spec §4.5 with our rewrite).

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};
use futures_util::TryStreamExt;
use hbnb_common::response_cache::{Answer, ResponseCache};
use hbnb_storage::{Place, PlaceSearch};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{BadBody, List, Unavailable};
use super::{ok, Db, Reply};
use crate::body::{parse_id, Body, Ids};
use crate::error::ApiError;

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
pub async fn search_places(db: Db, cache: web::Data<ResponseCache>, body: Body<Search>) -> Reply {
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
    // The answer depends on the sets of ids only (it is ordered by creation): one key per set.
    let key = |ids: &[String]| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids.join(",")
    };
    let key = format!(
        "POST /api/v1/places_search states={} cities={} amenities={}",
        key(&search.states),
        key(&search.cities),
        key(&search.amenities)
    );
    // Every place can be tens of megabytes: sent as the rows are read, kept when small.
    let answer = cache
        .stream(key, || async {
            let chunks = db.search_places_json(&search).await?;
            Ok::<_, ApiError>(chunks.map_err(|error| {
                tracing::error!(%error, "places_search failed while its answer was being sent");
                ApiError::from(error)
            }))
        })
        .await?;
    let mut response = HttpResponse::Ok();
    response.content_type(ContentType::json());
    Ok(match answer {
        Answer::Whole(body) => response.body(body),
        Answer::Streaming(chunks) => response.streaming(chunks),
    })
}
