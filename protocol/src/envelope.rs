//! Signed envelopes: PAE, ed25519 signing, and signature verification, for any payload.
//!
//! An [`Envelope`] carries a message's canonical bytes (`payload`), a `payload_type` naming
//! the message and its version, the signer's public key and an ed25519 signature over
//! `PAE(payload_type, payload)`, in the manner of DSSE. This module knows no message type:
//! [`crate::messages`] names them, with their size limits, and opens envelopes into them. A
//! [`Verified`] value exists only after the envelope decoded canonically, its signature
//! checked out over the exact payload bytes, and only then the payload decoded and passed its
//! self-consistency checks.

use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;

use crate::codec::{self, DecodeError};
use crate::ids::{MessageId, PublicKey, SignatureBytes, hex_bytes};

/// The envelope format version this code reads and writes.
pub const ENVELOPE_VERSION: u8 = 1;

/// The first field of the PAE: names the scheme and its version.
pub const PAE_PREFIX: &str = "VTUNEv1";

/// Bytes an envelope may add around its payload (version, lengths, type, key, signature).
pub const ENVELOPE_OVERHEAD: usize = 256;

/// A signed message as it travels and is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The envelope format version: [`ENVELOPE_VERSION`].
    pub version: u8,
    /// What the payload is, with its version, e.g. `application/vnd.vtune.commitment.v1`.
    pub payload_type: String,
    /// The message's canonical bincode bytes.
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    /// The signer's ed25519 public key.
    pub signer: PublicKey,
    /// The ed25519 signature over `PAE(payload_type, payload)`.
    pub signature: SignatureBytes,
}

/// Why an envelope's bytes or signature were rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope bytes did not decode.
    #[error("envelope: {0}")]
    Decode(#[source] DecodeError),
    /// The envelope has a version this code does not know.
    #[error("envelope version {0} is not supported (expected {ENVELOPE_VERSION})")]
    UnknownVersion(u8),
    /// The payload is longer than its type allows.
    #[error("`{payload_type}` payload of {len} bytes is over the limit of {limit}")]
    PayloadTooLarge {
        /// The payload type.
        payload_type: String,
        /// The payload length.
        len: usize,
        /// The type's limit.
        limit: usize,
    },
    /// The signer field is not a valid ed25519 public key.
    #[error("signer {0} is not a valid ed25519 public key")]
    BadSigner(PublicKey),
    /// The signature does not verify over the payload.
    #[error("signature by {0} does not verify")]
    BadSignature(PublicKey),
}

/// The pre-authentication encoding that is signed:
/// `"VTUNEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let payload_len = payload.len().to_string();
    let mut out = Vec::with_capacity(
        PAE_PREFIX.len()
            + type_len.len()
            + payload_type.len()
            + payload_len.len()
            + 4
            + payload.len(),
    );
    for part in [
        PAE_PREFIX.as_bytes(),
        type_len.as_bytes(),
        payload_type.as_bytes(),
    ] {
        out.extend_from_slice(part);
        out.push(b' ');
    }
    out.extend_from_slice(payload_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload`, the canonical bytes of a message of `payload_type`, with `key`.
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &SigningKey) -> Self {
        let signature = key.sign(&pae(payload_type, &payload));
        Self {
            version: ENVELOPE_VERSION,
            payload_type: payload_type.to_string(),
            payload,
            signer: PublicKey(key.verifying_key().to_bytes()),
            signature: SignatureBytes(signature.to_bytes()),
        }
    }

    /// Decodes an envelope of at most `LIMIT` bytes, without verifying it: larger input is
    /// refused before it is read.
    pub fn decode_within<const LIMIT: usize>(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        codec::decode::<Self, LIMIT>("envelope", bytes).map_err(EnvelopeError::Decode)
    }

    /// The canonical bytes of this envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// This envelope's message id: the blake3 hash of its canonical bytes.
    pub fn id(&self) -> MessageId {
        MessageId::of(&self.to_bytes())
    }

    /// Checks the version, the payload against its type's `limit`, and the signature over the
    /// exact payload bytes, taking the signer's decompressed key from `keys` when it is there.
    pub fn verify_signature_within(
        &self,
        limit: usize,
        keys: Option<&SignerKeys>,
    ) -> Result<(), EnvelopeError> {
        if self.version != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnknownVersion(self.version));
        }
        if self.payload.len() > limit {
            return Err(EnvelopeError::PayloadTooLarge {
                payload_type: self.payload_type.clone(),
                len: self.payload.len(),
                limit,
            });
        }
        let key = match keys {
            Some(keys) => keys.get(&self.signer)?,
            None => VerifyingKey::from_bytes(self.signer.as_bytes())
                .map_err(|_| EnvelopeError::BadSigner(self.signer))?,
        };
        let signature = Signature::from_bytes(self.signature.as_bytes());
        key.verify_strict(&pae(&self.payload_type, &self.payload), &signature)
            .map_err(|_| EnvelopeError::BadSignature(self.signer))
    }
}

/// Decompressed signer keys, by their bytes: a node that sees the same signers again skips
/// the point decompression (about a fifth of a verification). Bounded: when full it starts
/// over.
#[derive(Debug)]
pub struct SignerKeys {
    keys: Mutex<HashMap<PublicKey, VerifyingKey>>,
    capacity: usize,
}

impl SignerKeys {
    /// A cache of at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The decompressed key of `signer`; an invalid point is [`EnvelopeError::BadSigner`].
    pub fn get(&self, signer: &PublicKey) -> Result<VerifyingKey, EnvelopeError> {
        let lock = || self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = lock().get(signer) {
            return Ok(*key);
        }
        let key = VerifyingKey::from_bytes(signer.as_bytes())
            .map_err(|_| EnvelopeError::BadSigner(*signer))?;
        let mut keys = lock();
        if keys.len() >= self.capacity {
            keys.clear();
        }
        keys.insert(*signer, key);
        Ok(key)
    }
}

/// A message whose envelope decoded canonically, whose signature verified over the exact
/// payload bytes, and which passed its self-consistency checks. Only verification builds one.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    id: MessageId,
    envelope: Envelope,
    message: T,
}

impl<T> Verified<T> {
    /// A message whose envelope (with id `id`) the caller has just verified and decoded.
    pub(crate) fn new(id: MessageId, envelope: Envelope, message: T) -> Self {
        Self {
            id,
            envelope,
            message,
        }
    }

    /// The message id: blake3 of the envelope's bytes.
    pub fn id(&self) -> MessageId {
        self.id
    }

    /// Who signed it.
    pub fn signer(&self) -> PublicKey {
        self.envelope.signer
    }

    /// The envelope it came in.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.message
    }

    /// The message, the envelope and the id.
    pub fn into_parts(self) -> (T, Envelope, MessageId) {
        (self.message, self.envelope, self.id)
    }

    /// Replaces the message by a view of it, keeping the proof of verification (used to
    /// turn a verified message of one known type into an enum of every type and back).
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Verified<U> {
        Verified {
            id: self.id,
            envelope: self.envelope,
            message: f(self.message),
        }
    }

    /// Like [`Self::map`], for a view that may not apply; gives the message back if not.
    pub(crate) fn try_map<U>(
        self,
        f: impl FnOnce(T) -> Result<U, T>,
    ) -> Result<Verified<U>, Box<Self>> {
        match f(self.message) {
            Ok(message) => Ok(Verified {
                id: self.id,
                envelope: self.envelope,
                message,
            }),
            Err(message) => Err(Box::new(Verified {
                id: self.id,
                envelope: self.envelope,
                message,
            })),
        }
    }
}
