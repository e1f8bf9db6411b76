//! Storing a message that arrived from the API, gossip or sync: the one path that verifies,
//! stores, and counts the result. These calls block (the ledger flushes to disk): async code
//! runs them on the blocking pool.

use vtune_protocol::envelope::EnvelopeError;
use vtune_protocol::messages::InvalidMessage;
use vtune_protocol::messages::OpenError;

use crate::ledger::{InsertError, Inserted, Ledger};
use crate::metrics::Metrics;

/// Where a message came from, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /v1/messages`.
    Api,
    /// The gossip topic (an envelope, or the body of an announcement).
    Gossip,
    /// A sync page.
    Sync,
    /// This node's own witness run.
    Witness,
}

impl Source {
    /// Its metric label.
    pub fn label(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Gossip => "gossip",
            Source::Sync => "sync",
            Source::Witness => "witness",
        }
    }
}

/// Verifies and stores one envelope, counting the outcome.
pub fn ingest(
    ledger: &Ledger,
    metrics: &Metrics,
    envelope: &[u8],
    source: Source,
) -> Result<Inserted, InsertError> {
    let result = ledger.insert(envelope);
    count(metrics, &result, source);
    result
}

/// Verifies and stores a batch of envelopes (one flush), counting each outcome.
pub fn ingest_batch(
    ledger: &Ledger,
    metrics: &Metrics,
    envelopes: &[Vec<u8>],
    source: Source,
) -> Result<Vec<Result<Inserted, InsertError>>, crate::ledger::LedgerError> {
    let results = ledger.insert_batch(envelopes)?;
    for result in &results {
        count(metrics, result, source);
    }
    Ok(results)
}

fn count(metrics: &Metrics, result: &Result<Inserted, InsertError>, source: Source) {
    match result {
        Ok(inserted) if inserted.new => {
            metrics.count_stored(inserted.kind, source.label());
        }
        Ok(_) => {
            metrics.duplicates.inc();
        }
        Err(e) => metrics.count_rejected(reject_reason(e), source.label()),
    }
}

/// A short, stable label for why a message was refused.
pub fn reject_reason(error: &InsertError) -> &'static str {
    match error {
        InsertError::Ledger(_) => "storage",
        InsertError::Invalid(e) => match e {
            OpenError::Envelope(e) => match e {
                EnvelopeError::Decode(_) => "decode",
                EnvelopeError::UnknownVersion(_) => "version",
                EnvelopeError::PayloadTooLarge { .. } => "too_large",
                EnvelopeError::BadSigner(_) | EnvelopeError::BadSignature(_) => "signature",
                _ => "other",
            },
            OpenError::UnknownPayloadType(_) | OpenError::WrongPayloadType { .. } => "payload_type",
            OpenError::Payload(_) => "payload",
            OpenError::Invalid(InvalidMessage::CommitmentMismatch(_)) => "commitment_mismatch",
            OpenError::Invalid(InvalidMessage::RevealMismatch(_)) => "reveal_mismatch",
            OpenError::Invalid(_) => "inconsistent",
            _ => "other",
        },
    }
}
