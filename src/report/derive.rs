//! The one computation behind a report's statements: from a set of decoded entries (the whole
//! log when building, the embedded evidence when verifying) to the report's contents, plus the
//! entries outside the period that the contents cite. Building and verifying run this same
//! code, so a report verifies exactly when its statements are what its entries say.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message;

use super::{
    Bucket, Contents, CountRow, Counted, Decoded, Line, LineItem, PartyView, PeriodView, Receipts,
    RedactionLine, RefusalRow, ReportError, Scope, Summary,
};
use crate::format::hash::{leaf_hash, sha256};
use crate::guard::Policy;
use crate::pb::{self, entry::Kind};

/// A breakdown cell: (bucket, sender, recipient, STIX type, TLP).
type Cell = (String, String, String, String, String);

/// The contents for `scope`, and the indexes of the entries they cite (earlier sightings of a
/// STIX id, receipts, policies, redacted disclosures).
pub(crate) fn derive(
    view: &BTreeMap<u64, Decoded>,
    genesis: &pb::Genesis,
    scope: &Scope,
) -> Result<(Contents, BTreeSet<u64>), ReportError> {
    let in_period = |t: i64| scope.from_ms <= t && t < scope.to_ms;
    // What later entries say about earlier ones: receipts and disclosure bodies.
    let mut receipt_of: HashMap<u64, u64> = HashMap::new();
    let mut bodies: HashMap<u64, pb::DisclosureBody> = HashMap::new();
    for (index, d) in view {
        match &d.entry.kind {
            Some(Kind::Receipt(r)) => {
                receipt_of.entry(r.disclosure_index).or_insert(*index);
            }
            Some(Kind::Disclosure(x)) => {
                let body = pb::DisclosureBody::decode(x.body.as_slice()).map_err(|e| {
                    ReportError::Malformed(format!("entry {index}: disclosure body: {e}"))
                })?;
                bodies.insert(*index, body);
            }
            _ => {}
        }
    }

    let mut cited = BTreeSet::new();
    let mut summary = Summary::default();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    let mut policies: Vec<(u64, String, [u8; 32], String)> = Vec::new();
    let mut by: BTreeMap<Cell, (u64, u64)> = BTreeMap::new();
    let mut purposes: BTreeMap<String, u64> = BTreeMap::new();
    let mut legal_bases: BTreeMap<String, u64> = BTreeMap::new();
    let mut refusals: BTreeMap<(String, String), (String, u64, u64)> = BTreeMap::new();
    let mut recipients = BTreeSet::new();
    let mut lines = Vec::new();
    let mut redactions = Vec::new();

    for (index, d) in view {
        let index = *index;
        let time = d.entry.time_ms;
        let period = in_period(time);
        if period {
            summary.entries_in_period += 1;
        }
        match &d.entry.kind {
            Some(Kind::PolicyChange(p)) => {
                let version = Policy::parse(&p.policy)
                    .map_or_else(|_| "unparsed".to_owned(), |p| p.version().to_owned());
                policies.push((index, p.owner.clone(), sha256(&p.policy), version));
            }
            Some(Kind::Disclosure(x)) => {
                let body = &bodies[&index];
                if !scope.involves(&body.sender, &body.recipient) {
                    continue;
                }
                let mut items = Vec::with_capacity(body.items.len());
                for item in &body.items {
                    let seen = first_seen.get(&item.stix_id).copied();
                    items.push(LineItem {
                        stix_id: item.stix_id.clone(),
                        stix_type: item.stix_type.clone(),
                        tlp: item.tlp.clone(),
                        first_seen: seen,
                    });
                }
                for item in &body.items {
                    first_seen.entry(item.stix_id.clone()).or_insert(index);
                }
                if !period {
                    continue;
                }
                summary.disclosures += 1;
                summary.items += items.len() as u64;
                recipients.insert(body.recipient.clone());
                let bucket = bucket_of(time, scope.bucket);
                let mut cells = BTreeSet::new();
                for item in &items {
                    match item.first_seen {
                        Some(earlier) => {
                            summary.items_updated += 1;
                            cited.insert(earlier);
                        }
                        None => summary.items_new += 1,
                    }
                    let key = (
                        bucket.clone(),
                        body.sender.clone(),
                        body.recipient.clone(),
                        item.stix_type.clone(),
                        item.tlp.clone(),
                    );
                    let cell = by.entry(key.clone()).or_default();
                    cell.1 += 1;
                    if cells.insert(key) {
                        cell.0 += 1;
                    }
                }
                *purposes.entry(body.purpose.clone()).or_default() += 1;
                *legal_bases.entry(body.legal_basis.clone()).or_default() += 1;
                let receipt = receipt_of.get(&index).copied();
                if let Some(r) = receipt {
                    cited.insert(r);
                }
                lines.push(Line {
                    index,
                    time: crate::clock::format_rfc3339(time),
                    leaf_hash: hex::encode(leaf_hash(&d.bytes)),
                    sender: body.sender.clone(),
                    recipient: body.recipient.clone(),
                    purpose: body.purpose.clone(),
                    legal_basis: body.legal_basis.clone(),
                    case_reference: body.case_reference.clone(),
                    policy_hash: hex::encode(&x.policy_hash),
                    items,
                    receipt,
                });
            }
            Some(Kind::Refusal(r)) if period && scope.involves(&r.sender, &r.recipient) => {
                summary.refusals += 1;
                summary.refusal_findings += r.findings.len() as u64;
                // The policy in force: the latest PolicyChange of the sender before this entry.
                let policy = policies.iter().rev().find(|(_, owner, hash, _)| {
                    *owner == r.sender && hash[..] == r.policy_hash[..]
                });
                let version = match policy {
                    Some((at, _, _, version)) => {
                        cited.insert(*at);
                        version.clone()
                    }
                    None => "unknown".to_owned(),
                };
                let hash = hex::encode(&r.policy_hash);
                let mut rules = BTreeSet::new();
                for f in &r.findings {
                    let row = refusals
                        .entry((f.rule.clone(), hash.clone()))
                        .or_insert_with(|| (version.clone(), 0, 0));
                    row.2 += 1;
                    if rules.insert(f.rule.clone()) {
                        row.1 += 1;
                    }
                }
            }
            Some(Kind::Redaction(r)) if period => {
                let disclosure = bodies.get(&r.disclosure_index);
                let involved = match disclosure {
                    Some(b) => scope.involves(&b.sender, &b.recipient),
                    None => scope.involves(&r.owner, &r.owner),
                };
                if !involved {
                    continue;
                }
                let item = disclosure.and_then(|b| {
                    cited.insert(r.disclosure_index);
                    b.items.iter().find(|i| i.commitment == r.commitment)
                });
                summary.redactions += 1;
                redactions.push(RedactionLine {
                    index,
                    time: crate::clock::format_rfc3339(time),
                    owner: r.owner.clone(),
                    disclosure_index: r.disclosure_index,
                    stix_type: item.map(|i| i.stix_type.clone()).unwrap_or_default(),
                    tlp: item.map(|i| i.tlp.clone()).unwrap_or_default(),
                    reason: r.reason.clone(),
                });
            }
            _ => {}
        }
    }

    summary.recipients = recipients.len() as u64;
    let pending: Vec<&Line> = lines.iter().filter(|l| l.receipt.is_none()).collect();
    summary.pending = pending.len() as u64;
    summary.acknowledged = summary.disclosures - summary.pending;
    let receipts = Receipts {
        acknowledged: summary.acknowledged,
        pending: summary.pending,
        oldest_pending_index: pending.first().map(|l| l.index),
        oldest_pending_time: pending.first().map(|l| l.time.clone()),
    };
    let counted = |m: BTreeMap<String, u64>| {
        let mut v: Vec<Counted> = m
            .into_iter()
            .map(|(value, disclosures)| Counted { value, disclosures })
            .collect();
        v.sort_by(|a, b| {
            b.disclosures
                .cmp(&a.disclosures)
                .then(a.value.cmp(&b.value))
        });
        v
    };
    let contents = Contents {
        period: PeriodView {
            from: crate::clock::format_rfc3339(scope.from_ms),
            to: crate::clock::format_rfc3339(scope.to_ms),
            partner: scope.partner.clone(),
        },
        parties: genesis
            .parties
            .iter()
            .map(|p| PartyView {
                name: p.name.clone(),
                role: crate::identity::role_name(
                    pb::Role::try_from(p.role).unwrap_or(pb::Role::Unspecified),
                )
                .to_owned(),
                organisation_kind: p.organisation_kind.clone(),
            })
            .collect(),
        summary,
        disclosures_by: by
            .into_iter()
            .map(
                |((bucket, sender, recipient, stix_type, tlp), (disclosures, items))| CountRow {
                    bucket,
                    sender,
                    recipient,
                    stix_type,
                    tlp,
                    disclosures,
                    items,
                },
            )
            .collect(),
        purposes: counted(purposes),
        legal_bases: counted(legal_bases),
        refusals: refusals
            .into_iter()
            .map(
                |((rule, policy_hash), (policy_version, refusals, findings))| RefusalRow {
                    rule,
                    policy_version,
                    policy_hash,
                    refusals,
                    findings,
                },
            )
            .collect(),
        redactions,
        receipts,
        lines,
    };
    Ok((contents, cited))
}

/// The week (ISO 8601, `2026-W05`) or month (`2026-11`) of a time, UTC.
pub(crate) fn bucket_of(ms: i64, bucket: Bucket) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    match bucket {
        Bucket::Week => {
            let (year, week, _) = t.to_iso_week_date();
            format!("{year}-W{week:02}")
        }
        Bucket::Month => format!("{}-{:02}", t.year(), u8::from(t.month())),
    }
}

/// Every bucket of [from, to), in order: the timeline of a period, empty buckets included.
pub(crate) fn buckets_between(from_ms: i64, to_ms: i64, bucket: Bucket) -> Vec<String> {
    const DAY: i64 = 86_400_000;
    let mut out: Vec<String> = Vec::new();
    let mut t = from_ms;
    // A week or month starts on a day boundary, so a step of a day meets every one of them.
    while t < to_ms {
        let b = bucket_of(t, bucket);
        if out.last() != Some(&b) {
            out.push(b);
        }
        t = t.saturating_add(DAY);
    }
    let last = bucket_of(to_ms - 1, bucket);
    if to_ms > from_ms && out.last() != Some(&last) {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_has_every_bucket_of_the_period() {
        let day = 86_400_000;
        let from = 1_793_836_800_000; // 2026-11-05T00:00:00Z, a Thursday
        assert_eq!(
            buckets_between(from, from + 60 * day, Bucket::Month),
            ["2026-11", "2026-12", "2027-01"]
        );
        let weeks = buckets_between(from, from + 28 * day + 1, Bucket::Week);
        assert_eq!(weeks.first().map(String::as_str), Some("2026-W45"));
        assert_eq!(weeks.last().map(String::as_str), Some("2026-W49"));
        assert_eq!(weeks.len(), 5);
        assert_eq!(buckets_between(from, from + 1, Bucket::Week), ["2026-W45"]);
        assert!(buckets_between(from, from, Bucket::Week).is_empty());
    }

    #[test]
    fn buckets_follow_iso_weeks_and_months() {
        // 2027-01-01 is a Friday: ISO week 53 of 2026.
        let ms = 1_798_761_600_000;
        assert_eq!(bucket_of(ms, Bucket::Week), "2026-W53");
        assert_eq!(bucket_of(ms, Bucket::Month), "2027-01");
    }
}
