//! The walk over every string of an item (values, nested keys, inside STIX patterns) that drives
//! the customer, inside and personal-data detectors, and the findings collector.
//!
//! Paths are built only when a finding is recorded (a stack of segments, not strings), which
//! keeps the walk cheap on clean items.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::canon::{self, Extracted, Where};
use super::context::{self, Side};
use super::json::{Json, Object};
use super::stix::{self, Shape};
use super::{Finding, FindingClass, Policy, customer, inside, names, personal, rules};

/// Findings of one item, kept sorted and unique by (path, rule).
#[derive(Debug, Default)]
pub(crate) struct Findings {
    set: BTreeSet<(String, &'static str)>,
}

impl Findings {
    /// Records a finding at a JSON path.
    pub(crate) fn add(&mut self, path: &str, rule: &'static str) {
        if !self.set.contains(&(path.to_owned(), rule)) {
            self.set.insert((path.to_owned(), rule));
        }
    }

    /// Records a finding about the item as a whole.
    pub(crate) fn add_root(&mut self, rule: &'static str) {
        self.add("$", rule);
    }

    /// Records a finding at a top-level STIX property the guard knows by name.
    pub(crate) fn add_prop(&mut self, prop: &str, rule: &'static str) {
        self.add(&format!("$.{prop}"), rule);
    }

    /// Records a finding at a top-level key that may be shown by name or only by position.
    pub(crate) fn add_key(&mut self, key: &str, pos: usize, shown: bool, rule: &'static str) {
        if shown {
            self.add_prop(key, rule);
        } else {
            self.add(&format!("$.{{{pos}}}"), rule);
        }
    }

    /// The findings, sorted by (path, rule), at most `max` of them.
    pub(crate) fn into_sorted(self, max: usize) -> Vec<Finding> {
        self.set
            .into_iter()
            .take(max)
            .map(|(p, r)| finding(&p, r))
            .collect()
    }
}

/// A finding for a rule id, with the rule's class and fixed hint.
pub(crate) fn finding(path: &str, rule: &'static str) -> Finding {
    let (class, hint) = rules::rule(rule)
        .map_or((FindingClass::Policy, "Refused by the policy."), |r| {
            (r.class, r.hint)
        });
    Finding {
        path: path.to_owned(),
        rule,
        class,
        hint: hint.to_owned(),
    }
}

/// True when a property name may appear in a path by name: STIX vocabulary or the policy's.
pub(crate) fn shown_name(policy: &Policy, k: &str) -> bool {
    k.len() <= 64
        && (stix::is_known_property(k) || policy.allow().is_vocabulary(k) || is_hash_name(k))
}

fn is_hash_name(k: &str) -> bool {
    [
        "MD5", "SHA-1", "SHA1", "SHA-256", "SHA256", "SHA-512", "SHA512", "SHA3-256", "SHA3-512",
        "SSDEEP", "TLSH",
    ]
    .iter()
    .any(|h| k.eq_ignore_ascii_case(h))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Text,
    Name,
    Pattern,
    IpValue,
    HostValue,
}

fn field_of(stix_type: &str, key: &str) -> Field {
    match (stix_type, key) {
        ("indicator", "pattern") => Field::Pattern,
        ("ipv4-addr" | "ipv6-addr", "value") => Field::IpValue,
        ("domain-name", "value") => Field::HostValue,
        (_, "name" | "aliases") => Field::Name,
        _ => Field::Text,
    }
}

#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str, usize, bool),
    Idx(usize),
}

struct Walker<'p, 'v, 'o> {
    policy: &'p Policy,
    out: &'o mut Findings,
    path: Vec<Seg<'v>>,
    base: Side,
    /// Format 2: the policy records this object's personal identifiers as actor-owned.
    actor_owned: bool,
    /// Format 2: the canonical-token buffer for names in text, reused across strings.
    tokens: names::Tokens,
    /// The customer register's answers so far in this item.
    answers: customer::Answers,
}

/// Screens every string of the item with the customer, inside and personal-data detectors.
pub(crate) fn scan_item(
    policy: &Policy,
    obj: &Object,
    shape: Option<&Shape>,
    persona: bool,
    out: &mut Findings,
) {
    if policy.register.needs_key() {
        out.add_root(rules::CUSTOMER_KEY);
    }
    let stix_type = shape
        .map(|s| s.stix_type.as_str())
        .or_else(|| obj.get("type").and_then(Json::as_str))
        .unwrap_or("");
    let actor_owned = policy.det.v2.as_ref().is_some_and(|v2| {
        v2.actor_owned_types.contains(stix_type)
            || obj.get("labels").and_then(Json::as_array).is_some_and(|l| {
                l.iter()
                    .filter_map(Json::as_str)
                    .any(|l| v2.actor_owned_labels.contains(l))
            })
    });
    let mut w = Walker {
        policy,
        out,
        path: Vec::with_capacity(8),
        base: context::object_side(stix_type, persona),
        actor_owned,
        tokens: names::Tokens::default(),
        answers: customer::Answers::default(),
    };
    for (pos, (k, v)) in obj.iter().enumerate() {
        let shown = shown_name(policy, k);
        w.path.push(Seg::Key(k, pos, shown));
        if !shown {
            w.string(k, Field::Text);
        }
        w.value(v, field_of(stix_type, k));
        w.path.pop();
    }
}

/// Screens free-text fields that are not part of any item (the disclosure body's purpose,
/// legal basis and case reference) as an item's description is screened. Their base side is
/// the threat's: a case number is not a victim's phone number, but a field that speaks of
/// victims is screened as theirs, and customer identifiers are refused on either side.
pub(crate) fn scan_text(policy: &Policy, fields: &[(&str, &str)], out: &mut Findings) {
    let mut w = Walker {
        policy,
        out,
        path: Vec::with_capacity(1),
        base: Side::Threat,
        actor_owned: false,
        tokens: names::Tokens::default(),
        answers: customer::Answers::default(),
    };
    for (pos, (name, text)) in fields.iter().enumerate() {
        w.path.push(Seg::Key(name, pos, true));
        w.string(text, Field::Text);
        w.path.pop();
    }
}

impl<'v> Walker<'_, 'v, '_> {
    fn path_string(&self) -> String {
        let mut s = String::from("$");
        for seg in &self.path {
            match seg {
                Seg::Key(k, _, true) => {
                    let _ = write!(s, ".{k}");
                }
                Seg::Key(_, pos, false) => {
                    let _ = write!(s, ".{{{pos}}}");
                }
                Seg::Idx(i) => {
                    let _ = write!(s, "[{i}]");
                }
            }
        }
        s
    }

    fn hit(&mut self, rule: &'static str) {
        let p = self.path_string();
        self.out.add(&p, rule);
    }

    fn value(&mut self, v: &'v Json<'_>, field: Field) {
        match v {
            Json::String(s) => self.string(s, field),
            Json::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.path.push(Seg::Idx(i));
                    self.value(x, field);
                    self.path.pop();
                }
            }
            Json::Object(m) => {
                for (pos, (k, x)) in m.iter().enumerate() {
                    let shown = shown_name(self.policy, k);
                    self.path.push(Seg::Key(k, pos, shown));
                    if !shown {
                        self.string(k, Field::Text);
                    }
                    self.value(x, Field::Text);
                    self.path.pop();
                }
            }
            Json::Number(n) => {
                // A card number can hide in a number; nothing else can.
                let s = n.to_string();
                if let Some(v2) = &self.policy.det.v2 {
                    if s.len() >= 13 && !self.actor_owned {
                        for r in personal::scan_v2(&s, self.policy.det.personal, &v2.detectors) {
                            self.hit(r);
                        }
                    }
                } else if s.len() >= 13 && self.base == Side::Victim {
                    for r in personal::scan(&s, self.policy.det.personal) {
                        self.hit(r);
                    }
                }
            }
            Json::Bool(_) | Json::Null => {}
        }
    }

    fn side_of(&self, s: &str) -> Side {
        self.policy.victim_words().side(self.base, s)
    }

    /// Format 2: personal identifiers are refused wherever they are, except in an object the
    /// policy records as actor-owned, in a string that does not speak of victims.
    fn excepted(&self, s: &str) -> bool {
        self.actor_owned && !self.policy.victim_words().mentioned(s)
    }

    /// Format 2: a registered customer name anywhere in the string's canonical tokens.
    fn names_in(&mut self, s: &str) {
        let reg = &self.policy.register;
        if reg.has_name_forms() {
            self.tokens.of(s);
            if reg.name_in_text(&self.tokens) {
                self.hit(rules::CUSTOMER_NAME_2);
            }
        }
    }

    fn string(&mut self, s: &str, field: Field) {
        if s.is_empty() || structural(s) {
            return;
        }
        let policy = self.policy;
        let v2 = policy.det.v2.as_ref();
        if v2.is_some() {
            self.names_in(s);
        }
        // Fast path: plain words (labels, vocabulary values, short names) can hold no host,
        // address, path or personal number; only the account formats and names still apply.
        if field == Field::Text || field == Field::Name {
            let b = s.as_bytes();
            let plain = b.iter().all(|&c| {
                !matches!(
                    c,
                    b'.' | b'@' | b':' | b'/' | b'\\' | b'%' | b'[' | b'(' | b'{' | 0x80..=0xff
                )
            }) && b.iter().filter(|c| c.is_ascii_digit()).count() < 6;
            if plain {
                if self.policy.register.account_hit(s) {
                    self.hit(rules::CUSTOMER_ACCOUNT);
                }
                if v2.is_none() && field == Field::Name && self.policy.register.name_hit(s) {
                    self.hit(rules::CUSTOMER_NAME);
                }
                return;
            }
        }
        // Most strings have nothing to defang or decode: no vector for them.
        let alone: [Cow<'_, str>; 1];
        let several: Vec<Cow<'_, str>>;
        let variants: &[Cow<'_, str>] = if canon::only_itself(s) {
            alone = [Cow::Borrowed(s)];
            &alone
        } else {
            several = canon::variants(s);
            &several
        };
        let at = Where {
            ip_value: field == Field::IpValue,
            host_value: field == Field::HostValue,
        };
        let x = merge(variants.iter().map(|v| canon::extract(v, at)));
        let mut side: Option<Side> = None;
        self.check_extracted(&x, s, &mut side, false);
        let det = &self.policy.det;
        for v in variants {
            if self.policy.register.account_hit(v) {
                self.hit(rules::CUSTOMER_ACCOUNT);
            }
            if inside::home_path(v, &det.home_placeholders) {
                self.hit(rules::INSIDE_HOME_PATH);
            }
            if let Some(v2) = v2 {
                let found = personal::scan_v2(v, det.personal, &v2.detectors);
                if !found.is_empty() && !self.excepted(s) {
                    for r in found {
                        self.hit(r);
                    }
                }
            }
            // The side decides a `DOMAIN\user` account (which needs a backslash) and, under
            // format 1, the personal-data detectors (which need six digits).
            let backslash = v.contains('\\');
            if backslash || (v2.is_none() && v.bytes().filter(u8::is_ascii_digit).count() >= 6) {
                let sd = *side.get_or_insert_with(|| self.side_of(s));
                if sd == Side::Victim {
                    if inside::domain_user(v) {
                        self.hit(rules::INSIDE_ACCOUNT);
                    }
                    if v2.is_none() {
                        for r in personal::scan(v, self.policy.det.personal) {
                            self.hit(r);
                        }
                    }
                }
            }
        }
        if v2.is_none()
            && field == Field::Name
            && variants.iter().any(|v| self.policy.register.name_hit(v))
        {
            self.hit(rules::CUSTOMER_NAME);
        }
        if field == Field::Pattern {
            for (t, p, val) in canon::pattern_comparisons(s) {
                if t == "user-account" {
                    self.hit(rules::INSIDE_ACCOUNT);
                }
                let at = Where {
                    ip_value: t == "ipv4-addr"
                        || t == "ipv6-addr"
                        || (t == "network-traffic" && p.ends_with("ref.value")),
                    host_value: t == "domain-name",
                };
                let recipients = t == "email-message"
                    && (p.starts_with("to_refs")
                        || p.starts_with("cc_refs")
                        || p.starts_with("bcc_refs"));
                let x = merge(canon::variants(&val).iter().map(|v| canon::extract(v, at)));
                self.check_extracted(&x, &val, &mut side, recipients);
            }
        }
    }

    /// Customer and inside checks over the identifiers of one string; `victim` forces the
    /// victim side (e-mail recipients in a pattern).
    fn check_extracted(&mut self, x: &Extracted, s: &str, side: &mut Option<Side>, victim: bool) {
        let det = &self.policy.det;
        let reg = &self.policy.register;
        let mut rules_hit: Vec<&'static str> = Vec::new();
        for h in &x.hosts {
            if self.answers.host_hit(reg, h) {
                rules_hit.push(rules::CUSTOMER_DOMAIN);
            }
            if inside::internal_host(
                h,
                false,
                &det.inside_suffixes,
                &det.documentation_suffixes,
                det.single_label_hosts,
            ) {
                rules_hit.push(rules::INSIDE_HOST);
            }
        }
        for h in &x.exact_hosts {
            if inside::internal_host(
                h,
                true,
                &det.inside_suffixes,
                &det.documentation_suffixes,
                det.single_label_hosts,
            ) {
                rules_hit.push(rules::INSIDE_HOST);
            }
        }
        if !x.emails.is_empty() {
            let sd = if victim {
                Side::Victim
            } else {
                *side.get_or_insert_with(|| self.side_of(s))
            };
            for e in &x.emails {
                if self.answers.email_hit(reg, e) {
                    rules_hit.push(rules::CUSTOMER_EMAIL);
                }
                if sd == Side::Victim {
                    rules_hit.push(rules::INSIDE_MAILBOX);
                }
            }
        }
        for n in &x.ips {
            if self.answers.network_hit(reg, n) {
                rules_hit.push(rules::CUSTOMER_NETWORK);
            }
            if inside::special_ip(n, det.documentation_values_allowed) {
                rules_hit.push(rules::INSIDE_IP);
            }
        }
        for r in rules_hit {
            self.hit(r);
        }
    }
}

/// Identifiers and timestamps are validated by the schema check and carry no free text.
fn structural(s: &str) -> bool {
    (s.len() > 36 && s.contains("--") && stix::is_identifier(s))
        || (s.ends_with('Z') && s.len() >= 20 && stix::is_timestamp(s))
}

fn merge(mut it: impl Iterator<Item = Extracted>) -> Extracted {
    // One extraction holds no repeats already: it is the start.
    let Some(mut out) = it.next() else {
        return Extracted::default();
    };
    for x in it {
        for h in x.hosts {
            if !out.hosts.contains(&h) {
                out.hosts.push(h);
            }
        }
        for h in x.exact_hosts {
            if !out.exact_hosts.contains(&h) {
                out.exact_hosts.push(h);
            }
        }
        for e in x.emails {
            if !out.emails.contains(&e) {
                out.emails.push(e);
            }
        }
        for n in x.ips {
            if !out.ips.contains(&n) {
                out.ips.push(n);
            }
        }
    }
    out
}
