//! The reads of the API: a table's rows, one row, a parent's children, the counts. One SQL text
//! each, run on every engine (`on_connection!`).

use serde::Serialize;

use crate::database::{on_connection, Database};
use crate::error::Result;
use crate::models::{Amenity, City, Model, Place, Review};

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub amenities: i64,
    pub cities: i64,
    pub places: i64,
    pub reviews: i64,
    pub states: i64,
    pub users: i64,
}

/// The order lists come back in (the original has none; this one is stable).
const LIST_ORDER: &str = "ORDER BY created_at, id";

impl Database {
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

    pub async fn cities_of_state(&self, state_id: &str) -> Result<Vec<City>> {
        self.children("cities_of_state", "state_id", state_id).await
    }

    pub async fn places_of_city(&self, city_id: &str) -> Result<Vec<Place>> {
        self.children("places_of_city", "city_id", city_id).await
    }

    pub async fn reviews_of_place(&self, place_id: &str) -> Result<Vec<Review>> {
        self.children("reviews_of_place", "place_id", place_id)
            .await
    }

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
}
