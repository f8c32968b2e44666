//! Off-host copies: every backup and its manifest also kept in an S3 (or S3-compatible) bucket,
//! `BACKUP_REMOTE=s3://bucket/prefix`, so that losing the host's disk does not lose the backups.
//!
//! The dump is uploaded first and its manifest last: an upload cut halfway leaves a dump without a
//! manifest, which nothing lists (as in the local directory) and the next sync replaces. What is
//! on the remote is read back the same way: only a manifest whose dump object exists is a backup,
//! and a downloaded dump whose sha256 is not its manifest's is refused, naming the object.
//!
//! Endpoint, region and credentials come from the environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, read by
//! object_store), else from the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
//! `~/.aws/credentials`, profile `AWS_PROFILE` or `default`). They are never logged: messages name
//! the bucket, the prefix and the object only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, PutPayload, RetryConfig};
use tokio::io::AsyncWriteExt;

use crate::error::{failed, Context, Error, Result};
use crate::manifest::{self, Manifest, PARTIAL, PREFIX};
use crate::retention::{self, Policy};

/// A bucket and a prefix in it, and the client that reaches them.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// `s3://bucket/prefix`, for messages.
    url: String,
}

impl std::fmt::Debug for Remote {
    // Only the URL: the client holds the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

/// `s3://bucket/some/prefix` → (`bucket`, `some/prefix`).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        failed(format!(
            "BACKUP_REMOTE must look like s3://bucket/prefix, not {url:?}"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(failed("BACKUP_REMOTE names no bucket (s3://bucket/prefix)"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

/// Access key, secret and session token of `profile` in an AWS shared credentials file.
pub fn read_credentials_file(
    text: &str,
    profile: &str,
) -> Option<(String, String, Option<String>)> {
    let mut section = String::new();
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        if section != profile {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            values.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    let key = values.get("aws_access_key_id")?.clone();
    let secret = values.get("aws_secret_access_key")?.clone();
    Some((key, secret, values.get("aws_session_token").cloned()))
}

impl Remote {
    /// The remote of `BACKUP_REMOTE`, or `None` when it is unset.
    pub fn from_url(url: Option<&str>) -> Result<Option<Remote>> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            let file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| Path::new(&h).join(".aws/credentials"))
                });
            let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned());
            if let Some(file) = file {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    match read_credentials_file(&text, &profile) {
                        Some((key, secret, token)) => {
                            builder = builder
                                .with_access_key_id(key)
                                .with_secret_access_key(secret);
                            if let Some(token) = token {
                                builder = builder.with_token(token);
                            }
                        }
                        None => tracing::warn!(
                            file = %file.display(),
                            profile,
                            "no access key for this profile in the credentials file"
                        ),
                    }
                }
            }
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        // object_store retries each request itself; bounded here so that an unreachable store
        // fails a sync within a minute and our own backoff (the service's uploader) takes over.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
        };
        let store = builder
            .with_retry(retry)
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    // Per request: a part of a multipart upload is 10 MiB at most.
                    .with_timeout(Duration::from_secs(300))
                    .with_allow_http(allow_http()),
            )
            .build()
            .map_err(|e| failed(format!("BACKUP_REMOTE {url}: {e}")))?;
        let display = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(Some(Remote {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix.as_str()),
            url: display,
        }))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object `name` under the prefix; `name` may hold `/` (`pitr/wal/<segment>.zst`).
    fn path(&self, name: &str) -> ObjectPath {
        name.split('/')
            .fold(self.prefix.clone(), |path, part| path.child(part))
    }

    /// The objects directly under `<prefix>/<folder>/`: name → size.
    pub(crate) async fn list_folder(&self, folder: &str) -> Result<BTreeMap<String, u64>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.path(folder)))
            .await
            .with_context(|| format!("cannot list {}", self.object_url(folder)))?;
        Ok(listing
            .objects
            .iter()
            .filter_map(|o| Some((o.location.filename()?.to_owned(), o.size)))
            .collect())
    }

    /// Uploads the local file `from` as object `name`, streamed (multipart above 10 MiB);
    /// the object exists only once the upload is complete.
    pub(crate) async fn put_file(&self, name: &str, from: &Path) -> Result<u64> {
        let target = self.object_url(name);
        let mut file = tokio::fs::File::open(from)
            .await
            .with_context(|| format!("cannot open {}", from.display()))?;
        let mut writer = BufWriter::new(self.store.clone(), self.path(name));
        let copied = match tokio::io::copy(&mut file, &mut writer).await {
            Ok(n) => n,
            Err(error) => {
                let _ = writer.abort().await;
                return Err(failed(format!("cannot upload {target}: {error}")));
            }
        };
        writer
            .shutdown()
            .await
            .map_err(|error| failed(format!("cannot upload {target}: {error}")))?;
        Ok(copied)
    }

    /// Uploads `bytes` as object `name` (one PUT).
    pub(crate) async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.path(name), PutPayload::from(bytes))
            .await
            .with_context(|| format!("cannot upload {}", self.object_url(name)))?;
        Ok(())
    }

    /// Downloads object `name` into the local file `to` (created, fsynced).
    pub(crate) async fn get_file(&self, name: &str, to: &Path) -> Result<()> {
        let object = self.object_url(name);
        let mut stream = self
            .store
            .get(&self.path(name))
            .await
            .with_context(|| format!("cannot read {object}"))?
            .into_stream();
        let mut file = tokio::fs::File::create(to)
            .await
            .with_context(|| format!("cannot create {}", to.display()))?;
        use futures_util::StreamExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("cannot read {object}"))?;
            file.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", to.display()))?;
        }
        file.sync_all()
            .await
            .with_context(|| format!("cannot fsync {}", to.display()))
    }

    /// Removes object `name`.
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        self.store
            .delete(&self.path(name))
            .await
            .with_context(|| format!("cannot remove {}", self.object_url(name)))
    }

    /// `s3://bucket/prefix/<name>`, to name an object in messages.
    pub fn object_url(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    /// Every backup on the remote (manifest and dump objects present), oldest first. A manifest
    /// that cannot be read is reported and skipped, never fatal.
    pub async fn list(&self) -> Result<Vec<Manifest>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .with_context(|| format!("cannot list {}", self.url))?;
        let names: BTreeMap<String, u64> = listing
            .objects
            .iter()
            .filter_map(|o| Some((o.location.filename()?.to_owned(), o.size)))
            .collect();
        let mut manifests = Vec::new();
        for name in names.keys() {
            if !name.starts_with(PREFIX) || !name.ends_with(".json") {
                continue;
            }
            let bytes = match self.get(name).await {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(object = %self.object_url(name), %error, "unreadable manifest skipped");
                    continue;
                }
            };
            match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(manifest) => {
                    if names.contains_key(&manifest.file) {
                        manifests.push(manifest);
                    } else {
                        tracing::warn!(object = %self.object_url(name), "the manifest's dump object is missing; not a backup");
                    }
                }
                Err(error) => {
                    tracing::warn!(object = %self.object_url(name), %error, "invalid manifest skipped")
                }
            }
        }
        manifests.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        Ok(manifests)
    }

    pub(crate) async fn get(&self, name: &str) -> Result<bytes::Bytes> {
        let what = || format!("cannot read {}", self.object_url(name));
        self.store
            .get(&self.path(name))
            .await
            .with_context(what)?
            .bytes()
            .await
            .with_context(what)
    }

    /// Copies a local backup: its dump, then its manifest (last, so that an upload cut halfway
    /// is never listed).
    pub async fn upload(&self, dir: &Path, manifest: &Manifest) -> Result<()> {
        let local = manifest.path(dir);
        let target = self.object_url(&manifest.file);
        // Multipart above 10 MiB, a single PUT below: the dump is streamed, never held whole.
        // A multipart upload whose completion failed is the bucket's
        // AbortIncompleteMultipartUpload lifecycle rule's to remove (docs/backups.md).
        let copied = self.put_file(&manifest.file, &local).await?;
        if copied != manifest.size {
            return Err(failed(format!(
                "uploaded {copied} bytes to {target}, the manifest says {}",
                manifest.size
            )));
        }
        let mut bytes =
            serde_json::to_vec_pretty(manifest).context("cannot encode the manifest")?;
        bytes.push(b'\n');
        self.put_bytes(&manifest::manifest_name(&manifest.id), bytes)
            .await?;
        tracing::info!(id = %manifest.id, remote = %self.url, size = manifest.size, "backup copied to the remote");
        Ok(())
    }

    /// Downloads a backup into `dir` (dump, then manifest) and checks the dump's sha256 and size
    /// against the manifest: a corrupted object is refused, named.
    pub async fn download(&self, manifest: &Manifest, dir: &Path) -> Result<()> {
        let object = self.object_url(&manifest.file);
        let partial = dir.join(format!("{}{PARTIAL}", manifest.file));
        let result = async {
            self.get_file(&manifest.file, &partial).await?;
            let (sha256, size) = manifest::hash_file(&partial).await?;
            if sha256 != manifest.sha256 || size != manifest.size {
                return Err(Error::Verification(format!(
                    "checksum mismatch: the remote object {object} has sha256 {sha256} ({size} \
                     bytes), its manifest says {} ({} bytes); refusing it",
                    manifest.sha256, manifest.size
                )));
            }
            manifest::rename(&partial, &manifest.path(dir)).await?;
            manifest::write(dir, manifest).await
        }
        .await;
        if result.is_err() {
            manifest::remove_if_exists(&partial).await;
        }
        result
    }

    /// Removes a backup: the manifest first, so that it is never listed half-removed.
    pub async fn remove(&self, manifest: &Manifest) -> Result<()> {
        let name = manifest::manifest_name(&manifest.id);
        self.store
            .delete(&self.path(&name))
            .await
            .with_context(|| format!("cannot remove {}", self.object_url(&name)))?;
        self.store
            .delete(&self.path(&manifest.file))
            .await
            .with_context(|| format!("cannot remove {}", self.object_url(&manifest.file)))?;
        tracing::info!(id = %manifest.id, remote = %self.url, "retention removed backup from the remote");
        Ok(())
    }
}

fn allow_http() -> bool {
    std::env::var("AWS_ALLOW_HTTP")
        .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "True"))
}

/// What one sync did.
#[derive(Debug, Default)]
pub struct Synced {
    pub uploaded: Vec<String>,
    pub removed: Vec<String>,
    /// The newest verified backup on the remote after the sync.
    pub newest_verified: Option<Manifest>,
}

/// Brings the remote up to date with the local directory (the caller holds the directory's
/// lock): uploads every local backup the remote lacks, then applies the retention policy to the
/// remote. Retention is computed over both, so a local backup the remote would drop at once is
/// not uploaded.
pub async fn sync(remote: &Remote, dir: &Path, policy: Policy) -> Result<Synced> {
    let local = manifest::load_all(dir).await?;
    let on_remote = remote.list().await?;
    let present: BTreeSet<&str> = on_remote.iter().map(|m| m.id.as_str()).collect();
    let missing: Vec<&Manifest> = local
        .iter()
        .filter(|m| !present.contains(m.id.as_str()))
        .collect();
    let items: Vec<retention::Item> = on_remote
        .iter()
        .chain(missing.iter().copied())
        .map(|m| retention::Item {
            id: m.id.clone(),
            started_at: m.started_at,
            verified: m.verified(),
        })
        .collect();
    let keep = retention::keep(&items, policy);
    let mut synced = Synced::default();
    for manifest in missing.iter().filter(|m| keep.contains(&m.id)) {
        remote.upload(dir, manifest).await?;
        synced.uploaded.push(manifest.id.clone());
    }
    for manifest in on_remote.iter().filter(|m| !keep.contains(&m.id)) {
        remote.remove(manifest).await?;
        synced.removed.push(manifest.id.clone());
    }
    synced.newest_verified = on_remote
        .iter()
        .chain(missing.iter().copied())
        .filter(|m| keep.contains(&m.id) && m.verified())
        .max_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)))
        .cloned();
    Ok(synced)
}

/// A scratch directory for backups read from the remote (removed when dropped).
pub struct Staging(pub PathBuf);

impl Staging {
    /// `BACKUP_DIR/.remote-<pid>` (created, with BACKUP_DIR if need be), so a
    /// large dump lands on the disk the operator chose for backups, not on a small /tmp.
    pub async fn new(backup_dir: &Path) -> Result<Staging> {
        let path = backup_dir.join(format!(".remote-{}", std::process::id()));
        tokio::fs::create_dir_all(&path)
            .await
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Staging(path))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_remote_urls() {
        assert_eq!(
            parse_url("s3://bucket/a/b/").unwrap(),
            ("bucket".to_owned(), "a/b".to_owned())
        );
        assert_eq!(
            parse_url("s3://bucket").unwrap(),
            ("bucket".to_owned(), String::new())
        );
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("https://bucket/x").is_err());
    }

    #[test]
    fn reads_a_profile_of_the_credentials_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = S\n\n\
                    [other]\naws_access_key_id=B\naws_secret_access_key=T\naws_session_token=X\n";
        assert_eq!(
            read_credentials_file(text, "default"),
            Some(("A".to_owned(), "S".to_owned(), None))
        );
        assert_eq!(
            read_credentials_file(text, "other"),
            Some(("B".to_owned(), "T".to_owned(), Some("X".to_owned())))
        );
        assert_eq!(read_credentials_file(text, "missing"), None);
    }
}
