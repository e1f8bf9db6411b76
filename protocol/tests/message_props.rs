//! Property tests of the wire format: every valid message round-trips, and no input, random
//! or a mutation of a valid envelope, makes decoding panic or pass off as valid.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use vtune_protocol::codec;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{
    AnyMessage, Attestation, AttestationFacts, Commitment, Digest, JobId, MessageId, PublicKey,
    Reveal, Role, Salt, SealedBox, SealedSecret, TestPlan, WitnessBrief, open_any, samples,
};
use vtune_protocol::messages::{Message, open};
use vtune_protocol::stats::GroupEvidence;
use vtune_protocol::verdict::VerdictRule;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 :/._é-]{{1,{max}}}")).unwrap()
}

fn log10_probability() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(-6.0), -400.0f64..=0.0]
}

fn commitment(buyer: PublicKey) -> impl Strategy<Value = Commitment> {
    (
        any::<[u8; 16]>(),
        text(100),
        text(100),
        any::<[u8; 32]>(),
        1u64..=u64::MAX,
        any::<u64>(),
        log10_probability(),
        log10_probability(),
        any::<[u8; 32]>(),
        (any::<u64>(), witnesses(), any::<u32>()),
    )
        .prop_map(
            move |(
                job,
                provider,
                base_model,
                file,
                backdoors,
                threshold,
                alpha,
                p_upper,
                digest,
                (at, witnesses, window),
            )| {
                let reveal_after = if witnesses.is_empty() {
                    0
                } else {
                    at.saturating_add(u64::from(window))
                };
                Commitment {
                    job_id: JobId(job),
                    buyer,
                    provider,
                    base_model,
                    training_file_digest: Digest(file),
                    backdoors,
                    pass_threshold: 1 + threshold % backdoors,
                    log10_alpha: alpha,
                    log10_p_upper: p_upper,
                    commitment_digest: Digest(digest),
                    plan: TestPlan {
                        checks: backdoors.min(50),
                        ..samples::plan()
                    },
                    witnesses,
                    reveal_after,
                    created_at: at,
                }
            },
        )
}

/// Up to eight distinct witness keys (never the buyers' seeds 1 to 9).
fn witnesses() -> impl Strategy<Value = Vec<PublicKey>> {
    proptest::sample::subsequence((10u8..30).collect::<Vec<_>>(), 0..=8)
        .prop_map(|seeds| seeds.into_iter().map(|s| public(&key(s))).collect())
}

/// A sealed secret with random boxes (ciphertext is opaque to every node but its witness).
fn sealed_secret(buyer: PublicKey) -> impl Strategy<Value = SealedSecret> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        witnesses().prop_filter("at least one witness", |w| !w.is_empty()),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 49..400), 8),
        any::<u64>(),
    )
        .prop_map(
            move |(job, commitment, witnesses, ciphertexts, at)| SealedSecret {
                job_id: JobId(job),
                commitment_id: MessageId(commitment),
                buyer,
                boxes: witnesses
                    .into_iter()
                    .zip(ciphertexts)
                    .map(|(witness, ciphertext)| SealedBox {
                        witness,
                        ciphertext,
                    })
                    .collect(),
                created_at: at,
            },
        )
}

/// Statistics that some set of responses could have produced.
fn group() -> impl Strategy<Value = GroupEvidence> {
    (1u32..=64, 1u32..=16, 1u32..=8, 1u64..=300).prop_flat_map(|(k, l, w, n)| {
        (0..=l).prop_flat_map(move |t| {
            let activations = if t == l {
                (1..=n).boxed()
            } else {
                Just(0).boxed()
            };
            let windows = n * u64::from(w);
            (
                activations,
                proptest::collection::vec(1..=windows, t as usize),
            )
                .prop_map(move |(full, distinct)| GroupEvidence {
                    candidates: k,
                    signature_tokens: l,
                    offsets: w,
                    checks: n,
                    full_activations: full,
                    matched_tokens: t,
                    distinct_prefixes: distinct,
                })
        })
    })
}

fn attestation(attester: PublicKey) -> impl Strategy<Value = Attestation> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        any::<bool>(),
        (text(40), text(60), text(60)),
        proptest::collection::vec(group(), 1..=4),
        0u64..50,
        (-30.0f64..=0.0, 0u64..20),
        (0u64..100, any::<u64>()),
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(
            move |(
                job,
                commitment,
                witness,
                (provider, endpoint, model),
                groups,
                errors,
                (alpha, threshold),
                (controls, false_hits),
                transcript,
                at,
            )| {
                let completed: u64 = groups.iter().map(|g: &GroupEvidence| g.checks).sum();
                let errors = if completed + errors == 0 { 1 } else { errors };
                let plan = TestPlan {
                    checks: completed + errors,
                    controls,
                    ..samples::plan()
                };
                Attestation::from_facts(AttestationFacts {
                    job_id: JobId(job),
                    commitment_id: MessageId(commitment),
                    attester,
                    role: if witness { Role::Witness } else { Role::Buyer },
                    provider,
                    endpoint,
                    model,
                    plan,
                    groups,
                    errors,
                    rule: VerdictRule {
                        log10_alpha: alpha,
                        pass_threshold: threshold,
                    },
                    control_checks: controls,
                    control_activations: false_hits % (controls + 1),
                    transcript_digest: Digest(transcript),
                    created_at: at,
                })
            },
        )
}

fn reveal() -> impl Strategy<Value = Reveal> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        proptest::collection::vec(any::<u8>(), 1..2000),
        any::<u64>(),
    )
        .prop_map(|(job, salt, secret_set, at)| Reveal {
            job_id: JobId(job),
            salt: Salt(salt),
            secret_set,
            created_at: at,
        })
}

/// Seals, encodes, opens, and checks that nothing changed on the way.
fn round_trip<T>(message: &T, key: &SigningKey) -> Vec<u8>
where
    T: Message + PartialEq + std::fmt::Debug + Clone + Into<AnyMessage>,
{
    let payload = codec::encode(message);
    assert_eq!(&T::decode_payload(&payload).unwrap(), message);
    let bytes = Envelope::seal(message, key).unwrap().to_bytes();
    let verified = open::<T>(&bytes).unwrap();
    assert_eq!(verified.message(), message);
    assert_eq!(verified.envelope().to_bytes(), bytes);
    let any = open_any(&bytes).unwrap();
    assert_eq!(any.message(), &message.clone().into());
    bytes
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ];
    proptest::collection::vec(one, 1..4)
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match *mutation {
        Mutation::Flip(i, b) if len > 0 => bytes[i % len] ^= b,
        Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
        Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
        Mutation::Remove(i) if len > 0 => {
            bytes.remove(i % len);
        }
        Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn commitments_round_trip(c in commitment(public(&key(1)))) {
        round_trip(&c, &key(1));
    }

    #[test]
    fn attestations_round_trip(a in attestation(public(&key(2)))) {
        let bytes = round_trip(&a, &key(2));
        prop_assert!(a.groups.len() > 2 || bytes.len() <= 2048 + 256);
    }

    #[test]
    fn reveals_round_trip(r in reveal()) {
        round_trip(&r, &key(3));
    }

    #[test]
    fn sealed_secrets_round_trip(s in sealed_secret(public(&key(5)))) {
        round_trip(&s, &key(5));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(open_any(&bytes).is_err());
        let _ = Commitment::decode_payload(&bytes);
        let _ = Attestation::decode_payload(&bytes);
        let _ = Reveal::decode_payload(&bytes);
        let _ = SealedSecret::decode_payload(&bytes);
        let _ = WitnessBrief::decode(&bytes);
        let _ = vtune_protocol::commit::decode_secret_set(&bytes);
        let _ = Envelope::decode_gossip(&bytes);
    }

    #[test]
    fn mutated_envelopes_are_rejected(
        c in commitment(public(&key(4))),
        a in attestation(public(&key(4))),
        which in 0usize..2,
        edits in mutations(),
    ) {
        let original = if which == 0 {
            Envelope::seal(&c, &key(4)).unwrap().to_bytes()
        } else {
            Envelope::seal(&a, &key(4)).unwrap().to_bytes()
        };
        let mut bytes = original.clone();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        let result = open_any(&bytes);
        if bytes == original {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(result.is_err(), "edits {:?} still open", edits);
        }
    }

    #[test]
    fn mutated_payloads_never_panic(
        a in attestation(public(&key(5))),
        edits in mutations(),
    ) {
        let mut payload = codec::encode(&a);
        for edit in &edits {
            apply(&mut payload, edit);
        }
        if let Ok(decoded) = Attestation::decode_payload(&payload) {
            // Whatever decodes is canonical: it encodes back to the same bytes.
            prop_assert_eq!(codec::encode(&decoded), payload);
            let _ = decoded.check_consistency(&public(&key(5)));
        }
    }
}

/// One group per backdoor row (the default) makes attestations of many small groups: 40
/// groups of 19 tokens fit the 2 KiB limit on the wire and must open, although bincode counts
/// their prefix counts at 8 bytes each in memory.
#[test]
fn an_attestation_of_forty_single_row_groups_opens() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let signer = PublicKey(key.verifying_key().to_bytes());
    let mut a = samples::attestation(signer, MessageId([1; 32]), "acme", 5);
    a.groups = (0..40)
        .map(|_| GroupEvidence {
            candidates: 12,
            signature_tokens: 19,
            offsets: 8,
            checks: 1,
            full_activations: 1,
            matched_tokens: 19,
            distinct_prefixes: vec![1; 19],
        })
        .collect();
    let facts = AttestationFacts {
        job_id: a.job_id,
        commitment_id: a.commitment_id,
        attester: a.attester,
        role: a.role,
        provider: a.provider.clone(),
        endpoint: a.endpoint.clone(),
        model: a.model.clone(),
        plan: TestPlan {
            checks: 40,
            ..a.plan.clone()
        },
        groups: a.groups.clone(),
        errors: 0,
        rule: VerdictRule {
            log10_alpha: -6.0,
            pass_threshold: 20,
        },
        control_checks: a.control_checks,
        control_activations: 0,
        transcript_digest: a.transcript_digest,
        created_at: 5,
    };
    let envelope = Envelope::seal(&Attestation::from_facts(facts), &key).unwrap();
    assert!(envelope.payload.len() < 2048, "{}", envelope.payload.len());
    open::<Attestation>(&envelope.to_bytes()).expect("it opens");
}
