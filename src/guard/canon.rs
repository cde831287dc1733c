//! Canonicalisation and extraction of the identifiers the detectors match: host names, e-mail
//! addresses, IP addresses and ranges, from any string of an item.
//!
//! Evasions undone before matching: case, trailing dots, IDN (to punycode), defanged forms
//! (`hxxp`, `[.]`, `(.)`, `{.}`, `[dot]`, `(dot)`, `[@]`, `[at]`, `(at)`, `[:]`), full-width
//! dots, URL percent-encoding (twice, for double encoding), IPv4-mapped/NAT64/6to4 IPv6, and the
//! `inet_aton` IPv4 notations (decimal `3232235777`, octal `0300.0250.0.1`, hex `0xc0a80001`).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use regex::Regex;

fn re(p: &str) -> Regex {
    Regex::new(p).expect("constant regex")
}

static DEFANG_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\s*[\[\(\{]\s*(\.|dot|@|at|:)\s*[\]\)\}]\s*"));
static DEFANG_SCHEME: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\b(?:hxxp|hxtp|htxp|hxxps)(s?)(?:\[:\]|:)//"));

/// Case-insensitive ASCII substring test (cheap gate before a regex).
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    !n.is_empty() && h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Undoes the usual defanging of indicators, and maps full-width dots to `.`. Borrowed when the
/// string has nothing to undo (the common case: no allocation).
pub fn defang(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let bracket = b.iter().any(|&c| matches!(c, b'[' | b'(' | b'{'));
    // One pass for hxxp / hxtp / htxp in any case.
    let scheme = b.windows(4).any(|w| {
        let l = |i: usize| w[i] | 0x20;
        l(0) == b'h'
            && l(3) == b'p'
            && matches!((l(1), l(2)), (b'x', b'x') | (b'x', b't') | (b't', b'x'))
    });
    let wide = !s.is_ascii() && s.contains(['\u{3002}', '\u{ff0e}', '\u{ff61}']);
    if !bracket && !scheme && !wide {
        return Cow::Borrowed(s);
    }
    let mut out: Cow<'_, str> = Cow::Borrowed(s);
    if wide {
        out = Cow::Owned(out.replace(['\u{3002}', '\u{ff0e}', '\u{ff61}'], "."));
    }
    if bracket {
        let replaced = DEFANG_RE.replace_all(&out, |c: &regex::Captures| {
            match c.get(1).map(|m| m.as_str().to_ascii_lowercase()).as_deref() {
                Some("." | "dot") => ".",
                Some("@" | "at") => "@",
                _ => ":",
            }
        });
        if let Cow::Owned(x) = replaced {
            out = Cow::Owned(x);
        }
    }
    if scheme && let Cow::Owned(x) = DEFANG_SCHEME.replace_all(&out, "http$1://") {
        out = Cow::Owned(x);
    }
    out
}

/// Percent-decodes when there is something to decode (lossy UTF-8), else None.
pub fn percent_decode(s: &str) -> Option<String> {
    if !has_percent_escape(s) {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// True when [`variants`] of `s` is `s` alone: nothing to defang, nothing percent-encoded (the
/// common case, which then needs no allocation).
pub fn only_itself(s: &str) -> bool {
    matches!(defang(s), Cow::Borrowed(_)) && !has_percent_escape(s)
}

fn has_percent_escape(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

/// The forms of one string the detectors look at: as given, defanged, and percent-decoded (up
/// to twice, for double encoding), without repeats.
pub fn variants(s: &str) -> Vec<Cow<'_, str>> {
    let mut out: Vec<Cow<'_, str>> = vec![Cow::Borrowed(s)];
    let d = defang(s);
    if d != s {
        out.push(Cow::Owned(d.into_owned()));
    }
    for _ in 0..2 {
        let last = out.last().map(|c| c.as_ref()).unwrap_or(s);
        match percent_decode(last) {
            Some(p) if !out.iter().any(|o| o.as_ref() == p) => {
                let d = defang(&p).into_owned();
                if d != p {
                    out.push(Cow::Owned(p));
                }
                out.push(Cow::Owned(d));
            }
            _ => break,
        }
    }
    out
}

/// The canonical form of a host name: trimmed, trailing dots removed, lower-case, IDN labels as
/// punycode (UTS 46). None when it cannot be a host name.
pub fn canonical_domain(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.');
    if s.is_empty() || s.len() > 253 {
        return None;
    }
    let ascii = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(s).ok()?
    };
    let ok = !ascii.is_empty()
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        });
    ok.then_some(ascii)
}

/// The canonical form of an e-mail address: lower-case local part, canonical domain.
pub fn canonical_email(s: &str) -> Option<String> {
    let s = s.trim();
    let (local, domain) = s.rsplit_once('@')?;
    let local = local.trim_matches(|c: char| c == '"' || c == '\'' || c == '<');
    if local.is_empty() || local.len() > 64 {
        return None;
    }
    let domain = canonical_domain(domain.trim_end_matches('>'))?;
    Some(format!("{}@{}", local.to_lowercase(), domain))
}

/// The address without a `+tag` sub-address, when it has one (`jane+x@d` → `jane@d`).
pub fn without_subaddress(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    let (base, _) = local.split_once('+')?;
    (!base.is_empty()).then(|| format!("{base}@{domain}"))
}

/// Parses one `inet_aton` component: decimal, `0x` hex, or (leading zero) octal. Returns the
/// decimal reading and, when different, the octal reading: a guard checks both.
fn aton_part(p: &str) -> (Option<u64>, Option<u64>) {
    if p.is_empty() || p.len() > 12 {
        return (None, None);
    }
    if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        let v = if h.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(h, 16).ok()
        };
        return (v, None);
    }
    let dec = p.parse::<u64>().ok();
    let oct = if p.len() > 1 && p.starts_with('0') {
        u64::from_str_radix(p, 8).ok()
    } else {
        None
    };
    (dec, oct.filter(|o| Some(*o) != dec))
}

fn aton_assemble(parts: &[u64]) -> Option<Ipv4Addr> {
    let n = parts.len();
    let (head, last) = parts.split_at(n.checked_sub(1)?);
    if head.iter().any(|&p| p > 255) {
        return None;
    }
    let last = last.first().copied()?;
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 64 && last >= (1u64 << rest_bits) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, &p) in head.iter().enumerate() {
        v |= p << (24 - 8 * i as u32);
    }
    v |= last;
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

/// Every IPv4 address a loose (`inet_aton`) notation can mean: 1 to 4 dotted parts, each
/// decimal, hex or octal. Strict four-part dotted decimal gives exactly one.
pub fn parse_ipv4_loose(s: &str) -> Vec<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return Vec::new();
    }
    let readings: Vec<(Option<u64>, Option<u64>)> = parts.iter().map(|p| aton_part(p)).collect();
    let mut out = Vec::new();
    // The all-decimal reading and the octal-where-leading-zero reading.
    for octal in [false, true] {
        let vals: Option<Vec<u64>> = readings
            .iter()
            .map(|(d, o)| if octal { o.or(*d) } else { *d })
            .collect();
        if let Some(a) = vals.and_then(|v| aton_assemble(&v))
            && !out.contains(&a)
        {
            out.push(a);
        }
    }
    out
}

/// The IPv4 address embedded in an IPv6 one: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
pub fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    let o = a.octets();
    if let Some(v4) = a.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Parses an IP address or CIDR candidate. `loose` admits `inet_aton` IPv4 notations (only in
/// an IP context, where a bare number means an address). Returns every network it may mean,
/// with IPv4 networks for IPv6 forms that embed one.
pub fn parse_ip(s: &str, loose: bool) -> Vec<IpNet> {
    let s = s.trim().trim_start_matches('[');
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => match l.trim().parse::<u8>() {
            Ok(l) => (a.trim(), Some(l)),
            Err(_) => return Vec::new(),
        },
        None => (s, None),
    };
    let addr = addr.trim_end_matches(']');
    let addr = addr.split_once('%').map_or(addr, |(a, _zone)| a);
    let mut out = Vec::new();
    if addr.contains(':') {
        if let Ok(a6) = addr.parse::<Ipv6Addr>() {
            let l = len.unwrap_or(128);
            if let Ok(n) = Ipv6Net::new(a6, l) {
                out.push(IpNet::V6(n.trunc()));
                if let Some(v4) = embedded_v4(a6) {
                    // The embedded address sits in the last 32 bits (6to4: bits 16..48).
                    let l4 = if a6.segments()[0] == 0x2002 {
                        l.saturating_sub(16).min(32)
                    } else {
                        l.saturating_sub(96)
                    };
                    if let Ok(n4) = Ipv4Net::new(v4, l4) {
                        out.push(IpNet::V4(n4.trunc()));
                    }
                }
            }
        }
        return out;
    }
    let addrs = if loose {
        parse_ipv4_loose(addr)
    } else {
        match strict_dotted(addr) {
            Some(v) => v,
            None => return out,
        }
    };
    for a in addrs {
        if let Ok(n) = Ipv4Net::new(a, len.unwrap_or(32)) {
            out.push(IpNet::V4(n.trunc()));
        }
    }
    out
}

/// Four dotted parts (decimal, octal or hex each): the only IPv4 form recognised in free text,
/// where a bare number or `1.2` is not an address.
fn strict_dotted(s: &str) -> Option<Vec<Ipv4Addr>> {
    (s.split('.').count() == 4).then(|| parse_ipv4_loose(s))
}

/// Identifiers found in one string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Canonical host names found anywhere (free text, URLs, e-mail domains).
    pub hosts: Vec<String>,
    /// Canonical host names found where only a host can be (URL host, UNC server, e-mail
    /// domain, domain-name value): single-label names count here.
    pub exact_hosts: Vec<String>,
    /// Canonical e-mail addresses.
    pub emails: Vec<String>,
    /// IP networks (an address is a /32 or /128).
    pub ips: Vec<IpNet>,
}

impl Extracted {
    fn host(&mut self, h: &str, exact: bool) {
        if let Some(c) = canonical_domain(h) {
            if exact && !self.exact_hosts.contains(&c) {
                self.exact_hosts.push(c.clone());
            }
            if !self.hosts.contains(&c) {
                self.hosts.push(c);
            }
        }
    }
    fn ip(&mut self, s: &str, loose: bool) -> bool {
        let nets = parse_ip(s, loose);
        let any = !nets.is_empty();
        for n in nets {
            if !self.ips.contains(&n) {
                self.ips.push(n);
            }
        }
        any
    }
}

/// Where a string sits, which decides which notations count as identifiers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Where {
    /// The whole string is an IP address/range (ipv4-addr value, pattern comparison on one):
    /// loose `inet_aton` forms count.
    pub ip_value: bool,
    /// The whole string is a host name (domain-name value or comparison): single labels count.
    pub host_value: bool,
}

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)[a-z0-9!#$%&'*+=?^_`{|}~.-]+@(?:[\p{L}\p{N}_-]+\.)*[\p{L}\p{N}_-]+\.?")
});
static URL_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://([^\s/?#'"<>\\]+)"#));
static DOMAIN_ASCII_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i-u)\b(?:[a-z0-9][a-z0-9_-]*\.)+(?:xn--[a-z0-9-]+|[a-z][a-z]+)\b\.?"));
static DOMAIN_UNI_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:[\p{L}\p{N}][\p{L}\p{N}\p{M}_-]*\.)+(?:xn--[a-zA-Z0-9-]+|\p{L}[\p{L}\p{M}]+)")
});
static IPV4_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i-u)\b(?:0x[0-9a-f]{1,8}|[0-9]{1,10})(?:\.(?:0x[0-9a-f]{1,8}|[0-9]{1,10})){3}(?:/[0-9]{1,2})?\b",
    )
});
static IPV6_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i-u)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f]{0,4})(?:%[0-9a-z._-]{1,16})?(?:/[0-9]{1,3})?",
    )
});
static UNC_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?:^|[\s'"=(])\\{2,4}([A-Za-z0-9._$-]{1,63})[\\/]"#));

/// Extracts the hosts, e-mail addresses and IP addresses/ranges of one string variant.
pub fn extract(s: &str, at: Where) -> Extracted {
    let mut x = Extracted::default();
    let bytes = s.as_bytes();
    if at.ip_value {
        x.ip(s, true);
    }
    if at.host_value && !s.contains(['/', '@', ' ']) && !x.ip(s, at.ip_value) {
        x.host(s, true);
    }
    if bytes.contains(&b'@') {
        for m in EMAIL_RE.find_iter(s) {
            if m.len() > 320 {
                continue;
            }
            if let Some(e) = canonical_email(m.as_str())
                && let Some((_, d)) = e.rsplit_once('@')
            {
                // A numeric-only "domain" (admin@338) is a handle, not an address.
                if d.bytes().any(|c| c.is_ascii_alphabetic()) {
                    x.host(d, true);
                    if !x.emails.contains(&e) {
                        x.emails.push(e);
                    }
                }
            }
        }
    }
    if bytes.windows(3).any(|w| w == b"://") {
        for c in URL_RE.captures_iter(s) {
            let Some(auth) = c.get(1) else { continue };
            let auth = auth.as_str();
            let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            let host = if let Some(rest) = host.strip_prefix('[') {
                rest.split_once(']').map_or(rest, |(h, _)| h)
            } else {
                match host.rsplit_once(':') {
                    Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
                    _ => host,
                }
            };
            let host = percent_decode(host).unwrap_or_else(|| host.to_owned());
            if !x.ip(&host, true) {
                x.host(&host, true);
            }
        }
    }
    if bytes.contains(&b'.') {
        let ascii = s.is_ascii();
        // Both domain patterns need a dot between a label character and a letter (the top
        // label starts with one): prose, whose dots end sentences, skips the search.
        let label = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c >= 0x80;
        let dotted = bytes
            .windows(3)
            .any(|w| w[1] == b'.' && label(w[0]) && (w[2].is_ascii_alphabetic() || w[2] >= 0x80));
        if dotted {
            let dre = if ascii {
                &*DOMAIN_ASCII_RE
            } else {
                &*DOMAIN_UNI_RE
            };
            for m in dre.find_iter(s) {
                x.host(m.as_str(), false);
            }
        }
        // Four dotted parts: three dots at least.
        if bytes.iter().filter(|&&c| c == b'.').count() >= 3 && bytes.iter().any(u8::is_ascii_digit)
        {
            for m in IPV4_RE.find_iter(s) {
                // Skip runs of more than four dotted numbers (versions, OIDs).
                let before = s[..m.start()].chars().next_back();
                let after = s[m.end()..].chars().take(2).collect::<Vec<_>>();
                let dotted_more = before == Some('.')
                    || (after.first() == Some(&'.')
                        && after.get(1).is_some_and(|c| c.is_ascii_alphanumeric()));
                if !dotted_more {
                    x.ip(m.as_str(), false);
                }
            }
        }
    }
    if bytes.iter().filter(|&&b| b == b':').count() >= 2 {
        for m in IPV6_RE.find_iter(s) {
            let before = s[..m.start()].chars().next_back();
            let mut rest = s[m.end()..].chars();
            let (after, after2) = (rest.next(), rest.next());
            let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit() || c == ':');
            // A sentence may end right after an address; a dotted continuation may not.
            let dotted = after == Some('.') && after2.is_some_and(|c| c.is_ascii_alphanumeric());
            if !glued(before) && before != Some('.') && !glued(after) && !dotted {
                x.ip(m.as_str(), false);
            }
        }
    }
    if bytes.windows(2).any(|w| w == b"\\\\") {
        for c in UNC_RE.captures_iter(s) {
            if let Some(h) = c.get(1)
                && !x.ip(h.as_str(), false)
            {
                x.host(h.as_str(), true);
            }
        }
    }
    x
}

static PATTERN_CMP_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)([a-z0-9][a-z0-9-]*):([a-z0-9_.\[\]\*'-]+?)\s*(?:NOT\s+)?(?:=|!=|<>|>=|<=|>|<|LIKE|MATCHES|ISSUBSET|ISSUPERSET|IN)\s*\(?\s*'((?:[^'\\]|\\.)*)'",
    )
});

/// The comparisons of a STIX pattern: (object type, object path, unescaped value). Covers `IN`
/// lists only for their first value; the whole pattern is also scanned as text.
pub fn pattern_comparisons(p: &str) -> Vec<(String, String, String)> {
    PATTERN_CMP_RE
        .captures_iter(p)
        .filter_map(|c| {
            let t = c.get(1)?.as_str().to_ascii_lowercase();
            let path = c.get(2)?.as_str().to_ascii_lowercase();
            let raw = c.get(3)?.as_str();
            let mut v = String::with_capacity(raw.len());
            let mut esc = false;
            for ch in raw.chars() {
                if esc {
                    v.push(ch);
                    esc = false;
                } else if ch == '\\' {
                    esc = true;
                } else {
                    v.push(ch);
                }
            }
            Some((t, path, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    #[test]
    fn defanging() {
        assert_eq!(defang("acme-bank[.]example"), "acme-bank.example");
        assert_eq!(defang("acme-bank (dot) example"), "acme-bank.example");
        assert_eq!(defang("acme-bank{.}example"), "acme-bank.example");
        assert_eq!(
            defang("jane[at]acme-bank[.]example"),
            "jane@acme-bank.example"
        );
        assert_eq!(
            defang("jane[@]acme-bank(.)example"),
            "jane@acme-bank.example"
        );
        assert_eq!(defang("hxxps://x[.]y/z"), "https://x.y/z");
        assert_eq!(defang("hXXp[:]//x.y"), "http://x.y");
        assert_eq!(defang("acme-bank\u{3002}example"), "acme-bank.example");
        assert!(matches!(defang("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn percent_decoding_and_variants() {
        assert_eq!(
            percent_decode("jane%40acme-bank.example").as_deref(),
            Some("jane@acme-bank.example")
        );
        assert_eq!(percent_decode("100%"), None);
        let v = variants("a%2540b.example");
        assert!(v.iter().any(|x| x == "a@b.example"));
    }

    #[test]
    fn domains() {
        assert_eq!(
            canonical_domain("Acme-Bank.Example.").as_deref(),
            Some("acme-bank.example")
        );
        assert_eq!(
            canonical_domain("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            canonical_domain("BÜCHER.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(canonical_domain("a..b"), None);
        assert_eq!(canonical_domain(""), None);
        assert_eq!(
            canonical_email("Jane.Doe@Acme-Bank.EXAMPLE.").as_deref(),
            Some("jane.doe@acme-bank.example")
        );
        assert_eq!(
            without_subaddress("jane+x@d.example").as_deref(),
            Some("jane@d.example")
        );
    }

    #[test]
    fn ipv4_notations() {
        let a = Ipv4Addr::new(192, 168, 1, 1);
        assert_eq!(parse_ipv4_loose("3232235777"), vec![a]);
        assert!(parse_ipv4_loose("0300.0250.0.1").contains(&Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(parse_ipv4_loose("0xc0a80101"), vec![a]);
        assert_eq!(parse_ipv4_loose("0xc0.0xa8.1.1"), vec![a]);
        assert_eq!(parse_ipv4_loose("192.168.257"), vec![a]);
        assert_eq!(parse_ipv4_loose("192.11010305"), vec![a]);
        // Ambiguous leading zero: both readings.
        let r = parse_ipv4_loose("010.1.1.1");
        assert!(r.contains(&Ipv4Addr::new(10, 1, 1, 1)) && r.contains(&Ipv4Addr::new(8, 1, 1, 1)));
        assert!(parse_ipv4_loose("256.1.1.1").is_empty());
        assert!(parse_ipv4_loose("4294967296").is_empty());
        assert!(parse_ipv4_loose("a.b.c.d").is_empty());
        // Free text: only four dotted parts.
        assert!(parse_ip("3232235777", false).is_empty());
        assert_eq!(parse_ip("3232235777", true), vec![v4("192.168.1.1/32")]);
    }

    #[test]
    fn ipv6_forms_embed_ipv4() {
        let n = parse_ip("::ffff:192.168.1.1", false);
        assert!(n.contains(&v4("192.168.1.1/32")));
        let n = parse_ip("::ffff:c0a8:101", false);
        assert!(n.contains(&v4("192.168.1.1/32")));
        let n = parse_ip("64:ff9b::c0a8:101", false);
        assert!(n.contains(&v4("192.168.1.1/32")));
        let n = parse_ip("2002:c0a8:101::1", false);
        assert!(n.contains(&v4("192.168.1.1/32")));
        let n = parse_ip("[fe80::1%eth0]", false);
        assert_eq!(n, vec![v4("fe80::1/128")]);
        assert_eq!(parse_ip("10.0.0.0/8", false), vec![v4("10.0.0.0/8")]);
        assert!(parse_ip("10.0.0.0/40", false).is_empty());
    }

    #[test]
    fn extraction() {
        let x = extract(
            "C2 at hxxp://evil.example:8080/a and jane@acme-bank.example, 10.1.2.3 and fe80::1; \\\\FILESRV\\share",
            Where::default(),
        );
        assert!(x.hosts.contains(&"evil.example".to_owned()));
        assert!(x.emails.contains(&"jane@acme-bank.example".to_owned()));
        assert!(x.exact_hosts.contains(&"acme-bank.example".to_owned()));
        assert!(x.exact_hosts.contains(&"filesrv".to_owned()));
        assert!(x.ips.contains(&v4("10.1.2.3/32")));
        assert!(x.ips.contains(&v4("fe80::1/128")));
        // A version number is not an address; a certificate serial is not IPv6.
        let y = extract(
            "version 1.2.3.4.5 serial 4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40",
            Where::default(),
        );
        assert!(y.ips.is_empty());
        // Timestamps are not IPv6.
        assert!(extract("at 09:00:00.000Z", Where::default()).ips.is_empty());
        // A handle is not an address.
        assert!(
            extract("used by admin@338", Where::default())
                .emails
                .is_empty()
        );
        let z = extract("http://3232235777/x", Where::default());
        assert!(z.ips.contains(&v4("192.168.1.1/32")));
        let h = extract(
            "FILESRV",
            Where {
                host_value: true,
                ip_value: false,
            },
        );
        assert_eq!(h.exact_hosts, vec!["filesrv".to_owned()]);
    }

    #[test]
    fn patterns() {
        let c = pattern_comparisons(
            "[email-message:to_refs[*].value = 'jane@acme-bank.example' AND ipv4-addr:value = '10.0.0.0/8'] OR [file:name = 'a\\'b']",
        );
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0],
            (
                "email-message".into(),
                "to_refs[*].value".into(),
                "jane@acme-bank.example".into()
            )
        );
        assert_eq!(c[1].2, "10.0.0.0/8");
        assert_eq!(c[2].2, "a'b");
    }
}
