//! An item's JSON as the guard reads it: a tree whose strings borrow from the item's bytes
//! (owned only where the JSON escapes something), with each object's members in a vector
//! sorted by key. Screening parses every item once into this tree; building and freeing a
//! `serde_json::Value` (a `String` per key and value, a `BTreeMap` per object) was a fifth of
//! the guard's time.
//!
//! It reads exactly what [`super::stix::parse_strict`] reads, with the same outcome: the same
//! parser (serde_json, its nesting limit of 128), a repeated key refused as soon as it is read,
//! members in the byte order of their keys (serde_json's `BTreeMap` order, so the `{n}` positions
//! in finding paths are unchanged), numbers kept as `serde_json::Number`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::stix::{DUP_MARK, ParseError, parse_error};

/// One JSON value of an item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(Number),
    /// A string, borrowed from the item unless it had escapes.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object.
    Object(Object<'a>),
}

/// An object's members, sorted by key, keys unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Object<'a> {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// The member named `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// True when there is a member named `key`.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// The members, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The keys, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// The values, in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Json<'a>> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<'a> Json<'a> {
    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub(crate) fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members, if this is an object.
    pub(crate) fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The member `key` of an object (None for anything else).
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// True for a string.
    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Json::String(_))
    }

    /// True for `true` or `false`.
    pub(crate) fn is_boolean(&self) -> bool {
        matches!(self, Json::Bool(_))
    }

    /// True for a number serde_json holds as an integer (`i64` or `u64`).
    pub(crate) fn is_integer(&self) -> bool {
        matches!(self, Json::Number(n) if n.is_i64() || n.is_u64())
    }
}

/// Parses one item, refusing repeated keys, with [`super::stix::parse_strict`]'s outcomes.
pub(crate) fn parse(bytes: &[u8]) -> Result<Json<'_>, ParseError> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    ValueSeed
        .deserialize(&mut d)
        .and_then(|v| d.end().map(|()| v))
        .map_err(|e| parse_error(&e))
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Json<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Json<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(ValueSeed)? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            // Refused as soon as it is read, as parse_strict does: a repeated key followed by
            // broken JSON is a duplicate-key finding, not a syntax one.
            let at = match members.binary_search_by(|(m, _)| m.as_ref().cmp(k.as_ref())) {
                Ok(_) => return Err(de::Error::custom(DUP_MARK)),
                Err(at) => at,
            };
            let v = map.next_value_seed(ValueSeed)?;
            members.insert(at, (k, v));
        }
        Ok(Json::Object(Object(members)))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::stix::parse_strict;

    fn to_value(j: &Json) -> serde_json::Value {
        use serde_json::Value;
        match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(to_value).collect()),
            Json::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.to_owned(), to_value(v))).collect())
            }
        }
    }

    /// The same outcome as parse_strict on each input: the same tree, or the same error.
    #[test]
    fn reads_what_parse_strict_reads() {
        let deep = "[".repeat(10_000);
        let nested_ok = format!("{}1{}", "[".repeat(120), "]".repeat(120));
        let nested_over = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let inputs: Vec<&[u8]> = vec![
            br#"{"a":1,"a":2}"#,
            br#"{"a":{"b":1,"b":1}}"#,
            br#"{"a":1,"a":2,"#,
            br#"{"b":1,"a":[1,2.5,-3,1e400,null,true,"x\u00e9\n"],"\u0061b":{"z":{},"y":[]}}"#,
            br#"{"a":1} x"#,
            b"\xff",
            b"{\"a\":\"\xff\"}",
            br#"{"k\"ey":"v\\al","":"","key":"\ud83d\ude00"}"#,
            br#"{"a":18446744073709551615,"b":-9223372036854775808,"c":0.1,"d":1.0}"#,
            br#"[1,2]"#,
            br#""x""#,
            br#"{"a":1,}"#,
            b"",
            b" {\"a\" : [ ] } \n",
            deep.as_bytes(),
            nested_ok.as_bytes(),
            nested_over.as_bytes(),
        ];
        for i in inputs {
            let want = parse_strict(i);
            let have = parse(i).map(|j| to_value(&j));
            assert_eq!(have, want, "{}", String::from_utf8_lossy(i));
        }
    }

    #[test]
    fn members_are_sorted_and_strings_borrowed() {
        let j = parse(br#"{"b":"x","a":"y\"","c":[1]}"#).expect("json");
        let o = j.as_object().expect("object");
        assert_eq!(o.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(matches!(o.get("b"), Some(Json::String(Cow::Borrowed("x")))));
        assert!(matches!(o.get("a"), Some(Json::String(Cow::Owned(_)))));
        assert!(o.get("c").is_some_and(|c| c.as_array().is_some()));
        assert!(o.get("d").is_none() && o.contains_key("a"));
    }
}
