//! The messages nodes exchange: commitments, attestations, reveals and sealed secrets.
//!
//! Each travels in a signed [`Envelope`](crate::envelope::Envelope) whose `payload_type`
//! names it and its version. The byte layout is in `specs/protocol.md`.

/// Implements [`Message`] for a message type with a concrete size limit.
macro_rules! payload {
    ($ty:ty, $payload_type:literal, $limit:expr) => {
        impl $crate::messages::Message for $ty {
            const PAYLOAD_TYPE: &'static str = $payload_type;
            const MAX_BYTES: usize = $limit;

            fn decode_payload(bytes: &[u8]) -> Result<Self, $crate::codec::DecodeError> {
                $crate::codec::decode_claiming::<
                    Self,
                    { $limit },
                    { $limit * $crate::codec::CLAIM_PER_BYTE },
                >(stringify!($ty), bytes)
            }

            fn check(
                &self,
                signer: &$crate::messages::PublicKey,
            ) -> Result<(), $crate::messages::InvalidMessage> {
                self.check_consistency(signer)
            }
        }
    };
}

mod attestation;
mod binding;
mod commitment;
mod json;
mod open;
mod plan;
mod reveal;
pub mod samples;
mod sealed;

pub use crate::ids::{Digest, JobId, MessageId, ParseHexError, PublicKey, Salt, SignatureBytes};
pub use attestation::{Attestation, AttestationFacts, Role};
pub use binding::check_attestation_binding;
pub use commitment::{Commitment, MAX_WITNESSES};
pub use json::{MessageBody, MessageView};
pub use open::{Message, OpenError, SealError, open};
pub use plan::{Route, TestPlan};
pub use reveal::{Reveal, check_reveal, reveal_digest};
pub use sealed::{
    CheckedBrief, SealedBox, SealedError, SealedSecret, WitnessBrief, check_sealed_binding,
};

use crate::envelope::{ENVELOPE_OVERHEAD, Envelope, SignerKeys, Verified};

/// The largest commitment payload, in bytes.
pub const MAX_COMMITMENT_BYTES: usize = 1024;
/// The largest attestation payload, in bytes.
pub const MAX_ATTESTATION_BYTES: usize = 2048;
/// The largest reveal payload, in bytes.
pub const MAX_REVEAL_BYTES: usize = 16 * 1024 * 1024;
/// The largest sealed-secret payload, in bytes (as large as a reveal, so that the envelope
/// limit is the same).
pub const MAX_SEALED_BYTES: usize = MAX_REVEAL_BYTES;

/// The largest envelope of any type, in bytes (a reveal at its limit).
pub const MAX_ENVELOPE_BYTES: usize = MAX_REVEAL_BYTES + ENVELOPE_OVERHEAD;

/// The largest envelope that travels by gossip (commitments and attestations), in bytes.
pub const MAX_GOSSIP_ENVELOPE_BYTES: usize = MAX_ATTESTATION_BYTES + ENVELOPE_OVERHEAD;

/// A message that is not self-consistent, or does not match its commitment.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A key field names someone other than the envelope's signer.
    #[error("{field} is {claimed} but the envelope is signed by {signer}")]
    SignerMismatch {
        /// The message field.
        field: &'static str,
        /// The key in the field.
        claimed: PublicKey,
        /// The envelope's signer.
        signer: PublicKey,
    },
    /// A field is out of its range.
    #[error("{field}: {reason}")]
    Field {
        /// The message field (with the group index for per-group statistics).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The attestation's p-value does not follow from its per-group statistics.
    #[error("log10 p-value {claimed} does not follow from the groups (recomputed {recomputed})")]
    PValueMismatch {
        /// The value in the message.
        claimed: f64,
        /// The value recomputed from the groups.
        recomputed: f64,
    },
    /// The attestation's verdict does not follow from its statistics and thresholds.
    #[error("verdict {claimed} does not follow from the statistics and thresholds ({recomputed})")]
    VerdictMismatch {
        /// The verdict and evidence flag in the message.
        claimed: String,
        /// Those recomputed.
        recomputed: String,
    },
    /// An attestation disagrees with its job's commitment.
    #[error("attestation does not match its commitment: {0}")]
    CommitmentMismatch(String),
    /// A reveal does not belong to, or does not hash to, its commitment.
    #[error("reveal does not match its commitment: {0}")]
    RevealMismatch(String),
}

impl InvalidMessage {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The payload limit of a known payload type, or `None` for an unknown type.
pub fn max_payload_bytes(payload_type: &str) -> Option<usize> {
    match payload_type {
        Commitment::PAYLOAD_TYPE => Some(Commitment::MAX_BYTES),
        Attestation::PAYLOAD_TYPE => Some(Attestation::MAX_BYTES),
        Reveal::PAYLOAD_TYPE => Some(Reveal::MAX_BYTES),
        SealedSecret::PAYLOAD_TYPE => Some(SealedSecret::MAX_BYTES),
        _ => None,
    }
}

/// Any of the message types, for code that handles whatever arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyMessage {
    /// A buyer's commitment to a job's secret set.
    Commitment(Commitment),
    /// A verification's outcome.
    Attestation(Attestation),
    /// A job's secret set, revealed.
    Reveal(Reveal),
    /// A job's secret set, sealed to each named witness.
    SealedSecret(SealedSecret),
}

impl AnyMessage {
    /// The message's kind in lowercase: `commitment`, `attestation`, `reveal` or
    /// `sealed_secret`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyMessage::Commitment(_) => "commitment",
            AnyMessage::Attestation(_) => "attestation",
            AnyMessage::Reveal(_) => "reveal",
            AnyMessage::SealedSecret(_) => "sealed_secret",
        }
    }

    /// The job the message is about.
    pub fn job_id(&self) -> JobId {
        match self {
            AnyMessage::Commitment(m) => m.job_id,
            AnyMessage::Attestation(m) => m.job_id,
            AnyMessage::Reveal(m) => m.job_id,
            AnyMessage::SealedSecret(m) => m.job_id,
        }
    }

    /// When its author says it was made, in unix seconds.
    pub fn created_at(&self) -> u64 {
        match self {
            AnyMessage::Commitment(m) => m.created_at,
            AnyMessage::Attestation(m) => m.created_at,
            AnyMessage::Reveal(m) => m.created_at,
            AnyMessage::SealedSecret(m) => m.created_at,
        }
    }
}

impl Envelope {
    /// Verifies this envelope and decodes whichever message it carries.
    pub fn open_any(self, id: MessageId) -> Result<Verified<AnyMessage>, OpenError> {
        self.open_any_with(id, None)
    }

    /// [`Self::open_any`], with a cache of decompressed signer keys.
    pub fn open_any_with(
        self,
        id: MessageId,
        keys: Option<&SignerKeys>,
    ) -> Result<Verified<AnyMessage>, OpenError> {
        match self.payload_type.as_str() {
            Commitment::PAYLOAD_TYPE => Ok(self
                .open_with::<Commitment>(id, keys)?
                .map(AnyMessage::Commitment)),
            Attestation::PAYLOAD_TYPE => Ok(self
                .open_with::<Attestation>(id, keys)?
                .map(AnyMessage::Attestation)),
            Reveal::PAYLOAD_TYPE => Ok(self.open_with::<Reveal>(id, keys)?.map(AnyMessage::Reveal)),
            SealedSecret::PAYLOAD_TYPE => Ok(self
                .open_with::<SealedSecret>(id, keys)?
                .map(AnyMessage::SealedSecret)),
            _ => {
                self.verify_signature_with(keys)?;
                Err(OpenError::UnknownPayloadType(self.payload_type))
            }
        }
    }
}

/// Decodes and verifies envelope bytes carrying any message type.
pub fn open_any(bytes: &[u8]) -> Result<Verified<AnyMessage>, OpenError> {
    Envelope::decode(bytes)?.open_any(MessageId::of(bytes))
}

/// [`open_any`], taking signers' decompressed keys from `keys` (a node's ingest path).
pub fn open_any_with(bytes: &[u8], keys: &SignerKeys) -> Result<Verified<AnyMessage>, OpenError> {
    Envelope::decode(bytes)?.open_any_with(MessageId::of(bytes), Some(keys))
}

impl Verified<AnyMessage> {
    /// The verified message as its own type `T`, or `Err(self)` if it is another kind.
    pub fn downcast<T>(self) -> Result<Verified<T>, Box<Self>>
    where
        T: TryFrom<AnyMessage, Error = AnyMessage>,
    {
        self.try_map(T::try_from)
    }
}

impl<T: Into<AnyMessage>> Verified<T> {
    /// The verified message as an [`AnyMessage`].
    pub fn into_any(self) -> Verified<AnyMessage> {
        self.map(Into::into)
    }
}

/// Conversions between a message type and its [`AnyMessage`] variant.
macro_rules! any_variant {
    ($variant:ident) => {
        impl From<$variant> for AnyMessage {
            fn from(message: $variant) -> Self {
                AnyMessage::$variant(message)
            }
        }

        impl TryFrom<AnyMessage> for $variant {
            type Error = AnyMessage;

            fn try_from(message: AnyMessage) -> Result<Self, AnyMessage> {
                match message {
                    AnyMessage::$variant(m) => Ok(m),
                    other => Err(other),
                }
            }
        }
    };
}
any_variant!(Commitment);
any_variant!(Attestation);
any_variant!(Reveal);
any_variant!(SealedSecret);
