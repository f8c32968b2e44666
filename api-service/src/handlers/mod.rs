//! The endpoints of spec §4.2–4.5, one module per resource. Checks run in the order of §4.3 with
//! the §8 choices: a missing object or parent answers 404 first, then the body ("Not a JSON",
//! then the body type's fields in declaration order: "Missing ...", types and sizes; see
//! [`crate::body`]). PUT ignores the id, timestamps, the per-resource keys of §4.3 and any key
//! that is not a column (its body type does not declare them); a PUT that changes no column
//! answers the object unchanged.
//!
//! Each handler carries its `#[utoipa::path]`: the operation's body type and its answers
//! ([`answers`]) are the ones it really uses, and `openapi.rs` collects them. The handlers are
//! written out, a few lines each over the helpers below, so that each one can be found by its
//! name and read with its documentation in one place.

pub mod amenities;
pub mod answers;
pub mod cities;
pub mod place_amenities;
pub mod places;
pub mod reviews;
pub mod search;
pub mod states;
pub mod status;
pub mod users;

pub use amenities::*;
pub use cities::*;
pub use place_amenities::*;
pub use places::*;
pub use reviews::*;
pub use search::*;
pub use states::*;
pub use status::*;
pub use users::*;

use actix_web::{web, HttpResponse};
use hbnb_storage::{to_dict, to_dicts, Database, Model, StorageError, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::{parse_id, Body, Name, Object};
use crate::error::ApiError;

pub type Db = web::Data<Database>;
pub type Reply = Result<HttpResponse, ApiError>;
/// An id of the URL, as sent (see [`parse_id`]).
pub type Id = web::Path<String>;

fn ok(value: impl Serialize) -> Reply {
    Ok(HttpResponse::Ok().json(value))
}

fn created(value: impl Serialize) -> Reply {
    Ok(HttpResponse::Created().json(value))
}

/// The answer to a successful DELETE: `{}`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

fn done(found: bool) -> Reply {
    if found {
        ok(Empty {})
    } else {
        Err(ApiError::NotFound)
    }
}

/// The object with this id, or 404 (also for an id that is not a UUID).
async fn fetch<M: Model>(db: &Database, raw_id: &str) -> Result<M, ApiError> {
    let id = parse_id(raw_id).ok_or(ApiError::NotFound)?;
    db.get::<M>(&id).await?.ok_or(ApiError::NotFound)
}

/// 404 unless an object with this id exists; returns the normalised id.
async fn existing<M: Model>(db: &Database, raw_id: &str) -> Result<String, ApiError> {
    let id = parse_id(raw_id).ok_or(ApiError::NotFound)?;
    if db.exists::<M>(&id).await? {
        Ok(id)
    } else {
        Err(ApiError::NotFound)
    }
}

/// `GET /<things>`.
async fn list<M: Model>(db: &Database) -> Reply {
    ok(to_dicts(&db.list::<M>().await?))
}

/// `GET /<things>/<id>`.
async fn get<M: Model>(db: &Database, raw_id: &str) -> Reply {
    ok(to_dict(&fetch::<M>(db, raw_id).await?))
}

/// `DELETE /<things>/<id>`.
async fn remove<M: Model>(db: &Database, raw_id: &str) -> Reply {
    let id = parse_id(raw_id).ok_or(ApiError::NotFound)?;
    done(db.delete::<M>(&id).await?)
}

/// A model that a PUT writes back (every column a PUT may change, `updated_at` = now). Storage
/// has one update query per model, so each resource module implements this with its own.
trait Stored: Model {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError>;
}

/// A PUT body: what it changes in an `M`.
trait Changes<M> {
    /// Sets the fields the body has; false when it has none (nothing to write).
    async fn apply(self, object: &mut M) -> Result<bool, ApiError>;
}

/// `PUT /<things>/<id>`: the one update path of every model. 404, then the body, then the
/// object with the body's changes written (or unchanged when the body sets nothing).
async fn update<M, C>(db: &Database, raw_id: &str, body: Body<C>) -> Reply
where
    M: Stored,
    C: Changes<M> + serde::de::DeserializeOwned,
{
    let mut object = fetch::<M>(db, raw_id).await?;
    let changes = body.read().await?;
    if !changes.apply(&mut object).await? {
        return ok(to_dict(&object));
    }
    // None: deleted meanwhile.
    ok(to_dict(&object.store(db).await?.ok_or(ApiError::NotFound)?))
}

/// POST a state, city or amenity.
#[derive(Deserialize, ToSchema)]
pub struct NameBody {
    pub name: Name,
}

/// PUT a state, city or amenity: `name` may be left out (nothing changes), not be null.
#[derive(Deserialize, ToSchema)]
pub struct NameChange {
    #[schema(nullable = false)]
    pub name: Option<Name>,
}

/// The models whose only changeable column is `name` (implemented in their modules), so that
/// one [`NameChange`] serves their three PUTs.
trait Named {
    fn name(&mut self) -> &mut String;
}

impl<M: Named> Changes<M> for NameChange {
    async fn apply(self, object: &mut M) -> Result<bool, ApiError> {
        let Some(name) = self.name else {
            return Ok(false);
        };
        *object.name() = name.into();
        Ok(true)
    }
}

/// The `user_id` of a place or review POST, read before the other fields: "Missing user_id",
/// "user_id must be a string", then 404 for an unknown user (spec §4.3), before "Missing name".
#[derive(Deserialize)]
struct Owner {
    user_id: String,
}

async fn owner(db: &Database, body: &Object) -> Result<String, ApiError> {
    let Owner { user_id } = body.parse()?;
    existing::<User>(db, &user_id).await
}
