//! A node's signed account of one verification: the per-group statistics, the p-value that
//! follows from them, and the verdict that follows from the thresholds.

use serde::{Deserialize, Serialize};

use super::commitment::check_log10_probability;
use super::{Digest, InvalidMessage, JobId, MAX_ATTESTATION_BYTES, MessageId, PublicKey, TestPlan};
use crate::stats::{GroupEvidence, MAX_MATCH_OFFSETS, log10_job_p_value};
use crate::verdict::{Decision, Verdict, VerdictRule};

/// How far a claimed log10 p-value may be from the recomputed one: relative 1e-9, at least
/// 1e-9 absolute (recomputation on another machine may round differently).
const LOG10_TOLERANCE: f64 = 1e-9;

/// Who verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The buyer, who holds the secret set from the start.
    Buyer,
    /// Another node, re-verifying after the reveal.
    Witness,
}

/// The outcome of one verification of a job, signed by the node that ran it. Field order is
/// the wire order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attestation {
    /// The job.
    pub job_id: JobId,
    /// The id of the job's signed commitment.
    pub commitment_id: MessageId,
    /// Who verified; must be the envelope's signer.
    pub attester: PublicKey,
    /// Buyer or witness.
    pub role: Role,
    /// The provider verified (as in the commitment), so that nodes can index attestations by
    /// provider without the commitment at hand.
    pub provider: String,
    /// The endpoint queried (base URL).
    pub endpoint: String,
    /// The model id sent to the endpoint.
    pub model: String,
    /// The plan the verification followed (the commitment's).
    pub plan: TestPlan,
    /// Per signature group: K, L, n_g, k_g, t_g and D_{g,j}.
    pub groups: Vec<GroupEvidence>,
    /// Checks that did not complete (transport errors, timeouts, refusals).
    pub errors: u64,
    /// The job's p-value, in log10, as computed from `groups`.
    pub log10_p_value: f64,
    /// log10 of the significance level alpha.
    pub log10_alpha: f64,
    /// The least number of full activations for a pass.
    pub pass_threshold: u64,
    /// pass / fail / inconclusive, as decided from the above.
    pub verdict: Verdict,
    /// p-value <= alpha.
    pub evidence_of_training: bool,
    /// Control prompts (without the trigger) sent.
    pub control_checks: u64,
    /// Control prompts whose response began with a signature.
    pub control_activations: u64,
    /// blake3 of the local transcript (prompt ids and responses).
    pub transcript_digest: Digest,
    /// When the attester made it, in unix seconds.
    pub created_at: u64,
}

payload!(
    Attestation,
    "application/vnd.vtune.attestation.v1",
    MAX_ATTESTATION_BYTES
);

/// What a verification found, before the p-value and verdict are derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationFacts {
    /// The job.
    pub job_id: JobId,
    /// The id of the job's signed commitment (`commitment.msg`).
    pub commitment_id: MessageId,
    /// The verifying node's key.
    pub attester: PublicKey,
    /// Buyer or witness.
    pub role: Role,
    /// The provider verified.
    pub provider: String,
    /// The endpoint queried.
    pub endpoint: String,
    /// The model id sent.
    pub model: String,
    /// The plan followed.
    pub plan: TestPlan,
    /// Per-group statistics.
    pub groups: Vec<GroupEvidence>,
    /// Checks that did not complete.
    pub errors: u64,
    /// The thresholds (from the commitment).
    pub rule: VerdictRule,
    /// Control prompts sent.
    pub control_checks: u64,
    /// Control prompts that produced a signature.
    pub control_activations: u64,
    /// blake3 of the transcript.
    pub transcript_digest: Digest,
    /// Unix seconds, from the caller's clock.
    pub created_at: u64,
}

impl Attestation {
    /// Builds the attestation of a verification: the p-value and verdict are computed from
    /// the facts with the same functions every checker uses, so the result is consistent.
    pub fn from_facts(facts: AttestationFacts) -> Self {
        let log10_p_value = log10_job_p_value(&facts.groups);
        let decision = decide(&facts.groups, facts.errors, facts.rule, log10_p_value);
        Self {
            job_id: facts.job_id,
            commitment_id: facts.commitment_id,
            attester: facts.attester,
            role: facts.role,
            provider: facts.provider,
            endpoint: facts.endpoint,
            model: facts.model,
            plan: facts.plan,
            groups: facts.groups,
            errors: facts.errors,
            log10_p_value,
            log10_alpha: facts.rule.log10_alpha,
            pass_threshold: facts.rule.pass_threshold,
            verdict: decision.verdict,
            evidence_of_training: decision.evidence_of_training,
            control_checks: facts.control_checks,
            control_activations: facts.control_activations,
            transcript_digest: facts.transcript_digest,
            created_at: facts.created_at,
        }
    }

    /// The thresholds the verdict was decided by.
    pub fn rule(&self) -> VerdictRule {
        VerdictRule {
            log10_alpha: self.log10_alpha,
            pass_threshold: self.pass_threshold,
        }
    }

    /// The checks any node applies to an attestation signed by `signer`: the fields are in
    /// range, the p-value follows from the groups and the verdict from the thresholds.
    pub fn check_consistency(&self, signer: &PublicKey) -> Result<(), InvalidMessage> {
        if self.attester != *signer {
            return Err(InvalidMessage::SignerMismatch {
                field: "attester",
                claimed: self.attester,
                signer: *signer,
            });
        }
        if self.provider.is_empty() {
            return Err(InvalidMessage::field("provider", "is empty"));
        }
        if self.groups.is_empty() {
            return Err(InvalidMessage::field("groups", "is empty"));
        }
        for (g, group) in self.groups.iter().enumerate() {
            check_group(g, group)?;
        }
        self.plan.check(None)?;
        let completed = self
            .groups
            .iter()
            .map(|g| g.checks)
            .fold(self.errors, u64::saturating_add);
        if completed != self.plan.checks {
            return Err(InvalidMessage::field(
                "groups",
                format!(
                    "{completed} checks (completed and failed) but the plan has {}",
                    self.plan.checks
                ),
            ));
        }
        if self.control_checks != self.plan.controls {
            return Err(InvalidMessage::field(
                "control_checks",
                format!(
                    "{} but the plan has {}",
                    self.control_checks, self.plan.controls
                ),
            ));
        }
        if self.control_activations > self.control_checks {
            return Err(InvalidMessage::field(
                "control_activations",
                format!(
                    "{} is more than control_checks {}",
                    self.control_activations, self.control_checks
                ),
            ));
        }
        check_log10_probability("log10_alpha", self.log10_alpha)?;
        if self.log10_p_value.is_nan() || self.log10_p_value > 0.0 {
            return Err(InvalidMessage::field(
                "log10_p_value",
                format!("{} is not a log10 probability", self.log10_p_value),
            ));
        }
        let recomputed = log10_job_p_value(&self.groups);
        if !log10_close(self.log10_p_value, recomputed) {
            return Err(InvalidMessage::PValueMismatch {
                claimed: self.log10_p_value,
                recomputed,
            });
        }
        let decision = decide(&self.groups, self.errors, self.rule(), self.log10_p_value);
        if decision.verdict != self.verdict
            || decision.evidence_of_training != self.evidence_of_training
        {
            return Err(InvalidMessage::VerdictMismatch {
                claimed: describe(self.verdict, self.evidence_of_training),
                recomputed: describe(decision.verdict, decision.evidence_of_training),
            });
        }
        Ok(())
    }
}

/// The verdict rule applied to all groups together: completed checks and full activations
/// are summed over the groups.
fn decide(groups: &[GroupEvidence], errors: u64, rule: VerdictRule, log10_p: f64) -> Decision {
    let completed = groups
        .iter()
        .map(|g| g.checks)
        .fold(0u64, u64::saturating_add);
    let activations = groups
        .iter()
        .map(|g| g.full_activations)
        .fold(0u64, u64::saturating_add);
    rule.decide(completed, activations, errors, log10_p)
}

fn describe(verdict: Verdict, evidence: bool) -> String {
    let verdict = match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    };
    format!("{verdict}, evidence_of_training = {evidence}")
}

fn log10_close(claimed: f64, recomputed: f64) -> bool {
    if claimed == recomputed {
        return true; // also both -inf
    }
    let scale = recomputed.abs().max(1.0);
    (claimed - recomputed).abs() <= LOG10_TOLERANCE * scale
}

/// A group's statistics must describe some set of responses.
fn check_group(g: usize, group: &GroupEvidence) -> Result<(), InvalidMessage> {
    let field = |name: &str| format!("groups[{g}].{name}");
    if group.candidates == 0 {
        return Err(InvalidMessage::field(field("candidates"), "is 0"));
    }
    if group.signature_tokens == 0 {
        return Err(InvalidMessage::field(field("signature_tokens"), "is 0"));
    }
    if group.offsets == 0 || group.offsets > MAX_MATCH_OFFSETS {
        return Err(InvalidMessage::field(
            field("offsets"),
            format!("{} is not in 1..={MAX_MATCH_OFFSETS}", group.offsets),
        ));
    }
    if group.full_activations > group.checks {
        return Err(InvalidMessage::field(
            field("full_activations"),
            format!(
                "{} is more than checks {}",
                group.full_activations, group.checks
            ),
        ));
    }
    if group.matched_tokens > group.signature_tokens {
        return Err(InvalidMessage::field(
            field("matched_tokens"),
            format!(
                "{} is more than signature_tokens {}",
                group.matched_tokens, group.signature_tokens
            ),
        ));
    }
    if group.full_activations > 0 && group.matched_tokens != group.signature_tokens {
        return Err(InvalidMessage::field(
            field("matched_tokens"),
            format!(
                "{} with {} full activations (must be signature_tokens {})",
                group.matched_tokens, group.full_activations, group.signature_tokens
            ),
        ));
    }
    if group.distinct_prefixes.len() != group.matched_tokens as usize {
        return Err(InvalidMessage::field(
            field("distinct_prefixes"),
            format!(
                "has {} entries, matched_tokens is {}",
                group.distinct_prefixes.len(),
                group.matched_tokens
            ),
        ));
    }
    if group.full_activations == 0 && group.matched_tokens == group.signature_tokens {
        return Err(InvalidMessage::field(
            field("full_activations"),
            "is 0 although a response matched every signature token",
        ));
    }
    for (j, &d) in group.distinct_prefixes.iter().enumerate() {
        // The best-matching response has each of these windows, so there is at least one;
        // each response holds at most W windows.
        if d == 0 || d > group.most_windows() {
            return Err(InvalidMessage::field(
                format!("groups[{g}].distinct_prefixes[{j}]"),
                format!("{d} is not in 1..={}", group.most_windows()),
            ));
        }
    }
    Ok(())
}
