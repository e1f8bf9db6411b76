//! The job view and the summary over a real ledger: which attestations count around a public
//! reveal, and an early reveal flagged.

use ed25519_dalek::SigningKey;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::Message;
use vtune_protocol::messages::{MessageId, PublicKey, Reveal, Role, samples};
use vtune_protocol::verdict::Verdict;

use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

fn signed<T: Message>(message: &T, key: &SigningKey) -> Vec<u8> {
    Envelope::seal(message, key).unwrap().to_bytes()
}

/// A pass of the sample job by `attester` in `role`, at `created_at`.
fn pass(attester: &SigningKey, role: Role, commitment: MessageId, created_at: u64) -> Vec<u8> {
    let mut a = samples::attestation(public(attester), commitment, "acme", created_at);
    a.role = role;
    signed(&a, attester)
}

#[test]
fn attestations_after_the_reveal_do_not_count_and_an_early_reveal_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let (buyer, w1, w2) = (key(1), key(2), key(3));
    let commitment =
        samples::witnessed_commitment(public(&buyer), "acme", vec![public(&w1), public(&w2)]);
    let c_bytes = signed(&commitment, &buyer);
    let c_id = ledger.insert(&c_bytes).unwrap().id;
    let t = samples::SAMPLE_TIME;
    ledger
        .insert(&pass(&buyer, Role::Buyer, c_id, t + 10))
        .unwrap();
    ledger
        .insert(&pass(&w1, Role::Witness, c_id, t + 20))
        .unwrap();
    // The buyer reveals long before reveal_after (a day), with w2 yet to attest.
    let reveal = Reveal {
        created_at: t + 30,
        ..samples::reveal()
    };
    ledger.insert(&signed(&reveal, &buyer)).unwrap();
    // w2's pass comes after the reveal: it does not count.
    ledger
        .insert(&pass(&w2, Role::Witness, c_id, t + 40))
        .unwrap();

    let trust = Trust::default();
    let view = job_view(&ledger, &trust, &samples::SAMPLE_JOB)
        .unwrap()
        .unwrap();
    assert!(view.revealed && view.revealed_early);
    assert_eq!(view.revealed_at, Some(t + 30));
    let late: Vec<bool> = view.attestations.iter().map(|a| a.after_reveal).collect();
    assert_eq!(late.iter().filter(|l| **l).count(), 1);
    let verdicts = view.verdicts.unwrap();
    assert_eq!(verdicts.buyer, Some(Verdict::Pass));
    let by_witness: Vec<Option<Verdict>> = verdicts.witnesses.iter().map(|w| w.verdict).collect();
    assert_eq!(by_witness, [Some(Verdict::Pass), None]);
    assert_eq!(verdicts.status, Agreement::Unconfirmed);

    let summary = provider_summary(&ledger, &trust, "acme").unwrap();
    assert_eq!((summary.all.attestations, summary.after_reveal), (2, 1));
    assert_eq!((summary.all.pass, summary.all.confirmed_pass), (2, 0));
}

#[test]
fn a_reveal_after_every_witness_attested_is_not_early_and_the_job_is_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let (buyer, w1) = (key(1), key(2));
    let commitment = samples::witnessed_commitment(public(&buyer), "acme", vec![public(&w1)]);
    let c_id = ledger.insert(&signed(&commitment, &buyer)).unwrap().id;
    let t = samples::SAMPLE_TIME;
    ledger
        .insert(&pass(&buyer, Role::Buyer, c_id, t + 10))
        .unwrap();
    ledger
        .insert(&pass(&w1, Role::Witness, c_id, t + 20))
        .unwrap();
    let reveal = Reveal {
        created_at: t + 30,
        ..samples::reveal()
    };
    ledger.insert(&signed(&reveal, &buyer)).unwrap();
    let trust = Trust::of([public(&w1)]);
    let view = job_view(&ledger, &trust, &samples::SAMPLE_JOB)
        .unwrap()
        .unwrap();
    assert!(view.revealed && !view.revealed_early);
    let verdicts = view.verdicts.unwrap();
    assert_eq!(
        (verdicts.status, verdicts.trusted_status),
        (Agreement::Confirmed, Agreement::Confirmed)
    );
    let summary = provider_summary(&ledger, &trust, "acme").unwrap();
    assert_eq!(
        (summary.all.confirmed_pass, summary.trusted.confirmed_pass),
        (1, 1)
    );
}
