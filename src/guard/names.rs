//! Customer names in free text (policy format 2): the canonical token sequence of a text, and
//! the canonical forms a registered name is stored under.
//!
//! Canonicalisation, the same for the register and for every text screened:
//! - words are split at whitespace (line breaks included) and at every character that is not a
//!   letter or digit (hyphens, apostrophes, `&`, punctuation): `Acme-Bank's` → `acme bank s`,
//!   `d'Acme` → `d acme`;
//! - dotted abbreviations are closed up first (`S.A.` → `sa`, `e.V.` → `ev`);
//! - lower case; German umlauts and ß transliterated (`ü` → `ue`, `ß` → `ss`), every other
//!   letter folded to ASCII (`é` → `e`, `ñ` → `n`, `ø` → `o`);
//! - legal-form words (GmbH, AG, Inc, Ltd, SA, plc, eV, SARL, SL, BV, ...) are dropped;
//! - URLs, e-mail addresses and host names stay one opaque token that no name can match: an
//!   actor's look-alike domain `acme-bank-login.example` is the actor's, not a mention of
//!   "Acme Bank" (the customer's own domains are the domain register's job).
//!
//! A registered name is stored under its canonical form and, when they differ, its form with
//! umlauts folded plainly (`ü` → `u`, so `Muller` matches `Müller`) and its German genitive
//! (`Acme Banks`). Matching looks up every run of 1..=`max_tokens` consecutive tokens.

use std::borrow::Cow;
use std::sync::LazyLock;

/// Legal-form words, canonical (lower-case ASCII, dots closed up). Dropped from names and text.
const LEGAL_FORMS: &[&str] = &[
    "ab",
    "ag",
    "aps",
    "asa",
    "bv",
    "bvba",
    "co",
    "corp",
    "corporation",
    "cv",
    "doo",
    "eg",
    "ek",
    "ev",
    "gbr",
    "gmbh",
    "inc",
    "incorporated",
    "kft",
    "kg",
    "kgaa",
    "llc",
    "llp",
    "lp",
    "ltd",
    "ltda",
    "limited",
    "mbh",
    "nv",
    "ohg",
    "oy",
    "oyj",
    "plc",
    "pty",
    "sa",
    "sae",
    "sarl",
    "sas",
    "sasu",
    "sau",
    "scs",
    "se",
    "sl",
    "sll",
    "slu",
    "snc",
    "spa",
    "sprl",
    "srl",
    "sro",
    "ug",
    "vof",
];

/// The opaque token standing for a URL, address or host: never part of a canonical name.
const OPAQUE: &str = "\u{1}";

/// A text's canonical tokens, in one buffer (single spaces between them) with their ranges, so
/// a run of tokens is one borrowed slice.
#[derive(Debug, Default)]
pub struct Tokens {
    buf: String,
    spans: Vec<(usize, usize)>,
}

impl Tokens {
    /// Tokenises `text` (clearing what was there). One pass, no allocation once the buffers
    /// have grown: the text is cut at ASCII whitespace bytes, and an ASCII piece whose trimmed
    /// word has no `.`, `@` or `:` (most words: it can be neither opaque nor an abbreviation)
    /// is split into parts and lower-cased straight into the buffer; a legal form is dropped by
    /// truncating it again.
    pub fn of(&mut self, text: &str) {
        self.buf.clear();
        self.spans.clear();
        let b = text.as_bytes();
        // The whitespace `char::is_whitespace` knows below 0x80: \t \n \x0B \x0C \r and space.
        let space = |c: u8| matches!(c, b'\t'..=b'\r' | b' ');
        let mut i = 0;
        while i < b.len() {
            if space(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !space(b[i]) {
                i += 1;
            }
            self.piece(&text[start..i]);
        }
    }

    /// Text between ASCII whitespace: its words as [`Tokens::word`] makes them.
    fn piece(&mut self, piece: &str) {
        if !piece.is_ascii() {
            // Unicode whitespace may still split it.
            for raw in piece.split_whitespace() {
                self.word(raw);
            }
            return;
        }
        // Below 0x80 `is_alphanumeric` is the ASCII one: the word trimmed as `word` trims it.
        let b = piece.as_bytes();
        let (Some(lo), Some(hi)) = (
            b.iter().position(u8::is_ascii_alphanumeric),
            b.iter().rposition(u8::is_ascii_alphanumeric),
        ) else {
            return;
        };
        if b[lo..hi].iter().any(|c| matches!(c, b'.' | b'@' | b':')) {
            self.word(&piece[lo..=hi]);
            return;
        }
        // Parts: the runs of letters and digits.
        let mut p = lo;
        while p <= hi {
            if !b[p].is_ascii_alphanumeric() {
                p += 1;
                continue;
            }
            let q = p;
            while p <= hi && b[p].is_ascii_alphanumeric() {
                p += 1;
            }
            self.push_folded(&piece[q..p]);
        }
    }

    /// One whitespace-delimited word: trimmed, opaque, or split into canonical parts.
    fn word(&mut self, raw: &str) {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
        if word.is_empty() {
            return;
        }
        if opaque(word) {
            self.push(OPAQUE);
            return;
        }
        let closed;
        let word = if word.contains('.') {
            closed = closed_abbreviation(word);
            &*closed
        } else {
            word
        };
        for part in word.split(|c: char| !c.is_alphanumeric()) {
            if !part.is_empty() {
                self.push_folded(part);
            }
        }
    }

    /// Pushes `fold(part, true)` unless it is a legal form.
    fn push_folded(&mut self, part: &str) {
        let before = self.buf.len();
        if !self.buf.is_empty() {
            self.buf.push(' ');
        }
        let start = self.buf.len();
        if part.is_ascii() {
            self.buf.push_str(part);
            self.buf[start..].make_ascii_lowercase();
        } else {
            fold_into(part, true, &mut self.buf);
        }
        if is_legal_form(&self.buf[start..]) {
            self.buf.truncate(before);
        } else {
            self.spans.push((start, self.buf.len()));
        }
    }

    fn push(&mut self, t: &str) {
        if !self.buf.is_empty() {
            self.buf.push(' ');
        }
        let start = self.buf.len();
        self.buf.push_str(t);
        self.spans.push((start, self.buf.len()));
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Token `i`.
    pub fn token(&self, i: usize) -> &str {
        let (a, b) = self.spans[i];
        &self.buf[a..b]
    }

    /// Tokens `i..i+n` joined by single spaces (None past the end or across an opaque token).
    pub fn run(&self, i: usize, n: usize) -> Option<&str> {
        let last = i.checked_add(n)?.checked_sub(1)?;
        let (&(a, _), &(_, b)) = (self.spans.get(i)?, self.spans.get(last)?);
        let s = &self.buf[a..b];
        (!s.contains(OPAQUE)).then_some(s)
    }

    /// The whole canonical text.
    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

/// A URL, e-mail address or host name: one opaque token.
fn opaque(w: &str) -> bool {
    if w.contains('@') || w.as_bytes().windows(3).any(|x| x == b"://") {
        return true;
    }
    // A host: dotted labels ending in a top-level label of two letters or more.
    match w.rsplit_once('.') {
        Some((head, tld)) => {
            !head.is_empty()
                && !head.ends_with('.')
                && tld.chars().count() >= 2
                && tld.chars().all(char::is_alphabetic)
                && head.chars().any(char::is_alphanumeric)
                && !head.split('.').all(|l| l.chars().count() == 1)
        }
        None => false,
    }
}

/// `S.A.` → `SA`, `e.V` → `eV`: single letters joined by dots are one abbreviation.
fn closed_abbreviation(w: &str) -> Cow<'_, str> {
    let mut parts = w.split('.').filter(|p| !p.is_empty());
    let mut n = 0;
    let single = parts.all(|p| {
        n += 1;
        p.chars().count() == 1
    });
    if single && n >= 2 {
        Cow::Owned(w.replace('.', ""))
    } else {
        Cow::Borrowed(w)
    }
}

/// True for a word of [`LEGAL_FORMS`] (by a packed key, not a string comparison per form: this
/// runs on every word of every string screened). Most words are ruled out before that by their
/// length and first letter.
fn is_legal_form(t: &str) -> bool {
    struct Forms {
        keys: Vec<u128>,
        /// Bit `c - b'a'` of entry `n`: some form of `n` bytes starts with `c`.
        first: [u32; 16],
    }
    static FORMS: LazyLock<Forms> = LazyLock::new(|| {
        let mut keys: Vec<u128> = LEGAL_FORMS.iter().filter_map(|f| packed(f)).collect();
        keys.sort_unstable();
        let mut first = [0u32; 16];
        for f in LEGAL_FORMS {
            first[f.len()] |= 1 << (f.as_bytes()[0] - b'a');
        }
        Forms { keys, first }
    });
    let forms = &*FORMS;
    match t.as_bytes().first() {
        Some(&c @ b'a'..=b'z') if t.len() < 16 => {
            forms.first[t.len()] & (1 << (c - b'a')) != 0
                && packed(t).is_some_and(|k| forms.keys.binary_search(&k).is_ok())
        }
        _ => false,
    }
}

/// A word of at most 15 bytes as one integer: its length, then its bytes.
fn packed(t: &str) -> Option<u128> {
    (t.len() <= 15).then(|| {
        t.bytes()
            .fold(t.len() as u128, |k, b| (k << 8) | u128::from(b))
    })
}

/// Lower case and ASCII: umlauts transliterated (`ü` → `ue`) when `umlauts`, else folded plainly
/// (`ü` → `u`); every other non-ASCII letter folded by `deunicode`.
pub fn fold(part: &str, umlauts: bool) -> Cow<'_, str> {
    if part.is_ascii() {
        if part.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(part.to_ascii_lowercase());
        }
        return Cow::Borrowed(part);
    }
    let mut out = String::with_capacity(part.len() + 2);
    fold_into(part, umlauts, &mut out);
    Cow::Owned(out)
}

/// [`fold`] of a non-ASCII part, appended to `out`.
fn fold_into(part: &str, umlauts: bool, out: &mut String) {
    for c in part.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' if umlauts => out.push_str("ae"),
            'ö' if umlauts => out.push_str("oe"),
            'ü' if umlauts => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c if c.is_ascii() => out.push(c),
            c => match deunicode::deunicode_char(c) {
                Some(a) => out.extend(
                    a.chars()
                        .filter(char::is_ascii_alphanumeric)
                        .map(|c| c.to_ascii_lowercase()),
                ),
                None => out.push(c),
            },
        }
    }
}

/// The canonical forms a registered name is stored under (see the module doc); empty when the
/// name is nothing but legal forms and punctuation.
pub fn register_forms(name: &str) -> Vec<String> {
    let mut t = Tokens::default();
    t.of(name);
    if t.is_empty() || t.as_str().contains(OPAQUE) {
        return Vec::new();
    }
    let main = t.as_str().to_owned();
    let mut forms = vec![main.clone()];
    // Umlauts folded plainly: fold the name's words without transliteration.
    let plain: Vec<String> = name
        .split_whitespace()
        .map(|w| closed_abbreviation(w.trim_matches(|c: char| !c.is_alphanumeric())).into_owned())
        .flat_map(|w| {
            w.split(|c: char| !c.is_alphanumeric())
                .filter(|p| !p.is_empty())
                .map(|p| fold(p, false).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|p| !LEGAL_FORMS.contains(&p.as_str()))
        .collect();
    let plain = plain.join(" ");
    for f in [plain.clone(), format!("{main}s"), format!("{plain}s")] {
        if !f.is_empty() && !forms.contains(&f) {
            forms.push(f);
        }
    }
    forms
}

/// The number of tokens of a canonical form.
pub fn token_count(form: &str) -> usize {
    form.split(' ').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        let mut t = Tokens::default();
        t.of(s);
        t.as_str().replace(OPAQUE, "<opaque>")
    }

    /// The tokeniser as first written (a `Vec` per word, `fold` per part, a scan of
    /// `LEGAL_FORMS`): the oracle the one-pass [`Tokens::of`] must agree with, token for token.
    fn reference(text: &str) -> (String, Vec<(usize, usize)>) {
        let mut t = Tokens::default();
        for raw in text.split_whitespace() {
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
            if word.is_empty() {
                continue;
            }
            if opaque_reference(word) {
                t.push(OPAQUE);
                continue;
            }
            let parts: Vec<&str> = word.split('.').filter(|p| !p.is_empty()).collect();
            let word = if parts.len() >= 2 && parts.iter().all(|p| p.chars().count() == 1) {
                Cow::Owned(parts.concat())
            } else {
                Cow::Borrowed(word)
            };
            for part in word.split(|c: char| !c.is_alphanumeric()) {
                if part.is_empty() {
                    continue;
                }
                let folded = fold(part, true);
                if !LEGAL_FORMS.contains(&&*folded) {
                    t.push(&folded);
                }
            }
        }
        (t.buf, t.spans)
    }

    fn opaque_reference(w: &str) -> bool {
        if w.contains("://") || w.contains('@') {
            return true;
        }
        opaque(w)
    }

    #[test]
    fn one_pass_tokeniser_agrees_with_the_reference() {
        const PIECES: &[&str] = &[
            "Acme",
            "BANK",
            "bank's",
            "GmbH",
            "gmbh",
            "S.A.",
            "s.a",
            "e.V.",
            "Inc.",
            "AG",
            "ag",
            "Ltd",
            "incorporated",
            "Corporation",
            "U.S.",
            "a.-.b",
            "v1.2",
            "x.example",
            "acme-bank-login.example",
            "https://x.example/a",
            "jane@acme.example",
            "a.b.c",
            ".",
            "..",
            "-",
            "'",
            "&",
            "(",
            ")",
            ",",
            "Müller",
            "Zwölf",
            "Straße",
            "Ñúñez",
            "İstanbul",
            "ǅemal",
            "ﬁrma",
            "Ⅻ",
            "ª",
            "²",
            "ー",
            "〆",
            "٣",
            "𝔄",
            "e\u{301}",
            "日本",
            "Société",
            " ",
            " ",
            "\t",
            "\n",
            "\r\n",
            "\u{b}",
            "\u{c}",
            "\u{1c}",
            "\u{85}",
            "\u{a0}",
            "\u{2003}",
            "\u{3000}",
            "x",
            "12",
            "2A",
            "Nord-",
            "wind",
            "d'Acme",
            "ACME-Bank's",
        ];
        let mut lcg = crate::guard::bench::Lcg::new(7);
        let mut next = |m: usize| lcg.below(m);
        let mut t = Tokens::default();
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..next(10) {
                s.push_str(PIECES[next(PIECES.len())]);
                if next(3) == 0 {
                    s.push(' ');
                }
            }
            t.of(&s);
            let (buf, spans) = reference(&s);
            assert_eq!((&t.buf, &t.spans), (&buf, &spans), "{s:?}");
        }
        for f in LEGAL_FORMS {
            assert!(is_legal_form(f), "{f}");
            assert!(!is_legal_form(&format!("{f}x")), "{f}x");
        }
        assert!(!is_legal_form(""));
        assert!(!is_legal_form("incorporatedx"));
    }

    #[test]
    fn canonical_text() {
        assert_eq!(
            canon("Die Müller-Logistik GmbH\nmeldete"),
            "die mueller logistik meldete"
        );
        assert_eq!(canon("ACME BANK's SOC"), "acme bank s soc");
        assert_eq!(canon("d'Acme Bank S.A."), "d acme bank");
        assert_eq!(canon("Zwölf Brücken e.V., Köln"), "zwoelf bruecken koeln");
        assert_eq!(canon("Ferretería Núñez S.L."), "ferreteria nunez");
        assert_eq!(
            canon("Société Générale des Eaux SARL"),
            "societe generale des eaux"
        );
        assert_eq!(canon("Straße"), "strasse");
        assert_eq!(
            canon("see acme-bank-login.example and https://x.example/acme"),
            "see <opaque> and <opaque>"
        );
        assert_eq!(canon("Acme Bank."), "acme bank");
        assert_eq!(canon("v1.2 build"), "v1 2 build");
    }

    #[test]
    fn runs_do_not_cross_opaque_tokens() {
        let mut t = Tokens::default();
        t.of("Acme evil.example Bank");
        assert_eq!(t.run(0, 1), Some("acme"));
        assert_eq!(t.run(0, 2), None);
        assert_eq!(t.run(2, 1), Some("bank"));
        assert_eq!(t.run(2, 2), None);
    }

    #[test]
    fn register_forms_cover_transliterations_and_genitive() {
        let f = register_forms("Müller Logistik GmbH");
        assert_eq!(
            f,
            vec![
                "mueller logistik",
                "muller logistik",
                "mueller logistiks",
                "muller logistiks"
            ]
        );
        assert_eq!(register_forms("Acme Bank"), vec!["acme bank", "acme banks"]);
        assert!(register_forms("GmbH").is_empty());
        assert_eq!(token_count("acme bank"), 2);
    }
}
