//! Phone numbers (policy format 2), validated with libphonenumber's metadata (`phonenumber`):
//! international form (`+49 …`, `0049 …`) for any country, national form for the regions the
//! policy lists (`detectors.phone_regions`). A candidate must be a valid number for its
//! country, not merely the right length.
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

static DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\(?[0-9]{1,4}[./\-][0-9]{1,2}[./\-][0-9]{2,4}(?:$|[^0-9])")
        .expect("constant regex")
});

/// The byte spans of `s` that are valid phone numbers, skipping spans in `taken` (digits an
/// earlier detector already read as a card, IBAN or national id).
pub fn find(s: &str, regions: &[Id], taken: &[(usize, usize)]) -> bool {
    CANDIDATE_RE.find_iter(s).any(|m| {
        let c = m.as_str().trim_end_matches([' ', '.', '-', '/']);
        let end = m.start() + c.len();
        if taken.iter().any(|&(a, b)| a < end && m.start() < b) {
            return false;
        }
        let n = c.bytes().filter(u8::is_ascii_digit).count();
        if !(8..=15).contains(&n) || DATE_RE.is_match(c) {
            return false;
        }
        valid(c, regions)
    })
}

fn valid(c: &str, regions: &[Id]) -> bool {
    if c.starts_with('+') || c.starts_with("00") {
        let intl = match c.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => c.to_owned(),
        };
        return phonenumber::parse(None, &intl).is_ok_and(|p| p.is_valid());
    }
    if c.bytes().filter(u8::is_ascii_digit).count() < 9 {
        return false;
    }
    regions
        .iter()
        .any(|&r| phonenumber::parse(Some(r), c).is_ok_and(|p| p.is_valid()))
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
            assert!(find(s, REGIONS, &[]), "{s}");
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
            assert!(!find(s, REGIONS, &[]), "{s}");
        }
        assert!(!find("Tel. 030 12345678", REGIONS, &[(5, 17)]));
    }
}
