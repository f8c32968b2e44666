//! `/cities/<city_id>/places` and `/places` (spec §4.3).

use hbnb_storage::{to_dict, to_dicts, City, Database, Place, PlaceFields, StorageError};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, existing, get, ok, owner, remove, update, Changes, Db, Id, Reply, Stored};
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

impl Stored for Place {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError> {
        db.update_place(self).await
    }
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

#[utoipa::path(
    get, path = "/api/v1/cities/{city_id}/places", tag = "places",
    params(("city_id" = String, Path)),
    responses(List<Place>, NotFound, Unavailable)
)]
pub async fn list_places(db: Db, city_id: Id) -> Reply {
    let city_id = existing::<City>(&db, &city_id).await?;
    ok(to_dicts(&db.places_of_city(&city_id).await?))
}

/// The parent comes from the URL (the body's key for it is ignored).
#[utoipa::path(
    post, path = "/api/v1/cities/{city_id}/places", tag = "places",
    params(("city_id" = String, Path)), request_body = NewPlace,
    responses(Made<Place>, NotFound, BadBody, Unavailable)
)]
pub async fn create_place(db: Db, city_id: Id, body: Body<NewPlace>) -> Reply {
    let city_id = existing::<City>(&db, &city_id).await?;
    let body = body.object().await?;
    let user_id = owner(&db, &body).await?;
    let fields = PlaceFields::from(body.parse::<NewPlace>()?);
    let place = db.create_place(&city_id, &user_id, &fields).await?;
    created(to_dict(&place))
}

#[utoipa::path(
    get, path = "/api/v1/places/{id}", tag = "places", params(("id" = String, Path)),
    responses(One<Place>, NotFound, Unavailable)
)]
pub async fn get_place(db: Db, id: Id) -> Reply {
    get::<Place>(&db, &id).await
}

/// Ignores `id`, `created_at`, `updated_at`, `user_id`, `city_id`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/places/{id}", tag = "places", params(("id" = String, Path)),
    request_body = PlaceChanges,
    responses(One<Place>, NotFound, BadBody, Unavailable)
)]
pub async fn update_place(db: Db, id: Id, body: Body<PlaceChanges>) -> Reply {
    update::<Place, _>(&db, &id, body).await
}

/// Its reviews and amenity links go with it.
#[utoipa::path(
    delete, path = "/api/v1/places/{id}", tag = "places", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_place(db: Db, id: Id) -> Reply {
    remove::<Place>(&db, &id).await
}
