//! The six classes of spec §2.2 as rows. `Serialize` writes the `to_dict()` shape minus
//! `__class__` (see [`to_dict`]): timestamps as `%Y-%m-%dT%H:%M:%S%.6f`, nulls kept, never the
//! password. With the `openapi` feature, `ToSchema` describes the same shape for the API's
//! OpenAPI document, and [`Dict`]'s schema adds `__class__` exactly as [`to_dict`] does (see
//! `openapi`).

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

#[cfg(feature = "openapi")]
pub use crate::column::schema;
pub use crate::column::{NAME_MAX, TEXT_MAX};
pub use crate::timestamp::{parse_timestamp, serialize_timestamp, TIMESTAMP_FORMAT};

/// Now, in UTC, truncated to microseconds (what PostgreSQL keeps), so a created object reads back
/// exactly as it was answered.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// A new id: a UUID v4 string.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What the API's OpenAPI document needs of a model (`utoipa::ToSchema`), with the `openapi`
/// feature; nothing without it.
#[cfg(feature = "openapi")]
pub trait Described: utoipa::ToSchema {}
#[cfg(feature = "openapi")]
impl<T: utoipa::ToSchema> Described for T {}
#[cfg(not(feature = "openapi"))]
pub trait Described {}
#[cfg(not(feature = "openapi"))]
impl<T> Described for T {}

/// A table's row type, readable from every engine.
pub trait Model:
    for<'r> FromRow<'r, SqliteRow>
    + for<'r> FromRow<'r, PgRow>
    + for<'r> FromRow<'r, MySqlRow>
    + Serialize
    + Described
    + Send
    + Unpin
    + 'static
{
    /// The class name written as `__class__`.
    const CLASS: &'static str;
    const TABLE: &'static str;
    /// The storage operations of the generic reads and deletes on this table, as labelled in
    /// `db_query_duration_seconds`.
    const OPERATIONS: Operations;
}

/// `list_<table>`, `get_<table>`, `exists_<table>`, `delete_<table>`: constants, so a generic
/// query is labelled by its table without building a string per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operations {
    pub list: &'static str,
    pub get: &'static str,
    pub exists: &'static str,
    pub delete: &'static str,
}

/// `to_dict()`: the object's columns plus `__class__`, serialized straight into the response
/// (no intermediate `serde_json::Value`: a list of 1,000 rows would build 1,000 maps first).
#[derive(Serialize)]
pub struct Dict<'a, M: Model> {
    #[serde(rename = "__class__")]
    class: &'static str,
    #[serde(flatten)]
    model: &'a M,
}

pub fn to_dict<M: Model>(model: &M) -> Dict<'_, M> {
    Dict {
        class: M::CLASS,
        model,
    }
}

#[cfg(feature = "openapi")]
mod described {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;
    use utoipa::{PartialSchema, ToSchema};

    use super::{Dict, Model};

    /// The schema of a `to_dict()`: `__class__` (always `M::CLASS`) and the model's columns, every
    /// key always present, no other key.
    impl<M: Model> PartialSchema for Dict<'_, M> {
        fn schema() -> RefOr<Schema> {
            let mut schema = M::schema();
            if let RefOr::T(Schema::Object(object)) = &mut schema {
                let class = ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([M::CLASS]));
                object
                    .properties
                    .insert("__class__".to_owned(), class.into());
                object.required.insert(0, "__class__".to_owned());
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
            schema
        }
    }

    impl<M: Model> ToSchema for Dict<'_, M> {
        fn name() -> Cow<'static, str> {
            M::name()
        }
    }
}

/// A list of `to_dict()`s, serialized as a JSON array.
pub struct Dicts<'a, M: Model>(&'a [M]);

impl<M: Model> Serialize for Dicts<'_, M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(to_dict))
    }
}

pub fn to_dicts<M: Model>(models: &[M]) -> Dicts<'_, M> {
    Dicts(models)
}

/// A table's row type: `id`, `created_at` and `updated_at`, which every table has with the same
/// attributes, then its own columns, each with its JSON Schema in brackets (API only: the
/// `openapi` feature). A macro rather than a flattened struct: serde's `flatten` writes a
/// struct through a map, slower on every row of the largest answers, and the handlers read
/// `place.id`, not `place.base.id`.
macro_rules! models {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident as $class:literal in $table:literal {
            $( $(#[$attribute:meta])* pub $field:ident: $type:ty $([$($schema:tt)+])?, )*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name {
            #[cfg_attr(feature = "openapi", schema(schema_with = schema::id))]
            pub id: String,
            #[serde(serialize_with = "serialize_timestamp")]
            #[cfg_attr(feature = "openapi", schema(schema_with = schema::timestamp))]
            pub created_at: NaiveDateTime,
            #[serde(serialize_with = "serialize_timestamp")]
            #[cfg_attr(feature = "openapi", schema(schema_with = schema::timestamp))]
            pub updated_at: NaiveDateTime,
            $(
                $(#[$attribute])*
                $(#[cfg_attr(feature = "openapi", schema($($schema)+))])?
                pub $field: $type,
            )*
        }

        impl Model for $name {
            const CLASS: &'static str = $class;
            const TABLE: &'static str = $table;
            const OPERATIONS: Operations = Operations {
                list: concat!("list_", $table),
                get: concat!("get_", $table),
                exists: concat!("exists_", $table),
                delete: concat!("delete_", $table),
            };
        }
    )*};
}

models! {
    pub struct State as "State" in "states" { pub name: String [schema_with = schema::name], }
    pub struct Amenity as "Amenity" in "amenities" { pub name: String [schema_with = schema::name], }
    pub struct City as "City" in "cities" {
        pub state_id: String [schema_with = schema::id],
        pub name: String [schema_with = schema::name],
    }
    pub struct User as "User" in "users" {
        pub email: String [schema_with = schema::name],
        /// The argon2id PHC string. Never serialized.
        #[serde(skip_serializing)]
        pub password: String [ignore],
        pub first_name: Option<String> [schema_with = schema::nullable_name, required],
        pub last_name: Option<String> [schema_with = schema::nullable_name, required],
    }
    pub struct Place as "Place" in "places" {
        pub city_id: String [schema_with = schema::id],
        pub user_id: String [schema_with = schema::id],
        pub name: String [schema_with = schema::name],
        pub description: Option<String> [schema_with = schema::nullable_text, required],
        pub number_rooms: i32,
        pub number_bathrooms: i32,
        pub max_guest: i32,
        pub price_by_night: i32,
        pub latitude: Option<f64> [required],
        pub longitude: Option<f64> [required],
    }
    pub struct Review as "Review" in "reviews" {
        pub place_id: String [schema_with = schema::id],
        pub user_id: String [schema_with = schema::id],
        pub text: String [schema_with = schema::text],
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn a_dict_is_the_columns_plus_the_class() {
        let created = NaiveDate::from_ymd_opt(2017, 3, 25)
            .unwrap()
            .and_hms_opt(2, 17, 6)
            .unwrap();
        let state = State {
            id: "00000000-0000-4000-8000-000000000001".to_owned(),
            created_at: created,
            updated_at: created,
            name: "Oregon".to_owned(),
        };
        let value = serde_json::to_value(to_dict(&state)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "__class__": "State",
                "id": "00000000-0000-4000-8000-000000000001",
                "created_at": "2017-03-25T02:17:06.000000",
                "updated_at": "2017-03-25T02:17:06.000000",
                "name": "Oregon",
            })
        );
        let list = serde_json::to_value(to_dicts(&[state])).unwrap();
        assert_eq!(list, serde_json::json!([value]));
    }
}
