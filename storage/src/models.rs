//! The six classes of spec §2.2 as rows. `Serialize` writes the `to_dict()` shape minus
//! `__class__` (see [`to_dict`]): timestamps as `%Y-%m-%dT%H:%M:%S%.6f`, nulls kept, never the
//! password. `ToSchema` describes the same shape for the API's OpenAPI document, and
//! [`Dict`]'s schema adds `__class__` exactly as [`to_dict`] does.

use std::borrow::Cow;

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Column sizes (spec §2.2).
pub const NAME_MAX: usize = 128;
pub const TEXT_MAX: usize = 1024;

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The JSON Schemas of the column kinds, for the models here and the API's request bodies.
pub mod schema {
    use super::*;

    /// No NUL character: PostgreSQL text cannot hold one, so neither engine stores it.
    pub const NO_NUL: &str = "^[^\\u0000]*$";

    /// A text column of at most `max` characters (Unicode scalar values, as JSON Schema counts).
    pub fn string(max: usize) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .pattern(Some(NO_NUL))
    }

    pub fn name() -> Object {
        string(NAME_MAX).build()
    }

    pub fn nullable_name() -> Object {
        string(NAME_MAX)
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .build()
    }

    pub fn text() -> Object {
        string(TEXT_MAX).build()
    }

    pub fn nullable_text() -> Object {
        string(TEXT_MAX)
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .build()
    }

    /// Ids the server generates: UUID v4, lower-case, hyphenated.
    pub fn id() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uuid,
            )))
            .build()
    }

    /// [`TIMESTAMP_FORMAT`]: UTC, six fractional digits, no zone (so not RFC 3339 `date-time`).
    pub fn timestamp() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$"))
            .examples([serde_json::json!("2017-03-25T02:17:06.000000")])
            .build()
    }
}

/// Writes `%Y-%m-%dT%H:%M:%S%.6f` from the date's numbers, digit by digit: `format(...)`
/// re-parses the pattern for every value, and even `format_args!` cost 8 % of a search over
/// 500 places (two timestamps per row).
pub fn serialize_timestamp<S: Serializer>(
    value: &NaiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    fn digits(out: &mut [u8], mut n: u32) {
        for digit in out.iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    // chrono keeps a leap second as nanosecond >= 1e9 in second 59; strftime writes it as :60.
    let leap = value.nanosecond() >= 1_000_000_000;
    let micros = value.nanosecond() % 1_000_000_000 / 1_000;
    let second = value.second() + u32::from(leap);
    let Ok(year @ 0..=9999) = u32::try_from(value.year()) else {
        // Years strftime writes with a sign (rare: its own pattern is fine).
        return serializer.collect_str(&format_args!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            value.format("%Y"),
            value.month(),
            value.day(),
            value.hour(),
            value.minute(),
            second,
            micros
        ));
    };
    let mut text = *b"0000-00-00T00:00:00.000000";
    digits(&mut text[0..4], year);
    digits(&mut text[5..7], value.month());
    digits(&mut text[8..10], value.day());
    digits(&mut text[11..13], value.hour());
    digits(&mut text[14..16], value.minute());
    digits(&mut text[17..19], second);
    digits(&mut text[20..26], micros);
    serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
}

/// A timestamp as SQLite holds it: `YYYY-MM-DD HH:MM:SS[.ffffff]` as sqlx writes it (or with a
/// `T`), read from its digits; any other text sqlx accepts through chrono's parser (which reads
/// its format string again for every value: too slow for every row of a large answer).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    let fast = || {
        let b = text.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let nanos = match &b[19..] {
            [] => 0,
            [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
                number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
            }
            _ => return None,
        };
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(number(&b[0..4])?).ok()?,
            number(&b[5..7])?,
            number(&b[8..10])?,
        )?;
        date.and_hms_nano_opt(
            number(&b[11..13])?,
            number(&b[14..16])?,
            number(&b[17..19])?,
            nanos,
        )
    };
    fast().or_else(|| {
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
            return Some(at.naive_utc());
        }
        [
            "%F %T%.f",
            "%F %R",
            "%FT%R",
            "%F %T%.fZ",
            "%FT%T%.fZ",
            "%F %RZ",
            "%FT%RZ",
        ]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    })
}

/// A table's row type, readable from every engine.
pub trait Model:
    for<'r> FromRow<'r, SqliteRow>
    + for<'r> FromRow<'r, PgRow>
    + for<'r> FromRow<'r, MySqlRow>
    + Serialize
    + ToSchema
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
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
        schema
    }
}

impl<M: Model> ToSchema for Dict<'_, M> {
    fn name() -> Cow<'static, str> {
        M::name()
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

macro_rules! model {
    ($ty:ident, $class:literal, $table:literal) => {
        impl Model for $ty {
            const CLASS: &'static str = $class;
            const TABLE: &'static str = $table;
            const OPERATIONS: Operations = Operations {
                list: concat!("list_", $table),
                get: concat!("get_", $table),
                exists: concat!("exists_", $table),
                delete: concat!("delete_", $table),
            };
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, ToSchema)]
pub struct State {
    #[schema(schema_with = schema::id)]
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub updated_at: NaiveDateTime,
    #[schema(schema_with = schema::name)]
    pub name: String,
}
model!(State, "State", "states");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, ToSchema)]
pub struct City {
    #[schema(schema_with = schema::id)]
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub updated_at: NaiveDateTime,
    #[schema(schema_with = schema::id)]
    pub state_id: String,
    #[schema(schema_with = schema::name)]
    pub name: String,
}
model!(City, "City", "cities");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, ToSchema)]
pub struct Amenity {
    #[schema(schema_with = schema::id)]
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub updated_at: NaiveDateTime,
    #[schema(schema_with = schema::name)]
    pub name: String,
}
model!(Amenity, "Amenity", "amenities");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, ToSchema)]
pub struct User {
    #[schema(schema_with = schema::id)]
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub updated_at: NaiveDateTime,
    #[schema(schema_with = schema::name)]
    pub email: String,
    /// The argon2id PHC string. Never serialized.
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub password: String,
    #[schema(schema_with = schema::nullable_name, required)]
    pub first_name: Option<String>,
    #[schema(schema_with = schema::nullable_name, required)]
    pub last_name: Option<String>,
}
model!(User, "User", "users");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, ToSchema)]
pub struct Place {
    #[schema(schema_with = schema::id)]
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub updated_at: NaiveDateTime,
    #[schema(schema_with = schema::id)]
    pub city_id: String,
    #[schema(schema_with = schema::id)]
    pub user_id: String,
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[schema(schema_with = schema::nullable_text, required)]
    pub description: Option<String>,
    pub number_rooms: i32,
    pub number_bathrooms: i32,
    pub max_guest: i32,
    pub price_by_night: i32,
    #[schema(required)]
    pub latitude: Option<f64>,
    #[schema(required)]
    pub longitude: Option<f64>,
}
model!(Place, "Place", "places");

#[derive(Debug, Clone, PartialEq, Serialize, FromRow, ToSchema)]
pub struct Review {
    #[schema(schema_with = schema::id)]
    pub id: String,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "serialize_timestamp")]
    #[schema(schema_with = schema::timestamp)]
    pub updated_at: NaiveDateTime,
    #[schema(schema_with = schema::id)]
    pub place_id: String,
    #[schema(schema_with = schema::id)]
    pub user_id: String,
    #[schema(schema_with = schema::text)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn written(value: NaiveDateTime) -> String {
        let mut out = Vec::new();
        serialize_timestamp(&value, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_are_written_like_the_strftime_pattern() {
        let day = NaiveDate::from_ymd_opt(2017, 3, 25).unwrap();
        for (h, m, s, micro) in [
            (2, 17, 6, 0),
            (0, 0, 0, 1),
            (23, 59, 59, 999_999),
            (9, 5, 7, 120_000),
        ] {
            let value = day.and_hms_micro_opt(h, m, s, micro).unwrap();
            assert_eq!(
                written(value),
                format!("\"{}\"", value.format(TIMESTAMP_FORMAT)),
                "{value:?}"
            );
        }
        let early = NaiveDate::from_ymd_opt(987, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        assert_eq!(written(early), "\"0987-01-02T03:04:05.000000\"");
        // A leap second (nanosecond >= 1e9) is written as second 60, as strftime does.
        let leap = day.and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        assert_eq!(
            written(leap),
            format!("\"{}\"", leap.format(TIMESTAMP_FORMAT))
        );
    }

    #[test]
    fn years_past_four_digits_are_written_as_strftime_does() {
        for year in [-1, 10_000, 262_000] {
            let value = NaiveDate::from_ymd_opt(year, 12, 31)
                .unwrap()
                .and_hms_micro_opt(1, 2, 3, 4)
                .unwrap();
            assert_eq!(
                written(value),
                format!("\"{}\"", value.format(TIMESTAMP_FORMAT))
            );
        }
    }

    #[test]
    fn timestamps_are_read_as_sqlx_reads_them() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let at = |h, m, s, nano| day.and_hms_nano_opt(h, m, s, nano).unwrap();
        for (text, expected) in [
            ("2026-12-07 14:04:05.123456", at(14, 4, 5, 123_456_000)),
            ("2026-12-07T14:04:05.123456", at(14, 4, 5, 123_456_000)),
            ("2026-12-07 14:04:05", at(14, 4, 5, 0)),
            ("2026-12-07 14:04:05.5", at(14, 4, 5, 500_000_000)),
            ("2026-12-07 14:04:05.123456789", at(14, 4, 5, 123_456_789)),
            ("2026-12-07 14:04", at(14, 4, 0, 0)),
            ("2026-12-07T14:04:05Z", at(14, 4, 5, 0)),
            ("2026-12-07T15:04:05+01:00", at(14, 4, 5, 0)),
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        for text in [
            "",
            "2026-13-07 14:04:05",
            "2026-12-07 14:04:05.",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        // What sqlx writes is read back whole.
        let now = crate::now();
        assert_eq!(
            parse_timestamp(&now.format("%F %T%.f").to_string()),
            Some(now)
        );
    }

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
