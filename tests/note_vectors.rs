//! Known answers from /work/shared/vectors/README.md ("Signed notes", "Checkpoint and
//! cosignature"), reproduced byte for byte: the C2SP signed-note spec example, the
//! golang.org/x/mod sumdb/note keys, tessera's test checkpoint and a cosignature/v1.

use borderlog::format::FormatError;
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::cosignature;
use borderlog::format::note::{self, KeyType, Note, NoteSignature, Signer, Verifier};

const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";

const TESSERA_BODY: &str =
    "example.com/log/testdata\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=\n";
const COSIG_LINE: &str = "\u{2014} PeterNeumann GLl4CwAAAABlU/EA9fdf+RWFs1/6EperJEUL8TnXKafVsS+Shy5uhmrG+ihoPFf/WE5ug05A5TzwPwTSapdRQKkOpKGG6WWnBWmoCg==\n";
const COSIG_VKEY: &str = "PeterNeumann+18b9780b+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

#[test]
fn spec_example_note_verifies() {
    let v = Verifier::parse(SPEC_VKEY).unwrap();
    assert_eq!(v.name, "example.com/foo");
    assert_eq!(v.key_id, [0x53, 0x0d, 0x90, 0x3a]);
    assert_eq!(v.kind, KeyType::Ed25519);
    assert_eq!(v.to_string(), SPEC_VKEY);
    let n = Note::parse(SPEC_NOTE).unwrap();
    assert_eq!(n.text, "This is an example message.\n");
    assert_eq!(n.to_text(), SPEC_NOTE);
    let vs = [v];
    assert_eq!(note::verify(&n, &vs).unwrap(), vec![&vs[0]]);
}

#[test]
fn peter_neumann_signer_signs_the_known_line() {
    let s = Signer::parse(PETER_SKEY).unwrap();
    assert_eq!(s.name(), "PeterNeumann");
    assert_eq!(s.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(s.to_private_key_string(), PETER_SKEY);
    assert_eq!(s.verifier().to_string(), PETER_VKEY);
    assert_eq!(Verifier::parse(PETER_VKEY).unwrap(), s.verifier());
    let sig = s.sign(PETER_TEXT).unwrap();
    assert_eq!(sig.line(), PETER_SIG);
    let n = Note {
        text: PETER_TEXT.into(),
        signatures: vec![sig],
    };
    assert_eq!(n.to_text(), format!("{PETER_TEXT}\n{PETER_SIG}"));
}

#[test]
fn enoch_root_signature_is_ignored_when_unknown() {
    let text = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let n = Note::parse(&text).unwrap();
    assert_eq!(n.signatures.len(), 2);
    assert_eq!(n.to_text(), text);
    let peter = [Verifier::parse(PETER_VKEY).unwrap()];
    assert_eq!(note::verify(&n, &peter).unwrap(), vec![&peter[0]]);
    // Only EnochRoot's line is known to this verifier: it verifies by itself as well.
    let enoch = [Verifier::parse(ENOCH_VKEY).unwrap()];
    assert_eq!(note::verify(&n, &enoch).unwrap(), vec![&enoch[0]]);
    let both = [peter[0].clone(), enoch[0].clone()];
    assert_eq!(note::verify(&n, &both).unwrap().len(), 2);
}

#[test]
fn enoch_root_verifier_key_parses() {
    let v = Verifier::parse(ENOCH_VKEY).unwrap();
    assert_eq!(v.name, "EnochRoot");
    assert_eq!(hex::encode(v.key_id), "af0cfe78");
    assert_eq!(v.kind, KeyType::Ed25519);
    assert_eq!(v.to_string(), ENOCH_VKEY);
    let wrong = ENOCH_VKEY.replace("af0cfe78", "af0cfe79");
    assert_eq!(
        Verifier::parse(&wrong),
        Err(FormatError::MalformedKey("key id does not match the key"))
    );
}

#[test]
fn tessera_checkpoint_body_round_trips() {
    let c = Checkpoint::parse_body(TESSERA_BODY).unwrap();
    assert_eq!(c.origin, "example.com/log/testdata");
    assert_eq!(c.size, 15);
    assert_eq!(
        hex::encode(c.root),
        "aca6c38a90af86e5f5199ee0e4105ef2c03a05b27b8daff59e4e36eefdfcddcb"
    );
    assert!(c.extensions.is_empty());
    assert_eq!(c.body(), TESSERA_BODY);
}

#[test]
fn cosignature_v1_known_answer() {
    let s = Signer::parse(PETER_SKEY).unwrap();
    let seed = base64_seed(PETER_SKEY);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    assert_eq!(key.verifying_key(), s.verifier().key);
    assert_eq!(
        cosignature::message(1_700_000_000, TESSERA_BODY),
        format!("cosignature/v1\ntime 1700000000\n{TESSERA_BODY}").into_bytes()
    );
    let sig = cosignature::cosign("PeterNeumann", &key, 1_700_000_000, TESSERA_BODY).unwrap();
    assert_eq!(sig.line(), COSIG_LINE);
    assert_eq!(hex::encode(sig.key_id), "18b9780b");

    let v = Verifier::parse(COSIG_VKEY).unwrap();
    assert_eq!(v.kind, KeyType::Cosignature);
    assert_eq!(hex::encode(v.key_id), "18b9780b");
    assert_eq!(v.key, s.verifier().key);
    assert_eq!(v.to_string(), COSIG_VKEY);
    let parsed = NoteSignature::parse_line(COSIG_LINE.trim_end_matches('\n')).unwrap();
    assert_eq!(parsed, sig);
    assert_eq!(
        cosignature::verify(&parsed, &v, TESSERA_BODY),
        Ok(1_700_000_000)
    );

    // As a line on the checkpoint note, next to an unknown log signature.
    let n = Note::parse(&format!("{TESSERA_BODY}\n{COSIG_LINE}")).unwrap();
    let vs = [v];
    assert_eq!(note::verify(&n, &vs).unwrap(), vec![&vs[0]]);
    // The same key as a plain note key does not match the cosignature's key id.
    assert_eq!(
        note::verify(&n, &[s.verifier()]),
        Err(FormatError::UnverifiedNote)
    );
}

/// The 32-byte seed from a PRIVATE+KEY string (after the type byte).
fn base64_seed(skey: &str) -> [u8; 32] {
    use base64::Engine as _;
    let b64 = skey.splitn(5, '+').nth(4).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(raw[0], 0x01);
    raw[1..].try_into().unwrap()
}
