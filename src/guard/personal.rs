//! Victim personal-data detectors: payment cards (Luhn), IBANs (mod-97), US SSNs, UK NINOs and
//! phone numbers. They run only where `context` says the string is about a victim: a card an
//! actor used to buy infrastructure, or an actor persona's phone, is intelligence.
//!
//! Each detector checks structure, not just shape, to keep false positives low: Luhn and an
//! issuer prefix for cards, country length and mod-97 for IBANs, the SSA's never-issued ranges
//! for SSNs, HMRC's excluded prefixes for NINOs, and an international form for phones.

use std::sync::LazyLock;

use regex::Regex;

use super::rules;

/// Which detectors run (from the policy's `[detectors]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    /// Payment cards.
    pub cards: bool,
    /// IBANs.
    pub iban: bool,
    /// US social security numbers.
    pub ssn: bool,
    /// UK national insurance numbers.
    pub nino: bool,
    /// Phone numbers.
    pub phones: bool,
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("constant regex")
}

static CARD_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[2-6](?:[ -]?[0-9]){12,18}(?-u:\b)"));
static IBAN_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?-u:\b)"));
static SSN_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)([0-9]{3})-([0-9]{2})-([0-9]{4})(?-u:\b)"));
static NINO_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?-u:\b)([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?([0-9]{2}) ?([0-9]{2}) ?([0-9]{2}) ?[A-D](?-u:\b)",
    )
});
static PHONE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\+[1-9][0-9 ().-]{6,20}[0-9]|(?:tel|phone|mobile|cell|fax)[:.]?\s*[0-9(][0-9 ().-]{5,20}[0-9])",
    )
});

/// Luhn checksum over the digits of `s` (separators ignored).
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A payment card number: 13–19 digits, an issuer prefix (2–6), Luhn-valid.
pub fn is_card(s: &str) -> bool {
    let n = s.chars().filter(char::is_ascii_digit).count();
    (13..=19).contains(&n) && luhn(s)
}

fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}

/// ISO 13616 check: known country length and mod-97 == 1 (spaces ignored).
pub fn is_iban(s: &str) -> bool {
    let c: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if c.len() < 15 || !c.is_ascii() || iban_length(&c[..2]) != Some(c.len()) {
        return false;
    }
    let rearranged = c[4..].chars().chain(c[..4].chars());
    let mut rem: u32 = 0;
    for ch in rearranged {
        let v = match ch.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

/// A US SSN as issued: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn is_ssn(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// A UK NINO prefix HMRC issues (BG, GB, KN, NK, NT, TN, ZZ never are).
pub fn is_nino_prefix(p: &str) -> bool {
    !matches!(p, "BG" | "GB" | "KN" | "NK" | "NT" | "TN" | "ZZ")
}

/// A phone number: 8–15 digits in international form or after a phone keyword.
pub fn is_phone(s: &str) -> bool {
    let n = s.chars().filter(char::is_ascii_digit).count();
    (8..=15).contains(&n)
}

fn nino(s: &str) -> bool {
    NINO_RE
        .find_iter(s)
        .any(|m| m.as_str().get(0..2).is_some_and(is_nino_prefix))
}

static CARD_V2_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[0-9]{1,19}(?:[ -][0-9]{1,19}){0,7}(?-u:\b)"));
static IBAN_V2_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i-u)\b[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]){11,32}\b"));
static SSN_V2_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i-u)\b[0-9]{3}([- ])[0-9]{2}([- ])[0-9]{4}\b|\b(?:ssn|social security(?: number| no\.?)?)[\s#:.=]*[0-9]{9}\b",
    )
});

/// A card issuer prefix (IIN): Visa 4, Mastercard 51–55 and 2221–2720, Amex 34/37, Diners
/// 30/36/38/39, JCB 35, Discover/UnionPay/Maestro/RuPay 50 and 56–69.
fn issuer(d: &[u8]) -> bool {
    let n = |k: usize| {
        d[..k]
            .iter()
            .fold(0u32, |a, &b| a * 10 + u32::from(b - b'0'))
    };
    match d[0] {
        b'2' => (2221..=2720).contains(&n(4)),
        b'3' => matches!(n(2), 30 | 34..=39),
        b'4' | b'5' | b'6' => true,
        _ => false,
    }
}

/// Cards in any grouping (format 2): every run of digit groups is tried from each group start
/// to each group end with 13–19 digits, an issuer prefix and a valid Luhn sum.
fn cards(s: &str, spans: &mut Vec<(usize, usize)>) -> bool {
    let mut found = false;
    let taken = spans.clone();
    for m in CARD_V2_RE.find_iter(s) {
        if taken.iter().any(|&(a, b)| a < m.end() && m.start() < b) {
            continue;
        }
        let groups: Vec<(usize, &str)> = m
            .as_str()
            .split([' ', '-'])
            .scan(m.start(), |at, g| {
                let here = *at;
                *at += g.len() + 1;
                Some((here, g))
            })
            .collect();
        for i in 0..groups.len() {
            let mut digits = Vec::with_capacity(19);
            for &(at, g) in &groups[i..] {
                digits.extend_from_slice(g.as_bytes());
                if digits.len() > 19 {
                    break;
                }
                if digits.len() >= 13
                    && issuer(&digits)
                    && luhn(std::str::from_utf8(&digits).unwrap_or(""))
                {
                    spans.push((groups[i].0, at + g.len()));
                    found = true;
                }
            }
        }
    }
    found
}

/// IBANs (format 2): compact or grouped, any case, any country `iban_validate` knows (its
/// country formats and mod-97); trailing words are trimmed until a valid IBAN remains.
fn ibans(s: &str, spans: &mut Vec<(usize, usize)>) -> bool {
    let mut found = false;
    for m in IBAN_V2_RE.find_iter(s) {
        let compact: Vec<(usize, u8)> = m
            .as_str()
            .bytes()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_alphanumeric())
            .map(|(i, b)| (m.start() + i, b.to_ascii_uppercase()))
            .collect();
        for len in (15..=compact.len().min(34)).rev() {
            let c: String = compact[..len].iter().map(|&(_, b)| char::from(b)).collect();
            if c.parse::<iban::Iban>().is_ok() {
                spans.push((m.start(), compact[len - 1].0 + 1));
                found = true;
                break;
            }
        }
    }
    found
}

/// Format 2 detector settings (`[detectors]` of a `format = 2` policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format2 {
    /// National identity and tax numbers (see `ids`).
    pub national_ids: bool,
    /// Regions whose national phone-number form is recognised (international form always is).
    pub phone_regions: Vec<phonenumber::country::Id>,
    /// `detectors.opaque_identifiers`: UUIDs and hexadecimal digests are one opaque token
    /// each, and no detector reads the digits inside them (see [`mask_opaque`]).
    pub opaque_identifiers: bool,
    /// `detectors.phones_fail_closed`: how sure the phone detector must be (see `phone.rs`).
    pub phones: super::phone::Strictness,
}

/// A UUID (8-4-4-4-12 hex digits) or a run of 32 or more hex digits (an MD5, SHA-1 or
/// SHA-256 digest, a key id): as a whole word, so part of a longer word is not one.
static OPAQUE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i-u)\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32,})\b",
    )
    .expect("constant regex")
});

/// `s` with every digit inside a UUID or a hex digest replaced by `x`. Those are identifiers
/// of objects and files, everywhere in threat data (STIX ids, hashes); read as numbers, one in
/// a few hundred random ones holds a valid phone number or national id. `x` is a word
/// character like the digit it replaces, so every word boundary stays where it was.
pub(crate) fn mask_opaque(s: &str) -> std::borrow::Cow<'_, str> {
    // Both forms start with eight hex digits in a row: most strings have no such run, and
    // this byte count is far cheaper than the search.
    let mut run = 0;
    if !s.bytes().any(|b| {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        run == 8
    }) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut found = OPAQUE_RE.find_iter(s).peekable();
    if found.peek().is_none() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut bytes = s.as_bytes().to_vec();
    for m in found {
        for b in &mut bytes[m.range()] {
            if b.is_ascii_digit() {
                *b = b'x';
            }
        }
    }
    // Only ASCII digits were replaced, by an ASCII letter: still UTF-8.
    std::borrow::Cow::Owned(String::from_utf8(bytes).expect("ASCII replaced by ASCII"))
}

/// What one pass over a string's bytes tells the format-2 detectors. Every identifier they look
/// for has a shape this summary can rule out — a card, phone, SSN, NINO, BSN, Steuer-ID or
/// PESEL is one chain of digit groups, a NIR a chain with its own separators, a DNI a run of
/// seven digits, an IBAN a word starting with two letters and two digits, a codice fiscale a
/// 16-character word — so a detector whose shape is absent is skipped without running its
/// regular expression (on prose those searches were most of the guard's time). Each bound is a
/// necessary condition of the detector's own pattern, so skipping never changes a verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shapes {
    /// ASCII digits in the string.
    pub(crate) digits: usize,
    /// The longest run of consecutive digits.
    pub(crate) run: usize,
    /// The most digits in one chain of digit runs joined by at most three of ` .-/()` (the
    /// widest separator any of those patterns allows between two groups is `) (`).
    pub(crate) grouped: usize,
    /// The most digits in one chain joined by at most two of ` .AaBb` (the NIR's separators
    /// and its Corsican `2A`/`2B` department).
    pub(crate) nir: usize,
    /// A word starts with two ASCII letters and two digits.
    pub(crate) iban_head: bool,
    /// A word (ASCII letters, digits, `_`) of exactly 16 bytes.
    pub(crate) word16: bool,
}

/// Digits in one chain of digit runs joined by at most `max_gap` bytes for which `sep` holds.
fn longest_chain(b: &[u8], sep: impl Fn(u8) -> bool, max_gap: usize) -> usize {
    let (mut best, mut cur, mut gap) = (0, 0, 0);
    for &c in b {
        if c.is_ascii_digit() {
            cur += 1;
            gap = 0;
            best = best.max(cur);
        } else if cur > 0 && gap < max_gap && sep(c) {
            gap += 1;
        } else {
            cur = 0;
            gap = 0;
        }
    }
    best
}

impl Shapes {
    pub(crate) fn of(s: &str) -> Shapes {
        let b = s.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut x = Shapes::default();
        let (mut run, mut word_len) = (0, 0);
        for (i, &c) in b.iter().enumerate() {
            if c.is_ascii_digit() {
                x.digits += 1;
                run += 1;
                x.run = x.run.max(run);
            } else {
                run = 0;
            }
            if word(c) {
                if word_len == 0
                    && b.len() >= i + 4
                    && c.is_ascii_alphabetic()
                    && b[i + 1].is_ascii_alphabetic()
                    && b[i + 2].is_ascii_digit()
                    && b[i + 3].is_ascii_digit()
                {
                    x.iban_head = true;
                }
                word_len += 1;
            } else {
                x.word16 |= word_len == 16;
                word_len = 0;
            }
        }
        x.word16 |= word_len == 16;
        if x.digits >= 6 {
            x.grouped = longest_chain(
                b,
                |c| matches!(c, b' ' | b'.' | b'-' | b'/' | b'(' | b')'),
                3,
            );
            x.nir = longest_chain(
                b,
                |c| matches!(c, b' ' | b'.' | b'A' | b'a' | b'B' | b'b'),
                2,
            );
        }
        x
    }
}

/// Format 2: every enabled detector over one string, wherever it is (the caller applies the
/// policy's recorded exceptions). Returns the rule ids that fire.
pub fn scan_v2(s: &str, on: Enabled, f2: &Format2) -> Vec<&'static str> {
    if s.bytes().filter(u8::is_ascii_digit).count() < 6 {
        return Vec::new();
    }
    if f2.opaque_identifiers {
        let s = mask_opaque(s);
        return scan_shaped(&s, &Shapes::of(&s), on, f2);
    }
    scan_shaped(s, &Shapes::of(s), on, f2)
}

/// [`scan_v2`] with the string's shapes given (the tests give unbounded ones: no detector
/// skipped).
fn scan_shaped(s: &str, shapes: &Shapes, on: Enabled, f2: &Format2) -> Vec<&'static str> {
    let mut out = Vec::new();
    let digits = shapes.digits;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if on.iban && digits >= 8 && shapes.iban_head && ibans(s, &mut spans) {
        out.push(rules::PERSONAL_IBAN_2);
    }
    if f2.national_ids {
        super::ids::scan(s, shapes, &mut out, &mut spans);
    }
    if on.nino && shapes.grouped >= 6 && nino(s) {
        out.push(rules::PERSONAL_NINO_2);
    }
    if on.ssn
        && shapes.grouped >= 9
        && SSN_V2_RE.find_iter(s).any(|m| {
            let d: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
            let ok = is_ssn(&d[0..3], &d[3..5], &d[5..9]);
            if ok {
                spans.push((m.start(), m.end()));
            }
            ok
        })
    {
        out.push(rules::PERSONAL_SSN_2);
    }
    if on.cards && digits >= 13 && shapes.grouped >= 13 && cards(s, &mut spans) {
        out.push(rules::PERSONAL_CARD_2);
    }
    if on.phones
        && digits >= 8
        && shapes.grouped >= 8
        && super::phone::find(s, &f2.phone_regions, &spans, f2.phones)
    {
        out.push(rules::PERSONAL_PHONE_2);
    }
    out
}

/// Runs the enabled detectors over one string; returns the rule ids that fire.
pub fn scan(s: &str, on: Enabled) -> Vec<&'static str> {
    let mut out = Vec::new();
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if digits < 8 {
        // Every detector needs at least 8 digits (NINO: 6, but also two capitals).
        if on.nino && digits >= 6 && nino(s) {
            out.push(rules::PERSONAL_NINO);
        }
        return out;
    }
    if on.cards && CARD_RE.find_iter(s).any(|m| is_card(m.as_str())) {
        out.push(rules::PERSONAL_CARD);
    }
    if on.iban && IBAN_RE.find_iter(s).any(|m| is_iban(m.as_str())) {
        out.push(rules::PERSONAL_IBAN);
    }
    // find_iter, not captures_iter: the lazy DFA, not the slower capture engine.
    if on.ssn
        && SSN_RE.find_iter(s).any(|m| {
            let t = m.as_str();
            t.len() == 11 && is_ssn(&t[0..3], &t[4..6], &t[7..11])
        })
    {
        out.push(rules::PERSONAL_SSN);
    }
    if on.nino && nino(s) {
        out.push(rules::PERSONAL_NINO);
    }
    if on.phones && PHONE_RE.find_iter(s).any(|m| is_phone(m.as_str())) {
        out.push(rules::PERSONAL_PHONE);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Enabled = Enabled {
        cards: true,
        iban: true,
        ssn: true,
        nino: true,
        phones: true,
    };

    /// Digit-heavy strings around every format-2 pattern and its near misses, from a fixed LCG.
    fn near_misses(n: usize) -> Vec<String> {
        const PIECES: &[&str] = &[
            " ",
            " ",
            "-",
            ".",
            "/",
            "(",
            ")",
            ") (",
            " .",
            "+",
            "00",
            "0",
            "2A",
            "2b",
            "A",
            "B",
            "a",
            "b",
            "SSN ",
            "ssn: ",
            "social security no. ",
            "tel ",
            "DE",
            "GB",
            "fr",
            "NL",
            "X",
            "Y-",
            "Z",
            "AB",
            "RSSMRA",
            "L",
            "M",
            "T",
            "_",
            "é",
            "x",
            ":",
            "#",
        ];
        let mut lcg = crate::guard::bench::Lcg::new(0x2545_f491_4f6c_dd1d);
        let mut next = |m: usize| lcg.below(m);
        (0..n)
            .map(|_| {
                let mut s = String::new();
                for _ in 0..1 + next(14) {
                    if next(2) == 0 {
                        for _ in 0..1 + next(9) {
                            s.push(char::from(b'0' + next(10) as u8));
                        }
                    } else {
                        s.push_str(PIECES[next(PIECES.len())]);
                    }
                }
                s
            })
            .collect()
    }

    fn digit_count(s: &str) -> usize {
        s.bytes().filter(u8::is_ascii_digit).count()
    }

    /// Each shape bound is a necessary condition of its pattern: where the bound says no, the
    /// pattern finds nothing (or, for cards and phones, no candidate with enough digits).
    #[test]
    fn shapes_rule_out_only_what_cannot_match() {
        use super::super::{ids, phone};
        let mut skipped = 0;
        for s in near_misses(200_000) {
            let x = Shapes::of(&s);
            assert_eq!(x.digits, digit_count(&s));
            let none = |r: &Regex| r.find(&s).is_none();
            let most = |r: &Regex| r.find_iter(&s).map(|m| digit_count(m.as_str())).max();
            if !x.iban_head {
                assert!(none(&IBAN_V2_RE), "iban {s:?}");
            }
            if x.nir < 14 {
                assert!(none(&ids::NIR_RE), "nir {s:?}");
            }
            if x.run < 7 {
                assert!(none(&ids::DNI_RE), "dni {s:?}");
            }
            if !x.word16 {
                assert!(none(&ids::CF_RE), "cf {s:?}");
            }
            if x.grouped < 11 {
                assert!(none(&ids::ELEVEN_RE), "eleven {s:?}");
            }
            if x.grouped < 9 {
                assert!(none(&ids::BSN_RE) && none(&SSN_V2_RE), "bsn/ssn {s:?}");
                skipped += 1;
            }
            if x.grouped < 6 {
                assert!(none(&NINO_RE), "nino {s:?}");
            }
            if x.grouped < 13 {
                assert!(most(&CARD_V2_RE).is_none_or(|n| n < 13), "card {s:?}");
            }
            if x.grouped < 8 {
                assert!(
                    most(&phone::CANDIDATE_RE).is_none_or(|n| n < 8),
                    "phone {s:?}"
                );
            }
        }
        assert!(
            skipped > 10_000,
            "the generator reaches both sides of the bounds"
        );
    }

    /// Skipping by shape changes no result: the same rules as with every detector run.
    #[test]
    fn shaped_scan_agrees_with_the_unbounded_scan() {
        let f2 = Format2 {
            national_ids: true,
            phone_regions: vec![
                phonenumber::country::Id::DE,
                phonenumber::country::Id::FR,
                phonenumber::country::Id::GB,
                phonenumber::country::Id::US,
            ],
            opaque_identifiers: false,
            phones: super::super::phone::Strictness::Valid,
        };
        let mut fired = 0;
        let known = [
            "card 4111-1111-1111-1111 charged",
            "IBAN DE89 3704 0044 0532 0130 00",
            "SSN 123-45-6789",
            "NI number AB 12 34 56 C",
            "Steuer-ID 86095742719, NIR 185057800608491, DNI 12345678Z, CF RSSMRA85T10A562S, BSN 111222333, PESEL 44051401359",
            "NIR 2 69 05 2A 123 456 88 and X1234567L and 1112.22.333",
            "call +44 20 7946 0018 now or (212) 555-0142, 0049 89 12345678",
        ];
        for s in near_misses(100_000).iter().map(String::as_str).chain(known) {
            if digit_count(s) < 6 {
                continue;
            }
            let unbounded = Shapes {
                digits: digit_count(s),
                run: usize::MAX,
                grouped: usize::MAX,
                nir: usize::MAX,
                iban_head: true,
                word16: true,
            };
            let want = scan_shaped(s, &unbounded, ALL, &f2);
            assert_eq!(scan_v2(s, ALL, &f2), want, "{s:?}");
            fired += usize::from(!want.is_empty());
        }
        assert!(fired >= 7, "{fired}");
    }

    #[test]
    fn luhn_and_cards() {
        assert!(luhn("79927398713"));
        assert!(!luhn("79927398710"));
        assert!(is_card("4111 1111 1111 1111"));
        assert!(is_card("5500-0000-0000-0004"));
        assert!(!is_card("4111 1111 1111 1112"));
        assert_eq!(
            scan("card 4111-1111-1111-1111 charged", ALL),
            vec![rules::PERSONAL_CARD]
        );
        assert!(scan("md5 a4111111111111111b", ALL).is_empty());
    }

    #[test]
    fn iban_mod97() {
        assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
        assert!(is_iban("DE89370400440532013000"));
        assert!(!is_iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!is_iban("DE8937040044053201300"));
        assert!(!is_iban("XX82WEST12345698765432"));
        assert_eq!(
            scan("IBAN DE89 3704 0044 0532 0130 00", ALL),
            vec![rules::PERSONAL_IBAN]
        );
    }

    #[test]
    fn ssn_rules() {
        assert!(is_ssn("123", "45", "6789"));
        assert!(!is_ssn("000", "45", "6789"));
        assert!(!is_ssn("666", "45", "6789"));
        assert!(!is_ssn("912", "45", "6789"));
        assert!(!is_ssn("123", "00", "6789"));
        assert!(!is_ssn("123", "45", "0000"));
        assert_eq!(scan("SSN 123-45-6789", ALL), vec![rules::PERSONAL_SSN]);
        assert!(scan("SSN 666-45-6789", ALL).is_empty());
    }

    #[test]
    fn nino_rules() {
        assert_eq!(
            scan("NI number AB 12 34 56 C", ALL),
            vec![rules::PERSONAL_NINO]
        );
        assert_eq!(scan("AB123456C", ALL), vec![rules::PERSONAL_NINO]);
        assert!(scan("GB123456C", ALL).is_empty());
        assert!(scan("DA123456C", ALL).is_empty());
        assert!(scan("AB123456E", ALL).is_empty());
    }

    #[test]
    fn phones() {
        assert_eq!(
            scan("call +44 20 7946 0958", ALL),
            vec![rules::PERSONAL_PHONE]
        );
        assert_eq!(
            scan("tel: (555) 010-4477", ALL),
            vec![rules::PERSONAL_PHONE]
        );
        assert!(scan("767 separate instances in 2012", ALL).is_empty());
        assert!(scan("+1 is fine", ALL).is_empty());
        assert!(scan("2014-05-08T09:00:00.000000Z", ALL).is_empty());
    }

    /// Digits inside STIX ids, UUIDs and digests are not read as personal identifiers when
    /// the policy says they are opaque; the same digits standing alone still are.
    #[test]
    fn opaque_identifiers_are_not_read_as_numbers() {
        // The default policy's detectors, with and without the masking.
        let default = crate::guard::Policy::parse(crate::guard::DEFAULT_POLICY.as_bytes())
            .expect("the default policy parses");
        let detectors = &default.det.v2.as_ref().expect("format 2").detectors;
        let f2 = |opaque_identifiers| Format2 {
            opaque_identifiers,
            ..detectors.clone()
        };
        // Random indicators `borderlog bench` made, each refused as holding a phone number
        // under the first format-2 default policy.
        for s in [
            "indicator--09192016-9136-40d6-a37c-7bffd2f211da [url:value = 'http://c2-09192016.badcdn.example/gate.php'] OR [file:hashes.'SHA-256' = '09192016913630d6037c7bffd2f211da09192016913630d6037c7bffd2f211da']",
            "indicator--06726003-4a31-43d1-aa2d-f71b3fc6bee1 [url:value = 'http://c2-06726003.badcdn.example/gate.php'] OR [file:hashes.'SHA-256' = '067260034a3193d1ca2df71b3fc6bee1067260034a3193d1ca2df71b3fc6bee1']",
            "indicator--01772757-88af-4883-a8f8-7b0466927123 [url:value = 'http://c2-01772757.badcdn.example/gate.php'] OR [file:hashes.'SHA-256' = '0177275788af5883c8f87b04669271230177275788af5883c8f87b0466927123']",
        ] {
            assert!(!scan_v2(s, ALL, &f2(false)).is_empty(), "read inside: {s}");
            assert_eq!(scan_v2(s, ALL, &f2(true)), Vec::<&str>::new(), "{s}");
        }
        for s in [
            "call +44 20 7946 0018 about indicator--09192016-9136-40d6-a37c-7bffd2f211da",
            "card 4111 1111 1111 1111, hash d41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert!(!scan_v2(s, ALL, &f2(true)).is_empty(), "{s}");
        }
        assert_eq!(mask_opaque("no ids here 12345"), "no ids here 12345");
        assert_eq!(
            mask_opaque("x 0a1b2c3d-0000-4000-8000-123456789abc y"),
            "x xaxbxcxd-xxxx-xxxx-xxxx-xxxxxxxxxabc y"
        );
    }
}
