//! Integers at their extremes in every field an export gives the verifier (sizes, indexes,
//! times, counts), and cosignatures across a partner's key rotation: each is named, none panics
//! or overflows.

use ed25519_dalek::SigningKey;

use super::*;
use crate::audit::synthetic::RECIPIENT;
use crate::format::cosignature;
use crate::format::signature::{self, Purpose};

fn header_mut(records: &mut [pb::ExportRecord]) -> &mut pb::ExportHeader {
    match &mut records[0].record {
        Some(Record::Header(h)) => h,
        _ => panic!("no header"),
    }
}

/// A small ledger ending in a checkpoint, after `f` added entries to it.
fn ledger_with(f: impl FnOnce(&mut Builder)) -> Vec<pb::ExportRecord> {
    let mut b = Builder::new(false);
    let (i, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
    b.receipt(i, &leaf);
    f(&mut b);
    b.checkpoint();
    b.finish()
}

#[test]
fn extreme_sizes_and_indexes_are_named() {
    // A header announcing u64::MAX entries: read to the end, then named as truncated.
    let mut records = ledger_with(|_| {});
    let entries = header_mut(&mut records).tree_size;
    header_mut(&mut records).tree_size = u64::MAX;
    assert_eq!(
        verify(records, 2).unwrap_err(),
        VerifyError::Truncated {
            entries,
            tree_size: u64::MAX
        }
    );

    // An entry record or a withheld entry claiming index u64::MAX.
    let mut records = ledger_with(|_| {});
    entry_mut(&mut records, 2).index = u64::MAX;
    assert_eq!(
        verify(records, 0).unwrap_err(),
        VerifyError::IndexGap {
            position: 2,
            found: u64::MAX
        }
    );
    let mut records = ledger_with(|_| {});
    let at = records
        .iter()
        .position(|r| matches!(&r.record, Some(Record::Entry(e)) if e.index == 2))
        .unwrap();
    records[at].record = Some(Record::WithheldEntry(pb::WithheldEntry {
        index: u64::MAX,
        leaf_hash: vec![0; 32],
        reason: String::new(),
    }));
    assert_eq!(
        verify(records, 0).unwrap_err(),
        VerifyError::IndexGap {
            position: 2,
            found: u64::MAX
        }
    );

    // A receipt and a redaction, properly signed, naming entry u64::MAX.
    let records = ledger_with(|b| {
        b.receipt(u64::MAX, &[1; 32]);
    });
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::Receipt {
            index: 4,
            disclosure_index: u64::MAX,
            ..
        }
    ));
    let records = ledger_with(|b| {
        b.redaction(u64::MAX, &[1; 32]);
    });
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::Redaction {
            index: 4,
            disclosure_index: u64::MAX,
            ..
        }
    ));

    // A checkpoint, signed by the log key, claiming size u64::MAX.
    let mut b = Builder::new(false);
    b.checkpoint_claiming(u64::MAX);
    let records = b.finish();
    assert_eq!(
        verify(records, 0).unwrap_err(),
        VerifyError::CheckpointMisplaced {
            size: 2,
            claimed: u64::MAX
        }
    );
}

#[test]
fn extreme_times_are_named() {
    // Times at both ends of i64 are ordered like any others: i64::MIN after a later entry went
    // back; i64::MAX is a valid (if absurd) time; the header's export time is never computed on.
    let mut records = ledger_with(|b| {
        b.time_ms = i64::MAX - 1;
        b.disclosure(2, &[synthetic::indicator(2)]);
        b.disclosure(3, &[synthetic::indicator(3)]);
    });
    header_mut(&mut records).exported_at_ms = i64::MIN;
    let report = verify(records, 0).expect("times at i64::MAX verify");
    assert_eq!(report.disclosures, 3);

    let mut b = Builder::new(false);
    b.disclosure(1, &[synthetic::indicator(1)]);
    b.time_ms = i64::MIN;
    b.disclosure(2, &[synthetic::indicator(2)]);
    b.checkpoint();
    assert!(matches!(
        verify(b.finish(), 0).unwrap_err(),
        VerifyError::TimeWentBack { index: 3, .. }
    ));
}

#[test]
fn extreme_counts_in_a_refusal_are_named() {
    // A finding in the body must be at item 0: u32::MAX is content smuggled in a number.
    let mut b = Builder::new(false);
    let index = b.refusal(7, "inside.ip/1");
    b.checkpoint();
    let mut records = b.finish();
    rewrite_and_resign(&mut records, index, |e| {
        if let Some(Kind::Refusal(r)) = &mut e.kind {
            r.findings[0].body = true;
            r.findings[0].path = "$.purpose".into();
            r.findings[0].item = u32::MAX;
        }
    });
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::RefusalContent { index: i, .. } if i == index
    ));
}

/// [`rewrite`], then the log's last checkpoint signed again over the new root (the log key
/// signs whatever the operator puts in the log).
fn rewrite_and_resign(
    records: &mut [pb::ExportRecord],
    index: u64,
    f: impl FnOnce(&mut pb::Entry),
) {
    rewrite(records, index, f);
    let mut frontier = crate::format::tree::Frontier::new();
    for r in records.iter() {
        if let Some(Record::Entry(e)) = &r.record {
            frontier.push(hash_from_slice(&e.leaf_hash).unwrap());
        }
    }
    let note = Checkpoint {
        origin: synthetic::ORIGIN.into(),
        size: frontier.size().0,
        root: frontier.root(),
        extensions: Vec::new(),
    }
    .sign(&synthetic::Keys::default().log)
    .unwrap();
    *records.last_mut().unwrap() = pb::ExportRecord {
        record: Some(Record::Checkpoint(note)),
    };
}

/// A cosignature line by `name` with `key` over the checkpoint note `note`.
fn cosigned(note: &str, name: &str, key: &SigningKey) -> String {
    let mut parsed = Note::parse(note).unwrap();
    let line = cosignature::cosign(name, key, 1_780_000_000, &parsed.text).unwrap();
    parsed.signatures.push(line);
    parsed.to_text()
}

#[test]
fn a_cosignature_by_a_key_the_partner_rotated_to_later_verifies() {
    let new = SigningKey::from_bytes(&[9; 32]);
    let mut b = Builder::new(false);
    let (i, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
    b.receipt(i, &leaf);
    let note = b.checkpoint();
    let at = b.records.len() - 1;
    let new_key = new.verifying_key().to_bytes();
    let signature = signature::sign(&b.keys.recipient, Purpose::KeyChange, &new_key).to_vec();
    b.push(
        Kind::KeyChange(pb::KeyChange {
            party: RECIPIENT.into(),
            new_public_key: new_key.to_vec(),
            signature,
        }),
        Vec::new(),
    );
    b.checkpoint();
    let old = b.keys.recipient.clone();
    let records = b.finish();
    let with = |lines: &[(&str, &SigningKey)]| {
        let mut r = records.clone();
        let mut text = note.clone();
        for (name, key) in lines {
            text = cosigned(&text, name, key);
        }
        r[at].record = Some(Record::Checkpoint(text));
        r
    };

    // The recipient, a witness catching up after its rotation, cosigns the older checkpoint
    // with its new key; the log accepted it under the key in force, and so does the verifier.
    let report = verify(with(&[(RECIPIENT, &new)]), 0).expect("a later key's cosignature");
    assert_eq!(report.cosigned.get(RECIPIENT), Some(&1));
    assert_eq!(report.unknown_signatures, 0);
    // Under the key in force at that size, as before.
    let report = verify(with(&[(RECIPIENT, &old)]), 2).unwrap();
    assert_eq!(report.cosigned.get(RECIPIENT), Some(&1));
    // Under a key the recipient never held: an unknown key, counted, not a cosignature.
    let stranger = SigningKey::from_bytes(&[10; 32]);
    let report = verify(with(&[(RECIPIENT, &stranger)]), 0).unwrap();
    assert_eq!(report.cosigned.get(RECIPIENT), None);
    assert_eq!(report.unknown_signatures, 1);

    // A line whose signature does not verify is named at its checkpoint, whether it is under
    // a later key or under the key in force at that size.
    for key in [&new, &old] {
        let mut bad = with(&[(RECIPIENT, key)]);
        let Some(Record::Checkpoint(text)) = &mut bad[at].record else {
            unreachable!()
        };
        let mut parsed = Note::parse(text).unwrap();
        parsed.signatures[1].signature[20] ^= 1;
        *text = parsed.to_text();
        assert_eq!(
            verify(bad, 0).unwrap_err(),
            VerifyError::BadCosignature {
                size: 4,
                cosigner: RECIPIENT.into()
            }
        );
    }
}
