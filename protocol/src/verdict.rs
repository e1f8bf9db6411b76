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
    pub fn decide(
        &self,
        completed: u64,
        full_activations: u64,
        errors: u64,
        log10_p_value: f64,
    ) -> Decision {
        let _ = (completed, full_activations, errors, log10_p_value);
        todo!("issue 2: verdict rule")
    }
}
