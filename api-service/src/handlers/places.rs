//! `/cities/<city_id>/places` and `/places` (spec §4.3).

use hbnb_storage::{to_dict, to_dicts, City, Place, PlaceFields};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, existing, ok, owner, Changes, Db, Id, Reply};
use crate::body::{Body, Int, Name, Text};
use crate::error::ApiError;

/// The two place bodies: the same columns after their own first keys, checked in this order.
macro_rules! place_body {
    ($(#[$meta:meta])* $body:ident { $($first:tt)* }) => {
        $(#[$meta])*
        #[derive(Deserialize, ToSchema)]
        pub struct $body {
            $($first)*
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
    };
}

place_body!(
    /// POST a place (its city comes from the URL): `Missing user_id`, an unknown user 404, then
    /// `Missing name`, then the other columns. The numbers left out are 0, the rest null.
    NewPlace {
        /// A user's id; one that names no user answers 404.
        pub user_id: String,
        pub name: Name,
    }
);

place_body!(
    /// PUT a place: `user_id` and `city_id` are ignored; a column left out keeps its value.
    PlaceChanges {
        #[schema(nullable = false)]
        pub name: Option<Name>,
    }
);

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

#[utoipa::path(
    get, path = "/api/v1/cities/{city_id}/places", tag = "places",
    params(("city_id" = String, Path)), responses(List<Place>, NotFound, Unavailable)
)]
pub async fn list_places(db: Db, city_id: Id) -> Reply {
    let city_id = existing::<City>(&db, &city_id).await?;
    ok(to_dicts(&db.places_of_city(&city_id).await?))
}

#[utoipa::path(
    get, path = "/api/v1/places/{id}", tag = "places", params(("id" = String, Path)),
    responses(One<Place>, NotFound, Unavailable)
)]
pub async fn get_place(db: Db, id: Id) -> Reply {
    super::get::<Place>(&db, &id).await
}

/// Its reviews and amenity links go with it.
#[utoipa::path(
    delete, path = "/api/v1/places/{id}", tag = "places", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_place(db: Db, id: Id) -> Reply {
    super::remove::<Place>(&db, &id).await
}

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
    created(to_dict(
        &db.create_place(&city_id, &user_id, &fields).await?,
    ))
}

/// Ignores `id`, `created_at`, `updated_at`, `user_id`, `city_id`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/places/{id}", tag = "places", params(("id" = String, Path)),
    request_body = PlaceChanges, responses(One<Place>, NotFound, BadBody, Unavailable)
)]
pub async fn update_place(db: Db, id: Id, body: Body<PlaceChanges>) -> Reply {
    super::update::<Place, _>(&db, &id, body).await
}
