//! Keys in force: the Ed25519 key each partner, and the log itself, signs with at a given
//! point of the log.
//!
//! The genesis entry pins the first keys; every KeyChange entry after it, in log order,
//! rotates or revokes one (docs/FORMAT.md, "Keys"). The rules, in one place for the service
//! (checking a ChangeKey request) and the sequencer (re-checking it at sequencing time):
//!
//! - a partner rotates its own key: `party` = its name, a new 32-byte key, signed by the key
//!   in force;
//! - a partner is revoked: `party` = its name, no new key, signed by its own key in force or
//!   by the log key in force (the operator revokes a partner that left or lost its key);
//! - the log key is rotated: `party` = the log's origin, a new key, signed by the log key in
//!   force. The log key is never revoked, and never gives a partner a new key;
//! - a new key is a valid, strong Ed25519 key that no party (nor the log) has ever held, so an
//!   old KeyChange cannot be replayed after A→B→A.
//!
//! Pure but for [`KeysInForce::rebuild`], which reads the log at start-up.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use thiserror::Error;

use crate::format::LeafIndex;
use crate::format::signature::{self, Purpose};
use crate::pb;
use crate::store::{LogStore, StoreError};

/// Why a KeyChange (or a signature by a retired key) is not acceptable at this point of the log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The KeyChange names neither a partner of this log nor the log's origin.
    #[error("{0:?} is neither a partner of this log (with a key) nor the log's origin")]
    UnknownParty(String),
    /// The party was revoked: it signs nothing any more.
    #[error("{party} was revoked by entry {}; it signs nothing any more", index.0)]
    Revoked {
        /// The revoked party.
        party: String,
        /// The KeyChange entry that revoked it.
        index: LeafIndex,
    },
    /// The new key is not a valid, strong Ed25519 public key.
    #[error(
        "the new key for {party} is not a canonical, strong 32-byte Ed25519 public key (RFC 8032)"
    )]
    BadNewKey {
        /// The party.
        party: String,
    },
    /// The new key has been held before, by this or another party or the log.
    #[error(
        "the new key for {party} was already used (pinned or introduced by entry {}); generate a fresh key",
        first.0
    )]
    KeyUsedBefore {
        /// The party.
        party: String,
        /// Where the key first appeared.
        first: LeafIndex,
    },
    /// The log key cannot be revoked, only rotated.
    #[error("the log key cannot be revoked, only rotated (give a new key)")]
    LogKeyNotRevocable,
    /// The signature is by no key that may sign this change.
    #[error(
        "the key change for {party} is not signed by {may_sign}; sign {domain:?} || new public key with it",
        domain = crate::format::signature::Purpose::KeyChange.domain_text()
    )]
    BadSignature {
        /// The party.
        party: String,
        /// Which keys may sign it.
        may_sign: &'static str,
    },
    /// A disclosure (or refusal) names a recipient that was revoked: nothing goes to it.
    #[error("{party} was revoked by entry {}: nothing is disclosed to it any more", index.0)]
    RecipientRevoked {
        /// The revoked recipient.
        party: String,
        /// The KeyChange entry that revoked it.
        index: LeafIndex,
    },
    /// An entry was verified against a key that is no longer the signer's key in force.
    #[error(
        "{party}'s key changed at entry {} while the entry was checked; sign again with the key in force",
        index.0
    )]
    Retired {
        /// The signer.
        party: String,
        /// The KeyChange entry that retired the key.
        index: LeafIndex,
    },
}

/// A party's key as the log holds it: the key in force, or `None` once revoked, and the entry
/// that put it so (genesis, or the latest KeyChange of the party).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInForce {
    /// The key; `None`: revoked.
    pub key: Option<VerifyingKey>,
    /// The entry that set it.
    pub index: LeafIndex,
}

/// Who signed an accepted KeyChange, and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A partner's new key, signed by its old key.
    Rotate(VerifyingKey),
    /// A partner's revocation; `by_log`: signed by the log key rather than the partner's.
    Revoke {
        /// Signed by the log key in force.
        by_log: bool,
    },
    /// The log's new key, signed by the old log key.
    RotateLog(VerifyingKey),
}

/// What a KeyChange would do, and who may sign it (the first key, or for a revocation also the
/// second, the log key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The change, as if signed by the first of `signers`.
    pub change: Change,
    /// The keys that may sign it, in order of preference.
    pub signers: Vec<VerifyingKey>,
    /// The signers in words, for errors.
    pub may_sign: &'static str,
}

/// The keys in force at one point of the log: every partner's and the log's.
#[derive(Debug, Clone, Default)]
pub struct KeysInForce {
    origin: String,
    log: Option<KeyInForce>,
    parties: HashMap<String, KeyInForce>,
    /// Every key ever held by a party or the log, and where it first appeared.
    used: HashMap<[u8; 32], LeafIndex>,
    /// Every log key ever in force, oldest first (to open checkpoints signed before a rotation).
    log_history: Vec<VerifyingKey>,
    /// Whether any partner was revoked (so the sequencer checks recipients only then).
    any_revoked: bool,
}

impl KeysInForce {
    /// The log's origin (the key name of its checkpoints; a KeyChange for it rotates the log key).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log key in force (None before genesis).
    pub fn log(&self) -> Option<KeyInForce> {
        self.log
    }

    /// Every log key that has been in force, oldest first.
    pub fn log_history(&self) -> &[VerifyingKey] {
        &self.log_history
    }

    /// A partner's key in force (None: not a partner with a key).
    pub fn party(&self, name: &str) -> Option<KeyInForce> {
        self.parties.get(name).copied()
    }

    /// The key `party` signs with now, or why it signs nothing.
    pub fn signing_key(&self, party: &str) -> Result<VerifyingKey, KeyError> {
        match self.parties.get(party) {
            None => Err(KeyError::UnknownParty(party.to_owned())),
            Some(KeyInForce { key: None, index }) => Err(KeyError::Revoked {
                party: party.to_owned(),
                index: *index,
            }),
            Some(KeyInForce { key: Some(k), .. }) => Ok(*k),
        }
    }

    /// Whether any partner has been revoked.
    pub fn any_revoked(&self) -> bool {
        self.any_revoked
    }

    /// Fails when `recipient` was revoked.
    pub fn may_receive(&self, recipient: &str) -> Result<(), KeyError> {
        match self.parties.get(recipient) {
            Some(KeyInForce { key: None, index }) => Err(KeyError::RecipientRevoked {
                party: recipient.to_owned(),
                index: *index,
            }),
            _ => Ok(()),
        }
    }

    /// Fails unless `key` is still `party`'s key in force (an entry verified against it may be
    /// appended).
    pub fn still_in_force(&self, party: &str, key: &VerifyingKey) -> Result<(), KeyError> {
        let current = if party == self.origin {
            self.log
                .ok_or_else(|| KeyError::UnknownParty(party.to_owned()))?
        } else {
            self.parties
                .get(party)
                .copied()
                .ok_or_else(|| KeyError::UnknownParty(party.to_owned()))?
        };
        match current.key {
            Some(k) if k == *key => Ok(()),
            None => Err(KeyError::Revoked {
                party: party.to_owned(),
                index: current.index,
            }),
            Some(_) => Err(KeyError::Retired {
                party: party.to_owned(),
                index: current.index,
            }),
        }
    }

    /// Checks a KeyChange against the keys in force (the rules in the module docs), signature
    /// included; returns what it does.
    pub fn check(&self, k: &pb::KeyChange) -> Result<Change, KeyError> {
        let expected = self.expect(k)?;
        let signed_by = |key: &VerifyingKey| {
            signature::verify(key, Purpose::KeyChange, &k.new_public_key, &k.signature).is_ok()
        };
        match expected.signers.iter().position(signed_by) {
            Some(0) => Ok(expected.change),
            // The second possible signer of a revocation is the log key.
            Some(_) => Ok(Change::Revoke { by_log: true }),
            None => Err(KeyError::BadSignature {
                party: k.party.clone(),
                may_sign: expected.may_sign,
            }),
        }
    }

    /// The rules of [`KeysInForce::check`] but the signature: what the KeyChange would do and
    /// which keys may sign it, so a verifier can check the signature in a batch.
    pub fn expect(&self, k: &pb::KeyChange) -> Result<Expected, KeyError> {
        let party = k.party.as_str();
        let new_key = || -> Result<VerifyingKey, KeyError> {
            let key =
                signature::public_key(&k.new_public_key).map_err(|_| KeyError::BadNewKey {
                    party: party.to_owned(),
                })?;
            if let Some(first) = self.used.get(key.as_bytes()) {
                return Err(KeyError::KeyUsedBefore {
                    party: party.to_owned(),
                    first: *first,
                });
            }
            Ok(key)
        };
        let log_key = self.log.and_then(|l| l.key);
        if party == self.origin && !party.is_empty() {
            if k.new_public_key.is_empty() {
                return Err(KeyError::LogKeyNotRevocable);
            }
            return Ok(Expected {
                change: Change::RotateLog(new_key()?),
                signers: log_key.into_iter().collect(),
                may_sign: "the log key in force",
            });
        }
        let own = self.signing_key(party)?;
        if k.new_public_key.is_empty() {
            return Ok(Expected {
                change: Change::Revoke { by_log: false },
                signers: std::iter::once(own).chain(log_key).collect(),
                may_sign: "the party's key in force or the log key in force",
            });
        }
        Ok(Expected {
            change: Change::Rotate(new_key()?),
            signers: vec![own],
            may_sign: "the party's key in force",
        })
    }

    /// Takes in one committed entry: genesis pins the first keys, a KeyChange (already checked)
    /// changes one. Other kinds change nothing.
    pub fn apply(&mut self, index: LeafIndex, kind: &pb::entry::Kind) {
        match kind {
            pb::entry::Kind::Genesis(g) => {
                self.origin = g.origin.clone();
                if let Ok(log) = signature::public_key(&g.log_public_key) {
                    self.log = Some(KeyInForce {
                        key: Some(log),
                        index,
                    });
                    self.log_history.push(log);
                    self.used.entry(log.to_bytes()).or_insert(index);
                }
                for p in &g.parties {
                    if let Ok(key) = signature::public_key(&p.public_key) {
                        self.used.entry(key.to_bytes()).or_insert(index);
                        self.parties.insert(
                            p.name.clone(),
                            KeyInForce {
                                key: Some(key),
                                index,
                            },
                        );
                    }
                }
            }
            pb::entry::Kind::KeyChange(k) => {
                let new = signature::public_key(&k.new_public_key).ok();
                if let Some(key) = new {
                    self.used.entry(key.to_bytes()).or_insert(index);
                }
                if k.party == self.origin {
                    if let Some(key) = new {
                        self.log = Some(KeyInForce {
                            key: Some(key),
                            index,
                        });
                        self.log_history.push(key);
                    }
                } else if let Some(p) = self.parties.get_mut(&k.party) {
                    *p = KeyInForce { key: new, index };
                    self.any_revoked |= new.is_none();
                }
            }
            _ => {}
        }
    }

    /// The keys in force after every entry of `store`: genesis, then each KeyChange in order.
    pub fn rebuild(store: &dyn LogStore) -> Result<KeysInForce, StoreError> {
        let mut keys = KeysInForce::default();
        let kinds = [pb::EntryKind::Genesis, pb::EntryKind::KeyChange];
        for index in store.scan(LeafIndex(0), None, &kinds, usize::MAX)? {
            let bytes = store.entry(index)?.ok_or_else(|| {
                StoreError::IndexInconsistent(format!("key entry {} is missing", index.0))
            })?;
            let entry = crate::format::entry::decode(&bytes).map_err(|e| {
                StoreError::IndexInconsistent(format!("entry {} does not decode: {e}", index.0))
            })?;
            if let Some(kind) = &entry.kind {
                keys.apply(index, kind);
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    const ORIGIN: &str = "example.org/log";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn genesis() -> KeysInForce {
        let mut keys = KeysInForce::default();
        let party = |name: &str, seed: u8| pb::Party {
            name: name.into(),
            role: pb::Role::Sender as i32,
            public_key: key(seed).verifying_key().to_bytes().to_vec(),
            ..Default::default()
        };
        let g = pb::Genesis {
            origin: ORIGIN.into(),
            log_public_key: key(1).verifying_key().to_bytes().to_vec(),
            parties: vec![party("a", 2), party("b", 3)],
        };
        keys.apply(LeafIndex(0), &pb::entry::Kind::Genesis(g));
        keys
    }

    fn change(party: &str, new: Option<&SigningKey>, signer: &SigningKey) -> pb::KeyChange {
        let new_public_key = new.map_or(Vec::new(), |k| k.verifying_key().to_bytes().to_vec());
        pb::KeyChange {
            party: party.into(),
            signature: signature::sign(signer, Purpose::KeyChange, &new_public_key).to_vec(),
            new_public_key,
        }
    }

    fn commit(keys: &mut KeysInForce, index: u64, k: pb::KeyChange) -> Change {
        let c = keys.check(&k).unwrap();
        keys.apply(LeafIndex(index), &pb::entry::Kind::KeyChange(k));
        c
    }

    #[test]
    fn rotation_needs_the_key_in_force_and_a_fresh_key() {
        let mut keys = genesis();
        let k = change("a", Some(&key(9)), &key(3));
        assert!(matches!(keys.check(&k), Err(KeyError::BadSignature { .. })));
        let rotate = change("a", Some(&key(9)), &key(2));
        assert!(matches!(
            commit(&mut keys, 5, rotate.clone()),
            Change::Rotate(_)
        ));
        assert_eq!(keys.signing_key("a").unwrap(), key(9).verifying_key());
        // Replaying the same change, or going back to the old key, is refused.
        assert!(matches!(
            keys.check(&rotate),
            Err(KeyError::KeyUsedBefore { .. })
        ));
        let back = change("a", Some(&key(2)), &key(9));
        assert_eq!(
            keys.check(&back),
            Err(KeyError::KeyUsedBefore {
                party: "a".into(),
                first: LeafIndex(0)
            })
        );
        // Another party's or the log's key is not fresh either.
        let theirs = change("a", Some(&key(3)), &key(9));
        assert!(matches!(
            keys.check(&theirs),
            Err(KeyError::KeyUsedBefore { .. })
        ));
        let logs = change("a", Some(&key(1)), &key(9));
        assert!(matches!(
            keys.check(&logs),
            Err(KeyError::KeyUsedBefore { .. })
        ));
        assert_eq!(
            keys.still_in_force("a", &key(2).verifying_key()),
            Err(KeyError::Retired {
                party: "a".into(),
                index: LeafIndex(5)
            })
        );
        assert!(keys.still_in_force("a", &key(9).verifying_key()).is_ok());
    }

    #[test]
    fn revocation_by_the_party_or_the_log_and_nothing_after() {
        let mut keys = genesis();
        let by_other = change("a", None, &key(3));
        assert!(matches!(
            keys.check(&by_other),
            Err(KeyError::BadSignature { .. })
        ));
        // The log key may revoke, but not give a new key.
        let log_gives = change("a", Some(&key(9)), &key(1));
        assert!(matches!(
            keys.check(&log_gives),
            Err(KeyError::BadSignature { .. })
        ));
        assert_eq!(
            commit(&mut keys, 4, change("a", None, &key(1))),
            Change::Revoke { by_log: true }
        );
        let revoked = Err(KeyError::Revoked {
            party: "a".into(),
            index: LeafIndex(4),
        });
        assert_eq!(keys.signing_key("a").map(|_| ()), revoked);
        assert_eq!(
            keys.check(&change("a", Some(&key(9)), &key(2))).map(|_| ()),
            revoked
        );
        assert_eq!(
            commit(&mut keys, 6, change("b", None, &key(3))),
            Change::Revoke { by_log: false }
        );
    }

    #[test]
    fn log_rotation_is_signed_by_the_old_log_key_and_never_revokes() {
        let mut keys = genesis();
        assert_eq!(
            keys.check(&change(ORIGIN, None, &key(1))),
            Err(KeyError::LogKeyNotRevocable)
        );
        assert!(matches!(
            keys.check(&change(ORIGIN, Some(&key(7)), &key(2))),
            Err(KeyError::BadSignature { .. })
        ));
        assert!(matches!(
            commit(&mut keys, 3, change(ORIGIN, Some(&key(7)), &key(1))),
            Change::RotateLog(_)
        ));
        assert_eq!(keys.log().unwrap().key, Some(key(7).verifying_key()));
        assert_eq!(keys.log_history().len(), 2);
        assert!(matches!(
            keys.still_in_force(ORIGIN, &key(1).verifying_key()),
            Err(KeyError::Retired { .. })
        ));
        // The new log key revokes partners from now on; the old one no longer does.
        assert!(matches!(
            keys.check(&change("a", None, &key(1))),
            Err(KeyError::BadSignature { .. })
        ));
        assert!(keys.check(&change("a", None, &key(7))).is_ok());
    }

    #[test]
    fn unknown_parties_and_bad_keys_are_named() {
        let keys = genesis();
        assert_eq!(
            keys.check(&change("zed", Some(&key(9)), &key(2))),
            Err(KeyError::UnknownParty("zed".into()))
        );
        let mut weak = change("a", Some(&key(9)), &key(2));
        weak.new_public_key = vec![0; 32];
        weak.new_public_key[0] = 1; // the identity point: a weak key
        assert!(matches!(keys.check(&weak), Err(KeyError::BadNewKey { .. })));
    }
}
