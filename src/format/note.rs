//! C2SP signed notes (c2sp.org/signed-note): a text followed by a blank line and one or more
//! signature lines `— <name> base64(key id || signature)`. Checkpoints and cosignatures are
//! signed notes, so this is the one place that parses, prints, signs and verifies them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::FormatError;
use super::hash::sha256;
use super::signature::public_key;

/// Start of every signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Most signature lines a note may carry; the spec asks verifiers to bound the work an attacker
/// can cause and to accept at least 16.
pub const MAX_SIGNATURES: usize = 100;

/// Signature algorithm byte of a key: 0x01 Ed25519 note signature, 0x04 cosignature/v1.
/// It goes into the key id, so one key pair can never be confused across the two uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Ed25519 over the note text (signed-note, type 0x01): the log's checkpoint key.
    Ed25519,
    /// Timestamped Ed25519 witness cosignature (tlog-cosignature, type 0x04).
    Cosignature,
}

impl KeyType {
    /// The signature type byte assigned by the signed-note spec.
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => 0x01,
            KeyType::Cosignature => 0x04,
        }
    }

    /// The key type for a signature type byte, if it is one this crate supports.
    pub fn from_byte(b: u8) -> Option<KeyType> {
        match b {
            0x01 => Some(KeyType::Ed25519),
            0x04 => Some(KeyType::Cosignature),
            _ => None,
        }
    }
}

/// key id = SHA-256(name || 0x0A || type || public key)[:4]: names which key made a signature
/// line without carrying the key itself.
pub fn key_id(name: &str, kind: KeyType, public_key: &[u8; 32]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 2 + 32);
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(kind.byte());
    input.extend_from_slice(public_key);
    let h = sha256(&input);
    [h[0], h[1], h[2], h[3]]
}

/// Whether `name` may be a key name: non-empty, no Unicode space, no `+` (the separator in key
/// strings), no control character (notes may not contain them).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || (c as u32) < 0x20)
}

/// Checks that `text` can be the text of a signed note: ends in a newline and holds no ASCII
/// control character other than newline. Signing anything else would make an unparsable note.
pub(crate) fn check_text(text: &str) -> Result<(), FormatError> {
    if !text.ends_with('\n') {
        return Err(FormatError::MalformedNote("text does not end in a newline"));
    }
    check_no_controls(text)
}

/// The signed-note rule: no ASCII control characters other than newline.
fn check_no_controls(s: &str) -> Result<(), FormatError> {
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(FormatError::MalformedNote("control character"));
    }
    Ok(())
}

/// One signature line: "— <name> base64(key_id || sig)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the line.
    pub name: String,
    /// The 4-byte key id (big-endian uint32 in the spec).
    pub key_id: [u8; 4],
    /// The bytes after the key id: 64 for Ed25519, 8 + 64 for cosignature/v1.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The exact signature line, ending in a newline, as it appears in a note.
    pub fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }

    /// Parses one signature line without its newline, strictly (canonical base64, valid name,
    /// a key id and at least one signature byte).
    pub fn parse_line(line: &str) -> Result<NoteSignature, FormatError> {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(FormatError::MalformedNote(
                "signature line does not start with an em dash",
            ))?;
        let (name, b64) = rest.split_once(' ').ok_or(FormatError::MalformedNote(
            "signature line has no signature",
        ))?;
        if !valid_name(name) {
            return Err(FormatError::MalformedNote("bad key name on signature line"));
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| FormatError::MalformedNote("signature is not base64"))?;
        if raw.len() < 5 {
            return Err(FormatError::MalformedNote(
                "signature shorter than a key id",
            ));
        }
        Ok(NoteSignature {
            name: name.to_string(),
            key_id: [raw[0], raw[1], raw[2], raw[3]],
            signature: raw[4..].to_vec(),
        })
    }
}

/// A note: text (ends in "\n") plus signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline but not the blank separator line.
    pub text: String,
    /// The signature lines, in the order they appear.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note by the spec's grammar: text ending in a newline, a blank line, one
    /// or more signature lines each ending in a newline. The text is split from the signatures
    /// at the last blank line, so the text itself may contain blank lines.
    pub fn parse(s: &str) -> Result<Note, FormatError> {
        check_no_controls(s)?;
        let split = s.rfind("\n\n").ok_or(FormatError::MalformedNote(
            "no blank line before the signatures",
        ))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        if sigs.is_empty() {
            return Err(FormatError::MalformedNote("no signature lines"));
        }
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(FormatError::MalformedNote("note does not end in a newline"))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(FormatError::MalformedNote("too many signatures"));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The exact serialisation: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.line());
        }
        out
    }
}

/// A private Ed25519 note key with its name ("PRIVATE+KEY+name+hexid+base64(0x01||seed)"):
/// what the log holds to sign checkpoints.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
}

impl fmt::Debug for Signer {
    // Never print the seed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A named note signer; the name must be a valid key name (non-empty, no `+`, no spaces).
    pub fn new(name: &str, key: SigningKey) -> Result<Signer, FormatError> {
        if !valid_name(name) {
            return Err(FormatError::MalformedKey("bad key name"));
        }
        let key_id = key_id(name, KeyType::Ed25519, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_string(),
            key,
            key_id,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`, checking the
    /// key id against the key so a mislabelled key is caught before it signs anything.
    pub fn parse(s: &str) -> Result<Signer, FormatError> {
        // The base64 part may itself contain '+', so split only as far as it.
        let mut parts = s.splitn(5, '+');
        let (Some("PRIVATE"), Some("KEY"), Some(name), Some(hex_id), Some(b64)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(FormatError::MalformedKey("not a PRIVATE+KEY string"));
        };
        let id = parse_hex_id(hex_id)?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| FormatError::MalformedKey("key is not base64"))?;
        let (&kind, seed) = raw
            .split_first()
            .ok_or(FormatError::MalformedKey("empty key"))?;
        if kind != KeyType::Ed25519.byte() {
            return Err(FormatError::MalformedKey(
                "private key is not an Ed25519 note key",
            ));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| FormatError::MalformedKey("Ed25519 seed is not 32 bytes"))?;
        let signer = Signer::new(name, SigningKey::from_bytes(&seed))?;
        if signer.key_id != id {
            return Err(FormatError::MalformedKey("key id does not match the key"));
        }
        Ok(signer)
    }

    /// The key name, which goes on every signature line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, which goes at the start of every signature.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The public verifier key matching this signer, to hand to those who check its notes.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            kind: KeyType::Ed25519,
            key: self.key.verifying_key(),
        }
    }

    /// Signs a note text (it must end in a newline and contain no control characters).
    pub fn sign(&self, text: &str) -> Result<NoteSignature, FormatError> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }

    /// The private key string, the inverse of [`Signer::parse`]. It is secret.
    pub fn to_private_key_string(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(KeyType::Ed25519.byte());
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            BASE64.encode(raw)
        )
    }
}

/// Parses the 8 lowercase hex digits of a key id (the form every implementation prints).
fn parse_hex_id(s: &str) -> Result<[u8; 4], FormatError> {
    if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(FormatError::MalformedKey(
            "key id is not 8 lowercase hex digits",
        ));
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(s, &mut id).map_err(|_| FormatError::MalformedKey("key id is not hex"))?;
    Ok(id)
}

/// A public verifier key "name+hexid+base64(type||pubkey)" for KeyType Ed25519 or
/// Cosignature: what a client is configured with to trust a log or a witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// The key name, matched against signature lines.
    pub name: String,
    /// The key id, matched against signature lines; always `key_id(name, kind, key)`.
    pub key_id: [u8; 4],
    /// Which kind of signature this key makes.
    pub kind: KeyType,
    /// The Ed25519 public key.
    pub key: VerifyingKey,
}

impl Verifier {
    /// Parses `<name>+<hex key id>+<base64(type || 32-byte public key)>`, refusing unknown
    /// types, weak keys and a key id that does not match the name, type and key.
    pub fn parse(s: &str) -> Result<Verifier, FormatError> {
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hex_id), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(FormatError::MalformedKey("not a name+id+key verifier key"));
        };
        let id = parse_hex_id(hex_id)?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| FormatError::MalformedKey("key is not base64"))?;
        let (&kind, key) = raw
            .split_first()
            .ok_or(FormatError::MalformedKey("empty key"))?;
        let kind =
            KeyType::from_byte(kind).ok_or(FormatError::MalformedKey("unsupported key type"))?;
        if key.len() != 32 {
            return Err(FormatError::MalformedKey(
                "Ed25519 public key is not 32 bytes",
            ));
        }
        let v = Verifier::new(name, kind, public_key(key)?)?;
        if v.key_id != id {
            return Err(FormatError::MalformedKey("key id does not match the key"));
        }
        Ok(v)
    }

    /// A verifier from its parts, computing the key id; refuses bad names and weak keys.
    pub fn new(name: &str, kind: KeyType, key: VerifyingKey) -> Result<Verifier, FormatError> {
        if !valid_name(name) {
            return Err(FormatError::MalformedKey("bad key name"));
        }
        if key.is_weak() {
            return Err(FormatError::BadPublicKey);
        }
        Ok(Verifier {
            name: name.to_string(),
            key_id: key_id(name, kind, key.as_bytes()),
            kind,
            key,
        })
    }

    /// Whether a signature line claims to be by this key (same name and key id).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.key_id == sig.key_id
    }
}

impl fmt::Display for Verifier {
    /// The verifier key text, the inverse of [`Verifier::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.byte());
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            BASE64.encode(raw)
        )
    }
}

/// Checks one signature line against the verifier it claims to be from.
fn check_one(note: &Note, sig: &NoteSignature, v: &Verifier) -> Result<(), FormatError> {
    let bad = || FormatError::BadSignature {
        name: sig.name.clone(),
    };
    match v.kind {
        KeyType::Ed25519 => {
            let s = Signature::from_slice(&sig.signature).map_err(|_| bad())?;
            v.key
                .verify_strict(note.text.as_bytes(), &s)
                .map_err(|_| bad())
        }
        KeyType::Cosignature => super::cosignature::verify(sig, v, &note.text).map(|_| ()),
    }
}

/// signed-note verification rules: signatures from unknown (name, key id) are ignored; a known
/// key's bad signature rejects the note (BadSignature); no verified signature → UnverifiedNote.
/// Returns the verifiers (from `verifiers`) that signed, each once, in order of first signature.
/// Cosignature-type verifiers are checked with cosignature::verify semantics. Two different
/// verifiers sharing a name and key id are refused as ambiguous (MalformedKey).
pub fn verify<'a>(
    note: &Note,
    verifiers: &'a [Verifier],
) -> Result<Vec<&'a Verifier>, FormatError> {
    let mut signed: Vec<&'a Verifier> = Vec::new();
    for sig in &note.signatures {
        let mut known = verifiers.iter().filter(|v| v.matches(sig));
        let Some(v) = known.next() else {
            continue; // Unknown key: the spec says ignore it (other witnesses, rotated keys).
        };
        if known.any(|other| other != v) {
            return Err(FormatError::MalformedKey(
                "two verifiers share a name and key id",
            ));
        }
        // Every line from a known key is checked, repeats included: one bad line rejects.
        check_one(note, sig, v)?;
        if !signed.contains(&v) {
            signed.push(v);
        }
    }
    if signed.is_empty() {
        return Err(FormatError::UnverifiedNote);
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(seed: u8, name: &str) -> Signer {
        Signer::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn signed(text: &str, signers: &[&Signer]) -> Note {
        Note {
            text: text.to_string(),
            signatures: signers.iter().map(|s| s.sign(text).unwrap()).collect(),
        }
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let a = signer(1, "example.com/a");
        let note = signed("hello\n\nworld\n", &[&a]);
        let text = note.to_text();
        let parsed = Note::parse(&text).unwrap();
        assert_eq!(parsed, note);
        assert_eq!(parsed.to_text(), text);
        let vs = [a.verifier()];
        assert_eq!(verify(&parsed, &vs).unwrap(), vec![&vs[0]]);
    }

    #[test]
    fn keys_round_trip() {
        let a = signer(3, "a.example/log");
        let again = Signer::parse(&a.to_private_key_string()).unwrap();
        assert_eq!(again.name(), a.name());
        assert_eq!(again.key_id(), a.key_id());
        assert_eq!(again.verifier(), a.verifier());
        let v = a.verifier();
        assert_eq!(Verifier::parse(&v.to_string()).unwrap(), v);
        let cv = Verifier::new("w", KeyType::Cosignature, v.key).unwrap();
        assert_eq!(Verifier::parse(&cv.to_string()).unwrap(), cv);
        assert_ne!(
            cv.key_id,
            Verifier::new("w", KeyType::Ed25519, v.key).unwrap().key_id
        );
        assert!(format!("{a:?}").contains("a.example/log"));
    }

    #[test]
    fn tampered_text_or_signature_rejected() {
        let a = signer(1, "a");
        let vs = [a.verifier()];
        let mut note = signed("text\n", &[&a]);
        note.text = "texT\n".into();
        assert_eq!(
            verify(&note, &vs),
            Err(FormatError::BadSignature { name: "a".into() })
        );
        let mut note = signed("text\n", &[&a]);
        note.signatures[0].signature[10] ^= 1;
        assert!(matches!(
            verify(&note, &vs),
            Err(FormatError::BadSignature { .. })
        ));
        let mut note = signed("text\n", &[&a]);
        note.signatures[0].signature.pop();
        assert!(matches!(
            verify(&note, &vs),
            Err(FormatError::BadSignature { .. })
        ));
    }

    #[test]
    fn known_bad_signature_rejects_despite_good_one() {
        let (a, b) = (signer(1, "a"), signer(2, "b"));
        let mut note = signed("text\n", &[&a, &b]);
        note.signatures[1].signature[0] ^= 1;
        let vs = [a.verifier(), b.verifier()];
        assert_eq!(
            verify(&note, &vs),
            Err(FormatError::BadSignature { name: "b".into() })
        );
        // Not knowing b, the same note verifies by a alone.
        assert_eq!(verify(&note, &vs[..1]).unwrap(), vec![&vs[0]]);
        // A repeated line by a known key is checked too.
        let mut note = signed("text\n", &[&a, &a]);
        note.signatures[1].signature[0] ^= 1;
        assert!(verify(&note, &vs).is_err());
    }

    #[test]
    fn unknown_keys_only_is_unverified() {
        let (a, b) = (signer(1, "a"), signer(2, "b"));
        let note = signed("text\n", &[&a]);
        assert_eq!(
            verify(&note, &[b.verifier()]),
            Err(FormatError::UnverifiedNote)
        );
        assert_eq!(verify(&note, &[]), Err(FormatError::UnverifiedNote));
        // Same name, other key: a different key id, so ignored, not a bad signature.
        let a2 = signer(9, "a");
        assert_eq!(
            verify(&note, &[a2.verifier()]),
            Err(FormatError::UnverifiedNote)
        );
    }

    #[test]
    fn ambiguous_verifiers_refused() {
        let a = signer(1, "a");
        let note = signed("text\n", &[&a]);
        let mut twin = a.verifier();
        twin.key = signer(2, "a").verifier().key; // same name and id, other key
        assert!(matches!(
            verify(&note, &[a.verifier(), twin]),
            Err(FormatError::MalformedKey(_))
        ));
        // An exact duplicate is harmless and reported once.
        let vs = [a.verifier(), a.verifier()];
        assert_eq!(verify(&note, &vs).unwrap().len(), 1);
    }

    #[test]
    fn malformed_notes_rejected() {
        let a = signer(1, "a");
        let good = signed("text\n", &[&a]).to_text();
        assert!(Note::parse(&good).is_ok());
        let line = good.strip_prefix("text\n\n").unwrap().to_string();
        let b64 = line.trim_end().rsplit(' ').next().unwrap().to_string();
        let cases = [
            format!("text\n{line}"),                                // no blank line
            good.trim_end_matches('\n').to_string(),                // missing final newline
            "text\n\n".to_string(),                                 // empty signature list
            "text\n\n\n".to_string(),                               // blank line only
            format!("text\n\n— a {}!\n", &b64[..b64.len() - 1]),    // bad base64
            format!("text\n\n— a {}\n", b64.trim_end_matches('=')), // unpadded base64
            format!("text\n\n- a {b64}\n"),                         // hyphen, not em dash
            format!("text\n\n—a {b64}\n"),                          // no space after the dash
            "text\n\n— a\n".to_string(),                            // no signature
            "text\n\n— a \n".to_string(),                           // empty signature
            format!("text\n\n—  {b64}\n"),                          // empty name
            format!("text\n\n— a+b {b64}\n"),                       // '+' in name
            format!("text\n\n— a {b64} \n"),                        // trailing space
            "text\n\n— a AQIDBA==\n".to_string(),                   // key id only (4 bytes)
            "text\n\n— a AQID\n".to_string(),                       // key id of 3 bytes
            format!("te\txt\n\n{line}"),                            // control character
            format!("text\r\n\n{line}"),                            // carriage return
            format!("text\n\n{line}\n"),                            // blank line after signatures
        ];
        for c in &cases {
            assert!(
                matches!(Note::parse(c), Err(FormatError::MalformedNote(_))),
                "accepted {c:?}"
            );
        }
        let many = format!("text\n\n{}", line.repeat(MAX_SIGNATURES + 1));
        assert!(Note::parse(&many).is_err());
        assert!(Note::parse(&format!("text\n\n{}", line.repeat(MAX_SIGNATURES))).is_ok());
    }

    #[test]
    fn signing_refuses_bad_text_and_names() {
        let a = signer(1, "a");
        assert!(a.sign("no newline").is_err());
        assert!(a.sign("").is_err());
        assert!(a.sign("tab\there\n").is_err());
        for bad in ["", "a+b", "a b", "a\nb", "a\u{2003}b", "a\u{1}b"] {
            assert!(
                Signer::new(bad, SigningKey::from_bytes(&[1; 32])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_key_strings_rejected() {
        let a = signer(1, "a");
        let v = a.verifier().to_string();
        let p = a.to_private_key_string();
        let (name_id, key) = v.rsplit_once('+').unwrap();
        let wrong_id = format!("a+00000000+{key}");
        assert_eq!(
            Verifier::parse(&wrong_id),
            Err(FormatError::MalformedKey("key id does not match the key"))
        );
        assert!(Verifier::parse(&v.to_uppercase()).is_err());
        assert!(Verifier::parse(&format!("{name_id}+{}", &key[..key.len() - 4])).is_err());
        assert!(Verifier::parse("a+00000000").is_err());
        assert!(Verifier::parse(&v.replacen("+", "+0", 1)).is_err());
        // Unknown type byte.
        let mut raw = BASE64.decode(key).unwrap();
        raw[0] = 0x02;
        assert!(Verifier::parse(&format!("{name_id}+{}", BASE64.encode(&raw))).is_err());
        // Weak key (identity point).
        let mut weak = vec![0x01, 1];
        weak.extend_from_slice(&[0; 31]);
        let weak_id = hex::encode(key_id("a", KeyType::Ed25519, weak[1..].try_into().unwrap()));
        assert_eq!(
            Verifier::parse(&format!("a+{weak_id}+{}", BASE64.encode(&weak))),
            Err(FormatError::BadPublicKey)
        );
        assert!(Signer::parse(&p.replacen("PRIVATE", "PUBLIC", 1)).is_err());
        assert!(Signer::parse(&p.replacen("+a+", "+b+", 1)).is_err()); // id no longer matches
        assert!(Signer::parse(&v).is_err());
    }
}
