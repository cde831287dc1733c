//! The verifier's checks, each made to fail on a synthetic ledger.

use super::*;
use crate::audit::spill;
use crate::audit::synthetic::{self, Builder};
use crate::format::note::Note;
use prost::Message;

fn verify(records: Vec<pb::ExportRecord>, threads: usize) -> Result<Report, VerifyError> {
    verify_records(
        records,
        VerifyOptions {
            threads,
            ..Default::default()
        },
    )
}

fn entry_mut(records: &mut [pb::ExportRecord], index: u64) -> &mut pb::EntryResponse {
    records
        .iter_mut()
        .find_map(|r| match &mut r.record {
            Some(Record::Entry(e)) if e.index == index => Some(e),
            _ => None,
        })
        .expect("entry in export")
}

/// Rewrites an entry (keeping the record's leaf hash field consistent with its bytes).
fn rewrite(records: &mut [pb::ExportRecord], index: u64, f: impl FnOnce(&mut pb::Entry)) {
    let e = entry_mut(records, index);
    let mut decoded = pb::Entry::decode(e.entry.as_slice()).unwrap();
    f(&mut decoded);
    e.entry = decoded.encode_to_vec();
    e.leaf_hash = leaf_hash(&e.entry).to_vec();
}

#[test]
fn a_checkpoint_whose_log_signature_fails_is_named_with_and_without_workers() {
    for threads in [0, 2] {
        let mut records = synthetic::ledger(60, 7, false);
        // The second checkpoint, and the size its body names.
        let (at, size) = records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.record {
                Some(Record::Checkpoint(n)) => Some((i, n.lines().nth(1)?.parse::<u64>().ok()?)),
                _ => None,
            })
            .nth(1)
            .expect("two checkpoints");
        let Some(Record::Checkpoint(note)) = &mut records[at].record else {
            unreachable!()
        };
        // Another valid-looking signature: same key id, flipped signature bytes.
        let mut parsed = Note::parse(note).unwrap();
        parsed.signatures[0].signature[10] ^= 1;
        *note = parsed.to_text();
        let err = verify(records, threads).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Checkpoint { size: s, .. } if *s == size),
            "{err}"
        );
    }
}

#[test]
fn untouched_ledger_verifies_with_and_without_workers() {
    for (payloads, threads) in [(true, 0), (true, 2), (false, 2)] {
        let report = verify(synthetic::ledger(60, 7, payloads), threads).unwrap();
        assert_eq!(report.entries, 60);
        assert_eq!(report.disclosures, 29);
        assert_eq!(report.receipts, 29);
        assert_eq!(report.receipts_pending, 0);
        assert_eq!(report.policy_changes, 1);
        assert_eq!(report.signatures, 1 + 29 * 2);
        if payloads {
            assert_eq!(report.payloads_checked, 29);
            assert_eq!(report.replays_passed + report.payloads_checked, 58);
        } else {
            assert_eq!(report.payloads_not_visible, 29);
        }
    }
}

#[test]
fn refusals_pending_receipts_and_rules_are_reported() {
    let mut b = Builder::new(true);
    b.disclosure(1, &[synthetic::indicator(1)]);
    b.refusal(100, "inside.ip/1");
    b.refusal(101, "inside.ip/1");
    b.checkpoint();
    let report = verify(b.finish(), 0).unwrap();
    assert_eq!(report.receipts_pending, 1);
    assert_eq!(report.refusals, 2);
    assert_eq!(report.refusals_by_rule.get("inside.ip/1"), Some(&2));
}

#[test]
fn a_bad_signature_is_named_even_inside_a_large_batch() {
    for threads in [0, 2] {
        let mut records = synthetic::ledger(3000, 100, false);
        rewrite(&mut records, 1500, |e| {
            if let Some(Kind::Disclosure(d)) = &mut e.kind {
                d.signature[5] ^= 1;
            }
        });
        // Entry 1501's link breaks too, but the signature error comes first by position.
        let err = verify(records, threads).unwrap_err();
        assert!(
            matches!(
                &err,
                VerifyError::BadSignature {
                    index: 1500,
                    purpose: "disclosure",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn chain_time_index_and_root_checks() {
    // A receipt pointed at another disclosure: its own check fails before the chain.
    let mut records = synthetic::ledger(20, 5, false);
    rewrite(&mut records, 5, |e| {
        if let Some(Kind::Receipt(r)) = &mut e.kind {
            r.disclosure_index = 2;
        }
    });
    let err = verify(records, 0).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Receipt {
                index: 5,
                disclosure_index: 2,
                ..
            }
        ),
        "{err}"
    );

    // A changed entry breaks the next entry's link.
    let mut records = synthetic::ledger(20, 5, false);
    rewrite(&mut records, 6, |e| e.time_ms += 1);
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::ChainBroken { index: 7, .. }
    ));

    let mut records = synthetic::ledger(20, 5, false);
    rewrite(&mut records, 7, |e| e.time_ms = 0);
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::TimeWentBack { index: 7, .. }
    ));

    let mut records = synthetic::ledger(20, 5, false);
    rewrite(&mut records, 7, |e| e.index = 8);
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::IndexGap {
            position: 7,
            found: 8
        }
    ));

    let mut records = synthetic::ledger(20, 5, false);
    entry_mut(&mut records, 9).leaf_hash[0] ^= 1;
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::LeafHash { index: 9 }
    ));
}

#[test]
fn truncation_and_trailing_records_are_caught() {
    let mut records = synthetic::ledger(20, 5, false);
    records.pop();
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::Truncated { .. }
    ));
    let mut records = synthetic::ledger(20, 5, false);
    let last = records.last().unwrap().clone();
    records.push(last);
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::UnexpectedRecord { .. }
    ));
    assert!(matches!(
        verify(Vec::new(), 0).unwrap_err(),
        VerifyError::Header(_)
    ));
}

#[test]
fn payload_and_guard_replay_checks() {
    // A payload swapped for other content no longer matches its commitment.
    let mut records = synthetic::ledger(20, 5, true);
    let e = entry_mut(&mut records, 2);
    e.items[0].payload.as_mut().unwrap().content = synthetic::indicator(99);
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::PayloadMismatch { index: 2, item: 0 }
    ));

    // A payload the policy refuses, signed and committed to properly, fails the replay.
    let mut b = Builder::new(true);
    let leaky = String::from_utf8(synthetic::indicator(5))
        .unwrap()
        .replace("c2-5.badcdn.example", "10.0.0.7");
    b.disclosure(5, &[leaky.into_bytes()]);
    b.checkpoint();
    let err = verify(b.finish(), 2).unwrap_err();
    assert!(
        matches!(&err, VerifyError::GuardReplay { index: 2, item: 0, reason } if reason.contains("refuses")),
        "{err}"
    );

    // So does a body whose own text names an inside address, the items being clean.
    let second_case = |case_reference: &str| {
        let mut b = Builder::new(true);
        b.disclosure(4, &[synthetic::indicator(4)]);
        b.case_reference = case_reference.into();
        b.disclosure(5, &[synthetic::indicator(5)]);
        b.checkpoint();
        b.finish()
    };
    let err = verify(second_case("escalated from 10.0.0.7"), 2).unwrap_err();
    assert!(
        matches!(&err, VerifyError::GuardReplayBody { index: 3, fields } if fields.contains("$.case_reference (inside.ip")),
        "{err}"
    );
    // With a plain case number the same ledger passes, every body replayed.
    let report = verify(second_case("CASE-2026-118734"), 2).unwrap();
    assert_eq!(report.body_replays_passed, 2);

    // A payload missing with no redaction is caught; the exporter could see it.
    let mut records = synthetic::ledger(20, 5, true);
    let e = entry_mut(&mut records, 2);
    e.items[0].payload = None;
    e.items[0].withheld = "the payload is no longer stored".into();
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::PayloadMissing {
            index: 2,
            item: 0,
            ..
        }
    ));
}

#[test]
fn receipts_must_acknowledge_a_real_disclosure_once() {
    let mut b = Builder::new(false);
    let (i, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
    b.receipt(i, &leaf);
    b.receipt(i, &leaf);
    b.checkpoint();
    assert!(matches!(
        verify(b.finish(), 0).unwrap_err(),
        VerifyError::DuplicateReceipt {
            index: 4,
            disclosure_index: 2,
            first: 3
        }
    ));

    let mut b = Builder::new(false);
    let (i, _) = b.disclosure(1, &[synthetic::indicator(1)]);
    b.receipt(i, &[9; 32]);
    b.checkpoint();
    assert!(matches!(
        verify(b.finish(), 0).unwrap_err(),
        VerifyError::Receipt {
            index: 3,
            disclosure_index: 2,
            ..
        }
    ));
}

#[test]
fn redactions_name_an_item_of_an_earlier_disclosure_acknowledged_or_not() {
    let mut b = Builder::new(false);
    let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
    b.receipt(acked, &leaf);
    let (open, _) = b.disclosure(2, &[synthetic::indicator(2)]);
    // Both kinds of disclosure are still known after the first's receipt was matched.
    let c_acked = first_commitment(&b.records, acked);
    let c_open = first_commitment(&b.records, open);
    b.redaction(acked, &c_acked);
    b.redaction(open, &c_open);
    b.checkpoint();
    let report = verify(b.finish(), 0).unwrap();
    assert_eq!((report.redactions, report.receipts_pending), (2, 1));

    // Another disclosure's item, and an index that is not a disclosure.
    for (target, reason) in [(open, "not an item"), (1, "no disclosure")] {
        let mut b = Builder::new(false);
        let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
        b.receipt(acked, &leaf);
        b.disclosure(2, &[synthetic::indicator(2)]);
        let c = first_commitment(&b.records, acked);
        let at = b.redaction(target, &c);
        b.checkpoint();
        let err = verify(b.finish(), 2).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Redaction { index, disclosure_index, reason: r }
                if *index == at && *disclosure_index == target && r.contains(reason)),
            "{err}"
        );
    }
}

#[test]
fn policy_in_force_is_enforced() {
    let mut b = Builder::new(false);
    b.disclosure(1, &[synthetic::indicator(1)]);
    b.checkpoint();
    let mut records = b.finish();
    rewrite(&mut records, 2, |e| {
        if let Some(Kind::Disclosure(d)) = &mut e.kind {
            d.policy_hash = vec![0; 32];
        }
    });
    assert!(matches!(
        verify(records, 0).unwrap_err(),
        VerifyError::PolicyNotInForce { index: 2, .. }
    ));
}

#[test]
fn refusal_with_smuggled_bytes_or_unknown_rule_is_content() {
    let mut b = Builder::new(false);
    b.refusal(100, "not-a-rule/1");
    b.checkpoint();
    assert!(matches!(
        verify(b.finish(), 0).unwrap_err(),
        VerifyError::RefusalContent { index: 2, .. }
    ));
    let mut b = Builder::new(false);
    b.refusal(100, "inside.ip/1");
    b.checkpoint();
    let mut records = b.finish();
    let e = entry_mut(&mut records, 2);
    // An unknown field (number 99, bytes) holding the refused value.
    let mut bytes = e.entry.clone();
    bytes.extend_from_slice(&[0x9a, 0x06, 5, b's', b'e', b'c', b'r', b't']);
    e.entry = bytes;
    e.leaf_hash = leaf_hash(&e.entry).to_vec();
    let err = verify(records, 0).unwrap_err();
    assert!(
        matches!(err, VerifyError::RefusalContent { index: 2, .. }),
        "{err}"
    );
}

#[test]
fn trusted_checkpoints_catch_rollback_and_fork() {
    let full = synthetic::ledger(40, 10, false);
    let held = full
        .iter()
        .rev()
        .find_map(|r| match &r.record {
            Some(Record::Checkpoint(n)) => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    let opts = |notes: Vec<String>| VerifyOptions {
        trusted_checkpoints: notes,
        ..Default::default()
    };
    verify_records(full.clone(), opts(vec![held.clone()])).unwrap();
    // A shorter export, itself fine, is a rollback against what is held.
    let short = synthetic::ledger(20, 10, false);
    verify_records(short.clone(), opts(vec![])).unwrap();
    assert!(matches!(
        verify_records(short, opts(vec![held.clone()])).unwrap_err(),
        VerifyError::Rollback {
            trusted_size: 40,
            export_size: 20
        }
    ));
    // A re-signed history (different entries, valid signatures) is a fork.
    let mut b = Builder::new(false);
    for n in 100..138 {
        b.disclosure(n, &[synthetic::indicator(n)]);
    }
    b.checkpoint();
    let forked = b.finish();
    verify_records(forked.clone(), opts(vec![])).unwrap();
    assert!(matches!(
        verify_records(forked, opts(vec![held])).unwrap_err(),
        VerifyError::Fork { size: 40, .. }
    ));
}

/// Memory budgets under which the same export is checked: the default (all in memory),
/// spilling after the first disclosure, and spilling part-way through.
const BUDGETS: [Option<usize>; 3] = [None, Some(0), Some(5)];

fn verify_within(
    records: Vec<pb::ExportRecord>,
    spill_after: Option<usize>,
) -> Result<Report, VerifyError> {
    verify_records(
        records,
        VerifyOptions {
            threads: 2,
            spill_after,
            ..Default::default()
        },
    )
}

fn first_commitment(records: &[pb::ExportRecord], index: u64) -> Hash {
    let e = records
        .iter()
        .find_map(|r| match &r.record {
            Some(Record::Entry(e)) if e.index == index => Some(e),
            _ => None,
        })
        .unwrap();
    e.items[0].commitment.as_slice().try_into().unwrap()
}

#[test]
fn past_the_budget_the_same_ledger_verifies_to_the_same_report() {
    let in_memory = verify_within(synthetic::ledger(60, 7, false), None).unwrap();
    assert_eq!(in_memory.claims_spilled, 0);
    for budget in [Some(0), Some(5)] {
        let mut spilled = verify_within(synthetic::ledger(60, 7, false), budget).unwrap();
        // 29 nonces, items and receipts, 29 disclosures (a handful counted at the switch).
        assert!(spilled.claims_spilled >= 4 * 29, "{budget:?}");
        spilled.claims_spilled = 0;
        assert_eq!(spilled, in_memory, "{budget:?}");
    }
    // Redactions of an acknowledged and of an open disclosure's items, after the switch.
    for budget in BUDGETS {
        let mut b = Builder::new(false);
        let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
        b.receipt(acked, &leaf);
        let (open, _) = b.disclosure(2, &[synthetic::indicator(2)]);
        for n in 3..8 {
            b.disclosure(n, &[synthetic::indicator(n)]);
        }
        let (c_acked, c_open) = (
            first_commitment(&b.records, acked),
            first_commitment(&b.records, open),
        );
        b.redaction(acked, &c_acked);
        b.redaction(open, &c_open);
        b.checkpoint();
        let report = verify_within(b.finish(), budget).unwrap();
        assert_eq!((report.redactions, report.receipts_pending), (2, 6));
    }
}

#[test]
fn a_reused_nonce_is_named_at_its_entry_in_memory_and_spilled() {
    for budget in BUDGETS {
        let mut b = Builder::new(false);
        let (first, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
        b.receipt(first, &leaf);
        for n in 2..6 {
            b.disclosure(n, &[synthetic::indicator(n)]);
        }
        let (again, _) = b.disclosure(1, &[synthetic::indicator(1)]);
        // A later reuse, by a refusal (refusals spend nonces too): the first is named.
        let refused = b.refusal(3, "inside.ip/1");
        b.checkpoint();
        let err = verify_within(b.finish(), budget).unwrap_err();
        assert_eq!(
            err,
            VerifyError::NonceReused {
                index: again,
                first
            },
            "{budget:?}"
        );
        assert!(refused > again);
    }
}

#[test]
fn a_second_receipt_is_named_in_memory_and_spilled() {
    for budget in BUDGETS {
        let mut b = Builder::new(false);
        let (i, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
        let first = b.receipt(i, &leaf);
        for n in 2..6 {
            b.disclosure(n, &[synthetic::indicator(n)]);
        }
        let second = b.receipt(i, &leaf);
        b.checkpoint();
        assert_eq!(
            verify_within(b.finish(), budget).unwrap_err(),
            VerifyError::DuplicateReceipt {
                index: second,
                disclosure_index: i,
                first
            },
            "{budget:?}"
        );

        // A second receipt naming another leaf, and a receipt for an entry that is not a
        // disclosure.
        for (target, leaf, reason) in [
            (i, [9; 32], spill::NOT_THE_LEAF),
            (1, [9; 32], spill::NO_DISCLOSURE),
        ] {
            let mut b = Builder::new(false);
            let (i, ok) = b.disclosure(1, &[synthetic::indicator(1)]);
            b.receipt(i, &ok);
            for n in 2..6 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            let at = b.receipt(target, &leaf);
            b.checkpoint();
            let err = verify_within(b.finish(), budget).unwrap_err();
            assert!(
                matches!(&err, VerifyError::Receipt { index, disclosure_index, reason: r }
                    if *index == at && *disclosure_index == target && r == reason),
                "{budget:?}: {err}"
            );
        }
    }
}

#[test]
fn a_redaction_of_no_such_item_is_named_in_memory_and_spilled() {
    for budget in BUDGETS {
        // Another disclosure's item, and an index that is not a disclosure.
        let open = 4;
        for (target, reason) in [(open, "not an item"), (1, "no disclosure")] {
            let mut b = Builder::new(false);
            let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
            b.receipt(acked, &leaf);
            assert_eq!(b.disclosure(2, &[synthetic::indicator(2)]).0, open);
            for n in 3..7 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            let c = first_commitment(&b.records, acked);
            let at = b.redaction(target, &c);
            b.checkpoint();
            let err = verify_within(b.finish(), budget).unwrap_err();
            assert!(
                matches!(&err, VerifyError::Redaction { index, disclosure_index, reason: r }
                    if *index == at && *disclosure_index == target && r.contains(reason)),
                "{budget:?}: {err}"
            );
        }
    }
}

#[test]
fn a_spilled_failure_before_the_stream_stops_is_the_one_named() {
    for budget in BUDGETS {
        // A reused nonce at entry 8, found only by the merge when spilling; the stream
        // itself stops at a broken link at entry 13, or at the truncated end.
        let build = || {
            let mut b = Builder::new(false);
            let (first, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
            b.receipt(first, &leaf);
            for n in 2..6 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            let (again, _) = b.disclosure(1, &[synthetic::indicator(1)]);
            for n in 6..12 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            b.checkpoint();
            (b.finish(), first, again)
        };
        let (mut records, first, again) = build();
        assert_eq!(again, 8);
        rewrite(&mut records, 12, |e| e.time_ms += 1);
        let reused = VerifyError::NonceReused {
            index: again,
            first,
        };
        assert_eq!(verify_within(records, budget).unwrap_err(), reused);

        let (mut records, _, _) = build();
        records.pop();
        assert_eq!(verify_within(records, budget).unwrap_err(), reused);

        // And a failure before the reuse is still the one named.
        let (mut records, _, _) = build();
        rewrite(&mut records, 5, |e| e.time_ms += 1);
        assert!(matches!(
            verify_within(records, budget).unwrap_err(),
            VerifyError::ChainBroken { index: 6, .. }
        ));
    }
}

mod bounds;
