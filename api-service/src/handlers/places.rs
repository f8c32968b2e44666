//! `/cities/<city_id>/places` and `/places` (spec §4.3).

use hbnb_storage::{City, Database, Place, PlaceFields};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{owner, Changes};
use crate::body::{Body, Int, Name, Text};
use crate::error::ApiError;

// Both place bodies list the same columns, in the same order, after their own first keys: a
// body's fields are checked in declaration order (see `crate::body`), so keep the two in step.

/// POST a place (its city comes from the URL): `Missing user_id`, an unknown user 404, then
/// `Missing name`, then the other columns. The numbers left out are 0, the rest null.
#[derive(Deserialize, ToSchema)]
pub struct NewPlace {
    /// A user's id; one that names no user answers 404.
    pub user_id: String,
    pub name: Name,
    pub description: Option<Option<Text>>,
    #[schema(nullable = false)]
    pub number_rooms: Option<Int>,
    #[schema(nullable = false)]
    pub number_bathrooms: Option<Int>,
    #[schema(nullable = false)]
    pub max_guest: Option<Int>,
    #[schema(nullable = false)]
    pub price_by_night: Option<Int>,
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
}

/// PUT a place: `user_id` and `city_id` are ignored; a column left out keeps its value.
#[derive(Deserialize, ToSchema)]
pub struct PlaceChanges {
    #[schema(nullable = false)]
    pub name: Option<Name>,
    pub description: Option<Option<Text>>,
    #[schema(nullable = false)]
    pub number_rooms: Option<Int>,
    #[schema(nullable = false)]
    pub number_bathrooms: Option<Int>,
    #[schema(nullable = false)]
    pub max_guest: Option<Int>,
    #[schema(nullable = false)]
    pub price_by_night: Option<Int>,
    pub latitude: Option<Option<f64>>,
    pub longitude: Option<Option<f64>>,
}

impl From<NewPlace> for PlaceFields {
    fn from(new: NewPlace) -> Self {
        let number = |n: Option<Int>| n.map_or(0, |n| n.0);
        PlaceFields {
            name: new.name.into(),
            description: new.description.flatten().map(String::from),
            number_rooms: number(new.number_rooms),
            number_bathrooms: number(new.number_bathrooms),
            max_guest: number(new.max_guest),
            price_by_night: number(new.price_by_night),
            latitude: new.latitude.flatten(),
            longitude: new.longitude.flatten(),
        }
    }
}

/// `*column = value` when the body has the key; true when it had one.
fn set<T>(column: &mut T, value: Option<impl Into<T>>) -> bool {
    value.map(|value| *column = value.into()).is_some()
}

impl Changes<Place> for PlaceChanges {
    async fn apply(self, place: &mut Place) -> Result<bool, ApiError> {
        let description = self.description.map(|d| d.map(String::from));
        let changed = [
            set(&mut place.name, self.name),
            set(&mut place.description, description),
            set(&mut place.number_rooms, self.number_rooms.map(|n| n.0)),
            set(
                &mut place.number_bathrooms,
                self.number_bathrooms.map(|n| n.0),
            ),
            set(&mut place.max_guest, self.max_guest.map(|n| n.0)),
            set(&mut place.price_by_night, self.price_by_night.map(|n| n.0)),
            set(&mut place.latitude, self.latitude),
            set(&mut place.longitude, self.longitude),
        ];
        Ok(changed.contains(&true))
    }
}

collection!(
    Place, "places", "/api/v1/cities/{city_id}/places", "city_id", City => places_of_city,
    list: list_places,
    create: create_place(NewPlace) => new_place,
);

async fn new_place(db: &Database, city_id: &str, body: Body<NewPlace>) -> Result<Place, ApiError> {
    let body = body.object().await?;
    let user_id = owner(db, &body).await?;
    let fields = PlaceFields::from(body.parse::<NewPlace>()?);
    Ok(db.create_place(city_id, &user_id, &fields).await?)
}

by_id!(
    Place, "places", "/api/v1/places/{id}",
    get: get_place,
    /// Ignores `id`, `created_at`, `updated_at`, `user_id`, `city_id`; sets `updated_at` to now.
    put: update_place(PlaceChanges),
    /// Its reviews and amenity links go with it.
    delete: delete_place,
);
