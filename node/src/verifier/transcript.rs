//! Every request of a run and its answer, and the transcript file that keeps them (0600:
//! it holds the triggered prompts and the signatures the model produced).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vtune_protocol::dataset::Prompt;
use vtune_protocol::stats;

use super::{Job, VerifyError};
use crate::endpoint::{Completion, EndpointError};
use crate::job_dir::{PRIVATE, Replace, install};

/// Whether a request was a triggered check or an untriggered control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A backdoor prompt, trigger included.
    Check,
    /// A non-backdoor prompt, without a trigger.
    Control,
}

/// What a request gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// An answer.
    Answered {
        /// The answer text.
        response: String,
        /// Why generation stopped, as the server said.
        finish_reason: Option<String>,
    },
    /// No answer: the request failed.
    Error {
        /// `transport`, `timeout`, `http-503`, `invalid-reply`, `refusal`, `empty`, ...
        kind: String,
        /// The error.
        message: String,
    },
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// The order in which requests were issued.
    pub sequence: usize,
    /// Check or control.
    pub kind: Kind,
    /// The row of the prompt in the training file.
    pub row: u64,
    /// The group of a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// The prompt sent (the check's or control's own, shared).
    pub prompt: Arc<Prompt>,
    /// The answer or the error.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Requests sent for it, retries included.
    pub attempts: u32,
    /// Signature tokens the answer matched from one of its first `MATCH_OFFSETS` token offsets
    /// (for a control: the most over all groups).
    pub matched_tokens: u32,
    /// Whether the answer holds the whole signature from one of its first `MATCH_OFFSETS`
    /// token offsets (for a control: any group's).
    pub activated: bool,
}

impl ResponseRecord {
    /// The record of one request and its result, matched against `job`'s signatures.
    pub(crate) fn new(
        sequence: usize,
        kind: Kind,
        row: u64,
        group: Option<usize>,
        prompt: &Arc<Prompt>,
        result: Result<Completion, EndpointError>,
        job: &Job,
    ) -> Self {
        let (outcome, attempts) = match result {
            Ok(completion) => (
                Outcome::Answered {
                    response: completion.text,
                    finish_reason: completion.finish_reason,
                },
                completion.attempts,
            ),
            Err(error) => (
                Outcome::Error {
                    kind: error.kind(),
                    message: error.to_string(),
                },
                error.attempts(),
            ),
        };
        let mut record = Self {
            sequence,
            kind,
            row,
            group,
            prompt: Arc::clone(prompt),
            outcome,
            attempts,
            matched_tokens: 0,
            activated: false,
        };
        if let Some(text) = record.text() {
            let groups: Vec<_> = match group {
                Some(index) => vec![&job.groups[index]],
                None => job.groups.iter().collect(),
            };
            let (mut best, mut activated) = (0, false);
            for group in groups {
                let matched = stats::matched_tokens(text, &group.signature, stats::MATCH_OFFSETS);
                best = best.max(matched);
                activated |= matched as usize == group.signature.len();
            }
            (record.matched_tokens, record.activated) = (best, activated);
        }
        record
    }

    /// The answer, if the request got one.
    pub fn text(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Answered { response, .. } => Some(response),
            Outcome::Error { .. } => None,
        }
    }
}

/// `records` as JSON lines: the bytes of a transcript file.
fn transcript_bytes(records: &[ResponseRecord]) -> Result<Vec<u8>, VerifyError> {
    let mut bytes = Vec::new();
    for record in records {
        serde_json::to_writer(&mut bytes, record).map_err(|source| VerifyError::Encode {
            what: "a transcript record",
            source,
        })?;
        bytes.push(b'\n');
    }
    Ok(bytes)
}

/// The blake3 (hex) of `records` as [`write_transcript`] would write them, without writing
/// anything: a witness keeps no transcript, since it holds the triggers.
pub fn transcript_digest(records: &[ResponseRecord]) -> Result<String, VerifyError> {
    Ok(blake3::hash(&transcript_bytes(records)?)
        .to_hex()
        .to_string())
}

/// Installs `records` as JSON lines at `path` with mode 0600 (replacing any file there), and
/// returns the blake3 of the bytes written, in hex.
pub fn write_transcript(path: &Path, records: &[ResponseRecord]) -> Result<String, VerifyError> {
    let bytes = transcript_bytes(records)?;
    install(path, &bytes, PRIVATE, Replace::Yes)?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}
