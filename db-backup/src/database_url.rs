//! A `DATABASE_URL` (or `restore --to`), read once: its engine known, `mariadb://` written as the
//! `mysql://` sqlx understands. The text itself is kept exactly as given otherwise: sqlx, libpq
//! and the MySQL tools each read it their own way, not as the `url` crate would (which sees a
//! host `data` in `sqlite://data/hbnb.sqlite` and re-encodes what it writes back).

use hbnb_storage::Engine;

use crate::error::{Error, Result};

#[derive(Clone, PartialEq)]
pub(crate) struct DatabaseUrl {
    text: String,
    engine: Engine,
}

impl DatabaseUrl {
    /// The URL of `text`, or why it names no engine db-backup knows.
    pub(crate) fn parse(text: &str) -> Result<DatabaseUrl> {
        let engine = Engine::of_url(text).ok_or_else(|| {
            Error::Failed(
                "unsupported DATABASE_URL: expected sqlite://..., postgres://... or mysql://..."
                    .to_owned(),
            )
        })?;
        let text = match text.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => text.to_owned(),
        };
        Ok(DatabaseUrl { text, engine })
    }

    pub(crate) fn engine(&self) -> Engine {
        self.engine
    }

    /// The text to give sqlx and the `hbnb_storage` helpers (it holds the password: never log it).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// `host:port` of the server, for messages: no credentials.
    pub(crate) fn server_address(&self) -> String {
        hbnb_storage::server_address(&self.text)
    }

    /// Database `name` on the same server, with the same credentials and options.
    pub(crate) fn with_database(&self, name: &str) -> DatabaseUrl {
        DatabaseUrl {
            text: hbnb_storage::with_database(&self.text, name),
            engine: self.engine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_engine_and_writes_mariadb_as_mysql() {
        let url = DatabaseUrl::parse("mariadb://u:p@h:3306/db").unwrap();
        assert_eq!(url.engine(), Engine::Mysql);
        assert_eq!(url.as_str(), "mysql://u:p@h:3306/db");
        assert_eq!(url.with_database("x").as_str(), "mysql://u:p@h:3306/x");
        let sqlite = DatabaseUrl::parse("sqlite://data/hbnb.sqlite").unwrap();
        assert_eq!(
            (sqlite.engine(), sqlite.as_str()),
            (Engine::Sqlite, "sqlite://data/hbnb.sqlite")
        );
        assert!(DatabaseUrl::parse("redis://h").is_err());
    }
}
