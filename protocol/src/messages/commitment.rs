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
    /// The witnesses: nodes (ed25519 keys) that will receive the secret set sealed to them
    /// alone and re-run the verification before any public reveal. Named before training, so
    /// the buyer cannot choose them after seeing the answers. Distinct, not the buyer, at most
    /// [`MAX_WITNESSES`].
    pub witnesses: Vec<PublicKey>,
    /// Unix seconds after which the buyer may reveal the set publicly even if some witness has
    /// not attested (0 when there are no witnesses).
    pub reveal_after: u64,
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
            job_id: file.job_id,
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
            witnesses: Vec::new(),
            reveal_after: 0,
            created_at,
        }
    }

    /// Whether `key` is one of the job's named witnesses.
    pub fn names_witness(&self, key: &PublicKey) -> bool {
        self.witnesses.contains(key)
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
        self.check_witnesses()?;
        self.plan.check(Some(self.backdoors))
    }

    fn check_witnesses(&self) -> Result<(), InvalidMessage> {
        if self.witnesses.len() > MAX_WITNESSES {
            return Err(InvalidMessage::field(
                "witnesses",
                format!("{} named, at most {MAX_WITNESSES}", self.witnesses.len()),
            ));
        }
        for (i, witness) in self.witnesses.iter().enumerate() {
            if *witness == self.buyer {
                return Err(InvalidMessage::field("witnesses", "names the buyer"));
            }
            if self.witnesses[..i].contains(witness) {
                return Err(InvalidMessage::field(
                    "witnesses",
                    format!("names {witness} twice"),
                ));
            }
            if crate::seal::x25519_public(witness).is_none() {
                return Err(InvalidMessage::field(
                    "witnesses",
                    format!("{witness} is not an ed25519 public key"),
                ));
            }
        }
        if self.witnesses.is_empty() && self.reveal_after != 0 {
            return Err(InvalidMessage::field(
                "reveal_after",
                "must be 0 when no witness is named",
            ));
        }
        if !self.witnesses.is_empty() && self.reveal_after < self.created_at {
            return Err(InvalidMessage::field(
                "reveal_after",
                format!(
                    "{} is before created_at {}",
                    self.reveal_after, self.created_at
                ),
            ));
        }
        Ok(())
    }
}

/// The most witnesses a commitment may name.
pub const MAX_WITNESSES: usize = 8;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::samples;

    fn witness(seed: u8) -> PublicKey {
        PublicKey(
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_bytes(),
        )
    }

    #[test]
    fn named_witnesses_must_be_distinct_keys_other_than_the_buyer() {
        let buyer = witness(1);
        let ok = samples::witnessed_commitment(buyer, "acme", vec![witness(2), witness(3)]);
        assert_eq!(ok.check_consistency(&buyer), Ok(()));
        assert!(ok.names_witness(&witness(3)) && !ok.names_witness(&buyer));
        let cases = [
            (vec![witness(2), witness(2)], "twice"),
            (vec![buyer], "buyer"),
            (vec![witness(2); MAX_WITNESSES + 1], "at most"),
        ];
        for (witnesses, why) in cases {
            let bad = Commitment {
                witnesses,
                ..ok.clone()
            };
            let err = bad.check_consistency(&buyer).unwrap_err().to_string();
            assert!(err.contains(why), "{err} should say {why}");
        }
        let early = Commitment {
            reveal_after: ok.created_at - 1,
            ..ok.clone()
        };
        assert!(early.check_consistency(&buyer).is_err());
        let stray = Commitment {
            witnesses: Vec::new(),
            ..ok
        };
        assert!(stray.check_consistency(&buyer).is_err());
    }

    #[test]
    fn the_sample_secret_set_is_a_canonical_set_of_its_job() {
        let set = crate::commit::decode_secret_set(samples::SAMPLE_SECRET_SET).unwrap();
        assert_eq!(set.job_id, samples::SAMPLE_JOB.0);
        assert_eq!(set.groups[0].signature_tokens.join(" "), "so the answer is");
        assert_eq!(set.backdoors.len(), 1);
    }
}
