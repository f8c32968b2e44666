//! The archive's copy on the remote, and retention here and there.
//!
//! On the remote, under `<prefix>/pitr/`: `wal/<segment>.zst` for every finished segment and
//! timeline history, `wal/<segment>.partial.zst` for the segment being written (sent again
//! whenever it grew, removed once the segment is finished), and `base/base-<id>.tar.zst` with
//! its manifest `base-<id>.json`, uploaded after it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use super::{file_names, segment_position, wal_kind, Archive, Base, WalFile, BASE, WAL};
use crate::compress;
use crate::error::{Context, Result};
use crate::manifest;
use crate::remote::Remote;

/// What was last sent of the segment being written.
#[derive(Default)]
pub(crate) struct Shipper {
    partial_sent: Option<(String, u64, SystemTime)>,
}

impl Shipper {
    /// Copies to `remote` what it lacks of the archive; returns how many WAL files were sent.
    pub(crate) async fn ship(&mut self, remote: &Remote, archive: &Archive) -> Result<u64> {
        let on_remote = remote.list_folder(WAL).await?;
        let outgoing = archive.outgoing_dir();
        tokio::fs::create_dir_all(&outgoing)
            .await
            .with_context(|| format!("cannot create {}", outgoing.display()))?;
        let wal_dir = archive.wal_dir();
        let mut sent = 0;
        for name in file_names(&wal_dir).await? {
            let object = format!("{name}.zst");
            let key = format!("{WAL}/{object}");
            let local = wal_dir.join(&name);
            match wal_kind(&name) {
                Some(WalFile::Segment | WalFile::History) => {
                    if on_remote.contains_key(&object) {
                        continue;
                    }
                }
                Some(WalFile::Partial) => {
                    let Ok(meta) = tokio::fs::metadata(&local).await else {
                        continue; // finished (renamed) since the listing: sent next time
                    };
                    let seen = (
                        name.clone(),
                        meta.len(),
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    );
                    if on_remote.contains_key(&object) && self.partial_sent.as_ref() == Some(&seen)
                    {
                        continue;
                    }
                    if send(remote, &local, &outgoing, &key).await? {
                        self.partial_sent = Some(seen);
                        sent += 1;
                    }
                    continue;
                }
                None => continue,
            }
            if send(remote, &local, &outgoing, &key).await? {
                sent += 1;
            }
        }
        // A segment that is finished on the remote needs its partial copy no more.
        for object in on_remote.keys() {
            if let Some(segment) = object.strip_suffix(".partial.zst") {
                if on_remote.contains_key(&format!("{segment}.zst")) {
                    remote.delete(&format!("{WAL}/{object}")).await?;
                }
            }
        }
        self.ship_bases(remote, archive).await?;
        Ok(sent)
    }

    /// Uploads every base backup the remote lacks: its file, then its manifest.
    async fn ship_bases(&self, remote: &Remote, archive: &Archive) -> Result<()> {
        let on_remote = remote.list_folder(BASE).await?;
        for base in archive.bases().await? {
            if on_remote.contains_key(&base.manifest_name()) {
                continue;
            }
            remote
                .put_file(
                    &format!("{BASE}/{}", base.file),
                    &archive.base_dir().join(&base.file),
                )
                .await?;
            let mut bytes =
                serde_json::to_vec_pretty(&base).context("cannot encode the manifest")?;
            bytes.push(b'\n');
            remote
                .put_bytes(&format!("{BASE}/{}", base.manifest_name()), bytes)
                .await?;
            tracing::info!(id = %base.id, remote = %remote.url(), "base backup copied to the remote");
        }
        Ok(())
    }
}

/// Compresses the log file `local` (through `outgoing`) and uploads it as the object `key`;
/// false when the file went away meanwhile (a partial WAL segment that was finished: its
/// finished copy is sent next).
pub(super) async fn send(
    remote: &Remote,
    local: &Path,
    outgoing: &Path,
    key: &str,
) -> Result<bool> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let compressed = outgoing.join(name);
    match compress::compress(local, &compressed).await {
        Ok(()) => {}
        Err(_) if !local.exists() => return Ok(false),
        Err(error) => return Err(error),
    }
    let result = remote.put_file(key, &compressed).await;
    manifest::remove_if_exists(&compressed).await;
    result.map(|_| true)
}

/// Keeps the `keep` newest local base backups and the WAL from the oldest of them on, here and
/// on the remote (where bases older than the oldest kept one go too). Nothing is removed while
/// fewer than `keep` bases exist here: a host that lost its disk starts again with none, and
/// must not empty the remote it will restore from.
pub(crate) async fn prune(archive: &Archive, remote: Option<&Remote>, keep: usize) -> Result<()> {
    let bases = archive.bases().await?;
    if bases.len() < keep {
        return Ok(());
    }
    let (old, kept) = bases.split_at(bases.len() - keep);
    let oldest: &Base = &kept[0];
    for base in old {
        let dir = archive.base_dir();
        manifest::remove_if_exists(&dir.join(base.manifest_name())).await;
        manifest::remove_if_exists(&dir.join(&base.file)).await;
        tracing::info!(id = %base.id, "retention removed a base backup");
    }
    let first = segment_position(&oldest.start_segment).to_owned();
    let wal_dir = archive.wal_dir();
    for name in file_names(&wal_dir).await? {
        if wal_kind(&name) == Some(WalFile::Segment) && segment_position(&name) < first.as_str() {
            manifest::remove_if_exists(&wal_dir.join(&name)).await;
        }
    }
    let Some(remote) = remote else {
        return Ok(());
    };
    let objects: BTreeMap<String, u64> = remote.list_folder(WAL).await?;
    for object in objects.keys() {
        let name = object.trim_end_matches(".zst").trim_end_matches(".partial");
        if wal_kind(name) == Some(WalFile::Segment) && segment_position(name) < first.as_str() {
            remote.delete(&format!("{WAL}/{object}")).await?;
        }
    }
    for object in remote.list_folder(BASE).await?.keys() {
        // `base-<id>.json` / `base-<id>.tar.zst`: ids are UTC times, ordered as text.
        let id = object
            .strip_prefix("base-")
            .and_then(|rest| rest.split_once('.'))
            .map(|(id, _)| id);
        if id.is_some_and(|id| id < oldest.id.as_str()) {
            remote.delete(&format!("{BASE}/{object}")).await?;
        }
    }
    Ok(())
}
