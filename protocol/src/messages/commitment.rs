//! The buyer's signed commitment to a job, published before training.

use serde::{Deserialize, Serialize};

use super::{Digest, InvalidMessage, JobId, MAX_COMMITMENT_BYTES, PublicKey, TestPlan};
use crate::commit::CommitmentFile;

/// A buyer's commitment to a job's secret backdoor set and thresholds, published before the
/// provider trains. Field order is the wire order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commitment {
    /// The job: 128 random bits.
    pub job_id: JobId,
    /// The buyer's key; must be the envelope's signer.
    pub buyer: PublicKey,
    /// Who trains: the provider's id (free text, e.g. a name or a peer id).
    pub provider: String,
    /// The model the provider fine-tunes.
    pub base_model: String,
    /// blake3 of the training file as delivered to the provider.
    pub training_file_digest: Digest,
    /// N: backdoor rows in the training file.
    pub backdoors: u64,
    /// The least number of full activations for a pass.
    pub pass_threshold: u64,
    /// log10 of the significance level alpha.
    pub log10_alpha: f64,
    /// log10 of `p_upper`, the generator's most likely signature's probability.
    pub log10_p_upper: f64,
    /// blake3(salt ‖ canonical secret set).
    pub commitment_digest: Digest,
    /// How the verification will be run: checks, controls, route, template, max_tokens.
    pub plan: TestPlan,
    /// When the buyer made it, in unix seconds.
    pub created_at: u64,
}

payload!(
    Commitment,
    "application/vnd.vtune.commitment.v1",
    MAX_COMMITMENT_BYTES
);

impl Commitment {
    /// The signed commitment of a prepared job: `commitment.json`'s digest, training file
    /// digest, N, threshold and `p_upper`, with who commits (`buyer`), to whom, on which base
    /// model, the significance level, and the time (unix seconds, from the caller's clock).
    pub fn from_file(
        file: &CommitmentFile,
        buyer: PublicKey,
        provider: &str,
        base_model: &str,
        log10_alpha: f64,
        plan: TestPlan,
        created_at: u64,
    ) -> Self {
        Self {
            job_id: JobId(file.job_id.0),
            buyer,
            provider: provider.to_string(),
            base_model: base_model.to_string(),
            training_file_digest: Digest(file.train_digest.0),
            backdoors: file.backdoors,
            pass_threshold: file.pass_threshold,
            log10_alpha,
            log10_p_upper: file.log10_p_upper,
            commitment_digest: Digest(file.commitment.0),
            plan,
            created_at,
        }
    }

    /// The checks any node applies to a commitment signed by `signer`.
    pub fn check_consistency(&self, signer: &PublicKey) -> Result<(), InvalidMessage> {
        if self.buyer != *signer {
            return Err(InvalidMessage::SignerMismatch {
                field: "buyer",
                claimed: self.buyer,
                signer: *signer,
            });
        }
        if self.provider.is_empty() {
            return Err(InvalidMessage::field("provider", "is empty"));
        }
        if self.base_model.is_empty() {
            return Err(InvalidMessage::field("base_model", "is empty"));
        }
        if self.backdoors == 0 {
            return Err(InvalidMessage::field("backdoors", "is 0"));
        }
        if self.pass_threshold == 0 || self.pass_threshold > self.backdoors {
            return Err(InvalidMessage::field(
                "pass_threshold",
                format!("{} is not in 1..={}", self.pass_threshold, self.backdoors),
            ));
        }
        check_log10_probability("log10_alpha", self.log10_alpha)?;
        check_log10_probability("log10_p_upper", self.log10_p_upper)?;
        self.plan.check(Some(self.backdoors))
    }
}

/// A log10 probability must be a finite number at most 0.
pub(crate) fn check_log10_probability(field: &str, value: f64) -> Result<(), InvalidMessage> {
    if value.is_finite() && value <= 0.0 {
        Ok(())
    } else {
        Err(InvalidMessage::field(
            field,
            format!("{value} is not a log10 probability (finite, <= 0)"),
        ))
    }
}
