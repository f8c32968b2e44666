//! TLS termination (Nginx's `listen 443 ssl http2`, `ssl_certificate`, `ssl_protocols`):
//! rustls with the ring provider, TLS 1.2 and 1.3 only, the provider's AEAD-only cipher suites
//! (ECDHE with AES-GCM or ChaCha20-Poly1305), ALPN `h2` and `http/1.1` (added by actix-web).
//!
//! The certificate is served through `CertStore`, a resolver whose certificate is swapped whole
//! on SIGHUP: handshakes after the swap get the new one, established connections keep theirs.
//! A pair that cannot be read, parsed or does not match is refused and the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The port HTTPS listens on when a certificate is configured and no port is given.
pub const DEFAULT_TLS_PORT: u16 = 443;

/// Where the certificate chain and key are (`TLS_CERT`/`TLS_KEY`, or the `[tls]` table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub key: PathBuf,
    /// The HTTPS port (`TLS_PORT` overrides it); 443 when absent.
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("TLS key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("TLS certificate {} and key {} do not go together: {reason}", cert.display(), key.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("TLS: {0}")]
    Config(String),
    #[error("TLS: give both TLS_CERT and TLS_KEY, or neither")]
    HalfConfigured,
}

/// The one crypto provider: ring (aws-lc-rs would need cmake and nasm to build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a certificate chain and its key: both parse, and the key is the
/// certificate's.
pub fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let certificate = |reason: String| TlsError::Certificate {
        path: files.cert.clone(),
        reason,
    };
    let chain = read_chain(&files.cert).map_err(certificate)?;
    if chain.is_empty() {
        return Err(certificate("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: files.key.clone(),
        reason: pem_reason(&e),
    })?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: files.key.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, key);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    })?;
    Ok(certified)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_reason(&e))?
        .map(|c| c.map_err(|e| pem_reason(&e)))
        .collect()
}

fn pem_reason(error: &rustls_pki_types::pem::Error) -> String {
    match error {
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM block of the expected kind".into(),
        other => other.to_string(),
    }
}

/// The certificate new handshakes get; swapped whole on reload.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn new(key: CertifiedKey) -> CertStore {
        CertStore {
            current: RwLock::new(Arc::new(key)),
        }
    }

    pub fn replace(&self, key: CertifiedKey) {
        let key = Arc::new(key);
        match self.current.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

/// The listener's configuration: TLS 1.3 and 1.2, no client certificates, certificates from
/// `store`.
pub fn server_config(
    store: Arc<CertStore>,
    provider: Arc<CryptoProvider>,
) -> Result<ServerConfig, TlsError> {
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    Ok(config)
}

/// The certificate files to use: `TLS_CERT`/`TLS_KEY` (both) override the file's `[tls]`
/// table; `TLS_PORT` overrides its port.
pub fn files(
    cert: Option<&Path>,
    key: Option<&Path>,
    port: Option<u16>,
    table: Option<&TlsFiles>,
) -> Result<Option<TlsFiles>, TlsError> {
    let mut files = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            port: table.and_then(|t| t.port),
        }),
        (None, None) => table.cloned(),
        _ => return Err(TlsError::HalfConfigured),
    };
    if let (Some(files), Some(port)) = (&mut files, port) {
        files.port = Some(port);
    }
    Ok(files)
}

/// `HTTPS_REDIRECT=1`: plain HTTP answers 308 to the same URL over HTTPS, except ACME's
/// HTTP-01 challenges (`/.well-known/acme-challenge/<token>`), served from `acme_dir` (when set,
/// with or without the redirect) so an external client (certbot's webroot mode) can renew the
/// certificate.
#[derive(Debug)]
pub struct Redirect {
    pub enabled: bool,
    pub acme_dir: Option<PathBuf>,
    /// The HTTPS port the redirect names (the listener's real one, set once bound).
    pub https_port: std::sync::atomic::AtomicU16,
}

const ACME_PREFIX: &str = "/.well-known/acme-challenge/";

impl Redirect {
    /// Whether this request is answered here rather than routed.
    pub fn applies(&self, req: &actix_web::HttpRequest) -> bool {
        !req.app_config().secure()
            && (self.enabled || (self.acme_dir.is_some() && req.path().starts_with(ACME_PREFIX)))
    }

    pub async fn answer(
        &self,
        req: &actix_web::HttpRequest,
    ) -> Result<actix_web::HttpResponse, crate::error::ProxyError> {
        use crate::error::ProxyError;
        use actix_web::http::header;
        use actix_web::HttpResponse;
        if let Some(token) = req.path().strip_prefix(ACME_PREFIX) {
            // Tokens are base64url (RFC 8555 §8.3): nothing that could leave the folder.
            let valid = !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            let Some(dir) = self.acme_dir.as_ref().filter(|_| valid) else {
                return Err(ProxyError::NotFound);
            };
            return match tokio::fs::read(dir.join(token)).await {
                Ok(content) => Ok(HttpResponse::Ok()
                    .content_type("application/octet-stream")
                    .body(content)),
                Err(_) => Err(ProxyError::NotFound),
            };
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or(ProxyError::BadRequest("missing Host header"))?;
        // The name without its port (a bracketed IPv6 literal keeps its brackets).
        let name = match host.rfind(':') {
            Some(colon) if !host[colon..].contains(']') => &host[..colon],
            _ => host,
        };
        let port = self.https_port.load(std::sync::atomic::Ordering::Relaxed);
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let location = if port == 443 {
            format!("https://{name}{target}")
        } else {
            format!("https://{name}:{port}{target}")
        };
        // 308 keeps the method and body (301 would turn a POST into a GET in some clients).
        Ok(HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, location))
            .finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_override_the_tls_table() {
        let config: crate::config::FileConfig = toml::from_str(
            "[tls]\ncert = \"/etc/c.pem\"\nkey = \"/etc/k.pem\"\nport = 8443\n[[route]]\nmatch = \"prefix\"\npath = \"/\"\nstatus = 404",
        )
        .unwrap();
        let table = config.tls.as_ref();
        let from_file = files(None, None, None, table).unwrap().unwrap();
        assert_eq!(from_file.cert, Path::new("/etc/c.pem"));
        assert_eq!(from_file.port, Some(8443));
        let overridden = files(
            Some(Path::new("/x/c.pem")),
            Some(Path::new("/x/k.pem")),
            Some(9443),
            table,
        )
        .unwrap()
        .unwrap();
        assert_eq!(overridden.key, Path::new("/x/k.pem"));
        assert_eq!(overridden.port, Some(9443));
        assert!(matches!(
            files(Some(Path::new("/x/c.pem")), None, None, table),
            Err(TlsError::HalfConfigured)
        ));
        assert!(files(None, None, Some(443), None).unwrap().is_none());
        assert!(toml::from_str::<crate::config::FileConfig>(
            "[tls]\ncert = \"c\"\nkey = \"k\"\ntypo = 1"
        )
        .is_err());
    }
}
