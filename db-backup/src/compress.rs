//! zstd compression of the stored dumps: `hbnb-<id>.sqlite.zst` and `hbnb-<id>.sql.zst`.
//!
//! A dump is verified uncompressed (the scratch restore reads the file the tool wrote), then
//! compressed, and the manifest's sha256 and size are the stored (compressed) file's, so a
//! checksum check needs no decompression. PostgreSQL's dumps are stored as `pg_dump` writes them:
//! its custom format already compresses each table's data (zlib), and zstd over it gains little.
//! Backups taken before compression existed (no `compression` in their manifest) are read as
//! they are.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use crate::manifest::{Engine, Manifest, PARTIAL};

pub const ZSTD: &str = "zstd";
pub const EXTENSION: &str = ".zst";
/// zstd's default level: several times smaller SQL text at well over 100 MB/s on one core.
const LEVEL: i32 = 3;

/// Whether new dumps of `engine` are compressed.
pub fn compresses(engine: Engine) -> bool {
    !matches!(engine, Engine::Postgres)
}

/// Compresses `from` into `to` (created), fsynced: the stored dump.
pub async fn compress(from: &Path, to: &Path) -> Result<()> {
    transcode(from, to, "compress", true, |input, output| {
        zstd::stream::copy_encode(input, output, LEVEL)
    })
    .await
}

/// Decompresses `from` into `to` (created): a temporary copy, not fsynced.
pub(crate) async fn decompress(from: &Path, to: &Path) -> Result<()> {
    transcode(from, to, "decompress", false, |input, output| {
        zstd::stream::copy_decode(input, output)
    })
    .await
}

type Reader = std::io::BufReader<std::fs::File>;
type Writer = std::io::BufWriter<std::fs::File>;

/// Streams `from` through `code` into `to` (created), on the blocking pool; `durable`: fsync it.
async fn transcode(
    from: &Path,
    to: &Path,
    what: &'static str,
    durable: bool,
    code: fn(Reader, &mut Writer) -> std::io::Result<()>,
) -> Result<()> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&from)
            .with_context(|| format!("cannot open {}", from.display()))?;
        let output = std::fs::File::create(&to)
            .with_context(|| format!("cannot create {}", to.display()))?;
        let mut output = std::io::BufWriter::new(output);
        code(std::io::BufReader::new(input), &mut output)
            .with_context(|| format!("cannot {what} {} into {}", from.display(), to.display()))?;
        let output = output
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", to.display()))?;
        if durable {
            output
                .sync_all()
                .with_context(|| format!("cannot fsync {}", to.display()))?;
        }
        Ok(())
    })
    .await
    .with_context(|| format!("{what} task"))?
}

/// The dump of a backup as the engine's tools read it: the stored file itself, or a decompressed
/// copy beside it (`.partial`, so an interrupted run's copy is cleaned up like any leftover)
/// that is removed when this is dropped.
pub struct Plain {
    pub path: PathBuf,
    temporary: bool,
}

impl Plain {
    pub async fn of(dir: &Path, manifest: &Manifest) -> Result<Plain> {
        let stored = manifest.path(dir);
        match manifest.compression.as_deref() {
            None => Ok(Plain {
                path: stored,
                temporary: false,
            }),
            Some(ZSTD) => {
                let name = manifest
                    .file
                    .strip_suffix(EXTENSION)
                    .unwrap_or(&manifest.file);
                let path = dir.join(format!("{name}{PARTIAL}"));
                let plain = Plain {
                    path,
                    temporary: true,
                };
                decompress(&stored, &plain.path).await?;
                Ok(plain)
            }
            Some(other) => Err(crate::error::failed(format!(
                "backup {}: unknown compression {other:?} (written by a newer db-backup?)",
                manifest.id
            ))),
        }
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
        compress(&plain, &packed).await.unwrap();
        let size = std::fs::metadata(&packed).unwrap().len();
        assert!(size * 5 < text.len() as u64, "{size} of {}", text.len());
        let back = dir.join("b.sql");
        decompress(&packed, &back).await.unwrap();
        assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
