//! Is a string about a threat actor or about a victim? The personal-data detectors and the
//! mailbox/account detectors only refuse in a victim context: the phishing sender's address in
//! an indicator or a named actor's persona e-mail is intelligence; a victim's is not.
//!
//! How it is decided, fail-closed:
//! 1. By object: indicator, malware, tool, threat-actor, intrusion-set, campaign,
//!    attack-pattern, infrastructure, the indicator-carrying SCOs, and an identity accepted as a
//!    threat-actor persona are *threat* objects. Everything else (report, note, opinion,
//!    sighting, observed-data, incident, identity of an organisation, vulnerability,
//!    relationship, course-of-action, unknown types) is *victim* context — we cannot tell, so we
//!    screen as if it were about victims.
//! 2. By field: in a threat object, a string that mentions victims (the policy's
//!    `victim_words`: "victim", "customer", "employee", ...) is victim context; and in an
//!    indicator pattern, e-mail recipients (`to_refs`, `cc_refs`, `bcc_refs`) are victims.
//! 3. By declared purpose and legal basis: an individual identity is a threat-actor persona only
//!    when the declared purpose is one the policy lists for suspects' data (law enforcement) and
//!    a legal basis is declared; otherwise individuals are refused (`allow.identity/1`).

use regex::Regex;

use super::Context;

/// Which side of an intrusion a string is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// About the attacker: indicators, malware, actors, personas.
    Threat,
    /// About a victim, or unknown (screened as victim).
    Victim,
}

const THREAT_TYPES: &[&str] = &[
    "indicator",
    "malware",
    "tool",
    "threat-actor",
    "intrusion-set",
    "campaign",
    "attack-pattern",
    "infrastructure",
    "domain-name",
    "url",
    "ipv4-addr",
    "ipv6-addr",
    "autonomous-system",
    "file",
    "x509-certificate",
    "mutex",
    "email-addr",
];

/// The side of a whole object (rule 1).
pub fn object_side(stix_type: &str, persona: bool) -> Side {
    if persona || THREAT_TYPES.contains(&stix_type) {
        Side::Threat
    } else {
        Side::Victim
    }
}

/// Declared purpose allows suspects' personal data (rule 3): a purpose keyword from the policy
/// and a non-empty legal basis.
pub fn suspects_allowed(ctx: &Context, purposes: &[String]) -> bool {
    let p = ctx.purpose.to_lowercase();
    !ctx.legal_basis.trim().is_empty()
        && purposes
            .iter()
            .any(|k| !k.is_empty() && p.contains(k.as_str()))
}

/// The policy's victim vocabulary as one case-insensitive word matcher (rule 2).
#[derive(Debug, Clone)]
pub struct VictimWords(Option<Regex>);

impl VictimWords {
    /// Compiles the vocabulary; None when a word cannot be a pattern (never: words are escaped).
    pub fn new(words: &[String]) -> Option<VictimWords> {
        let alts: Vec<String> = words
            .iter()
            .filter(|w| !w.trim().is_empty())
            .map(|w| regex::escape(w.trim()))
            .collect();
        if alts.is_empty() {
            return Some(VictimWords(None));
        }
        Regex::new(&format!(r"(?i)(?-u:\b)(?:{})", alts.join("|")))
            .ok()
            .map(|r| VictimWords(Some(r)))
    }

    /// The string mentions victims.
    pub fn mentioned(&self, s: &str) -> bool {
        self.0.as_ref().is_some_and(|r| r.is_match(s))
    }

    /// The side of one string of an object whose side is `base` (rule 2).
    pub fn side(&self, base: Side, s: &str) -> Side {
        if base == Side::Threat && self.mentioned(s) {
            Side::Victim
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides() {
        assert_eq!(object_side("indicator", false), Side::Threat);
        assert_eq!(object_side("identity", true), Side::Threat);
        assert_eq!(object_side("identity", false), Side::Victim);
        assert_eq!(object_side("report", false), Side::Victim);
        let w = VictimWords::new(&["victim".into(), "customer".into()]).expect("words");
        assert_eq!(w.side(Side::Threat, "the victim's phone"), Side::Victim);
        assert_eq!(w.side(Side::Threat, "Customers of the bank"), Side::Victim);
        assert_eq!(w.side(Side::Threat, "the actor's phone"), Side::Threat);
    }

    #[test]
    fn purposes() {
        let p = vec!["investigation".to_owned(), "law enforcement".to_owned()];
        let mk = |purpose, legal_basis| Context {
            sender: "s",
            recipient: "r",
            purpose,
            legal_basis,
        };
        assert!(suspects_allowed(
            &mk("Cybercrime Investigation support", "agreement 7"),
            &p
        ));
        assert!(!suspects_allowed(
            &mk("Cybercrime investigation support", " "),
            &p
        ));
        assert!(!suspects_allowed(&mk("marketing", "consent"), &p));
    }
}
