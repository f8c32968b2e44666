//! What a `DATABASE_URL` says, read without connecting: the server it names (for messages), its
//! query parameters, another database on the same server, and the errors of connecting to it
//! (TLS failures named with the server and what to check). The password never leaves here.

use crate::error::{tls_failure, tls_hint, Result, StorageError};

/// The URL of database `name` on the server of `url` (same credentials and options).
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    let query = after.find('?').map(|q| &after[q..]).unwrap_or("");
    format!(
        "{}{}/{name}{query}",
        &url[..scheme_end],
        &rest[..authority_end]
    )
}

/// `host:port` of a database server's URL (its default port when the URL names none), for
/// messages: no user, no password. A Unix socket (`?host=/run/postgresql`, `?socket=...`) is
/// named as such.
pub fn server_address(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact(url);
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let port = match scheme {
        "postgres" | "postgresql" => 5432,
        _ => 3306,
    };
    let parameters = query_parameters(url);
    let socket = parameters
        .iter()
        .find(|(key, value)| (key == "host" && value.starts_with('/')) || key == "socket");
    if let Some((_, path)) = socket {
        return format!("unix:{path}");
    }
    if host_port.is_empty() {
        // libpq's `?host=name&port=n`, or the default.
        let named = |name: &str| parameters.iter().find(|(key, _)| key == name);
        let host = named("host").map_or("localhost", |(_, host)| host.as_str());
        return match named("port") {
            Some((_, given)) => format!("{host}:{given}"),
            None => format!("{host}:{port}"),
        };
    }
    // `host`, `host:port`, `[v6]`, `[v6]:port`.
    let has_port = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].contains(':'),
        None => host_port.contains(':'),
    };
    if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:{port}")
    }
}

/// The query parameters of a URL, percent-decoded, in order.
pub fn query_parameters(url: &str) -> Vec<(String, String)> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The URL parameters naming a CA file: PostgreSQL's `sslrootcert` (and sqlx's spellings),
/// MySQL's `ssl-ca`.
const CA_PARAMETERS: [&str; 4] = ["sslrootcert", "ssl-root-cert", "ssl-ca", "sslca"];

/// A CA file the URL names must be readable: said at once, naming the parameter, instead of
/// an I/O error at the first connection (which would look like a server not reachable yet).
pub(crate) fn check_ca_files(url: &str) -> Result<()> {
    for (parameter, path) in query_parameters(url) {
        if CA_PARAMETERS.contains(&parameter.as_str()) {
            if let Err(source) = std::fs::File::open(&path) {
                return Err(StorageError::CaFile {
                    parameter,
                    path,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// A connection error at start, TLS failures named with the server and what to check.
pub fn connect_error(url: &str, error: sqlx::Error) -> StorageError {
    match tls_failure(&error) {
        Some(reason) => StorageError::Tls {
            server: server_address(url),
            hint: tls_hint(&reason),
            reason,
        },
        None => StorageError::Sqlx(error),
    }
}

/// The URL without its password, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_named_by_host_and_port_without_credentials() {
        assert_eq!(
            server_address("postgres://hbnb:s3cret@db.internal/hbnb?sslmode=verify-full"),
            "db.internal:5432"
        );
        assert_eq!(
            server_address("mariadb://hbnb:pw@10.0.0.2:3307/hbnb"),
            "10.0.0.2:3307"
        );
        assert_eq!(server_address("mysql://u@[::1]/db"), "[::1]:3306");
        assert_eq!(server_address("postgres://u@[::1]:6543/db"), "[::1]:6543");
        assert_eq!(
            server_address("postgres://u@/db?host=/run/postgresql"),
            "unix:/run/postgresql"
        );
        assert_eq!(
            server_address("postgres:///db?host=db.internal&port=6432"),
            "db.internal:6432"
        );
        assert_eq!(server_address("postgres:///db"), "localhost:5432");
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_parameters("postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/a%20b.pem"),
            [
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/etc/a b.pem".to_owned())
            ]
        );
        assert!(query_parameters("postgres://u@h/db").is_empty());
    }

    #[test]
    fn a_missing_ca_file_is_said_before_connecting() {
        let error =
            check_ca_files("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(
            error.contains("sslrootcert=/nonexistent/ca.pem"),
            "unexpected: {error}"
        );
    }

    #[test]
    fn a_failed_handshake_is_a_tls_error_not_a_server_to_wait_for() {
        // What sqlx answers when rustls refuses the server's certificate.
        let handshake = || {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ))
        };
        assert!(!StorageError::Sqlx(handshake()).is_unreachable());
        let error = connect_error("postgres://u:pw@db.internal/db", handshake()).to_string();
        assert!(
            error.contains("db.internal:5432")
                && error.contains("UnknownIssuer")
                && error.contains("sslrootcert")
                && !error.contains("pw"),
            "unexpected: {error}"
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(StorageError::Sqlx(sqlx::Error::Io(refused)).is_unreachable());
        // What sqlx says when the server closes the connection before answering the TLS request.
        let closed = sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x00 (sqlx_postgres::connection::tls:95)".into(),
        );
        assert!(StorageError::Sqlx(closed).is_unreachable());
    }
}
