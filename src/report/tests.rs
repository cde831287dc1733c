//! The report library on a synthetic, really signed ledger: built and verified, then altered
//! one way at a time, each alteration named.

use super::verify::verify;
use super::*;
use crate::audit::synthetic::{self, Builder, ORIGIN};

const T0: i64 = 1_780_000_000_000;

/// Genesis 0, policy 1, disclosure 2 of indicator 1, receipt 3, disclosure 4 of indicator 1
/// again (an update) and 2, refusals 5 and 6, disclosure 7 of indicator 3 (pending),
/// disclosure 8 of indicator 4, receipt 9. Entry i has time T0 + i + 1.
fn ledger() -> (Vec<pb::ExportRecord>, Verifier) {
    let mut b = Builder::new(false);
    let (d, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
    b.receipt(d, &leaf);
    b.disclosure(2, &[synthetic::indicator(1), synthetic::indicator(2)]);
    b.checkpoint();
    b.refusal(100, "inside.ip/1");
    b.refusal(101, "inside.ip/1");
    b.disclosure(3, &[synthetic::indicator(3)]);
    let (d, leaf) = b.disclosure(4, &[synthetic::indicator(4)]);
    b.receipt(d, &leaf);
    b.checkpoint();
    let log = b.keys.log.verifier();
    (b.finish(), log)
}

fn scope(from_ms: i64, to_ms: i64) -> Scope {
    Scope {
        from_ms,
        to_ms,
        partner: None,
        bucket: Bucket::Week,
    }
}

fn report(from_ms: i64, to_ms: i64) -> (Report, Verifier) {
    let (records, log) = ledger();
    let r = build(
        records,
        scope(from_ms, to_ms),
        Profile::default_profile(),
        "compliance",
        T0 + 1000,
        Default::default(),
    )
    .unwrap();
    (r, log)
}

#[test]
fn whole_log_report_counts_and_verifies() {
    let (r, log) = report(0, T0 + 1000);
    assert!(r.integrity.verified, "{:?}", r.integrity);
    let s = &r.contents.summary;
    assert_eq!((s.disclosures, s.items), (4, 5));
    assert_eq!((s.items_new, s.items_updated), (4, 1));
    assert_eq!((s.refusals, s.refusal_findings), (2, 2));
    assert_eq!((s.acknowledged, s.pending), (2, 2));
    assert_eq!(r.contents.receipts.oldest_pending_index, Some(4));
    assert_eq!(r.contents.refusals[0].refusals, 2);
    assert_eq!(r.contents.refusals[0].policy_version, "2026.4");
    assert_eq!(r.contents.lines[1].items[0].first_seen, Some(2));
    assert_eq!((r.evidence.first, r.evidence.last), (0, 9));
    let v = verify(
        &Report::from_json(&serde_json::to_string(&r).unwrap()).unwrap(),
        &log,
    )
    .unwrap();
    assert_eq!(v.lines, 4);
    assert_eq!(r.origin, ORIGIN);
}

#[test]
fn a_period_report_cites_what_lies_outside_and_verifies() {
    // Entries 6..=9 (times T0+7..T0+10): refusal 6, disclosures 7 and 8, receipt 9.
    let (r, log) = report(T0 + 7, T0 + 11);
    assert_eq!(r.contents.summary.disclosures, 2);
    assert_eq!(r.contents.summary.refusals, 1);
    assert_eq!((r.evidence.first, r.evidence.last), (5, 9));
    // The policy change (1) is cited for the refusal's version.
    assert!(r.evidence.cited.iter().any(|p| p.index == 1));
    verify(&r, &log).unwrap();
    // A period with the update: the earlier sighting (entry 2) is cited and proven.
    let (r, log) = report(T0 + 5, T0 + 6);
    assert_eq!(r.contents.lines[0].items[0].first_seen, Some(2));
    assert!(r.evidence.cited.iter().any(|p| p.index == 2));
    verify(&r, &log).unwrap();
}

#[test]
fn every_alteration_is_named() {
    let (good, log) = report(T0 + 3, T0 + 11);
    verify(&good, &log).unwrap();

    let mut r = good.clone();
    r.contents.summary.disclosures += 1;
    let e = verify(&r, &log).unwrap_err();
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path == "summary.disclosures"),
        "{e}"
    );

    let mut r = good.clone();
    r.contents.lines[0].recipient = "someone-else".into();
    let e = verify(&r, &log).unwrap_err();
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path == "lines[0].recipient"),
        "{e}"
    );

    let mut r = good.clone();
    r.contents.lines[1].leaf_hash = "00".repeat(32);
    let e = verify(&r, &log).unwrap_err();
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path == "lines[1].leaf_hash"),
        "{e}"
    );

    // A dropped line: the entries still hold it.
    let mut r = good.clone();
    r.contents.lines.remove(1);
    let e = verify(&r, &log).unwrap_err();
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path.starts_with("lines[1]")),
        "{e}"
    );

    // A dropped line and its entry: the range has a hole.
    let mut r = good.clone();
    let gone = r.contents.lines.remove(1).index;
    r.evidence.entries.retain(|p| p.index != gone);
    assert!(matches!(verify(&r, &log), Err(ReportError::Range(_))));

    // The range cut short before the period ends: the boundary does not hold.
    let mut r = good.clone();
    r.contents.lines.pop();
    r.evidence.entries.pop();
    r.evidence.entries.pop();
    r.evidence.last -= 2;
    assert!(
        matches!(verify(&r, &log), Err(ReportError::Boundary(_))),
        "{:?}",
        verify(&r, &log)
    );

    // An entry's bytes or a proof hash changed.
    let mut r = good.clone();
    let mut bytes = BASE64.decode(&r.evidence.entries[2].entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    r.evidence.entries[2].entry = BASE64.encode(bytes);
    assert!(matches!(verify(&r, &log), Err(ReportError::Proof { .. })));
    let mut r = good.clone();
    r.evidence.entries[0].proof[0] = "11".repeat(32);
    assert!(matches!(verify(&r, &log), Err(ReportError::Proof { .. })));

    // Another log's key.
    let other = crate::format::note::Signer::new(
        "borderlog.test/other",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap();
    assert!(matches!(
        verify(&good, &other.verifier()),
        Err(ReportError::Checkpoint(_))
    ));
}

#[test]
fn partner_filter_and_renderings() {
    let (records, log) = ledger();
    let mut s = scope(0, T0 + 1000);
    s.partner = Some("nobody-else".into());
    let r = build(
        records,
        s,
        Profile::default_profile(),
        "c",
        T0,
        Default::default(),
    )
    .unwrap();
    assert_eq!(r.contents.summary.disclosures, 0);
    verify(&r, &log).unwrap();

    let (r, _) = report(0, T0 + 1000);
    let html = render::render(&r, render::Format::Html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"), "charts are inline SVG");
    assert!(html.contains("inside.ip/1"));
    let csv = render::render(&r, render::Format::Csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + r.contents.lines.len());
    let md = render::render(&r, render::Format::Markdown).unwrap();
    assert!(md.contains("| Disclosures | 4 |"), "{md}");
}
