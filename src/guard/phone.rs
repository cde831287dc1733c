//! Phone numbers (policy format 2), validated with libphonenumber's metadata (`phonenumber`):
//! international form (`+49 …`, `0049 …`) for any country, national form for the regions the
//! policy lists (`detectors.phone_regions`). A candidate must be a valid number for its
//! country, not merely the right length — unless the policy sets
//! `detectors.phones_fail_closed` ([`Strictness::FailClosed`]): then a length the country's
//! numbers can have is enough, since a numbering plan's metadata lags the ranges operators
//! open (French 07 mobiles, Spanish 7xx) and a number in phone form that is merely not
//! allocated yet is no reason to let it cross; and five dotted pairs (`06.12.34.56.78`, how
//! French numbers are often written) are a phone number, not a date followed by digits.
//!
//! Candidates: a `+` or `00` international prefix; a national trunk `0` (`030 1234567`,
//! `06 12 34 56 78`, `07700 900123`); a North American number with separators
//! (`(212) 555-0142`, `212-555-0142`); a grouped nine-digit mobile (`612 345 678`,
//! `512 345 678`, `347 123 4567`). Bare digit runs without a trunk prefix or grouping are not
//! read as phone numbers (timestamps, counts), nor is anything that starts like a date.

use std::sync::LazyLock;

use phonenumber::country::Id;
use regex::Regex;

pub(super) static CANDIDATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x-u)
        (?:\+|\b00)[1-9][0-9]{0,3}(?:[\ .\-/]?\(?[0-9]{1,6}\)?){2,8}
        | \(?\b0[1-9][0-9]{0,4}\)?(?:[\ .\-/]{0,2}[0-9]{2,8}){1,6}
        | \(?\b[2-9][0-9]{2}\)?[\ .\-][0-9]{3}[\ .\-][0-9]{4}\b
        | \b[3-9][0-9]{2}(?:[\ .][0-9]{2,4}){2,3}\b
        ",
    )
    .expect("constant regex")
});

/// A candidate that starts like a date: three groups of digits joined by `.`, `/` or `-`.
const DATE_START: &str = r"^\(?[0-9]{1,4}[./\-][0-9]{1,2}[./\-][0-9]{2,4}";

/// A date, followed by anything but a digit.
static DATE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("{DATE_START}(?:$|[^0-9])")).expect("constant regex"));

/// A date as [`DATE_RE`] reads one, but not when a fourth group of digits follows the third
/// (`06.12.34.56.78` is five pairs, not a date).
static DATE_ONLY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"{DATE_START}(?:$|[^0-9./\-]|[./\-](?:$|[^0-9]))"))
        .expect("constant regex")
});

/// How sure the guard must be that a candidate is a phone number before refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// The number must be valid in libphonenumber's metadata (format 2 before
    /// `detectors.phones_fail_closed`).
    Valid,
    /// A possible length for its country is enough, and dotted pairs are not dates.
    FailClosed,
}

/// The byte spans of `s` that are valid phone numbers, skipping spans in `taken` (digits an
/// earlier detector already read as a card, IBAN or national id).
pub fn find(s: &str, regions: &[Id], taken: &[(usize, usize)], strictness: Strictness) -> bool {
    let date = match strictness {
        Strictness::Valid => &*DATE_RE,
        Strictness::FailClosed => &*DATE_ONLY_RE,
    };
    CANDIDATE_RE.find_iter(s).any(|m| {
        let c = m.as_str().trim_end_matches([' ', '.', '-', '/']);
        let end = m.start() + c.len();
        if taken.iter().any(|&(a, b)| a < end && m.start() < b) {
            return false;
        }
        let n = c.bytes().filter(u8::is_ascii_digit).count();
        if !(8..=15).contains(&n) || date.is_match(c) {
            return false;
        }
        number(c, regions, strictness)
    })
}

/// Whether `c` is a phone number: in international form for any country, in national form
/// for one of `regions`.
fn number(c: &str, regions: &[Id], strictness: Strictness) -> bool {
    let accept = |p: phonenumber::PhoneNumber| match strictness {
        Strictness::Valid => p.is_valid(),
        Strictness::FailClosed => p.is_valid() || possible_length(&p),
    };
    if c.starts_with('+') || c.starts_with("00") {
        let intl = match c.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => c.to_owned(),
        };
        return phonenumber::parse(None, &intl).is_ok_and(accept);
    }
    if c.bytes().filter(u8::is_ascii_digit).count() < 9 {
        return false;
    }
    regions
        .iter()
        .any(|&r| phonenumber::parse(Some(r), c).is_ok_and(accept))
}

/// Whether the national number's length is one the metadata lists for a person's number
/// (fixed line or mobile) under its country code.
fn possible_length(p: &phonenumber::PhoneNumber) -> bool {
    let len = p.national().to_string().len();
    phonenumber::metadata::DATABASE
        .by_code(&p.code().value())
        .into_iter()
        .flatten()
        .any(|m| {
            let d = m.descriptors();
            [Some(d.general()), d.fixed_line(), d.mobile()]
                .into_iter()
                .flatten()
                .any(|desc| {
                    desc.possible_length()
                        .iter()
                        .any(|&l| usize::from(l) == len)
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGIONS: &[Id] = &[
        Id::DE,
        Id::FR,
        Id::ES,
        Id::GB,
        Id::IT,
        Id::NL,
        Id::PL,
        Id::US,
    ];

    #[test]
    fn phones_in_any_form() {
        for s in [
            "call +44 20 7946 0018 now",
            "Tel. 030 12345678",
            "mobile 0151 23456789",
            "appelez le 06 12 34 56 78",
            "llame al 612 345 678",
            "+34 612 34 56 78",
            "0049 89 12345678",
            "(212) 555-0142",
            "+1-202-555-0173",
            "07700 900123",
        ] {
            assert!(find(s, REGIONS, &[], Strictness::Valid), "{s}");
        }
    }

    #[test]
    fn not_phones() {
        for s in [
            "on 01.03.2026 at 10:00",
            "2026-03-01T10:00:00Z",
            "epoch 1772359200",
            "build 4929123456789012",
            "version 10.0.19041.1",
            "CVE-2021-44228",
            "+1 is fine",
            "198.51.100.7",
        ] {
            for strictness in [Strictness::Valid, Strictness::FailClosed] {
                assert!(!find(s, REGIONS, &[], strictness), "{s}");
            }
        }
        assert!(!find(
            "Tel. 030 12345678",
            REGIONS,
            &[(5, 17)],
            Strictness::FailClosed
        ));
    }

    /// Numbers in phone form outside the allocated ranges, and French dotted pairs: let
    /// through when validity is required, refused when the policy fails closed.
    #[test]
    fn fail_closed_reads_possible_numbers_and_dotted_pairs() {
        for s in [
            "rappel au 06.12.34.56.78",
            "+33 7 29 93 57 23",
            "+34 760 804 546",
            "07.02.43.61.34",
        ] {
            assert!(!find(s, REGIONS, &[], Strictness::Valid), "{s}");
            assert!(find(s, REGIONS, &[], Strictness::FailClosed), "{s}");
        }
        // A date is still a date, with or without what follows it.
        for s in ["am 06.12.2025 um 10:00", "le 06.12.25.", "2025-12-06 10:00"] {
            assert!(!find(s, REGIONS, &[], Strictness::FailClosed), "{s}");
        }
    }
}
