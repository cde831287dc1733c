//! The rules of each entry kind (docs/FORMAT.md, "What a verifier checks"): genesis, disclosure,
//! receipt, refusal, policy change, redaction and key change, each against the open state the
//! entries before it left.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use prost::Message;

use super::deferred::{Job, ReplayContext, purpose_name};
use super::fields;

use super::{Auditor, Party, PendingDisclosure, PolicyState, VerifyError, fingerprint};

use crate::audit::spill::{self, Claim};

use crate::format::hash::{Hash, SALT_LEN, hash_from_slice, item_commitment, sha256};
use crate::format::note::{KeyType, Verifier};
use crate::format::signature::{self, Purpose};

use crate::format::entry;
use crate::guard::{self, Policy};
use crate::pb::{self, Role, entry::Kind};

impl Auditor {
    pub(super) fn genesis(&mut self, index: u64, g: pb::Genesis) -> Result<(), VerifyError> {
        let bad = |reason: String| VerifyError::Genesis { index, reason };
        if index != 0 {
            return Err(bad("a second genesis entry".into()));
        }
        let header = self.header.as_ref().expect("header read first");
        if g.origin != header.origin {
            return Err(bad(format!(
                "origin {:?} is not the header's {:?}",
                g.origin, header.origin
            )));
        }
        // The rules a registry keeps (names, roles, canonical strong keys, none shared, a
        // sender and a recipient) are the genesis entry's: one code path for both.
        let registry =
            crate::identity::Registry::from_genesis(&g).map_err(|e| bad(e.to_string()))?;
        let log = Verifier::new(&g.origin, KeyType::Ed25519, registry.log_public_key())
            .map_err(|e| bad(format!("origin is not a key name: {e}")))?;
        for p in registry.parties() {
            self.report.partners.push((
                p.name.clone(),
                crate::identity::role_name(p.role).to_string(),
            ));
            self.parties.insert(
                p.name.clone(),
                Party {
                    role: p.role,
                    key: p.public_key,
                    revoked_at: None,
                },
            );
        }
        self.keys
            .apply(crate::format::LeafIndex(index), &Kind::Genesis(g.clone()));
        self.log = Some(log);
        // Held checkpoints are checked under the log key pinned here, or a later one.
        self.open_trusted(0)
    }

    pub(super) fn disclosure(
        &mut self,
        index: u64,
        leaf: Hash,
        d: pb::Disclosure,
        items: Vec<pb::StoredItem>,
    ) -> Result<(), VerifyError> {
        let body = entry::disclosure_body(&d).map_err(|e| VerifyError::Malformed {
            index,
            reason: e.to_string(),
        })?;
        fields::disclosure(index, &d, &body)?;
        let (sender, key) = self.partner(index, "sender", &body.sender, Some(Role::Sender))?;
        let (recipient, _) =
            self.partner(index, "recipient", &body.recipient, Some(Role::Recipient))?;
        self.signature(
            index,
            Purpose::Disclosure,
            sender,
            key,
            &d.body,
            &d.signature,
        )?;
        self.spend_nonce(index, &body.sender, &body.nonce)?;
        let policy_hash = self.policy_in_force(index, &body.sender, &d.policy_hash)?;
        let policy = match policy_hash.and_then(|h| self.policies.get(&h)) {
            Some(PolicyState::Ready(p)) => Some(p.clone()),
            Some(PolicyState::NeedsRegisterKey) => None,
            None => None,
        };
        if items.len() != body.items.len() {
            return Err(VerifyError::Items {
                index,
                reason: format!(
                    "{} stored items for {} items in the signed body",
                    items.len(),
                    body.items.len()
                ),
            });
        }
        let exporter_sees = self
            .header
            .as_ref()
            .is_some_and(|h| h.exported_for == body.sender || h.exported_for == body.recipient)
            && self
                .header
                .as_ref()
                .and_then(|h| self.parties.get(&h.exported_for))
                .is_some_and(|p| p.key.is_some());
        self.report.disclosures += 1;
        let context = ReplayContext::of(&body);
        if let Some(p) = &policy {
            self.defer(Job::ReplayBody {
                index,
                policy: p.clone(),
                context: context.clone(),
                case_reference: body.case_reference.clone(),
            });
        }
        for (i, (stored, signed)) in items.into_iter().zip(&body.items).enumerate() {
            self.report.items += 1;
            let commitment =
                hash_from_slice(&signed.commitment).map_err(|e| VerifyError::Malformed {
                    index,
                    reason: format!("item {i} commitment: {e}"),
                })?;
            if stored.commitment != signed.commitment {
                return Err(VerifyError::Items {
                    index,
                    reason: format!("stored item {i} names another commitment than the body"),
                });
            }
            let item = fingerprint(&[body.sender.as_bytes(), &commitment]);
            match &mut self.spill {
                Some(spill) => spill.claim(Claim::item(index, item))?,
                None => {
                    self.items.insert((index, item));
                }
            }
            let Some(payload) = stored.payload else {
                if exporter_sees {
                    self.unexplained
                        .insert((index, commitment), (i, stored.withheld));
                } else {
                    self.report.payloads_not_visible += 1;
                }
                continue;
            };
            let salt: [u8; SALT_LEN] = payload
                .salt
                .as_slice()
                .try_into()
                .map_err(|_| VerifyError::PayloadMismatch { index, item: i })?;
            if item_commitment(&salt, &payload.content) != commitment {
                return Err(VerifyError::PayloadMismatch { index, item: i });
            }
            self.report.payloads_checked += 1;
            match &policy {
                Some(p) => self.defer(Job::Replay {
                    index,
                    item: i,
                    policy: p.clone(),
                    context: context.clone(),
                    content: payload.content,
                    expected: signed.clone(),
                }),
                None if policy_hash.is_some_and(|h| {
                    matches!(self.policies.get(&h), Some(PolicyState::NeedsRegisterKey))
                }) =>
                {
                    self.report.replays_skipped_register_key += 1
                }
                // The policy is in a withheld entry.
                None => self.report.checks_unverifiable += 1,
            }
        }
        if let Some(spill) = &mut self.spill {
            spill.claim(Claim::disclosed(index))?;
        }
        self.pending
            .insert(index, PendingDisclosure { leaf, recipient });
        Ok(())
    }

    pub(super) fn receipt(&mut self, index: u64, r: pb::Receipt) -> Result<(), VerifyError> {
        let (recipient, key) =
            self.partner(index, "recipient", &r.recipient, Some(Role::Recipient))?;
        let bad = |reason: String| VerifyError::Receipt {
            index,
            disclosure_index: r.disclosure_index,
            reason,
        };
        let leaf = hash_from_slice(&r.disclosure_leaf_hash)
            .map_err(|e| bad(format!("disclosure leaf hash: {e}")))?;
        self.signature(
            index,
            Purpose::Receipt,
            recipient.clone(),
            key,
            &signature::index_and_hash(r.disclosure_index, &leaf),
            &r.signature,
        )?;
        self.report.receipts += 1;
        if let Some(&(first, acknowledged_leaf)) = self.acknowledged.get(&r.disclosure_index) {
            if leaf[..16] != acknowledged_leaf {
                return Err(bad(spill::NOT_THE_LEAF.into()));
            }
            return Err(VerifyError::DuplicateReceipt {
                index,
                disclosure_index: r.disclosure_index,
                first,
            });
        }
        match self.pending.get(&r.disclosure_index) {
            Some(d) => {
                if d.leaf != leaf {
                    return Err(bad(spill::NOT_THE_LEAF.into()));
                }
                if d.recipient != recipient {
                    return Err(bad(format!(
                        "signed by {}, but the disclosure is to {}",
                        recipient, d.recipient
                    )));
                }
                let leaf_prefix = d.leaf[..16].try_into().expect("16 bytes");
                self.pending.remove(&r.disclosure_index);
                match &mut self.spill {
                    Some(spill) => {
                        spill.claim(Claim::acknowledged(r.disclosure_index, index, leaf_prefix))
                    }
                    None => {
                        self.acknowledged
                            .insert(r.disclosure_index, (index, leaf_prefix));
                        Ok(())
                    }
                }
            }
            // Acknowledged before, or no disclosure: the merge tells (spill.rs).
            None if self.spill.is_some() => {
                let leaf_prefix = leaf[..16].try_into().expect("16 bytes");
                let claim =
                    Claim::receipt(r.disclosure_index, index, leaf_prefix, self.withheld_seen);
                self.spill.as_mut().expect("spilling").claim(claim)
            }
            None if r.disclosure_index < index && self.withheld_seen => {
                self.report.checks_unverifiable += 1;
                Ok(())
            }
            None => Err(bad(spill::NO_DISCLOSURE.into())),
        }
    }

    pub(super) fn refusal(
        &mut self,
        index: u64,
        bytes: &[u8],
        r: pb::Refusal,
    ) -> Result<(), VerifyError> {
        self.partner(index, "sender", &r.sender, Some(Role::Sender))?;
        self.partner(index, "recipient", &r.recipient, Some(Role::Recipient))?;
        let content = |reason: String| VerifyError::RefusalContent { index, reason };
        fields::refusal(index, &r)?;
        // Bytes the schema does not define (unknown fields) could smuggle the refused content.
        let reencoded = pb::Entry {
            kind: Some(Kind::Refusal(r.clone())),
            ..entry::decode(bytes).expect("decoded before")
        }
        .encoded_len();
        if reencoded != bytes.len() {
            return Err(content(format!(
                "{} bytes beyond its defined fields",
                bytes.len().abs_diff(reencoded)
            )));
        }
        if r.findings.is_empty() {
            return Err(content("a refusal with no finding".into()));
        }
        for f in &r.findings {
            if !guard::rules::RULES.iter().any(|rule| rule.id == f.rule) {
                return Err(content(format!("{:?} is not a rule id", f.rule)));
            }
            if !f.path.starts_with('$') || f.path.len() > 512 {
                return Err(content(format!(
                    "finding path of {} bytes is not a JSON path",
                    f.path.len()
                )));
            }
        }
        self.policy_in_force(index, &r.sender, &r.policy_hash)?;
        self.spend_nonce(index, &r.sender, &r.nonce)?;
        self.report.refusals += 1;
        for f in r.findings {
            *self.report.refusals_by_rule.entry(f.rule).or_default() += 1;
        }
        Ok(())
    }

    pub(super) fn policy_change(
        &mut self,
        index: u64,
        p: pb::PolicyChange,
    ) -> Result<(), VerifyError> {
        let (owner, key) = self.partner(index, "owner", &p.owner, Some(Role::Sender))?;
        self.signature(index, Purpose::Policy, owner, key, &p.policy, &p.signature)?;
        let bad = |reason: String| VerifyError::Policy { index, reason };
        let parsed = Policy::parse(&p.policy).map_err(|e| bad(e.to_string()))?;
        if parsed.owner() != p.owner {
            return Err(bad(format!(
                "the document's owner {:?} is not the entry's owner {:?}",
                parsed.owner(),
                p.owner
            )));
        }
        let state = match (&self.opts.register_key, parsed.register_needs_key()) {
            (_, false) => PolicyState::Ready(Arc::new(parsed)),
            (Some(k), true) => PolicyState::Ready(Arc::new(
                Policy::parse_keyed(&p.policy, k).map_err(|e| bad(e.to_string()))?,
            )),
            (None, true) => PolicyState::NeedsRegisterKey,
        };
        let hash = sha256(&p.policy);
        self.policies.insert(hash, state);
        self.policy_in_force.insert(p.owner, hash);
        self.report.policy_changes += 1;
        Ok(())
    }

    pub(super) fn redaction(&mut self, index: u64, r: pb::Redaction) -> Result<(), VerifyError> {
        let (owner, key) = self.partner(index, "owner", &r.owner, Some(Role::Sender))?;
        let bad = |reason: String| VerifyError::Redaction {
            index,
            disclosure_index: r.disclosure_index,
            reason,
        };
        let commitment =
            hash_from_slice(&r.commitment).map_err(|e| bad(format!("commitment: {e}")))?;
        self.signature(
            index,
            Purpose::Redaction,
            owner.clone(),
            key,
            &signature::index_and_hash(r.disclosure_index, &commitment),
            &r.signature,
        )?;
        self.report.redactions += 1;
        // The sender is in the fingerprint: only the data owner can erase an item.
        let item = fingerprint(&[owner.as_bytes(), &commitment]);
        if let Some(spill) = &mut self.spill {
            let owner = spill.owner(&owner);
            let claim =
                Claim::redaction(r.disclosure_index, index, item, owner, self.withheld_seen);
            spill.claim(claim)?;
            self.redacted.insert((r.disclosure_index, commitment));
            return Ok(());
        }
        let is_disclosure = self.pending.contains_key(&r.disclosure_index)
            || self.acknowledged.contains_key(&r.disclosure_index);
        if !is_disclosure {
            if r.disclosure_index < index && self.withheld_seen {
                self.report.checks_unverifiable += 1;
                return Ok(());
            }
            return Err(bad(spill::NO_DISCLOSURE.into()));
        }
        if !self.items.contains(&(r.disclosure_index, item)) {
            return Err(bad(spill::not_an_item(&owner)));
        }
        self.redacted.insert((r.disclosure_index, commitment));
        Ok(())
    }

    /// A KeyChange, by the rules of `keys_in_force`: a partner's rotation signed by its key in
    /// force, a revocation signed by the partner's or the log's key in force, a log key
    /// rotation (party = the origin) signed by the old log key; every new key never held before.
    pub(super) fn key_change(&mut self, index: u64, k: pb::KeyChange) -> Result<(), VerifyError> {
        use crate::keys_in_force::{Change, KeyError};
        let bad = |reason: String| VerifyError::KeyChange {
            index,
            party: k.party.clone(),
            reason,
        };
        let expected = match self.keys.expect(&k) {
            Ok(e) => e,
            Err(KeyError::Revoked { index: at, .. }) => {
                return Err(VerifyError::Revoked {
                    index,
                    field: "party",
                    party: k.party.clone(),
                    revoked_at: at.0,
                });
            }
            Err(KeyError::UnknownParty(name)) => {
                return Err(VerifyError::UnknownParty {
                    index,
                    field: "party",
                    name,
                    needs: "partner",
                });
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let signer: Arc<str> = self.intern(&k.party);
        let change = match expected.signers.as_slice() {
            [key] => {
                self.signature(
                    index,
                    Purpose::KeyChange,
                    signer,
                    *key,
                    &k.new_public_key,
                    &k.signature,
                )?;
                expected.change
            }
            // A revocation: by the partner's key or the log's; checked here (they are rare).
            _ => {
                self.report.signatures += 1;
                let signed_by = |key: &VerifyingKey| {
                    signature::verify(key, Purpose::KeyChange, &k.new_public_key, &k.signature)
                        .is_ok()
                };
                match expected.signers.iter().position(signed_by) {
                    Some(0) => Change::Revoke { by_log: false },
                    Some(_) => Change::Revoke { by_log: true },
                    None => {
                        return Err(VerifyError::BadSignature {
                            index,
                            purpose: purpose_name(Purpose::KeyChange),
                            signer: k.party.clone(),
                        });
                    }
                }
            }
        };
        match change {
            Change::Rotate(new) => {
                if let Some(p) = self.parties.get_mut(&k.party) {
                    p.key = Some(new);
                }
                self.report.key_rotations.push((k.party.clone(), index));
                self.cosignatures_by_new_key(&k.party, new)?;
            }
            Change::Revoke { by_log } => {
                if let Some(p) = self.parties.get_mut(&k.party) {
                    p.key = None;
                    p.revoked_at = Some(index);
                }
                let by = if by_log { "log" } else { "partner" };
                self.report
                    .revocations
                    .push((k.party.clone(), index, by.to_owned()));
            }
            Change::RotateLog(new) => {
                let log = Verifier::new(&k.party, KeyType::Ed25519, new)
                    .map_err(|e| bad(format!("origin is not a key name: {e}")))?;
                self.log = Some(log);
                self.report.log_key_rotations.push(index);
            }
        }
        self.keys
            .apply(crate::format::LeafIndex(index), &Kind::KeyChange(k));
        self.report.key_changes += 1;
        if matches!(change, Change::RotateLog(_)) {
            self.open_trusted(index)?;
        }
        Ok(())
    }
}
