//! Every query. Each write is one statement (atomic on every engine): deletes cascade through the
//! foreign keys, inserts that reference a vanished row fail with `MissingReference`. On MySQL a
//! write is one transaction instead: the statement, then the read of its row (no `RETURNING` on
//! UPDATE), and a delete removes the dependents first (see `mysql`).

use serde::Serialize;

use crate::models::*;
use crate::{mysql, new_id, now, on_connection, on_writer, Database, Result, StorageError};

/// What linking an amenity to a place did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Created,
    AlreadyLinked,
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Stats {
    pub amenities: i64,
    pub cities: i64,
    pub places: i64,
    pub reviews: i64,
    pub states: i64,
    pub users: i64,
}

fn map_fk(error: StorageError) -> StorageError {
    match &error {
        StorageError::Sqlx(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            StorageError::MissingReference
        }
        _ => error,
    }
}

/// The order lists come back in (the original has none; this one is stable).
const LIST_ORDER: &str = "ORDER BY created_at, id";

impl Database {
    // ---- generic reads and deletes -------------------------------------------------------

    /// Every row of a table.
    pub async fn list<M: Model>(&self) -> Result<Vec<M>> {
        let sql = format!("SELECT * FROM {} {LIST_ORDER}", M::TABLE);
        let sql = self.sql(&sql);
        Ok(on_connection!(self, M::OPERATIONS.list, |conn| {
            sqlx::query_as::<_, M>(&sql).fetch_all(conn).await
        })?)
    }

    pub async fn get<M: Model>(&self, id: &str) -> Result<Option<M>> {
        let sql = format!("SELECT * FROM {} WHERE id = $1", M::TABLE);
        let sql = self.sql(&sql);
        Ok(on_connection!(self, M::OPERATIONS.get, |conn| {
            sqlx::query_as::<_, M>(&sql)
                .bind(id)
                .fetch_optional(conn)
                .await
        })?)
    }

    pub async fn exists<M: Model>(&self, id: &str) -> Result<bool> {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE id = $1", M::TABLE);
        let sql = self.sql(&sql);
        let n: i64 = on_connection!(self, M::OPERATIONS.exists, |conn| {
            sqlx::query_scalar(&sql).bind(id).fetch_one(conn).await
        })?;
        Ok(n > 0)
    }

    /// Deletes one row (and, through the foreign keys, everything that depends on it).
    /// False when there was no such row.
    pub async fn delete<M: Model>(&self, id: &str) -> Result<bool> {
        let sql = format!("DELETE FROM {} WHERE id = $1", M::TABLE);
        let owned = id.to_owned();
        let done = on_writer!(
            self,
            M::OPERATIONS.delete,
            sql,
            [owned] => affected,
            mysql | pool | mysql::delete(pool, M::TABLE, id).await.map(u64::from)
        )?;
        Ok(done > 0)
    }

    /// Rows of `M` whose `column` equals `value`, in list order, timed as `operation`.
    /// `column` is a constant.
    async fn children<M: Model>(
        &self,
        operation: &'static str,
        column: &'static str,
        value: &str,
    ) -> Result<Vec<M>> {
        let sql = format!(
            "SELECT * FROM {} WHERE {column} = $1 {LIST_ORDER}",
            M::TABLE
        );
        let sql = self.sql(&sql);
        Ok(on_connection!(self, operation, |conn| {
            sqlx::query_as::<_, M>(&sql)
                .bind(value)
                .fetch_all(conn)
                .await
        })?)
    }

    pub async fn stats(&self) -> Result<Stats> {
        let sql = "SELECT (SELECT COUNT(*) FROM amenities) AS amenities, \
                          (SELECT COUNT(*) FROM cities) AS cities, \
                          (SELECT COUNT(*) FROM places) AS places, \
                          (SELECT COUNT(*) FROM reviews) AS reviews, \
                          (SELECT COUNT(*) FROM states) AS states, \
                          (SELECT COUNT(*) FROM users) AS users";
        Ok(on_connection!(self, "stats", |conn| {
            sqlx::query_as::<_, Stats>(sql).fetch_one(conn).await
        })?)
    }

    // ---- states ---------------------------------------------------------------------------

    pub async fn create_state(&self, name: &str) -> Result<State> {
        let (id, at, name) = (new_id(), now(), name.to_owned());
        let sql = "INSERT INTO states (id, created_at, updated_at, name) VALUES ($1, $2, $2, $3) \
                   RETURNING *";
        let my = "INSERT INTO states (id, created_at, updated_at, name) VALUES (?, ?, ?, ?)";
        let (my_id, my_name) = (id.clone(), name.clone());
        let my_statement = || {
            sqlx::query(my)
                .bind(&my_id)
                .bind(at)
                .bind(at)
                .bind(&my_name)
        };
        on_writer!(
            self,
            "create_state",
            sql,
            [id, at, name] => one<State>,
            mysql | pool | mysql::insert(pool, my_statement, &my_id).await
        )
    }

    /// Writes the state's columns and sets `updated_at` to now. None when it no longer exists.
    pub async fn update_state(&self, state: &State) -> Result<Option<State>> {
        let sql = "UPDATE states SET name = $2, updated_at = $3 WHERE id = $1 RETURNING *";
        let (id, name) = (state.id.clone(), state.name.clone());
        let my = "UPDATE states SET name = ?, updated_at = ? WHERE id = ?";
        let at = now();
        let my_statement = || sqlx::query(my).bind(&state.name).bind(at).bind(&state.id);
        on_writer!(
            self,
            "update_state",
            sql,
            [id, name, at] => optional<State>,
            mysql | pool | mysql::write_then_read(pool, my_statement, &state.id).await
        )
    }

    // ---- cities ---------------------------------------------------------------------------

    pub async fn cities_of_state(&self, state_id: &str) -> Result<Vec<City>> {
        self.children("cities_of_state", "state_id", state_id).await
    }

    /// Fails with `MissingReference` when the state does not exist.
    pub async fn create_city(&self, state_id: &str, name: &str) -> Result<City> {
        let (id, at) = (new_id(), now());
        let (state_id, name) = (state_id.to_owned(), name.to_owned());
        let sql = "INSERT INTO cities (id, created_at, updated_at, state_id, name) \
                   VALUES ($1, $2, $2, $3, $4) RETURNING *";
        let my = "INSERT INTO cities (id, created_at, updated_at, state_id, name) \
                  VALUES (?, ?, ?, ?, ?)";
        let (my_id, my_state, my_name) = (id.clone(), state_id.clone(), name.clone());
        let my_statement = || {
            sqlx::query(my)
                .bind(&my_id)
                .bind(at)
                .bind(at)
                .bind(&my_state)
                .bind(&my_name)
        };
        on_writer!(
            self,
            "create_city",
            sql,
            [id, at, state_id, name] => one<City>,
            mysql | pool | mysql::insert(pool, my_statement, &my_id).await
        )
        .map_err(map_fk)
    }

    pub async fn update_city(&self, city: &City) -> Result<Option<City>> {
        let sql = "UPDATE cities SET name = $2, updated_at = $3 WHERE id = $1 RETURNING *";
        let (id, name) = (city.id.clone(), city.name.clone());
        let my = "UPDATE cities SET name = ?, updated_at = ? WHERE id = ?";
        let at = now();
        let my_statement = || sqlx::query(my).bind(&city.name).bind(at).bind(&city.id);
        on_writer!(
            self,
            "update_city",
            sql,
            [id, name, at] => optional<City>,
            mysql | pool | mysql::write_then_read(pool, my_statement, &city.id).await
        )
    }

    // ---- amenities ------------------------------------------------------------------------

    pub async fn create_amenity(&self, name: &str) -> Result<Amenity> {
        let (id, at, name) = (new_id(), now(), name.to_owned());
        let sql = "INSERT INTO amenities (id, created_at, updated_at, name) \
                   VALUES ($1, $2, $2, $3) RETURNING *";
        let my = "INSERT INTO amenities (id, created_at, updated_at, name) VALUES (?, ?, ?, ?)";
        let (my_id, my_name) = (id.clone(), name.clone());
        let my_statement = || {
            sqlx::query(my)
                .bind(&my_id)
                .bind(at)
                .bind(at)
                .bind(&my_name)
        };
        on_writer!(
            self,
            "create_amenity",
            sql,
            [id, at, name] => one<Amenity>,
            mysql | pool | mysql::insert(pool, my_statement, &my_id).await
        )
    }

    pub async fn update_amenity(&self, amenity: &Amenity) -> Result<Option<Amenity>> {
        let sql = "UPDATE amenities SET name = $2, updated_at = $3 WHERE id = $1 RETURNING *";
        let (id, name) = (amenity.id.clone(), amenity.name.clone());
        let my = "UPDATE amenities SET name = ?, updated_at = ? WHERE id = ?";
        let at = now();
        let my_statement = || {
            sqlx::query(my)
                .bind(&amenity.name)
                .bind(at)
                .bind(&amenity.id)
        };
        on_writer!(
            self,
            "update_amenity",
            sql,
            [id, name, at] => optional<Amenity>,
            mysql | pool | mysql::write_then_read(pool, my_statement, &amenity.id).await
        )
    }

    // ---- users ----------------------------------------------------------------------------

    /// `password_hash` is stored as given: hash it before.
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<User> {
        let (id, at) = (new_id(), now());
        let (email, password_hash) = (email.to_owned(), password_hash.to_owned());
        let (first_name, last_name) = (first_name.map(str::to_owned), last_name.map(str::to_owned));
        let sql = "INSERT INTO users (id, created_at, updated_at, email, password, first_name, \
                   last_name) VALUES ($1, $2, $2, $3, $4, $5, $6) RETURNING *";
        let my = "INSERT INTO users (id, created_at, updated_at, email, password, first_name, \
                  last_name) VALUES (?, ?, ?, ?, ?, ?, ?)";
        let my_id = id.clone();
        let (my_email, my_hash) = (email.clone(), password_hash.clone());
        let (my_first, my_last) = (first_name.clone(), last_name.clone());
        let my_statement = || {
            sqlx::query(my)
                .bind(&my_id)
                .bind(at)
                .bind(at)
                .bind(&my_email)
                .bind(&my_hash)
                .bind(&my_first)
                .bind(&my_last)
        };
        on_writer!(
            self,
            "create_user",
            sql,
            [id, at, email, password_hash, first_name, last_name] => one<User>,
            mysql | pool | mysql::insert(pool, my_statement, &my_id).await
        )
    }

    /// Writes password (already hashed), first and last name; the email never changes.
    pub async fn update_user(&self, user: &User) -> Result<Option<User>> {
        let sql = "UPDATE users SET password = $2, first_name = $3, last_name = $4, \
                   updated_at = $5 WHERE id = $1 RETURNING *";
        let at = now();
        let my = "UPDATE users SET password = ?, first_name = ?, last_name = ?, updated_at = ? \
                  WHERE id = ?";
        let my_statement = || {
            sqlx::query(my)
                .bind(&user.password)
                .bind(&user.first_name)
                .bind(&user.last_name)
                .bind(at)
                .bind(&user.id)
        };
        let owned = user.clone();
        on_writer!(
            self,
            "update_user",
            sql,
            [owned.id, owned.password, owned.first_name, owned.last_name, at] => optional<User>,
            mysql | pool | mysql::write_then_read(pool, my_statement, &user.id).await
        )
    }

    // ---- places ---------------------------------------------------------------------------

    pub async fn places_of_city(&self, city_id: &str) -> Result<Vec<Place>> {
        self.children("places_of_city", "city_id", city_id).await
    }

    /// Fails with `MissingReference` when the city or the user does not exist.
    pub async fn create_place(
        &self,
        city_id: &str,
        user_id: &str,
        fields: &PlaceFields,
    ) -> Result<Place> {
        let (id, at) = (new_id(), now());
        let (city_id, user_id, fields) = (city_id.to_owned(), user_id.to_owned(), fields.clone());
        let sql = "INSERT INTO places (id, created_at, updated_at, city_id, user_id, name, \
                   description, number_rooms, number_bathrooms, max_guest, price_by_night, \
                   latitude, longitude) \
                   VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *";
        let my = "INSERT INTO places (id, created_at, updated_at, city_id, user_id, name, \
                  description, number_rooms, number_bathrooms, max_guest, price_by_night, \
                  latitude, longitude) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let (my_id, my_city, my_user, f) =
            (id.clone(), city_id.clone(), user_id.clone(), fields.clone());
        let my_statement = || {
            sqlx::query(my)
                .bind(&my_id)
                .bind(at)
                .bind(at)
                .bind(&my_city)
                .bind(&my_user)
                .bind(&f.name)
                .bind(&f.description)
                .bind(f.number_rooms)
                .bind(f.number_bathrooms)
                .bind(f.max_guest)
                .bind(f.price_by_night)
                .bind(f.latitude)
                .bind(f.longitude)
        };
        on_writer!(
            self,
            "create_place",
            sql,
            [id, at, city_id, user_id, fields.name, fields.description, fields.number_rooms, fields.number_bathrooms, fields.max_guest, fields.price_by_night, fields.latitude, fields.longitude] => one<Place>,
            mysql | pool | mysql::insert(pool, my_statement, &my_id).await
        )
        .map_err(map_fk)
    }

    /// Writes every column but the ids and `created_at`.
    pub async fn update_place(&self, place: &Place) -> Result<Option<Place>> {
        let sql = "UPDATE places SET name = $2, description = $3, number_rooms = $4, \
                   number_bathrooms = $5, max_guest = $6, price_by_night = $7, latitude = $8, \
                   longitude = $9, updated_at = $10 WHERE id = $1 RETURNING *";
        let at = now();
        let my = "UPDATE places SET name = ?, description = ?, number_rooms = ?, \
                  number_bathrooms = ?, max_guest = ?, price_by_night = ?, latitude = ?, \
                  longitude = ?, updated_at = ? WHERE id = ?";
        let my_statement = || {
            sqlx::query(my)
                .bind(&place.name)
                .bind(&place.description)
                .bind(place.number_rooms)
                .bind(place.number_bathrooms)
                .bind(place.max_guest)
                .bind(place.price_by_night)
                .bind(place.latitude)
                .bind(place.longitude)
                .bind(at)
                .bind(&place.id)
        };
        let p = place.clone();
        on_writer!(
            self,
            "update_place",
            sql,
            [p.id, p.name, p.description, p.number_rooms, p.number_bathrooms, p.max_guest, p.price_by_night, p.latitude, p.longitude, at] => optional<Place>,
            mysql | pool | mysql::write_then_read(pool, my_statement, &place.id).await
        )
    }

    // ---- reviews --------------------------------------------------------------------------

    pub async fn reviews_of_place(&self, place_id: &str) -> Result<Vec<Review>> {
        self.children("reviews_of_place", "place_id", place_id)
            .await
    }

    /// Fails with `MissingReference` when the place or the user does not exist.
    pub async fn create_review(&self, place_id: &str, user_id: &str, text: &str) -> Result<Review> {
        let (id, at) = (new_id(), now());
        let (place_id, user_id, text) = (place_id.to_owned(), user_id.to_owned(), text.to_owned());
        let sql = "INSERT INTO reviews (id, created_at, updated_at, place_id, user_id, text) \
                   VALUES ($1, $2, $2, $3, $4, $5) RETURNING *";
        let my = "INSERT INTO reviews (id, created_at, updated_at, place_id, user_id, text) \
                  VALUES (?, ?, ?, ?, ?, ?)";
        let (my_id, my_place, my_user, my_text) =
            (id.clone(), place_id.clone(), user_id.clone(), text.clone());
        let my_statement = || {
            sqlx::query(my)
                .bind(&my_id)
                .bind(at)
                .bind(at)
                .bind(&my_place)
                .bind(&my_user)
                .bind(&my_text)
        };
        on_writer!(
            self,
            "create_review",
            sql,
            [id, at, place_id, user_id, text] => one<Review>,
            mysql | pool | mysql::insert(pool, my_statement, &my_id).await
        )
        .map_err(map_fk)
    }

    pub async fn update_review(&self, review: &Review) -> Result<Option<Review>> {
        let sql = "UPDATE reviews SET text = $2, updated_at = $3 WHERE id = $1 RETURNING *";
        let (id, text) = (review.id.clone(), review.text.clone());
        let my = "UPDATE reviews SET text = ?, updated_at = ? WHERE id = ?";
        let at = now();
        let my_statement = || sqlx::query(my).bind(&review.text).bind(at).bind(&review.id);
        on_writer!(
            self,
            "update_review",
            sql,
            [id, text, at] => optional<Review>,
            mysql | pool | mysql::write_then_read(pool, my_statement, &review.id).await
        )
    }

    // ---- place <-> amenity ----------------------------------------------------------------

    pub async fn amenities_of_place(&self, place_id: &str) -> Result<Vec<Amenity>> {
        let sql = "SELECT a.* FROM amenities a JOIN place_amenity pa ON pa.amenity_id = a.id \
                   WHERE pa.place_id = $1 ORDER BY a.created_at, a.id";
        let sql = self.sql(sql);
        Ok(on_connection!(self, "amenities_of_place", |conn| {
            sqlx::query_as::<_, Amenity>(&sql)
                .bind(place_id)
                .fetch_all(conn)
                .await
        })?)
    }

    /// Fails with `MissingReference` when the place or the amenity does not exist.
    pub async fn link_amenity(&self, place_id: &str, amenity_id: &str) -> Result<LinkOutcome> {
        let sql = "INSERT INTO place_amenity (place_id, amenity_id) VALUES ($1, $2) \
                   ON CONFLICT DO NOTHING";
        // MySQL: a plain INSERT, a duplicate key meaning already linked (INSERT IGNORE would
        // also ignore a missing place or amenity).
        let my = "INSERT INTO place_amenity (place_id, amenity_id) VALUES (?, ?)";
        let my_statement = || sqlx::query(my).bind(place_id).bind(amenity_id);
        let (owned_place, owned_amenity) = (place_id.to_owned(), amenity_id.to_owned());
        let inserted = on_writer!(
            self,
            "link_amenity",
            sql,
            [owned_place, owned_amenity] => affected,
            mysql
                | pool
                | match mysql::execute(pool, my_statement).await {
                    Err(StorageError::Sqlx(sqlx::Error::Database(db)))
                        if db.is_unique_violation() =>
                    {
                        Ok(0)
                    }
                    done => done,
                }
        )
        .map_err(map_fk)?;
        Ok(if inserted > 0 {
            LinkOutcome::Created
        } else {
            LinkOutcome::AlreadyLinked
        })
    }

    /// False when the two were not linked.
    pub async fn unlink_amenity(&self, place_id: &str, amenity_id: &str) -> Result<bool> {
        let sql = "DELETE FROM place_amenity WHERE place_id = $1 AND amenity_id = $2";
        let my = mysql::placeholders(sql);
        let my_statement = || sqlx::query(&my).bind(place_id).bind(amenity_id);
        let (owned_place, owned_amenity) = (place_id.to_owned(), amenity_id.to_owned());
        let deleted = on_writer!(
            self,
            "unlink_amenity",
            sql,
            [owned_place, owned_amenity] => affected,
            mysql | pool | mysql::execute(pool, my_statement).await
        )?;
        Ok(deleted > 0)
    }
}
