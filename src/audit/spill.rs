//! The verifier's whole-life checks past its memory budget (README, "Verifying a million
//! entries"): a nonce is spent once in the log's life, a redaction may name any earlier item and
//! a receipt any earlier disclosure. [`super::verify::Auditor`] answers these from in-memory sets
//! up to a fixed number of claims; past it, every such claim goes to an external sort on a
//! temporary file (fingerprints and entry indexes only, nothing of the content) and is checked by
//! one sort-merge at the end, or when the export fails, so memory stays flat whatever the
//! ledger's size. The merge names the first failure by log position, as the in-memory checks do.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::Arc;

use extsort::{ExternalSorter, PushExternalSorter, Sortable};

use super::verify::{Fingerprint, VerifyError};

/// Claims sorted in memory before a sorted run is written to the temporary file: the run is
/// written at one more than this, so the buffer's capacity stops at 2^18 claims of 56 bytes,
/// about 15 MB.
const RUN: usize = (1 << 18) - 1;

/// Why a redaction's item is refused, on both paths.
pub(super) fn not_an_item(owner: &str) -> String {
    format!(
        "the commitment is not an item that {owner} sent in that disclosure \
         (only the sender, as data owner, can erase an item)"
    )
}

/// Why a receipt or redaction naming no earlier disclosure is refused, on both paths.
pub(super) const NO_DISCLOSURE: &str = "there is no disclosure at that index before it";

/// Why a receipt naming another leaf than its disclosure's is refused, on both paths.
pub(super) const NOT_THE_LEAF: &str = "the leaf hash is not the disclosure's";

/// The claims that must be checked together sort next to each other under their group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// A (sender, nonce) fingerprint: spent at most once.
    Nonce(Fingerprint),
    /// A disclosure's index: the disclosure, its items, its receipt, and the receipts and
    /// redactions that name it.
    Disclosure(u64),
}

/// What a claim says. Declared in the order the merge must meet them at one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Entry `at` spent the nonce.
    NonceSpent,
    /// Entry `at` is the disclosure.
    Disclosed,
    /// The disclosure at `at` has the item whose (sender, commitment) fingerprint is `detail`.
    Item,
    /// Receipt `at` acknowledged the disclosure, whose leaf hash begins with `detail`.
    Acknowledged,
    /// Receipt `at` names the disclosure, not awaiting a receipt then, with a leaf hash
    /// beginning with `detail`: a second receipt, or a receipt for no disclosure.
    Receipt,
    /// Redaction `at` by `owner` names the item `detail` of the disclosure.
    Redaction,
}

/// One fact or question about the log's history, as written to the temporary file (47 bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Claim {
    group: Group,
    /// The entry that makes the claim.
    at: u64,
    kind: Kind,
    detail: Fingerprint,
    /// A redaction's owner, as an index into [`Spill::owners`].
    owner: u32,
    /// Whether a withheld entry came before `at` (it may be the disclosure named).
    withheld_seen: bool,
}

impl Claim {
    fn new(group: Group, at: u64, kind: Kind) -> Claim {
        Claim {
            group,
            at,
            kind,
            detail: [0; 16],
            owner: 0,
            withheld_seen: false,
        }
    }

    /// Entry `at` spent the nonce whose (sender, nonce) fingerprint is `nonce`.
    pub(super) fn nonce(nonce: Fingerprint, at: u64) -> Claim {
        Claim::new(Group::Nonce(nonce), at, Kind::NonceSpent)
    }

    /// Entry `index` is a disclosure.
    pub(super) fn disclosed(index: u64) -> Claim {
        Claim::new(Group::Disclosure(index), index, Kind::Disclosed)
    }

    /// The disclosure at `index` has the item with this (sender, commitment) fingerprint.
    pub(super) fn item(index: u64, item: Fingerprint) -> Claim {
        Claim {
            detail: item,
            ..Claim::new(Group::Disclosure(index), index, Kind::Item)
        }
    }

    /// Receipt `at` acknowledged the disclosure at `index`, whose leaf hash begins with `leaf`.
    pub(super) fn acknowledged(index: u64, at: u64, leaf: Fingerprint) -> Claim {
        Claim {
            detail: leaf,
            ..Claim::new(Group::Disclosure(index), at, Kind::Acknowledged)
        }
    }

    /// Receipt `at` names the disclosure at `index`, which is not awaiting a receipt.
    pub(super) fn receipt(index: u64, at: u64, leaf: Fingerprint, withheld_seen: bool) -> Claim {
        Claim {
            detail: leaf,
            withheld_seen,
            ..Claim::new(Group::Disclosure(index), at, Kind::Receipt)
        }
    }

    /// Redaction `at` names the item with this (owner, commitment) fingerprint of the disclosure
    /// at `index`; `owner` is from [`Spill::owner`].
    pub(super) fn redaction(
        index: u64,
        at: u64,
        item: Fingerprint,
        owner: u32,
        withheld_seen: bool,
    ) -> Claim {
        Claim {
            detail: item,
            owner,
            withheld_seen,
            ..Claim::new(Group::Disclosure(index), at, Kind::Redaction)
        }
    }
}

impl Sortable for Claim {
    fn encode<W: Write>(&self, w: &mut W) -> io::Result<()> {
        let (tag, key) = match self.group {
            Group::Nonce(f) => (0u8, f),
            Group::Disclosure(i) => {
                let mut key = [0; 16];
                key[..8].copy_from_slice(&i.to_be_bytes());
                (1, key)
            }
        };
        w.write_all(&[tag])?;
        w.write_all(&key)?;
        w.write_all(&self.at.to_be_bytes())?;
        w.write_all(&[self.kind as u8])?;
        w.write_all(&self.detail)?;
        w.write_all(&self.owner.to_be_bytes())?;
        w.write_all(&[self.withheld_seen as u8])
    }

    fn decode<R: Read>(r: &mut R) -> io::Result<Claim> {
        let mut b = [0u8; 47];
        r.read_exact(&mut b)?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "a corrupt spill record");
        let key: Fingerprint = b[1..17].try_into().expect("16 bytes");
        let group = match b[0] {
            0 => Group::Nonce(key),
            1 => Group::Disclosure(u64::from_be_bytes(key[..8].try_into().expect("8 bytes"))),
            _ => return Err(bad()),
        };
        let kind = [
            Kind::NonceSpent,
            Kind::Disclosed,
            Kind::Item,
            Kind::Acknowledged,
            Kind::Receipt,
            Kind::Redaction,
        ]
        .get(b[25] as usize)
        .copied()
        .ok_or_else(bad)?;
        Ok(Claim {
            group,
            at: u64::from_be_bytes(b[17..25].try_into().expect("8 bytes")),
            kind,
            detail: b[26..42].try_into().expect("16 bytes"),
            owner: u32::from_be_bytes(b[42..46].try_into().expect("4 bytes")),
            withheld_seen: b[46] != 0,
        })
    }
}

/// The claims past the budget, in an external sort on a temporary directory that is removed
/// when this is dropped.
pub(super) struct Spill {
    sorter: PushExternalSorter<Claim, fn(&Claim, &Claim) -> Ordering>,
    /// Redaction owners by the number their claims carry (a log has a handful of parties).
    owners: Vec<Arc<str>>,
    /// Claims written.
    claims: u64,
}

/// What the merge found.
#[derive(Debug, Default)]
pub(super) struct Merged {
    /// The first failure by log position, if any.
    pub first: Option<VerifyError>,
    /// Receipts and redactions naming no disclosure seen, after a withheld entry that may be it.
    pub unverifiable: u64,
    /// Claims checked.
    pub claims: u64,
}

impl Spill {
    pub(super) fn new() -> Spill {
        Spill {
            sorter: ExternalSorter::new()
                .with_segment_size(RUN)
                .pushed_by(Claim::cmp as fn(&Claim, &Claim) -> Ordering),
            owners: Vec::new(),
            claims: 0,
        }
    }

    /// Adds a claim; fails only if the temporary file cannot be written.
    pub(super) fn claim(&mut self, c: Claim) -> Result<(), VerifyError> {
        self.claims += 1;
        self.sorter.push(c).map_err(scratch)
    }

    /// The number a redaction claim carries for `owner`.
    pub(super) fn owner(&mut self, owner: &Arc<str>) -> u32 {
        match self.owners.iter().position(|o| o == owner) {
            Some(i) => i as u32,
            None => {
                self.owners.push(owner.clone());
                (self.owners.len() - 1) as u32
            }
        }
    }

    /// Sorts every claim and checks each group in one pass.
    pub(super) fn merge(self) -> Result<Merged, VerifyError> {
        let mut out = Merged {
            claims: self.claims,
            ..Merged::default()
        };
        let mut group = None;
        // The group's state: the nonce's first spender, or the disclosure's items and receipt.
        let mut spent_at = None;
        let mut disclosed = false;
        let mut items: HashSet<Fingerprint> = HashSet::new();
        let mut acknowledged: Option<(u64, Fingerprint)> = None;
        for c in self.sorter.done().map_err(scratch)? {
            let c = c.map_err(scratch)?;
            if group != Some(c.group) {
                group = Some(c.group);
                spent_at = None;
                disclosed = false;
                items.clear();
                acknowledged = None;
            }
            let index = c.at;
            let found = match (c.group, c.kind) {
                (Group::Nonce(_), _) => match spent_at {
                    Some(first) => Some(VerifyError::NonceReused { index, first }),
                    None => {
                        spent_at = Some(index);
                        None
                    }
                },
                (Group::Disclosure(_), Kind::Disclosed) => {
                    disclosed = true;
                    None
                }
                (Group::Disclosure(_), Kind::Item) => {
                    items.insert(c.detail);
                    None
                }
                (Group::Disclosure(_), Kind::Acknowledged) => {
                    acknowledged = Some((index, c.detail));
                    None
                }
                (Group::Disclosure(d), Kind::Receipt) => {
                    let bad = |reason: &str| VerifyError::Receipt {
                        index,
                        disclosure_index: d,
                        reason: reason.into(),
                    };
                    match acknowledged {
                        Some((first, leaf)) if leaf == c.detail => {
                            Some(VerifyError::DuplicateReceipt {
                                index,
                                disclosure_index: d,
                                first,
                            })
                        }
                        Some(_) => Some(bad(NOT_THE_LEAF)),
                        None if d < index && c.withheld_seen => {
                            out.unverifiable += 1;
                            None
                        }
                        None => Some(bad(NO_DISCLOSURE)),
                    }
                }
                (Group::Disclosure(d), Kind::Redaction) => {
                    let bad = |reason: String| VerifyError::Redaction {
                        index,
                        disclosure_index: d,
                        reason,
                    };
                    if !disclosed {
                        if d < index && c.withheld_seen {
                            out.unverifiable += 1;
                            None
                        } else {
                            Some(bad(NO_DISCLOSURE.into()))
                        }
                    } else if !items.contains(&c.detail) {
                        let owner = self.owners.get(c.owner as usize).map_or("?", |o| o);
                        Some(bad(not_an_item(owner)))
                    } else {
                        None
                    }
                }
                (Group::Disclosure(_), Kind::NonceSpent) => None,
            };
            if let Some(e) = found
                && out
                    .first
                    .as_ref()
                    .is_none_or(|f| e.position() < f.position())
            {
                out.first = Some(e);
            }
        }
        Ok(out)
    }
}

fn scratch(e: io::Error) -> VerifyError {
    VerifyError::Scratch(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_survive_the_file_and_sort_by_group_then_entry() {
        let claims = [
            Claim::redaction(7, 90, [3; 16], 2, true),
            Claim::nonce([9; 16], 4),
            Claim::item(7, [1; 16]),
            Claim::disclosed(7),
            Claim::acknowledged(7, 8, [5; 16]),
        ];
        for c in &claims {
            let mut bytes = Vec::new();
            c.encode(&mut bytes).unwrap();
            assert_eq!(bytes.len(), 47);
            assert_eq!(&Claim::decode(&mut bytes.as_slice()).unwrap(), c);
        }
        let mut sorted = claims.to_vec();
        sorted.sort();
        let kinds: Vec<_> = sorted.iter().map(|c| (c.kind, c.at)).collect();
        assert_eq!(
            kinds,
            [
                (Kind::NonceSpent, 4),
                (Kind::Disclosed, 7),
                (Kind::Item, 7),
                (Kind::Acknowledged, 8),
                (Kind::Redaction, 90)
            ]
        );
    }

    #[test]
    fn the_merge_names_the_earliest_failure_across_runs_on_disk() {
        let mut spill = Spill::new();
        // More claims than one in-memory run, so the merge reads sorted runs from the file.
        for i in 0..(RUN as u64 + 10) {
            let mut nonce = [0; 16];
            nonce[..8].copy_from_slice(&i.to_be_bytes());
            spill.claim(Claim::nonce(nonce, 10 + i)).unwrap();
        }
        // Two reuses: the later one is pushed first.
        spill.claim(Claim::nonce([0; 16], 900_000)).unwrap();
        let mut reused = [0; 16];
        reused[..8].copy_from_slice(&77u64.to_be_bytes());
        spill.claim(Claim::nonce(reused, 800_000)).unwrap();
        let merged = spill.merge().unwrap();
        assert_eq!(merged.claims, RUN as u64 + 12);
        assert_eq!(
            merged.first,
            Some(VerifyError::NonceReused {
                index: 800_000,
                first: 87
            })
        );
    }
}
