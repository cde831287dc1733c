//! Domain-separated Ed25519 signatures (docs/DESIGN.md, "Signatures"): every signature is over
//! `"borderlog/<purpose>/v1\n" || payload`, so a signature made for one purpose can never be
//! replayed as another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::{FormatError, Hash};

/// What a signature is for; each purpose has its own message domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The sender over the `DisclosureBody` bytes.
    Disclosure,
    /// The recipient over a disclosure's index and leaf hash.
    Receipt,
    /// The data owner over a policy document.
    Policy,
    /// The data owner over an entry index and an item commitment.
    Redaction,
    /// The old key over the new public key.
    KeyChange,
}

impl Purpose {
    /// The domain prefix, e.g. `borderlog/disclosure/v1\n`.
    pub fn domain(self) -> &'static [u8] {
        self.domain_text().as_bytes()
    }

    /// The domain prefix as text: what error messages quote (`{:?}`) when they tell a client
    /// what to sign, so the message cannot drift from the bytes.
    pub fn domain_text(self) -> &'static str {
        match self {
            Purpose::Disclosure => "borderlog/disclosure/v1\n",
            Purpose::Receipt => "borderlog/receipt/v1\n",
            Purpose::Policy => "borderlog/policy/v1\n",
            Purpose::Redaction => "borderlog/redaction/v1\n",
            Purpose::KeyChange => "borderlog/key-change/v1\n",
        }
    }
}

/// The exact bytes signed for `purpose` over `payload`.
pub fn message(purpose: Purpose, payload: &[u8]) -> Vec<u8> {
    let domain = purpose.domain();
    let mut m = Vec::with_capacity(domain.len() + payload.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(payload);
    m
}

/// Payload of a receipt or a redaction: u64 big-endian index, then a 32-byte hash.
pub fn index_and_hash(index: u64, hash: &Hash) -> [u8; 40] {
    let mut p = [0u8; 40];
    p[..8].copy_from_slice(&index.to_be_bytes());
    p[8..].copy_from_slice(hash);
    p
}

/// Signs `payload` for `purpose`.
pub fn sign(key: &SigningKey, purpose: Purpose, payload: &[u8]) -> [u8; 64] {
    key.sign(&message(purpose, payload)).to_bytes()
}

/// Checks a signature strictly (no malleable or small-order forms).
pub fn verify(
    key: &VerifyingKey,
    purpose: Purpose,
    payload: &[u8],
    signature: &[u8],
) -> Result<(), FormatError> {
    let sig = Signature::from_slice(signature).map_err(|_| FormatError::BadSignature {
        name: format!("{purpose:?} signature of {} bytes", signature.len()),
    })?;
    key.verify_strict(&message(purpose, payload), &sig)
        .map_err(|_| FormatError::BadSignature {
            name: format!("{purpose:?} signer"),
        })
}

/// Parses a 32-byte Ed25519 public key by [`canonical_public_key`]'s rules; any other length
/// is refused too.
pub fn public_key(bytes: &[u8]) -> Result<VerifyingKey, FormatError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| FormatError::BadPublicKey)?;
    canonical_public_key(&arr)
}

/// An Ed25519 public key as the log accepts one wherever a key enters it (genesis, KeyChange,
/// witness keys) and as `verify` requires of every key in a log: a point on the curve, in its
/// canonical encoding (RFC 8032 §5.1.3 refuses a y coordinate at or above the field prime,
/// which `VerifyingKey::from_bytes` reduces silently, so 32 bytes of 0xff would pass as the
/// point y = 18), and not of small order (a weak key verifies signatures nobody made).
pub fn canonical_public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, FormatError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| FormatError::BadPublicKey)?;
    // The encoding the point re-compresses to is the only canonical one.
    if key.to_edwards().compress().to_bytes() != *bytes || key.is_weak() {
        return Err(FormatError::BadPublicKey);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn signature_verifies_for_its_purpose_only() {
        let k = key(7);
        let sig = sign(&k, Purpose::Disclosure, b"body");
        verify(&k.verifying_key(), Purpose::Disclosure, b"body", &sig).unwrap();
        for other in [
            Purpose::Receipt,
            Purpose::Policy,
            Purpose::Redaction,
            Purpose::KeyChange,
        ] {
            assert!(verify(&k.verifying_key(), other, b"body", &sig).is_err());
        }
    }

    #[test]
    fn signature_binds_payload_and_key() {
        let k = key(7);
        let sig = sign(&k, Purpose::Policy, b"policy");
        assert!(verify(&k.verifying_key(), Purpose::Policy, b"policY", &sig).is_err());
        assert!(verify(&key(8).verifying_key(), Purpose::Policy, b"policy", &sig).is_err());
        assert!(verify(&k.verifying_key(), Purpose::Policy, b"policy", &sig[..63]).is_err());
    }

    #[test]
    fn message_is_domain_then_payload() {
        assert_eq!(
            message(Purpose::KeyChange, b"xy"),
            b"borderlog/key-change/v1\nxy".to_vec()
        );
        let p = index_and_hash(0x0102, &[9; 32]);
        assert_eq!(&p[..8], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&p[8..], &[9; 32]);
    }

    #[test]
    fn weak_public_key_is_refused() {
        // The identity point (small order) encodes as 0x01 followed by zeros.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert_eq!(public_key(&weak), Err(FormatError::BadPublicKey));
        assert!(public_key(&key(1).verifying_key().to_bytes()).is_ok());
        assert!(public_key(&[1; 31]).is_err());
    }

    #[test]
    fn non_canonical_public_keys_are_refused() {
        // 32 bytes of 0xff: y = 2^255 - 1, not reduced mod p = 2^255 - 19. dalek decodes it as
        // the point y = 18, which is of large order: only the encoding is wrong.
        let ff = [0xff; 32];
        let decoded = VerifyingKey::from_bytes(&ff).expect("dalek decodes it");
        assert!(!decoded.is_weak());
        assert_eq!(canonical_public_key(&ff), Err(FormatError::BadPublicKey));
        assert_eq!(public_key(&ff), Err(FormatError::BadPublicKey));
        // The same point's canonical encoding passes.
        let canonical = decoded.to_edwards().compress().to_bytes();
        assert_ne!(canonical, ff);
        assert!(canonical_public_key(&canonical).is_ok());
        assert!(canonical_public_key(&key(3).verifying_key().to_bytes()).is_ok());
        // Every y in [p, 2^255) with either sign: none is canonical.
        for excess in 0u8..19 {
            for sign in [0u8, 0x80] {
                let mut y = [0xff; 32];
                y[0] = 0xed + excess; // p's low byte is 0xed
                y[31] = 0x7f | sign;
                assert_eq!(public_key(&y), Err(FormatError::BadPublicKey), "{y:?}");
            }
        }
        // x = 0 with the sign bit set ("negative zero"): y = 1 is the identity, y = p - 1 has
        // order 2; both small order and, signed, non-canonical.
        let mut negative_zero = [0u8; 32];
        negative_zero[0] = 1;
        negative_zero[31] = 0x80;
        assert_eq!(public_key(&negative_zero), Err(FormatError::BadPublicKey));
        // A real key still parses, to itself.
        let good = key(3).verifying_key().to_bytes();
        assert_eq!(public_key(&good).unwrap().to_bytes(), good);
    }
}
