//! The guard's labelled corpora.
//!
//! - tests/corpus/expected.toml: every object's exact expected verdict under the last format-1
//!   policy (`policy/format-1.toml` with the register of tests/corpus/customers.csv, frozen in
//!   tests/corpus/policy-format-1.toml). These verdicts must never change: entries screened
//!   under a format-1 policy are replayed under it, byte for byte.
//! - tests/corpus/measured/: the measured corpus under the format-2 default allowing every type;
//!   per-class recall and precision thresholds (the numbers in the README).
//! - Replay determinism, and that no finding ever carries the offending value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use borderlog::guard::{
    self, Context, DEFAULT_POLICY, GuardError, Policy, Tlp, Verdict, bench, build_register,
    measure, replay, replay_keyed, unwrap_bundle,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    register_key: String,
    register_key_id: String,
    contexts: BTreeMap<String, Ctx>,
    file: Vec<FileExp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ctx {
    sender: String,
    recipient: String,
    purpose: String,
    legal_basis: String,
}

impl Ctx {
    fn get(&self) -> Context<'_> {
        Context {
            sender: &self.sender,
            recipient: &self.recipient,
            purpose: &self.purpose,
            legal_basis: &self.legal_basis,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileExp {
    path: String,
    mark: Option<String>,
    context: String,
    #[serde(default)]
    raw: bool,
    #[serde(default)]
    customer_cases: bool,
    object: Vec<ObjExp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjExp {
    id: String,
    context: Option<String>,
    #[serde(default)]
    accept: bool,
    #[serde(default)]
    refuse: Vec<String>,
    reason: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(corpus().join("expected.toml")).expect("expected.toml");
    toml::from_str(&text).expect("expected.toml parses")
}

/// The last format-1 default policy, byte for byte as it was published.
const FORMAT_1_POLICY: &str = include_str!("../policy/format-1.toml");

/// The frozen format-1 test policy: the format-1 default with the register of customers.csv as
/// the format-1 tooling built it.
fn test_policy_text(_e: &Expected) -> String {
    std::fs::read_to_string(corpus().join("policy-format-1.toml")).expect("policy-format-1.toml")
}

/// One screened object: its id, bytes, expectation and context name.
struct Case<'e> {
    file: &'e FileExp,
    exp: &'e ObjExp,
    item: Vec<u8>,
}

fn cases(e: &Expected) -> Vec<Case<'_>> {
    let mut out = Vec::new();
    for f in &e.file {
        let bytes = std::fs::read(corpus().join(&f.path)).expect("corpus file");
        let items: Vec<Vec<u8>> = if f.raw {
            vec![bytes]
        } else {
            let b = unwrap_bundle(&bytes).unwrap_or_else(|_| vec![bytes.clone()]);
            b.into_iter()
                .map(|it| match f.mark.as_deref() {
                    Some(t) => bench::mark(&it, t.parse::<Tlp>().expect("tlp name")),
                    None => it,
                })
                .collect()
        };
        let mut by_id: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for it in items {
            let id = if f.raw {
                "-".to_owned()
            } else {
                let v: serde_json::Value = serde_json::from_slice(&it).expect("object");
                v["id"].as_str().expect("id").to_owned()
            };
            assert!(
                by_id.insert(id.clone(), it).is_none(),
                "{}: duplicate object {id}",
                f.path
            );
        }
        let listed: BTreeSet<&str> = f.object.iter().map(|o| o.id.as_str()).collect();
        let present: BTreeSet<&str> = by_id.keys().map(String::as_str).collect();
        assert_eq!(
            listed, present,
            "{}: expected.toml must list every object, and only those",
            f.path
        );
        for exp in &f.object {
            out.push(Case {
                file: f,
                exp,
                item: by_id[&exp.id].clone(),
            });
        }
    }
    out
}

fn rules_of(v: &Verdict) -> BTreeSet<String> {
    v.findings().iter().map(|f| f.rule.to_owned()).collect()
}

#[test]
fn the_format_1_test_policy_is_frozen_and_todays_register_keeps_its_digests() {
    let e = expected();
    let have = test_policy_text(&e);
    let (head, register) = have.split_at(have.find("[customers]").expect("register"));
    let (default_head, _) = FORMAT_1_POLICY.split_at(FORMAT_1_POLICY.find("[customers]").unwrap());
    assert_eq!(
        head, default_head,
        "the frozen policy is the format-1 default"
    );
    let p = Policy::parse(have.as_bytes()).expect("format-1 policy");
    assert_eq!(p.format(), 1);
    assert_eq!(
        Policy::parse(FORMAT_1_POLICY.as_bytes()).unwrap().format(),
        1
    );
    // A register built today from the same list still holds every format-1 digest line.
    let csv = std::fs::read_to_string(corpus().join("customers.csv")).expect("customers.csv");
    let today = build_register(e.register_key.as_bytes(), &e.register_key_id, &csv).unwrap();
    for line in register.lines().filter(|l| l.starts_with("  \"")) {
        assert!(today.contains(line), "a format-1 digest is no longer built");
    }
    // The register holds no customer value in clear (account formats excepted, by design).
    for v in [
        "acme-bank",
        "globex",
        "bücherhaus",
        "xn--bcherhaus",
        "initech",
        "j.doe",
        "203.0.113.0/24\"",
        "2001:db8:acce",
        "Acme Bank",
    ] {
        assert!(
            !have.to_lowercase().contains(&v.to_lowercase()),
            "policy.toml reveals a customer value"
        );
    }
}

#[test]
fn every_expected_verdict_holds() {
    let e = expected();
    let keyed = Policy::parse_keyed(test_policy_text(&e).as_bytes(), e.register_key.as_bytes())
        .expect("test policy");
    let default = Policy::parse(FORMAT_1_POLICY.as_bytes()).expect("format-1 default policy");
    let all = cases(&e);
    let (mut accepted, mut refused, mut oasis) = (0usize, 0usize, 0usize);
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in &all {
        let ctx_name = c.exp.context.as_deref().unwrap_or(&c.file.context);
        let ctx = e.contexts.get(ctx_name).expect("context").get();
        let v = keyed.screen(&ctx, &c.item);
        let got = rules_of(&v);
        let want: BTreeSet<String> = c.exp.refuse.iter().cloned().collect();
        assert!(
            c.exp.accept == want.is_empty(),
            "{} {}: exactly one of accept / refuse",
            c.file.path,
            c.exp.id
        );
        if !want.is_empty() {
            assert!(
                c.exp.reason.as_deref().is_some_and(|r| !r.is_empty()),
                "{} {}: a refusal needs a reason",
                c.file.path,
                c.exp.id
            );
        }
        if v.is_accepted() != c.exp.accept || got != want {
            failures.push(format!(
                "{} {}: want {:?}, got {:?}",
                c.file.path,
                c.exp.id,
                want,
                v.findings()
            ));
        }
        if !c.file.customer_cases {
            oasis += 1;
            assert_eq!(
                default.screen(&ctx, &c.item),
                v,
                "{} {}: default and test policy disagree",
                c.file.path,
                c.exp.id
            );
        }
        if v.is_accepted() {
            accepted += 1;
        } else {
            refused += 1;
            for r in got {
                *by_rule.entry(r).or_default() += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} verdicts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "corpus: {} objects ({} OASIS), {} accepted, {} refused; refusals by rule: {:?}",
        all.len(),
        oasis,
        accepted,
        refused,
        by_rule
    );
    // An empty or truncated corpus must fail.
    assert!(oasis >= 260, "OASIS corpus too small: {oasis}");
    assert!(all.len() >= 330, "corpus too small: {}", all.len());
    assert!(refused >= 70 && accepted >= 250);
}

#[test]
fn replay_is_deterministic() {
    let e = expected();
    let text = test_policy_text(&e);
    let keyed = Policy::parse_keyed(text.as_bytes(), e.register_key.as_bytes()).expect("policy");
    for c in cases(&e) {
        let ctx = e.contexts[c.exp.context.as_deref().unwrap_or(&c.file.context)].get();
        let a = keyed.screen(&ctx, &c.item);
        let b = keyed.screen(&ctx, &c.item);
        let r = replay_keyed(text.as_bytes(), e.register_key.as_bytes(), &ctx, &c.item)
            .expect("replay");
        assert_eq!(a, b);
        assert_eq!(a, r);
        let mut sorted = a.findings().to_vec();
        sorted.sort_by(|x, y| (&x.path, x.rule).cmp(&(&y.path, y.rule)));
        assert_eq!(sorted, a.findings(), "findings are sorted by (path, rule)");
        if !c.file.customer_cases {
            assert_eq!(
                replay(FORMAT_1_POLICY.as_bytes(), &ctx, &c.item).expect("replay"),
                a
            );
        }
    }
}

#[test]
fn findings_never_carry_the_offending_value() {
    let e = expected();
    let keyed = Policy::parse_keyed(test_policy_text(&e).as_bytes(), e.register_key.as_bytes())
        .expect("policy");
    let mut checked = 0;
    for c in cases(&e) {
        let ctx = e.contexts[c.exp.context.as_deref().unwrap_or(&c.file.context)].get();
        let v = keyed.screen(&ctx, &c.item);
        for value in &c.exp.values {
            let value = value.to_lowercase();
            for f in v.findings() {
                for text in [&f.path, f.rule, &f.hint, &f.to_string()] {
                    assert!(
                        !text.to_lowercase().contains(&value),
                        "{} {}: finding {f} carries {value}",
                        c.file.path,
                        c.exp.id
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "too few offending values checked: {checked}");
}

#[test]
fn a_register_without_its_key_fails_closed() {
    let e = expected();
    let text = test_policy_text(&e);
    let ctx = e.contexts["investigation"].get();
    let item = bench::sample_items().into_iter().next().expect("item");
    assert_eq!(
        replay(text.as_bytes(), &ctx, &item),
        Err(GuardError::RegisterKeyRequired(e.register_key_id.clone()))
    );
    let unkeyed = Policy::parse(text.as_bytes()).expect("policy");
    assert!(unkeyed.register_needs_key());
    assert!(rules_of(&unkeyed.screen(&ctx, &item)).contains("customer.key/1"));
    assert!(matches!(
        Policy::parse_keyed(text.as_bytes(), b"not-the-owner-key-at-all"),
        Err(GuardError::RegisterKeyMismatch(_))
    ));
}

#[test]
fn policy_hash_is_sha256_of_the_bytes_and_policy_is_strict() {
    use sha2::Digest;
    let p = Policy::parse(DEFAULT_POLICY.as_bytes()).expect("default");
    let h: [u8; 32] = sha2::Sha256::digest(DEFAULT_POLICY.as_bytes()).into();
    assert_eq!(p.hash(), h);
    assert_eq!(p.owner(), "vendor-research");
    assert!(!p.version().is_empty());
    let typo = DEFAULT_POLICY.replace("[limits]", "[limits]\nmax_itme_bytes = 1");
    assert!(matches!(
        Policy::parse(typo.as_bytes()),
        Err(GuardError::PolicySyntax(_))
    ));
    assert!(Policy::parse(b"\xff").is_err());
}

#[test]
fn unwrap_bundle_drops_referenced_markings_only() {
    let b = br#"{"type":"bundle","id":"bundle--44af6c39-c09b-49c5-9de2-394224b04982","objects":[
      {"type":"marking-definition","id":"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"},
      {"type":"marking-definition","id":"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"},
      {"type":"campaign","id":"campaign--b549a58c-afd9-4847-85c3-5be13d56d3cc","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}]}"#;
    let items = unwrap_bundle(b).expect("bundle");
    assert_eq!(items.len(), 2);
    assert!(unwrap_bundle(br#"{"type":"indicator"}"#).is_err());
    assert!(unwrap_bundle(b"nope").is_err());
}

/// Arbitrary bytes never panic the guard (a cheap deterministic fuzz; cargo-fuzz comes later).
#[test]
fn mutated_items_never_panic() {
    let e = expected();
    let keyed = Policy::parse_keyed(test_policy_text(&e).as_bytes(), e.register_key.as_bytes())
        .expect("policy");
    let ctx = e.contexts["investigation"].get();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base: Vec<Vec<u8>> = cases(&e).into_iter().map(|c| c.item).collect();
    let alphabet = b"{}[]\":,\\.@%0123456789abcxX:/ \x00\xff\xc3\xa9";
    for i in 0..4000 {
        let mut it = base[i % base.len()].clone();
        for _ in 0..(1 + next() % 4) {
            if it.is_empty() {
                break;
            }
            let pos = (next() as usize) % it.len();
            match next() % 3 {
                0 => it[pos] = alphabet[(next() as usize) % alphabet.len()],
                1 => it.truncate(pos),
                _ => it.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let _ = keyed.screen(&ctx, &it);
        let _ = guard::unwrap_bundle(&it);
    }
}

// ------------------------------------------------------------------ format 2: the measured corpus

fn measured() -> PathBuf {
    corpus().join("measured")
}

fn measured_spec() -> measure::Spec {
    measure::Spec::parse(&std::fs::read_to_string(measured().join("corpus.toml")).unwrap())
        .expect("corpus.toml")
}

/// policy-base.toml (the default, allowing every type) with the register of customers.csv.
fn measured_policy_text(spec: &measure::Spec) -> String {
    let base = std::fs::read_to_string(measured().join("policy-base.toml")).expect("base");
    let csv = std::fs::read_to_string(measured().join("customers.csv")).expect("customers.csv");
    let frag = build_register(spec.register_key.as_bytes(), "measured", &csv).expect("register");
    guard::customer::with_register(&base, &frag)
}

fn measured_policy() -> Policy {
    let spec = measured_spec();
    Policy::parse_keyed(
        measured_policy_text(&spec).as_bytes(),
        spec.register_key.as_bytes(),
    )
    .expect("measured policy")
}

#[test]
fn the_measured_policy_is_the_default_allowing_every_type_plus_the_register() {
    let spec = measured_spec();
    let want = measured_policy_text(&spec);
    let path = measured().join(&spec.policy);
    if std::env::var_os("BORDERLOG_REGEN").is_some() {
        std::fs::write(&path, &want).expect("write policy.toml");
    }
    let have = std::fs::read_to_string(&path).expect("measured/policy.toml (BORDERLOG_REGEN=1)");
    assert_eq!(
        have, want,
        "measured/policy.toml is stale: BORDERLOG_REGEN=1"
    );
    // The base differs from the shipped default only in its allow-list of types.
    let base: toml::Table =
        toml::from_str(&std::fs::read_to_string(measured().join("policy-base.toml")).unwrap())
            .unwrap();
    let default: toml::Table = toml::from_str(DEFAULT_POLICY).unwrap();
    let strip = |mut t: toml::Table| {
        t["allow"].as_table_mut().unwrap().remove("types");
        t
    };
    assert_eq!(strip(base.clone()), strip(default));
    let types = base["allow"]["types"].as_table().unwrap();
    assert!(
        types.len() >= 37,
        "every STIX 2.1 type is allowed: {}",
        types.len()
    );
    let p = measured_policy();
    assert_eq!(p.format(), 2);
    for v in ["Acme Bank", "Müller", "mueller", "acme-bank"] {
        assert!(
            !have.to_lowercase().contains(&v.to_lowercase()),
            "register reveals a name"
        );
    }
}

/// The thresholds the README reports, per class: (recall, precision), each at least.
const THRESHOLDS: &[(measure::Class, f64, f64)] = &[
    (measure::Class::CustomerName, 0.99, 0.99),
    (measure::Class::Card, 0.99, 0.99),
    (measure::Class::Iban, 0.99, 0.99),
    (measure::Class::NationalId, 0.99, 0.99),
    (measure::Class::Phone, 0.98, 0.99),
];

#[test]
fn the_measured_corpus_meets_its_recall_and_precision() {
    let spec = measured_spec();
    let cases = measure::parse_cases(
        &std::fs::read_to_string(measured().join("cases.jsonl")).expect("cases.jsonl"),
    )
    .expect("cases");
    let table = measure::measure(&measured_policy(), &spec.context(), &cases);
    eprintln!("{table}");
    for &(class, recall, precision) in THRESHOLDS {
        let n = table.classes[&class];
        assert!(n.tp + n.fn_ >= 200, "{class:?}: too few cases");
        assert!(n.recall() >= recall, "{class:?} recall {:.3}", n.recall());
        assert!(
            n.precision() >= precision,
            "{class:?} precision {:.3}",
            n.precision()
        );
        for lang in ["en", "de", "fr", "es"] {
            let (caught, of) = table.by_lang[&(class, lang.to_owned())];
            assert!(of >= 40, "{class:?} {lang}: too few cases");
            assert!(
                caught as f64 / of as f64 >= recall - 0.05,
                "{class:?} {lang}: {caught} of {of}"
            );
        }
    }
    assert!(table.negatives >= 400, "too few negatives");
    assert!(
        table.negatives_refused * 100 <= table.negatives,
        "false refusals: {} of {}",
        table.negatives_refused,
        table.negatives
    );
}

#[test]
fn every_type_holds_caught_cases_of_every_class() {
    let spec = measured_spec();
    let policy = measured_policy();
    let ctx = spec.context();
    let text = std::fs::read_to_string(measured().join("cases.jsonl")).unwrap();
    let mut caught: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (line, case) in text.lines().zip(measure::parse_cases(&text).unwrap()) {
        let Some(class) = case.class else { continue };
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["item"]["type"].as_str().unwrap().to_owned();
        let hit = policy
            .screen(&ctx, &case.item)
            .findings()
            .iter()
            .any(|f| measure::Class::of_rule(f.rule) == Some(class));
        *caught.entry((t, class.as_str())).or_default() += usize::from(hit);
    }
    let types: BTreeSet<&String> = caught.keys().map(|(t, _)| t).collect();
    assert!(
        types.len() >= 30,
        "cases span the STIX types: {}",
        types.len()
    );
    for t in types {
        for c in measure::Class::ALL {
            assert!(
                caught.get(&(t.clone(), c.as_str())).copied().unwrap_or(0) > 0,
                "no {} case caught in a {t}",
                c.as_str()
            );
        }
    }
}

#[test]
fn the_oasis_bundles_keep_their_verdicts_under_the_format_2_default() {
    let e = expected();
    let policy = Policy::parse(DEFAULT_POLICY.as_bytes()).expect("default");
    assert_eq!(policy.format(), 2);
    let (mut n, mut refused) = (0, Vec::new());
    for c in cases(&e).iter().filter(|c| !c.file.customer_cases) {
        let ctx = e.contexts[c.exp.context.as_deref().unwrap_or(&c.file.context)].get();
        let v = policy.screen(&ctx, &c.item);
        let want: BTreeSet<String> = c.exp.refuse.iter().cloned().collect();
        assert_eq!(rules_of(&v), want, "{} {}", c.file.path, c.exp.id);
        if !v.is_accepted() {
            refused.push(c.exp.reason.clone().unwrap_or_default());
        }
        n += 1;
    }
    assert_eq!(n, 260);
    assert_eq!(refused.len(), 4, "{refused:?}");
}

/// `borderlog policy test CORPUS` prints the same table the library measures.
#[test]
fn the_policy_test_command_prints_the_measured_table() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["policy", "test"])
        .arg(measured())
        .arg("--json")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let spec = measured_spec();
    let cases =
        measure::parse_cases(&std::fs::read_to_string(measured().join("cases.jsonl")).unwrap())
            .unwrap();
    let table = measure::measure(&measured_policy(), &spec.context(), &cases);
    assert_eq!(v["cases"], cases.len());
    assert_eq!(v["negatives_refused"], table.negatives_refused);
    for c in v["classes"].as_array().unwrap() {
        let class = measure::Class::ALL
            .into_iter()
            .find(|k| k.as_str() == c["class"])
            .expect("a class");
        let n = table.classes[&class];
        assert_eq!(
            (c["tp"].as_u64(), c["fp"].as_u64()),
            (Some(n.tp as u64), Some(n.fp as u64))
        );
    }
}
