//! MySQL/MariaDB: `mariadb-dump` (or `mysqldump` on a MySQL server) with `--single-transaction`
//! (one consistent InnoDB snapshot, writers never blocked), one `INSERT` per row so that the
//! manifest's row counts and migration version are read from the dump itself (exactly what was
//! dumped), the `mariadb` (`mysql`) client restoring into a scratch database to verify, and into
//! the target to restore. The password goes to the tools through `MYSQL_PWD`, never the command
//! line.
//!
//! The tools must have the server's major version: they are looked for in `MYSQL_BIN_DIR`, else
//! on `PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::io::AsyncBufReadExt;

use crate::backend::{Backend, BinlogPosition, Contents, Snapshot};
use crate::database_url::DatabaseUrl;
use crate::error::{failed, Context, Error, Result};
use crate::pg::split_password;
use crate::tables::{self, Scratch};
use crate::tool;
use hbnb_storage::TABLES;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct MysqlBackend {
    /// `mariadb://` is already written `mysql://` here (database_url.rs).
    pub(crate) url: DatabaseUrl,
    /// `MYSQL_BIN_DIR`.
    pub(crate) bin_dir: Option<PathBuf>,
}

/// Where the tools connect: from the URL, password apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub tls: Tls,
}

/// The TLS settings of the URL (`ssl-mode`, `ssl-ca`, `ssl-cert`, `ssl-key`, and sqlx's other
/// spellings `sslmode`, `sslca`...), given to the client tools as the options they take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tls {
    /// Upper-cased: DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY.
    pub mode: Option<String>,
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

impl Tls {
    fn of_url(url: &DatabaseUrl) -> Tls {
        let mut tls = Tls::default();
        for (key, value) in hbnb_storage::query_parameters(url.as_str()) {
            match key.as_str() {
                "ssl-mode" | "sslmode" => tls.mode = Some(value.to_ascii_uppercase()),
                "ssl-ca" | "sslca" => tls.ca = Some(value),
                "ssl-cert" | "sslcert" => tls.cert = Some(value),
                "ssl-key" | "sslkey" => tls.key = Some(value),
                _ => {}
            }
        }
        tls
    }

    /// The options for a client tool: MariaDB's (`mariadb`, `mariadb-dump`) have no
    /// `--ssl-mode`; `--ssl-verify-server-cert` checks the CA and the host name both, so
    /// VERIFY_CA is checked as VERIFY_IDENTITY is there. MySQL's take `--ssl-mode` as sqlx does.
    pub fn arguments(&self, mariadb: bool) -> Vec<String> {
        let mut arguments = Vec::new();
        if mariadb {
            match self.mode.as_deref() {
                Some("DISABLED") => arguments.push("--skip-ssl".to_owned()),
                Some("REQUIRED") => {
                    arguments.push("--ssl".to_owned());
                    arguments.push("--skip-ssl-verify-server-cert".to_owned());
                }
                Some("VERIFY_CA" | "VERIFY_IDENTITY") => {
                    arguments.push("--ssl".to_owned());
                    arguments.push("--ssl-verify-server-cert".to_owned());
                }
                _ => {}
            }
        } else if let Some(mode) = &self.mode {
            arguments.push(format!("--ssl-mode={mode}"));
        }
        if self.mode.as_deref() != Some("DISABLED") {
            for (option, value) in [
                ("--ssl-ca", &self.ca),
                ("--ssl-cert", &self.cert),
                ("--ssl-key", &self.key),
            ] {
                if let Some(value) = value {
                    arguments.push(format!("{option}={value}"));
                }
            }
        }
        arguments
    }
}

fn options(url: &DatabaseUrl) -> Result<MySqlConnectOptions> {
    MySqlConnectOptions::from_str(url.as_str()).context("invalid MySQL DATABASE_URL")
}

pub fn target(url: &DatabaseUrl) -> Result<Target> {
    let options = options(url)?;
    let database = options
        .get_database()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| failed("the MySQL DATABASE_URL names no database"))?
        .to_owned();
    Ok(Target {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        socket: options.get_socket().cloned(),
        user: options.get_username().to_owned(),
        password: split_password(url).password,
        database,
        tls: Tls::of_url(url),
    })
}

pub async fn connect(url: &DatabaseUrl) -> Result<MySqlConnection> {
    let options = options(url)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(result) => result.map_err(|error| tables::connect_failed("MySQL/MariaDB", url, error)),
        Err(_) => Err(failed(format!(
            "cannot connect to MySQL/MariaDB at {} within {CONNECT_TIMEOUT:?}",
            url.server_address()
        ))),
    }
}

/// The server: its version text, whether it is MariaDB, its major version.
pub(crate) struct Server {
    pub(crate) version: String,
    pub(crate) mariadb: bool,
    pub(crate) major: u32,
}

impl Server {
    fn dump_tool(&self) -> &'static str {
        if self.mariadb {
            "mariadb-dump"
        } else {
            "mysqldump"
        }
    }

    pub(crate) fn client_tool(&self) -> &'static str {
        if self.mariadb {
            "mariadb"
        } else {
            "mysql"
        }
    }
}

pub(crate) async fn server(conn: &mut MySqlConnection) -> Result<Server> {
    let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
        .fetch_one(&mut *conn)
        .await
        .context("cannot query the server version")?;
    let major = leading_number(&version).unwrap_or(0);
    let mariadb = version.contains("MariaDB");
    let name = if mariadb { "MariaDB" } else { "MySQL" };
    Ok(Server {
        version: format!("{name} {version}"),
        mariadb,
        major,
    })
}

fn leading_number(text: &str) -> Option<u32> {
    text.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The server major version a tool's `--version` line is for:
/// `mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, ...` → 10,
/// `mariadb-dump from 11.4.2-MariaDB, ...` → 11, `mysqldump  Ver 8.0.36 for Linux` → 8.
pub fn tool_major(line: &str) -> Option<u32> {
    let after = ["Distrib ", " from ", " Ver "]
        .iter()
        .find_map(|marker| line.split_once(marker).map(|(_, rest)| rest))?;
    leading_number(after.trim_start())
}

pub(crate) async fn find_tool(
    tool: &str,
    bin_dir: Option<&Path>,
    major: u32,
) -> Result<(PathBuf, String)> {
    let candidate = match bin_dir {
        Some(dir) => dir.join(tool),
        None => PathBuf::from(tool),
    };
    let Some(line) = tool::version_line(&candidate).await? else {
        return Err(failed(format!(
            "{tool} not found (the server's major version is {major}): install the client \
             tools (Debian: apt-get install mariadb-client) or point MYSQL_BIN_DIR at them"
        )));
    };
    match tool_major(&line) {
        Some(found) if found == major => Ok((candidate, line)),
        _ => Err(failed(format!(
            "no {tool} of the server's major version {major} ({} is {line:?}): point \
             MYSQL_BIN_DIR at the matching client tools",
            candidate.display()
        ))),
    }
}

/// A command for a client tool on `target`: the password through `MYSQL_PWD`; no option file is
/// read (`--no-defaults`); the URL's TLS settings as the tool's options (MariaDB's tools are
/// told by their name); killed if this process dies or drops the future.
pub(crate) fn tool_command(tool: &Path, target: &Target) -> tokio::process::Command {
    let mut command = tool::command(tool);
    let mariadb = tool
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("mariadb"));
    command
        .arg("--no-defaults")
        .arg(format!("--user={}", target.user))
        .args(target.tls.arguments(mariadb));
    match &target.socket {
        Some(socket) => command.arg(format!("--socket={}", socket.display())),
        None => command
            .arg(format!("--host={}", target.host))
            .arg(format!("--port={}", target.port))
            .arg("--protocol=TCP"),
    };
    match &target.password {
        Some(password) => command.env("MYSQL_PWD", password),
        None => command.env_remove("MYSQL_PWD"),
    };
    command
}

/// The rows per table and the newest migration in a dump: one `INSERT INTO `t` VALUES (...);`
/// line per row (`--skip-extended-insert`; the dump escapes newlines inside values).
pub async fn read_dump(file: &Path) -> Result<(i64, BTreeMap<String, i64>)> {
    let opened = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let mut lines = tokio::io::BufReader::new(opened).lines();
    let mut tables: BTreeMap<String, i64> = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
    let mut version = 0;
    while let Some(line) = lines
        .next_line()
        .await
        .with_context(|| format!("cannot read {}", file.display()))?
    {
        let Some(rest) = line.strip_prefix("INSERT INTO `") else {
            continue;
        };
        let Some((table, values)) = rest.split_once("` VALUES (") else {
            continue;
        };
        if table == "_sqlx_migrations" {
            if let Some(found) = values.split(',').next().and_then(|v| v.parse::<i64>().ok()) {
                version = version.max(found);
            }
        } else if let Some(count) = tables.get_mut(table) {
            *count += 1;
        }
    }
    Ok((version, tables))
}

/// Whether the server writes a binary log (`log_bin`); false when it cannot be read.
pub(crate) async fn binlog_on(conn: &mut MySqlConnection) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT CAST(@@log_bin AS SIGNED)")
        .fetch_one(conn)
        .await
        .is_ok_and(|on| on == 1)
}

/// The binary log position `--master-data=2` wrote near the top of a dump:
/// `-- CHANGE MASTER TO MASTER_LOG_FILE='hbnb-bin.000003', MASTER_LOG_POS=1234;`.
async fn binlog_position(file: &Path) -> Result<Option<BinlogPosition>> {
    let opened = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let mut lines = tokio::io::BufReader::new(opened).lines();
    let mut read = 0;
    while let Some(line) = lines
        .next_line()
        .await
        .with_context(|| format!("cannot read {}", file.display()))?
    {
        if let Some(found) = parse_change_master(&line) {
            return Ok(Some(found));
        }
        read += 1;
        if read > 200 || line.starts_with("INSERT INTO") {
            break;
        }
    }
    Ok(None)
}

fn parse_change_master(line: &str) -> Option<BinlogPosition> {
    let rest = line.split_once("CHANGE MASTER TO MASTER_LOG_FILE='")?.1;
    let (file, rest) = rest.split_once('\'')?;
    let position = rest.split_once("MASTER_LOG_POS=")?.1;
    let digits: String = position.chars().take_while(char::is_ascii_digit).collect();
    Some(BinlogPosition {
        file: file.to_owned(),
        position: digits.parse().ok()?,
    })
}

/// Feeds `file` to the client tool on `target`'s database.
async fn load(tool: &Path, target: &Target, file: &Path, what: &str) -> Result<()> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut command = tool_command(tool, target);
    command
        .arg("--default-character-set=utf8mb4")
        .arg("--batch")
        .arg(&target.database)
        .stdin(Stdio::from(input));
    tool::run(&mut command, what).await
}

impl Backend for MysqlBackend {
    fn verification_method(&self) -> &'static str {
        "rows and migration read from the dump, restore into a temporary MySQL/MariaDB database, \
         row counts"
    }

    /// Dumps the database into `partial`.
    async fn dump(&self, partial: &Path) -> Result<Snapshot> {
        let target = target(&self.url)?;
        let mut conn = connect(&self.url).await?;
        let server = server(&mut conn).await;
        let logging = binlog_on(&mut conn).await;
        let _ = conn.close().await;
        let server = server?;
        let (tool, tool_version) =
            find_tool(server.dump_tool(), self.bin_dir.as_deref(), server.major).await?;
        let mut command = tool_command(&tool, &target);
        // MariaDB reads the binary log's position in the dump's own snapshot (no global read
        // lock, unlike MySQL): written as a comment, the start of a point-in-time replay.
        if server.mariadb && logging {
            command.arg("--master-data=2");
        }
        command
            .arg("--single-transaction")
            .arg("--skip-extended-insert")
            .arg("--no-autocommit")
            .arg("--skip-lock-tables")
            .arg("--hex-blob")
            .arg("--default-character-set=utf8mb4")
            .arg(format!("--result-file={}", partial.display()))
            .arg(&target.database);
        tool::run(&mut command, server.dump_tool()).await?;
        let (migration_version, tables) = read_dump(partial).await?;
        let binlog = if server.mariadb && logging {
            Some(binlog_position(partial).await?.ok_or_else(|| {
                failed("the dump does not say where the binary log stood (CHANGE MASTER TO)")
            })?)
        } else {
            None
        };
        Ok(Snapshot {
            server_version: server.version,
            dump_tool: tool_version,
            migration_version,
            tables,
            binlog,
        })
    }

    /// Restores `file` into a temporary database on the same server (created and dropped here;
    /// the account needs CREATE and DROP) and returns its migration version and row counts. The
    /// client stops at the first failing statement, so a row breaking a constraint fails it.
    async fn restore_scratch(&self, file: &Path) -> Result<Contents> {
        let mut admin = connect(&self.url).await?;
        let server = server(&mut admin).await?;
        let (client, _) =
            find_tool(server.client_tool(), self.bin_dir.as_deref(), server.major).await?;
        let scratch = Scratch {
            quote: '`',
            drop_options: "",
            privilege: "CREATE",
        };
        scratch
            .run(admin, &self.url, |scratch_url| async move {
                let scratch = target(&scratch_url)?;
                load(&client, &scratch, file, server.client_tool())
                    .await
                    .map_err(|e| Error::Verification(e.to_string()))?;
                contents(&scratch_url).await
            })
            .await
    }

    /// Restores `file` into the database (its tables are dropped and re-created, then
    /// filled; MySQL's DDL is not transactional, so a failed restore can leave it half done: restore
    /// again). Refuses a database with rows unless `force`.
    /// The backup's migration is not checked: the dump re-creates the tables as dumped.
    async fn restore(&self, file: &Path, force: bool, _migration: i64) -> Result<()> {
        let target = target(&self.url)?;
        let mut conn = connect(&self.url).await?;
        let server = server(&mut conn).await?;
        let present: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE()",
        )
        .fetch_all(&mut conn)
        .await
        .context("cannot read the target's schema")?;
        let mut nonempty = Vec::new();
        for table in TABLES.iter().filter(|t| present.iter().any(|p| p == *t)) {
            let any: Option<i32> = sqlx::query_scalar(&format!("SELECT 1 FROM `{table}` LIMIT 1"))
                .fetch_optional(&mut conn)
                .await
                .with_context(|| format!("cannot read the target's {table}"))?;
            if any.is_some() {
                nonempty.push(*table);
            }
        }
        let _ = conn.close().await;
        if !nonempty.is_empty() && !force {
            return Err(Error::Refused(format!(
                "the target database is not empty (rows in {}); pass --force to replace it",
                nonempty.join(", ")
            )));
        }
        let (client, _) =
            find_tool(server.client_tool(), self.bin_dir.as_deref(), server.major).await?;
        load(&client, &target, file, server.client_tool()).await
    }

    async fn inspect(&self) -> Result<Contents> {
        contents(&self.url).await
    }
}

/// Counts and migration version of the database at `url` (after a restore).
async fn contents(url: &DatabaseUrl) -> Result<Contents> {
    // Cast, so that the answer decodes as an i64 whatever type MySQL gives MAX() here.
    let version =
        "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM _sqlx_migrations WHERE success";
    tables::inspect(connect(url).await?, version).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target_of(text: &str) -> Target {
        target(&DatabaseUrl::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn gives_the_tools_the_tls_settings() {
        let t = target_of("mariadb://hbnb:pw@db.internal:3306/hbnb?ssl-mode=verify_identity&ssl-ca=/etc/hbnb/ca%20x.pem");
        assert_eq!(
            t.tls.arguments(true),
            [
                "--ssl",
                "--ssl-verify-server-cert",
                "--ssl-ca=/etc/hbnb/ca x.pem"
            ]
        );
        assert_eq!(
            t.tls.arguments(false),
            ["--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/etc/hbnb/ca x.pem"]
        );
        let off = target_of("mysql://u@h/db?sslmode=disabled&sslca=/ca.pem");
        assert_eq!(off.tls.arguments(true), ["--skip-ssl"]);
        let required = target_of("mysql://u@h/db?ssl-mode=REQUIRED");
        assert_eq!(
            required.tls.arguments(true),
            ["--ssl", "--skip-ssl-verify-server-cert"]
        );
    }

    #[test]
    fn reads_the_binlog_position_of_a_dump() {
        assert_eq!(
            parse_change_master(
                "-- CHANGE MASTER TO MASTER_LOG_FILE='hbnb-bin.000003', MASTER_LOG_POS=1234;"
            ),
            Some(BinlogPosition {
                file: "hbnb-bin.000003".into(),
                position: 1234
            })
        );
        assert_eq!(parse_change_master("-- MariaDB dump 10.19"), None);
    }

    #[test]
    fn reads_tool_versions() {
        assert_eq!(
            tool_major("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu"),
            Some(10)
        );
        assert_eq!(
            tool_major("mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux"),
            Some(11)
        );
        assert_eq!(
            tool_major("mysqldump  Ver 8.0.36 for Linux on x86_64"),
            Some(8)
        );
        assert_eq!(tool_major("garbage"), None);
    }

    #[test]
    fn splits_the_url() {
        let t = target_of("mariadb://hbnb:s%40cret@127.0.0.1:3307/hbnb_dev_db");
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.user.as_str(),
                t.database.as_str()
            ),
            ("127.0.0.1", 3307, "hbnb", "hbnb_dev_db")
        );
        assert_eq!(t.password.as_deref(), Some("s@cret"));
        assert_eq!(t.tls, Tls::default());
    }
}
