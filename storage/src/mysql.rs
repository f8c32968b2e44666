//! What MySQL/MariaDB does differently: `?` placeholders, no `RETURNING` on UPDATE (a write and the
//! read of its row run in one transaction), deletes that cascade in SQL (a course database's
//! foreign keys do not cascade), and migrations that adopt a database the course's own SQL made.

use std::str::FromStr;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::{
    MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions,
};
use sqlx::Connection;

use crate::database_url::connect_error;
use crate::error::{Result, StorageError};
use crate::models::Model;
use crate::server::{acquire, answer_within, release, server_pool_options};
use crate::write::{add_all, Write};

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/mysql");

/// Opens a pool on `url` (`mysql://` or `mariadb://`: the same) in UTF-8 and UTC, and applies
/// the migrations (see `migrate`).
pub(crate) async fn connect(url: &str) -> Result<MySqlPool> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let options = MySqlConnectOptions::from_str(&format!("mysql://{rest}"))?
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned()));
    let pool = server_pool_options::<sqlx::MySql>(MySqlPoolOptions::new())
        .connect_with(options)
        .await
        .map_err(|error| connect_error(url, error))?;
    migrate(&pool, &MIGRATOR).await?;
    Ok(pool)
}

/// The tables of spec §2.2, which the course's `setup_mysql_dev.sql` + SQLAlchemy also create.
const TABLES: [&str; 7] = [
    "states",
    "cities",
    "users",
    "places",
    "reviews",
    "amenities",
    "place_amenity",
];

/// A deadlock or a lock wait timeout: InnoDB rolled the transaction back, it can run again.
const RETRIES: usize = 3;

/// A statement written for the other engines, as MySQL takes it: [`placeholders`], and the text
/// terms of its final `ORDER BY` sorted by their bytes (`BINARY name`), as SQLite and PostgreSQL
/// (`C.UTF-8`) sort them; the collations' own orders are linguistic.
pub(crate) fn statement(sql: &str) -> String {
    let sql = placeholders(sql);
    match sql.rsplit_once("ORDER BY ") {
        Some((head, terms)) => {
            let terms: Vec<String> = terms
                .split(", ")
                .map(|term| {
                    if term.ends_with("created_at") {
                        term.to_owned()
                    } else {
                        format!("BINARY {term}")
                    }
                })
                .collect();
            format!("{head}ORDER BY {}", terms.join(", "))
        }
        None => sql,
    }
}

/// `$1`, `$2`, ... written as `?` (MySQL binds in order: each `$n` must appear once, in order).
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn retryable(error: &sqlx::Error) -> bool {
    match error {
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("40001" | "HY000"))
                && db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|e| matches!(e.number(), 1213 | 1205))
        }
        _ => false,
    }
}

/// `write` as MySQL takes it: `?` placeholders, its values bound.
fn bound(write: &Write) -> sqlx::Result<(String, MySqlArguments)> {
    let mut arguments = MySqlArguments::default();
    add_all(&write.values, &mut arguments)?;
    Ok((placeholders(&write.sql), arguments))
}

/// Runs `$body` with `$connection` bound to a pooled connection, within `answer_within`, again
/// (up to `RETRIES` times) when InnoDB rolled it back for a deadlock or a lock wait. A macro, as
/// an async closure's future is not `Send` for every lifetime of the connection it borrows.
macro_rules! with_retries {
    ($pool:expr, |$connection:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut pooled = acquire($pool).await?;
            let run = answer_within(async {
                let $connection: &mut MySqlConnection = &mut pooled;
                $body
            })
            .await;
            release(&mut pooled, &run);
            match run {
                Err(error) if attempt < RETRIES && retryable(&error) => continue,
                done => break done.map_err(StorageError::from),
            }
        }
    }};
}

/// Runs `write`, then reads its row back (MySQL has no `RETURNING`), in one transaction.
/// None when there is no such row (an UPDATE of a vanished row).
pub(crate) async fn write_then_read<M: Model>(
    pool: &MySqlPool,
    write: &Write,
) -> Result<Option<M>> {
    let read = format!("SELECT * FROM {} WHERE id = ?", M::TABLE);
    with_retries!(pool, |connection| {
        let (sql, arguments) = bound(write)?;
        let mut tx = connection.begin().await?;
        sqlx::query_with(&sql, arguments).execute(&mut *tx).await?;
        let row = sqlx::query_as::<_, M>(&read)
            .bind(&write.id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    })
}

/// Runs `write` alone (a delete with its dependents: `delete`): the rows it changed (0 for a duplicate key it was told to ignore: a plain
/// INSERT, as `INSERT IGNORE` would also ignore a missing parent row).
pub(crate) async fn execute(pool: &MySqlPool, write: &Write) -> Result<u64> {
    if write.cascades {
        return delete(pool, write.table, &write.id).await;
    }
    let ran = with_retries!(pool, |connection| {
        let (sql, arguments) = bound(write)?;
        Ok(sqlx::query_with(&sql, arguments)
            .execute(&mut *connection)
            .await?
            .rows_affected())
    });
    match ran {
        Err(StorageError::Sqlx(sqlx::Error::Database(db)))
            if write.duplicates_ignored && db.is_unique_violation() =>
        {
            Ok(0)
        }
        ran => ran,
    }
}

/// The statements deleting the places that `filter` selects (a condition on `p`, the place,
/// with one `?`: the id), their amenity links and their reviews first.
fn places_where(filter: &str) -> Vec<String> {
    vec![
        format!(
            "DELETE pa FROM place_amenity pa JOIN places p ON p.id = pa.place_id WHERE {filter}"
        ),
        format!("DELETE r FROM reviews r JOIN places p ON p.id = r.place_id WHERE {filter}"),
        format!("DELETE p FROM places p WHERE {filter}"),
    ]
}

/// The statements deleting a row of `table` and everything that depends on it, dependents first,
/// each taking the row's id, the row itself last: what `ON DELETE CASCADE` does on the other
/// engines.
fn cascade(table: &str) -> Vec<String> {
    let then = |mut first: Vec<String>, rest: &[&str]| {
        first.extend(rest.iter().map(|sql| (*sql).to_owned()));
        first
    };
    match table {
        "states" => then(
            places_where("p.city_id IN (SELECT c.id FROM cities c WHERE c.state_id = ?)"),
            &[
                "DELETE FROM cities WHERE state_id = ?",
                "DELETE FROM states WHERE id = ?",
            ],
        ),
        "cities" => then(
            places_where("p.city_id = ?"),
            &["DELETE FROM cities WHERE id = ?"],
        ),
        "users" => then(
            places_where("p.user_id = ?"),
            &[
                "DELETE FROM reviews WHERE user_id = ?",
                "DELETE FROM users WHERE id = ?",
            ],
        ),
        "places" => places_where("p.id = ?"),
        "amenities" => then(
            Vec::new(),
            &[
                "DELETE FROM place_amenity WHERE amenity_id = ?",
                "DELETE FROM amenities WHERE id = ?",
            ],
        ),
        "reviews" => then(Vec::new(), &["DELETE FROM reviews WHERE id = ?"]),
        _ => Vec::new(),
    }
}

/// Deletes row `id` of `table` and its dependents in one transaction: the rows of `table` it
/// deleted (0 when there was none).
async fn delete(pool: &MySqlPool, table: &str, id: &str) -> Result<u64> {
    let statements = cascade(table);
    with_retries!(pool, |connection| {
        let mut tx = connection.begin().await?;
        let mut deleted = 0;
        for sql in &statements {
            deleted = sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    })
}

/// Applies the migrations, one process at a time per database (`GET_LOCK`). A database that has
/// the course's tables but no `_sqlx_migrations` is adopted: its schema is taken as our first
/// migration (baselined), and is not changed.
async fn migrate(pool: &MySqlPool, migrator: &'static Migrator) -> Result<()> {
    let mut conn = acquire(pool).await?;
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('hbnb_migrate_', DATABASE()), 120)")
            .fetch_one(&mut *conn)
            .await?;
    if locked != Some(1) {
        return Err(StorageError::Lock {
            path: "GET_LOCK('hbnb_migrate_<database>')".to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "another process held the migration lock for 120 s",
            ),
        });
    }
    let result = async {
        baseline(&mut conn, migrator).await?;
        migrator.run(&mut *conn).await?;
        Ok(())
    }
    .await;
    let _ = sqlx::query("SELECT RELEASE_LOCK(CONCAT('hbnb_migrate_', DATABASE()))")
        .execute(&mut *conn)
        .await;
    result
}

async fn baseline(conn: &mut MySqlConnection, migrator: &'static Migrator) -> Result<()> {
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE()",
    )
    .fetch_all(&mut *conn)
    .await?;
    if present.iter().any(|t| t == "_sqlx_migrations") {
        return Ok(());
    }
    let found: Vec<&str> = TABLES
        .into_iter()
        .filter(|t| present.iter().any(|p| p == t))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    if found.len() < TABLES.len() {
        let missing: Vec<&str> = TABLES.into_iter().filter(|t| !found.contains(t)).collect();
        return Err(StorageError::PartialSchema(format!(
            "found {}, missing {}",
            found.join(", "),
            missing.join(", ")
        )));
    }
    let Some(first) = migrator.iter().next() else {
        return Ok(());
    };
    conn.ensure_migrations_table().await?;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, ?, TRUE, ?, -1)",
    )
    .bind(first.version)
    .bind(&*first.description)
    .bind(&*first.checksum)
    .execute(&mut *conn)
    .await?;
    tracing::info!(
        version = first.version,
        "adopted an existing HBNB schema (the course's tables): baselined, not changed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_are_question_marks() {
        assert_eq!(
            placeholders("SELECT * FROM t WHERE a = $1 AND b IN ($2, $10) AND c = '$'"),
            "SELECT * FROM t WHERE a = ? AND b IN (?, ?) AND c = '$'"
        );
    }

    #[test]
    fn text_sorts_by_its_bytes() {
        assert_eq!(
            super::statement("SELECT * FROM t WHERE a = $1 ORDER BY created_at, id"),
            "SELECT * FROM t WHERE a = ? ORDER BY created_at, BINARY id"
        );
        assert_eq!(
            super::statement("SELECT p.* FROM places p ORDER BY p.name, p.id"),
            "SELECT p.* FROM places p ORDER BY BINARY p.name, BINARY p.id"
        );
        assert_eq!(super::statement("SELECT 1"), "SELECT 1");
    }
}
