//! Signed envelopes: PAE, ed25519 signing, and verification before decoding.
//!
//! An [`Envelope`] carries a message's canonical bytes (`payload`), a `payload_type` naming
//! the message and its version, the signer's public key and an ed25519 signature over
//! `PAE(payload_type, payload)`, in the manner of DSSE. A [`Verified`] value exists only
//! after the envelope decoded canonically, its signature checked out over the exact payload
//! bytes, and only then the payload decoded and passed its self-consistency checks.

use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, DecodeError};
use crate::messages::ids::hex_bytes;
use crate::messages::{InvalidMessage, MessageId, PublicKey, SignatureBytes};

/// The envelope format version this code reads and writes.
pub const ENVELOPE_VERSION: u8 = 1;

/// The first field of the PAE: names the scheme and its version.
pub const PAE_PREFIX: &str = "VTUNEv1";

/// Bytes an envelope may add around its payload (version, lengths, type, key, signature).
pub const ENVELOPE_OVERHEAD: usize = 256;

/// The largest envelope of any type, in bytes (a reveal at its limit).
pub const MAX_ENVELOPE_BYTES: usize = crate::messages::MAX_REVEAL_BYTES + ENVELOPE_OVERHEAD;

/// The largest envelope that travels by gossip (commitments and attestations), in bytes.
pub const MAX_GOSSIP_ENVELOPE_BYTES: usize =
    crate::messages::MAX_ATTESTATION_BYTES + ENVELOPE_OVERHEAD;

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

/// A message type that travels in an envelope.
pub trait Payload: Serialize + DeserializeOwned {
    /// The envelope's `payload_type` for this message, including its version.
    const PAYLOAD_TYPE: &'static str;
    /// The largest canonical encoding allowed, in bytes.
    const MAX_BYTES: usize;

    /// Decodes the payload, reading and allocating at most [`Self::MAX_BYTES`].
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError>;

    /// The message's self-consistency checks, given who signed it.
    fn check(&self, signer: &PublicKey) -> Result<(), InvalidMessage>;
}

/// Why an envelope was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The envelope bytes did not decode.
    #[error("envelope: {0}")]
    Envelope(#[source] DecodeError),
    /// The envelope has a version this code does not know.
    #[error("envelope version {0} is not supported (expected {ENVELOPE_VERSION})")]
    UnknownVersion(u8),
    /// The payload type is not one this code knows.
    #[error("unknown payload type `{0}`")]
    UnknownPayloadType(String),
    /// The payload type is known but not the one asked for.
    #[error("payload type is `{found}`, expected `{expected}`")]
    WrongPayloadType {
        /// The type asked for.
        expected: &'static str,
        /// The type the envelope carries.
        found: String,
    },
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
    /// The signed payload did not decode.
    #[error("payload: {0}")]
    Payload(#[source] DecodeError),
    /// The payload decoded but is not self-consistent.
    #[error("invalid message: {0}")]
    Invalid(#[source] InvalidMessage),
}

/// A failure to sign a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The message would be rejected by every verifier.
    #[error("refusing to sign an invalid message: {0}")]
    Invalid(#[source] InvalidMessage),
    /// The message's encoding is over its type's limit.
    #[error("`{payload_type}` payload of {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// The payload type.
        payload_type: &'static str,
        /// The payload length.
        len: usize,
        /// The type's limit.
        limit: usize,
    },
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
    /// Checks `message`, encodes it canonically and signs it with `key`.
    pub fn seal<T: Payload>(message: &T, key: &SigningKey) -> Result<Self, SealError> {
        let signer = PublicKey(key.verifying_key().to_bytes());
        message.check(&signer).map_err(SealError::Invalid)?;
        let payload = codec::encode(message);
        if payload.len() > T::MAX_BYTES {
            return Err(SealError::TooLarge {
                payload_type: T::PAYLOAD_TYPE,
                len: payload.len(),
                limit: T::MAX_BYTES,
            });
        }
        let signature = key.sign(&pae(T::PAYLOAD_TYPE, &payload));
        Ok(Self {
            version: ENVELOPE_VERSION,
            payload_type: T::PAYLOAD_TYPE.to_string(),
            payload,
            signer,
            signature: SignatureBytes(signature.to_bytes()),
        })
    }

    /// Decodes an envelope of any type (up to [`MAX_ENVELOPE_BYTES`]), without verifying it.
    pub fn decode(bytes: &[u8]) -> Result<Self, OpenError> {
        codec::decode::<Self, MAX_ENVELOPE_BYTES>("envelope", bytes).map_err(OpenError::Envelope)
    }

    /// Decodes a gossiped envelope (up to [`MAX_GOSSIP_ENVELOPE_BYTES`]), without verifying
    /// it: larger input is refused before it is read.
    pub fn decode_gossip(bytes: &[u8]) -> Result<Self, OpenError> {
        codec::decode::<Self, MAX_GOSSIP_ENVELOPE_BYTES>("envelope", bytes)
            .map_err(OpenError::Envelope)
    }

    /// The canonical bytes of this envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// This envelope's message id: the blake3 hash of its canonical bytes.
    pub fn id(&self) -> MessageId {
        MessageId::of(&self.to_bytes())
    }

    /// Checks the version, the payload type's size limit, and the signature over the exact
    /// payload bytes.
    pub fn verify_signature(&self) -> Result<(), OpenError> {
        self.verify_signature_with(None)
    }

    /// [`Self::verify_signature`], taking the signer's decompressed key from `keys` when it
    /// is there.
    pub fn verify_signature_with(&self, keys: Option<&SignerKeys>) -> Result<(), OpenError> {
        if self.version != ENVELOPE_VERSION {
            return Err(OpenError::UnknownVersion(self.version));
        }
        let limit = crate::messages::max_payload_bytes(&self.payload_type)
            .ok_or_else(|| OpenError::UnknownPayloadType(self.payload_type.clone()))?;
        if self.payload.len() > limit {
            return Err(OpenError::PayloadTooLarge {
                payload_type: self.payload_type.clone(),
                len: self.payload.len(),
                limit,
            });
        }
        let key = match keys {
            Some(keys) => keys.get(&self.signer)?,
            None => VerifyingKey::from_bytes(self.signer.as_bytes())
                .map_err(|_| OpenError::BadSigner(self.signer))?,
        };
        let signature = Signature::from_bytes(self.signature.as_bytes());
        key.verify_strict(&pae(&self.payload_type, &self.payload), &signature)
            .map_err(|_| OpenError::BadSignature(self.signer))
    }

    /// Verifies this envelope and decodes its payload as a `T`.
    pub fn open<T: Payload>(self, id: MessageId) -> Result<Verified<T>, OpenError> {
        self.open_with(id, None)
    }

    /// [`Self::open`], with a cache of decompressed signer keys.
    pub fn open_with<T: Payload>(
        self,
        id: MessageId,
        keys: Option<&SignerKeys>,
    ) -> Result<Verified<T>, OpenError> {
        if self.payload_type != T::PAYLOAD_TYPE
            && crate::messages::max_payload_bytes(&self.payload_type).is_some()
        {
            return Err(OpenError::WrongPayloadType {
                expected: T::PAYLOAD_TYPE,
                found: self.payload_type,
            });
        }
        self.verify_signature_with(keys)?;
        let message = T::decode_payload(&self.payload).map_err(OpenError::Payload)?;
        message.check(&self.signer).map_err(OpenError::Invalid)?;
        Ok(Verified {
            id,
            envelope: self,
            message,
        })
    }
}

/// Decodes and verifies envelope bytes carrying a `T`.
pub fn open<T: Payload>(bytes: &[u8]) -> Result<Verified<T>, OpenError> {
    Envelope::decode(bytes)?.open(MessageId::of(bytes))
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

    /// The decompressed key of `signer`; an invalid point is [`OpenError::BadSigner`].
    pub fn get(&self, signer: &PublicKey) -> Result<VerifyingKey, OpenError> {
        let lock = || self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = lock().get(signer) {
            return Ok(*key);
        }
        let key = VerifyingKey::from_bytes(signer.as_bytes())
            .map_err(|_| OpenError::BadSigner(*signer))?;
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
    /// turn a verified message of one known type into the [`crate::messages::AnyMessage`]
    /// enum and back).
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

#[cfg(test)]
mod tests;
