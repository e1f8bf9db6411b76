//! Sealed boxes to a node's key: libsodium's `crypto_box_seal`, addressed to the X25519 key
//! that a node's ed25519 key converts to.
//!
//! A buyer seals a job's secret set to each named witness with this, so that only that
//! witness can read it. The construction is libsodium's sealed box (X25519, XSalsa20-Poly1305,
//! nonce = BLAKE2b-192(ephemeral pk ‖ recipient pk)), from the `crypto_box` crate, and the
//! keys convert as libsodium's `crypto_sign_ed25519_pk_to_curve25519` and
//! `crypto_sign_ed25519_sk_to_curve25519` do, so PyNaCl and libsodium open what this seals.
//! Randomness is a parameter: the caller passes a 32-byte seed for the ephemeral key.

use crypto_box::{PublicKey as BoxPublicKey, SecretKey as BoxSecretKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_chacha_03::ChaCha20Rng;
use rand_chacha_03::rand_core::SeedableRng;

use crate::messages::PublicKey;

/// A sealed box's overhead: the ephemeral public key (32) and the Poly1305 tag (16).
pub const SEAL_OVERHEAD: usize = 48;

/// Why a box could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoxError {
    /// The recipient's key is not a valid ed25519 point, so it has no X25519 key.
    #[error("{0} is not an ed25519 public key, so nothing can be sealed to it")]
    BadRecipient(PublicKey),
    /// The box does not open with this key: it is for someone else, or it was altered.
    #[error("the sealed box does not open with this key (addressed to another, or altered)")]
    DoesNotOpen,
}

/// The X25519 public key of the node whose ed25519 key is `key` (the Montgomery form of the
/// point), or `None` if `key` is not a valid point.
pub fn x25519_public(key: &PublicKey) -> Option<[u8; 32]> {
    let verifying = VerifyingKey::from_bytes(key.as_bytes()).ok()?;
    Some(verifying.to_montgomery().to_bytes())
}

/// The X25519 secret key of an ed25519 signing key: the first half of SHA-512 of its seed (as
/// libsodium derives it; X25519 clamps it when used).
pub fn x25519_secret(key: &SigningKey) -> [u8; 32] {
    key.to_scalar_bytes()
}

/// Seals `plaintext` to the node whose ed25519 key is `recipient`. The ephemeral key is drawn
/// from a ChaCha20 stream seeded with `ephemeral_seed`, which must be fresh randomness for
/// every box (the same seed and recipient give the same box).
pub fn seal(
    recipient: &PublicKey,
    plaintext: &[u8],
    ephemeral_seed: [u8; 32],
) -> Result<Vec<u8>, BoxError> {
    let public = x25519_public(recipient).ok_or(BoxError::BadRecipient(*recipient))?;
    let mut rng = ChaCha20Rng::from_seed(ephemeral_seed);
    BoxPublicKey::from(public)
        .seal(&mut rng, plaintext)
        .map_err(|_| BoxError::BadRecipient(*recipient))
}

/// Opens a box sealed to `key`'s node.
pub fn open(key: &SigningKey, sealed: &[u8]) -> Result<Vec<u8>, BoxError> {
    BoxSecretKey::from(x25519_secret(key))
        .unseal(sealed)
        .map_err(|_| BoxError::DoesNotOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    fn public(key: &SigningKey) -> PublicKey {
        PublicKey(key.verifying_key().to_bytes())
    }

    #[test]
    fn a_box_opens_for_its_recipient_only() {
        let (alice, bob) = (key(1), key(2));
        let sealed = seal(&public(&alice), b"the secret set", [7; 32]).unwrap();
        assert_eq!(sealed.len(), b"the secret set".len() + SEAL_OVERHEAD);
        assert_eq!(open(&alice, &sealed).unwrap(), b"the secret set");
        assert_eq!(open(&bob, &sealed), Err(BoxError::DoesNotOpen));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&alice, &altered), Err(BoxError::DoesNotOpen));
        assert_eq!(open(&alice, &sealed[..40]), Err(BoxError::DoesNotOpen));
    }

    #[test]
    fn the_seed_alone_decides_the_box() {
        let alice = public(&key(1));
        assert_eq!(seal(&alice, b"m", [7; 32]), seal(&alice, b"m", [7; 32]));
        assert_ne!(seal(&alice, b"m", [7; 32]), seal(&alice, b"m", [8; 32]));
    }

    #[test]
    fn the_x25519_keys_of_a_node_agree() {
        // The secret half's X25519 public key is the public half's Montgomery form.
        let alice = key(3);
        let from_secret = BoxSecretKey::from(x25519_secret(&alice)).public_key();
        assert_eq!(
            from_secret.as_bytes(),
            &x25519_public(&public(&alice)).unwrap()
        );
    }

    #[test]
    fn a_key_that_is_not_a_point_is_refused() {
        // About half of all y coordinates are not on the curve.
        let bad = (0u8..=255)
            .map(|b| PublicKey([b; 32]))
            .find(|k| VerifyingKey::from_bytes(k.as_bytes()).is_err())
            .expect("some byte pattern is not a point");
        assert_eq!(x25519_public(&bad), None);
        assert_eq!(seal(&bad, b"m", [0; 32]), Err(BoxError::BadRecipient(bad)));
    }
}
