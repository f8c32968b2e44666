//! The six classes of spec §2.2 as rows. `Serialize` writes the `to_dict()` shape minus
//! `__class__` (see [`to_dict`]): timestamps as `%Y-%m-%dT%H:%M:%S%.6f`, nulls kept, never the
//! password.

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

/// Column sizes (spec §2.2).
pub const NAME_MAX: usize = 128;
pub const TEXT_MAX: usize = 1024;

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

pub fn serialize_timestamp<S: Serializer>(
    value: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&value.format(TIMESTAMP_FORMAT))
}

/// A table's row type, readable from either engine.
pub trait Model:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Serialize + Send + Unpin + 'static
{
    /// The class name written as `__class__`.
    const CLASS: &'static str;
    const TABLE: &'static str;
}

/// `to_dict()`: the object's columns plus `__class__`.
pub fn to_dict<M: Model>(model: &M) -> serde_json::Value {
    let mut value = serde_json::to_value(model).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("__class__".to_owned(), M::CLASS.into());
    }
    value
}

/// A list of `to_dict()`s.
pub fn to_dicts<M: Model>(models: &[M]) -> serde_json::Value {
    serde_json::Value::Array(models.iter().map(to_dict).collect())
}

macro_rules! model {
    ($ty:ident, $class:literal, $table:literal) => {
        impl Model for $ty {
            const CLASS: &'static str = $class;
            const TABLE: &'static str = $table;
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct State {
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: NaiveDateTime,
    pub name: String,
}
model!(State, "State", "states");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct City {
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: NaiveDateTime,
    pub state_id: String,
    pub name: String,
}
model!(City, "City", "cities");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct Amenity {
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: NaiveDateTime,
    pub name: String,
}
model!(Amenity, "Amenity", "amenities");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct User {
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: NaiveDateTime,
    pub email: String,
    /// The argon2id PHC string. Never serialized.
    #[serde(skip_serializing)]
    pub password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}
model!(User, "User", "users");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct Place {
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: NaiveDateTime,
    pub city_id: String,
    pub user_id: String,
    pub name: String,
    pub description: Option<String>,
    pub number_rooms: i32,
    pub number_bathrooms: i32,
    pub max_guest: i32,
    pub price_by_night: i32,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}
model!(Place, "Place", "places");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct Review {
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: NaiveDateTime,
    pub place_id: String,
    pub user_id: String,
    pub text: String,
}
model!(Review, "Review", "reviews");

/// A place with its owner's names, for the web pages (places sorted by name).
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct PlaceWithOwner {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub place: Place,
    pub owner_first_name: Option<String>,
    pub owner_last_name: Option<String>,
}

/// A state with its cities sorted by name, for the web pages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateWithCities {
    #[serde(flatten)]
    pub state: State,
    pub cities: Vec<City>,
}

/// The fields a new place takes (all but the ids and timestamps).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlaceFields {
    pub name: String,
    pub description: Option<String>,
    pub number_rooms: i32,
    pub number_bathrooms: i32,
    pub max_guest: i32,
    pub price_by_night: i32,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}
