//! What MySQL/MariaDB does differently: `?` placeholders, no `RETURNING` on UPDATE (a write and the
//! read of its row run in one transaction), deletes that cascade in SQL (a course database's
//! foreign keys do not cascade), and migrations that adopt a database the course's own SQL made.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::{MySql, MySqlArguments, MySqlConnection, MySqlPool};
use sqlx::query::Query;
use sqlx::Connection;

use crate::models::Model;
use crate::{Result, StorageError};

/// One statement with its arguments bound.
pub(crate) type Statement<'q> = Query<'q, MySql, MySqlArguments>;

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

/// Runs `statement()`, then reads row `id` of `M`, in one transaction; retried on a deadlock.
/// None when there is no such row (an UPDATE of a vanished row).
pub(crate) async fn write_then_read<'q, M: Model>(
    pool: &MySqlPool,
    statement: impl Fn() -> Statement<'q>,
    id: &str,
) -> Result<Option<M>> {
    let read = format!("SELECT * FROM {} WHERE id = ?", M::TABLE);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut connection = crate::acquire(pool).await?;
        let run = crate::answer_within(async {
            let mut tx = connection.begin().await?;
            statement().execute(&mut *tx).await?;
            let row = sqlx::query_as::<_, M>(&read)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })
        .await;
        crate::release(&mut connection, &run);
        match run {
            Err(error) if attempt < RETRIES && retryable(&error) => continue,
            done => return Ok(done?),
        }
    }
}

/// An INSERT and the row it made.
pub(crate) async fn insert<'q, M: Model>(
    pool: &MySqlPool,
    statement: impl Fn() -> Statement<'q>,
    id: &str,
) -> Result<M> {
    write_then_read(pool, statement, id)
        .await?
        .ok_or(StorageError::Sqlx(sqlx::Error::RowNotFound))
}

/// Runs `statement()` alone (retried on a deadlock): the rows it affected.
pub(crate) async fn execute<'q>(
    pool: &MySqlPool,
    statement: impl Fn() -> Statement<'q>,
) -> Result<u64> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut connection = crate::acquire(pool).await?;
        let run = crate::answer_within(statement().execute(&mut *connection)).await;
        crate::release(&mut connection, &run);
        match run {
            Err(error) if attempt < RETRIES && retryable(&error) => continue,
            done => return Ok(done?.rows_affected()),
        }
    }
}

/// The statements deleting a row of `table` and everything that depends on it, dependents first,
/// each taking the row's id: what `ON DELETE CASCADE` does on the other engines.
fn cascade(table: &str) -> &'static [&'static str] {
    match table {
        "states" => &[
            "DELETE pa FROM place_amenity pa JOIN places p ON p.id = pa.place_id \
             JOIN cities c ON c.id = p.city_id WHERE c.state_id = ?",
            "DELETE r FROM reviews r JOIN places p ON p.id = r.place_id \
             JOIN cities c ON c.id = p.city_id WHERE c.state_id = ?",
            "DELETE p FROM places p JOIN cities c ON c.id = p.city_id WHERE c.state_id = ?",
            "DELETE FROM cities WHERE state_id = ?",
            "DELETE FROM states WHERE id = ?",
        ],
        "cities" => &[
            "DELETE pa FROM place_amenity pa JOIN places p ON p.id = pa.place_id \
             WHERE p.city_id = ?",
            "DELETE r FROM reviews r JOIN places p ON p.id = r.place_id WHERE p.city_id = ?",
            "DELETE FROM places WHERE city_id = ?",
            "DELETE FROM cities WHERE id = ?",
        ],
        "users" => &[
            "DELETE pa FROM place_amenity pa JOIN places p ON p.id = pa.place_id \
             WHERE p.user_id = ?",
            "DELETE r FROM reviews r JOIN places p ON p.id = r.place_id WHERE p.user_id = ?",
            "DELETE FROM reviews WHERE user_id = ?",
            "DELETE FROM places WHERE user_id = ?",
            "DELETE FROM users WHERE id = ?",
        ],
        "places" => &[
            "DELETE FROM place_amenity WHERE place_id = ?",
            "DELETE FROM reviews WHERE place_id = ?",
            "DELETE FROM places WHERE id = ?",
        ],
        "amenities" => &[
            "DELETE FROM place_amenity WHERE amenity_id = ?",
            "DELETE FROM amenities WHERE id = ?",
        ],
        "reviews" => &["DELETE FROM reviews WHERE id = ?"],
        _ => &[],
    }
}

/// Deletes row `id` of `table` and its dependents in one transaction. False when there was none.
pub(crate) async fn delete(pool: &MySqlPool, table: &str, id: &str) -> Result<bool> {
    let statements = cascade(table);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut connection = crate::acquire(pool).await?;
        let run = crate::answer_within(async {
            let mut tx = connection.begin().await?;
            let mut deleted = 0;
            for sql in statements {
                deleted = sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(deleted > 0)
        })
        .await;
        crate::release(&mut connection, &run);
        match run {
            Err(error) if attempt < RETRIES && retryable(&error) => continue,
            done => return Ok(done?),
        }
    }
}

/// Applies the migrations, one process at a time per database (`GET_LOCK`). A database that has
/// the course's tables but no `_sqlx_migrations` is adopted: its schema is taken as our first
/// migration (baselined), and is not changed.
pub(crate) async fn migrate(pool: &MySqlPool, migrator: &'static Migrator) -> Result<()> {
    let mut conn = crate::acquire(pool).await?;
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
