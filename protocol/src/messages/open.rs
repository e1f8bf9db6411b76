//! Sealing a message into an envelope, and opening an envelope into a message: the
//! [`Message`] trait each message type implements, and the errors of both directions.

use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{InvalidMessage, MAX_ENVELOPE_BYTES, MAX_GOSSIP_ENVELOPE_BYTES, max_payload_bytes};
use crate::codec::{self, DecodeError};
use crate::envelope::{Envelope, EnvelopeError, SignerKeys, Verified};
use crate::ids::{MessageId, PublicKey};

/// A message type that travels in an envelope.
pub trait Message: Serialize + DeserializeOwned {
    /// The envelope's `payload_type` for this message, including its version.
    const PAYLOAD_TYPE: &'static str;
    /// The largest canonical encoding allowed, in bytes.
    const MAX_BYTES: usize;

    /// Decodes the payload, reading and allocating at most [`Self::MAX_BYTES`].
    fn decode_payload(bytes: &[u8]) -> Result<Self, DecodeError>;

    /// The message's self-consistency checks, given who signed it.
    fn check(&self, signer: &PublicKey) -> Result<(), InvalidMessage>;
}

/// Why an envelope was not opened into a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The envelope's bytes, version, size or signature.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
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

impl Envelope {
    /// Checks `message`, encodes it canonically and signs it with `key`.
    pub fn seal<T: Message>(message: &T, key: &SigningKey) -> Result<Self, SealError> {
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
        Ok(Self::sign(T::PAYLOAD_TYPE, payload, key))
    }

    /// Decodes an envelope of any type (up to [`MAX_ENVELOPE_BYTES`]), without verifying it.
    pub fn decode(bytes: &[u8]) -> Result<Self, OpenError> {
        Ok(Self::decode_within::<MAX_ENVELOPE_BYTES>(bytes)?)
    }

    /// Decodes a gossiped envelope (up to [`MAX_GOSSIP_ENVELOPE_BYTES`]), without verifying
    /// it: larger input is refused before it is read.
    pub fn decode_gossip(bytes: &[u8]) -> Result<Self, OpenError> {
        Ok(Self::decode_within::<MAX_GOSSIP_ENVELOPE_BYTES>(bytes)?)
    }

    /// Checks the version, the payload type's size limit, and the signature over the exact
    /// payload bytes.
    pub fn verify_signature(&self) -> Result<(), OpenError> {
        self.verify_signature_with(None)
    }

    /// [`Self::verify_signature`], taking the signer's decompressed key from `keys` when it
    /// is there.
    pub fn verify_signature_with(&self, keys: Option<&SignerKeys>) -> Result<(), OpenError> {
        if self.version != crate::envelope::ENVELOPE_VERSION {
            return Err(EnvelopeError::UnknownVersion(self.version).into());
        }
        let limit = max_payload_bytes(&self.payload_type)
            .ok_or_else(|| OpenError::UnknownPayloadType(self.payload_type.clone()))?;
        Ok(self.verify_signature_within(limit, keys)?)
    }

    /// Verifies this envelope and decodes its payload as a `T`.
    pub fn open<T: Message>(self, id: MessageId) -> Result<Verified<T>, OpenError> {
        self.open_with(id, None)
    }

    /// [`Self::open`], with a cache of decompressed signer keys.
    pub fn open_with<T: Message>(
        self,
        id: MessageId,
        keys: Option<&SignerKeys>,
    ) -> Result<Verified<T>, OpenError> {
        if self.payload_type != T::PAYLOAD_TYPE && max_payload_bytes(&self.payload_type).is_some() {
            return Err(OpenError::WrongPayloadType {
                expected: T::PAYLOAD_TYPE,
                found: self.payload_type,
            });
        }
        self.verify_signature_with(keys)?;
        let message = T::decode_payload(&self.payload).map_err(OpenError::Payload)?;
        message.check(&self.signer).map_err(OpenError::Invalid)?;
        Ok(Verified::new(id, self, message))
    }
}

/// Decodes and verifies envelope bytes carrying a `T`.
pub fn open<T: Message>(bytes: &[u8]) -> Result<Verified<T>, OpenError> {
    Envelope::decode(bytes)?.open(MessageId::of(bytes))
}

#[cfg(test)]
mod tests;
