//! zstd compression of the stored dumps: `hbnb-<id>.sqlite.zst`, `hbnb-<id>.pgdump.zst` and
//! `hbnb-<id>.sql.zst`; with `BACKUP_ENCRYPT_TO`, age encryption after it (encrypt.rs):
//! `hbnb-<id>.sqlite.zst.age`.
//!
//! A dump is verified uncompressed (the scratch restore reads the file the tool wrote), then
//! compressed and encrypted in one pass (no intermediate file), and the manifest's sha256 and
//! size are the stored (compressed, encrypted) file's, so a checksum check needs neither
//! decompression nor a key. PostgreSQL's custom format is written uncompressed (`pg_dump
//! --compress=0`) and compressed here like the others: one codec for every engine, faster and
//! smaller than the format's own zlib. Backups taken before (no `compression` in their
//! manifest, or a `.pgdump` that zlib compressed inside) are read as they are.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::encrypt::{self, Identities, Recipients};
use crate::error::{Context, Result};
use crate::manifest::{Manifest, PARTIAL};

pub const ZSTD: &str = "zstd";
pub const EXTENSION: &str = ".zst";
/// zstd's default level: several times smaller SQL text at well over 100 MB/s on one core.
const LEVEL: i32 = 3;

/// Copies `input` into `output`, zstd-compressed when `compress`.
fn encode(mut input: impl Read, output: &mut dyn Write, compress: bool) -> std::io::Result<()> {
    if compress {
        zstd::stream::copy_encode(input, output, LEVEL)
    } else {
        std::io::copy(&mut input, output).map(drop)
    }
}

/// Copies `input` into `output`, zstd-decompressed when `compressed`.
fn decode(mut input: impl Read, output: &mut dyn Write, compressed: bool) -> std::io::Result<()> {
    if compressed {
        zstd::stream::copy_decode(input, output)
    } else {
        std::io::copy(&mut input, output).map(drop)
    }
}

/// Writes the stored file `to` (created, fsynced) from the verified dump `from`: compressed when
/// `compress`, then encrypted to `recipients` when given, in one pass on the blocking pool.
pub async fn store(
    from: &Path,
    to: &Path,
    compress: bool,
    recipients: Option<&Recipients>,
) -> Result<()> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    let recipients = recipients.cloned();
    tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&from)
            .with_context(|| format!("cannot open {}", from.display()))?;
        let input = BufReader::new(input);
        let output = std::fs::File::create(&to)
            .with_context(|| format!("cannot create {}", to.display()))?;
        let mut output = BufWriter::new(output);
        let what = || {
            let verb = match (compress, recipients.is_some()) {
                (true, true) => "compress and encrypt",
                (false, true) => "encrypt",
                _ => "compress",
            };
            format!("cannot {verb} {} into {}", from.display(), to.display())
        };
        match &recipients {
            Some(recipients) => recipients
                .seal(&mut output, |sealed| encode(input, sealed, compress))
                .map(drop)
                .with_context(what)?,
            None => encode(input, &mut output, compress).with_context(what)?,
        }
        let output = output
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", to.display()))?;
        output
            .sync_all()
            .with_context(|| format!("cannot fsync {}", to.display()))
    })
    .await
    .context("compress task")?
}

/// Compresses `from` into `to` (created), fsynced.
pub async fn compress(from: &Path, to: &Path) -> Result<()> {
    store(from, to, true, None).await
}

/// Decompresses `from` into `to` (created): a temporary copy, not fsynced.
pub(crate) async fn decompress(from: &Path, to: &Path) -> Result<()> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&from)
            .with_context(|| format!("cannot open {}", from.display()))?;
        let output = std::fs::File::create(&to)
            .with_context(|| format!("cannot create {}", to.display()))?;
        let mut output = BufWriter::new(output);
        let what = || format!("cannot decompress {} into {}", from.display(), to.display());
        decode(BufReader::new(input), &mut output, true).with_context(what)?;
        output.flush().with_context(what)
    })
    .await
    .context("decompress task")?
}

/// Creates a file only its owner can read (a plaintext copy of a backup).
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Writes the dump of a backup's stored file `from` into `to` (created, not fsynced: a temporary
/// copy): decrypted with `identities` when given (nothing is created when they do not fit), then
/// decompressed when `compressed`.
async fn read_back(
    from: &Path,
    to: &Path,
    manifest: &Manifest,
    compressed: bool,
    identities: Option<&Identities>,
) -> Result<()> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    let (manifest, identities) = (manifest.clone(), identities.cloned());
    tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&from)
            .with_context(|| format!("cannot open {}", from.display()))?;
        let input = BufReader::new(input);
        let what = || format!("cannot read {} back into {}", from.display(), to.display());
        let write = |input: &mut dyn Read| -> Result<()> {
            let output =
                create_private(&to).with_context(|| format!("cannot create {}", to.display()))?;
            let mut output = BufWriter::new(output);
            decode(input, &mut output, compressed).with_context(what)?;
            output.flush().with_context(what)
        };
        match identities {
            Some(identities) => write(&mut identities.open(input, &manifest)?),
            None => write(&mut { input }),
        }
    })
    .await
    .context("decompress task")?
}

/// The dump of a backup as the engine's tools read it: the stored file itself, or a decrypted
/// and/or decompressed copy beside it (`.partial`, so an interrupted run's copy is cleaned up
/// like any leftover) that is removed when this is dropped. An encrypted backup needs
/// `identities` (else a usage error naming `command`).
pub struct Plain {
    pub path: PathBuf,
    temporary: bool,
}

impl Plain {
    pub async fn of(
        dir: &Path,
        manifest: &Manifest,
        identities: Option<&Identities>,
        command: &str,
    ) -> Result<Plain> {
        let stored = manifest.path(dir);
        let compressed = match manifest.compression.as_deref() {
            None => false,
            Some(ZSTD) => true,
            Some(other) => {
                return Err(crate::error::failed(format!(
                    "backup {}: unknown compression {other:?} (written by a newer db-backup?)",
                    manifest.id
                )))
            }
        };
        let identities = if encrypt::is_encrypted(manifest)? {
            Some(encrypt::required(manifest, identities, command)?)
        } else {
            None
        };
        if !compressed && identities.is_none() {
            return Ok(Plain {
                path: stored,
                temporary: false,
            });
        }
        let mut name = manifest.file.as_str();
        if identities.is_some() {
            name = name.strip_suffix(encrypt::EXTENSION).unwrap_or(name);
        }
        if compressed {
            name = name.strip_suffix(EXTENSION).unwrap_or(name);
        }
        let plain = Plain {
            path: dir.join(format!("{name}{PARTIAL}")),
            temporary: true,
        };
        read_back(&stored, &plain.path, manifest, compressed, identities).await?;
        Ok(plain)
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use age::secrecy::ExposeSecret;

    fn manifest(file: &str, compression: Option<&str>, recipients: &[String]) -> Manifest {
        let mut value = serde_json::json!({
            "format": 1, "id": "20250101T000000.000Z", "file": file,
            "engine": "mysql", "server_version": "11", "dump_tool": "mariadb-dump",
            "migration_version": 1, "tables": {}, "sha256": "", "size": 0,
            "started_at": "2025-01-01T00:00:00Z", "duration_ms": 0, "dump_duration_ms": 0,
            "verification": {"ok": true, "at": "2025-01-01T00:00:00Z", "method": "", "duration_ms": 0,
                             "restored_tables": {}, "error": null}
        });
        if let Some(compression) = compression {
            value["compression"] = compression.into();
        }
        if !recipients.is_empty() {
            value["encryption"] = "age".into();
            value["recipients"] = recipients.into();
        }
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn round_trips() {
        let dir = std::env::temp_dir().join(format!("db_backup_zstd_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = (0..20_000)
            .map(|i| format!("INSERT INTO `states` VALUES ('{i}','State {i}');\n"))
            .collect();
        let plain = dir.join("a.sql");
        std::fs::write(&plain, &text).unwrap();
        let packed = dir.join("a.sql.zst");
        store(&plain, &packed, true, None).await.unwrap();
        let size = std::fs::metadata(&packed).unwrap().len();
        assert!(size * 5 < text.len() as u64, "{size} of {}", text.len());
        std::fs::remove_file(&plain).unwrap();
        {
            let back = Plain::of(
                &dir,
                &manifest("a.sql.zst", Some(ZSTD), &[]),
                None,
                "verify",
            )
            .await
            .unwrap();
            assert_eq!(back.path, dir.join("a.sql.partial"));
            assert_eq!(std::fs::read_to_string(&back.path).unwrap(), text);
        }
        assert!(!dir.join("a.sql.partial").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn compresses_then_encrypts() {
        let dir = std::env::temp_dir().join(format!("db_backup_age_zstd_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = (0..20_000)
            .map(|i| format!("INSERT INTO `states` VALUES ('{i}','State {i}');\n"))
            .collect();
        let plain = dir.join("a.sql");
        std::fs::write(&plain, &text).unwrap();
        let key = age::x25519::Identity::generate();
        let public = key.to_public().to_string();
        let recipients = Recipients::from_setting(Some(&public)).unwrap().unwrap();
        let sealed = dir.join("a.sql.zst.age");
        store(&plain, &sealed, true, Some(&recipients))
            .await
            .unwrap();
        std::fs::remove_file(&plain).unwrap();
        let bytes = std::fs::read(&sealed).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        // Compressed before it was encrypted: far smaller than the text.
        assert!(
            bytes.len() * 5 < text.len(),
            "{} of {}",
            bytes.len(),
            text.len()
        );

        let backup = manifest("a.sql.zst.age", Some(ZSTD), std::slice::from_ref(&public));
        let error = Plain::of(&dir, &backup, None, "restore")
            .await
            .err()
            .unwrap();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        assert!(error.to_string().contains("--identity"), "{error}");

        let keyfile = dir.join("key.txt");
        let wrong = age::x25519::Identity::generate();
        std::fs::write(&keyfile, wrong.to_string().expose_secret()).unwrap();
        let wrong = Identities::read(&keyfile).unwrap();
        let error = Plain::of(&dir, &backup, Some(&wrong), "restore")
            .await
            .err()
            .unwrap();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        assert!(
            !dir.join("a.sql.partial").exists(),
            "nothing written for a wrong key"
        );

        std::fs::write(&keyfile, key.to_string().expose_secret()).unwrap();
        let right = Identities::read(&keyfile).unwrap();
        {
            let back = Plain::of(&dir, &backup, Some(&right), "restore")
                .await
                .unwrap();
            assert_eq!(back.path, dir.join("a.sql.partial"));
            assert_eq!(std::fs::read_to_string(&back.path).unwrap(), text);
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&back.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        assert!(!dir.join("a.sql.partial").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
