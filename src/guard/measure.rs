//! Measuring the guard on a labelled corpus (`borderlog policy test CORPUS`): each case is one
//! STIX object with the class of customer or personal data it holds, or `negative` (threat
//! data that must cross). The result is a confusion table per class: a case of class C is a
//! true positive when a rule of class C refuses it; a case of any other label on which a rule of
//! class C fires is a false positive of C. Negatives refused by any rule are false refusals.
//!
//! A corpus directory holds `corpus.toml` (the policy file, the register key, the context),
//! the policy and `cases.jsonl` (one case a line: `{"class", "lang", "item"}`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::{Context, GuardError, Policy, Verdict};

/// The classes of data the guard must keep from crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// A registered customer's name, anywhere in text.
    CustomerName,
    /// A payment card number.
    Card,
    /// An IBAN.
    Iban,
    /// A national identity or tax number (SSN, NINO, Steuer-ID, NIR, DNI/NIE, codice fiscale,
    /// BSN, PESEL).
    NationalId,
    /// A personal phone number.
    Phone,
}

impl Class {
    /// Every class, in table order.
    pub const ALL: [Class; 5] = [
        Class::CustomerName,
        Class::Card,
        Class::Iban,
        Class::NationalId,
        Class::Phone,
    ];

    /// The label used in corpora.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::CustomerName => "customer-name",
            Class::Card => "card",
            Class::Iban => "iban",
            Class::NationalId => "national-id",
            Class::Phone => "phone",
        }
    }

    /// The class a rule id belongs to, if any.
    pub fn of_rule(rule: &str) -> Option<Class> {
        let family = rule.split('/').next().unwrap_or(rule);
        Some(match family {
            "customer.name" => Class::CustomerName,
            "personal.card" => Class::Card,
            "personal.iban" => Class::Iban,
            "personal.phone" => Class::Phone,
            "personal.ssn"
            | "personal.nino"
            | "personal.tax-id-de"
            | "personal.nir"
            | "personal.dni"
            | "personal.codice-fiscale"
            | "personal.bsn"
            | "personal.pesel" => Class::NationalId,
            _ => return None,
        })
    }

    fn parse(s: &str) -> Option<Option<Class>> {
        if s == "negative" {
            return Some(None);
        }
        Class::ALL.into_iter().find(|c| c.as_str() == s).map(Some)
    }
}

/// One labelled case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The class of data it holds; None for a negative (threat data that must cross).
    pub class: Option<Class>,
    /// Language of its text (en, de, fr, es).
    pub lang: String,
    /// The STIX object's JSON bytes.
    pub item: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    class: String,
    lang: String,
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    item: serde_json::Value,
}

/// Parses `cases.jsonl`: one JSON case a line; blank lines ignored.
pub fn parse_cases(jsonl: &str) -> Result<Vec<Case>, GuardError> {
    let mut out = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason| GuardError::Corpus {
            line: i + 1,
            reason,
        };
        let l: Line = serde_json::from_str(line).map_err(|_| bad("not a corpus case"))?;
        let class = Class::parse(&l.class).ok_or(bad("unknown class"))?;
        let item = serde_json::to_vec(&l.item).map_err(|_| bad("item does not encode"))?;
        out.push(Case {
            class,
            lang: l.lang,
            item,
        });
    }
    Ok(out)
}

/// `corpus.toml`: which policy the corpus is measured under, with which register key, in which
/// declared context.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The policy file, relative to the corpus directory.
    pub policy: String,
    /// The register key as text (a test key: corpora hold invented customers only).
    pub register_key: String,
    /// The sender.
    pub sender: String,
    /// The recipient.
    pub recipient: String,
    /// The declared purpose.
    pub purpose: String,
    /// The declared legal basis.
    pub legal_basis: String,
}

impl Spec {
    /// Parses `corpus.toml`.
    pub fn parse(text: &str) -> Result<Spec, GuardError> {
        toml::from_str(text)
            .map_err(|e| GuardError::PolicySyntax(format!("corpus.toml: {}", e.message())))
    }

    /// The declared context.
    pub fn context(&self) -> Context<'_> {
        Context {
            sender: &self.sender,
            recipient: &self.recipient,
            purpose: &self.purpose,
            legal_basis: &self.legal_basis,
        }
    }
}

/// Counts of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cases of the class refused by a rule of the class.
    pub tp: usize,
    /// Cases of the class not refused by a rule of the class.
    pub fn_: usize,
    /// Other cases on which a rule of the class fired.
    pub fp: usize,
    /// Other cases on which no rule of the class fired.
    pub tn: usize,
}

impl Counts {
    /// TP / (TP + FP); 1 when nothing fired.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// TP / (TP + FN); 1 when the class has no case.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The measurement of a corpus.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Per class: the confusion counts.
    pub classes: BTreeMap<Class, Counts>,
    /// Per class and language: (caught, cases).
    pub by_lang: BTreeMap<(Class, String), (usize, usize)>,
    /// Negatives, and how many of them were refused (by any rule).
    pub negatives: usize,
    /// Negatives refused.
    pub negatives_refused: usize,
}

/// Screens every case under `policy` and `ctx` and counts.
pub fn measure(policy: &Policy, ctx: &Context, cases: &[Case]) -> Table {
    let mut t = Table::default();
    for c in Class::ALL {
        t.classes.insert(c, Counts::default());
    }
    for case in cases {
        let v = policy.screen(ctx, &case.item);
        let fired: Vec<Class> = v
            .findings()
            .iter()
            .filter_map(|f| Class::of_rule(f.rule))
            .collect();
        for c in Class::ALL {
            let n = t.classes.entry(c).or_default();
            match (case.class == Some(c), fired.contains(&c)) {
                (true, true) => n.tp += 1,
                (true, false) => n.fn_ += 1,
                (false, true) => n.fp += 1,
                (false, false) => n.tn += 1,
            }
        }
        match case.class {
            Some(c) => {
                let e = t.by_lang.entry((c, case.lang.clone())).or_default();
                e.1 += 1;
                if fired.contains(&c) {
                    e.0 += 1;
                }
            }
            None => {
                t.negatives += 1;
                if matches!(v, Verdict::Refused(_)) {
                    t.negatives_refused += 1;
                }
            }
        }
    }
    t
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let langs: Vec<&str> = {
            let mut l: Vec<&str> = self.by_lang.keys().map(|(_, l)| l.as_str()).collect();
            l.sort_unstable();
            l.dedup();
            l
        };
        write!(
            f,
            "{:<14} {:>5} {:>5} {:>5} {:>5} {:>9} {:>7}",
            "class", "TP", "FN", "FP", "TN", "precision", "recall"
        )?;
        for l in &langs {
            write!(f, " {:>8}", format!("recall {l}"))?;
        }
        writeln!(f)?;
        for (c, n) in &self.classes {
            write!(
                f,
                "{:<14} {:>5} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
                c.as_str(),
                n.tp,
                n.fn_,
                n.fp,
                n.tn,
                n.precision(),
                n.recall()
            )?;
            for l in &langs {
                match self.by_lang.get(&(*c, (*l).to_owned())) {
                    Some(&(k, m)) => write!(f, " {:>8.3}", ratio(k, m))?,
                    None => write!(f, " {:>8}", "-")?,
                }
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "negatives: {} of {} refused (false refusals)",
            self.negatives_refused, self.negatives
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_map_to_classes() {
        assert_eq!(Class::of_rule("customer.name/2"), Some(Class::CustomerName));
        assert_eq!(Class::of_rule("personal.pesel/1"), Some(Class::NationalId));
        assert_eq!(Class::of_rule("personal.phone/2"), Some(Class::Phone));
        assert_eq!(Class::of_rule("inside.ip/1"), None);
        assert!(parse_cases("{\"class\":\"nope\",\"lang\":\"en\",\"item\":{}}").is_err());
        let c = parse_cases("{\"class\":\"negative\",\"lang\":\"de\",\"item\":{}}\n\n").unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].class, None);
        assert_eq!(
            Counts {
                tp: 3,
                fn_: 1,
                fp: 1,
                tn: 5
            }
            .recall(),
            0.75
        );
    }
}
