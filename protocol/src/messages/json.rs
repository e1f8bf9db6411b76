//! The JSON view of a verified message, for `check` output and the HTTP API: keys, ids and
//! digests as hex strings.

use serde::Serialize;

use super::{AnyMessage, MessageId, PublicKey};
use crate::envelope::Verified;

/// A verified message with its id and signer, ready to serialize as JSON.
#[derive(Debug, Serialize)]
pub struct MessageView<'a> {
    /// The message id (hex).
    pub id: MessageId,
    /// `commitment`, `attestation`, `reveal` or `sealed_secret`.
    pub kind: &'static str,
    /// The envelope's payload type.
    pub payload_type: &'a str,
    /// The signer's public key (hex).
    pub signer: PublicKey,
    /// The message's fields.
    pub message: MessageBody<'a>,
}

/// The fields of one message.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum MessageBody<'a> {
    /// A commitment.
    Commitment(&'a super::Commitment),
    /// An attestation.
    Attestation(&'a super::Attestation),
    /// A reveal.
    Reveal(&'a super::Reveal),
    /// A sealed secret (its boxes are ciphertext).
    SealedSecret(&'a super::SealedSecret),
}

impl<'a> MessageView<'a> {
    /// The view of `verified`.
    pub fn new(verified: &'a Verified<AnyMessage>) -> Self {
        let message = match verified.message() {
            AnyMessage::Commitment(m) => MessageBody::Commitment(m),
            AnyMessage::Attestation(m) => MessageBody::Attestation(m),
            AnyMessage::Reveal(m) => MessageBody::Reveal(m),
            AnyMessage::SealedSecret(m) => MessageBody::SealedSecret(m),
        };
        Self {
            id: verified.id(),
            kind: verified.message().kind(),
            payload_type: &verified.envelope().payload_type,
            signer: verified.signer(),
            message,
        }
    }
}
