//! The boundary guard: the deterministic, versioned screening policy every item passes before it
//! crosses from the sender to the recipient (docs/DESIGN.md, "The boundary guard").
//!
//! Pure: no I/O, no clock, no randomness (only [`bench`] reads the clock, and screening never
//! calls it). The same policy bytes, item bytes and declared context give the same [`Verdict`]
//! on any machine, so an auditor can replay every recorded decision with [`replay`].
//!
//! Module map, one concern each:
//! - [`policy`]: the TOML policy document, its validation and hash;
//! - [`retention`]: how long payloads are kept (the policy's `[retention]`; not screening);
//! - [`rules`]: every rule id with its class and hint;
//! - [`stix`]: STIX 2.1 and TLP 2.0 structure;
//! - [`allow`]: the type/property allow-list and identity rules;
//! - [`context`]: is a string about a threat actor or about a victim;
//! - [`canon`]: canonicalising and extracting domains, e-mails, IPs and URLs;
//! - [`customer`]: the HMAC customer register and its matching;
//! - [`inside`]: signs of a customer's inside (special-use IPs, internal hosts, home paths, accounts);
//! - [`personal`]: victim personal-data detectors (cards, IBAN, SSN, NINO, phones);
//! - `json`: the item's JSON as a tree of strings borrowed from its bytes;
//! - `scan`: the walk over every string of an item that drives the detectors;
//! - [`bench`]: throughput measurement for `borderlog bench --guard`.

pub mod allow;
pub mod bench;
pub mod canon;
pub mod context;
pub mod customer;
pub mod ids;
pub mod inside;
mod json;
pub mod measure;
pub mod names;
pub mod personal;
pub mod phone;
pub mod policy;
pub mod retention;
pub mod rules;
mod scan;
pub mod stix;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

pub use customer::build_register;
pub use policy::Policy;

/// The policy `borderlog init` writes: threat data only, an empty customer register.
pub const DEFAULT_POLICY: &str = include_str!("../../policy/default.toml");

/// The default policy with `owner` set to the given data owner (the embedded default names
/// "vendor-research", the sender `borderlog init` makes).
pub fn default_policy_for(owner: &str) -> String {
    const OWNER_LINE: &str = "owner = \"vendor-research\"";
    debug_assert!(DEFAULT_POLICY.contains(OWNER_LINE));
    let quoted = serde_json::to_string(owner).expect("a string encodes");
    DEFAULT_POLICY.replacen(OWNER_LINE, &format!("owner = {quoted}"), 1)
}

/// Who sends what to whom and why: the declared context the policy screens against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    /// The sending party's name (the data owner's side).
    pub sender: &'a str,
    /// The receiving party's name; TLP:RED is only for recipients the policy names.
    pub recipient: &'a str,
    /// Declared purpose, e.g. "cybercrime investigation support".
    pub purpose: &'a str,
    /// Declared legal basis for the transfer.
    pub legal_basis: &'a str,
}

/// Why an item may not cross, in one of two classes that map to distinct gRPC codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingClass {
    /// The item is not valid STIX 2.1/TLP 2.0: a client error (INVALID_ARGUMENT).
    Schema,
    /// The item is valid but the policy refuses it (FAILED_PRECONDITION).
    Policy,
}

impl FindingClass {
    /// Stable lower-case name for logs and error details.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingClass::Schema => "schema",
            FindingClass::Policy => "policy",
        }
    }
}

/// Where and which rule — never the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Finding {
    /// JSON path inside the item, e.g. `$.pattern` or `$.external_references[0].url`. Property
    /// names outside the STIX/policy vocabulary appear as `{n}` (their position in sorted key
    /// order), because a name could itself be the offending value.
    pub path: String,
    /// Versioned rule id from [`rules::RULES`], e.g. "customer.domain/1".
    pub rule: &'static str,
    /// Schema (client error) or Policy (refusal).
    pub class: FindingClass,
    /// What to fix, as a fixed sentence of the rule; never contains the value.
    pub hint: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.path,
            self.rule,
            self.class.as_str(),
            self.hint
        )
    }
}

/// Where a finding was made: in an item of the submission (its index), or in the disclosure
/// body's own free text, which crosses the boundary as surely as an item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    /// The item at this index of the submission.
    Item(u32),
    /// The body's purpose, legal basis or case reference.
    Body,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Item(i) => write!(f, "item {i}"),
            Place::Body => f.write_str("the body"),
        }
    }
}

/// TLP 2.0 levels (FIRST), the marking every item carries exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlp {
    /// TLP:CLEAR.
    Clear,
    /// TLP:GREEN.
    Green,
    /// TLP:AMBER.
    Amber,
    /// TLP:AMBER+STRICT.
    AmberStrict,
    /// TLP:RED.
    Red,
}

impl Tlp {
    /// All levels, lowest first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The name used in `ItemCommitment.tlp`: "clear", "green", "amber", "amber+strict", "red".
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The FIRST TLP 2.0 marking-definition id of this level.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The level whose FIRST marking-definition id this is, if any.
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        Tlp::ALL.into_iter().find(|t| t.marking_id() == id)
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Tlp, GuardError> {
        Tlp::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(GuardError::UnknownTlp)
    }
}

/// What the guard learnt about an accepted item, for the disclosure's `ItemCommitment`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemSummary {
    /// The item's STIX id.
    pub stix_id: String,
    /// The item's STIX type.
    pub stix_type: String,
    /// Its one TLP 2.0 marking (a TLP marking-definition item itself is Clear).
    pub tlp: Tlp,
}

/// The outcome of screening one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The item may cross.
    Accepted(ItemSummary),
    /// The item may not cross; findings sorted by (path, rule), never empty.
    Refused(Vec<Finding>),
}

impl Verdict {
    /// True when the item may cross.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted(_))
    }

    /// The findings of a refusal (empty when accepted).
    pub fn findings(&self) -> &[Finding] {
        match self {
            Verdict::Accepted(_) => &[],
            Verdict::Refused(f) => f,
        }
    }

    /// Schema when every finding is a schema finding (a plain client error), else Policy.
    pub fn class(&self) -> Option<FindingClass> {
        match self {
            Verdict::Accepted(_) => None,
            Verdict::Refused(f) if f.iter().all(|x| x.class == FindingClass::Schema) => {
                Some(FindingClass::Schema)
            }
            Verdict::Refused(_) => Some(FindingClass::Policy),
        }
    }
}

/// Errors about the policy, the register input or a bundle — never about an item (items get a
/// [`Verdict`]). Messages never quote customer values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError {
    /// The policy bytes are not UTF-8 or not TOML of the expected shape.
    #[error("policy document does not parse: {0}")]
    PolicySyntax(String),
    /// The policy parses but breaks a rule (empty version, bad digest, bad regex, ...).
    #[error("policy document is invalid: {0}")]
    PolicyInvalid(String),
    /// The register key given does not match the policy's `key_check`.
    #[error("the register key does not match the policy's customer register (key id {0})")]
    RegisterKeyMismatch(String),
    /// The policy has a customer register and the replay was not given its key.
    #[error("the policy's customer register (key id {0}) needs the owner's register key")]
    RegisterKeyRequired(String),
    /// A customer-list line is malformed (the line number only, never its content).
    #[error("customer list line {line}: {reason}")]
    CustomerList {
        /// 1-based line number.
        line: usize,
        /// What is wrong, without the value.
        reason: &'static str,
    },
    /// The register key is empty or too short to be a secret.
    #[error("the register key must be at least 16 bytes")]
    WeakRegisterKey,
    /// The bytes are not a STIX bundle we can unwrap.
    #[error("not a STIX 2.1 bundle: {0}")]
    Bundle(&'static str),
    /// A line of a measured corpus (`cases.jsonl`) is malformed (line number only).
    #[error("corpus line {line}: {reason}")]
    Corpus {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A TLP name that is not one of the five TLP 2.0 levels.
    #[error("unknown TLP level (use clear, green, amber, amber+strict or red)")]
    UnknownTlp,
}

/// The one pure replay function the auditor uses: parse then screen. A policy with a
/// non-empty customer register needs its key: use [`replay_keyed`].
pub fn replay(policy_bytes: &[u8], ctx: &Context, item: &[u8]) -> Result<Verdict, GuardError> {
    let policy = Policy::parse(policy_bytes)?;
    if policy.register_needs_key() {
        return Err(GuardError::RegisterKeyRequired(
            policy.register_key_id().to_owned(),
        ));
    }
    Ok(policy.screen(ctx, item))
}

/// [`replay`] for a policy whose customer register is in force: the auditor holds the owner's
/// register key (the log holds only digests, so no one can replay register matches without it).
pub fn replay_keyed(
    policy_bytes: &[u8],
    register_key: &[u8],
    ctx: &Context,
    item: &[u8],
) -> Result<Verdict, GuardError> {
    Ok(Policy::parse_keyed(policy_bytes, register_key)?.screen(ctx, item))
}

/// A bundle's objects as separate items. Marking-definitions that the bundle's other objects
/// reference are not items themselves (they are what the items' markings point at). Each item
/// is re-encoded compactly with sorted keys, so unwrapping is deterministic.
pub fn unwrap_bundle(json: &[u8]) -> Result<Vec<Vec<u8>>, GuardError> {
    let value = stix::parse_strict(json).map_err(|_| GuardError::Bundle("not a JSON object"))?;
    let obj = value
        .as_object()
        .ok_or(GuardError::Bundle("not a JSON object"))?;
    if obj.get("type").and_then(|t| t.as_str()) != Some("bundle") {
        return Err(GuardError::Bundle("type is not \"bundle\""));
    }
    let objects = match obj.get("objects") {
        Some(serde_json::Value::Array(a)) => a,
        None => return Ok(Vec::new()),
        Some(_) => return Err(GuardError::Bundle("objects is not an array")),
    };
    // Every marking id referenced by a non-marking object of the bundle.
    let mut referenced: BTreeSet<&str> = BTreeSet::new();
    for o in objects {
        if let Some(refs) = o.get("object_marking_refs").and_then(|r| r.as_array()) {
            referenced.extend(refs.iter().filter_map(|r| r.as_str()));
        }
        if let Some(g) = o.get("granular_markings").and_then(|r| r.as_array()) {
            referenced.extend(
                g.iter()
                    .filter_map(|m| m.get("marking_ref").and_then(|r| r.as_str())),
            );
        }
    }
    let mut items = Vec::with_capacity(objects.len());
    for o in objects {
        let is_marking = o.get("type").and_then(|t| t.as_str()) == Some("marking-definition");
        let id = o.get("id").and_then(|t| t.as_str()).unwrap_or("");
        if is_marking && referenced.contains(id) {
            continue;
        }
        let bytes =
            serde_json::to_vec(o).map_err(|_| GuardError::Bundle("object does not encode"))?;
        items.push(bytes);
    }
    Ok(items)
}

impl Policy {
    /// Screens one item (one STIX 2.1 object's JSON bytes). Deterministic: same policy bytes +
    /// item bytes + context → same verdict, on any machine.
    pub fn screen(&self, ctx: &Context, item: &[u8]) -> Verdict {
        let mut out = scan::Findings::default();
        let summary = self.screen_into(ctx, item, &mut out);
        let findings = out.into_sorted(self.max_findings());
        match summary {
            Some(s) if findings.is_empty() => Verdict::Accepted(s),
            _ if findings.is_empty() => {
                // Unreachable in practice: no summary means a schema finding was recorded.
                Verdict::Refused(vec![scan::finding("$", rules::SCHEMA_JSON)])
            }
            _ => Verdict::Refused(findings),
        }
    }

    /// Screens the disclosure body's free text — `ctx`'s purpose and legal basis, and the
    /// case reference — with the item scanners (customer identifiers, inside paths and
    /// accounts, personal data where the text speaks of victims). Paths are `$.purpose`,
    /// `$.legal_basis` and `$.case_reference`; no finding means the body may cross.
    pub fn screen_body(&self, ctx: &Context, case_reference: &str) -> Vec<Finding> {
        let mut out = scan::Findings::default();
        scan::scan_text(
            self,
            &[
                ("purpose", ctx.purpose),
                ("legal_basis", ctx.legal_basis),
                ("case_reference", case_reference),
            ],
            &mut out,
        );
        out.into_sorted(self.max_findings())
    }

    fn screen_into(
        &self,
        ctx: &Context,
        item: &[u8],
        out: &mut scan::Findings,
    ) -> Option<ItemSummary> {
        if item.len() > self.max_item_bytes() {
            out.add_root(rules::SCHEMA_SIZE);
            return None;
        }
        let value = match json::parse(item) {
            Ok(v) => v,
            Err(stix::ParseError::DuplicateKey) => {
                out.add_root(rules::SCHEMA_DUPLICATE_KEY);
                return None;
            }
            Err(stix::ParseError::Json) => {
                out.add_root(rules::SCHEMA_JSON);
                return None;
            }
        };
        let Some(obj) = value.as_object() else {
            out.add_root(rules::SCHEMA_JSON);
            return None;
        };
        if self.require_declared()
            && (ctx.purpose.trim().is_empty() || ctx.legal_basis.trim().is_empty())
        {
            out.add_root(rules::CONTEXT_DECLARED);
        }
        let shape = stix::check(obj, out);
        let tlp = stix::check_tlp(obj, shape.as_ref(), out);
        if tlp == Some(Tlp::Red) && !self.red_recipient_allowed(ctx.recipient) {
            out.add("$.object_marking_refs", rules::TLP_RED_RECIPIENT);
        }
        let persona = allow::check(self, ctx, obj, shape.as_ref(), out);
        scan::scan_item(self, obj, shape.as_ref(), persona, out);
        let shape = shape?;
        Some(ItemSummary {
            stix_id: shape.id,
            stix_type: shape.stix_type,
            tlp: tlp?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_names_its_owner() {
        let policy = Policy::parse(default_policy_for("acme-research").as_bytes()).unwrap();
        assert_eq!(policy.owner(), "acme-research");
        let stock = Policy::parse(DEFAULT_POLICY.as_bytes()).unwrap();
        assert_eq!(stock.owner(), "vendor-research");
        assert_eq!(default_policy_for("vendor-research"), DEFAULT_POLICY);
    }
}
