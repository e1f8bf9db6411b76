//! The result of a run: counts, the exact statistics per group and for the job, and the
//! verdict. It holds no trigger or signature text.

use std::collections::BTreeMap;

use serde::Serialize;
use vtune_protocol::dataset::Template;
use vtune_protocol::stats::GroupEvidence;
use vtune_protocol::verdict::Verdict;

use super::Group;
use crate::endpoint::Api;

/// What one group's responses showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// The group's index in the job.
    pub group: usize,
    /// K: candidates per generation step.
    pub candidates: u32,
    /// L: tokens in the signature.
    pub signature_tokens: u32,
    /// W: the token offsets of each answer searched for the signature.
    pub offsets: u32,
    /// log10 p_upper = log10 K^-L.
    pub log10_p_upper: f64,
    /// n_g: checks answered.
    pub checks: u64,
    /// Checks that got no answer.
    pub errors: u64,
    /// k_g: answers that hold the whole signature from one of their first W offsets.
    pub full_activations: u64,
    /// t_g: the most signature tokens any answer matched from one of its first W offsets.
    pub matched_tokens: u32,
    /// D_{g,j} for j = 1..=t_g: distinct j-token windows (from the first W offsets) among the
    /// answers.
    pub distinct_prefixes: Vec<u64>,
    /// log10 B_{g,t_g}: the group's own p-value bound.
    pub log10_bound: f64,
}

impl GroupReport {
    pub(crate) fn new(index: usize, group: &Group, evidence: &GroupEvidence, errors: u64) -> Self {
        let bounds = evidence.log10_tail_bounds();
        Self {
            group: index,
            candidates: evidence.candidates,
            signature_tokens: evidence.signature_tokens,
            offsets: evidence.offsets,
            log10_p_upper: group.log10_p_upper,
            checks: evidence.checks,
            errors,
            full_activations: evidence.full_activations,
            matched_tokens: evidence.matched_tokens,
            distinct_prefixes: evidence.distinct_prefixes.clone(),
            log10_bound: bounds
                .get(evidence.matched_tokens as usize)
                .copied()
                .unwrap_or(0.0),
        }
    }
}

/// The result of a verification run. log10 values of -infinity serialize as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The job id.
    pub job_id: String,
    /// The API base queried.
    pub endpoint: String,
    /// The model queried.
    pub model: String,
    /// Chat or completions.
    pub api: Api,
    /// How each prompt was rendered for the route.
    pub template: Template,
    /// The seed of the sample of checks.
    pub seed: u64,
    /// Backdoor rows in the job.
    pub backdoors: u64,
    /// Checks sent (the sample).
    pub checks: u64,
    /// Checks answered.
    pub checked: u64,
    /// Answers that begin with their group's whole signature.
    pub activated: u64,
    /// Checks that got no answer.
    pub errors: u64,
    /// The errors by kind (`timeout`, `http-500`, ...).
    pub error_kinds: BTreeMap<String, u64>,
    /// The message of the first failed check, if any.
    pub first_error: Option<String>,
    /// The largest p_upper of the groups, in log10: the best chance that a model that never
    /// saw the data matches a group's whole signature.
    pub log10_p_upper: f64,
    /// The job's exact p-value, in log10.
    pub log10_p_value: f64,
    /// log10 alpha.
    pub log10_alpha: f64,
    /// The least activations for a pass, scaled to the sample.
    pub pass_threshold: u64,
    /// p-value <= alpha: the model saw the backdoor data.
    pub evidence_of_training: bool,
    /// pass / fail / inconclusive.
    pub verdict: Verdict,
    /// Control prompts sent.
    pub controls: u64,
    /// Controls that got no answer.
    pub control_errors: u64,
    /// Controls whose answer begins with a whole signature.
    pub false_activations: u64,
    /// The most leading signature tokens matched in any group.
    pub best_matched_tokens: u32,
    /// Per group.
    pub groups: Vec<GroupReport>,
}
