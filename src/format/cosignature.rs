//! C2SP tlog-cosignature, `cosignature/v1` (c2sp.org/tlog-cosignature): a partner's timestamped
//! Ed25519 statement that a checkpoint is the largest consistent tree head it has seen for the
//! log. It is a signature line on the checkpoint note whose bytes after the key id are an 8-byte
//! big-endian timestamp and a 64-byte signature.

use ed25519_dalek::{Signature, Signer as _, SigningKey};

use super::FormatError;
use super::checkpoint::Checkpoint;
use super::note::{KeyType, NoteSignature, Verifier, check_text};

/// Header line of the signed message; domain-separates cosignatures from note signatures.
const HEADER: &str = "cosignature/v1\n";

/// Largest timestamp the spec allows (2^63 - 1), so it fits a signed 64-bit time everywhere.
pub const MAX_TIME: u64 = i64::MAX as u64;

/// Bytes after the key id: 8-byte timestamp then a 64-byte Ed25519 signature.
const SIG_LEN: usize = 8 + 64;

/// The message a cosigner signs: "cosignature/v1\ntime <secs>\n" || checkpoint body.
pub fn message(time_secs: u64, checkpoint_body: &str) -> Vec<u8> {
    format!("{HEADER}time {time_secs}\n{checkpoint_body}").into_bytes()
}

/// A cosignature line for `checkpoint_body` at `time_secs` (signature = 8-byte BE timestamp ||
/// 64-byte sig after the key id). Refuses a body that is not a checkpoint, so a witness never
/// vouches for arbitrary text, and a time beyond 2^63 - 1.
pub fn cosign(
    name: &str,
    key: &SigningKey,
    time_secs: u64,
    checkpoint_body: &str,
) -> Result<NoteSignature, FormatError> {
    check_text(checkpoint_body)?;
    Checkpoint::parse_body(checkpoint_body)?;
    if time_secs > MAX_TIME {
        return Err(FormatError::MalformedNote(
            "cosignature time beyond 2^63 - 1",
        ));
    }
    // Also validates the name, so the line is parsable.
    let v = Verifier::new(name, KeyType::Cosignature, key.verifying_key())?;
    let sig = key.sign(&message(time_secs, checkpoint_body));
    let mut signature = Vec::with_capacity(SIG_LEN);
    signature.extend_from_slice(&time_secs.to_be_bytes());
    signature.extend_from_slice(&sig.to_bytes());
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: v.key_id,
        signature,
    })
}

/// Checks one cosignature against a Cosignature-type verifier; returns its timestamp.
/// The line must carry the verifier's name and key id, and the body must be a checkpoint.
pub fn verify(
    sig: &NoteSignature,
    verifier: &Verifier,
    checkpoint_body: &str,
) -> Result<u64, FormatError> {
    if verifier.kind != KeyType::Cosignature {
        return Err(FormatError::MalformedKey("not a cosignature/v1 key"));
    }
    let bad = || FormatError::BadSignature {
        name: sig.name.clone(),
    };
    if !verifier.matches(sig) || sig.signature.len() != SIG_LEN {
        return Err(bad());
    }
    check_text(checkpoint_body)?;
    Checkpoint::parse_body(checkpoint_body)?;
    let (time, ed) = sig.signature.split_at(8);
    let time = u64::from_be_bytes(time.try_into().map_err(|_| bad())?);
    if time > MAX_TIME {
        return Err(bad());
    }
    let ed = Signature::from_slice(ed).map_err(|_| bad())?;
    verifier
        .key
        .verify_strict(&message(time, checkpoint_body), &ed)
        .map_err(|_| bad())?;
    Ok(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::note::{self, Note, Signer};

    const BODY: &str = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn verifier(name: &str, seed: u8) -> Verifier {
        Verifier::new(name, KeyType::Cosignature, key(seed).verifying_key()).unwrap()
    }

    #[test]
    fn message_layout() {
        assert_eq!(
            message(7, "o\n1\nx\n"),
            b"cosignature/v1\ntime 7\no\n1\nx\n".to_vec()
        );
    }

    #[test]
    fn cosign_verify_round_trip() {
        let sig = cosign("w.example", &key(5), 1_700_000_000, BODY).unwrap();
        assert_eq!(sig.signature.len(), 72);
        assert_eq!(&sig.signature[..8], &1_700_000_000u64.to_be_bytes());
        let v = verifier("w.example", 5);
        assert_eq!(sig.key_id, v.key_id);
        assert_eq!(verify(&sig, &v, BODY), Ok(1_700_000_000));
        // Survives printing and parsing as a note line.
        let line = sig.line();
        let parsed = NoteSignature::parse_line(line.trim_end_matches('\n')).unwrap();
        assert_eq!(parsed, sig);
    }

    #[test]
    fn tampering_rejected() {
        let v = verifier("w", 5);
        let sig = cosign("w", &key(5), 100, BODY).unwrap();
        let other_body = BODY.replace("\n3\n", "\n4\n");
        assert!(verify(&sig, &v, &other_body).is_err());
        let mut t = sig.clone();
        t.signature[7] ^= 1; // the timestamp is signed
        assert!(matches!(
            verify(&t, &v, BODY),
            Err(FormatError::BadSignature { .. })
        ));
        let mut t = sig.clone();
        t.signature[40] ^= 1;
        assert!(verify(&t, &v, BODY).is_err());
        let mut t = sig.clone();
        t.signature.truncate(64); // a plain note signature's length
        assert!(verify(&t, &v, BODY).is_err());
        assert!(verify(&sig, &verifier("w", 6), BODY).is_err());
        assert!(verify(&sig, &verifier("x", 5), BODY).is_err());
        // An Ed25519 note key is not a cosigner key.
        let note_v = Verifier::new("w", KeyType::Ed25519, key(5).verifying_key()).unwrap();
        assert!(matches!(
            verify(&sig, &note_v, BODY),
            Err(FormatError::MalformedKey(_))
        ));
    }

    #[test]
    fn cosign_refuses_bad_input() {
        assert!(cosign("w", &key(5), MAX_TIME + 1, BODY).is_err());
        assert!(cosign("w", &key(5), MAX_TIME, BODY).is_ok());
        assert!(cosign("w w", &key(5), 1, BODY).is_err());
        assert!(cosign("w", &key(5), 1, "not a checkpoint\n").is_err());
        assert!(cosign("w", &key(5), 1, BODY.trim_end()).is_err());
    }

    #[test]
    fn note_verify_uses_cosignature_rules() {
        // A checkpoint note signed by the log and cosigned by a witness.
        let log = Signer::new("example.com/log", key(1)).unwrap();
        let mut n = Note {
            text: BODY.to_string(),
            signatures: vec![log.sign(BODY).unwrap()],
        };
        n.signatures.push(cosign("w", &key(5), 42, BODY).unwrap());
        let n = Note::parse(&n.to_text()).unwrap();
        let vs = [log.verifier(), verifier("w", 5)];
        assert_eq!(note::verify(&n, &vs).unwrap().len(), 2);
        assert_eq!(note::verify(&n, &vs[1..]).unwrap(), vec![&vs[1]]);
        // A cosignature whose timestamp was altered rejects the whole note.
        let mut bad = n.clone();
        bad.signatures[1].signature[0] ^= 1;
        assert!(note::verify(&bad, &vs).is_err());
    }
}
