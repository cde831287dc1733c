//! The allow-list by type and property: only what the policy names may cross. Unknown
//! properties (custom `x_` ones included) are refused unless the policy allows them, because an
//! unknown property is a place nobody reviewed.
//!
//! Identities: organisations and groups may cross; an individual only as a threat-actor
//! persona under a purpose the policy lists for suspects' data (see `context`). TLP 2.0
//! marking-definitions may cross as items; any other marking-definition may not.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::context;
use super::json::{Json, Object};
use super::scan::Findings;
use super::stix::{Kind, Shape};
use super::{Context, Policy, Tlp, rules};

/// The `[allow]` section of the policy, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllowDoc {
    pattern_types: Vec<String>,
    identity_classes: Vec<String>,
    sdo_common: Vec<String>,
    sco_common: Vec<String>,
    #[serde(default)]
    custom_properties: Vec<String>,
    types: BTreeMap<String, Vec<String>>,
}

/// The compiled allow-list.
#[derive(Debug, Clone)]
pub struct AllowList {
    pattern_types: BTreeSet<String>,
    identity_classes: BTreeSet<String>,
    sdo_common: BTreeSet<String>,
    sco_common: BTreeSet<String>,
    custom: BTreeSet<String>,
    types: BTreeMap<String, BTreeSet<String>>,
    vocabulary: BTreeSet<String>,
}

impl AllowList {
    pub(crate) fn from_doc(d: AllowDoc) -> AllowList {
        let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
        let mut a = AllowList {
            pattern_types: set(d.pattern_types),
            identity_classes: set(d.identity_classes),
            sdo_common: set(d.sdo_common),
            sco_common: set(d.sco_common),
            custom: set(d.custom_properties),
            types: d.types.into_iter().map(|(k, v)| (k, set(v))).collect(),
            vocabulary: BTreeSet::new(),
        };
        let mut vocab: BTreeSet<String> = a
            .sdo_common
            .iter()
            .chain(&a.sco_common)
            .chain(&a.custom)
            .cloned()
            .collect();
        vocab.extend(a.types.values().flatten().cloned());
        a.vocabulary = vocab;
        a
    }

    /// The type may cross.
    pub fn type_allowed(&self, t: &str) -> bool {
        self.types.contains_key(t)
    }

    /// The property may cross on an object of this type and kind.
    pub fn property_allowed(&self, t: &str, kind: Kind, p: &str) -> bool {
        let common = match kind {
            Kind::Sco => &self.sco_common,
            _ => &self.sdo_common,
        };
        common.contains(p)
            || self.custom.contains(p)
            || self.types.get(t).is_some_and(|s| s.contains(p))
    }

    /// The name is policy vocabulary (shown in finding paths by name).
    pub fn is_vocabulary(&self, p: &str) -> bool {
        self.vocabulary.contains(p)
    }
}

/// Checks type, properties, pattern type and identity class. Returns true when the item is an
/// individual identity accepted as a threat-actor persona.
pub(crate) fn check(
    policy: &Policy,
    ctx: &Context,
    obj: &Object,
    shape: Option<&Shape>,
    out: &mut Findings,
) -> bool {
    let Some(shape) = shape else { return false };
    let allow = policy.allow();
    let t = shape.stix_type.as_str();
    if !allow.type_allowed(t) {
        out.add("$.type", rules::ALLOW_TYPE);
        return false;
    }
    if shape.kind == Kind::Marking {
        // Only the five TLP 2.0 definitions; their own properties are FIRST's, not the sender's.
        if Tlp::from_marking_id(&shape.id).is_none() {
            out.add("$.type", rules::ALLOW_TYPE);
        }
        return false;
    }
    for (pos, k) in obj.keys().enumerate() {
        if !allow.property_allowed(t, shape.kind, k) {
            out.add_key(
                k,
                pos,
                super::scan::shown_name(policy, k),
                rules::ALLOW_PROPERTY,
            );
        }
    }
    if t == "indicator"
        && let Some(Json::String(pt)) = obj.get("pattern_type")
        && !allow.pattern_types.contains(&**pt)
    {
        out.add("$.pattern_type", rules::ALLOW_PATTERN_TYPE);
    }
    if t == "identity" {
        let class = obj
            .get("identity_class")
            .and_then(Json::as_str)
            .unwrap_or("");
        if allow.identity_classes.contains(class) {
            return false;
        }
        if class == "individual" && context::suspects_allowed(ctx, policy.suspect_purposes()) {
            // A persona must not be described as a victim anywhere in the object.
            let victim = [
                "description",
                "roles",
                "sectors",
                "name",
                "contact_information",
            ]
            .iter()
            .filter_map(|p| obj.get(p))
            .any(|v| mentions(policy, v));
            if !victim {
                return true;
            }
        }
        out.add("$.identity_class", rules::ALLOW_IDENTITY);
    }
    false
}

fn mentions(policy: &Policy, v: &Json) -> bool {
    match v {
        Json::String(s) => policy.victim_words().mentioned(s),
        Json::Array(a) => a.iter().any(|x| mentions(policy, x)),
        _ => false,
    }
}

impl AllowDoc {
    pub(crate) fn types_is_empty(&self) -> bool {
        self.types.is_empty()
    }
}
