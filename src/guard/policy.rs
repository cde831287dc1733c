//! The policy document: TOML, versioned, signed by the data owner and recorded in the log.
//! `policy_hash = SHA-256(policy bytes)`, over the exact bytes, so any change is a new policy.
//!
//! Parsing is strict (unknown keys are errors: a typo must not silently weaken the policy) and
//! compiles every detector once, so a [`Policy`] is cheap to share (`Arc<Policy>`) and to use
//! from many threads.

use std::collections::BTreeSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::GuardError;
use super::allow::{AllowDoc, AllowList};
use super::context::VictimWords;
use super::customer::{Register, RegisterDoc};
use super::personal::{Enabled, Format2};
use super::retention::{Retention, RetentionDoc};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    /// The policy format: absent or 1 for the rules before customer names in prose and
    /// personal identifiers everywhere; 2 for those. Old entries keep their format's verdicts.
    #[serde(default)]
    format: Option<u32>,
    version: String,
    owner: String,
    tlp: TlpDoc,
    context: ContextDoc,
    limits: LimitsDoc,
    detectors: DetectorsDoc,
    allow: AllowDoc,
    #[serde(default)]
    customers: RegisterDoc,
    #[serde(default)]
    retention: RetentionDoc,
    #[serde(default)]
    exceptions: Option<ExceptionsDoc>,
}

/// `[exceptions]` (format 2): where personal identifiers are recorded as actor-owned.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsDoc {
    actor_owned_types: Vec<String>,
    actor_owned_labels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlpDoc {
    red_recipients: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextDoc {
    require_purpose_and_legal_basis: bool,
    suspect_data_purposes: Vec<String>,
    victim_words: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsDoc {
    max_item_bytes: usize,
    max_findings: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectorsDoc {
    documentation_values_allowed: bool,
    inside_suffixes: Vec<String>,
    documentation_suffixes: Vec<String>,
    single_label_hosts: bool,
    home_placeholders: Vec<String>,
    cards: bool,
    iban: bool,
    ssn: bool,
    nino: bool,
    phones: bool,
    #[serde(default)]
    national_ids: Option<bool>,
    #[serde(default)]
    phone_regions: Option<Vec<String>>,
    #[serde(default)]
    opaque_identifiers: Option<bool>,
    #[serde(default)]
    phones_fail_closed: Option<bool>,
}

/// Detector settings, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Detectors {
    pub(crate) documentation_values_allowed: bool,
    pub(crate) inside_suffixes: Vec<String>,
    pub(crate) documentation_suffixes: Vec<String>,
    pub(crate) single_label_hosts: bool,
    pub(crate) home_placeholders: Vec<String>,
    pub(crate) personal: Enabled,
    /// Format 2's rules and recorded exceptions; None under format 1.
    pub(crate) v2: Option<Format2Rules>,
}

/// What format 2 adds: its detectors and the recorded actor-owned exceptions.
#[derive(Debug, Clone)]
pub(crate) struct Format2Rules {
    pub(crate) detectors: Format2,
    /// Object types whose own strings may carry actor-owned personal identifiers.
    pub(crate) actor_owned_types: BTreeSet<String>,
    /// Labels by which a sender marks an object's personal identifiers as actor-owned.
    pub(crate) actor_owned_labels: BTreeSet<String>,
}

/// The highest policy format this build screens.
pub const MAX_FORMAT: u32 = 2;

fn format2(d: &Document) -> Result<Option<Format2Rules>, GuardError> {
    let invalid = |m: &str| Err(GuardError::PolicyInvalid(m.to_owned()));
    let format = d.format.unwrap_or(1);
    let det = &d.detectors;
    match format {
        1 => {
            if det.national_ids.is_some()
                || det.phone_regions.is_some()
                || det.opaque_identifiers.is_some()
                || det.phones_fail_closed.is_some()
                || d.exceptions.is_some()
            {
                return invalid(
                    "detectors.national_ids, detectors.phone_regions, detectors.opaque_identifiers, detectors.phones_fail_closed and [exceptions] need format = 2",
                );
            }
            Ok(None)
        }
        2 => {
            let (Some(national_ids), Some(regions)) = (det.national_ids, &det.phone_regions) else {
                return invalid(
                    "format 2 needs detectors.national_ids and detectors.phone_regions",
                );
            };
            let mut phone_regions = Vec::with_capacity(regions.len());
            for r in regions {
                match r.parse::<phonenumber::country::Id>() {
                    Ok(id) if !phone_regions.contains(&id) => phone_regions.push(id),
                    Ok(_) => {}
                    Err(_) => {
                        return invalid(
                            "detectors.phone_regions: not an ISO 3166 region libphonenumber knows",
                        );
                    }
                }
            }
            let ex = d.exceptions.as_ref();
            let set = |v: Option<&Vec<String>>| -> BTreeSet<String> {
                v.into_iter().flatten().cloned().collect()
            };
            Ok(Some(Format2Rules {
                detectors: Format2 {
                    national_ids,
                    phone_regions,
                    // Absent in the first format-2 policies: their verdicts read inside them.
                    opaque_identifiers: det.opaque_identifiers.unwrap_or(false),
                    // Absent before 2026.4: valid numbers only, dotted pairs read as dates.
                    phones: if det.phones_fail_closed.unwrap_or(false) {
                        super::phone::Strictness::FailClosed
                    } else {
                        super::phone::Strictness::Valid
                    },
                },
                actor_owned_types: set(ex.map(|e| &e.actor_owned_types)),
                actor_owned_labels: set(ex.map(|e| &e.actor_owned_labels)),
            }))
        }
        _ => invalid("format must be 1 or 2"),
    }
}

/// A parsed, validated policy with its detectors compiled: what every item is screened against.
pub struct Policy {
    hash: [u8; 32],
    version: String,
    owner: String,
    red_recipients: BTreeSet<String>,
    require_declared: bool,
    suspect_purposes: Vec<String>,
    victim_words: VictimWords,
    max_item_bytes: usize,
    max_findings: usize,
    pub(crate) det: Detectors,
    allow: AllowList,
    pub(crate) register: Register,
    retention: Retention,
}

fn lower_suffixes(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|s| {
            s.trim()
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

impl Policy {
    /// Parses and validates a policy document (bytes exactly as signed).
    pub fn parse(bytes: &[u8]) -> Result<Policy, GuardError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| GuardError::PolicySyntax("not UTF-8".into()))?;
        let d: Document =
            toml::from_str(text).map_err(|e| GuardError::PolicySyntax(e.message().to_owned()))?;
        let invalid = |m: &str| GuardError::PolicyInvalid(m.to_owned());
        if d.version.trim().is_empty() {
            return Err(invalid("version is empty"));
        }
        if d.owner.trim().is_empty() {
            return Err(invalid("owner is empty"));
        }
        if d.limits.max_item_bytes == 0 || d.limits.max_findings == 0 {
            return Err(invalid("limits must be positive"));
        }
        if d.allow.types_is_empty() {
            return Err(invalid("allow.types is empty: nothing could cross"));
        }
        let victim_words = VictimWords::new(&d.context.victim_words)
            .ok_or_else(|| invalid("context.victim_words do not compile"))?;
        let v2 = format2(&d)?;
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        Ok(Policy {
            hash,
            version: d.version,
            owner: d.owner,
            red_recipients: d.tlp.red_recipients.into_iter().collect(),
            require_declared: d.context.require_purpose_and_legal_basis,
            suspect_purposes: d
                .context
                .suspect_data_purposes
                .into_iter()
                .map(|s| s.trim().to_lowercase())
                .collect(),
            victim_words,
            max_item_bytes: d.limits.max_item_bytes,
            max_findings: d.limits.max_findings,
            det: Detectors {
                documentation_values_allowed: d.detectors.documentation_values_allowed,
                inside_suffixes: lower_suffixes(d.detectors.inside_suffixes),
                documentation_suffixes: lower_suffixes(d.detectors.documentation_suffixes),
                single_label_hosts: d.detectors.single_label_hosts,
                home_placeholders: d
                    .detectors
                    .home_placeholders
                    .into_iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
                personal: Enabled {
                    cards: d.detectors.cards,
                    iban: d.detectors.iban,
                    ssn: d.detectors.ssn,
                    nino: d.detectors.nino,
                    phones: d.detectors.phones,
                },
                v2,
            },
            allow: AllowList::from_doc(d.allow),
            register: Register::from_doc(d.customers)?,
            retention: Retention::from_doc(d.retention)?,
        })
    }

    /// Parses a policy and loads the owner's register key (checked against `key_check`), so the
    /// customer register is in force.
    pub fn parse_keyed(bytes: &[u8], register_key: &[u8]) -> Result<Policy, GuardError> {
        let mut p = Policy::parse(bytes)?;
        p.register.load_key(register_key)?;
        Ok(p)
    }

    /// SHA-256 of the exact policy bytes: recorded in every Disclosure and Refusal.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The policy's own version string.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The policy format (1 when the document names none).
    pub fn format(&self) -> u32 {
        if self.det.v2.is_some() { 2 } else { 1 }
    }

    /// The data owner (sender party name) who signs it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// True when the policy has a customer register and no key is loaded: screening then refuses
    /// every item (`customer.key/1`), failing closed.
    pub fn register_needs_key(&self) -> bool {
        self.register.needs_key()
    }

    /// The register's key id ("" when there is no register).
    pub fn register_key_id(&self) -> &str {
        &self.register.key_id
    }

    /// How long payloads are kept (`[retention]`); never consulted by screening.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    pub(crate) fn red_recipient_allowed(&self, recipient: &str) -> bool {
        self.red_recipients.contains(recipient)
    }
    pub(crate) fn require_declared(&self) -> bool {
        self.require_declared
    }
    pub(crate) fn suspect_purposes(&self) -> &[String] {
        &self.suspect_purposes
    }
    pub(crate) fn victim_words(&self) -> &VictimWords {
        &self.victim_words
    }
    pub(crate) fn max_item_bytes(&self) -> usize {
        self.max_item_bytes
    }
    pub(crate) fn max_findings(&self) -> usize {
        self.max_findings
    }
    pub(crate) fn allow(&self) -> &AllowList {
        &self.allow
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.version)
            .field("owner", &self.owner)
            .field("hash", &hex::encode(self.hash))
            .finish_non_exhaustive()
    }
}
