//! `attestation.json`: the public summary of a run. Counts, statistics, verdict and the
//! blake3 of the transcript; no trigger or signature text. Unsigned (signing comes with the
//! signed messages).

use std::path::Path;

use serde::Serialize;
use vtune_protocol::dataset::Template;
use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::{AttestationFacts, Commitment, Digest, PublicKey, Role};
use vtune_protocol::stats::GroupEvidence;
use vtune_protocol::verdict::{Verdict, VerdictRule};

use super::{GroupReport, Report, VerifyError};
use crate::endpoint::Api;

/// The public, unsigned attestation of a verification run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttestationFile {
    /// The format: `vtune-attestation-unsigned/1`.
    pub format: &'static str,
    /// `buyer` (a witness re-running a revealed job would say `witness`).
    pub role: &'static str,
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
    /// Unix seconds.
    pub created_at: u64,
    /// Checks sent.
    pub checks: u64,
    /// Checks answered.
    pub checked: u64,
    /// Full activations.
    pub activated: u64,
    /// Checks without an answer.
    pub errors: u64,
    /// The job p-value, in log10 (`null` for 0).
    pub log10_p_value: f64,
    /// The largest p_upper of the groups, in log10.
    pub log10_p_upper: f64,
    /// log10 alpha.
    pub log10_alpha: f64,
    /// The least activations for a pass, scaled to the sample.
    pub pass_threshold: u64,
    /// p-value <= alpha.
    pub evidence_of_training: bool,
    /// pass / fail / inconclusive.
    pub verdict: Verdict,
    /// Control prompts sent.
    pub controls: u64,
    /// Controls that produced a signature.
    pub false_activations: u64,
    /// Per group: K, L, n_g, k_g, t_g, D_{g,j}: enough to recompute the p-value.
    pub groups: Vec<GroupReport>,
    /// blake3 of `transcript.jsonl`, hex.
    pub transcript_blake3: String,
}

impl AttestationFile {
    /// The attestation of `report`, whose transcript hashed to `transcript_blake3`.
    pub fn new(report: &Report, transcript_blake3: String, created_at: u64) -> Self {
        Self {
            format: "vtune-attestation-unsigned/1",
            role: "buyer",
            job_id: report.job_id.clone(),
            endpoint: report.endpoint.clone(),
            model: report.model.clone(),
            api: report.api,
            template: report.template,
            created_at,
            checks: report.checks,
            checked: report.checked,
            activated: report.activated,
            errors: report.errors,
            log10_p_value: report.log10_p_value,
            log10_p_upper: report.log10_p_upper,
            log10_alpha: report.log10_alpha,
            pass_threshold: report.pass_threshold,
            evidence_of_training: report.evidence_of_training,
            verdict: report.verdict,
            controls: report.controls,
            false_activations: report.false_activations,
            groups: report.groups.clone(),
            transcript_blake3,
        }
    }
}

/// Installs `attestation` as pretty JSON at `path`.
pub fn write_attestation(path: &Path, attestation: &AttestationFile) -> Result<(), VerifyError> {
    Ok(crate::job_dir::write_json(
        path,
        attestation,
        crate::job_dir::PUBLIC,
    )?)
}

/// The facts of a signed attestation of `report`, a run of `commitment`'s job by `attester`
/// in `role`, whose transcript hashed to `transcript_digest`: the job, commitment, provider
/// and plan come from the commitment.
pub fn attestation_facts(
    report: &Report,
    commitment: &Verified<Commitment>,
    attester: PublicKey,
    role: Role,
    transcript_digest: Digest,
    created_at: u64,
) -> AttestationFacts {
    let c = commitment.message();
    AttestationFacts {
        job_id: c.job_id,
        commitment_id: commitment.id(),
        attester,
        role,
        provider: c.provider.clone(),
        endpoint: report.endpoint.clone(),
        model: report.model.clone(),
        plan: c.plan.clone(),
        groups: report
            .groups
            .iter()
            .map(|g| GroupEvidence {
                candidates: g.candidates,
                signature_tokens: g.signature_tokens,
                offsets: g.offsets,
                checks: g.checks,
                full_activations: g.full_activations,
                matched_tokens: g.matched_tokens,
                distinct_prefixes: g.distinct_prefixes.clone(),
            })
            .collect(),
        errors: report.errors,
        rule: VerdictRule {
            log10_alpha: report.log10_alpha,
            pass_threshold: report.pass_threshold,
        },
        control_checks: report.controls,
        control_activations: report.false_activations,
        transcript_digest,
        created_at,
    }
}
