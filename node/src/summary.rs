//! What a buyer asks before paying: a provider's record, and one job's state, read from the
//! ledger.
//!
//! Only attestations that bind to a stored commitment of their job count (an attestation
//! whose commitment is unknown, or that disagrees with it, is reported apart), and only those
//! made before the job's public reveal, if any: after it, the provider knows the triggers.
//! Anyone can make keys, so every count is given twice: over all attesters, and over the
//! operator's trusted ones. Per job, the buyer's verdict is set against its named witnesses'
//! ([`disputes`]).

mod disputes;

pub use disputes::{Agreement, JobVerdicts, WitnessVerdict, job_verdicts};

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::{
    AnyMessage, Attestation, Commitment, JobId, MessageId, PublicKey, Role,
    check_attestation_binding, check_reveal,
};
use vtune_protocol::verdict::Verdict;

use crate::ledger::{Entry, Ledger, LedgerError, MAX_PAGE, PageRequest};
use crate::trust::Trust;

/// Attestation counts over one set of attesters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// Attestations counted (each binds to its job's commitment).
    pub attestations: u64,
    /// Verdict `pass`.
    pub pass: u64,
    /// Verdict `fail` with evidence of training (p-value ≤ alpha, too few activations).
    pub fail_with_evidence: u64,
    /// Verdict `fail` without evidence of training.
    pub fail_without_evidence: u64,
    /// Verdict `inconclusive` (too many failed requests).
    pub inconclusive: u64,
    /// Attestations by the job's buyer.
    pub buyer_attestations: u64,
    /// Attestations by witnesses.
    pub witness_attestations: u64,
    /// Distinct attester keys.
    pub distinct_attesters: u64,
    /// Distinct buyers of the attested jobs.
    pub distinct_buyers: u64,
    /// Attesters among them flagged for equivocation.
    pub flagged_attesters: u64,
    /// Jobs whose buyer passed the model and every named witness agreed.
    pub confirmed_pass: u64,
    /// Jobs whose buyer failed the model and every named witness agreed.
    pub confirmed_fail: u64,
    /// Jobs where a witness reached the other verdict than the buyer.
    pub disputed: u64,
    /// Disputed jobs whose buyer said `fail` while every witness said `pass`.
    pub buyer_flagged: u64,
}

/// An attester who signed contradicting verdicts on one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EquivocationView {
    /// The attester's key (hex).
    #[schema(value_type = String)]
    pub attester: PublicKey,
    /// The job (hex).
    #[schema(value_type = String)]
    pub job_id: JobId,
    /// Whether the attester is trusted by this node.
    pub trusted: bool,
}

/// A provider's record as this node's ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderSummary {
    /// The provider.
    pub provider: String,
    /// Commitments naming the provider (jobs).
    pub jobs: u64,
    /// Counts over every attester.
    pub all: Counts,
    /// Counts over the attesters in this node's trust file only.
    pub trusted: Counts,
    /// How many attester keys this node trusts (0: no trust file).
    pub trusted_keys: u64,
    /// Attestations whose commitment this node does not hold (not counted).
    pub without_commitment: u64,
    /// Attestations that disagree with their commitment (not counted).
    pub mismatched: u64,
    /// Attestations made after their job's public reveal (not counted).
    pub after_reveal: u64,
    /// Equivocations by attesters of this provider's jobs.
    pub equivocations: Vec<EquivocationView>,
    /// The earliest `created_at` of the provider's messages (unix seconds).
    pub first_seen: Option<u64>,
    /// The latest `created_at`.
    pub last_seen: Option<u64>,
}

/// One attestation of a job, as the job view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttestationLine {
    /// The message id.
    #[schema(value_type = String)]
    pub id: MessageId,
    /// The attester (hex key).
    #[schema(value_type = String)]
    pub attester: PublicKey,
    /// Whether this node trusts the attester.
    pub trusted: bool,
    /// buyer / witness.
    #[schema(value_type = String)]
    pub role: Role,
    /// pass / fail / inconclusive.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// log10 of the p-value.
    pub log10_p_value: f64,
    /// p-value ≤ alpha.
    pub evidence_of_training: bool,
    /// Whether it binds to a stored commitment (`false`: none stored, or it disagrees).
    pub binds: bool,
    /// Why it does not bind, if it does not.
    pub binding_error: Option<String>,
    /// Made after the job's public reveal: it does not count.
    pub after_reveal: bool,
    /// Unix seconds.
    pub created_at: u64,
}

/// One job: its commitment, attestations and reveal status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// The job (hex).
    #[schema(value_type = String)]
    pub job_id: JobId,
    /// The commitment's id, if stored.
    #[schema(value_type = Option<String>)]
    pub commitment_id: Option<MessageId>,
    /// The commitment's fields, if stored.
    #[schema(value_type = Option<Object>)]
    pub commitment: Option<serde_json::Value>,
    /// Its attestations, oldest first.
    pub attestations: Vec<AttestationLine>,
    /// The reveal's id, if a reveal is stored.
    #[schema(value_type = Option<String>)]
    pub reveal_id: Option<MessageId>,
    /// Whether the secret set has been revealed.
    pub revealed: bool,
    /// When the reveal says it was made (unix seconds); attestations after it do not count.
    pub revealed_at: Option<u64>,
    /// The set was revealed before the commitment's `reveal_after` while some named witness
    /// had not attested: the witnesses lost their chance to check it in secret.
    pub revealed_early: bool,
    /// The buyer's and the named witnesses' verdicts and whether they agree (with the
    /// commitment stored).
    pub verdicts: Option<JobVerdicts>,
    /// The sealed secret's id (the set sealed to the named witnesses), if one is stored.
    #[schema(value_type = Option<String>)]
    pub sealed_secret_id: Option<MessageId>,
}

/// Every verified message of a ledger index, page by page.
fn all_messages(
    mut page: impl FnMut(&PageRequest) -> Result<crate::ledger::Page, LedgerError>,
) -> Result<Vec<Verified<AnyMessage>>, LedgerError> {
    let mut out = Vec::new();
    let mut request = PageRequest::first(MAX_PAGE);
    loop {
        let current = page(&request)?;
        out.extend(current.entries.iter().filter_map(|e: &Entry| e.open().ok()));
        match current.next {
            Some(next) => request = PageRequest::after(next, MAX_PAGE),
            None => return Ok(out),
        }
    }
}

/// The binding of an attestation: `Ok(buyer)` if it binds to a stored commitment.
fn binding(
    ledger: &Ledger,
    attestation: &Attestation,
    cache: &mut BTreeMap<MessageId, Option<Commitment>>,
) -> Result<Result<PublicKey, String>, LedgerError> {
    let id = attestation.commitment_id;
    if let std::collections::btree_map::Entry::Vacant(slot) = cache.entry(id) {
        slot.insert(ledger.commitment(&id)?.map(|c| c.message().clone()));
    }
    Ok(match &cache[&id] {
        None => Err("the commitment is not stored here".to_string()),
        Some(c) => check_attestation_binding(attestation, id, c)
            .map(|()| c.buyer)
            .map_err(|e| e.to_string()),
    })
}

/// The summary of `provider`'s record.
pub fn provider_summary(
    ledger: &Ledger,
    trust: &Trust,
    provider: &str,
) -> Result<ProviderSummary, LedgerError> {
    let messages = all_messages(|r| ledger.by_provider(provider, r))?;
    let mut summary = ProviderSummary {
        provider: provider.to_string(),
        jobs: 0,
        all: Counts::default(),
        trusted: Counts::default(),
        trusted_keys: trust.len() as u64,
        without_commitment: 0,
        mismatched: 0,
        after_reveal: 0,
        equivocations: Vec::new(),
        first_seen: messages.iter().map(|m| m.message().created_at()).min(),
        last_seen: messages.iter().map(|m| m.message().created_at()).max(),
    };
    let mut cache = BTreeMap::new();
    let mut sets: [(HashSet<PublicKey>, HashSet<PublicKey>); 2] = Default::default();
    let mut jobs = HashSet::new();
    let mut attested_jobs = HashSet::new();
    let mut views: BTreeMap<JobId, Option<JobView>> = BTreeMap::new();
    for verified in &messages {
        let attestation = match verified.message() {
            AnyMessage::Commitment(c) => {
                summary.jobs += u64::from(jobs.insert(c.job_id));
                continue;
            }
            AnyMessage::Attestation(a) => a,
            AnyMessage::Reveal(_) | AnyMessage::SealedSecret(_) => continue,
        };
        let buyer = match binding(ledger, attestation, &mut cache)? {
            Ok(buyer) => buyer,
            Err(_) if cache[&attestation.commitment_id].is_none() => {
                summary.without_commitment += 1;
                continue;
            }
            Err(_) => {
                summary.mismatched += 1;
                continue;
            }
        };
        if let std::collections::btree_map::Entry::Vacant(slot) = views.entry(attestation.job_id) {
            slot.insert(job_view(ledger, trust, &attestation.job_id)?);
        }
        let late = views[&attestation.job_id].as_ref().is_some_and(|view| {
            view.attestations
                .iter()
                .any(|line| line.id == verified.id() && line.after_reveal)
        });
        if late {
            summary.after_reveal += 1;
            continue;
        }
        attested_jobs.insert(attestation.job_id);
        let trusted = trust.contains(&attestation.attester);
        let views: &mut [(&mut Counts, usize)] = if trusted {
            &mut [(&mut summary.all, 0), (&mut summary.trusted, 1)]
        } else {
            &mut [(&mut summary.all, 0)]
        };
        for (counts, set) in views.iter_mut() {
            count(counts, attestation);
            sets[*set].0.insert(attestation.attester);
            sets[*set].1.insert(buyer);
        }
    }
    for job in &jobs {
        if let std::collections::btree_map::Entry::Vacant(slot) = views.entry(*job) {
            slot.insert(job_view(ledger, trust, job)?);
        }
        if let Some(verdicts) = views[job].as_ref().and_then(|v| v.verdicts.as_ref()) {
            count_job(
                &mut summary.all,
                verdicts,
                verdicts.status,
                verdicts.buyer_flagged,
            );
            count_job(
                &mut summary.trusted,
                verdicts,
                verdicts.trusted_status,
                verdicts.trusted_buyer_flagged,
            );
        }
    }
    for (counts, (attesters, buyers)) in [&mut summary.all, &mut summary.trusted]
        .into_iter()
        .zip(&sets)
    {
        counts.distinct_attesters = attesters.len() as u64;
        counts.distinct_buyers = buyers.len() as u64;
        for attester in attesters {
            let flags = ledger.equivocations(attester)?;
            counts.flagged_attesters += u64::from(!flags.is_empty());
        }
    }
    for attester in &sets[0].0 {
        for flag in ledger.equivocations(attester)? {
            if attested_jobs.contains(&flag.job_id) {
                summary.equivocations.push(EquivocationView {
                    attester: flag.attester,
                    job_id: flag.job_id,
                    trusted: trust.contains(&flag.attester),
                });
            }
        }
    }
    Ok(summary)
}

/// Counts a job's agreement into `counts`.
fn count_job(counts: &mut Counts, verdicts: &JobVerdicts, status: Agreement, flagged: bool) {
    match (status, verdicts.buyer) {
        (Agreement::Confirmed, Some(Verdict::Pass)) => counts.confirmed_pass += 1,
        (Agreement::Confirmed, Some(Verdict::Fail)) => counts.confirmed_fail += 1,
        (Agreement::Disputed, _) => counts.disputed += 1,
        _ => {}
    }
    counts.buyer_flagged += u64::from(flagged);
}

fn count(counts: &mut Counts, a: &Attestation) {
    counts.attestations += 1;
    match (a.verdict, a.evidence_of_training) {
        (Verdict::Pass, _) => counts.pass += 1,
        (Verdict::Fail, true) => counts.fail_with_evidence += 1,
        (Verdict::Fail, false) => counts.fail_without_evidence += 1,
        (Verdict::Inconclusive, _) => counts.inconclusive += 1,
    }
    match a.role {
        Role::Buyer => counts.buyer_attestations += 1,
        Role::Witness => counts.witness_attestations += 1,
    }
}

/// The view of one job, or `None` if the ledger holds nothing about it.
pub fn job_view(
    ledger: &Ledger,
    trust: &Trust,
    job: &JobId,
) -> Result<Option<JobView>, LedgerError> {
    let messages = all_messages(|r| ledger.by_job(job, r))?;
    if messages.is_empty() {
        return Ok(None);
    }
    let mut view = JobView {
        job_id: *job,
        commitment_id: None,
        commitment: None,
        attestations: Vec::new(),
        reveal_id: None,
        revealed: false,
        revealed_at: None,
        revealed_early: false,
        verdicts: None,
        sealed_secret_id: None,
    };
    let mut commitment = None;
    // The commitment and the reveal first: whether an attestation counts depends on both.
    for verified in &messages {
        match verified.message() {
            AnyMessage::Commitment(c) if view.commitment_id.is_none() => {
                view.commitment_id = Some(verified.id());
                view.commitment = serde_json::to_value(c).ok();
                commitment = Some(c);
            }
            AnyMessage::Reveal(r) => {
                // Only a reveal that opens one of the job's commitments counts.
                let reveal = verified.clone().downcast().expect("a reveal");
                let opens = messages.iter().any(|m| {
                    m.clone()
                        .downcast::<Commitment>()
                        .is_ok_and(|c| check_reveal(&reveal, &c).is_ok())
                });
                if opens && view.revealed_at.is_none_or(|at| r.created_at < at) {
                    view.reveal_id = Some(verified.id());
                    view.revealed = true;
                    view.revealed_at = Some(r.created_at);
                }
            }
            AnyMessage::SealedSecret(_) => {
                view.sealed_secret_id.get_or_insert(verified.id());
            }
            _ => {}
        }
    }
    let mut cache = BTreeMap::new();
    let mut counted = Vec::new();
    for verified in &messages {
        let AnyMessage::Attestation(a) = verified.message() else {
            continue;
        };
        let bound = binding(ledger, a, &mut cache)?;
        let after_reveal = view.revealed_at.is_some_and(|at| a.created_at > at);
        if bound.is_ok() && !after_reveal {
            counted.push((verified.id(), a));
        }
        view.attestations.push(AttestationLine {
            id: verified.id(),
            attester: a.attester,
            trusted: trust.contains(&a.attester),
            role: a.role,
            verdict: a.verdict,
            log10_p_value: a.log10_p_value,
            evidence_of_training: a.evidence_of_training,
            binds: bound.is_ok(),
            binding_error: bound.err(),
            after_reveal,
            created_at: a.created_at,
        });
    }
    // Attestations of another commitment of the same job id do not bind to this one.
    if let (Some(c), Some(id)) = (commitment, view.commitment_id) {
        counted.retain(|(_, a)| a.commitment_id == id);
        let verdicts = job_verdicts(c, &counted, trust);
        view.revealed_early = view.revealed_at.is_some_and(|at| {
            at < c.reveal_after && verdicts.witnesses.iter().any(|w| w.verdict.is_none())
        });
        view.verdicts = Some(verdicts);
    }
    Ok(Some(view))
}

#[cfg(test)]
mod tests;
