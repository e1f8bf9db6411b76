use ed25519_dalek::SigningKey;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{Attestation, AttestationFacts, MessageId, Role, samples};
use vtune_protocol::stats::GroupEvidence;
use vtune_protocol::verdict::{Verdict, VerdictRule};

use super::*;
use vtune_protocol::messages::open_any;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// An attestation of the sample job with `activations` full activations out of 50.
fn attestation(key: &SigningKey, provider: &str, activations: u64, created_at: u64) -> Vec<u8> {
    attestation_with_errors(key, provider, activations, 0, created_at)
}

/// Like [`attestation`], with `errors` checks that did not complete.
fn attestation_with_errors(
    key: &SigningKey,
    provider: &str,
    activations: u64,
    errors: u64,
    created_at: u64,
) -> Vec<u8> {
    let matched = if activations > 0 { 14 } else { 1 };
    let att = Attestation::from_facts(AttestationFacts {
        job_id: samples::SAMPLE_JOB,
        commitment_id: MessageId([1; 32]),
        attester: public(key),
        role: Role::Buyer,
        provider: provider.into(),
        endpoint: "http://127.0.0.1:1/v1".into(),
        model: "m".into(),
        plan: vtune_protocol::messages::TestPlan {
            checks: 50 + errors,
            controls: 0,
            ..samples::plan()
        },
        groups: vec![GroupEvidence {
            candidates: 32,
            signature_tokens: 14,
            offsets: 8,
            checks: 50,
            full_activations: activations,
            matched_tokens: matched,
            distinct_prefixes: vec![1; matched as usize],
        }],
        errors,
        rule: VerdictRule {
            log10_alpha: -6.0,
            pass_threshold: 5,
        },
        control_checks: 0,
        control_activations: 0,
        transcript_digest: vtune_protocol::messages::Digest([0; 32]),
        created_at,
    });
    Envelope::seal(&att, key).unwrap().to_bytes()
}

fn commitment(key: &SigningKey, provider: &str) -> Vec<u8> {
    Envelope::seal(&samples::commitment(public(key), provider), key)
        .unwrap()
        .to_bytes()
}

fn ids(page: &Page) -> Vec<MessageId> {
    page.entries.iter().map(|e| e.id).collect()
}

#[test]
fn insert_is_idempotent_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = commitment(&key(1), "acme");
    let id = {
        let ledger = Ledger::open(dir.path()).unwrap();
        let first = ledger.insert(&bytes).unwrap();
        assert!(first.new);
        let again = ledger.insert(&bytes).unwrap();
        assert!(!again.new);
        assert_eq!(ledger.len(), 1);
        first.id
    };
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.get(&id).unwrap(), Some(bytes));
    let page = ledger.by_provider("acme", &PageRequest::first(10)).unwrap();
    assert_eq!(ids(&page), vec![id]);
}

#[test]
fn rejects_invalid_envelopes_without_storing_them() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let mut bytes = commitment(&key(1), "acme");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    assert!(matches!(
        ledger.insert(&bytes),
        Err(InsertError::Invalid(_))
    ));
    assert!(ledger.is_empty());
}

#[test]
fn queries_by_job_provider_attester_and_time_paginate() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let alice = key(1);
    let bob = key(2);
    let mut batch = vec![commitment(&alice, "acme")];
    for t in 0..7 {
        batch.push(attestation(&alice, "acme", 12, 1000 + t));
        batch.push(attestation(&bob, "other", 12, 1000 + t));
    }
    let results = ledger.insert_batch(&batch).unwrap();
    let stored: Vec<MessageId> = results.into_iter().map(|r| r.unwrap().id).collect();

    // All of alice's attestations, three per page, in time order.
    let mut seen = Vec::new();
    let mut request = PageRequest::first(3);
    loop {
        let page = ledger.by_attester(&public(&alice), &request).unwrap();
        assert!(page.entries.len() <= 3);
        seen.extend(ids(&page));
        match page.next {
            Some(cursor) => request = PageRequest::after(cursor, 3),
            None => break,
        }
    }
    // Ordered by job, then verdict, then id: here all one job and verdict.
    let mut alices: Vec<MessageId> = (0..7).map(|t| stored[1 + 2 * t]).collect();
    alices.sort();
    assert_eq!(seen, alices);

    // The commitment (created at SAMPLE_TIME) sorts after the attestations.
    let acme = ledger
        .by_provider("acme", &PageRequest::first(100))
        .unwrap();
    assert_eq!(acme.entries.len(), 8);
    assert_eq!(acme.entries[7].id, stored[0]);
    assert!(acme.next.is_none());
    assert_eq!(
        ledger
            .by_job(&samples::SAMPLE_JOB, &PageRequest::first(100))
            .unwrap()
            .entries
            .len(),
        15
    );

    let window = ledger
        .by_time(1002, 1004, &PageRequest::first(100))
        .unwrap();
    assert_eq!(window.entries.len(), 4);
    for entry in &window.entries {
        let t = entry.open().unwrap().message().created_at();
        assert!((1002..1004).contains(&t));
    }

    // A cursor from another query is refused.
    let cursor = ledger
        .by_attester(&public(&alice), &PageRequest::first(1))
        .unwrap()
        .next
        .unwrap();
    assert!(matches!(
        ledger.by_attester(&public(&bob), &PageRequest::after(cursor, 1)),
        Err(LedgerError::BadCursor(_))
    ));
}

#[test]
fn a_large_batch_is_stored_in_parallel_with_results_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let key = key(5);
    let mut batch: Vec<Vec<u8>> = (0..300).map(|t| attestation(&key, "acme", 12, t)).collect();
    let last = batch[150].len() - 1;
    batch[150][last] ^= 1;
    batch[200] = batch[100].clone();
    let results = ledger.insert_batch(&batch).unwrap();
    assert_eq!(results.len(), 300);
    assert!(matches!(results[150], Err(InsertError::Invalid(_))));
    for (i, result) in results.iter().enumerate().filter(|(i, _)| *i != 150) {
        let inserted = result.as_ref().unwrap();
        assert_eq!(
            inserted.id,
            MessageId::of(&batch[i]),
            "result {i} is for envelope {i}"
        );
    }
    assert_eq!(ledger.len(), 298, "one invalid, one duplicate");
    let page = ledger.by_time(0, 300, &PageRequest::first(1000)).unwrap();
    assert_eq!(page.entries.len(), 298);
    let times: Vec<u64> = page
        .entries
        .iter()
        .map(|e| e.open().unwrap().message().created_at())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "time order");
}

#[test]
fn contradicting_verdicts_flag_the_attester_and_keep_both() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let liar = key(3);
    let honest = key(4);
    let pass = ledger.insert(&attestation(&liar, "acme", 12, 1)).unwrap();
    let pass_again = ledger.insert(&attestation(&liar, "acme", 13, 2)).unwrap();
    assert_eq!(
        pass_again.equivocation, None,
        "two passes are no contradiction"
    );
    ledger.insert(&attestation(&honest, "acme", 12, 1)).unwrap();
    let rerun = ledger
        .insert(&attestation_with_errors(&honest, "acme", 0, 50, 2))
        .unwrap();
    assert_eq!(open_verdict(&ledger, rerun.id), Verdict::Inconclusive);
    assert_eq!(rerun.equivocation, None, "inconclusive contradicts nothing");
    assert!(!ledger.is_flagged(&public(&liar)).unwrap());

    let fail = ledger.insert(&attestation(&liar, "acme", 0, 3)).unwrap();
    let open = |id| open_verdict(&ledger, id);
    assert_eq!(open(fail.id), Verdict::Fail);
    let flag = fail.equivocation.expect("flagged");
    assert_eq!(flag.attester, public(&liar));
    assert_eq!(open(flag.first), Verdict::Pass);
    assert!(flag.first == pass.id || flag.first == pass_again.id);

    assert!(ledger.is_flagged(&public(&liar)).unwrap());
    assert!(!ledger.is_flagged(&public(&honest)).unwrap());
    assert_eq!(ledger.equivocations(&public(&liar)).unwrap(), vec![flag]);
    assert_eq!(ledger.all_equivocations().unwrap(), vec![flag]);
    assert_eq!(ledger.len(), 5, "both sides of the equivocation are kept");
}

fn open_verdict(ledger: &Ledger, id: MessageId) -> Verdict {
    let bytes = ledger.get(&id).unwrap().unwrap();
    match open_any(&bytes).unwrap().message() {
        AnyMessage::Attestation(a) => a.verdict,
        other => panic!("not an attestation: {other:?}"),
    }
}

#[test]
fn opening_waits_for_a_lock_released_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ledger::open(dir.path()).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(150));
        drop(first);
    });
    // The first handle still holds the lock: this open waits until it goes.
    let started = std::time::Instant::now();
    let second = Ledger::open(dir.path()).unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    releaser.join().unwrap();
    assert_eq!(second.len(), 0);
}

/// A commitment by `key` for `provider`, with job id `[job; 16]`.
fn commitment_of(key: &SigningKey, job: u8, provider: &str) -> Vec<u8> {
    let mut c = samples::commitment(public(key), provider);
    c.job_id = JobId([job; 16]);
    Envelope::seal(&c, key).unwrap().to_bytes()
}

#[test]
fn the_sequence_numbers_messages_in_storage_order_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.last_seq(), 0);
    let messages: Vec<Vec<u8>> = (0..5).map(|i| commitment_of(&key(i), i, "acme")).collect();
    // Stored out of created_at order: the sequence follows storage, not creation.
    for m in messages.iter().rev() {
        ledger.insert(m).unwrap();
    }
    ledger.insert(&messages[0]).unwrap(); // a duplicate takes no number
    assert_eq!(ledger.last_seq(), 5);
    let page = ledger.since(0, 10, usize::MAX).unwrap();
    let order: Vec<Vec<u8>> = page.entries.iter().map(|(_, e)| e.clone()).collect();
    let expected: Vec<Vec<u8>> = messages.iter().rev().cloned().collect();
    assert_eq!(order, expected);
    assert_eq!(
        page.entries.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    // Limits: entries, and bytes (at least one entry always).
    assert_eq!(ledger.since(2, 2, usize::MAX).unwrap().entries[0].0, 3);
    assert_eq!(ledger.since(2, 2, usize::MAX).unwrap().entries.len(), 2);
    assert_eq!(ledger.since(0, 10, 1).unwrap().entries.len(), 1);
    assert!(ledger.since(5, 10, usize::MAX).unwrap().entries.is_empty());

    let epoch = ledger.epoch();
    drop(ledger);
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.epoch(), epoch, "the epoch is kept");
    assert_eq!(ledger.last_seq(), 5);
    let late = commitment_of(&key(9), 9, "acme");
    ledger.insert(&late).unwrap();
    assert_eq!(
        ledger.since(5, 10, usize::MAX).unwrap().entries[0],
        (6, late)
    );
}

#[test]
fn sync_cursors_are_kept_per_peer_with_their_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.sync_cursor(b"peer-a").unwrap(), None);
    let epoch = Epoch([7; 16]);
    ledger.set_sync_cursor(b"peer-a", epoch, 42).unwrap();
    assert_eq!(ledger.sync_cursor(b"peer-a").unwrap(), Some((epoch, 42)));
    assert_eq!(ledger.sync_cursor(b"peer-b").unwrap(), None);
    let other = Ledger::open(&dir.path().join("other")).unwrap();
    assert_ne!(
        other.epoch(),
        ledger.epoch(),
        "each ledger has its own epoch"
    );
}

#[test]
fn an_attestation_contradicting_its_stored_commitment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let buyer = key(1);
    let c = samples::commitment(public(&buyer), "acme");
    let c_bytes = Envelope::seal(&c, &buyer).unwrap().to_bytes();
    let c_id = ledger.insert(&c_bytes).unwrap().id;
    let attester = key(2);
    let bound = samples::attestation(public(&attester), c_id, "acme", 5);
    ledger
        .insert(&Envelope::seal(&bound, &attester).unwrap().to_bytes())
        .unwrap();
    let other_provider = samples::attestation(public(&attester), c_id, "other", 6);
    let err = ledger
        .insert(
            &Envelope::seal(&other_provider, &attester)
                .unwrap()
                .to_bytes(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("provider"), "{err}");
    assert_eq!(ledger.len(), 2);
}

#[test]
fn a_reveal_must_open_a_stored_commitment_of_its_job() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let buyer = key(1);
    let reveal = samples::reveal();
    // Before the commitment arrives, a reveal is stored unchecked.
    let stranger = key(3);
    let early = Envelope::seal(&reveal, &stranger).unwrap().to_bytes();
    ledger.insert(&early).unwrap();
    let c = samples::commitment(public(&buyer), "acme");
    ledger
        .insert(&Envelope::seal(&c, &buyer).unwrap().to_bytes())
        .unwrap();
    // Now a reveal by anyone but the buyer is refused; the buyer's is stored.
    let mut again = reveal.clone();
    again.created_at += 1;
    let err = ledger
        .insert(&Envelope::seal(&again, &stranger).unwrap().to_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("reveal does not match"), "{err}");
    ledger
        .insert(&Envelope::seal(&again, &buyer).unwrap().to_bytes())
        .unwrap();
}
