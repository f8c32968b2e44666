//! Every write, each described once (`Write`) for the three engines. Each is one statement,
//! atomic on every engine: deletes cascade through the foreign keys (on MySQL in the same
//! transaction, see `mysql`), inserts that reference a vanished row fail with
//! `MissingReference`.

use crate::database::Database;
use crate::error::{Result, StorageError};
use crate::models::{new_id, now, Amenity, City, Model, Place, PlaceFields, Review, State, User};
use crate::write::{Value, Write};

/// What linking an amenity to a place did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Created,
    AlreadyLinked,
}

/// A foreign key that points nowhere: the parent row does not exist (or vanished meanwhile).
fn map_fk(error: StorageError) -> StorageError {
    match &error {
        StorageError::Sqlx(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            StorageError::MissingReference
        }
        _ => error,
    }
}

/// A new row of `M` with a new id and both timestamps now, then `columns`: the row stored.
async fn insert<M: Model>(
    db: &Database,
    operation: &'static str,
    columns: Vec<(&'static str, Value)>,
) -> Result<M> {
    let (id, at) = (new_id(), now());
    let mut all = vec![
        ("id", Value::from(id.as_str())),
        ("created_at", Value::from(at)),
        ("updated_at", Value::from(at)),
    ];
    all.extend(columns);
    db.write_row(Write::insert(operation, M::TABLE, &id, all))
        .await
        .map_err(map_fk)?
        .ok_or(StorageError::Sqlx(sqlx::Error::RowNotFound))
}

/// `columns` of row `id` of `M` written and `updated_at` set to now: the row stored, None when
/// it no longer exists.
async fn update<M: Model>(
    db: &Database,
    operation: &'static str,
    id: &str,
    mut columns: Vec<(&'static str, Value)>,
) -> Result<Option<M>> {
    columns.push(("updated_at", Value::from(now())));
    db.write_row(Write::update(operation, M::TABLE, id, columns))
        .await
}

impl Database {
    /// Deletes one row (and, through the foreign keys, everything that depends on it).
    /// False when there was no such row.
    pub async fn delete<M: Model>(&self, id: &str) -> Result<bool> {
        let write = Write::delete_row(M::OPERATIONS.delete, M::TABLE, id);
        Ok(self.write_count(write).await? > 0)
    }

    pub async fn create_state(&self, name: &str) -> Result<State> {
        insert(self, "create_state", vec![("name", name.into())]).await
    }

    /// Writes the state's columns and sets `updated_at` to now. None when it no longer exists.
    pub async fn update_state(&self, state: &State) -> Result<Option<State>> {
        let columns = vec![("name", state.name.as_str().into())];
        update(self, "update_state", &state.id, columns).await
    }

    /// Fails with `MissingReference` when the state does not exist.
    pub async fn create_city(&self, state_id: &str, name: &str) -> Result<City> {
        let columns = vec![("state_id", state_id.into()), ("name", name.into())];
        insert(self, "create_city", columns).await
    }

    pub async fn update_city(&self, city: &City) -> Result<Option<City>> {
        let columns = vec![("name", city.name.as_str().into())];
        update(self, "update_city", &city.id, columns).await
    }

    pub async fn create_amenity(&self, name: &str) -> Result<Amenity> {
        insert(self, "create_amenity", vec![("name", name.into())]).await
    }

    pub async fn update_amenity(&self, amenity: &Amenity) -> Result<Option<Amenity>> {
        let columns = vec![("name", amenity.name.as_str().into())];
        update(self, "update_amenity", &amenity.id, columns).await
    }

    /// `password_hash` is stored as given: hash it before.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<User> {
        let columns = vec![
            ("email", email.into()),
            ("password", password_hash.into()),
            ("first_name", first_name.map(str::to_owned).into()),
            ("last_name", last_name.map(str::to_owned).into()),
        ];
        insert(self, "create_user", columns).await
    }

    /// Writes password (already hashed), first and last name; the email never changes.
    pub async fn update_user(&self, user: &User) -> Result<Option<User>> {
        let columns = vec![
            ("password", user.password.as_str().into()),
            ("first_name", user.first_name.clone().into()),
            ("last_name", user.last_name.clone().into()),
        ];
        update(self, "update_user", &user.id, columns).await
    }

    /// Fails with `MissingReference` when the city or the user does not exist.
    pub async fn create_place(
        &self,
        city_id: &str,
        user_id: &str,
        fields: &PlaceFields,
    ) -> Result<Place> {
        let mut columns = vec![("city_id", city_id.into()), ("user_id", user_id.into())];
        columns.extend(place_columns(fields));
        insert(self, "create_place", columns).await
    }

    /// Writes every column but the ids and `created_at`.
    pub async fn update_place(&self, place: &Place) -> Result<Option<Place>> {
        let fields = PlaceFields {
            name: place.name.clone(),
            description: place.description.clone(),
            number_rooms: place.number_rooms,
            number_bathrooms: place.number_bathrooms,
            max_guest: place.max_guest,
            price_by_night: place.price_by_night,
            latitude: place.latitude,
            longitude: place.longitude,
        };
        update(self, "update_place", &place.id, place_columns(&fields)).await
    }

    /// Fails with `MissingReference` when the place or the user does not exist.
    pub async fn create_review(&self, place_id: &str, user_id: &str, text: &str) -> Result<Review> {
        let columns = vec![
            ("place_id", place_id.into()),
            ("user_id", user_id.into()),
            ("text", text.into()),
        ];
        insert(self, "create_review", columns).await
    }

    pub async fn update_review(&self, review: &Review) -> Result<Option<Review>> {
        let columns = vec![("text", review.text.as_str().into())];
        update(self, "update_review", &review.id, columns).await
    }

    /// Fails with `MissingReference` when the place or the amenity does not exist.
    pub async fn link_amenity(&self, place_id: &str, amenity_id: &str) -> Result<LinkOutcome> {
        let columns = vec![
            ("place_id", place_id.into()),
            ("amenity_id", amenity_id.into()),
        ];
        let write = Write::insert("link_amenity", "place_amenity", "", columns);
        let inserted = self
            .write_count(write.ignoring_duplicates())
            .await
            .map_err(map_fk)?;
        Ok(if inserted > 0 {
            LinkOutcome::Created
        } else {
            LinkOutcome::AlreadyLinked
        })
    }

    /// False when the two were not linked.
    pub async fn unlink_amenity(&self, place_id: &str, amenity_id: &str) -> Result<bool> {
        let conditions = vec![
            ("place_id", place_id.into()),
            ("amenity_id", amenity_id.into()),
        ];
        let write = Write::delete_where("unlink_amenity", "place_amenity", conditions);
        Ok(self.write_count(write).await? > 0)
    }
}

/// A place's own columns, in the order the table has them.
fn place_columns(fields: &PlaceFields) -> Vec<(&'static str, Value)> {
    vec![
        ("name", fields.name.as_str().into()),
        ("description", fields.description.clone().into()),
        ("number_rooms", fields.number_rooms.into()),
        ("number_bathrooms", fields.number_bathrooms.into()),
        ("max_guest", fields.max_guest.into()),
        ("price_by_night", fields.price_by_night.into()),
        ("latitude", fields.latitude.into()),
        ("longitude", fields.longitude.into()),
    ]
}
