//! The objects of a collection as a caller may read them, in log order, filtered and paged.
//!
//! Every entry is read through [`get_entry::read`], the code behind GetEntry: an entry the
//! caller may not see is skipped, an item whose payload is withheld or erased is not served.
//! An object is the item's payload exactly as committed, so its bytes hash to the commitment
//! in the signed disclosure body.

use std::collections::HashMap;

use prost::Message;
use serde::Deserialize;

use super::collections::Collection;
use super::error::TaxiiError;
use super::query::{Cursor, Query, Version, timestamp_ns};
use crate::format::{LeafIndex, entry};
use crate::pb::{self, EntryKind};
use crate::service::cmd::get_entry;
use crate::service::{Caller, State};

/// Entries read from the index per step.
const SCAN: usize = 256;

/// One object as served, with where it is in the log.
#[derive(Debug, Clone)]
pub struct Record {
    /// Log index of the disclosure.
    pub index: u64,
    /// Position of the item in the disclosure body.
    pub item: u32,
    /// The entry's time (the object's `date_added`), Unix milliseconds.
    pub time_ms: i64,
    /// STIX id.
    pub id: String,
    /// STIX type.
    pub kind: String,
    /// The object's version: `modified`, else `created`, else `date_added`.
    pub version: String,
    version_ns: i128,
    /// STIX spec_version (2.1 when absent).
    pub spec_version: String,
    /// The payload exactly as committed.
    pub content: Vec<u8>,
    /// The item's salt, so that a recipient can recompute its commitment.
    pub salt: Vec<u8>,
    /// The item's commitment in the signed body.
    pub commitment: Vec<u8>,
    /// The entry's leaf hash.
    pub leaf_hash: Vec<u8>,
    /// The item's TLP 2.0 marking as signed.
    pub tlp: String,
    /// The disclosure's sender and recipient.
    pub sender: String,
    /// The disclosure's recipient.
    pub recipient: String,
}

impl Record {
    /// The cursor of this record.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            index: self.index,
            item: self.item,
        }
    }

    /// `date_added`, RFC 3339 with milliseconds.
    pub fn date_added(&self) -> String {
        crate::clock::format_rfc3339(self.time_ms)
    }

    /// Where the object came from, for a recipient to check against the ledger
    /// (docs/TAXII.md): the `x_borderlog_provenance` of envelopes and manifest records.
    pub fn provenance(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "version": self.version,
            "entry": self.index,
            "item": self.item,
            "leaf_hash": hex::encode(&self.leaf_hash),
            "commitment": hex::encode(&self.commitment),
            "salt": hex::encode(&self.salt),
            "sender": self.sender,
            "recipient": self.recipient,
            "date_added": self.date_added(),
            "tlp": self.tlp,
        })
    }
}

/// What the envelope needs from a page.
#[derive(Debug)]
pub struct Page {
    /// The records, in log order.
    pub records: Vec<Record>,
    /// Where the next page starts, when there are more records.
    pub next: Option<Cursor>,
}

/// The fields of a STIX object that TAXII filters on.
#[derive(Deserialize)]
struct Meta {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    spec_version: Option<String>,
    modified: Option<String>,
    created: Option<String>,
}

/// The records of one disclosure entry the caller may read in `collection`, in item order.
fn entry_records(
    state: &State,
    caller: &Caller,
    collection: &Collection,
    index: LeafIndex,
) -> Result<Vec<Record>, TaxiiError> {
    let Some(response) = get_entry::read(state, caller, index)? else {
        return Ok(Vec::new());
    };
    let decoded = entry::decode(&response.entry).map_err(tonic::Status::from)?;
    let Some(pb::entry::Kind::Disclosure(d)) = &decoded.kind else {
        return Ok(Vec::new());
    };
    let body = pb::DisclosureBody::decode(d.body.as_slice())
        .map_err(|e| TaxiiError::Internal(format!("stored disclosure body: {e}")))?;
    if body.sender != collection.sender || body.recipient != collection.recipient {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (item, (stored, signed)) in response.items.into_iter().zip(&body.items).enumerate() {
        // Withheld or erased: not served.
        let Some(payload) = stored.payload else {
            continue;
        };
        let meta: Meta = match serde_json::from_slice(&payload.content) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(entry = index.0, item, error = %e, "stored item is not a STIX object; not served over TAXII");
                continue;
            }
        };
        let date_added_ns = i128::from(decoded.time_ms) * 1_000_000;
        let version = meta
            .modified
            .or(meta.created)
            .unwrap_or_else(|| crate::clock::format_rfc3339(decoded.time_ms));
        out.push(Record {
            index: index.0,
            item: item as u32,
            time_ms: decoded.time_ms,
            version_ns: timestamp_ns(&version).unwrap_or(date_added_ns),
            version,
            id: meta.id,
            kind: meta.kind,
            spec_version: meta.spec_version.unwrap_or_else(|| "2.1".into()),
            content: payload.content,
            salt: payload.salt,
            commitment: stored.commitment,
            leaf_hash: response.leaf_hash.clone(),
            tlp: signed.tlp.clone(),
            sender: body.sender.clone(),
            recipient: body.recipient.clone(),
        });
    }
    Ok(out)
}

/// A page of `collection`'s objects for `caller` under `query`.
pub fn page(
    state: &State,
    caller: &Caller,
    collection: &Collection,
    query: &Query,
) -> Result<Page, TaxiiError> {
    let mut from = query.next.unwrap_or(Cursor { index: 0, item: 0 });
    if let Some(after) = query.added_after_ns {
        // Entry times never decrease: start at the first entry added later.
        let after_ms = i64::try_from(after.div_euclid(1_000_000)).unwrap_or(i64::MAX);
        let first = state
            .store
            .by_time(after_ms.saturating_add(1), i64::MAX)?
            .first()
            .map_or(state.store.size().0, |i| i.0);
        if first > from.index {
            from = Cursor {
                index: first,
                item: 0,
            };
        }
    }
    let mut versions = Versions::default();
    let mut records = Vec::new();
    let mut position = from.index;
    loop {
        let found = state.store.scan(
            LeafIndex(position),
            Some(&collection.recipient),
            &[EntryKind::Disclosure],
            SCAN,
        )?;
        let Some(last) = found.last() else {
            return Ok(Page {
                records,
                next: None,
            });
        };
        position = last.0 + 1;
        for index in found {
            let in_entry = entry_records(state, caller, collection, index)?;
            for record in &in_entry {
                if record.cursor() < from || !matches(query, record) {
                    continue;
                }
                if !versions.selected(state, caller, collection, query, record, &in_entry)? {
                    continue;
                }
                if records.len() == query.limit {
                    return Ok(Page {
                        records,
                        next: Some(record.cursor()),
                    });
                }
                records.push(record.clone());
            }
        }
    }
}

/// The filters other than `match[version]` and `next`.
fn matches(query: &Query, r: &Record) -> bool {
    (query.ids.is_empty() || query.ids.contains(&r.id))
        && (query.types.is_empty() || query.types.contains(&r.kind))
        && (query.spec_versions.is_empty() || query.spec_versions.contains(&r.spec_version))
        && query
            .added_after_ns
            .is_none_or(|after| i128::from(r.time_ms) * 1_000_000 > after)
}

/// Every version of an object in the collection: (version, index, item), looked up by STIX id
/// once per page.
#[derive(Default)]
struct Versions(HashMap<String, Vec<(i128, u64, u32)>>);

impl Versions {
    /// Does `match[version]` select this record?
    fn selected(
        &mut self,
        state: &State,
        caller: &Caller,
        collection: &Collection,
        query: &Query,
        record: &Record,
        in_entry: &[Record],
    ) -> Result<bool, TaxiiError> {
        let mut wants_first_or_last = false;
        for v in &query.versions {
            match v {
                Version::All => return Ok(true),
                Version::At(t) if *t == record.version_ns => return Ok(true),
                Version::At(_) => {}
                Version::First | Version::Last => wants_first_or_last = true,
            }
        }
        if !wants_first_or_last {
            return Ok(false);
        }
        let all = self.of(state, caller, collection, record, in_entry)?;
        let me = (record.version_ns, record.index, record.item);
        // Ties of version go to the later entry for "last" and the earlier for "first".
        Ok(query.versions.iter().any(|v| match v {
            Version::Last => all.iter().max() == Some(&me),
            Version::First => all.iter().min_by_key(|(v, i, j)| (*v, *i, *j)) == Some(&me),
            _ => false,
        }))
    }

    fn of(
        &mut self,
        state: &State,
        caller: &Caller,
        collection: &Collection,
        record: &Record,
        in_entry: &[Record],
    ) -> Result<&Vec<(i128, u64, u32)>, TaxiiError> {
        if !self.0.contains_key(&record.id) {
            let indexes = state.store.by_stix_id(&record.id)?;
            let mut all = Vec::new();
            for index in indexes {
                let records = if index.0 == record.index {
                    in_entry.to_vec()
                } else {
                    entry_records(state, caller, collection, index)?
                };
                all.extend(
                    records
                        .iter()
                        .filter(|r| r.id == record.id)
                        .map(|r| (r.version_ns, r.index, r.item)),
                );
            }
            self.0.insert(record.id.clone(), all);
        }
        Ok(&self.0[&record.id])
    }
}
