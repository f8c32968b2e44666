//! age encryption of the stored backups: `BACKUP_ENCRYPT_TO` names one or more age X25519 public
//! keys (`age1...`), and every new backup's stored file is encrypted to them (`<dump>[.zst].age`).
//!
//! Only public keys are needed to take a backup: the private key (an identity file, as
//! `age -d -i` reads it) is given to `verify` and `restore` when they run (`--identity FILE`,
//! `BACKUP_IDENTITY_FILE`), never to `serve` or `now`. A dump is verified as the tool wrote it,
//! compressed (compress.rs), then encrypted; the manifest's sha256 and size are the encrypted
//! file's, so a checksum needs no key. Keys are never logged: messages name files and public keys
//! only, and never echo a line of an identity file.

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::{failed, Error, Result};
use crate::manifest::Manifest;

/// The manifest's `encryption` of an age-encrypted backup.
pub const AGE: &str = "age";
/// Appended to the name of an encrypted stored file.
pub const EXTENSION: &str = ".age";
/// The setting, as messages name it.
const SETTING: &str = "BACKUP_ENCRYPT_TO";

/// Whether `text` looks like an age private key (`AGE-SECRET-KEY-1...`): never echoed.
fn is_secret(text: &str) -> bool {
    text.trim()
        .get(..15)
        .is_some_and(|p| p.eq_ignore_ascii_case("AGE-SECRET-KEY-"))
}

/// The age public keys new backups are encrypted to.
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}

/// One public key, or why it is not one (`place` says where it was read).
fn parse_recipient(key: &str, place: &str) -> Result<age::x25519::Recipient> {
    if is_secret(key) {
        return Err(failed(format!(
            "{SETTING}: {place} is a private key (AGE-SECRET-KEY-...); give its public key \
             (`age-keygen -y KEYFILE` prints it): the private key is not needed to back up"
        )));
    }
    key.parse::<age::x25519::Recipient>().map_err(|error| {
        failed(format!(
            "{SETTING}: {place} {key:?} is not an age public key (age1..., as age-keygen prints; \
             SSH keys and plugin recipients are not supported): {error}"
        ))
    })
}

impl Recipients {
    /// `BACKUP_ENCRYPT_TO`: `age1...` public keys separated by commas, or the path of a
    /// recipients file (one key per line, `#` comments, as `age -R` reads); `None` when unset or
    /// empty. Errors name the setting, in one line.
    pub fn from_setting(value: Option<&str>) -> Result<Option<Recipients>> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let keys = if value
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("age1"))
            || is_secret(value)
        {
            value
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| parse_recipient(k, "the value"))
                .collect::<Result<Vec<_>>>()?
        } else {
            let text = std::fs::read_to_string(value).map_err(|error| {
                failed(format!(
                    "{SETTING}: {value:?} is neither age public keys (age1...) nor a readable \
                     recipients file: {error}"
                ))
            })?;
            Self::parse_file(&text, value)?
        };
        if keys.is_empty() {
            return Err(failed(format!(
                "{SETTING}: {value:?} names no age public key"
            )));
        }
        Ok(Some(Recipients(keys)))
    }

    /// The keys of a recipients file's text (`file` names it in messages).
    fn parse_file(text: &str, file: &str) -> Result<Vec<age::x25519::Recipient>> {
        text.lines()
            .enumerate()
            .map(|(n, line)| (n + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
            .map(|(n, line)| parse_recipient(line, &format!("line {n} of {file}")))
            .collect()
    }

    /// The public keys, as age writes them (`age1...`), for the manifest.
    pub fn keys(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    fn encryptor(&self) -> std::io::Result<age::Encryptor> {
        age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|error| std::io::Error::other(error.to_string()))
    }

    /// Encrypts everything `write` writes into `output` (age's binary format, no armor), and
    /// finishes the age stream.
    pub fn seal<W: std::io::Write>(
        &self,
        output: W,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<W> {
        let mut sealed = self.encryptor()?.wrap_output(output)?;
        write(&mut sealed)?;
        sealed.finish()
    }
}

/// The private keys of an identity file (`--identity`, `BACKUP_IDENTITY_FILE`): what decrypts
/// an encrypted backup. Its `Debug` names the file only.
#[derive(Clone)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    file: PathBuf,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("file", &self.file)
            .field("count", &self.keys.len())
            .finish()
    }
}

impl Identities {
    /// Reads an age identity file: `AGE-SECRET-KEY-1...` lines, `#` comments and empty lines
    /// (what age-keygen writes). A problem is a usage error (exit 2) naming the file and line,
    /// never the line itself.
    pub fn read(file: &Path) -> Result<Identities> {
        let bad = |why: String| Error::Usage(format!("--identity {}: {why}", file.display()));
        let bytes = std::fs::read(file).map_err(|e| bad(format!("cannot read it: {e}")))?;
        if bytes.starts_with(b"age-encryption.org/v1") {
            return Err(bad(
                "it is an encrypted (passphrase-protected) identity file; decrypt it first \
                 (age -d KEYFILE > plain-key, on a disk that is not kept)"
                    .to_owned(),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| bad("not a text file of age identities".to_owned()))?;
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.parse::<age::x25519::Identity>().map_err(|_| {
                bad(format!(
                    "line {} is not an age identity (AGE-SECRET-KEY-1..., as age-keygen writes; \
                     SSH keys and plugin identities are not supported)",
                    n + 1
                ))
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(bad(
                "it holds no age identity (AGE-SECRET-KEY-1...)".to_owned()
            ));
        }
        Ok(Identities {
            keys,
            file: file.to_path_buf(),
        })
    }

    /// The public keys of these identities (to say which keys were tried).
    fn public_keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// A reader of the plaintext of the age file `input` (the stored file of `manifest`).
    pub fn open<R: BufRead>(
        &self,
        input: R,
        manifest: &Manifest,
    ) -> Result<age::stream::StreamReader<R>> {
        let id = &manifest.id;
        let decryptor = age::Decryptor::new_buffered(input).map_err(|error| {
            failed(format!(
                "backup {id}: {} is not a readable age file: {error}",
                manifest.file
            ))
        })?;
        if decryptor.is_scrypt() {
            return Err(failed(format!(
                "backup {id}: {} is encrypted to a passphrase, not to a key",
                manifest.file
            )));
        }
        decryptor
            .decrypt(self.keys.iter().map(|k| k as &dyn age::Identity))
            .map_err(|error| match error {
                age::DecryptError::NoMatchingKeys => Error::Usage(format!(
                    "backup {id} cannot be decrypted with {} (wrong key): it is encrypted to {}, \
                     that file holds the private key of {}",
                    self.file.display(),
                    manifest
                        .recipients
                        .as_deref()
                        .map(|r| r.join(", "))
                        .unwrap_or_else(|| "keys the manifest does not name".to_owned()),
                    self.public_keys().join(", ")
                )),
                other => failed(format!(
                    "backup {id}: cannot decrypt {}: {other}",
                    manifest.file
                )),
            })
    }
}

/// The identities that decrypt `manifest`'s backup, or the refusal (exit 2) when none were given.
pub fn required<'a>(
    manifest: &Manifest,
    identities: Option<&'a Identities>,
    command: &str,
) -> Result<&'a Identities> {
    identities.ok_or_else(|| {
        Error::Usage(format!(
            "backup {} is encrypted (age, to {}): {command} needs its private key; pass \
             --identity KEYFILE (or set BACKUP_IDENTITY_FILE)",
            manifest.id,
            manifest
                .recipients
                .as_deref()
                .map(|r| r.join(", "))
                .unwrap_or_default()
        ))
    })
}

/// Whether a backup is encrypted (an error for an encryption this version does not know).
pub fn is_encrypted(manifest: &Manifest) -> Result<bool> {
    match manifest.encryption.as_deref() {
        None => Ok(false),
        Some(AGE) => Ok(true),
        Some(other) => Err(failed(format!(
            "backup {}: unknown encryption {other:?} (written by a newer db-backup?)",
            manifest.id
        ))),
    }
}

/// Reads the whole plaintext of an age file (tests).
#[cfg(test)]
fn decrypt_all(identities: &Identities, bytes: &[u8], manifest: &Manifest) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut reader = identities.open(bytes, manifest)?;
    let mut plain = Vec::new();
    reader
        .read_to_end(&mut plain)
        .map_err(|e| failed(e.to_string()))?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("db_backup_age_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn manifest(recipients: &Recipients) -> Manifest {
        serde_json::from_value(serde_json::json!({
            "format": 1, "id": "20250101T000000.000Z", "file": "hbnb-20250101T000000.000Z.sqlite.age",
            "engine": "sqlite", "server_version": "3", "dump_tool": "VACUUM INTO",
            "migration_version": 1, "tables": {}, "sha256": "", "size": 0,
            "encryption": "age", "recipients": recipients.keys(),
            "started_at": "2025-01-01T00:00:00Z", "duration_ms": 0, "dump_duration_ms": 0,
            "verification": {"ok": true, "at": "2025-01-01T00:00:00Z", "method": "", "duration_ms": 0,
                             "restored_tables": {}, "error": null}
        }))
        .unwrap()
    }

    #[test]
    fn reads_the_setting() {
        let (a, b) = (
            age::x25519::Identity::generate().to_public().to_string(),
            age::x25519::Identity::generate().to_public().to_string(),
        );
        assert!(Recipients::from_setting(None).unwrap().is_none());
        assert!(Recipients::from_setting(Some("  ")).unwrap().is_none());
        let two = Recipients::from_setting(Some(&format!(" {a} , {b},")))
            .unwrap()
            .unwrap();
        assert_eq!(two.keys(), [a.clone(), b.clone()]);

        let file = temp("recipients.txt");
        std::fs::write(&file, format!("# backups\n{a}\n\n  # old: none\n{b}\n")).unwrap();
        let from_file = Recipients::from_setting(file.to_str()).unwrap().unwrap();
        assert_eq!(from_file.keys(), [a.clone(), b]);

        let error = Recipients::from_setting(Some("age1nope"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("BACKUP_ENCRYPT_TO: "), "{error}");
        assert!(!error.contains('\n'), "{error}");
        let error = Recipients::from_setting(Some(&format!("{a},ssh-ed25519 AAAA")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ssh-ed25519"), "{error}");
        std::fs::write(&file, format!("{a}\nnot a key\n")).unwrap();
        let error = Recipients::from_setting(file.to_str())
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2 of"), "{error}");
        let error = Recipients::from_setting(Some("/nonexistent/recipients"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("BACKUP_ENCRYPT_TO: "), "{error}");

        // A private key given by mistake is refused without being repeated.
        let secret = age::x25519::Identity::generate();
        let secret = secret.to_string();
        let secret = secret.expose_secret();
        let error = Recipients::from_setting(Some(secret))
            .unwrap_err()
            .to_string();
        assert!(!error.contains(&secret[15..]), "{error}");
        std::fs::write(&file, format!("{a}\n{secret}\n")).unwrap();
        let error = Recipients::from_setting(file.to_str())
            .unwrap_err()
            .to_string();
        assert!(error.contains("private key"), "{error}");
        assert!(!error.contains(&secret[15..]), "{error}");
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn seals_and_opens() {
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let recipients = Recipients::from_setting(Some(&key.to_public().to_string()))
            .unwrap()
            .unwrap();
        let sealed = recipients
            .seal(Vec::new(), |w| w.write_all(b"SQLite format 3\0 and more"))
            .unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
        let manifest = manifest(&recipients);

        let file = temp("identity.txt");
        std::fs::write(
            &file,
            format!(
                "# created: now\n# public key: {}\n{}\n",
                key.to_public(),
                key.to_string().expose_secret()
            ),
        )
        .unwrap();
        let identities = Identities::read(&file).unwrap();
        assert!(!format!("{identities:?}").contains("AGE-SECRET"));
        assert_eq!(
            decrypt_all(&identities, &sealed, &manifest).unwrap(),
            b"SQLite format 3\0 and more"
        );

        let wrong_secret = other.to_string();
        std::fs::write(&file, format!("{}\n", wrong_secret.expose_secret())).unwrap();
        let wrong = Identities::read(&file).unwrap();
        let error = decrypt_all(&wrong, &sealed, &manifest).unwrap_err();
        assert!(matches!(error, Error::Usage(_)), "{error}");
        let text = error.to_string();
        assert!(text.contains(&manifest.id), "{text}");
        assert!(text.contains("wrong key"), "{text}");
        assert!(
            !text.contains(&wrong_secret.expose_secret()[15..]),
            "{text}"
        );

        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(matches!(Identities::read(&file), Err(Error::Usage(_))));
        std::fs::write(&file, "AGE-SECRET-KEY-1NOTVALID\n").unwrap();
        let error = Identities::read(&file).unwrap_err().to_string();
        assert!(
            error.contains("line 1") && !error.contains("NOTVALID"),
            "{error}"
        );
        let _ = std::fs::remove_file(&file);
    }
}
