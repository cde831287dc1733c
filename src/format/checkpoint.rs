//! C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the log's signed tree head, a signed note
//! whose text is `<origin>\n<size>\n<base64 root>\n` plus optional extension lines. The log
//! signs one after each batch (docs/DESIGN.md, "Checkpoints"); partners cosign it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::FormatError;
use super::hash::{Hash, hash_from_slice};
use super::note::{self, KeyType, Note, Signer, Verifier};

/// A tree head: which log, how many leaves, the RFC 6962 root at that size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; also the name of the log's signing key.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 root hash at `size`.
    pub root: Hash,
    /// Opaque, non-empty extension lines (without newlines); the spec discourages them.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root and extension lines, each ending in a newline.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses a checkpoint body strictly: non-empty origin, decimal size without leading zeros
    /// (or sign, or spaces), canonical base64 of a 32-byte root, non-empty extension lines,
    /// final newline, no control characters.
    pub fn parse_body(text: &str) -> Result<Checkpoint, FormatError> {
        if text.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(FormatError::MalformedNote(
                "control character in checkpoint",
            ));
        }
        let text = text.strip_suffix('\n').ok_or(FormatError::MalformedNote(
            "checkpoint does not end in a newline",
        ))?;
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(FormatError::MalformedNote(
                "checkpoint has fewer than three lines",
            ));
        };
        if origin.is_empty() {
            return Err(FormatError::MalformedNote("empty checkpoint origin"));
        }
        let size = parse_size(size)?;
        let root = BASE64
            .decode(root)
            .map_err(|_| FormatError::MalformedNote("checkpoint root is not base64"))?;
        let root = hash_from_slice(&root)?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(FormatError::MalformedNote(
                "empty checkpoint extension line",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Signs with the log key (the key name must equal the origin) and returns the full signed
    /// note text.
    pub fn sign(&self, log: &Signer) -> Result<String, FormatError> {
        self.sign_with_all(log, &[])
    }

    /// [`Checkpoint::sign`] by the log key and then by each of `also` (previous log keys during
    /// a rotation: same key name, other key ids), one signature line each.
    pub fn sign_with_all(&self, log: &Signer, also: &[Signer]) -> Result<String, FormatError> {
        if std::iter::once(log)
            .chain(also)
            .any(|l| l.name() != self.origin)
        {
            return Err(FormatError::MalformedKey(
                "log key name is not the checkpoint origin",
            ));
        }
        let body = self.body();
        // A field holding a newline would print a different checkpoint than this one.
        if Checkpoint::parse_body(&body)? != *self {
            return Err(FormatError::MalformedNote(
                "checkpoint field holds a newline",
            ));
        }
        let signatures = std::iter::once(log)
            .chain(also)
            .map(|l| l.sign(&body))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: body,
            signatures,
        }
        .to_text())
    }

    /// Parses a signed checkpoint note and verifies it with the log's verifier (its name must be
    /// the origin). Returns the checkpoint and the parsed note (with any cosignatures on it,
    /// unverified: check those with [`note::verify`] or [`super::cosignature::verify`]).
    pub fn open(note_text: &str, log: &Verifier) -> Result<(Checkpoint, Note), FormatError> {
        if log.kind != KeyType::Ed25519 {
            return Err(FormatError::MalformedKey(
                "log key is not an Ed25519 note key",
            ));
        }
        let note = Note::parse(note_text)?;
        // Verify before reading the text, as the signed-note spec requires.
        note::verify(&note, std::slice::from_ref(log))?;
        let checkpoint = Checkpoint::parse_body(&note.text)?;
        if checkpoint.origin != log.name {
            return Err(FormatError::MalformedNote(
                "checkpoint origin is not the log key name",
            ));
        }
        Ok((checkpoint, note))
    }
}

/// ASCII decimal with no leading zeros (except "0" itself); nothing else, not even a sign.
pub(crate) fn parse_size(s: &str) -> Result<u64, FormatError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FormatError::MalformedNote("checkpoint size is not decimal"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(FormatError::MalformedNote(
            "checkpoint size has a leading zero",
        ));
    }
    s.parse()
        .map_err(|_| FormatError::MalformedNote("checkpoint size overflows 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 15,
            root: [7; 32],
            extensions: vec![],
        }
    }

    fn log(name: &str) -> Signer {
        Signer::new(name, SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    #[test]
    fn body_round_trip() {
        let c = cp();
        assert_eq!(Checkpoint::parse_body(&c.body()).unwrap(), c);
        let mut e = cp();
        e.extensions = vec!["ext one".into(), "— two".into()];
        assert_eq!(Checkpoint::parse_body(&e.body()).unwrap(), e);
        let mut z = cp();
        z.size = 0;
        assert_eq!(Checkpoint::parse_body(&z.body()).unwrap(), z);
        z.size = u64::MAX;
        assert_eq!(Checkpoint::parse_body(&z.body()).unwrap(), z);
    }

    #[test]
    fn bad_bodies_rejected() {
        let root = BASE64.encode([7; 32]);
        let short = BASE64.encode([7; 31]);
        let long = BASE64.encode([7; 33]);
        let cases = [
            format!("o\n015\n{root}\n"),                        // leading zero
            format!("o\n00\n{root}\n"),                         // leading zero
            format!("o\n-15\n{root}\n"),                        // negative
            format!("o\n+15\n{root}\n"),                        // sign
            format!("o\n 15\n{root}\n"),                        // space before
            format!("o\n15 \n{root}\n"),                        // space after
            format!("o\n15\n {root}\n"),                        // space before root
            format!("o\n15\n{root} \n"),                        // space after root
            format!("o\n\n{root}\n"),                           // empty size
            format!("o\n1_5\n{root}\n"),                        // not decimal
            format!("o\n18446744073709551616\n{root}\n"),       // overflow
            format!("o\n15\n{short}\n"),                        // 31-byte root
            format!("o\n15\n{long}\n"),                         // 33-byte root
            format!("o\n15\n{}\n", root.trim_end_matches('=')), // unpadded
            format!("\n15\n{root}\n"),                          // empty origin
            format!("o\n15\n{root}"),                           // no final newline
            format!("o\n15\n{root}\n\n"),                       // empty extension line
            format!("o\n15\n{root}\next\n\n"),                  // empty extension line
            "o\n15\n".to_string(),                              // two lines
            format!("o\r\n15\n{root}\n"),                       // control character
        ];
        for c in &cases {
            assert!(Checkpoint::parse_body(c).is_err(), "accepted {c:?}");
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n15\n{short}\n")),
            Err(FormatError::HashLength(31))
        );
    }

    #[test]
    fn sign_open_round_trip() {
        let l = log("example.com/log");
        let text = cp().sign(&l).unwrap();
        let (c, n) = Checkpoint::open(&text, &l.verifier()).unwrap();
        assert_eq!(c, cp());
        assert_eq!(n.to_text(), text);
        assert_eq!(n.signatures.len(), 1);
    }

    #[test]
    fn sign_refuses_other_key_name_and_bad_fields() {
        assert!(cp().sign(&log("example.com/other")).is_err());
        let l = log("example.com/log");
        let mut c = cp();
        c.extensions = vec!["a\nb".into()];
        assert!(c.sign(&l).is_err());
        let mut c = cp();
        c.extensions = vec![String::new()];
        assert!(c.sign(&l).is_err());
    }

    #[test]
    fn open_rejects_wrong_origin_and_tampering() {
        // A log key named differently from the origin signs a body directly.
        let other = log("example.com/other");
        let body = cp().body();
        let text = Note {
            text: body.clone(),
            signatures: vec![other.sign(&body).unwrap()],
        }
        .to_text();
        assert_eq!(
            Checkpoint::open(&text, &other.verifier()),
            Err(FormatError::MalformedNote(
                "checkpoint origin is not the log key name"
            ))
        );
        let l = log("example.com/log");
        let good = cp().sign(&l).unwrap();
        // Verified by another log's key: unknown signature only.
        assert_eq!(
            Checkpoint::open(&good, &other.verifier()),
            Err(FormatError::UnverifiedNote)
        );
        let tampered = good.replacen("\n15\n", "\n16\n", 1);
        assert!(matches!(
            Checkpoint::open(&tampered, &l.verifier()),
            Err(FormatError::BadSignature { .. })
        ));
        let cosig_key =
            Verifier::new("example.com/log", KeyType::Cosignature, l.verifier().key).unwrap();
        assert!(Checkpoint::open(&good, &cosig_key).is_err());
    }
}
