//! Private key files: Ed25519 seeds for partners and the log, and the writing rules shared with
//! the TLS keys (created owner-only, never chmod-ed after the fact, so no moment exists when
//! another user could read them).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;

use super::{IdentityError, validate_name};

/// File stem of the log's checkpoint key (`log.ed25519`).
pub const LOG_KEY_NAME: &str = "log";

/// File stem of the previous log key kept during a log key rotation (`log.previous.ed25519`):
/// while it exists, `serve` signs every checkpoint with it too.
pub const PREVIOUS_LOG_KEY_NAME: &str = "log.previous";

/// File stem of a new log key written before the rotation is appended (`log.next.ed25519`), so
/// the key survives a crash between the append and the renames.
pub const NEXT_LOG_KEY_NAME: &str = "log.next";

/// Where a retired key of `name` is kept: `<dir>/<name>.retired-<entry>.ed25519`, named after
/// the KeyChange entry that retired it.
pub fn retired_key_path(dir: &Path, name: &str, entry: u64) -> PathBuf {
    dir.join(format!("{name}.retired-{entry}.ed25519"))
}

/// Reads the previous log key, if a log key rotation is under way.
pub fn load_previous_log_key(dir: &Path) -> Result<Option<SigningKey>, IdentityError> {
    if !signing_key_path(dir, PREVIOUS_LOG_KEY_NAME).exists() {
        return Ok(None);
    }
    read_seed(dir, PREVIOUS_LOG_KEY_NAME).map(Some)
}

/// Reads any key file by stem (`<dir>/<stem>.ed25519`), for the log key rotation's files.
pub fn load_key_file(dir: &Path, stem: &str) -> Result<SigningKey, IdentityError> {
    read_seed(dir, stem)
}

/// Renames a key file, keeping it (a retired key is never deleted silently).
pub fn move_key_file(from: &Path, to: &Path) -> Result<(), IdentityError> {
    if to.exists() {
        return Err(IdentityError::Io {
            action: "keep the old key in",
            path: to.to_path_buf(),
            source: std::io::Error::new(ErrorKind::AlreadyExists, "the file exists"),
        });
    }
    std::fs::rename(from, to).map_err(|source| IdentityError::Io {
        action: "rename",
        path: from.to_path_buf(),
        source,
    })
}

/// Writes `key`'s seed to `<dir>/<stem>.ed25519` for any stem (log key files), owner-only.
pub fn write_key_file(dir: &Path, stem: &str, key: &SigningKey) -> Result<PathBuf, IdentityError> {
    let path = signing_key_path(dir, stem);
    write_private(
        &path,
        format!("{}\n", BASE64.encode(key.to_bytes())).as_bytes(),
    )?;
    Ok(path)
}

/// Where `name`'s Ed25519 seed lives: `<dir>/<name>.ed25519`.
pub fn signing_key_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.ed25519"))
}

/// A fresh Ed25519 key with its seed straight from the OS.
pub fn generate_signing_key() -> Result<SigningKey, IdentityError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a partner's signing key from `<dir>/<name>.ed25519`.
pub fn load_signing_key(dir: &Path, name: &str) -> Result<SigningKey, IdentityError> {
    validate_name(name)?;
    read_seed(dir, name)
}

/// Reads the log's checkpoint signing key from `<dir>/log.ed25519`.
pub fn load_log_key(dir: &Path) -> Result<SigningKey, IdentityError> {
    read_seed(dir, LOG_KEY_NAME)
}

/// Writes `key`'s seed as base64 text to `<dir>/<name>.ed25519`, owner-only.
pub fn write_signing_key(
    dir: &Path,
    name: &str,
    key: &SigningKey,
) -> Result<PathBuf, IdentityError> {
    let path = signing_key_path(dir, name);
    let text = format!("{}\n", BASE64.encode(key.to_bytes()));
    write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// Where a data owner's customer-register key lives: `<dir>/<owner>.register-key`.
pub fn register_key_path(dir: &Path, owner: &str) -> PathBuf {
    dir.join(format!("{owner}.register-key"))
}

/// A fresh 32-byte register key (the HMAC key of the customer register), hex, owner-only.
pub fn write_new_register_key(dir: &Path, owner: &str) -> Result<PathBuf, IdentityError> {
    validate_name(owner)?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| IdentityError::Random(e.to_string()))?;
    let path = register_key_path(dir, owner);
    write_private(&path, format!("{}\n", hex::encode(key)).as_bytes())?;
    Ok(path)
}

/// Reads a register key file (hex); `None` when the owner has none.
pub fn load_register_key(dir: &Path, owner: &str) -> Result<Option<Vec<u8>>, IdentityError> {
    validate_name(owner)?;
    let path = register_key_path(dir, owner);
    if !path.exists() {
        return Ok(None);
    }
    read_register_key(&path).map(Some)
}

/// Reads a register key from any file (hex text).
pub fn read_register_key(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let bytes = read_private(path)?;
    let bad = |reason: &str| IdentityError::BadKeyFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text; expected hex"))?;
    hex::decode(text.trim()).map_err(|_| bad("not valid hex"))
}

fn read_seed(dir: &Path, name: &str) -> Result<SigningKey, IdentityError> {
    let path = signing_key_path(dir, name);
    let bytes = match read_private(&path) {
        Err(IdentityError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Err(IdentityError::MissingSigningKey {
                name: name.to_string(),
                path,
            });
        }
        other => other?,
    };
    let bad = |reason: &str| IdentityError::BadKeyFile {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text; expected base64"))?;
    let seed = BASE64
        .decode(text.trim())
        .map_err(|_| bad("not valid base64"))?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| bad("expected base64 of a 32-byte Ed25519 seed"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Creates `path` afresh with mode 0600 and writes `bytes`, synced.
///
/// Any existing file is removed first: opening it would keep its old, possibly wider mode.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let io = |action, source| IdentityError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(io("replace", e)),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io("create", e))?;
    file.write_all(bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("sync", e))
}

/// Writes a public file (certificate, partners.toml) via a temporary file and a rename, so a
/// reader never sees half of it.
pub(crate) fn write_public(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let io = |action, source| IdentityError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
    file.write_all(bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename into", e))
}

/// Reads a private key file, warning when other users can read it.
pub(crate) fn read_private(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let bytes = std::fs::read(path).map_err(|source| IdentityError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "private key file is readable by group or others; run chmod 600 on it"
            );
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_round_trips_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_signing_key().unwrap();
        let path = write_signing_key(dir.path(), "alice", &key).unwrap();
        assert_eq!(load_signing_key(dir.path(), "alice").unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_key_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_signing_key(dir.path(), "x").unwrap_err().to_string();
        assert!(err.contains("no signing key for 'x'"), "{err}");
        assert!(err.contains("x.ed25519"), "{err}");
        assert!(err.contains("borderlog init"), "{err}");
        let err = load_log_key(dir.path()).unwrap_err().to_string();
        assert!(err.contains("log.ed25519"), "{err}");
    }

    #[test]
    fn malformed_seed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = signing_key_path(dir.path(), "x");
        for content in [&b"not base64!"[..], b"AAAA\n", &[0xff, 0xfe]] {
            write_private(&path, content).unwrap();
            let err = load_signing_key(dir.path(), "x").unwrap_err();
            assert!(matches!(err, IdentityError::BadKeyFile { .. }), "{err}");
        }
    }

    #[test]
    fn register_key_round_trips_and_absent_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_register_key(dir.path(), "o").unwrap(), None);
        write_new_register_key(dir.path(), "o").unwrap();
        let key = load_register_key(dir.path(), "o").unwrap().unwrap();
        assert_eq!(key.len(), 32);
        write_private(&register_key_path(dir.path(), "o"), b"zz").unwrap();
        assert!(load_register_key(dir.path(), "o").is_err());
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_signing_key(dir.path(), "../x").unwrap_err();
        assert!(matches!(err, IdentityError::InvalidName(_)));
    }

    #[cfg(unix)]
    #[test]
    fn rewriting_a_wide_open_file_makes_it_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
