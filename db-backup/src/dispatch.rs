//! The backend of a database URL, its engine picked once here so that callers never match on it.

use std::path::{Path, PathBuf};

use hbnb_storage::Engine;

use crate::backend::{Backend, Contents, Snapshot};
use crate::database_url::DatabaseUrl;
use crate::error::Result;
use crate::mysql::MysqlBackend;
use crate::pg::PgBackend;
use crate::sqlite::SqliteBackend;

/// Where the client tools of the server engines are (`PG_BIN_DIR`, `MYSQL_BIN_DIR`); None: the
/// engine's default places.
pub(crate) struct ToolDirs<'a> {
    pub(crate) pg: Option<&'a Path>,
    pub(crate) mysql: Option<&'a Path>,
}

pub(crate) enum AnyBackend {
    Sqlite(SqliteBackend),
    Postgres(PgBackend),
    Mysql(MysqlBackend),
}

impl AnyBackend {
    pub(crate) fn new(url: DatabaseUrl, tools: ToolDirs) -> AnyBackend {
        let owned = |dir: Option<&Path>| dir.map(PathBuf::from);
        match url.engine() {
            Engine::Sqlite => AnyBackend::Sqlite(SqliteBackend { url }),
            Engine::Postgres => AnyBackend::Postgres(PgBackend {
                url,
                bin_dir: owned(tools.pg),
            }),
            Engine::Mysql => AnyBackend::Mysql(MysqlBackend {
                url,
                bin_dir: owned(tools.mysql),
            }),
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        match self {
            AnyBackend::Sqlite(_) => Engine::Sqlite,
            AnyBackend::Postgres(_) => Engine::Postgres,
            AnyBackend::Mysql(_) => Engine::Mysql,
        }
    }
}

impl Backend for AnyBackend {
    fn verification_method(&self) -> &'static str {
        match self {
            AnyBackend::Sqlite(backend) => backend.verification_method(),
            AnyBackend::Postgres(backend) => backend.verification_method(),
            AnyBackend::Mysql(backend) => backend.verification_method(),
        }
    }

    async fn dump(&self, partial: &Path) -> Result<Snapshot> {
        match self {
            AnyBackend::Sqlite(backend) => backend.dump(partial).await,
            AnyBackend::Postgres(backend) => backend.dump(partial).await,
            AnyBackend::Mysql(backend) => backend.dump(partial).await,
        }
    }

    async fn restore_scratch(&self, file: &Path) -> Result<Contents> {
        match self {
            AnyBackend::Sqlite(backend) => backend.restore_scratch(file).await,
            AnyBackend::Postgres(backend) => backend.restore_scratch(file).await,
            AnyBackend::Mysql(backend) => backend.restore_scratch(file).await,
        }
    }

    async fn restore(&self, file: &Path, force: bool, migration: i64) -> Result<()> {
        match self {
            AnyBackend::Sqlite(backend) => backend.restore(file, force, migration).await,
            AnyBackend::Postgres(backend) => backend.restore(file, force, migration).await,
            AnyBackend::Mysql(backend) => backend.restore(file, force, migration).await,
        }
    }

    async fn inspect(&self) -> Result<Contents> {
        match self {
            AnyBackend::Sqlite(backend) => backend.inspect().await,
            AnyBackend::Postgres(backend) => backend.inspect().await,
            AnyBackend::Mysql(backend) => backend.inspect().await,
        }
    }
}
