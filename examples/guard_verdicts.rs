//! Prints every guard verdict over the repository's corpora, one line each, so that a change to
//! the guard's internals can be checked to keep every verdict byte for byte (issue 14):
//!
//! ```sh
//! cargo run --example guard_verdicts > before.txt   # on the old code
//! cargo run --example guard_verdicts > after.txt    # on the new code
//! cmp before.txt after.txt
//! ```
//!
//! Screened: the measured corpus, the labelled cases and the OASIS bundles, the benchmark's
//! items; under the measured format-2 policy, the frozen format-1 policy, the format-2 default
//! with the synthetic 10,000-entry register, the same with every type's identifiers recorded as
//! actor-owned, and the format-1 default. Every string found in those items is screened again
//! as a victim-side and a threat-side description and as disclosure-body text, with a
//! deterministic set of generated digit-heavy strings (the personal-identifier detectors'
//! candidates and near misses).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use borderlog::guard::{self, Context, Policy, Tlp, bench, measure, unwrap_bundle};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// Deterministic strings around the personal-identifier detectors: digit groups of random
/// lengths, separators, prefixes (`+`, `00`, `0`), keywords and letters, from a fixed LCG.
fn generated(n: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        " ",
        " ",
        " ",
        "-",
        ".",
        "/",
        "(",
        ")",
        "+",
        "00",
        "0",
        "SSN ",
        "ssn: ",
        "tel ",
        "Tel. ",
        "IBAN ",
        "DE",
        "GB",
        "FR",
        "NL",
        "PL",
        "ES",
        "IT",
        "X",
        "Y",
        "Z",
        "AB",
        "A",
        "B",
        "2A",
        "RSSMRA",
        "L",
        "M",
        "T",
        "card ",
        "the ",
        "victim ",
        "+49 ",
        "+44 ",
        "+1-",
        "0151 ",
        "06 ",
        "https://",
        "acme-bank.example",
        "@",
        ":",
        "10.",
        "\\\\",
        "C:\\Users\\",
        "é",
        "Müller ",
        "Nordwind ",
        "United Bank ",
        "First Insurance ",
        "S.A. ",
        "GmbH ",
    ];
    let mut lcg = bench::Lcg::new(0x2545_f491_4f6c_dd1d);
    let mut next = |m: usize| lcg.below(m);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = String::new();
        for _ in 0..1 + next(12) {
            if next(2) == 0 {
                for _ in 0..1 + next(12) {
                    s.push(char::from(b'0' + next(10) as u8));
                }
            } else {
                s.push_str(PIECES[next(PIECES.len())]);
            }
        }
        out.push(s);
    }
    out
}

fn item(t: &str, prop: &str, s: &str) -> Vec<u8> {
    let mut o = serde_json::json!({
        "type": t,
        "spec_version": "2.1",
        "id": format!("{t}--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "object_marking_refs": [Tlp::Green.marking_id()],
        "name": "x",
        "labels": ["a", "b"],
    });
    o[prop] = serde_json::Value::String(s.to_owned());
    serde_json::to_vec(&o).expect("encodes")
}

fn main() {
    let c = corpus();
    // Items, each with a label.
    let mut items: Vec<(String, Vec<u8>)> = Vec::new();
    let measured = std::fs::read_to_string(c.join("measured/cases.jsonl")).expect("cases");
    for (i, case) in measure::parse_cases(&measured)
        .expect("cases parse")
        .into_iter()
        .enumerate()
    {
        items.push((format!("measured:{i}"), case.item));
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["cases", "oasis"] {
        let mut stack = vec![c.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    for f in &files {
        let bytes = read(f);
        let name = f.strip_prefix(&c).unwrap_or(f).display().to_string();
        match unwrap_bundle(&bytes) {
            Ok(objs) => {
                for (i, o) in objs.into_iter().enumerate() {
                    items.push((format!("{name}:{i}"), o.clone()));
                    items.push((format!("{name}:{i}:green"), bench::mark(&o, Tlp::Green)));
                }
            }
            Err(_) => items.push((name, bytes)),
        }
    }
    for (i, it) in bench::sample_items().into_iter().enumerate() {
        items.push((format!("bench:{i}"), it));
    }
    // Every string of every item, and the generated ones, as text in three places.
    let mut texts: Vec<String> = Vec::new();
    for (_, it) in &items {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(it) {
            strings(&v, &mut texts);
        }
    }
    texts.extend(generated(20_000));
    texts.sort();
    texts.dedup();
    let mut text_items: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, s) in texts.iter().enumerate() {
        text_items.push((format!("text:{i}:report"), item("report", "description", s)));
        text_items.push((
            format!("text:{i}:malware"),
            item("malware", "description", s),
        ));
        text_items.push((format!("text:{i}:name"), item("threat-actor", "name", s)));
    }

    // Policies.
    let spec = measure::Spec::parse(
        &std::fs::read_to_string(c.join("measured/corpus.toml")).expect("corpus.toml"),
    )
    .expect("spec");
    let m_text = read(&c.join("measured").join(&spec.policy));
    let measured_policy =
        Policy::parse_keyed(&m_text, spec.register_key.as_bytes()).expect("measured policy");
    let f1_text = read(&c.join("policy-format-1.toml"));
    let f1 = Policy::parse_keyed(&f1_text, b"borderlog-test-register-key-2026").expect("format 1");
    let f1_default = Policy::parse(&read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/format-1.toml"),
    ))
    .expect("format-1 default");
    let synthetic = bench::synthetic_register(10_000).expect("synthetic");
    let frag = guard::build_register(
        bench::SYNTHETIC_KEY,
        "bench",
        &bench::synthetic_customers(10_000),
    )
    .expect("register");
    let owned_text = guard::DEFAULT_POLICY
        .replace(
            "actor_owned_types = []",
            "actor_owned_types = [\"threat-actor\", \"malware\", \"report\", \"identity\", \"note\"]",
        )
        .replace(
            "actor_owned_labels = []",
            "actor_owned_labels = [\"actor-owned-identifiers\"]",
        );
    let owned_text = guard::customer::with_register(&owned_text, &frag);
    let owned = Policy::parse_keyed(owned_text.as_bytes(), bench::SYNTHETIC_KEY).expect("owned");
    let policies: [(&str, &Policy); 5] = [
        ("measured", &measured_policy),
        ("format1", &f1),
        ("format1-default", &f1_default),
        ("synthetic", &synthetic),
        ("owned", &owned),
    ];
    let research = Context {
        sender: "vendor-research",
        recipient: "partner-cert",
        purpose: "threat research exchange",
        legal_basis: "",
    };
    let contexts: [(&str, Context); 2] = [("inv", spec.context()), ("research", research)];

    let mut line = String::new();
    for (pn, p) in policies {
        for (cn, ctx) in &contexts {
            for (label, it) in items.iter().chain(&text_items) {
                line.clear();
                let _ = write!(line, "{pn}\t{cn}\t{label}\t{:?}", p.screen(ctx, it));
                println!("{line}");
            }
        }
        for (i, s) in texts.iter().enumerate() {
            let ctx = Context {
                sender: "vendor-research",
                recipient: "police-network",
                purpose: s,
                legal_basis: "agreement",
            };
            println!(
                "{pn}\tbody\ttext:{i}\t{:?}\t{:?}",
                p.screen_body(&ctx, s),
                p.screen_body(&contexts[0].1, s)
            );
        }
    }
}
