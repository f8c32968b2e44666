//! The columns' sizes (spec §2.2) and, with the `openapi` feature, the JSON Schemas of the
//! column kinds, for the models and the API's request bodies.

/// Column sizes (spec §2.2).
pub const NAME_MAX: usize = 128;
pub const TEXT_MAX: usize = 1024;

#[cfg(feature = "openapi")]
/// The JSON Schemas of the column kinds, for the models here and the API's request bodies.
pub mod schema {
    use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

    use super::{NAME_MAX, TEXT_MAX};

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

    /// A text column of at most `max` characters, or null.
    fn nullable(max: usize) -> Object {
        let string_or_null =
            utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
        string(max).schema_type(string_or_null).build()
    }

    pub fn nullable_name() -> Object {
        nullable(NAME_MAX)
    }

    pub fn text() -> Object {
        string(TEXT_MAX).build()
    }

    pub fn nullable_text() -> Object {
        nullable(TEXT_MAX)
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
