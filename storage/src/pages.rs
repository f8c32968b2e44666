//! The sorted reads of the web pages: every state with its cities, every amenity, every place
//! with its owner's name. On a SQLite file the large ones run on a reader thread, a statement
//! per thread hop (see `sqlite_readers`); elsewhere on the pool.

use std::collections::HashMap;

use crate::database::{on_connection, Database};
use crate::error::Result;
use crate::metrics;
use crate::models::{Amenity, City, PlaceWithOwner, State, StateWithCities};
use crate::sqlite::readers::{self as sqlite_readers, city_columns, place_columns, state_columns};
use crate::sqlite::Sqlite;

impl Database {
    /// Every state sorted by name, each with its cities sorted by name (two queries on one
    /// connection).
    pub async fn states_with_cities(&self) -> Result<Vec<StateWithCities>> {
        const STATES_SQL: &str = concat!(
            "SELECT ",
            state_columns!(),
            " FROM states ORDER BY name, id"
        );
        const CITIES_SQL: &str =
            concat!("SELECT ", city_columns!(), " FROM cities ORDER BY name, id");
        let (states, cities): (Vec<State>, Vec<City>) = match self {
            Database::Sqlite(Sqlite {
                readers: Some(readers),
                ..
            }) => {
                let read = readers.read(move |connection| {
                    let states =
                        sqlite_readers::all(connection, STATES_SQL, sqlite_readers::state)?;
                    let cities = sqlite_readers::all(connection, CITIES_SQL, sqlite_readers::city)?;
                    Ok((states, cities))
                });
                metrics::timed("states_with_cities", read).await?
            }
            _ => {
                let (states_sql, cities_sql) = (self.sql(STATES_SQL), self.sql(CITIES_SQL));
                on_connection!(self, "states_with_cities", |conn| {
                    let states = sqlx::query_as(&states_sql).fetch_all(&mut *conn).await?;
                    let cities = sqlx::query_as(&cities_sql).fetch_all(&mut *conn).await?;
                    Ok((states, cities))
                })?
            }
        };
        let mut by_state: HashMap<String, Vec<City>> = HashMap::new();
        for city in cities {
            by_state
                .entry(city.state_id.clone())
                .or_default()
                .push(city);
        }
        Ok(states
            .into_iter()
            .map(|state| {
                let cities = by_state.remove(&state.id).unwrap_or_default();
                StateWithCities { state, cities }
            })
            .collect())
    }

    pub async fn amenities_sorted(&self) -> Result<Vec<Amenity>> {
        let sql = self.sql("SELECT * FROM amenities ORDER BY name, id");
        Ok(on_connection!(self, "amenities_sorted", |conn| {
            sqlx::query_as(&sql).fetch_all(conn).await
        })?)
    }

    /// Every place sorted by name, with its owner's first and last name (one join).
    pub async fn places_with_owner(&self) -> Result<Vec<PlaceWithOwner>> {
        const SQL: &str = concat!(
            "SELECT ",
            place_columns!(),
            ", u.first_name AS owner_first_name, u.last_name AS owner_last_name \
             FROM places p JOIN users u ON u.id = p.user_id ORDER BY p.name, p.id"
        );
        if let Database::Sqlite(Sqlite {
            readers: Some(readers),
            ..
        }) = self
        {
            let read = readers.read(move |connection| {
                sqlite_readers::all(connection, SQL, |row| {
                    Ok(PlaceWithOwner {
                        place: sqlite_readers::place(row)?,
                        owner_first_name: row.get(13)?,
                        owner_last_name: row.get(14)?,
                    })
                })
            });
            return metrics::timed("places_with_owner", read).await;
        }
        let sql = self.sql(SQL);
        Ok(on_connection!(self, "places_with_owner", |conn| {
            sqlx::query_as(&sql).fetch_all(conn).await
        })?)
    }
}
