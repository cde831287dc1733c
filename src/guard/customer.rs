//! The customer register: the sender's customers' domains, e-mail addresses, names, networks
//! and account-id formats, held in the policy only as HMAC-SHA-256 digests under a key the data
//! owner keeps, so the log (which stores the policy) never reveals the customer list.
//!
//! Matching computes the same digest over each canonical candidate found in an item:
//! - domains: every suffix of a candidate host with two labels or more (`sub.acme.example`
//!   matches a registered `acme.example`);
//! - e-mail addresses: the address, the address without a `+tag`, and its domain (against the
//!   domain register);
//! - networks: for each registered prefix length `L`, the digest of the network at `L`. Only the
//!   set of prefix lengths is in clear. A candidate inside a registered range is found by
//!   truncating it to each registered length no longer than its own. A candidate *wider* than
//!   a registered range (e.g. a /15 holding a customer's /24) is found through "marker"
//!   digests the register also stores: for a range of length `L`, the digest of its network at
//!   every multiple of 8 below `L`. The candidate is split into at most 128 subnets at the next
//!   multiple of 8 and each is looked up. Trade-off: ≤ L/8 extra digests per range (a /24 adds
//!   three) and a wide candidate (a /8, a /0) overlaps *some* customer range far more often, and
//!   is then refused: senders must narrow ranges that contain customer networks;
//! - names: the normalised whole `name`/`aliases` value (lower case, single spaces);
//! - account ids: regular expressions kept in clear. They must describe the *sender's own*
//!   account-number format (e.g. `VRC-\d{6}`), which reveals no customer; never a customer's name.
//!
//! The auditor needs the same key to replay register matches: without it nobody, by design, can
//! tell whether a value is a customer's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use regex::{RegexSet, RegexSetBuilder};
use serde::Deserialize;
use sha2::Sha256;

use siphasher::sip::SipHasher24;

use super::GuardError;
use super::{canon, names};

type HmacSha256 = Hmac<Sha256>;

const DOMAIN_SEP: &[u8] = b"borderlog/customer/v1\n";

/// The `[customers]` section of the policy document, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterDoc {
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    key_check: String,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name_forms: Vec<String>,
    #[serde(default)]
    name_first: Vec<String>,
    #[serde(default)]
    name_tokens: u8,
    #[serde(default)]
    networks: Vec<String>,
    #[serde(default)]
    ipv4_lengths: Vec<u8>,
    #[serde(default)]
    ipv6_lengths: Vec<u8>,
    #[serde(default)]
    account_patterns: Vec<String>,
}

/// The owner's register key, ready to compute digests (the HMAC state is cloned per digest).
#[derive(Clone)]
pub(crate) struct Key(HmacSha256);

impl Key {
    pub(crate) fn new(key: &[u8]) -> Result<Key, GuardError> {
        if key.len() < 16 {
            return Err(GuardError::WeakRegisterKey);
        }
        HmacSha256::new_from_slice(key)
            .map(Key)
            .map_err(|_| GuardError::WeakRegisterKey)
    }

    fn digest(&self, kind: &str, value: &str) -> [u8; 32] {
        let mut m = self.0.clone();
        m.update(DOMAIN_SEP);
        m.update(kind.as_bytes());
        m.update(b"\n");
        m.update(value.as_bytes());
        m.finalize().into_bytes().into()
    }

    fn check(&self) -> [u8; 32] {
        self.digest("key-check", "")
    }

    /// The first-token prefilter's SipHash-2-4, keyed by 128 bits derived from the register key.
    fn prefilter(&self) -> SipHasher24 {
        let d = self.digest("name-prefilter-key", "");
        let k = |i: usize| u64::from_le_bytes(d[i..i + 8].try_into().expect("8 bytes"));
        SipHasher24::new_with_keys(k(0), k(8))
    }
}

/// The compiled register: digest sets (ordered sets: no randomised hashing anywhere).
pub(crate) struct Register {
    pub(crate) key_id: String,
    key_check: Option<[u8; 32]>,
    domains: BTreeSet<[u8; 32]>,
    emails: BTreeSet<[u8; 32]>,
    names: BTreeSet<[u8; 32]>,
    name_forms: BTreeSet<[u8; 32]>,
    name_first: BTreeSet<u64>,
    /// A bit per `name_first` fingerprint's low 12 bits: most tokens are ruled out here, before
    /// the set is searched.
    name_first_bits: [u64; 64],
    name_tokens: usize,
    networks: BTreeSet<[u8; 32]>,
    v4_lengths: Vec<u8>,
    v6_lengths: Vec<u8>,
    accounts: Option<RegexSet>,
    key: Option<Key>,
    name_sip: Option<SipHasher24>,
}

fn parse_digests(list: &[String], what: &str) -> Result<BTreeSet<[u8; 32]>, GuardError> {
    list.iter()
        .map(|h| {
            let mut d = [0u8; 32];
            hex::decode_to_slice(h, &mut d).map(|_| d).map_err(|_| {
                GuardError::PolicyInvalid(format!("customers.{what}: not a 64-hex-digit digest"))
            })
        })
        .collect()
}

fn parse_prefilter(list: &[String]) -> Result<BTreeSet<u64>, GuardError> {
    list.iter()
        .map(|h| {
            (h.len() == 16)
                .then(|| u64::from_str_radix(h, 16).ok())
                .flatten()
                .ok_or_else(|| {
                    GuardError::PolicyInvalid(
                        "customers.name_first: not a 16-hex-digit fingerprint".into(),
                    )
                })
        })
        .collect()
}

/// Where a first-token fingerprint's bit sits in `name_first_bits`: its low 12 bits.
fn first_bit(f: u64) -> (usize, u64) {
    (((f >> 6) & 63) as usize, 1 << (f & 63))
}

fn lengths(v: &[u8], max: u8, what: &str) -> Result<Vec<u8>, GuardError> {
    if v.iter().any(|&l| l > max) {
        return Err(GuardError::PolicyInvalid(format!(
            "customers.{what}: prefix length above {max}"
        )));
    }
    let set: BTreeSet<u8> = v.iter().copied().collect();
    Ok(set.into_iter().collect())
}

fn compile_accounts(p: &[String]) -> Result<Option<RegexSet>, GuardError> {
    if p.is_empty() {
        return Ok(None);
    }
    RegexSetBuilder::new(p)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|_| {
            GuardError::PolicyInvalid(
                "customers.account_patterns: a pattern does not compile".into(),
            )
        })
}

impl Register {
    pub(crate) fn from_doc(d: RegisterDoc) -> Result<Register, GuardError> {
        let key_check = if d.key_check.is_empty() {
            None
        } else {
            let mut c = [0u8; 32];
            hex::decode_to_slice(&d.key_check, &mut c).map_err(|_| {
                GuardError::PolicyInvalid("customers.key_check: not 64 hex digits".into())
            })?;
            Some(c)
        };
        let name_first = parse_prefilter(&d.name_first)?;
        let mut name_first_bits = [0u64; 64];
        for f in &name_first {
            let (word, bit) = first_bit(*f);
            name_first_bits[word] |= bit;
        }
        let r = Register {
            key_id: d.key_id,
            key_check,
            domains: parse_digests(&d.domains, "domains")?,
            emails: parse_digests(&d.emails, "emails")?,
            names: parse_digests(&d.names, "names")?,
            name_forms: parse_digests(&d.name_forms, "name_forms")?,
            name_first,
            name_first_bits,
            name_tokens: usize::from(d.name_tokens),
            networks: parse_digests(&d.networks, "networks")?,
            v4_lengths: lengths(&d.ipv4_lengths, 32, "ipv4_lengths")?,
            v6_lengths: lengths(&d.ipv6_lengths, 128, "ipv6_lengths")?,
            accounts: compile_accounts(&d.account_patterns)?,
            key: None,
            name_sip: None,
        };
        if r.has_digests() && (r.key_check.is_none() || r.key_id.is_empty()) {
            return Err(GuardError::PolicyInvalid(
                "customers: a register with digests needs key_id and key_check".into(),
            ));
        }
        if !r.name_forms.is_empty() && (r.name_first.is_empty() || r.name_tokens == 0) {
            return Err(GuardError::PolicyInvalid(
                "customers: name_forms without name_first and name_tokens".into(),
            ));
        }
        if !r.networks.is_empty() && r.v4_lengths.is_empty() && r.v6_lengths.is_empty() {
            return Err(GuardError::PolicyInvalid(
                "customers: networks without prefix lengths".into(),
            ));
        }
        Ok(r)
    }

    fn has_digests(&self) -> bool {
        !(self.domains.is_empty()
            && self.emails.is_empty()
            && self.names.is_empty()
            && self.name_forms.is_empty()
            && self.networks.is_empty())
    }

    /// True when matching needs the key and none is loaded.
    pub(crate) fn needs_key(&self) -> bool {
        self.has_digests() && self.key.is_none()
    }

    /// Loads the owner's key after checking it against `key_check`.
    pub(crate) fn load_key(&mut self, key: &[u8]) -> Result<(), GuardError> {
        let k = Key::new(key)?;
        if let Some(c) = self.key_check
            && k.check() != c
        {
            return Err(GuardError::RegisterKeyMismatch(self.key_id.clone()));
        }
        self.name_sip = Some(k.prefilter());
        self.key = Some(k);
        Ok(())
    }

    fn key(&self) -> Option<&Key> {
        if self.has_digests() {
            self.key.as_ref()
        } else {
            None
        }
    }

    /// A host is, or is under, a registered domain.
    pub(crate) fn host_hit(&self, host: &str) -> bool {
        let Some(k) = self.key() else { return false };
        if self.domains.is_empty() {
            return false;
        }
        // Suffixes with at least two labels, at most the last 16 labels.
        let mut rest = host;
        let labels = host.matches('.').count() + 1;
        let mut skip = labels.saturating_sub(16);
        loop {
            if skip == 0 && rest.contains('.') && self.domains.contains(&k.digest("domain", rest)) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, r)) if r.contains('.') => {
                    rest = r;
                    skip = skip.saturating_sub(1);
                }
                _ => return false,
            }
        }
    }

    /// An e-mail address is registered (with or without its `+tag`).
    pub(crate) fn email_hit(&self, email: &str) -> bool {
        let Some(k) = self.key() else { return false };
        if self.emails.is_empty() {
            return false;
        }
        self.emails.contains(&k.digest("email", email))
            || canon::without_subaddress(email)
                .is_some_and(|e| self.emails.contains(&k.digest("email", &e)))
    }

    /// A name or alias is a registered customer name.
    pub(crate) fn name_hit(&self, name: &str) -> bool {
        let Some(k) = self.key() else { return false };
        !self.names.is_empty()
            && self
                .names
                .contains(&k.digest("name", &normalise_name(name)))
    }

    /// A registered name (canonical form, policy format 2) is a run of the text's tokens. The
    /// prefilter (a keyed 64-bit fingerprint of each form's first token) keeps this to one
    /// SipHash per token; only a first-token hit costs HMACs, one per run length.
    pub(crate) fn name_in_text(&self, tokens: &names::Tokens) -> bool {
        let Some(k) = self.key() else { return false };
        if self.name_forms.is_empty() {
            return false;
        }
        let Some(sip) = &self.name_sip else {
            return false;
        };
        (0..tokens.len()).any(|i| {
            let f = sip.hash(tokens.token(i).as_bytes());
            let (word, bit) = first_bit(f);
            self.name_first_bits[word] & bit != 0
                && self.name_first.contains(&f)
                && (1..=self.name_tokens).any(|n| {
                    tokens
                        .run(i, n)
                        .is_some_and(|r| self.name_forms.contains(&k.digest("name/2", r)))
                })
        })
    }

    /// True when the register holds canonical name forms (policy format 2).
    pub(crate) fn has_name_forms(&self) -> bool {
        !self.name_forms.is_empty()
    }

    /// A string matches a customer account-id format (no key needed: formats are in clear).
    pub(crate) fn account_hit(&self, s: &str) -> bool {
        self.accounts.as_ref().is_some_and(|a| a.is_match(s))
    }

    /// An address or range overlaps a registered network (either contains the other).
    pub(crate) fn network_hit(&self, net: &IpNet) -> bool {
        let Some(k) = self.key() else { return false };
        if self.networks.is_empty() {
            return false;
        }
        match net {
            IpNet::V4(n) => self.overlap(
                k,
                &self.v4_lengths,
                n.prefix_len(),
                32,
                |l| {
                    Ipv4Net::new(n.network(), l)
                        .ok()
                        .map(|x| IpNet::V4(x.trunc()))
                },
                &IpNet::V4(*n),
            ),
            IpNet::V6(n) => self.overlap(
                k,
                &self.v6_lengths,
                n.prefix_len(),
                128,
                |l| {
                    Ipv6Net::new(n.network(), l)
                        .ok()
                        .map(|x| IpNet::V6(x.trunc()))
                },
                &IpNet::V6(*n),
            ),
        }
    }

    fn overlap(
        &self,
        k: &Key,
        lens: &[u8],
        c: u8,
        max: u8,
        at: impl Fn(u8) -> Option<IpNet>,
        cand: &IpNet,
    ) -> bool {
        let has = |kind: &str, n: &IpNet| self.networks.contains(&k.digest(kind, &n.to_string()));
        let (exact, marker) = if max == 32 {
            ("net4", "in4")
        } else {
            ("net6", "in6")
        };
        // Candidate inside (or equal to) a registered range.
        for &l in lens.iter().filter(|&&l| l <= c) {
            if at(l).is_some_and(|n| has(exact, &n)) {
                return true;
            }
        }
        // Registered range inside the candidate.
        let m = c.div_ceil(8).saturating_mul(8).min(max);
        for &l in lens.iter().filter(|&&l| l > c && l <= m) {
            if subnets(cand, l).iter().any(|n| has(exact, n)) {
                return true;
            }
        }
        if lens.iter().any(|&l| l > m) && subnets(cand, m).iter().any(|n| has(marker, n)) {
            return true;
        }
        false
    }
}

/// The register's answers already given for one item: the same host, address or network often
/// appears in several of its strings (a pattern, then each comparison in it), and each answer
/// costs HMACs. Answers only; the caller still records a finding at every path.
#[derive(Default)]
pub(crate) struct Answers {
    hosts: BTreeMap<String, bool>,
    emails: BTreeMap<String, bool>,
    networks: BTreeMap<IpNet, bool>,
}

impl Answers {
    /// [`Register::host_hit`], once per host.
    pub(crate) fn host_hit(&mut self, reg: &Register, host: &str) -> bool {
        if reg.domains.is_empty() {
            return false;
        }
        remembered(&mut self.hosts, host, || reg.host_hit(host))
    }

    /// [`Register::email_hit`], once per address.
    pub(crate) fn email_hit(&mut self, reg: &Register, email: &str) -> bool {
        if reg.emails.is_empty() {
            return false;
        }
        remembered(&mut self.emails, email, || reg.email_hit(email))
    }

    /// [`Register::network_hit`], once per network.
    pub(crate) fn network_hit(&mut self, reg: &Register, net: &IpNet) -> bool {
        if reg.networks.is_empty() {
            return false;
        }
        *self
            .networks
            .entry(*net)
            .or_insert_with(|| reg.network_hit(net))
    }
}

fn remembered(seen: &mut BTreeMap<String, bool>, key: &str, ask: impl FnOnce() -> bool) -> bool {
    if let Some(&hit) = seen.get(key) {
        return hit;
    }
    let hit = ask();
    seen.insert(key.to_owned(), hit);
    hit
}

/// The subnets of `n` at prefix length `l` (≥ its own; at most 2^8 by construction).
fn subnets(n: &IpNet, l: u8) -> Vec<IpNet> {
    n.subnets(l).map(|s| s.collect()).unwrap_or_default()
}

/// Name normalisation: lower case, whitespace runs to one space, trimmed.
pub(crate) fn normalise_name(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a string as a TOML basic string.
fn toml_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn toml_list(o: &mut String, name: &str, items: &BTreeSet<String>) {
    if items.is_empty() {
        let _ = writeln!(o, "{name} = []");
        return;
    }
    let _ = writeln!(o, "{name} = [");
    for i in items {
        let _ = writeln!(o, "  {},", toml_quote(i));
    }
    let _ = writeln!(o, "]");
}

/// Replaces the `[customers]` section of a policy text with `fragment` (a whole section, as
/// [`build_register`] makes it); appends it when the policy has none. Everything else, comments
/// included, stays byte for byte.
pub fn with_register(policy: &str, fragment: &str) -> String {
    let Some(start) = policy.find("\n[customers]").map(|i| i + 1) else {
        return format!("{}\n{fragment}", policy.trim_end_matches('\n'));
    };
    // The section ends where the next table header (a line starting with `[`) begins.
    let after = start + "[customers]".len();
    let end = policy[after..]
        .find("\n[")
        .map_or(policy.len(), |i| after + i + 1);
    let mut fragment = fragment.to_owned();
    if end < policy.len() && !fragment.ends_with("\n\n") {
        fragment.push('\n');
    }
    format!("{}{fragment}{}", &policy[..start], &policy[end..])
}

/// Builds the `[customers]` section of a policy from a customer list (CSV lines `kind,value`:
/// `domain,acme-bank.example`, `email,x@y`, `cidr,203.0.113.0/24`, `name,Acme Bank`,
/// `account,VRC-\d{6}`; `#` comments and blank lines ignored), as HMAC-SHA-256 digests under the
/// owner's key with its key id. Output is sorted, so the same list gives the same bytes.
pub fn build_register(key: &[u8], key_id: &str, csv: &str) -> Result<String, GuardError> {
    let k = Key::new(key)?;
    if key_id.is_empty()
        || key_id.len() > 64
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(GuardError::CustomerList {
            line: 0,
            reason: "key id must be 1-64 of [A-Za-z0-9._-]",
        });
    }
    let (mut domains, mut emails, mut names, mut nets, mut accounts) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    let (mut forms, mut first, mut max_tokens) = (BTreeSet::new(), BTreeSet::new(), 0usize);
    let sip = k.prefilter();
    let (mut l4, mut l6) = (BTreeSet::new(), BTreeSet::new());
    let mut count = 0usize;
    for (i, raw) in csv.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((kind, value)) = t.split_once(',') else {
            return Err(GuardError::CustomerList {
                line,
                reason: "expected kind,value",
            });
        };
        let (kind, value) = (kind.trim().to_ascii_lowercase(), value.trim());
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if kind == "kind" && line == 1 {
            continue; // header
        }
        let bad = |reason| GuardError::CustomerList { line, reason };
        match kind.as_str() {
            "domain" => {
                let d = canon::canonical_domain(value).ok_or(bad("not a domain name"))?;
                if !d.contains('.') {
                    return Err(bad("a customer domain needs at least two labels"));
                }
                domains.insert(hex::encode(k.digest("domain", &d)));
            }
            "email" => {
                let e = canon::canonical_email(value).ok_or(bad("not an e-mail address"))?;
                emails.insert(hex::encode(k.digest("email", &e)));
            }
            "name" => {
                let n = normalise_name(value);
                if n.is_empty() {
                    return Err(bad("empty name"));
                }
                names.insert(hex::encode(k.digest("name", &n)));
                let canonical = names::register_forms(value);
                if canonical.is_empty() {
                    return Err(bad("a name needs a word besides its legal form"));
                }
                for f in canonical {
                    let count = names::token_count(&f);
                    if count > usize::from(u8::MAX) {
                        return Err(bad("a name has more than 255 words"));
                    }
                    max_tokens = max_tokens.max(count);
                    let head = f.split(' ').next().unwrap_or_default();
                    first.insert(format!("{:016x}", sip.hash(head.as_bytes())));
                    forms.insert(hex::encode(k.digest("name/2", &f)));
                }
            }
            "cidr" | "ip" => {
                let parsed = canon::parse_ip(value, false);
                // IPv4-mapped forms register their IPv4 range too.
                if parsed.is_empty() {
                    return Err(bad("not an IP address or CIDR range"));
                }
                for n in parsed {
                    let (exact, marker, len) = match n {
                        IpNet::V4(_) => ("net4", "in4", &mut l4),
                        IpNet::V6(_) => ("net6", "in6", &mut l6),
                    };
                    let l = n.prefix_len();
                    len.insert(l);
                    nets.insert(hex::encode(k.digest(exact, &n.to_string())));
                    for m in (0..l).step_by(8) {
                        if let Some(sup) = n.supernet_at(m) {
                            nets.insert(hex::encode(k.digest(marker, &sup.to_string())));
                        }
                    }
                }
            }
            "account" => {
                if compile_accounts(&[value.to_owned()]).is_err() {
                    return Err(bad("account pattern does not compile"));
                }
                accounts.insert(value.to_owned());
            }
            _ => return Err(bad("kind must be domain, email, name, cidr or account")),
        }
        count += 1;
    }
    let mut o = String::new();
    let _ = writeln!(o, "[customers]");
    let _ = writeln!(
        o,
        "# Built by `borderlog policy customers` from {count} entries. HMAC-SHA-256 digests under the\n\
         # owner's register key: the customer list itself never leaves the sender."
    );
    let _ = writeln!(o, "key_id = {}", toml_quote(key_id));
    let _ = writeln!(o, "key_check = \"{}\"", hex::encode(k.check()));
    toml_list(&mut o, "domains", &domains);
    toml_list(&mut o, "emails", &emails);
    toml_list(&mut o, "names", &names);
    let _ = writeln!(
        o,
        "# Names in free text (policy format 2): canonical forms, a keyed first-word prefilter, and\n\
         # the longest name in words."
    );
    toml_list(&mut o, "name_forms", &forms);
    toml_list(&mut o, "name_first", &first);
    let _ = writeln!(o, "name_tokens = {max_tokens}");
    toml_list(&mut o, "networks", &nets);
    let join = |s: &BTreeSet<u8>| s.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
    let _ = writeln!(o, "ipv4_lengths = [{}]", join(&l4));
    let _ = writeln!(o, "ipv6_lengths = [{}]", join(&l6));
    let _ = writeln!(
        o,
        "# Account-id formats are in clear: they describe the sender's own numbering, not a customer."
    );
    toml_list(&mut o, "account_patterns", &accounts);
    Ok(o)
}

/// The network of `n` at a shorter prefix length.
trait SupernetAt {
    fn supernet_at(&self, l: u8) -> Option<IpNet>;
}

impl SupernetAt for IpNet {
    fn supernet_at(&self, l: u8) -> Option<IpNet> {
        match self {
            IpNet::V4(n) => Ipv4Net::new(n.network(), l)
                .ok()
                .map(|x| IpNet::V4(x.trunc())),
            IpNet::V6(n) => Ipv6Net::new(n.network(), l)
                .ok()
                .map(|x| IpNet::V6(x.trunc())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef-test-key";

    fn reg(csv: &str) -> Register {
        let frag = build_register(KEY, "t1", csv).expect("build");
        #[derive(Deserialize)]
        struct W {
            customers: RegisterDoc,
        }
        let w: W = toml::from_str(&frag).expect("toml");
        let mut r = Register::from_doc(w.customers).expect("register");
        r.load_key(KEY).expect("key");
        r
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    #[test]
    fn domain_suffixes() {
        let r = reg("domain,Acme-Bank.Example.\n");
        assert!(r.host_hit("acme-bank.example"));
        assert!(r.host_hit("mail.eu.acme-bank.example"));
        assert!(!r.host_hit("acme-bank.example.evil"));
        assert!(!r.host_hit("notacme-bank.example"));
        assert!(!r.host_hit("example"));
    }

    #[test]
    fn idn_domains_match_in_punycode() {
        let r = reg("domain,bücher-bank.example\n");
        assert!(r.host_hit(&canon::canonical_domain("BÜCHER-bank.example").expect("d")));
        assert!(r.host_hit("xn--bcher-bank-9db.example"));
    }

    #[test]
    fn emails_and_names() {
        let r = reg("email,Jane.Doe@Acme-Bank.example\nname,Acme   Bank\n");
        assert!(r.email_hit("jane.doe@acme-bank.example"));
        assert!(r.email_hit("jane.doe+phish@acme-bank.example"));
        assert!(!r.email_hit("john@acme-bank.example"));
        assert!(r.name_hit(" ACME bank "));
        assert!(!r.name_hit("Acme Bank Holdings"));
    }

    #[test]
    fn cidr_overlap_both_ways() {
        let r = reg("cidr,203.0.113.0/24\ncidr,2001:db8:acce::/48\nip,198.51.100.7\n");
        assert!(r.network_hit(&net("203.0.113.9/32")));
        assert!(r.network_hit(&net("203.0.113.128/25")));
        assert!(r.network_hit(&net("203.0.113.0/24")));
        assert!(r.network_hit(&net("203.0.112.0/23")));
        assert!(r.network_hit(&net("203.0.0.0/15")));
        assert!(r.network_hit(&net("203.0.0.0/16")));
        assert!(r.network_hit(&net("192.0.0.0/3")));
        assert!(r.network_hit(&net("0.0.0.0/0")));
        assert!(!r.network_hit(&net("203.0.114.0/24")));
        assert!(!r.network_hit(&net("203.0.114.0/23")));
        assert!(r.network_hit(&net("198.51.100.7/32")));
        assert!(r.network_hit(&net("198.51.100.0/29")));
        assert!(!r.network_hit(&net("198.51.100.8/29")));
        assert!(r.network_hit(&net("2001:db8:acce:1::5/128")));
        assert!(r.network_hit(&net("2001:db8::/32")));
        assert!(!r.network_hit(&net("2001:db8:accf::/48")));
    }

    #[test]
    fn key_is_checked_and_required() {
        let frag = build_register(KEY, "t1", "domain,acme-bank.example").expect("b");
        #[derive(Deserialize)]
        struct W {
            customers: RegisterDoc,
        }
        let w: W = toml::from_str(&frag).expect("toml");
        let mut r = Register::from_doc(w.customers).expect("r");
        assert!(r.needs_key());
        assert!(!r.host_hit("acme-bank.example"));
        assert!(matches!(
            r.load_key(b"another-key-of-16+bytes"),
            Err(GuardError::RegisterKeyMismatch(_))
        ));
        assert!(matches!(
            r.load_key(b"short"),
            Err(GuardError::WeakRegisterKey)
        ));
    }

    #[test]
    fn csv_errors_name_the_line_not_the_value() {
        let e = build_register(KEY, "t1", "domain,ok.example\nphone,+44 20 7946 0958\n")
            .expect_err("bad kind");
        assert_eq!(
            e,
            GuardError::CustomerList {
                line: 2,
                reason: "kind must be domain, email, name, cidr or account"
            }
        );
        assert!(!e.to_string().contains("7946"));
        assert!(build_register(KEY, "t1", "domain,single\n").is_err());
        assert!(build_register(KEY, "bad id", "").is_err());
    }

    #[test]
    fn output_is_deterministic() {
        let a = build_register(KEY, "t1", "domain,b.example\ndomain,a.example\n").expect("a");
        let b = build_register(KEY, "t1", "domain,a.example\ndomain,b.example\n").expect("b");
        assert_eq!(a, b);
        assert!(!a.contains("a.example"));
    }

    #[test]
    fn with_register_replaces_only_the_customers_section() {
        let policy = "a = 1\n[customers]\nkey_id = \"\"\n[other]\nb = 2\n";
        let out = with_register(policy, "[customers]\nkey_id = \"k\"\n");
        assert_eq!(
            out,
            "a = 1\n[customers]\nkey_id = \"k\"\n\n[other]\nb = 2\n"
        );
        let last = with_register(
            "a = 1\n[customers]\nkey_id = \"\"\n",
            "[customers]\nx = 1\n",
        );
        assert_eq!(last, "a = 1\n[customers]\nx = 1\n");
        let none = with_register("a = 1\n", "[customers]\nx = 1\n");
        assert_eq!(none, "a = 1\n[customers]\nx = 1\n");
    }
}
