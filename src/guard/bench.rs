//! Throughput measurement for `borderlog bench --guard`: MB/s of STIX JSON screened per core,
//! with a synthetic customer register of a chosen size. The only guard module that reads the
//! clock; screening itself never does.

use std::fmt::Write as _;
use std::time::Instant;

use super::{Context, DEFAULT_POLICY, GuardError, Policy, Tlp, build_register, unwrap_bundle};

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Bytes of item JSON screened.
    pub bytes: u64,
    /// Items screened.
    pub items: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Megabytes (10^6 bytes) per second, on the calling thread (one core).
    pub mb_per_s: f64,
}

/// Deterministic pseudo-random numbers (Knuth's MMIX linear congruential generator) for the
/// generated inputs of the guard's tests and `examples/guard_verdicts.rs`: the same seed gives
/// the same strings on every machine and run. Never for anything secret.
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    /// The next number below `m` (from the state's high bits, the well-mixed ones).
    pub fn below(&mut self, m: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize % m
    }
}

/// The key the synthetic register is built under (benchmarks only; never a real key).
pub const SYNTHETIC_KEY: &[u8] = b"borderlog-bench-register-key-not-secret";

/// The context the benchmark screens under.
pub const BENCH_CONTEXT: Context<'static> = Context {
    sender: "vendor-research",
    recipient: "police-network",
    purpose: "cybercrime investigation support",
    legal_basis: "data sharing agreement (benchmark)",
};

/// Screens `items` `rounds` times on this thread and reports the rate.
pub fn measure(policy: &Policy, items: &[Vec<u8>], rounds: usize) -> Throughput {
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut n = 0u64;
    let mut accepted = 0u64;
    for _ in 0..rounds {
        for it in items {
            if policy.screen(&BENCH_CONTEXT, it).is_accepted() {
                accepted += 1;
            }
            bytes += it.len() as u64;
            n += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    std::hint::black_box(accepted);
    Throughput {
        bytes,
        items: n,
        seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
    }
}

/// The customer list behind [`synthetic_register`]: `n` entries, a mix of domains, e-mail
/// addresses, names and networks, all under `.example` / documentation-free private test space.
pub fn synthetic_customers(n: usize) -> String {
    let mut csv = String::from("kind,value\n");
    for i in 0..n {
        let _ = match i % 4 {
            0 => writeln!(csv, "domain,customer-{i}.example"),
            1 => writeln!(csv, "email,security-{i}@customer-{i}.example"),
            2 => writeln!(csv, "name,{}", synthetic_name(i / 4)),
            _ => {
                let (a, b) = ((i / 256) % 256, i % 256);
                if i % 8 == 3 {
                    writeln!(csv, "cidr,100.{a}.{b}.0/24")
                } else {
                    writeln!(csv, "cidr,2001:db8:{a:x}{b:02x}::/48")
                }
            }
        };
    }
    csv
}

/// A company name of two or three words and a legal form, distinct per `i` below 62,500:
/// first words common in English prose ("First", "United", "National", "Global", ...), so the
/// name-in-text prefilter is hit as often as a real register's would be.
pub fn synthetic_name(i: usize) -> String {
    const FIRST: [&str; 25] = [
        "First",
        "United",
        "National",
        "Global",
        "Central",
        "Royal",
        "Northern",
        "Southern",
        "Eastern",
        "Western",
        "Atlantic",
        "Pacific",
        "Alpine",
        "Rhein",
        "Nordwind",
        "Süd",
        "Crédit",
        "Banco",
        "Société",
        "Allied",
        "Premier",
        "Capital",
        "Metro",
        "Union",
        "Grand",
    ];
    const SECOND: [&str; 50] = [
        "Bank",
        "Insurance",
        "Logistics",
        "Energy",
        "Telecom",
        "Health",
        "Retail",
        "Foods",
        "Steel",
        "Chemicals",
        "Airlines",
        "Shipping",
        "Motors",
        "Pharma",
        "Media",
        "Software",
        "Systems",
        "Networks",
        "Holdings",
        "Partners",
        "Trust",
        "Savings",
        "Credit",
        "Finance",
        "Mutual",
        "Versicherung",
        "Logistik",
        "Stadtwerke",
        "Kliniken",
        "Immobilien",
        "Assurances",
        "Transports",
        "Hôpitaux",
        "Énergie",
        "Seguros",
        "Aceros",
        "Clínicas",
        "Hoteles",
        "Water",
        "Power",
        "Rail",
        "Freight",
        "Textiles",
        "Paper",
        "Glass",
        "Cement",
        "Dairy",
        "Grain",
        "Tools",
        "Plastics",
    ];
    const FORM: [&str; 5] = ["GmbH", "AG", "Inc.", "S.A.", "plc"];
    let (a, b, c) = (i % 25, (i / 25) % 50, i / 1250);
    if c == 0 {
        format!("{} {} {}", FIRST[a], SECOND[b], FORM[i % 5])
    } else {
        format!("{} {} {c} {}", FIRST[a], SECOND[b], FORM[i % 5])
    }
}

/// The default policy with an `n`-entry synthetic customer register, key loaded.
pub fn synthetic_register(n: usize) -> Result<Policy, GuardError> {
    let frag = build_register(SYNTHETIC_KEY, "bench", &synthetic_customers(n))?;
    let text = super::customer::with_register(DEFAULT_POLICY, &frag);
    Policy::parse_keyed(text.as_bytes(), SYNTHETIC_KEY)
}

/// Sample items: the OASIS APT1 and Poison Ivy reports, each object marked TLP:GREEN.
pub fn sample_items() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for b in [
        include_str!("../../tests/corpus/oasis/threat-reports/apt1.json"),
        include_str!("../../tests/corpus/oasis/threat-reports/poisonivy.json"),
    ] {
        for it in unwrap_bundle(b.as_bytes()).unwrap_or_default() {
            out.push(mark(&it, Tlp::Green));
        }
    }
    out
}

/// Adds a TLP marking to an item that has none (as the sender's tooling would).
pub fn mark(item: &[u8], tlp: Tlp) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(item) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.entry("object_marking_refs")
                .or_insert_with(|| serde_json::json!([tlp.marking_id()]));
            serde_json::to_vec(&m).unwrap_or_else(|_| item.to_vec())
        }
        _ => item.to_vec(),
    }
}
