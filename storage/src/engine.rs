//! The three engines, as a `DATABASE_URL` names them and a backup records them.

/// Which engine a `Database` talks to (and a backup was taken from: serialized lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Engine {
    /// The engine a `DATABASE_URL` names: `sqlite:`, `postgres://` (or `postgresql://`),
    /// `mysql://` (or `mariadb://`).
    pub fn of_url(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Some(Engine::Mysql)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }
}

/// The tables of the HBNB schema, parents before children (the order rows are restored in).
pub const TABLES: [&str; 7] = [
    "states",
    "cities",
    "users",
    "amenities",
    "places",
    "reviews",
    "place_amenity",
];
