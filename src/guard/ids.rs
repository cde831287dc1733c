//! National identity and tax numbers (policy format 2), each checked against its own structure
//! and check digit so that an arbitrary number of the same length rarely passes:
//!
//! | rule | number | check |
//! | --- | --- | --- |
//! | `personal.tax-id-de/1` | German Steuer-ID, 11 digits | ISO 7064 MOD 11,10; one digit repeated in the first ten |
//! | `personal.nir/1` | French NIR (sécurité sociale), 15 characters | key = 97 − (number mod 97); Corsica 2A/2B |
//! | `personal.dni/1` | Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter) | letter = table[number mod 23] |
//! | `personal.codice-fiscale/1` | Italian codice fiscale, 16 characters | odd/even table check letter (omocodia letters accepted) |
//! | `personal.bsn/1` | Dutch BSN, 9 digits (compact or `1234.56.782`) | the "11-proef" |
//! | `personal.pesel/1` | Polish PESEL, 11 digits | weights 1-3-7-9, valid month/day |
//!
//! US SSNs and UK NINOs are in `personal` (their rules exist since format 1).

use std::sync::LazyLock;

use regex::Regex;

use super::personal::Shapes;
use super::rules;

fn re(p: &str) -> Regex {
    Regex::new(p).expect("constant regex")
}

pub(super) static ELEVEN_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)[0-9]{2}(?: ?[0-9]{3}){3}(?-u:\b)"));
pub(super) static NIR_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i-u)\b[1-478][ .]?[0-9]{2}[ .]?[0-9]{2}[ .]?(?:[0-9]{2}|2[AB])[ .]?[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{2}\b",
    )
});
pub(super) static DNI_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i-u)\b(?:[0-9]{8}|[XYZ][ -]?[0-9]{7})[ -]?[A-Z]\b"));
pub(super) static CF_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i-u)\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b",
    )
});
pub(super) static BSN_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(?:[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})(?-u:\b)"));

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// German Steuer-ID: first digit not 0; in the first ten digits exactly one digit occurs two or
/// three times; check digit by ISO 7064 MOD 11,10.
pub fn is_steuer_id(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c >= 2).count();
    if repeated != 1 || counts.iter().any(|&c| c > 3) {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == d[10]
}

/// Polish PESEL: weights 1,3,7,9 repeated; month encodes the century (01–12, 21–32, 41–52,
/// 61–72, 81–92); day 01–31.
pub fn is_pesel(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 {
        return false;
    }
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d[..10].iter().zip(W).map(|(a, b)| a * b).sum();
    let month = (d[2] * 10 + d[3]) % 20;
    let day = d[4] * 10 + d[5];
    (10 - sum % 10) % 10 == d[10] && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// French NIR: sex 1/2 (7/8, 3/4 for provisional numbers), month 01–12 or 20–99 (unknown),
/// key = 97 − (13 digits mod 97), Corsica's 2A/2B read as 19/18.
pub fn is_nir(s: &str) -> bool {
    let c: String = s.chars().filter(char::is_ascii_alphanumeric).collect();
    if c.len() != 15 {
        return false;
    }
    let up = c.to_ascii_uppercase();
    let (body, key) = up.split_at(13);
    let num: String = match &body[5..7] {
        "2A" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_owned(),
    };
    let (Ok(n), Ok(k)) = (num.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    let month: u32 = body[3..5].parse().unwrap_or(0);
    let month_ok = (1..=12).contains(&month) || (20..=99).contains(&month);
    month_ok && 97 - n % 97 == k
}

/// Spanish DNI (`12345678Z`) or NIE (`X1234567L`): the letter is the number mod 23 in the
/// ministry's table.
pub fn is_dni(s: &str) -> bool {
    const T: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let c: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() != 9 {
        return false;
    }
    let (num, letter) = c.split_at(8);
    let num = match num.as_bytes()[0] {
        b'X' => format!("0{}", &num[1..]),
        b'Y' => format!("1{}", &num[1..]),
        b'Z' => format!("2{}", &num[1..]),
        _ => num.to_owned(),
    };
    let Ok(n) = num.parse::<usize>() else {
        return false;
    };
    letter.as_bytes()[0] == T[n % 23]
}

/// Italian codice fiscale: the 16th character from the odd/even position tables.
pub fn is_codice_fiscale(s: &str) -> bool {
    const ODD: [u32; 36] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23, // A-Z
    ];
    let c = s.to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() != 16 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let value = |ch: u8| -> usize {
        if ch.is_ascii_digit() {
            (ch - b'0') as usize
        } else {
            10 + (ch - b'A') as usize
        }
    };
    let mut sum = 0u32;
    for (i, &ch) in b[..15].iter().enumerate() {
        let v = value(ch);
        sum += if i % 2 == 0 {
            ODD[v]
        } else if v < 10 {
            v as u32
        } else {
            (v - 10) as u32
        };
    }
    b[15] == b'A' + (sum % 26) as u8
}

/// Dutch BSN: 9 digits passing the 11-proef (9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 mod 11), not all 0.
pub fn is_bsn(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i64 = d[..8]
        .iter()
        .enumerate()
        .map(|(i, &x)| i64::from(x) * (9 - i as i64))
        .sum::<i64>()
        - i64::from(d[8]);
    sum % 11 == 0
}

/// The national-id rules that fire on `s`, with the byte spans they matched (so the phone
/// detector does not read the same digits again). `shapes` (of `s`) skips each pattern that
/// cannot match: a NIR needs 14 digits in its chain, a DNI/NIE a run of seven, a codice
/// fiscale a 16-character word, a Steuer-ID or PESEL 11 grouped digits, a BSN nine.
pub(crate) fn scan(
    s: &str,
    shapes: &Shapes,
    out: &mut Vec<&'static str>,
    spans: &mut Vec<(usize, usize)>,
) {
    let mut find = |r: &Regex, ok: fn(&str) -> bool, rule: &'static str| {
        for m in r.find_iter(s) {
            if ok(m.as_str()) {
                spans.push((m.start(), m.end()));
                if !out.contains(&rule) {
                    out.push(rule);
                }
            }
        }
    };
    if shapes.nir >= 14 {
        find(&NIR_RE, is_nir, rules::PERSONAL_NIR);
    }
    if shapes.run >= 7 {
        find(&DNI_RE, is_dni, rules::PERSONAL_DNI);
    }
    if shapes.word16 {
        find(&CF_RE, is_codice_fiscale, rules::PERSONAL_CODICE_FISCALE);
    }
    if shapes.grouped >= 11 {
        find(&ELEVEN_RE, is_steuer_id, rules::PERSONAL_TAX_ID_DE);
        find(&ELEVEN_RE, is_pesel, rules::PERSONAL_PESEL);
    }
    if shapes.grouped >= 9 {
        find(&BSN_RE, is_bsn, rules::PERSONAL_BSN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        // Published specimen numbers of each scheme.
        assert!(is_steuer_id("86095742719"));
        assert!(is_steuer_id("86 095 742 719"));
        assert!(!is_steuer_id("86095742718"));
        assert!(!is_steuer_id("12345678901"), "no repeated digit");
        assert!(is_pesel("44051401359"));
        assert!(!is_pesel("44051401358"));
        assert!(is_nir("1 85 05 78 006 084 91"));
        assert!(!is_nir("1 85 05 78 006 084 36"));
        assert!(is_nir("2 69 05 2A 123 456 88"), "Corsica: 2A read as 19");
        assert!(is_dni("12345678Z"));
        assert!(is_dni("12345678-z"));
        assert!(!is_dni("12345678A"));
        assert!(is_dni("X1234567L"));
        assert!(is_dni("Y-1234567-X"));
        assert!(is_codice_fiscale("RSSMRA85T10A562S"));
        assert!(!is_codice_fiscale("RSSMRA85T10A562T"));
        assert!(is_bsn("111222333"));
        assert!(is_bsn("1112.22.333"));
        assert!(!is_bsn("111222334"));
    }

    #[test]
    fn scan_finds_each_in_prose() {
        let mut out = Vec::new();
        let mut spans = Vec::new();
        let all = "Steuer-ID 86095742719, NIR 185057800608491, DNI 12345678Z, CF RSSMRA85T10A562S, BSN 111222333, PESEL 44051401359";
        scan(all, &Shapes::of(all), &mut out, &mut spans);
        for r in [
            rules::PERSONAL_TAX_ID_DE,
            rules::PERSONAL_NIR,
            rules::PERSONAL_DNI,
            rules::PERSONAL_CODICE_FISCALE,
            rules::PERSONAL_BSN,
            rules::PERSONAL_PESEL,
        ] {
            assert!(out.contains(&r), "{r}: {out:?}");
        }
        out.clear();
        let none = "build 20260301 sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 CVE-2021-44228";
        scan(none, &Shapes::of(none), &mut out, &mut spans);
        assert!(out.is_empty(), "{out:?}");
    }
}
