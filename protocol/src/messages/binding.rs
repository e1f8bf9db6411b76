//! Whether an attestation belongs to its job's commitment: same job, same commitment id, same
//! provider, the thresholds and the test plan the buyer committed to. A node that has the commitment rejects
//! an attestation that disagrees with it.

use super::{Attestation, Commitment, InvalidMessage, MessageId};

/// Checks `attestation` against the commitment `commitment` whose message id is
/// `commitment_id`.
pub fn check_attestation_binding(
    attestation: &Attestation,
    commitment_id: MessageId,
    commitment: &Commitment,
) -> Result<(), InvalidMessage> {
    let mismatch = |what: String| Err(InvalidMessage::CommitmentMismatch(what));
    if attestation.commitment_id != commitment_id {
        return mismatch(format!(
            "attestation names commitment {}, not {commitment_id}",
            attestation.commitment_id
        ));
    }
    if attestation.job_id != commitment.job_id {
        return mismatch(format!(
            "attestation is for job {}, the commitment for job {}",
            attestation.job_id, commitment.job_id
        ));
    }
    if attestation.provider != commitment.provider {
        return mismatch(format!(
            "attestation names provider {:?}, the commitment {:?}",
            attestation.provider, commitment.provider
        ));
    }
    // With a sample of the backdoors (plan.checks < backdoors), the threshold scales.
    let threshold = crate::verdict::scaled_threshold(
        commitment.pass_threshold,
        commitment.backdoors,
        commitment.plan.checks,
    );
    if attestation.pass_threshold != threshold {
        return mismatch(format!(
            "pass_threshold is {}, the commitment's is {threshold}",
            attestation.pass_threshold
        ));
    }
    if attestation.log10_alpha.to_bits() != commitment.log10_alpha.to_bits() {
        return mismatch(format!(
            "log10_alpha is {}, the commitment's is {}",
            attestation.log10_alpha, commitment.log10_alpha
        ));
    }
    if attestation.plan != commitment.plan {
        return mismatch(format!(
            "the plan {:?} is not the committed plan {:?}",
            attestation.plan, commitment.plan
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{PublicKey, TestPlan, samples};

    fn pair() -> (Attestation, Commitment, MessageId) {
        let buyer = PublicKey([7; 32]);
        let commitment = samples::commitment(buyer, "acme");
        let id = MessageId([3; 32]);
        let mut attestation = samples::attestation(buyer, id, "acme", 5);
        attestation.pass_threshold = commitment.pass_threshold;
        attestation.log10_alpha = commitment.log10_alpha;
        (attestation, commitment, id)
    }

    #[test]
    fn an_attestation_of_the_commitment_binds() {
        let (a, c, id) = pair();
        assert_eq!(check_attestation_binding(&a, id, &c), Ok(()));
    }

    #[test]
    fn each_committed_field_that_differs_is_named() {
        let (a, c, id) = pair();
        let cases: Vec<(Attestation, &str)> = vec![
            (
                Attestation {
                    pass_threshold: a.pass_threshold + 1,
                    ..a.clone()
                },
                "pass_threshold",
            ),
            (
                Attestation {
                    log10_alpha: a.log10_alpha + 1.0,
                    ..a.clone()
                },
                "log10_alpha",
            ),
            (
                Attestation {
                    provider: "other".into(),
                    ..a.clone()
                },
                "provider",
            ),
            (
                Attestation {
                    commitment_id: MessageId([9; 32]),
                    ..a.clone()
                },
                "names commitment",
            ),
            (
                Attestation {
                    plan: TestPlan {
                        max_tokens: 7,
                        ..a.plan.clone()
                    },
                    ..a.clone()
                },
                "committed plan",
            ),
        ];
        for (bad, field) in cases {
            let err = check_attestation_binding(&bad, id, &c)
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }
}
