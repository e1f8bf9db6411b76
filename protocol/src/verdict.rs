//! The verdict rule: pass, fail or inconclusive, from the p-value, the activations and the
//! checks that could not complete.

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// p-value <= alpha and activations >= the pass threshold.
    Pass,
    /// Enough checks completed, and the pass condition does not hold.
    Fail,
    /// Errors left too few completed checks to decide.
    Inconclusive,
}

/// The thresholds a verification is judged by.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VerdictRule {
    /// log10 of the significance level alpha (default -6).
    pub log10_alpha: f64,
    /// The least number of full activations for a pass.
    pub pass_threshold: u64,
}

/// A verdict and whether the data shows the model saw the backdoor rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// pass / fail / inconclusive.
    pub verdict: Verdict,
    /// p-value <= alpha.
    pub evidence_of_training: bool,
}

impl VerdictRule {
    /// Decides from `completed` checks with `full_activations`, the job p-value, and `errors`
    /// checks that did not complete. `fail` is returned only when no outcome of the errored
    /// checks could have turned it into a pass.
    ///
    /// - `evidence_of_training` is `log10_p_value <= log10_alpha` (false for a NaN p-value).
    /// - `pass` iff there is evidence and `full_activations >= pass_threshold`.
    /// - `inconclusive` when nothing completed, or when the result would be `fail` but some
    ///   checks errored and `full_activations + errors >= pass_threshold`: had those checks
    ///   completed they could have been activations, and activations also lower the p-value.
    /// - `fail` otherwise. With no errors, every check completed and the verdict is final.
    pub fn decide(
        &self,
        completed: u64,
        full_activations: u64,
        errors: u64,
        log10_p_value: f64,
    ) -> Decision {
        let evidence_of_training = log10_p_value <= self.log10_alpha;
        let passes = evidence_of_training && full_activations >= self.pass_threshold;
        let errors_could_pass =
            errors > 0 && full_activations.saturating_add(errors) >= self.pass_threshold;
        let verdict = if completed == 0 {
            Verdict::Inconclusive
        } else if passes {
            Verdict::Pass
        } else if errors_could_pass {
            Verdict::Inconclusive
        } else {
            Verdict::Fail
        };
        Decision {
            verdict,
            evidence_of_training,
        }
    }
}

/// The pass threshold for a sample of `sampled` of `total` backdoors: the committed threshold
/// scaled to the sample and rounded up, `ceil(threshold * sampled / total)`.
pub fn scaled_threshold(threshold: u64, total: u64, sampled: u64) -> u64 {
    if sampled >= total || total == 0 {
        return threshold;
    }
    (u128::from(threshold) * u128::from(sampled)).div_ceil(u128::from(total)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: VerdictRule = VerdictRule {
        log10_alpha: -6.0,
        pass_threshold: 3,
    };

    fn verdict(completed: u64, activations: u64, errors: u64, log10_p: f64) -> Verdict {
        RULE.decide(completed, activations, errors, log10_p).verdict
    }

    #[test]
    fn pass_needs_both_the_p_value_and_the_threshold() {
        assert_eq!(verdict(6, 3, 0, -20.0), Verdict::Pass);
        assert_eq!(verdict(6, 3, 0, -6.0), Verdict::Pass);
        assert_eq!(verdict(6, 2, 0, -20.0), Verdict::Fail);
        assert_eq!(verdict(6, 3, 0, -5.9), Verdict::Fail);
        assert_eq!(verdict(6, 0, 0, 0.0), Verdict::Fail);
    }

    #[test]
    fn evidence_of_training_is_the_p_value_alone() {
        let weak_learner = RULE.decide(6, 1, 0, -20.0);
        assert_eq!(weak_learner.verdict, Verdict::Fail);
        assert!(weak_learner.evidence_of_training);
        let untouched = RULE.decide(6, 0, 0, 0.0);
        assert!(!untouched.evidence_of_training);
        assert!(!RULE.decide(6, 6, 0, f64::NAN).evidence_of_training);
        assert!(RULE.decide(6, 6, 0, f64::NEG_INFINITY).evidence_of_training);
    }

    #[test]
    fn errors_never_produce_fail_when_they_could_have_passed() {
        assert_eq!(verdict(0, 0, 0, 0.0), Verdict::Inconclusive);
        assert_eq!(verdict(0, 0, 6, 0.0), Verdict::Inconclusive);
        // 2 activations + 1 errored check could reach the threshold of 3.
        assert_eq!(verdict(5, 2, 1, -20.0), Verdict::Inconclusive);
        // 0 activations + 3 errors could too.
        assert_eq!(verdict(3, 0, 3, 0.0), Verdict::Inconclusive);
        // Enough activations but a weak p-value: more activations would lower it.
        assert_eq!(verdict(5, 3, 1, -5.0), Verdict::Inconclusive);
        // 0 activations + 2 errors cannot reach 3: a definite fail.
        assert_eq!(verdict(4, 0, 2, 0.0), Verdict::Fail);
        // Errors do not stop a pass.
        assert_eq!(verdict(4, 3, 2, -20.0), Verdict::Pass);
        // Huge counts do not overflow.
        assert_eq!(verdict(1, u64::MAX, u64::MAX, 0.0), Verdict::Inconclusive);
    }

    #[test]
    fn verdicts_serialize_lowercase() {
        let json = serde_json::to_string(&Verdict::Inconclusive).expect("serialize");
        assert_eq!(json, "\"inconclusive\"");
    }
}
