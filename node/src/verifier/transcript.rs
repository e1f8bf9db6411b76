//! Every request of a run and its answer, and the transcript file that keeps them (0600:
//! it holds the triggered prompts and the signatures the model produced).

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vtune_protocol::dataset::Prompt;
use vtune_protocol::stats;

use super::{Job, VerifyError};
use crate::endpoint::{Completion, EndpointError};

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

/// The blake3 (hex) of `records` as [`write_transcript`] would write them, without writing
/// anything: a witness keeps no transcript, since it holds the triggers.
pub fn transcript_digest(records: &[ResponseRecord]) -> Result<String, VerifyError> {
    let mut hasher = blake3::Hasher::new();
    for record in records {
        let line = serde_json::to_vec(record).map_err(|source| VerifyError::Encode {
            what: "a transcript record",
            source,
        })?;
        hasher.update(&line);
        hasher.update(b"\n");
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Writes `records` as JSON lines to `path`, created with mode 0600 (and set to 0600 if it
/// existed), and returns the blake3 of the bytes written, in hex.
pub fn write_transcript(path: &Path, records: &[ResponseRecord]) -> Result<String, VerifyError> {
    let io = |source| VerifyError::Io {
        file: path.display().to_string(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    let mut writer = BufWriter::new(file);
    for record in records {
        let mut line = serde_json::to_vec(record).map_err(|source| VerifyError::Encode {
            what: "a transcript record",
            source,
        })?;
        line.push(b'\n');
        hasher.update(&line);
        writer.write_all(&line).map_err(io)?;
    }
    writer.flush().map_err(io)?;
    writer.get_ref().sync_all().map_err(io)?;
    Ok(hasher.finalize().to_hex().to_string())
}
