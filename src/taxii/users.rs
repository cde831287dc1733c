//! TAXII HTTP Basic credentials: one per party, made by `init` and `borderlog taxii-user`,
//! stored only as Argon2id hashes (PHC strings) in `keys/taxii-users.toml`. The server reads
//! the file again when it changes, so a revocation takes effect on the next request.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::identity::keys::write_private;
use crate::identity::{IdentityError, validate_name};

/// The credentials file inside the keys directory.
pub const USERS_FILE: &str = "taxii-users.toml";

/// Where `init` leaves a party's generated password for the dev set-up (mode 0600).
pub fn password_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.taxii-password"))
}

/// The file's content: party name → Argon2id PHC string.
#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    #[serde(default)]
    users: BTreeMap<String, String>,
}

fn load(path: &Path) -> Result<UsersFile, IdentityError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UsersFile::default()),
        Err(source) => {
            return Err(IdentityError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| IdentityError::BadKeyFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn save(path: &Path, file: &UsersFile) -> Result<(), IdentityError> {
    let text = format!(
        "# TAXII HTTP Basic credentials: party name = Argon2id hash of its password.\n# Made by `borderlog init` and `borderlog taxii-user add`; never holds a password.\n{}",
        toml::to_string(file).map_err(|e| IdentityError::BadKeyFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?
    );
    write_private(path, text.as_bytes())
}

/// Makes (or replaces) `name`'s password and stores its hash; returns the password, which is
/// kept nowhere else.
pub fn add(dir: &Path, name: &str) -> Result<String, IdentityError> {
    validate_name(name)?;
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crate::client::random_bytes::<24>());
    let path = dir.join(USERS_FILE);
    let mut file = load(&path)?;
    file.users.insert(name.to_owned(), hash(&password)?);
    save(&path, &file)?;
    Ok(password)
}

/// Removes `name`'s credential; false if it had none.
pub fn revoke(dir: &Path, name: &str) -> Result<bool, IdentityError> {
    let path = dir.join(USERS_FILE);
    let mut file = load(&path)?;
    let had = file.users.remove(name).is_some();
    if had {
        save(&path, &file)?;
    }
    Ok(had)
}

/// The parties that have a credential.
pub fn list(dir: &Path) -> Result<Vec<String>, IdentityError> {
    Ok(load(&dir.join(USERS_FILE))?.users.into_keys().collect())
}

/// An Argon2id hash (RustCrypto's default parameters) of `password` under a fresh salt.
fn hash(password: &str) -> Result<String, IdentityError> {
    let salt = SaltString::encode_b64(&crate::client::random_bytes::<16>()).map_err(|e| {
        IdentityError::CertificateGeneration {
            what: "a password salt".into(),
            reason: e.to_string(),
        }
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::CertificateGeneration {
            what: "a password hash".into(),
            reason: e.to_string(),
        })
}

/// The server's view of the credentials file, re-read when it changes.
pub struct Credentials {
    path: PathBuf,
    state: Mutex<Loaded>,
    /// Hashed by the same parameters as every stored one, so that an unknown name costs as
    /// much time as a known one.
    dummy: String,
}

#[derive(Default)]
struct Loaded {
    /// Identifies the file version read: (modified, length, inode).
    stamp: Option<(std::time::SystemTime, u64, u64)>,
    hashes: BTreeMap<String, String>,
    /// SHA-256 of the password that last verified per name, so that a client's every request
    /// does not pay an Argon2 hash; cleared whenever the file changes.
    verified: HashMap<String, [u8; 32]>,
}

impl Credentials {
    /// The credentials in `keys_dir` (none yet is fine: then only certificates authenticate).
    pub fn new(keys_dir: &Path) -> Result<Credentials, IdentityError> {
        let me = Credentials {
            path: keys_dir.join(USERS_FILE),
            state: Mutex::new(Loaded::default()),
            dummy: hash("not a password of anybody")?,
        };
        me.refresh()?;
        Ok(me)
    }

    /// Reads the file again if it changed since it was last read.
    fn refresh(&self) -> Result<(), IdentityError> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt as _;
            (
                m.modified().unwrap_or(std::time::UNIX_EPOCH),
                m.len(),
                m.ino(),
            )
        });
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.stamp != stamp || stamp.is_none() {
            let file = load(&self.path)?;
            *state = Loaded {
                stamp,
                hashes: file.users,
                verified: HashMap::new(),
            };
        }
        Ok(())
    }

    /// Does `password` belong to `name`? Blocking (an Argon2 verification when not cached);
    /// the comparison is constant-time either way.
    pub fn check(&self, name: &str, password: &str) -> Result<bool, IdentityError> {
        self.refresh()?;
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let stored = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(known) = state.verified.get(name)
                && bool::from(known.ct_eq(&digest))
            {
                return Ok(true);
            }
            state.hashes.get(name).cloned()
        };
        let hash = stored.as_deref().unwrap_or(&self.dummy);
        let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }) && stored.is_some();
        if ok {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.verified.insert(name.to_owned(), digest);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_check_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let password = add(dir.path(), "police-network").unwrap();
        let text = std::fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(
            !text.contains(&password),
            "the password itself is never stored"
        );
        let creds = Credentials::new(dir.path()).unwrap();
        assert!(creds.check("police-network", &password).unwrap());
        assert!(creds.check("police-network", &password).unwrap(), "cached");
        assert!(!creds.check("police-network", "wrong").unwrap());
        assert!(!creds.check("nobody", &password).unwrap());
        assert!(revoke(dir.path(), "police-network").unwrap());
        assert!(
            !creds.check("police-network", &password).unwrap(),
            "revoked at once"
        );
        assert!(!revoke(dir.path(), "police-network").unwrap());
        assert!(add(dir.path(), "../x").is_err());
    }
}
