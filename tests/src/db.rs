//! Fresh databases for the API tests, on any of the three engines, and an api-service started on
//! one.
//!
//! SQLite: a new file in the temp directory. PostgreSQL: `CREATE DATABASE hbnb_test_<unique>`
//! through `psql` with the admin URL in `TEST_DATABASE_URL` (default
//! `postgres://hbnb:hbnb@127.0.0.1:5432/postgres`); dropped again when the test ends. MariaDB:
//! the same through the `mariadb` client with the admin URL in `TEST_MARIADB_URL` (default
//! `mysql://hbnb:hbnb@127.0.0.1:3306/mysql`). When a server cannot be reached the test fails (it
//! never skips): run `scripts/start-postgres.sh` and `scripts/start-mariadb.sh`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Service;

pub const DEFAULT_ADMIN_URL: &str = "postgres://hbnb:hbnb@127.0.0.1:5432/postgres";
pub const DEFAULT_MARIADB_ADMIN_URL: &str = "mysql://hbnb:hbnb@127.0.0.1:3306/mysql";

/// The engine a test runs on (`Mysql`: against a MariaDB server).
pub use hbnb_storage::Engine;

/// A database that exists for one test.
pub struct TestDb {
    pub engine: Engine,
    pub url: String,
    sqlite_path: Option<PathBuf>,
    pg_name: Option<String>,
    mariadb_name: Option<String>,
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_owned())
}

/// Runs one SQL statement through `psql` on the admin URL: its output, or Err(psql's output).
fn psql(sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .arg(admin_url())
        .args(["-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| format!("cannot run psql (install postgresql-client): {e}"))?;
    answer_of(output)
}

/// A client's standard output when it succeeded, else Err(everything it printed).
fn answer_of(output: std::process::Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

pub fn mariadb_admin_url() -> String {
    std::env::var("TEST_MARIADB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_MARIADB_ADMIN_URL.to_owned())
}

/// The parts of a `mysql://user:password@host:port/db` URL.
pub struct MariadbServer {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: String,
}

impl MariadbServer {
    pub fn from_admin_url() -> MariadbServer {
        let url = mariadb_admin_url();
        let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        let (userinfo, hostpart) = rest.rsplit_once('@').unwrap_or(("root", rest));
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let hostport = hostpart.split(['/', '?']).next().unwrap_or("127.0.0.1");
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
        MariadbServer {
            user: user.to_owned(),
            password: password.to_owned(),
            host: host.to_owned(),
            port: port.to_owned(),
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "mysql://{}:{}@{}:{}/{database}",
            self.user, self.password, self.host, self.port
        )
    }

    /// The `mariadb` client on this server (password in the environment, not on the command
    /// line), on `database` when given.
    pub fn client(&self, database: Option<&str>) -> Command {
        let mut command = Command::new("mariadb");
        command
            .args(["--no-defaults", "--batch", "--skip-column-names"])
            .args(["-h", &self.host, "-P", &self.port, "-u", &self.user])
            .args(database)
            .env("MYSQL_PWD", &self.password);
        command
    }

    /// Runs `sql` (one or more statements); Err(the client's output) on failure.
    pub fn run(&self, database: Option<&str>, sql: &str) -> Result<String, String> {
        let output = self
            .client(database)
            .args(["-e", sql])
            .output()
            .map_err(|e| format!("cannot run mariadb (install mariadb-client): {e}"))?;
        answer_of(output)
    }
}

/// The URL of database `name` on the admin URL's server.
fn database_url(name: &str) -> String {
    hbnb_storage::with_database(&admin_url(), name)
}

impl TestDb {
    pub fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let path =
                    std::env::temp_dir().join(format!("hbnb_test_{}.sqlite", unique_suffix()));
                TestDb {
                    engine,
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    sqlite_path: Some(path),
                    pg_name: None,
                    mariadb_name: None,
                }
            }
            Engine::Postgres => {
                let name = format!("hbnb_test_{}", unique_suffix());
                if let Err(error) = psql(&format!("CREATE DATABASE {name}")) {
                    panic!(
                        "PostgreSQL is required for this test and cannot be used at {} \
                         (TEST_DATABASE_URL): {error}\nStart it with scripts/start-postgres.sh",
                        admin_url()
                    );
                }
                TestDb {
                    engine,
                    url: database_url(&name),
                    sqlite_path: None,
                    pg_name: Some(name),
                    mariadb_name: None,
                }
            }
            Engine::Mysql => {
                let name = format!("hbnb_test_{}", unique_suffix());
                let server = MariadbServer::from_admin_url();
                if let Err(error) = server.run(None, &format!("CREATE DATABASE {name}")) {
                    panic!(
                        "MariaDB is required for this test and cannot be used at {} \
                         (TEST_MARIADB_URL): {error}\nStart it with scripts/start-mariadb.sh",
                        server.url("")
                    );
                }
                TestDb {
                    engine,
                    url: server.url(&name),
                    sqlite_path: None,
                    pg_name: None,
                    mariadb_name: Some(name),
                }
            }
        }
    }
}

impl TestDb {
    /// Runs one SQL statement through `psql` in this PostgreSQL database: its output.
    pub fn psql(&self, sql: &str) -> String {
        let output = Command::new("psql")
            .arg(&self.url)
            .args(["-v", "ON_ERROR_STOP=1", "-qtAc", sql])
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(
            output.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Ends, on the server's side, every connection open to this database (as a server restart
    /// or a firewall dropping idle connections would); how many there were.
    pub fn cut_connections(&self) -> usize {
        if let Some(name) = &self.pg_name {
            let killed = psql(&format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .unwrap_or_else(|error| panic!("cannot end the connections: {error}"));
            return killed.trim().parse().unwrap_or(0);
        }
        if let Some(name) = &self.mariadb_name {
            let server = MariadbServer::from_admin_url();
            let ids = server
                .run(
                    None,
                    &format!("SELECT id FROM information_schema.processlist WHERE db = '{name}'"),
                )
                .unwrap_or_else(|error| panic!("cannot list the connections: {error}"));
            let ids: Vec<&str> = ids.split_whitespace().collect();
            for id in &ids {
                // A connection may have ended meanwhile: that is what we want anyway.
                let _ = server.run(None, &format!("KILL {id}"));
            }
            return ids.len();
        }
        panic!("an SQLite file has no connections to cut");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm", ".migrate-lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some(name) = &self.pg_name {
            // Dropped in the background: the test need not wait for it.
            let _ = Command::new("psql")
                .arg(admin_url())
                .args([
                    "-qtAc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
        if let Some(name) = &self.mariadb_name {
            let _ = MariadbServer::from_admin_url()
                .client(None)
                .args(["-e", &format!("DROP DATABASE IF EXISTS {name}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
    }
}

/// An api-service on its own fresh database. Fields drop in order: the service stops first.
pub struct Api {
    pub service: Service,
    pub db: TestDb,
}

impl Api {
    pub async fn start(engine: Engine) -> Api {
        Self::start_with(engine, &[]).await
    }

    pub async fn start_with(engine: Engine, env: &[(&str, &str)]) -> Api {
        let db = TestDb::new(engine);
        // Cheap argon2 parameters: a debug build takes seconds per hash with the real ones.
        let mut vars = vec![
            ("DATABASE_URL", db.url.as_str()),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
        ];
        vars.extend_from_slice(env);
        let service = Service::start("api-service", &vars).await;
        Api { service, db }
    }

    /// The URL of `path` under `/api/v1` (`path` starts with `/`).
    pub fn api(&self, path: &str) -> String {
        self.service.url(&format!("/api/v1{path}"))
    }

    pub fn url(&self, path: &str) -> String {
        self.service.url(path)
    }
}

/// Writes each test body once, as `async fn name(engine: Engine)`, and runs it on the three
/// engines: `all_engines!(name_a, name_b);` makes `name_a::sqlite`, `name_a::postgres`,
/// `name_a::mariadb`, ...
#[macro_export]
macro_rules! all_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::db::Engine::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::db::Engine::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() {
                    super::$name($crate::db::Engine::Mysql).await
                }
            }
        )*
    };
}
