//! The values the format fixes, checked on the entry alone: whatever the export withholds (a
//! payload, an entry the exporter may not read), a field of an entry it does hold can only take
//! the values docs/FORMAT.md allows, and a verifier that skipped them when payloads are absent
//! would pass a log the service could never have written.

use super::VerifyError;
use crate::format::entry::NONCE_LEN;
use crate::guard::{Tlp, stix};
use crate::pb;

/// The paths a finding in a disclosure body's own text may have.
const BODY_PATHS: [&str; 3] = ["$.purpose", "$.legal_basis", "$.case_reference"];

fn malformed(index: u64, reason: String) -> VerifyError {
    VerifyError::Malformed { index, reason }
}

fn hash_len(index: u64, what: &str, bytes: &[u8]) -> Result<(), VerifyError> {
    if bytes.len() != 32 {
        return Err(malformed(
            index,
            format!("{what} is {} bytes, not 32", bytes.len()),
        ));
    }
    Ok(())
}

fn nonce(index: u64, nonce: &[u8]) -> Result<(), VerifyError> {
    if !NONCE_LEN.contains(&nonce.len()) {
        return Err(malformed(
            index,
            format!(
                "the nonce is {} bytes, not {} to {}",
                nonce.len(),
                NONCE_LEN.start(),
                NONCE_LEN.end()
            ),
        ));
    }
    Ok(())
}

/// A disclosure's body and policy hash: a declared purpose and legal basis, a nonce of 16 to 64
/// bytes, at least one item, and each item's STIX id, type and TLP level as the guard gives
/// them for an item it accepts (`<type>--<UUID>`, one of the five TLP 2.0 levels).
pub(super) fn disclosure(
    index: u64,
    d: &pb::Disclosure,
    body: &pb::DisclosureBody,
) -> Result<(), VerifyError> {
    hash_len(index, "policy_hash", &d.policy_hash)?;
    nonce(index, &body.nonce)?;
    for (field, text) in [
        ("purpose", &body.purpose),
        ("legal_basis", &body.legal_basis),
    ] {
        if text.trim().is_empty() {
            return Err(malformed(index, format!("the body declares no {field}")));
        }
    }
    if body.items.is_empty() {
        return Err(malformed(index, "a disclosure of no item".into()));
    }
    for (i, c) in body.items.iter().enumerate() {
        let bad = |what: String| malformed(index, format!("item {i}: {what}"));
        hash_len(index, &format!("item {i}'s commitment"), &c.commitment)?;
        if c.tlp.parse::<Tlp>().is_err() {
            return Err(bad(format!(
                "TLP {:?} is not a TLP 2.0 level (clear, green, amber, amber+strict, red)",
                c.tlp
            )));
        }
        let own_type = c
            .stix_id
            .strip_prefix(c.stix_type.as_str())
            .is_some_and(|rest| rest.starts_with("--") && rest.len() == 38);
        if !stix::is_identifier(&c.stix_id) || !own_type {
            return Err(bad(format!(
                "STIX id {:?} is not <type>--<UUID> of its type {:?}",
                c.stix_id, c.stix_type
            )));
        }
    }
    Ok(())
}

/// A refusal's hashes, nonce and findings' places (a finding in the body names one of the
/// body's three text fields, and item 0).
pub(super) fn refusal(index: u64, r: &pb::Refusal) -> Result<(), VerifyError> {
    hash_len(index, "refusal body_hash", &r.body_hash)?;
    hash_len(index, "policy_hash", &r.policy_hash)?;
    nonce(index, &r.nonce)?;
    for f in r.findings.iter().filter(|f| f.body) {
        if !BODY_PATHS.contains(&f.path.as_str()) || f.item != 0 {
            // The path is not echoed: it could carry the refused content.
            return Err(VerifyError::RefusalContent {
                index,
                reason: format!(
                    "a finding in the body must be at item 0 with a path of {}",
                    BODY_PATHS.join(", ")
                ),
            });
        }
    }
    Ok(())
}
