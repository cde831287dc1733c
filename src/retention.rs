//! Retention: which stored payloads have outlived their owner's policy (GDPR Art. 5(1)(e)).
//!
//! The rules are the `[retention]` section of the owner's policy in force now — its latest
//! PolicyChange entry — applied to everything it has disclosed: shortening a period erases
//! older payloads at the next run, lengthening it cannot bring erased ones back. An item
//! expires `keep_for` after its disclosure entry's server time. A pure function of the log and
//! a time (`now_ms` is a parameter, so tests and dry runs choose their clock); erasing is left
//! to the caller, as a Redaction entry signed by the owner.

use std::collections::BTreeMap;

use crate::format::entry;
use crate::format::hash::{Hash, hash_from_slice};
use crate::format::{FormatError, LeafIndex};
use crate::guard::Policy;
use crate::pb;
use crate::store::{LogStore, StoreError};

/// Why the expired items could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The store failed to read an entry or an index.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored entry does not decode.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// One stored payload whose retention has run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The data owner (the disclosure's sender), who signs its erasure.
    pub owner: String,
    /// The disclosure entry that committed to the item.
    pub disclosure_index: LeafIndex,
    /// The item's commitment.
    pub commitment: Hash,
    /// The item's STIX id, type and TLP as the signed body declares them.
    pub stix_id: String,
    /// STIX type.
    pub stix_type: String,
    /// TLP name.
    pub tlp: String,
    /// The disclosure entry's server time, Unix milliseconds.
    pub disclosed_ms: i64,
    /// When the payload expired (disclosed_ms + the rule's period).
    pub expired_ms: i64,
    /// The rule that applies, e.g. "tlp amber: 365d".
    pub rule: String,
}

/// Each owner's policy in force now (its latest PolicyChange entry, as the sequencer finds
/// them), parsed. A policy that does not parse is skipped with a warning: its owner's payloads
/// are then kept, since erasure never follows from a document nobody can read.
pub fn policies_in_force(store: &dyn LogStore) -> Result<BTreeMap<String, Policy>, RetentionError> {
    let mut out = BTreeMap::new();
    for (owner, in_force) in crate::sequencer::published_policies(store)? {
        let bytes = store.entry(in_force.index)?.unwrap_or_default();
        let Some(pb::entry::Kind::PolicyChange(change)) = entry::decode(&bytes)?.kind else {
            return Err(StoreError::IndexInconsistent(format!(
                "entry {} is not the policy change it was found as",
                in_force.index.0
            ))
            .into());
        };
        match Policy::parse(&change.policy) {
            Ok(policy) => {
                out.insert(owner, policy);
            }
            Err(e) => tracing::warn!(
                owner,
                entry = in_force.index.0,
                "the policy in force does not parse, so its retention rules are not applied: {e}"
            ),
        }
    }
    Ok(out)
}

/// The stored, not yet erased items whose retention has run out at `now_ms`, of `owner`'s
/// disclosures (or every owner's), in log order.
pub fn expired(
    store: &dyn LogStore,
    owner: Option<&str>,
    now_ms: i64,
) -> Result<Vec<Expired>, RetentionError> {
    let policies: BTreeMap<String, Policy> = policies_in_force(store)?
        .into_iter()
        .filter(|(o, p)| owner.is_none_or(|w| w == o) && !p.retention().is_empty())
        .collect();
    let mut out = Vec::new();
    if policies.is_empty() {
        return Ok(out);
    }
    // Only entries older than the shortest period can hold anything expired.
    let shortest = policies
        .values()
        .filter_map(|p| p.retention().shortest())
        .min()
        .unwrap_or_default();
    let cutoff = now_ms.saturating_sub(i64::try_from(shortest.as_millis()).unwrap_or(i64::MAX));
    for index in store.by_time(i64::MIN, cutoff.saturating_add(1))? {
        let Some(bytes) = store.entry(index)? else {
            continue;
        };
        let e = entry::decode(&bytes)?;
        let Some(pb::entry::Kind::Disclosure(d)) = &e.kind else {
            continue;
        };
        let body = entry::disclosure_body(d)?;
        let Some(policy) = policies.get(&body.sender) else {
            continue;
        };
        for item in &body.items {
            let Some(limit) = policy.retention().limit(&item.tlp, &item.stix_type) else {
                continue;
            };
            let expired_ms = e.time_ms.saturating_add(limit.keep_ms());
            if expired_ms > now_ms {
                continue;
            }
            let commitment = hash_from_slice(&item.commitment)?;
            if store.redaction_of(&commitment)?.is_some() {
                continue;
            }
            out.push(Expired {
                owner: body.sender.clone(),
                disclosure_index: index,
                commitment,
                stix_id: item.stix_id.clone(),
                stix_type: item.stix_type.clone(),
                tlp: item.tlp.clone(),
                disclosed_ms: e.time_ms,
                expired_ms,
                rule: limit.rule,
            });
        }
    }
    out.sort_by_key(|x| x.disclosure_index);
    Ok(out)
}
