//! Compliance reports over a real server (mutual TLS on loopback): a ledger built here with two
//! recipients, updates, a refusal, a redaction, acknowledged and pending disclosures, and
//! entries before and after the period. The report's totals are checked against what the
//! ledger holds (read independently with ListEntries), then the report is verified offline,
//! altered, and rendered as HTML (parsed as HTML, and laid out, screenshot and printed to PDF
//! by a real headless Chromium when one is on PATH), CSV and Markdown (hostile free text made
//! safe to open). Each test runs on both backends
//! (`name::embedded`, `name::postgres`: `both_backends!` in tests/common/mod.rs).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use borderlog::client;
use borderlog::format::LeafIndex;
use borderlog::format::hash::hash_from_slice;
use borderlog::identity::{self, InitOptions, PartySpec, load_signing_key};
use borderlog::pb::{self, Role, entry::Kind};
use borderlog::report::{self, Report, ReportError};
use common::*;
use prost::Message;
use tokio_stream::StreamExt;

const CERT: &str = "national-cert";
const COMPLIANCE: &str = "compliance";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const REASON: &str = "holds a customer's address the guard missed";

/// A server whose log has a second recipient, a national authority.
async fn start(dir: &Path, backend: Backend) -> TestServer {
    let keys = dir.join("keys");
    let mut opts = InitOptions::default();
    opts.parties.insert(
        2,
        PartySpec::new(CERT, Role::Recipient, "national authority"),
    );
    identity::init(&keys, &opts).unwrap();
    TestServer::start_with(&keys, &dir.join("data"), backend).await
}

fn item(n: u64, amber: bool) -> Vec<u8> {
    let mut v = indicator_json(n);
    if amber {
        v["object_marking_refs"] = serde_json::json!([AMBER]);
    }
    serde_json::to_vec(&v).unwrap()
}

async fn disclose(s: &TestServer, recipient: &str, items: Vec<Vec<u8>>) -> pb::LogReceipt {
    let key = load_signing_key(&s.keys, SENDER).unwrap();
    let mut h = header();
    h.recipient = recipient.into();
    if recipient == CERT {
        h.legal_basis = "national cybersecurity act, s. 12".into();
    }
    let request = client::prepare_submission(&key, &h, items, now_ms()).unwrap();
    s.client(SENDER)
        .await
        .submit(request)
        .await
        .expect("submit")
        .into_inner()
}

async fn ack(s: &TestServer, recipient: &str, d: &pb::LogReceipt) {
    let key = load_signing_key(&s.keys, recipient).unwrap();
    let leaf = hash_from_slice(&d.leaf_hash).unwrap();
    s.client(recipient)
        .await
        .acknowledge(client::sign_receipt(&key, LeafIndex(d.index), &leaf))
        .await
        .expect("acknowledge");
}

fn time_of(r: &pb::LogReceipt) -> i64 {
    pb::Entry::decode(r.entry.as_slice()).unwrap().time_ms
}

async fn get_report(
    s: &TestServer,
    who: &str,
    from_ms: i64,
    to_ms: i64,
    partner: &str,
) -> Result<Report, tonic::Status> {
    let mut api = client::connect_reports(&s.addr, &s.keys, who)
        .await
        .unwrap();
    let r = api
        .get_report(pb::ReportRequest {
            from_ms,
            to_ms,
            partner: partner.into(),
            bucket: "week".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(Report::from_json(&r.report_json).expect("the server's JSON is a report"))
}

/// What the ledger holds for [from, to) up to `size`, counted here from ListEntries.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    disclosures: u64,
    items: u64,
    items_by_recipient: BTreeMap<String, u64>,
    refusals: u64,
    redactions: u64,
    acknowledged: u64,
    pending: u64,
}

async fn ledger_totals(
    s: &TestServer,
    size: u64,
    from: i64,
    to: i64,
    partner: Option<&str>,
) -> Totals {
    let mut stream = s
        .client(AUDITOR)
        .await
        .list_entries(pb::ListEntriesRequest {
            limit: size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut entries = Vec::new();
    while let Some(e) = stream.next().await {
        entries.push(pb::Entry::decode(e.unwrap().entry.as_slice()).unwrap());
    }
    assert_eq!(entries.len() as u64, size);
    let acknowledged: Vec<u64> = entries
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Receipt(r)) => Some(r.disclosure_index),
            _ => None,
        })
        .collect();
    let involves = |a: &str, b: &str| partner.is_none_or(|p| p == a || p == b);
    let mut t = Totals::default();
    for e in entries
        .iter()
        .filter(|e| from <= e.time_ms && e.time_ms < to)
    {
        match &e.kind {
            Some(Kind::Disclosure(d)) => {
                let body = pb::DisclosureBody::decode(d.body.as_slice()).unwrap();
                if !involves(&body.sender, &body.recipient) {
                    continue;
                }
                t.disclosures += 1;
                t.items += body.items.len() as u64;
                *t.items_by_recipient.entry(body.recipient).or_default() += body.items.len() as u64;
                if acknowledged.contains(&e.index) {
                    t.acknowledged += 1;
                } else {
                    t.pending += 1;
                }
            }
            Some(Kind::Refusal(r)) if involves(&r.sender, &r.recipient) => t.refusals += 1,
            Some(Kind::Redaction(r)) if involves(&r.owner, RECIPIENT) => t.redactions += 1,
            _ => {}
        }
    }
    t
}

fn totals_of(r: &Report) -> Totals {
    let s = &r.contents.summary;
    let mut by = BTreeMap::new();
    for row in &r.contents.disclosures_by {
        *by.entry(row.recipient.clone()).or_default() += row.items;
    }
    Totals {
        disclosures: s.disclosures,
        items: s.items,
        items_by_recipient: by,
        refusals: s.refusals,
        redactions: s.redactions,
        acknowledged: s.acknowledged,
        pending: s.pending,
    }
}

both_backends!(a_report_holds_what_the_ledger_holds_and_proves_it);
async fn a_report_holds_what_the_ledger_holds_and_proves_it(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), backend).await;

    // Before the period: a disclosure to the police network, acknowledged.
    let before = disclose(&s, RECIPIENT, vec![item(1, false)]).await;
    ack(&s, RECIPIENT, &before).await;
    tokio::time::sleep(Duration::from_millis(30)).await;

    // The period.
    let a = disclose(&s, RECIPIENT, vec![item(1, false), item(2, true)]).await; // 1 is an update
    let from = time_of(&a);
    ack(&s, RECIPIENT, &a).await;
    let b = disclose(&s, CERT, vec![item(3, false), item(4, true)]).await; // acknowledged after the period
    let c = disclose(&s, CERT, vec![item(5, false)]).await;
    ack(&s, CERT, &c).await;
    let mut inside = indicator_json(99);
    inside["pattern"] = "[ipv4-addr:value = '10.0.0.1']".into();
    let key = load_signing_key(&s.keys, SENDER).unwrap();
    let refused = client::prepare_submission(
        &key,
        &header(),
        vec![serde_json::to_vec(&inside).unwrap()],
        now_ms(),
    )
    .unwrap();
    let status = s.client(SENDER).await.submit(refused).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    let body = pb::DisclosureBody::decode(
        pb::Entry::decode(a.entry.as_slice())
            .map(|e| match e.kind {
                Some(Kind::Disclosure(d)) => d.body,
                _ => unreachable!(),
            })
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let commitment = hash_from_slice(&body.items[1].commitment).unwrap();
    s.client(SENDER)
        .await
        .redact(client::sign_redaction(
            &key,
            LeafIndex(a.index),
            &commitment,
            REASON,
        ))
        .await
        .expect("redact");
    let d = disclose(&s, RECIPIENT, vec![item(6, false)]).await; // stays pending
    tokio::time::sleep(Duration::from_millis(30)).await;

    // After the period: another disclosure, and the receipt for b.
    let after = disclose(&s, RECIPIENT, vec![item(7, false)]).await;
    let to = time_of(&after);
    ack(&s, CERT, &b).await;

    // Only the compliance role may ask; bad scopes are named.
    for who in [AUDITOR, SENDER, RECIPIENT] {
        let e = get_report(&s, who, from, to, "").await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{who}: {e:?}");
    }
    let e = get_report(&s, COMPLIANCE, to, from, "").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let e = get_report(&s, COMPLIANCE, from, to, "nobody")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    let r = get_report(&s, COMPLIANCE, from, to, "").await.unwrap();
    let size = r.checkpoint.size;
    let expected = ledger_totals(&s, size, from, to, None).await;
    assert_eq!(totals_of(&r), expected);
    assert_eq!(expected.disclosures, 4);
    assert_eq!(expected.items, 6);
    assert_eq!((expected.acknowledged, expected.pending), (3, 1));
    assert_eq!((expected.refusals, expected.redactions), (1, 1));
    let sum = &r.contents.summary;
    assert_eq!(
        (sum.items_new, sum.items_updated, sum.recipients),
        (5, 1, 2)
    );
    assert_eq!(r.contents.lines[0].items[0].first_seen, Some(before.index));
    assert_eq!(r.contents.receipts.oldest_pending_index, Some(d.index));
    assert_eq!(r.contents.redactions[0].reason, REASON);
    assert_eq!(
        (
            r.contents.redactions[0].stix_type.as_str(),
            r.contents.redactions[0].tlp.as_str()
        ),
        ("indicator", "amber")
    );
    assert_eq!(r.contents.refusals[0].rule, "inside.ip/1");
    assert_eq!(r.contents.refusals[0].policy_version, "2026.4");
    let kinds: BTreeMap<_, _> = r
        .contents
        .parties
        .iter()
        .map(|p| (p.name.as_str(), p.organisation_kind.as_str()))
        .collect();
    assert_eq!(kinds[RECIPIENT], "international organisation");
    assert_eq!(kinds[CERT], "national authority");
    assert!(r.integrity.verified, "{:?}", r.integrity);
    // b's receipt lies after the period: it is cited, with its proof.
    let b_line = r
        .contents
        .lines
        .iter()
        .find(|l| l.index == b.index)
        .unwrap();
    let b_receipt = b_line.receipt.expect("b is acknowledged by the checkpoint");
    assert!(r.evidence.cited.iter().any(|p| p.index == b_receipt));

    // A partner's slice.
    let rc = get_report(&s, COMPLIANCE, from, to, CERT).await.unwrap();
    assert_eq!(
        totals_of(&rc),
        ledger_totals(&s, rc.checkpoint.size, from, to, Some(CERT)).await
    );
    assert_eq!(rc.contents.summary.disclosures, 2);
    report::verify::verify(&rc, &s.log).unwrap();

    // The report proves itself; every alteration fails with its reason.
    report::verify::verify(&r, &s.log).expect("an untouched report verifies");
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    let altered = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = json.clone();
        f(&mut v);
        let r = Report::from_json(&v.to_string()).unwrap();
        report::verify::verify(&r, &s.log).unwrap_err()
    };
    let e = altered(&|v| v["summary"]["items"] = 7.into());
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path == "summary.items"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("the report says 7, the entries give 6"),
        "{e}"
    );
    let e = altered(&|v| v["lines"][2]["recipient"] = RECIPIENT.into());
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path == "lines[2].recipient"),
        "{e}"
    );
    let e = altered(&|v| v["lines"][0]["leaf_hash"] = "ab".repeat(32).into());
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path == "lines[0].leaf_hash"),
        "{e}"
    );
    let e = altered(&|v| v["evidence"]["entries"][1]["proof"][0] = "cd".repeat(32).into());
    assert!(matches!(&e, ReportError::Proof { .. }), "{e}");
    let e = altered(&|v| {
        v["lines"].as_array_mut().unwrap().remove(1);
    });
    assert!(
        matches!(&e, ReportError::Mismatch { path, .. } if path.starts_with("lines[1]")),
        "{e}"
    );
    // Dropping a line with its entry leaves a hole in the range.
    let e = altered(&|v| {
        let gone = v["lines"].as_array_mut().unwrap().remove(1)["index"]
            .as_u64()
            .unwrap();
        v["evidence"]["entries"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p["index"].as_u64() != Some(gone));
    });
    assert!(matches!(&e, ReportError::Range(_)), "{e}");

    // The command line: `report` writes HTML, CSV and JSON; `report verify` checks JSON.
    let bin = env!("CARGO_BIN_EXE_borderlog");
    let out = tmp.path();
    let cli = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .args(["--keys", s.keys.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let (from_s, to_s) = (
        borderlog::clock::format_rfc3339(from),
        borderlog::clock::format_rfc3339(to),
    );
    for ext in ["html", "csv", "json"] {
        let file = out.join(format!("report.{ext}"));
        let o = cli(&[
            "report",
            "--addr",
            &s.addr,
            "--from",
            &from_s,
            "--to",
            &to_s,
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let doc = scraper::Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    let number = |id: &str| {
        let sel = scraper::Selector::parse(&format!("#{id}")).unwrap();
        doc.select(&sel)
            .next()
            .unwrap_or_else(|| panic!("#{id} in the HTML"))
            .text()
            .collect::<String>()
    };
    assert_eq!(number("n-disclosures"), "4");
    assert_eq!(number("n-items"), "6");
    assert_eq!(number("n-refusals"), "1");
    assert_eq!(number("n-redactions"), "1");
    assert_eq!(number("n-acknowledged"), "3");
    assert_eq!(number("n-pending"), "1");
    let svg = scraper::Selector::parse("figure.chart svg").unwrap();
    assert_eq!(doc.select(&svg).count(), 2, "two inline SVG charts");
    // Compact lines: one table row per disclosure, items summarised by type and TLP, the erased
    // item marked on its line, TLP levels in their order.
    let rows = scraper::Selector::parse("table.lines > tbody > tr").unwrap();
    assert_eq!(doc.select(&rows).count(), 4, "one row per disclosure");
    let line_a = scraper::Selector::parse(&format!("#line-{}", a.index)).unwrap();
    let line_a = doc.select(&line_a).next().expect("a's line").html();
    assert!(
        line_a.contains("1 × indicator") && line_a.contains("erased: indicator AMBER"),
        "{line_a}"
    );
    let tlp_head = scraper::Selector::parse("#disclosures table thead th.num").unwrap();
    let heads: Vec<String> = doc
        .select(&tlp_head)
        .map(|h| h.text().collect())
        .filter(|t: &String| t.starts_with("TLP:"))
        .collect();
    assert_eq!(
        heads,
        [
            "TLP:CLEAR",
            "TLP:GREEN",
            "TLP:AMBER",
            "TLP:AMBER+STRICT",
            "TLP:RED"
        ]
    );
    // The timeline is the period's weeks, every one, and its title counts items.
    let caption = scraper::Selector::parse("#chart-over-time figcaption").unwrap();
    let caption: String = doc.select(&caption).next().unwrap().text().collect();
    assert!(caption.contains("Bars count items"), "{caption}");
    let refusal_legend: String = doc
        .select(&scraper::Selector::parse("#charts .legend").unwrap())
        .map(|l| l.text().collect::<String>())
        .collect();
    assert!(
        refusal_legend.contains("refused submissions") && refusal_legend.contains("findings"),
        "{refusal_legend}"
    );
    look_in_a_browser(&out.join("report.html"), &out.join("report.pdf"));
    assert!(
        !html.contains("<link") && !html.contains("<script"),
        "self-contained"
    );

    let csv_text = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4, "one row per disclosure");
    assert_eq!(&rows[0][0], a.index.to_string());

    let file = out.join("report.json");
    let o = cli(&["report", "verify", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verified: 4 disclosure line(s)"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    v["summary"]["refusals"] = 0.into();
    std::fs::write(&file, v.to_string()).unwrap();
    let o = cli(&["report", "verify", file.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("summary.refusals: the report says 0, the entries give 1"),
        "{err}"
    );

    s.stop().await;
}

/// What a person sees: the HTML laid out by a real headless Chromium at about the printed
/// page's width, with a probe that measures what overflows; a screenshot; and the page
/// printed to PDF, both by Chromium and by `borderlog report --format pdf`'s code. Without a
/// Chromium on PATH this says SKIPPED, loudly (CI installs one).
fn look_in_a_browser(html: &Path, pdf: &Path) {
    use borderlog::report::pdf::{Chromium, file_url};
    let Some(chromium) = Chromium::find() else {
        eprintln!(
            "\n*** SKIPPED: no chromium on PATH; the HTML report was not rendered in a browser. \
             Install it (apt-get install chromium) to run this check. ***\n"
        );
        return;
    };
    let dir = html.parent().unwrap();
    let profile = tempfile::tempdir().unwrap();
    // A4 is 210 mm wide; less the report's 14 mm margins, 182 mm = 688 CSS px. The probe marks
    // the body with how far the page and its widest element reach past the viewport.
    let page = std::fs::read_to_string(html).unwrap();
    let probe = r#"<script>
addEventListener('load', () => {
  const w = document.documentElement.clientWidth;
  let worst = 0, what = '';
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right - w > worst) { worst = r.right - w; what = e.tagName + '.' + e.className; }
  }
  document.body.dataset.overflow = String(Math.max(worst, document.documentElement.scrollWidth - w));
  document.body.dataset.widest = what;
  document.body.dataset.svgs = String(document.querySelectorAll('figure.chart svg rect').length);
});
</script></body>"#;
    let probed = dir.join("probed.html");
    std::fs::write(&probed, page.replace("</body>", probe)).unwrap();
    let out = chromium
        .finished(
            chromium
                .command(profile.path())
                .args(["--window-size=688,1200", "--dump-dom"])
                .arg(file_url(&probed).unwrap())
                .output(),
        )
        .unwrap();
    let dom = scraper::Html::parse_document(&String::from_utf8_lossy(&out.stdout));
    let body = dom
        .select(&scraper::Selector::parse("body").unwrap())
        .next()
        .unwrap();
    let attr = |a: &str| body.value().attr(a).unwrap_or_default().to_owned();
    assert_eq!(
        attr("data-overflow"),
        "0",
        "something is wider than the printed page: {}",
        attr("data-widest")
    );
    assert!(
        attr("data-svgs").parse::<u32>().unwrap() > 4,
        "the charts have bars after layout"
    );
    for sel in [
        "#chart-over-time svg",
        "#chart-refusals svg",
        "table.lines tbody tr",
    ] {
        let s = scraper::Selector::parse(sel).unwrap();
        assert!(dom.select(&s).next().is_some(), "{sel} after layout");
    }

    let png = dir.join("report.png");
    chromium
        .finished(
            chromium
                .command(profile.path())
                .args(["--window-size=1000,1800"])
                .arg(format!("--screenshot={}", png.display()))
                .arg(file_url(html).unwrap())
                .output(),
        )
        .unwrap();
    let shot = std::fs::read(&png).unwrap();
    assert!(
        shot.starts_with(b"\x89PNG\r\n\x1a\n") && shot.len() > 20_000,
        "a screenshot"
    );

    chromium.print_to_pdf(html, pdf).unwrap();
    let printed = std::fs::read(pdf).unwrap();
    assert!(
        printed.starts_with(b"%PDF-") && printed.len() > 10_000,
        "a PDF of the report"
    );
}

both_backends!(csv_and_markdown_reports_are_safe_to_open);
/// A disclosure whose free text is hostile to spreadsheets and Markdown viewers: the CSV cells
/// are text, not formulas, and the Markdown carries no HTML and no link.
async fn csv_and_markdown_reports_are_safe_to_open(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), backend).await;
    let key = load_signing_key(&s.keys, SENDER).unwrap();
    let mut h = header();
    h.purpose = "=HYPERLINK(\"http://evil.example/\",\"open\")".into();
    h.legal_basis = "<img src=x onerror=alert(1)> [terms](javascript:alert(1))".into();
    h.case_reference = "@SUM(1+1)".into();
    let request = client::prepare_submission(&key, &h, vec![item(1, false)], now_ms()).unwrap();
    s.client(SENDER)
        .await
        .submit(request)
        .await
        .expect("submit");

    let bin = env!("CARGO_BIN_EXE_borderlog");
    let cli = |format: &str| {
        let o = Command::new(bin)
            .args(["report", "--format", format, "--addr", &s.addr])
            .args(["--keys", s.keys.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let csv_text = cli("csv");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
    assert_eq!(cell("purpose"), format!("'{}", h.purpose));
    assert_eq!(cell("case_reference"), "'@SUM(1+1)");
    for c in row.iter() {
        assert!(!c.starts_with(['=', '+', '-', '@', '\t', '\r']), "{c:?}");
    }

    let md = cli("md");
    assert!(md.contains("legal basis"), "{md}");
    assert!(!md.contains("<img") && !md.contains("](javascript"), "{md}");
    assert!(
        md.contains("&lt;img src=x onerror=alert\\(1\\)&gt;"),
        "{md}"
    );
    s.stop().await;
}
