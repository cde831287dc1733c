//! Ed25519 batch verification for the auditor, with each key's terms summed into one.
//!
//! An export's signatures come from a handful of keys (the partners and the log), but
//! `ed25519_dalek::verify_batch` puts one public-key point per signature into its multiscalar
//! multiplication. Summing the coefficients of each distinct key first leaves n + keys + 1
//! points instead of 2n + 1, and the key terms were the expensive ones (full-width scalars):
//! the equation is the same, about twice as fast (README, "Performance").
//!
//! The equation is the random linear combination of the cofactorless equations
//! `[s_i]B = R_i + [H(R_i || A_i || M_i)]A_i`, as in ed25519-dalek. Each R must also be
//! canonically encoded and not of small order, and each s reduced, as `verify_strict` demands,
//! so a batch never passes a signature for an encoding the one-by-one check would reject. The
//! 128-bit weights are derived from a hash of the whole batch (like ed25519-dalek's
//! transcript), so the same batch always gets the same answer.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

/// Domain of the hash the batch weights are drawn from.
const WEIGHTS_DOMAIN: &[u8] = b"borderlog/ed25519-batch-weights/v1\n";

/// True when every `signatures[i]` is a valid signature by `keys[i]` on `messages[i]` (with
/// overwhelming probability); false when at least one is not, or the slices differ in length.
/// An empty batch is valid. It does not say which one failed: check them one by one for that.
pub fn verify_batch(messages: &[&[u8]], signatures: &[Signature], keys: &[VerifyingKey]) -> bool {
    let n = signatures.len();
    if messages.len() != n || keys.len() != n {
        return false;
    }
    let mut weights_seed = Sha512::new();
    weights_seed.update(WEIGHTS_DOMAIN);
    let mut hrams = Vec::with_capacity(n);
    let mut ss = Vec::with_capacity(n);
    let mut rs = Vec::with_capacity(n);
    for ((message, signature), key) in messages.iter().zip(signatures).zip(keys) {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes()))
        else {
            return false;
        };
        let r_bytes = signature.r_bytes();
        if !canonical_y(r_bytes) {
            return false;
        }
        let Some(r) = CompressedEdwardsY(*r_bytes).decompress() else {
            return false;
        };
        if r.is_small_order() {
            return false;
        }
        let hram: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(key.as_bytes())
            .chain_update(message)
            .finalize()
            .into();
        weights_seed.update(hram);
        weights_seed.update(signature.s_bytes());
        hrams.push(Scalar::from_bytes_mod_order_wide(&hram));
        ss.push(s);
        rs.push(r);
    }
    let weights = weights(weights_seed.finalize().into(), n);

    // -[Σ z_i s_i]B + Σ [z_i]R_i + Σ_keys [Σ_{i by key} z_i h_i]A == identity.
    let mut b_coefficient = Scalar::ZERO;
    let mut key_slot: HashMap<[u8; 32], usize> = HashMap::new();
    let mut key_terms: Vec<(Scalar, EdwardsPoint)> = Vec::new();
    for i in 0..n {
        b_coefficient += weights[i] * ss[i];
        let slot = *key_slot.entry(*keys[i].as_bytes()).or_insert_with(|| {
            key_terms.push((Scalar::ZERO, keys[i].to_edwards()));
            key_terms.len() - 1
        });
        key_terms[slot].0 += weights[i] * hrams[i];
    }
    let scalars = std::iter::once(-b_coefficient)
        .chain(weights.iter().copied())
        .chain(key_terms.iter().map(|(s, _)| *s));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(rs)
        .chain(key_terms.iter().map(|(_, p)| *p));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// `n` 128-bit weights from a 64-byte seed: SHA-512(seed || counter) gives four at a time.
fn weights(seed: [u8; 64], n: usize) -> Vec<Scalar> {
    let mut out = Vec::with_capacity(n);
    let mut counter = 0u64;
    while out.len() < n {
        let block: [u8; 64] = Sha512::new()
            .chain_update(seed)
            .chain_update(counter.to_le_bytes())
            .finalize()
            .into();
        counter += 1;
        for chunk in block.chunks_exact(16).take(n - out.len()) {
            let z = u128::from_le_bytes(chunk.try_into().expect("16 bytes"));
            out.push(Scalar::from(z));
        }
    }
    out
}

/// Whether a compressed point's y coordinate is below p = 2^255 - 19 (the top bit is x's sign),
/// as `verify_strict`'s re-encoding comparison requires of R.
fn canonical_y(bytes: &[u8; 32]) -> bool {
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::traits::Identity;
    use ed25519_dalek::{Signer, SigningKey};

    /// Signatures by three keys over distinct messages.
    fn batch(n: usize) -> (Vec<Vec<u8>>, Vec<Signature>, Vec<VerifyingKey>) {
        let signers: Vec<SigningKey> = (1..=3u8)
            .map(|s| SigningKey::from_bytes(&[s; 32]))
            .collect();
        let mut messages = Vec::new();
        let mut signatures = Vec::new();
        let mut keys = Vec::new();
        for i in 0..n {
            let k = &signers[i % 3];
            let m = format!("message {i}").into_bytes();
            signatures.push(k.sign(&m));
            keys.push(k.verifying_key());
            messages.push(m);
        }
        (messages, signatures, keys)
    }

    fn check(m: &[Vec<u8>], s: &[Signature], k: &[VerifyingKey]) -> bool {
        let refs: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
        verify_batch(&refs, s, k)
    }

    #[test]
    fn valid_batches_pass_and_agree_with_ed25519_dalek() {
        for n in [0, 1, 2, 7, 300] {
            let (m, s, k) = batch(n);
            let refs: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
            assert!(check(&m, &s, &k), "n = {n}");
            assert!(ed25519_dalek::verify_batch(&refs, &s, &k).is_ok());
        }
    }

    #[test]
    fn one_bad_signature_message_or_key_fails_the_batch() {
        let (m, s, k) = batch(50);
        let mut bad = m.clone();
        bad[17].push(b'!');
        assert!(!check(&bad, &s, &k));
        let mut bad = s.clone();
        let mut bytes = bad[33].to_bytes();
        bytes[40] ^= 1;
        bad[33] = Signature::from_bytes(&bytes);
        assert!(!check(&m, &bad, &k));
        // Right signature, wrong (but valid) key: its key's sum changes.
        let mut bad = k.clone();
        bad[4] = k[5];
        assert!(!check(&m, &s, &bad));
        // Two signatures swapped between messages by the same key.
        let mut bad = s.clone();
        bad.swap(0, 3);
        assert!(!check(&m, &bad, &k));
        assert!(!check(&m[..49], &s, &k));
    }

    #[test]
    fn encodings_verify_strict_rejects_fail_the_batch() {
        let (m, s, k) = batch(5);
        // s + ℓ: the same equation, an unreduced scalar.
        let mut unreduced = s.clone();
        let mut bytes = s[2].to_bytes();
        let reduced: [u8; 32] = bytes[32..].try_into().unwrap();
        let l_minus_1: [u8; 32] = (-Scalar::ONE).to_bytes();
        let mut carry = 1u16;
        let mut sum = [0u8; 32];
        for i in 0..32 {
            let v = reduced[i] as u16 + l_minus_1[i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        bytes[32..].copy_from_slice(&sum);
        unreduced[2] = Signature::from_bytes(&bytes);
        assert!(!check(&m, &unreduced, &k));
        // R = identity (small order) and a non-canonical y.
        let mut small = s.clone();
        let mut bytes = s[1].to_bytes();
        bytes[..32].copy_from_slice(&CompressedEdwardsY::identity().0);
        small[1] = Signature::from_bytes(&bytes);
        assert!(!check(&m, &small, &k));
        let mut y = [0xff; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        assert!(!canonical_y(&y));
        y[0] = 0xec;
        assert!(canonical_y(&y));
    }
}
