//! The URL parameters of the object endpoints (specification section 3.4): `added_after`,
//! `limit`, `next` and the `match[...]` filters, parsed once into a [`Query`].

use super::error::TaxiiError;

/// Most objects one page holds (the specification lets a server return fewer than `limit`).
pub const MAX_PAGE: usize = 1000;

/// Which versions of an object match (`match[version]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The newest version (the default).
    Last,
    /// The oldest version.
    First,
    /// Every version.
    All,
    /// The version with this timestamp, nanoseconds since 1970.
    At(i128),
}

/// Where a page starts: the entry's log index and the item within it. Entries are only ever
/// appended, so a position stays valid, and means the same, however the log grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Log index of the disclosure.
    pub index: u64,
    /// Position of the item in the disclosure.
    pub item: u32,
}

impl Cursor {
    /// The `next` token: opaque to clients, `<index>.<item>`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.index, self.item)
    }

    fn parse(text: &str) -> Option<Cursor> {
        let (index, item) = text.split_once('.')?;
        Some(Cursor {
            index: index.parse().ok()?,
            item: item.parse().ok()?,
        })
    }
}

/// A request's filters and page.
#[derive(Debug, Clone)]
pub struct Query {
    /// `match[id]`: any of these ids (empty: any).
    pub ids: Vec<String>,
    /// `match[type]`: any of these types (empty: any).
    pub types: Vec<String>,
    /// `match[version]`.
    pub versions: Vec<Version>,
    /// `match[spec_version]` (empty: any).
    pub spec_versions: Vec<String>,
    /// `added_after`: only objects added strictly later, nanoseconds since 1970.
    pub added_after_ns: Option<i128>,
    /// `next`: where the page starts.
    pub next: Option<Cursor>,
    /// Most objects on the page.
    pub limit: usize,
    /// Did the request filter at all (a Get an Object with filters may find nothing: 200)?
    pub filtered: bool,
}

/// An RFC 3339 timestamp as nanoseconds since 1970.
pub fn timestamp_ns(text: &str) -> Option<i128> {
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos() as i128)
}

impl Query {
    /// Parses the parameters; `allowed` names the `match[...]` fields this endpoint takes.
    /// A parameter that does not parse, or a filter the endpoint does not take, is a 400.
    pub fn parse(params: &[(String, String)], allowed: &[&str]) -> Result<Query, TaxiiError> {
        let bad = |what: String| TaxiiError::BadRequest(what);
        let mut q = Query {
            ids: Vec::new(),
            types: Vec::new(),
            versions: Vec::new(),
            spec_versions: Vec::new(),
            added_after_ns: None,
            next: None,
            limit: MAX_PAGE,
            filtered: false,
        };
        let list = |v: &str| -> Vec<String> { v.split(',').map(|s| s.trim().to_owned()).collect() };
        for (key, value) in params {
            if let Some(field) = key.strip_prefix("match[").and_then(|k| k.strip_suffix(']')) {
                if !allowed.contains(&field) {
                    return Err(bad(format!(
                        "this endpoint does not filter by match[{field}]; it takes {}",
                        allowed
                            .iter()
                            .map(|f| format!("match[{f}]"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                q.filtered = true;
                match field {
                    "id" => q.ids.extend(list(value)),
                    "type" => q.types.extend(list(value)),
                    "spec_version" => q.spec_versions.extend(list(value)),
                    "version" => {
                        for v in list(value) {
                            q.versions.push(match v.as_str() {
                                "last" => Version::Last,
                                "first" => Version::First,
                                "all" => Version::All,
                                t => Version::At(timestamp_ns(t).ok_or_else(|| {
                                    bad(format!(
                                        "match[version] takes last, first, all or a timestamp such as 2026-11-01T10:00:00.000Z, not {t:?}"
                                    ))
                                })?),
                            });
                        }
                    }
                    _ => unreachable!("checked against `allowed`"),
                }
                continue;
            }
            match key.as_str() {
                "added_after" => {
                    q.filtered = true;
                    q.added_after_ns = Some(timestamp_ns(value).ok_or_else(|| {
                        bad(format!(
                            "added_after takes a timestamp such as 2026-11-01T10:00:00.000Z, not {value:?}"
                        ))
                    })?);
                }
                "limit" => {
                    let n: usize = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        bad(format!(
                            "limit takes a positive whole number, not {value:?}"
                        ))
                    })?;
                    q.limit = n.min(MAX_PAGE);
                }
                "next" => {
                    q.next = Some(Cursor::parse(value).ok_or_else(|| {
                        bad(format!(
                            "next {value:?} is not a token this server gave out; start again without it"
                        ))
                    })?);
                }
                // Other parameters are not TAXII's; ignored as the specification's
                // extensibility asks.
                _ => {}
            }
        }
        if q.versions.is_empty() {
            q.versions.push(Version::Last);
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_filters_and_pages() {
        let q = Query::parse(
            &p(&[
                ("match[type]", "indicator,malware"),
                ("match[version]", "first,2026-11-01T10:00:00.000Z"),
                ("limit", "5000"),
                ("next", "12.3"),
                ("added_after", "2026-11-01T10:00:00Z"),
            ]),
            &["id", "type", "version", "spec_version"],
        )
        .unwrap();
        assert_eq!(q.types, ["indicator", "malware"]);
        assert_eq!(q.versions[0], Version::First);
        assert!(matches!(q.versions[1], Version::At(_)));
        assert_eq!(q.limit, MAX_PAGE);
        assert_eq!(q.next, Some(Cursor { index: 12, item: 3 }));
        assert_eq!(q.added_after_ns, timestamp_ns("2026-11-01T10:00:00.000Z"));
        let d = Query::parse(&[], &[]).unwrap();
        assert_eq!(d.versions, [Version::Last]);
        assert!(!d.filtered);
    }

    #[test]
    fn refuses_what_does_not_parse() {
        for bad in [
            ("limit", "0"),
            ("limit", "-1"),
            ("limit", "x"),
            ("next", "abc"),
            ("added_after", "yesterday"),
            ("match[version]", "newest"),
            ("match[color]", "red"),
        ] {
            assert!(
                matches!(
                    Query::parse(&p(&[bad]), &["id", "version"]),
                    Err(TaxiiError::BadRequest(_))
                ),
                "{bad:?}"
            );
        }
    }
}
