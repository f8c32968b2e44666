//! HBNB storage, shared by api-service, web-dynamic and db-backup.
//!
//! `Database::connect` picks SQLite, PostgreSQL or MySQL/MariaDB from the URL (`DATABASE_URL`),
//! opens a pool and runs the embedded migrations of that engine. Every query of the project lives
//! here. The rooms, from the top:
//! - this facade, which only names what the binaries use;
//! - the resources: `reads`, `writes` (each write described once, see `write`), `search`
//!   (places_search, streamed as JSON), `pages` (the web pages' reads), `version` (the response
//!   cache's data version), and `settings` (what every service flattens into its own);
//! - `database`: the `Database` of one engine, and how a read or a write reaches it;
//! - the engines, which never see the rooms above them: `sqlite` (a write connection with group
//!   commit, reader threads), `postgres` (group commit, values as constants), `mysql` (`?`
//!   placeholders, no `RETURNING`, deletes that cascade in SQL);
//! - what they share: `group_commit`, `write`, `server` (timeouts and the pool of a server),
//!   `json_chunks`, `metrics`, `models`, `database_url`, `engine`, `error`.
//!
//! Each call is timed by operation and its wait for a pooled connection counted (see `metrics`).

mod column;
mod database;
mod database_url;
mod engine;
mod error;
mod group_commit;
mod json_chunks;
pub mod metrics;
pub mod models;
mod mysql;
mod pages;
mod postgres;
mod reads;
mod search;
mod server;
mod settings;
mod sqlite;
mod timestamp;
mod version;
mod write;
mod writes;

pub use database::{Database, PoolStats};
pub use database_url::{connect_error, query_parameters, server_address, with_database};
pub use engine::{Engine, TABLES};
pub use error::{Result, StorageError};
pub use json_chunks::JsonChunks;
pub use models::*;
pub use postgres::Postgres;
pub use reads::Stats;
pub use search::PlaceSearch;
pub use settings::{DatabaseSettings, DEFAULT_DATABASE_URL};
pub use sqlite::{Sqlite, Synchronous};
pub use version::DataVersion;
pub use writes::LinkOutcome;
