//! Request bodies, described once: [`Body<T>`] reads the body with a size limit (413 beyond
//! [`MAX_BODY`]), takes it only as a JSON object ("Not a JSON" otherwise: another content type,
//! a body that does not parse, or JSON that is not an object), then deserializes `T`, a
//! `#[derive(Deserialize, ToSchema)]` struct whose fields say what each key must be.
//!
//! The rules every body follows, whatever `T` is:
//! - keys `T` does not declare are ignored (ids, timestamps, the keys a PUT ignores, typos);
//! - `T`'s fields are checked one after the other in the order they are declared, each
//!   completely (present, type, size), so the first problem in that order is the one answered;
//! - a field typed `X` is required ("Missing <key>"); `Option<X>` may be left out but not be
//!   null; `Option<Option<X>>` may be left out (`None`) or null (`Some(None)`);
//! - the message says what the key must be, from the field's type: "<key> must be a string",
//!   "... a string or null", "... an integer between -2147483648 and 2147483647" (a JSON number
//!   without a fractional part: `3` or `3.0`), "... a number or null", or what a field type of
//!   this module says ([`Limited`], [`Ids`]).

use std::borrow::Cow;
use std::fmt;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use hbnb_storage::{schema, NAME_MAX, TEXT_MAX};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ApiError;

/// Bodies larger than this answer 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// An over-long body is still read (and dropped) up to this size before the 413 goes out, so a
/// client still sending it gets the answer rather than a reset connection.
const DRAIN_LIMIT: usize = 8 * MAX_BODY;

/// The body of a request, to be read as a `T` once the handler has checked what comes first
/// (the object or parent of the URL: a 404 is answered before the body is looked at).
pub struct Body<T> {
    request: HttpRequest,
    payload: Payload,
    kind: PhantomData<fn() -> T>,
}

impl<T> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Ok(Body {
            request: request.clone(),
            payload: payload.take(),
            kind: PhantomData,
        }))
    }
}

impl<T: DeserializeOwned> Body<T> {
    /// The body as a `T`: 413, "Not a JSON", then `T`'s fields in order.
    pub async fn read(self) -> Result<T, ApiError> {
        self.object().await?.parse()
    }

    /// The body as a JSON object, for a handler that checks something between two fields.
    pub async fn object(mut self) -> Result<Object, ApiError> {
        let bytes = self.bytes().await?;
        if !is_json_content_type(&self.request) {
            return Err(ApiError::NotAJson);
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Object(map)),
            _ => Err(ApiError::NotAJson),
        }
    }

    /// Reads the whole body, refusing more than `MAX_BODY` bytes with 413.
    async fn bytes(&mut self) -> Result<Vec<u8>, ApiError> {
        let declared = self
            .request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut too_large = declared.is_some_and(|n| n > MAX_BODY as u64);
        let mut body = Vec::new();
        let mut seen = 0usize;
        while let Some(chunk) = self.payload.next().await {
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len());
            too_large |= seen > MAX_BODY;
            if too_large {
                if seen > DRAIN_LIMIT {
                    break;
                }
                continue;
            }
            body.extend_from_slice(&chunk);
        }
        if too_large {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
        }
        Ok(body)
    }
}

/// True for `application/json` and `application/<anything>+json`, any parameters.
fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body that is a JSON object.
pub struct Object(Map<String, Value>);

impl Object {
    /// The declared fields of `T`, in declaration order (see the module doc).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        T::deserialize(Fields(&self.0)).map_err(|error| ApiError::BadRequest(error.to_string()))
    }
}

// ---- the deserializer ---------------------------------------------------------------------

/// What went wrong with a field; `Keyed` once the key is in the message.
#[derive(Debug)]
pub enum FieldError {
    Missing,
    Invalid(String),
    Keyed(String),
}

impl FieldError {
    fn keyed(self, key: &str) -> Self {
        match self {
            FieldError::Missing => FieldError::Keyed(format!("Missing {key}")),
            FieldError::Invalid(what) => FieldError::Keyed(format!("{key} {what}")),
            keyed => keyed,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Missing => f.write_str("Missing field"),
            FieldError::Invalid(message) | FieldError::Keyed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        FieldError::Invalid(message.to_string())
    }
}

/// Visits the fields a struct declares, in that order, absent ones included.
struct Fields<'de>(&'de Map<String, Value>);

impl<'de> Deserializer<'de> for Fields<'de> {
    type Error = FieldError;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_map(FieldAccess {
            map: self.0,
            fields: fields.iter(),
            key: "",
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, FieldError> {
        Err(FieldError::Invalid("a body is read as a struct".to_owned()))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct FieldAccess<'de> {
    map: &'de Map<String, Value>,
    fields: std::slice::Iter<'static, &'static str>,
    key: &'static str,
}

impl<'de> de::MapAccess<'de> for FieldAccess<'de> {
    type Error = FieldError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        let Some(&key) = self.fields.next() else {
            return Ok(None);
        };
        self.key = key;
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, FieldError> {
        let value = FieldValue {
            value: self.map.get(self.key),
            options: 0,
        };
        seed.deserialize(value)
            .map_err(|error| error.keyed(self.key))
    }
}

/// One field's value (`None`: the key is absent), and how many `Option`s were entered.
struct FieldValue<'de> {
    value: Option<&'de Value>,
    options: u8,
}

impl<'de> FieldValue<'de> {
    /// The value, or `Missing`; and what to say when it is not what `what` expects.
    fn present(&self, what: &str) -> Result<(&'de Value, FieldError), FieldError> {
        let or_null = if self.options >= 2 { " or null" } else { "" };
        let invalid = FieldError::Invalid(format!("must be {what}{or_null}"));
        self.value
            .map(|value| (value, invalid))
            .ok_or(FieldError::Missing)
    }
}

impl<'de> Deserializer<'de> for FieldValue<'de> {
    type Error = FieldError;

    /// The first `Option` is "may be absent", the second "may be null".
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        match self.value {
            None => visitor.visit_none(),
            Some(Value::Null) if self.options >= 1 => visitor.visit_none(),
            Some(_) => visitor.visit_some(FieldValue {
                options: self.options + 1,
                ..self
            }),
        }
    }

    /// A JSON number without a fractional part (`3`, `3.0`, `3e2`: one number in JSON's model
    /// and JSON Schema's `integer`) in the i32 range.
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let what = format!("an integer between {} and {}", i32::MIN, i32::MAX);
        let (value, invalid) = self.present(&what)?;
        let whole = |f: f64| (f.fract() == 0.0).then_some(f as i64);
        let number = value.as_i64().or_else(|| value.as_f64().and_then(whole));
        match number.and_then(|n| i32::try_from(n).ok()) {
            Some(n) => visitor.visit_i32(n),
            None => Err(invalid),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let (value, invalid) = self.present("a string")?;
        value.deserialize_string(visitor).map_err(|_| invalid)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let (value, invalid) = self.present("a string")?;
        value.deserialize_str(visitor).map_err(|_| invalid)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let (value, invalid) = self.present("a number")?;
        value.deserialize_f64(visitor).map_err(|_| invalid)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let (value, invalid) = self.present("a boolean")?;
        value.deserialize_bool(visitor).map_err(|_| invalid)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let (value, invalid) = self.present("a list")?;
        value.deserialize_seq(visitor).map_err(|_| invalid)
    }

    /// The types without a method of their own (forwarded below): one that refuses the value
    /// answers "<key> must be valid".
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        let (value, invalid) = self.present("valid")?;
        value.deserialize_any(visitor).map_err(|_| invalid)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i64 i128 u8 u16 u32 u64 u128 f32 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

// ---- field types ----------------------------------------------------------------------------

/// A string column: at most `MAX` characters, no NUL ([`schema::NO_NUL`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Limited<const MAX: usize>(pub String);

/// `name`, `email`, `password`, `first_name`, `last_name`: VARCHAR(128).
pub type Name = Limited<NAME_MAX>;
/// `text`, `description`: VARCHAR(1024).
pub type Text = Limited<TEXT_MAX>;

impl<const MAX: usize> From<Limited<MAX>> for String {
    fn from(value: Limited<MAX>) -> Self {
        value.0
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Limited<MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.contains('\0') {
            return Err(de::Error::custom("must not contain NUL characters"));
        }
        if text.chars().count() > MAX {
            return Err(de::Error::custom(format!(
                "is too long (at most {MAX} characters)"
            )));
        }
        Ok(Limited(text))
    }
}

impl<const MAX: usize> PartialSchema for Limited<MAX> {
    fn schema() -> RefOr<Schema> {
        schema::string(MAX).into()
    }
}

impl<const MAX: usize> ToSchema for Limited<MAX> {
    fn name() -> Cow<'static, str> {
        match MAX {
            NAME_MAX => "Name".into(),
            TEXT_MAX => "Text".into(),
            _ => format!("String{MAX}").into(),
        }
    }
}

/// An INT column: a JSON integer in the i32 range.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Int(pub i32);

impl PartialSchema for Int {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(i32::MIN))
            .maximum(Some(i32::MAX))
            .into()
    }
}

impl ToSchema for Int {
    fn name() -> Cow<'static, str> {
        "Int32".into()
    }
}

/// A list of ids (`places_search`): each a string; one that is not a UUID names nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ids(pub Vec<String>);

impl<'de> Deserialize<'de> for Ids {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(deserializer)
            .map(Ids)
            .map_err(|_| de::Error::custom("must be a list of ids"))
    }
}

impl PartialSchema for Ids {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .into()
    }
}

impl ToSchema for Ids {
    fn name() -> Cow<'static, str> {
        "Ids".into()
    }
}

/// An id in a URL or a body, normalised (lower-case, hyphenated). None when it is not a UUID:
/// such an id names nothing.
pub fn parse_id(text: &str) -> Option<String> {
    uuid::Uuid::try_parse(text)
        .ok()
        .map(|id| id.hyphenated().to_string())
}
