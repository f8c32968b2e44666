//! `/users` (spec §4.3). The password is hashed once when set (argon2id) and never answered.

use hbnb_storage::{to_dict, Database, StorageError, User};
use serde::Deserialize;
use utoipa::ToSchema;

use super::answers::{BadBody, Deleted, List, Made, NotFound, One, Unavailable};
use super::{created, get, list, remove, update, Changes, Db, Id, Reply, Stored};
use crate::body::{Body, Name};
use crate::error::ApiError;
use crate::password;

/// POST a user: `Missing email`, then `Missing password`.
#[derive(Deserialize, ToSchema)]
pub struct NewUser {
    pub email: Name,
    pub password: Name,
    pub first_name: Option<Option<Name>>,
    pub last_name: Option<Option<Name>>,
}

/// PUT a user: `email` is ignored; a new `password` is hashed once; a name may be set to null.
#[derive(Deserialize, ToSchema)]
pub struct UserChanges {
    #[schema(nullable = false)]
    pub password: Option<Name>,
    pub first_name: Option<Option<Name>>,
    pub last_name: Option<Option<Name>>,
}

impl Stored for User {
    async fn store(&self, db: &Database) -> Result<Option<Self>, StorageError> {
        db.update_user(self).await
    }
}

impl Changes<User> for UserChanges {
    async fn apply(self, user: &mut User) -> Result<bool, ApiError> {
        let UserChanges {
            password,
            first_name,
            last_name,
        } = self;
        if password.is_none() && first_name.is_none() && last_name.is_none() {
            return Ok(false);
        }
        if let Some(new_password) = password {
            user.password = password::hash(new_password.into()).await?;
        }
        if let Some(first_name) = first_name {
            user.first_name = first_name.map(String::from);
        }
        if let Some(last_name) = last_name {
            user.last_name = last_name.map(String::from);
        }
        Ok(true)
    }
}

#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    responses(List<User>, Unavailable)
)]
pub async fn list_users(db: Db) -> Reply {
    list::<User>(&db).await
}

#[utoipa::path(
    post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses(Made<User>, BadBody, Unavailable)
)]
pub async fn create_user(db: Db, body: Body<NewUser>) -> Reply {
    let user = body.read().await?;
    let hash = password::hash(user.password.into()).await?;
    let first_name = user.first_name.flatten().map(String::from);
    let last_name = user.last_name.flatten().map(String::from);
    let user = db
        .create_user(
            &user.email.0,
            &hash,
            first_name.as_deref(),
            last_name.as_deref(),
        )
        .await?;
    created(to_dict(&user))
}

#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses(One<User>, NotFound, Unavailable)
)]
pub async fn get_user(db: Db, id: Id) -> Reply {
    get::<User>(&db, &id).await
}

/// Ignores `id`, `created_at`, `updated_at`, `email`; sets `updated_at` to now.
#[utoipa::path(
    put, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    request_body = UserChanges,
    responses(One<User>, NotFound, BadBody, Unavailable)
)]
pub async fn update_user(db: Db, id: Id, body: Body<UserChanges>) -> Reply {
    update::<User, _>(&db, &id, body).await
}

/// Their places and reviews go with them (spec §2.3, our rewrite).
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses(Deleted, NotFound, Unavailable)
)]
pub async fn delete_user(db: Db, id: Id) -> Reply {
    remove::<User>(&db, &id).await
}
