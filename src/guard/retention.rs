//! The policy's `[retention]` section: how long stored payloads are kept, per TLP level and per
//! STIX type (GDPR Art. 5(1)(e), storage limitation). It never changes a screening verdict;
//! the server's retention run reads it to decide which payloads to erase.
//!
//! An item under several rules is kept for the shortest of them; an item under none, or a
//! policy without the section, is kept forever. Durations are humantime's: "90d", "52w",
//! "1y", "12h", "30s".

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{GuardError, Tlp};

/// `[retention]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionDoc {
    #[serde(default)]
    tlp: BTreeMap<String, String>,
    #[serde(default)]
    types: BTreeMap<String, String>,
}

/// How long payloads are kept, compiled from `[retention]`: what the retention run applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Period and the text it was written as, for naming the rule.
    by_tlp: BTreeMap<Tlp, (Duration, String)>,
    by_type: BTreeMap<String, (Duration, String)>,
}

/// The rule that bounds one item's keeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionLimit {
    /// How long after its disclosure the payload is kept.
    pub keep_for: Duration,
    /// The rule in words, e.g. "tlp amber: 365d".
    pub rule: String,
}

impl RetentionLimit {
    /// `keep_for` in milliseconds (saturating), the log's time unit.
    pub fn keep_ms(&self) -> i64 {
        i64::try_from(self.keep_for.as_millis()).unwrap_or(i64::MAX)
    }
}

fn duration(key: &str, text: &str) -> Result<Duration, GuardError> {
    let d = humantime::parse_duration(text).map_err(|e| {
        GuardError::PolicyInvalid(format!(
            "retention {key} = {text:?} is not a duration like \"365d\" or \"12h\": {e}"
        ))
    })?;
    if d.is_zero() {
        return Err(GuardError::PolicyInvalid(format!(
            "retention {key} is zero; leave the rule out to keep payloads, or give a period"
        )));
    }
    Ok(d)
}

impl Retention {
    pub(crate) fn from_doc(doc: RetentionDoc) -> Result<Retention, GuardError> {
        let mut by_tlp = BTreeMap::new();
        for (name, text) in &doc.tlp {
            let tlp: Tlp = name.parse().map_err(|_| {
                GuardError::PolicyInvalid(format!(
                    "retention.tlp key {name:?} is not a TLP level (clear, green, amber, amber+strict, red)"
                ))
            })?;
            by_tlp.insert(tlp, (duration(&format!("tlp.{name}"), text)?, text.clone()));
        }
        let mut by_type = BTreeMap::new();
        for (name, text) in &doc.types {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(GuardError::PolicyInvalid(format!(
                    "retention.types key {name:?} is not a STIX type name"
                )));
            }
            by_type.insert(
                name.clone(),
                (duration(&format!("types.{name}"), text)?, text.clone()),
            );
        }
        Ok(Retention { by_tlp, by_type })
    }

    /// True when no rule limits anything: every payload is kept forever.
    pub fn is_empty(&self) -> bool {
        self.by_tlp.is_empty() && self.by_type.is_empty()
    }

    /// The shortest period of any rule; None when nothing expires.
    pub fn shortest(&self) -> Option<Duration> {
        self.by_tlp
            .values()
            .chain(self.by_type.values())
            .map(|(d, _)| *d)
            .min()
    }

    /// The shortest rule covering an item of this TLP (as in `ItemCommitment.tlp`) and STIX
    /// type; None when it is kept forever.
    pub fn limit(&self, tlp: &str, stix_type: &str) -> Option<RetentionLimit> {
        let by_tlp = tlp.parse::<Tlp>().ok().and_then(|t| {
            self.by_tlp
                .get(&t)
                .map(|(d, text)| (*d, format!("tlp {t}: {text}")))
        });
        let by_type = self
            .by_type
            .get(stix_type)
            .map(|(d, text)| (*d, format!("type {stix_type}: {text}")));
        [by_tlp, by_type]
            .into_iter()
            .flatten()
            .min_by_key(|(d, _)| *d)
            .map(|(keep_for, rule)| RetentionLimit { keep_for, rule })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Retention, GuardError> {
        let doc: RetentionDoc = toml::from_str(toml_text)
            .map_err(|e| GuardError::PolicySyntax(e.message().to_owned()))?;
        Retention::from_doc(doc)
    }

    #[test]
    fn shortest_rule_wins_and_uncovered_items_are_kept() {
        let r = parse("tlp = { red = \"30d\", amber = \"365d\" }\ntypes = { indicator = \"90d\" }")
            .unwrap();
        let day = 86_400_000;
        assert_eq!(r.limit("red", "indicator").unwrap().keep_ms(), 30 * day);
        let l = r.limit("amber", "indicator").unwrap();
        assert_eq!(l.keep_ms(), 90 * day);
        assert_eq!(l.rule, "type indicator: 90d");
        assert_eq!(r.limit("amber", "campaign").unwrap().keep_ms(), 365 * day);
        assert_eq!(r.limit("green", "campaign"), None);
        assert!(!r.is_empty());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            "tlp = { purple = \"1d\" }",
            "tlp = { red = \"soon\" }",
            "tlp = { red = \"0s\" }",
            "types = { \"Indicator\" = \"1d\" }",
            "keep = \"1d\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
