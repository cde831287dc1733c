//! STIX 2.1 and TLP 2.0 structure: what the OASIS schemas require of the types we handle, checked
//! by hand so the guard stays dependency-free and exactly versioned with the policy.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::json::{Json, Object};
use super::scan::Findings;
use super::{Tlp, rules};

/// Why strict parsing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8, not JSON, trailing bytes, or nested deeper than serde_json's limit (128).
    Json,
    /// An object repeats a key. serde_json alone keeps the last value silently; another parser
    /// might keep the first, so a repeated key could carry a value past the guard.
    DuplicateKey,
}

/// The message a visitor fails with on a repeated key, so that [`parse_error`] can tell it
/// from a syntax error once serde_json has wrapped it.
pub(super) const DUP_MARK: &str = "borderlog: duplicate key";

/// What a strict parse's serde_json error was.
pub(super) fn parse_error(e: &serde_json::Error) -> ParseError {
    if e.to_string().contains(DUP_MARK) {
        ParseError::DuplicateKey
    } else {
        ParseError::Json
    }
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if m.insert(k, v).is_some() {
                return Err(de::Error::custom(DUP_MARK));
            }
        }
        Ok(Value::Object(m))
    }
}

/// Parses JSON refusing repeated keys (see [`ParseError::DuplicateKey`]).
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice::<Strict>(bytes)
        .map(|Strict(v)| v)
        .map_err(|e| parse_error(&e))
}

/// The broad STIX 2.1 kinds, which decide the common properties and requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// STIX Domain Object.
    Sdo,
    /// STIX Relationship Object.
    Sro,
    /// STIX Cyber-observable Object.
    Sco,
    /// marking-definition.
    Marking,
    /// language-content, extension-definition, and custom types: checked only for type and id.
    Other,
}

const SDOS: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];
const SCOS: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// The kind of a STIX type name.
pub fn kind_of(stix_type: &str) -> Kind {
    if SDOS.contains(&stix_type) {
        Kind::Sdo
    } else if stix_type == "relationship" || stix_type == "sighting" {
        Kind::Sro
    } else if SCOS.contains(&stix_type) {
        Kind::Sco
    } else if stix_type == "marking-definition" {
        Kind::Marking
    } else {
        Kind::Other
    }
}

/// What the structural check learnt: enough to summarise an accepted item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The valid `type`.
    pub stix_type: String,
    /// The valid `id`.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
}

/// The OASIS type-name pattern `^[a-z][a-z0-9-]{0,248}[a-z0-9]$`, by hand (every item).
fn is_type_name(t: &str) -> bool {
    let b = t.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    (2..=250).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..b.len() - 1].iter().all(inner)
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
}

/// The OASIS identifier.json pattern, by hand (hot path):
/// `^[a-z][a-z0-9-]+[a-z0-9]--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`
/// (it accepts upper-case hex; the OASIS examples use it).
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 3 + 2 + 36 || b.len() > 300 {
        return false;
    }
    let (t, rest) = b.split_at(b.len() - 38);
    let (sep, u) = rest.split_at(2);
    let type_ok = t.len() >= 3
        && t[0].is_ascii_lowercase()
        && t.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && t.last().is_some_and(|&c| c != b'-');
    let uuid_ok = u.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        14 => (b'1'..=b'5').contains(&c),
        19 => matches!(c, b'8' | b'9' | b'a' | b'b' | b'A' | b'B'),
        _ => c.is_ascii_hexdigit(),
    });
    sep == b"--" && type_ok && uuid_ok
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0')))
}

/// True for a STIX 2.1 timestamp (the OASIS timestamp.json pattern: RFC 3339, UTC, `Z`,
/// optional fraction), including the day-of-month check. By hand: it runs on every timestamp.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 64 || b[b.len() - 1] != b'Z' {
        return false;
    }
    let fixed = b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
    let frac = &b[19..b.len() - 1];
    let frac_ok = frac.is_empty()
        || (frac.len() >= 2 && frac[0] == b'.' && frac[1..].iter().all(u8::is_ascii_digit));
    let (Some(y), Some(m), Some(d), Some(h), Some(mi), Some(sec)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
        digits(&b[17..19]),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    fixed
        && frac_ok
        && (1..=12).contains(&m)
        && (1..=max).contains(&d)
        && h <= 23
        && mi <= 59
        && sec <= 60
}

/// The JSON form STIX 2.1 gives a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Str,
    Bool,
    Int,
    StrList,
    Ts,
    Ref,
    RefList,
    ExtRefs,
    KillChain,
    Hashes,
}

/// Property forms of the STIX 2.1 properties we know (common + the allowed types').
fn form_of(prop: &str) -> Option<Form> {
    use Form::*;
    Some(match prop {
        "name"
        | "description"
        | "pattern"
        | "pattern_type"
        | "pattern_version"
        | "identity_class"
        | "contact_information"
        | "relationship_type"
        | "lang"
        | "resource_level"
        | "primary_motivation"
        | "sophistication"
        | "objective"
        | "value"
        | "tool_version"
        | "mime_type"
        | "serial_number"
        | "signature_algorithm"
        | "rir"
        | "definition_type"
        | "spec_version"
        | "type"
        | "id"
        | "issuer"
        | "subject"
        | "content"
        | "abstract"
        | "opinion"
        | "explanation"
        | "context" => Str,
        "is_family" | "revoked" | "is_self_signed" | "defanged" | "summary" => Bool,
        "confidence" | "count" | "number_observed" | "number" | "size" => Int,
        "labels"
        | "aliases"
        | "indicator_types"
        | "malware_types"
        | "threat_actor_types"
        | "tool_types"
        | "infrastructure_types"
        | "report_types"
        | "roles"
        | "goals"
        | "sectors"
        | "secondary_motivations"
        | "personal_motivations"
        | "architecture_execution_envs"
        | "implementation_languages"
        | "capabilities"
        | "authors" => StrList,
        "created"
        | "modified"
        | "valid_from"
        | "valid_until"
        | "first_seen"
        | "last_seen"
        | "published"
        | "start_time"
        | "stop_time"
        | "first_observed"
        | "last_observed"
        | "validity_not_before"
        | "validity_not_after" => Ts,
        "created_by_ref" | "source_ref" | "target_ref" | "sighting_of_ref" => Ref,
        "object_refs"
        | "object_marking_refs"
        | "where_sighted_refs"
        | "observed_data_refs"
        | "sample_refs"
        | "resolves_to_refs"
        | "belongs_to_refs"
        | "operating_system_refs" => RefList,
        "external_references" => ExtRefs,
        "kill_chain_phases" => KillChain,
        "hashes" => Hashes,
        _ => return None,
    })
}

/// True for property names STIX 2.1 defines that the guard knows by name (shown in paths).
pub fn is_known_property(prop: &str) -> bool {
    form_of(prop).is_some()
        || matches!(
            prop,
            "source_name"
                | "url"
                | "external_id"
                | "kill_chain_name"
                | "phase_name"
                | "extensions"
                | "granular_markings"
                | "definition"
                | "marking_ref"
                | "selectors"
                | "statement"
                | "tlp"
                | "objects"
                | "where_sighted_refs"
        )
}

/// Type-specific required properties (OASIS schemas, `required` lists).
fn required_of(stix_type: &str) -> &'static [&'static str] {
    match stix_type {
        "attack-pattern" | "campaign" | "course-of-action" | "identity" | "infrastructure"
        | "intrusion-set" | "threat-actor" | "tool" | "vulnerability" | "incident" => &["name"],
        "indicator" => &["pattern", "pattern_type", "valid_from"],
        "malware" => &["is_family"],
        "report" => &["name", "published", "object_refs"],
        "grouping" => &["context", "object_refs"],
        "note" => &["content", "object_refs"],
        "opinion" => &["opinion", "object_refs"],
        "observed-data" => &["first_observed", "last_observed", "number_observed"],
        "malware-analysis" => &["product"],
        "relationship" => &["relationship_type", "source_ref", "target_ref"],
        "sighting" => &["sighting_of_ref"],
        "domain-name" | "email-addr" | "ipv4-addr" | "ipv6-addr" | "mac-addr" | "url" => &["value"],
        "mutex" | "software" => &["name"],
        "autonomous-system" => &["number"],
        "directory" => &["path"],
        _ => &[],
    }
}

/// Checks the STIX 2.1 structure of one object; records schema findings, returns its shape when
/// type and id are valid.
pub(crate) fn check(obj: &Object, out: &mut Findings) -> Option<Shape> {
    let stix_type = match obj.get("type") {
        Some(Json::String(t)) if is_type_name(t) => Some(&**t),
        _ => {
            out.add("$.type", rules::SCHEMA_TYPE);
            None
        }
    };
    let kind = stix_type.map_or(Kind::Other, kind_of);
    let id = match (obj.get("id"), stix_type) {
        (Some(Json::String(id)), Some(t))
            if is_identifier(id) && id.split_once("--").map(|(p, _)| p) == Some(t) =>
        {
            Some(id.to_string())
        }
        _ => {
            out.add("$.id", rules::SCHEMA_ID);
            None
        }
    };
    let stix_type = stix_type?;
    // spec_version: required on SDOs, SROs and markings; optional on SCOs, but then "2.1".
    match obj.get("spec_version") {
        Some(Json::String(v)) if v == "2.1" => {}
        None if matches!(kind, Kind::Sco | Kind::Other) => {}
        _ => out.add("$.spec_version", rules::SCHEMA_SPEC_VERSION),
    }
    let mut ts_required: Vec<&str> = Vec::new();
    if matches!(kind, Kind::Sdo | Kind::Sro) {
        ts_required.extend(["created", "modified"]);
    }
    if kind == Kind::Marking {
        ts_required.push("created");
    }
    for p in ts_required {
        if !obj.contains_key(p) {
            out.add_prop(p, rules::SCHEMA_TIMESTAMP);
        }
    }
    for p in required_of(stix_type) {
        if !obj.contains_key(p) {
            out.add_prop(p, rules::SCHEMA_REQUIRED);
        }
    }
    match stix_type {
        "malware"
            if matches!(obj.get("is_family"), Some(Json::Bool(true)))
                && !obj.contains_key("name") =>
        {
            out.add("$.name", rules::SCHEMA_REQUIRED)
        }
        "file" if !obj.contains_key("name") && !obj.contains_key("hashes") => {
            out.add("$.hashes", rules::SCHEMA_REQUIRED)
        }
        "report" | "grouping" | "note" | "opinion" => {
            if matches!(obj.get("object_refs"), Some(Json::Array(a)) if a.is_empty()) {
                out.add("$.object_refs", rules::SCHEMA_VALUE);
            }
        }
        _ => {}
    }
    for (k, v) in obj.iter() {
        if let Some(form) = form_of(k) {
            check_form(k, form, v, out);
        }
    }
    Some(Shape {
        stix_type: stix_type.to_owned(),
        id: id?,
        kind,
    })
}

fn is_str_list(v: &Json) -> bool {
    matches!(v, Json::Array(a) if a.iter().all(Json::is_string))
}

fn check_form(prop: &str, form: Form, v: &Json, out: &mut Findings) {
    let ok = match form {
        Form::Str => v.is_string(),
        Form::Bool => v.is_boolean(),
        Form::Int => v.is_integer(),
        Form::StrList => is_str_list(v),
        Form::Ts => {
            if !matches!(v, Json::String(s) if is_timestamp(s)) {
                out.add_prop(prop, rules::SCHEMA_TIMESTAMP);
            }
            true
        }
        Form::Ref => matches!(v, Json::String(s) if is_identifier(s)),
        Form::RefList => {
            matches!(v, Json::Array(a) if a.iter().all(|x| matches!(x, Json::String(s) if is_identifier(s))))
        }
        Form::ExtRefs => match v {
            Json::Array(a) => a.iter().all(|r| match r {
                Json::Object(m) => {
                    matches!(m.get("source_name"), Some(Json::String(_)))
                        && ["description", "url", "external_id"]
                            .iter()
                            .all(|k| m.get(k).is_none_or(Json::is_string))
                        && m.get("hashes").is_none_or(is_hashes)
                }
                _ => false,
            }),
            _ => false,
        },
        Form::KillChain => match v {
            Json::Array(a) => a.iter().all(|p| {
                matches!(p.get("kill_chain_name"), Some(Json::String(_)))
                    && matches!(p.get("phase_name"), Some(Json::String(_)))
            }),
            _ => false,
        },
        Form::Hashes => is_hashes(v),
    };
    if !ok {
        out.add_prop(prop, rules::SCHEMA_VALUE);
    }
}

fn is_hashes(v: &Json) -> bool {
    matches!(v, Json::Object(m) if m.values().all(Json::is_string))
}

/// Checks the TLP 2.0 marking: exactly one of the five FIRST ids in `object_marking_refs`, and no
/// other marking. A TLP marking-definition item is itself public: it reports Clear.
pub(crate) fn check_tlp(obj: &Object, shape: Option<&Shape>, out: &mut Findings) -> Option<Tlp> {
    if let Some(s) = shape
        && s.kind == Kind::Marking
    {
        return Tlp::from_marking_id(&s.id).map(|_| Tlp::Clear);
    }
    let refs = match obj.get("object_marking_refs") {
        Some(Json::Array(a)) => a,
        Some(_) => return None, // the form check already refused it
        None => {
            out.add("$.object_marking_refs", rules::TLP_COUNT);
            return None;
        }
    };
    let mut found: Vec<Tlp> = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        match r.as_str().and_then(Tlp::from_marking_id) {
            Some(t) => found.push(t),
            None => out.add(&format!("$.object_marking_refs[{i}]"), rules::TLP_FOREIGN),
        }
    }
    if found.len() != 1 {
        out.add("$.object_marking_refs", rules::TLP_COUNT);
        return None;
    }
    found.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parse_refuses_duplicate_keys() {
        assert_eq!(
            parse_strict(br#"{"a":1,"a":2}"#),
            Err(ParseError::DuplicateKey)
        );
        assert_eq!(
            parse_strict(br#"{"a":{"b":1,"b":1}}"#),
            Err(ParseError::DuplicateKey)
        );
        assert_eq!(parse_strict(br#"{"a":1} x"#), Err(ParseError::Json));
        assert_eq!(parse_strict(b"\xff"), Err(ParseError::Json));
        let deep = "[".repeat(10_000);
        assert_eq!(parse_strict(deep.as_bytes()), Err(ParseError::Json));
        assert!(parse_strict(br#"{"a":[1,2.5,null,true,"x"]}"#).is_ok());
    }

    #[test]
    fn identifiers_and_timestamps() {
        assert!(is_identifier(
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(is_identifier(
            "relationship--81f12913-1372-4c96-85ec-E9034ac98aba"
        ));
        assert!(!is_identifier(
            "indicator--8e2e2d2b-17d4-0cbf-938f-98ee46b3cd3f"
        ));
        assert!(!is_identifier(
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(is_timestamp("2016-05-12T08:17:27.000Z"));
        assert!(is_timestamp("2024-02-29T00:00:00Z"));
        assert!(!is_timestamp("2023-02-29T00:00:00Z"));
        assert!(!is_timestamp("2016-05-12T08:17:27+01:00"));
        assert!(!is_timestamp("2016-05-12 08:17:27Z"));
    }

    #[test]
    fn type_names_by_hand_match_the_oasis_pattern() {
        let re = regex::Regex::new(r"^[a-z][a-z0-9-]{0,248}[a-z0-9]$").expect("type regex");
        let long = "a".repeat(250);
        let longer = "a".repeat(251);
        for t in [
            "",
            "a",
            "ab",
            "a-",
            "-a",
            "a-b",
            "x-acme-thing",
            "indicator",
            "Indicator",
            "a1",
            "1a",
            "a\n",
            "ab\n",
            "a_b",
            "é",
            "aé",
            long.as_str(),
            longer.as_str(),
            "a--b",
            "a b",
        ] {
            assert_eq!(is_type_name(t), re.is_match(t), "{t:?}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("indicator"), Kind::Sdo);
        assert_eq!(kind_of("sighting"), Kind::Sro);
        assert_eq!(kind_of("ipv4-addr"), Kind::Sco);
        assert_eq!(kind_of("marking-definition"), Kind::Marking);
        assert_eq!(kind_of("x-custom"), Kind::Other);
    }
}
