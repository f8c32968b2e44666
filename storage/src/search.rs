//! `places_search` (spec §4.5 with our rewrite): one statement per shape of search, written as
//! a JSON array while its rows are read (see `json_chunks`), on every engine.

use bytes::Bytes;
use futures_util::TryStreamExt;

use crate::database::Database;
use crate::error::{connection_failed, Result, StorageError};
use crate::json_chunks::{ChunkSender, JsonArrayWriter, JsonChunks};
use crate::metrics;
use crate::models::{to_dict, Place};
use crate::server::{acquire, answer_within};
use crate::sqlite::readers::{self as sqlite_readers, place_columns};
use crate::sqlite::Sqlite;

/// The filters of `places_search` (ids already validated by the caller).
#[derive(Debug, Clone, Default)]
pub struct PlaceSearch {
    pub states: Vec<String>,
    pub cities: Vec<String>,
    pub amenities: Vec<String>,
}

impl Database {
    /// Places in the given states' cities or in the given cities (every place when neither list
    /// has ids), having every given amenity, ordered by creation; as the JSON list of their
    /// `to_dict()`s. The first item of the answer is an error if the statement failed.
    pub async fn search_places_json(&self, search: &PlaceSearch) -> Result<JsonChunks> {
        let (sql, binds) = self.search_statement(search);
        let (sender, chunks) = JsonChunks::channel();
        match self {
            Database::Sqlite(Sqlite {
                readers: Some(readers),
                ..
            }) => {
                // Not awaited: the reader thread reports through the channel, its failure too
                // (and a panic ends the answer in an error: `ChunkSender`'s drop).
                let _reading = readers
                    .start(move |connection| {
                        send_from_sqlite(connection, &sql, &binds, sender);
                        Ok(())
                    })
                    .await?;
            }
            Database::Sqlite(sqlite) => {
                tokio::spawn(send_from_pool(sqlite.pool.clone(), sql, binds, sender));
            }
            Database::Postgres(postgres) => {
                tokio::spawn(send_from_pool(postgres.pool.clone(), sql, binds, sender));
            }
            Database::Mysql(pool) => {
                tokio::spawn(send_from_pool(pool.clone(), sql, binds, sender));
            }
        }
        Ok(chunks)
    }

    /// The statement of this shape of search on this engine, and its parameters in bind order.
    ///
    /// Only the conditions a search uses are written, with their own parameters: one statement
    /// with `$1 OR ...` switches PostgreSQL to a generic plan after five runs, which took `{}`
    /// over 1,000 places from 11 ms to 20 ms. Each shape of search is its own cached statement
    /// with a plan of its own. SQLite and PostgreSQL take each list as one JSON parameter;
    /// MySQL takes the ids as lists of `?` (index lookups on `cities.state_id`,
    /// `places.city_id` and `place_amenity`'s primary key), one `EXISTS` per wanted amenity.
    fn search_statement(&self, search: &PlaceSearch) -> (String, Vec<String>) {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        let by_location = !(search.states.is_empty() && search.cities.is_empty());
        let order;
        if let Database::Mysql(_) = self {
            order = "p.created_at, BINARY p.id";
            let list = |n: usize| vec!["?"; n].join(", ");
            if by_location {
                let mut either = Vec::new();
                if !search.states.is_empty() {
                    either.push(format!(
                        "p.city_id IN (SELECT c.id FROM cities c WHERE c.state_id IN ({}))",
                        list(search.states.len())
                    ));
                }
                if !search.cities.is_empty() {
                    either.push(format!("p.city_id IN ({})", list(search.cities.len())));
                }
                conditions.push(format!("({})", either.join(" OR ")));
            }
            for _ in &search.amenities {
                conditions.push(
                    "EXISTS (SELECT 1 FROM place_amenity pa WHERE pa.place_id = p.id \
                     AND pa.amenity_id = ?)"
                        .to_owned(),
                );
            }
            binds.extend(
                search
                    .states
                    .iter()
                    .chain(&search.cities)
                    .chain(&search.amenities)
                    .cloned(),
            );
        } else {
            order = "p.created_at, p.id";
            let sqlite = matches!(self, Database::Sqlite(_));
            let ids = |param: &str| {
                match sqlite {
                true => format!("(SELECT value FROM json_each({param}))"),
                false => format!(
                    "(SELECT value FROM jsonb_array_elements_text(CAST({param} AS jsonb)) AS t(value))"
                ),
            }
            };
            let wanted = |param: &str| match sqlite {
                true => format!("json_each({param}) AS wanted"),
                false => {
                    format!("jsonb_array_elements_text(CAST({param} AS jsonb)) AS wanted(value)")
                }
            };
            let json = |ids: &[String]| serde_json::Value::from(ids.to_vec()).to_string();
            if by_location {
                let (states, cities) = ("$1", "$2");
                conditions.push(format!(
                    "(p.city_id IN (SELECT c.id FROM cities c WHERE c.state_id IN {}) \
                      OR p.city_id IN {})",
                    ids(states),
                    ids(cities)
                ));
                binds.push(json(&search.states));
                binds.push(json(&search.cities));
            }
            if !search.amenities.is_empty() {
                // Every wanted amenity is linked: no wanted one lacks a link.
                let param = format!("${}", binds.len() + 1);
                conditions.push(format!(
                    "NOT EXISTS (SELECT 1 FROM {} \
                                 WHERE NOT EXISTS (SELECT 1 FROM place_amenity pa \
                                                   WHERE pa.place_id = p.id \
                                                     AND pa.amenity_id = wanted.value))",
                    wanted(&param)
                ));
                binds.push(json(&search.amenities));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            concat!("SELECT ", place_columns!(), " FROM places p {} ORDER BY {}"),
            filter, order
        );
        (sql, binds)
    }
}

/// On one of SQLite's reader threads: the rows as JSON, a chunk at a time. Stops quietly when
/// the answer's reader is gone (the client left).
fn send_from_sqlite(
    connection: &rusqlite::Connection,
    sql: &str,
    binds: &[String],
    mut sender: ChunkSender,
) {
    let started = std::time::Instant::now();
    let written: Result<Option<Bytes>> = (|| {
        let mut statement = connection.prepare_cached(sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(binds))?;
        let mut writer = JsonArrayWriter::new();
        while let Some(row) = rows.next()? {
            if let Some(chunk) = writer.push(&to_dict(&sqlite_readers::place(row)?))? {
                if !sender.blocking_send(chunk) {
                    return Ok(None);
                }
            }
        }
        Ok(Some(writer.finish()))
    })();
    match written {
        Ok(Some(last)) => {
            metrics::observe("search_places", started.elapsed());
            sender.blocking_finish(last);
        }
        // The client left or stopped reading: nobody to tell.
        Ok(None) => {}
        Err(error) => sender.blocking_fail(error),
    }
}

/// On a task of its own, with a pooled connection: the rows as JSON, a chunk at a time. On a
/// database server each row must come within `answer_within`'s time.
async fn send_from_pool<DB>(
    pool: sqlx::Pool<DB>,
    sql: String,
    binds: Vec<String>,
    mut sender: ChunkSender,
) where
    DB: sqlx::Database,
    Place: for<'r> sqlx::FromRow<'r, DB::Row>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let server = DB::NAME != "SQLite";
    let answer = metrics::timed("search_places", async {
        let mut connection = acquire(&pool).await?;
        let mut query = sqlx::query_as::<DB, Place>(&sql);
        for bind in binds {
            query = query.bind(bind);
        }
        let sent: Result<Option<Bytes>> = async {
            let mut rows = query.fetch(&mut *connection);
            let mut writer = JsonArrayWriter::new();
            loop {
                let next = match server {
                    true => answer_within(rows.try_next()).await?,
                    false => rows.try_next().await?,
                };
                let Some(place) = next else { break };
                if let Some(chunk) = writer.push(&to_dict(&place))? {
                    if !sender.send(chunk).await {
                        return Ok(None);
                    }
                }
            }
            Ok(Some(writer.finish()))
        }
        .await;
        if let Err(StorageError::Sqlx(error)) = &sent {
            if connection_failed(error) {
                connection.close_on_drop();
            }
        }
        sent
    })
    .await;
    match answer {
        Ok(Some(last)) => sender.finish(last).await,
        Ok(None) => {}
        Err(error) => sender.fail(error).await,
    }
}
