//! Exact statistics, carried in log10: binomial and hypergeometric tails, the subset-training
//! attack, and the valid job p-value built from per-group prefix bounds.
//!
//! See `specs/statistics.md` for the formulas and their proofs.

/// `log10 P(X >= k)` for `X ~ Binomial(n, p)`, with `p` given as `log10_p` so that values
/// below f64's range still work. `k == 0` gives 0; `k > n` gives `-inf`.
pub fn log10_binomial_upper_tail(n: u64, log10_p: f64, k: u64) -> f64 {
    let _ = (n, log10_p, k);
    todo!("issue 2: binomial tail")
}

/// `log10 P(B >= k)` for `B ~ Hypergeometric(population, successes, draws)`.
pub fn log10_hypergeom_upper_tail(population: u64, successes: u64, draws: u64, k: u64) -> f64 {
    let _ = (population, successes, draws, k);
    todo!("issue 2: hypergeometric tail")
}

/// The smallest fraction `m / population` such that a provider training on `m` rows drawn
/// uniformly without replacement includes at least `k` of the `successes` backdoor rows with
/// probability at least `chance`.
pub fn subset_attack_fraction(population: u64, successes: u64, k: u64, chance: f64) -> f64 {
    let _ = (population, successes, k, chance);
    todo!("issue 2: subset attack")
}

/// The valid one-group bound for `activated` full activations out of `checked` checks that
/// share one signature: `log10 min(1, floor(checked / activated) * p_upper)`, 0 when
/// `activated == 0`.
pub fn log10_full_activation_bound(checked: u64, activated: u64, log10_p_upper: f64) -> f64 {
    let _ = (checked, activated, log10_p_upper);
    todo!("issue 2: full activation bound")
}

/// The prefix bound `log10 min(1, distinct * candidates^-matched)`.
pub fn log10_prefix_bound(distinct: u64, candidates: u32, matched: u32) -> f64 {
    let _ = (distinct, candidates, matched);
    todo!("issue 2: prefix bound")
}

/// How many leading whitespace-separated tokens of `response` equal the signature's tokens,
/// compared token by token (never as a string prefix).
pub fn matched_tokens(response: &str, signature_tokens: &[String]) -> u32 {
    let _ = (response, signature_tokens);
    todo!("issue 2: token matching")
}

/// What one group's responses show: everything needed to recompute its tail bounds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupEvidence {
    /// K: candidates per generation step.
    pub candidates: u32,
    /// L: tokens in the signature.
    pub signature_tokens: u32,
    /// n_g: completed checks.
    pub checks: u64,
    /// k_g: responses whose first L tokens are the signature.
    pub full_activations: u64,
    /// t_g: the most leading signature tokens any response matched.
    pub matched_tokens: u32,
    /// D_{g,j} for j = 1..=t_g: distinct j-token prefixes among the responses.
    pub distinct_prefixes: Vec<u64>,
}

impl GroupEvidence {
    /// Builds the evidence of one group from its responses.
    pub fn from_responses<S: AsRef<str>>(
        candidates: u32,
        signature_tokens: &[String],
        responses: &[S],
    ) -> Self {
        let _ = (candidates, signature_tokens, responses);
        todo!("issue 2: group evidence")
    }

    /// `log10 B_{g,j}` for j = 0..=L: `B_0 = 1`, `B_j = min(B_{j-1}, D_j K^-j)`; for j beyond
    /// the recorded prefixes, D_j is taken as `checks`.
    pub fn log10_tail_bounds(&self) -> Vec<f64> {
        todo!("issue 2: group tail bounds")
    }
}

/// The valid job p-value, in log10: the exact upper tail at `T = sum_g t_g` of a sum of
/// independent variables whose tails are the groups' `B_{g,j}`, by convolution in log space.
pub fn log10_job_p_value(groups: &[GroupEvidence]) -> f64 {
    let _ = groups;
    todo!("issue 2: job p-value")
}
