//! Whether a job's buyer and its named witnesses agree: *confirmed* when every named witness
//! reached the buyer's verdict, *disputed* when one reached the other, *unconfirmed* until
//! then. A buyer whose `fail` every witness passed is flagged: that is the lying buyer the
//! witnesses are there to catch.
//!
//! Only attestations that count are given here: they bind to the commitment and were made
//! before any public reveal (after it the provider knows the triggers, so a check proves
//! nothing). A buyer's verdict is the buyer's key's, with role buyer; a witness's verdict is a
//! named witness's key's, with role witness. `inconclusive` decides nothing either way.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vtune_protocol::messages::{Attestation, Commitment, MessageId, PublicKey, Role};
use vtune_protocol::verdict::Verdict;

use crate::trust::Trust;

/// Whether buyer and witnesses agree on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Agreement {
    /// Not (yet) decided: no decisive buyer verdict, or some named witness has not reached a
    /// decisive verdict, and none disagrees.
    Unconfirmed,
    /// Every named witness reached the buyer's verdict.
    Confirmed,
    /// Some witness reached the other verdict than the buyer.
    Disputed,
}

/// One named witness's verdict on the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WitnessVerdict {
    /// The witness (hex key), as named in the commitment.
    #[schema(value_type = String)]
    pub witness: PublicKey,
    /// Whether this node trusts it.
    pub trusted: bool,
    /// Its latest counted verdict, if it attested.
    #[schema(value_type = Option<String>)]
    pub verdict: Option<Verdict>,
    /// That attestation's id.
    #[schema(value_type = Option<String>)]
    pub attestation: Option<MessageId>,
}

/// The buyer's and the witnesses' verdicts on one job, and whether they agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobVerdicts {
    /// The buyer's latest counted verdict.
    #[schema(value_type = Option<String>)]
    pub buyer: Option<Verdict>,
    /// Each named witness's, in the commitment's order.
    pub witnesses: Vec<WitnessVerdict>,
    /// Agreement over every named witness.
    pub status: Agreement,
    /// The buyer said `fail` and every named witness said `pass`.
    pub buyer_flagged: bool,
    /// Agreement over the named witnesses this node trusts only (unconfirmed when it trusts
    /// none of them).
    pub trusted_status: Agreement,
    /// `buyer_flagged`, over the trusted witnesses (at least one).
    pub trusted_buyer_flagged: bool,
}

/// The verdicts on `commitment`'s job, from the attestations that count.
pub fn job_verdicts(
    commitment: &Commitment,
    counted: &[(MessageId, &Attestation)],
    trust: &Trust,
) -> JobVerdicts {
    let latest = |key: &PublicKey, role: Role| {
        counted
            .iter()
            .filter(|(_, a)| a.attester == *key && a.role == role)
            .max_by_key(|(id, a)| (a.created_at, *id))
            .map(|(id, a)| (*id, a.verdict))
    };
    let buyer = latest(&commitment.buyer, Role::Buyer).map(|(_, v)| v);
    let witnesses: Vec<WitnessVerdict> = commitment
        .witnesses
        .iter()
        .map(|witness| {
            let found = latest(witness, Role::Witness);
            WitnessVerdict {
                witness: *witness,
                trusted: trust.contains(witness),
                verdict: found.map(|(_, v)| v),
                attestation: found.map(|(id, _)| id),
            }
        })
        .collect();
    let all: Vec<Option<Verdict>> = witnesses.iter().map(|w| w.verdict).collect();
    let trusted: Vec<Option<Verdict>> = witnesses
        .iter()
        .filter(|w| w.trusted)
        .map(|w| w.verdict)
        .collect();
    let (status, buyer_flagged) = agreement(buyer, &all);
    let (trusted_status, trusted_buyer_flagged) = agreement(buyer, &trusted);
    JobVerdicts {
        buyer,
        witnesses,
        status,
        buyer_flagged,
        trusted_status,
        trusted_buyer_flagged,
    }
}

/// The agreement of a buyer's verdict with `witnesses`' (and whether the buyer is flagged).
fn agreement(buyer: Option<Verdict>, witnesses: &[Option<Verdict>]) -> (Agreement, bool) {
    let decisive = |v: &Option<Verdict>| matches!(v, Some(Verdict::Pass | Verdict::Fail));
    let Some(buyer) = buyer.filter(|b| *b != Verdict::Inconclusive) else {
        return (Agreement::Unconfirmed, false);
    };
    if witnesses.is_empty() {
        return (Agreement::Unconfirmed, false);
    }
    let flagged = buyer == Verdict::Fail && witnesses.iter().all(|w| *w == Some(Verdict::Pass));
    if witnesses.iter().any(|w| decisive(w) && *w != Some(buyer)) {
        (Agreement::Disputed, flagged)
    } else if witnesses.iter().all(|w| *w == Some(buyer)) {
        (Agreement::Confirmed, false)
    } else {
        (Agreement::Unconfirmed, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtune_protocol::messages::samples;

    fn key(byte: u8) -> PublicKey {
        PublicKey(
            ed25519_dalek::SigningKey::from_bytes(&[byte; 32])
                .verifying_key()
                .to_bytes(),
        )
    }

    fn attestation(attester: PublicKey, role: Role, verdict: Verdict, at: u64) -> Attestation {
        let mut a = samples::attestation(attester, MessageId([1; 32]), "acme", at);
        a.role = role;
        a.verdict = verdict;
        a
    }

    fn verdicts(
        buyer: Option<Verdict>,
        witnesses: &[Option<Verdict>],
        trust: &Trust,
    ) -> JobVerdicts {
        let names: Vec<PublicKey> = (0..witnesses.len() as u8).map(|i| key(10 + i)).collect();
        let commitment = samples::witnessed_commitment(key(1), "acme", names.clone());
        let mut all = Vec::new();
        if let Some(v) = buyer {
            all.push(attestation(key(1), Role::Buyer, v, 5));
        }
        for (name, verdict) in names.iter().zip(witnesses) {
            if let Some(v) = verdict {
                all.push(attestation(*name, Role::Witness, *v, 6));
            }
        }
        let counted: Vec<(MessageId, &Attestation)> = all
            .iter()
            .enumerate()
            .map(|(i, a)| (MessageId([i as u8; 32]), a))
            .collect();
        job_verdicts(&commitment, &counted, trust)
    }

    use Verdict::{Fail, Inconclusive, Pass};

    #[test]
    fn agreement_follows_every_named_witness() {
        let none = Trust::default();
        let cases = [
            (
                Some(Pass),
                vec![Some(Pass), Some(Pass)],
                Agreement::Confirmed,
                false,
            ),
            (
                Some(Fail),
                vec![Some(Fail), Some(Fail)],
                Agreement::Confirmed,
                false,
            ),
            (
                Some(Fail),
                vec![Some(Pass), Some(Pass)],
                Agreement::Disputed,
                true,
            ),
            (
                Some(Fail),
                vec![Some(Pass), Some(Fail)],
                Agreement::Disputed,
                false,
            ),
            (
                Some(Pass),
                vec![Some(Pass), None],
                Agreement::Unconfirmed,
                false,
            ),
            (
                Some(Pass),
                vec![Some(Pass), Some(Inconclusive)],
                Agreement::Unconfirmed,
                false,
            ),
            (
                Some(Fail),
                vec![Some(Pass), None],
                Agreement::Disputed,
                false,
            ),
            (
                None,
                vec![Some(Pass), Some(Pass)],
                Agreement::Unconfirmed,
                false,
            ),
            (
                Some(Inconclusive),
                vec![Some(Pass)],
                Agreement::Unconfirmed,
                false,
            ),
            (Some(Pass), vec![], Agreement::Unconfirmed, false),
        ];
        for (buyer, witnesses, status, flagged) in cases {
            let v = verdicts(buyer, &witnesses, &none);
            assert_eq!(
                (v.status, v.buyer_flagged),
                (status, flagged),
                "{buyer:?} {witnesses:?}"
            );
            assert_eq!(
                v.trusted_status,
                Agreement::Unconfirmed,
                "no trusted witness"
            );
        }
    }

    #[test]
    fn the_trusted_view_counts_trusted_witnesses_only() {
        // Witness 10 (trusted) passes the buyer's fail; witness 11 (untrusted) has not attested.
        let trust = Trust::of([key(10)]);
        let v = verdicts(Some(Fail), &[Some(Pass), None], &trust);
        assert_eq!(v.status, Agreement::Disputed);
        assert!(!v.buyer_flagged);
        assert_eq!(v.trusted_status, Agreement::Disputed);
        assert!(v.trusted_buyer_flagged);
        assert!(v.witnesses[0].trusted && !v.witnesses[1].trusted);
    }

    #[test]
    fn only_named_witnesses_in_the_witness_role_count() {
        let commitment = samples::witnessed_commitment(key(1), "acme", vec![key(10)]);
        let buyer = attestation(key(1), Role::Buyer, Fail, 5);
        let stranger = attestation(key(20), Role::Witness, Pass, 6);
        let as_buyer = attestation(key(10), Role::Buyer, Pass, 6);
        let counted = [
            (MessageId([1; 32]), &buyer),
            (MessageId([2; 32]), &stranger),
            (MessageId([3; 32]), &as_buyer),
        ];
        let v = job_verdicts(&commitment, &counted, &Trust::default());
        assert_eq!(v.witnesses[0].verdict, None);
        assert_eq!(v.status, Agreement::Unconfirmed);
    }
}
