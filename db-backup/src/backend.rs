//! What every engine does with a backup, in one shape: each engine module (sqlite.rs, pg.rs,
//! mysql.rs) implements `Backend` on a struct that already holds its database URL and where its
//! tools are, so callers pass only the files (dispatch.rs picks the engine, once).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Result;

/// What a dump found in its snapshot.
pub(crate) struct Snapshot {
    pub(crate) server_version: String,
    pub(crate) dump_tool: String,
    pub(crate) migration_version: i64,
    pub(crate) tables: BTreeMap<String, i64>,
    /// Where the server's binary log stood at the snapshot (MariaDB with `log_bin`): where a
    /// point-in-time recovery starts replaying.
    pub(crate) binlog: Option<BinlogPosition>,
}

pub(crate) use crate::manifest::BinlogPosition;

/// What a restored database holds: its migration version and rows per table.
pub(crate) type Contents = (i64, BTreeMap<String, i64>);

// Native `async fn` (`async-trait` is not a dependency): dispatch.rs calls the engines through an
// enum, never through `dyn`, so each future keeps its concrete type (and its `Send`).
pub(crate) trait Backend {
    /// How `restore_scratch` checks a backup, for the manifest ("sha256, " is put before it).
    fn verification_method(&self) -> &'static str;

    /// Dumps the database into `partial`: one consistent snapshot, described by what is returned.
    async fn dump(&self, partial: &Path) -> Result<Snapshot>;

    /// Restores `file` into a scratch database (or file) beside the database, checks it, reads
    /// what it holds, and removes it.
    async fn restore_scratch(&self, file: &Path) -> Result<Contents>;

    /// Restores `file` (a backup at `migration`) into the database; refuses a database with rows
    /// unless `force`.
    async fn restore(&self, file: &Path, force: bool, migration: i64) -> Result<()>;

    /// What the database holds (after a restore).
    async fn inspect(&self) -> Result<Contents>;
}
