//! PostgreSQL: `pg_dump --format=custom` run as a child process inside a snapshot this process
//! exported (so the row counts in the manifest describe exactly what was dumped), `pg_restore`
//! into a temporary database to verify, and `pg_restore --clean` to restore.
//!
//! The tools must have the server's major version: they are looked for in `PG_BIN_DIR`, else in
//! `/usr/lib/postgresql/<major>/bin` (Debian's layout), else on `PATH`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, Postgres};
use sqlx::{ConnectOptions, Connection};

use crate::backend::{Backend, Contents, Snapshot};
use crate::database_url::DatabaseUrl;
use crate::error::{failed, Context, Error, Result};
use crate::tables::{self, counts, migration_version, Scratch, MIGRATION_VERSION};
use crate::tool;
use hbnb_storage::TABLES;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct PgBackend {
    pub(crate) url: DatabaseUrl,
    /// `PG_BIN_DIR`.
    pub(crate) bin_dir: Option<PathBuf>,
}

/// A libpq URL split into the URL without its password (safe on a command line) and the password
/// (passed through `PGPASSWORD`). The TLS parameters (`sslmode`, `sslrootcert`, `sslcert`,
/// `sslkey`) stay in the URL, where libpq reads them as sqlx does; sqlx's other spellings of
/// them are written as libpq's (see `libpq_parameters`).
#[derive(Debug, Clone, PartialEq)]
pub struct PgUrl {
    pub without_password: String,
    pub password: Option<String>,
}

pub fn split_password(url: &DatabaseUrl) -> PgUrl {
    let url = &libpq_parameters(url.as_str());
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return PgUrl {
            without_password: url.to_owned(),
            password: None,
        };
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return PgUrl {
            without_password: url.to_owned(),
            password: None,
        };
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((user, password)) => PgUrl {
            without_password: format!(
                "{}{user}{}{}",
                &url[..scheme_end],
                &authority[at..],
                &rest[authority_end..]
            ),
            password: Some(
                percent_encoding::percent_decode_str(password)
                    .decode_utf8_lossy()
                    .into_owned(),
            ),
        },
        None => PgUrl {
            without_password: url.to_owned(),
            password: None,
        },
    }
}

/// `url` with the query parameters sqlx takes under other names written as libpq's (`ssl-mode`
/// -> `sslmode`, `ssl-root-cert` and `ssl-ca` -> `sslrootcert`, `ssl-cert` -> `sslcert`,
/// `ssl-key` -> `sslkey`), and sqlx's own `statement-cache-capacity` left out: libpq refuses
/// a URI with a parameter it does not know.
pub fn libpq_parameters(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = match key {
                "ssl-mode" => "sslmode",
                "ssl-root-cert" | "ssl-ca" => "sslrootcert",
                "ssl-cert" => "sslcert",
                "ssl-key" => "sslkey",
                "statement-cache-capacity" => return None,
                key => key,
            };
            Some(format!("{key}={value}"))
        })
        .collect();
    if pairs.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

pub async fn connect(url: &DatabaseUrl) -> Result<PgConnection> {
    let options =
        PgConnectOptions::from_str(url.as_str()).context("invalid PostgreSQL DATABASE_URL")?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(result) => result.map_err(|error| tables::connect_failed("PostgreSQL", url, error)),
        Err(_) => Err(failed(format!(
            "cannot connect to PostgreSQL at {} within {CONNECT_TIMEOUT:?}",
            url.server_address()
        ))),
    }
}

/// `(version text, major)` of the server.
pub(crate) async fn server_version(conn: &mut PgConnection) -> Result<(String, u32)> {
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut *conn)
        .await
        .context("cannot query the server version")?;
    let num: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *conn)
        .await
        .context("cannot query the server version")?;
    Ok((format!("PostgreSQL {version}"), (num / 10000) as u32))
}

/// The major version a `--version` line reports: `pg_dump (PostgreSQL) 15.8 (Debian ...)` → 15.
pub fn tool_major(version_line: &str) -> Option<u32> {
    let after = version_line
        .split_once(')')
        .map(|(_, v)| v)
        .unwrap_or(version_line);
    let token = after
        .split_whitespace()
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
    token
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Finds `tool` (pg_dump / pg_restore) of the server's major version, with its version line.
pub async fn find_tool(
    tool: &str,
    bin_dir: Option<&Path>,
    major: u32,
) -> Result<(PathBuf, String)> {
    let candidates: Vec<PathBuf> = match bin_dir {
        Some(dir) => vec![dir.join(tool)],
        None => vec![
            PathBuf::from(format!("/usr/lib/postgresql/{major}/bin/{tool}")),
            PathBuf::from(tool),
        ],
    };
    let mut mismatches = Vec::new();
    for candidate in candidates {
        let Some(line) = tool::version_line(&candidate).await? else {
            continue;
        };
        match tool_major(&line) {
            Some(found) if found == major => return Ok((candidate, line)),
            _ => mismatches.push(format!("{} is {line:?}", candidate.display())),
        }
    }
    let hint = format!(
        "install the PostgreSQL {major} client tools (Debian: apt-get install postgresql-client-{major}) \
         or point PG_BIN_DIR at their directory"
    );
    if mismatches.is_empty() {
        Err(failed(format!(
            "{tool} not found (the server is PostgreSQL {major}): {hint}"
        )))
    } else {
        Err(failed(format!(
            "no {tool} of the server's major version {major} ({}): {hint}",
            mismatches.join(", ")
        )))
    }
}

/// A command for a libpq tool: password through the environment, not the command line; killed
/// if this process dies (PR_SET_PDEATHSIG) or drops the future.
pub(crate) fn tool_command(tool: &Path, url: &DatabaseUrl) -> (tokio::process::Command, String) {
    let split = split_password(url);
    let mut command = tool::command(tool);
    command.env("PGCONNECT_TIMEOUT", "15");
    if let Some(password) = split.password {
        command.env("PGPASSWORD", password);
    }
    (command, split.without_password)
}

impl Backend for PgBackend {
    fn verification_method(&self) -> &'static str {
        "pg_restore into a temporary PostgreSQL database, row counts"
    }

    /// Dumps the database into `partial`.
    async fn dump(&self, partial: &Path) -> Result<Snapshot> {
        let mut conn = connect(&self.url).await?;
        let (server_version, major) = server_version(&mut conn).await?;
        let (pg_dump, tool_version) = find_tool("pg_dump", self.bin_dir.as_deref(), major).await?;
        // Export a snapshot, count in it, and have pg_dump dump exactly that snapshot.
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut conn)
            .await
            .context("cannot begin the snapshot transaction")?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut conn)
            .await
            .context("cannot export a snapshot")?;
        let tables = counts::<Postgres>(&mut conn).await?;
        let migration_version = migration_version::<Postgres>(&mut conn, MIGRATION_VERSION).await?;
        let (mut command, libpq_url) = tool_command(&pg_dump, &self.url);
        command
            .arg("--format=custom")
            // zstd compresses the whole file afterwards (compress.rs), better than zlib inside.
            .arg("--compress=0")
            .arg("--no-password")
            .arg(format!("--snapshot={snapshot}"))
            .arg("--file")
            .arg(partial)
            .arg("--dbname")
            .arg(libpq_url);
        let result = tool::run(&mut command, "pg_dump").await;
        let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
        let _ = conn.close().await;
        result?;
        Ok(Snapshot {
            server_version,
            dump_tool: tool_version,
            migration_version,
            tables,
            binlog: None,
        })
    }

    /// Restores `file` into a temporary database on the same server (created and dropped here;
    /// the role needs CREATEDB) and returns its migration version and row counts. `pg_restore
    /// --exit-on-error` fails when any row breaks a constraint, so foreign keys are checked too.
    async fn restore_scratch(&self, file: &Path) -> Result<Contents> {
        let mut admin = connect(&self.url).await?;
        let (_, major) = server_version(&mut admin).await?;
        let (pg_restore, _) = find_tool("pg_restore", self.bin_dir.as_deref(), major).await?;
        let scratch = Scratch {
            quote: '"',
            drop_options: "WITH (FORCE)",
            privilege: "CREATEDB",
        };
        scratch
            .run(admin, &self.url, |scratch_url| async move {
                let (mut command, libpq_url) = tool_command(&pg_restore, &scratch_url);
                command
                    .arg("--no-owner")
                    .arg("--no-privileges")
                    .arg("--exit-on-error")
                    .arg("--no-password")
                    .arg("--dbname")
                    .arg(libpq_url)
                    .arg(file);
                tool::run(&mut command, "pg_restore")
                    .await
                    .map_err(|e| Error::Verification(e.to_string()))?;
                contents(&scratch_url).await
            })
            .await
    }

    /// Restores `file` into the database with `pg_restore --clean --if-exists
    /// --single-transaction` (all or nothing). Refuses a database with rows unless `force`.
    /// The backup's migration is not checked: `--clean` re-creates the schema as dumped.
    async fn restore(&self, file: &Path, force: bool, _migration: i64) -> Result<()> {
        let mut conn = connect(&self.url).await?;
        let (_, major) = server_version(&mut conn).await?;
        let mut nonempty = Vec::new();
        for table in TABLES {
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(format!("public.{table}"))
                .fetch_one(&mut conn)
                .await
                .context("cannot read the target's schema")?;
            if !exists {
                continue;
            }
            let any: Option<i32> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} LIMIT 1"))
                .fetch_optional(&mut conn)
                .await
                .with_context(|| format!("cannot read the target's {table}"))?;
            if any.is_some() {
                nonempty.push(table);
            }
        }
        let _ = conn.close().await;
        if !nonempty.is_empty() && !force {
            return Err(Error::Refused(format!(
                "the target database is not empty (rows in {}); pass --force to replace it",
                nonempty.join(", ")
            )));
        }
        let (pg_restore, _) = find_tool("pg_restore", self.bin_dir.as_deref(), major).await?;
        let (mut command, libpq_url) = tool_command(&pg_restore, &self.url);
        command
            .arg("--clean")
            .arg("--if-exists")
            .arg("--single-transaction")
            .arg("--exit-on-error")
            .arg("--no-owner")
            .arg("--no-privileges")
            .arg("--no-password")
            .arg("--dbname")
            .arg(libpq_url)
            .arg(file);
        tool::run(&mut command, "pg_restore").await
    }

    async fn inspect(&self) -> Result<Contents> {
        contents(&self.url).await
    }
}

/// Counts and migration version of the database at `url` (after a restore).
async fn contents(url: &DatabaseUrl) -> Result<Contents> {
    tables::inspect(connect(url).await?, MIGRATION_VERSION).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> DatabaseUrl {
        DatabaseUrl::parse(text).unwrap()
    }

    #[test]
    fn splits_the_password_out() {
        let split = split_password(&url(
            "postgres://hbnb:s%40cret@127.0.0.1:5432/db?sslmode=disable",
        ));
        assert_eq!(
            split.without_password,
            "postgres://hbnb@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(split.password.as_deref(), Some("s@cret"));
        let none = split_password(&url("postgres://hbnb@host/db"));
        assert_eq!(none.without_password, "postgres://hbnb@host/db");
        assert_eq!(none.password, None);
    }

    #[test]
    fn keeps_the_tls_parameters_in_libpq_spelling() {
        let split = split_password(&url(
            "postgres://hbnb:pw@db.internal:5432/hbnb?sslmode=verify-full&sslrootcert=/etc/hbnb/ca.pem",
        ));
        assert_eq!(
            split.without_password,
            "postgres://hbnb@db.internal:5432/hbnb?sslmode=verify-full&sslrootcert=/etc/hbnb/ca.pem"
        );
        assert_eq!(
            libpq_parameters(
                "postgres://u@h/db?ssl-mode=verify-ca&ssl-root-cert=/ca.pem&statement-cache-capacity=10&application_name=x"
            ),
            "postgres://u@h/db?sslmode=verify-ca&sslrootcert=/ca.pem&application_name=x"
        );
        assert_eq!(
            libpq_parameters("postgres://u@h/db?statement-cache-capacity=10"),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            hbnb_storage::with_database("postgres://u:p@h:5432/db?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            hbnb_storage::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }

    #[test]
    fn reads_tool_versions() {
        assert_eq!(
            tool_major("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(tool_major("pg_restore (PostgreSQL) 16.2"), Some(16));
        assert_eq!(tool_major("garbage"), None);
    }
}
