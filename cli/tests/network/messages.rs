//! Signed messages for the scenarios: a buyer's commitment and attestations bound to it.

use vtune_node::keys::NodeKey;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::Message;
use vtune_protocol::messages::{
    Attestation, AttestationFacts, Commitment, Digest, JobId, MessageId, Reveal, Role,
    reveal_digest, samples,
};
use vtune_protocol::stats::GroupEvidence;
use vtune_protocol::verdict::VerdictRule;

/// A signed message: its bytes and id (hex).
#[derive(Clone)]
pub struct Signed {
    pub bytes: Vec<u8>,
    pub id: String,
}

pub fn seal<T: Message>(message: &T, key: &NodeKey) -> Signed {
    let bytes = Envelope::seal(message, key.signing_key())
        .unwrap()
        .to_bytes();
    let id = MessageId::of(&bytes).to_string();
    Signed { bytes, id }
}

/// A commitment by `buyer` to job `job` of `provider`.
pub fn commitment(buyer: &NodeKey, job: u8, provider: &str) -> (Commitment, Signed) {
    let mut c = samples::commitment(buyer.public(), provider);
    c.job_id = JobId([job; 16]);
    let signed = seal(&c, buyer);
    (c, signed)
}

/// A commitment by `buyer` to a secret set of `size` bytes, and its (signed) reveal: too
/// large for gossip, so it travels as an announcement and a fetched body.
pub fn large_reveal(buyer: &NodeKey, job: u8, size: usize) -> (Signed, Signed) {
    let secret_set: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut c = samples::commitment(buyer.public(), "acme");
    c.job_id = JobId([job; 16]);
    c.commitment_digest = reveal_digest(&samples::SAMPLE_SALT, &secret_set);
    let reveal = Reveal {
        job_id: c.job_id,
        salt: samples::SAMPLE_SALT,
        secret_set,
        created_at: samples::SAMPLE_TIME + 1,
    };
    (seal(&c, buyer), seal(&reveal, buyer))
}

/// An attestation of `commitment` by `attester`: a pass (12 of 50 full activations) or a
/// fail (none).
pub fn attestation(
    attester: &NodeKey,
    commitment: &(Commitment, Signed),
    pass: bool,
    created_at: u64,
) -> Signed {
    let (c, signed) = commitment;
    let full = if pass { 12 } else { 0 };
    let matched = if pass { 14 } else { 0 };
    let a = Attestation::from_facts(AttestationFacts {
        job_id: c.job_id,
        commitment_id: signed.id.parse().unwrap(),
        attester: attester.public(),
        role: Role::Buyer,
        provider: c.provider.clone(),
        endpoint: "http://127.0.0.1:8000/v1".to_string(),
        model: "ft".to_string(),
        plan: c.plan.clone(),
        groups: vec![GroupEvidence {
            candidates: 32,
            signature_tokens: 14,
            offsets: 8,
            checks: 50,
            full_activations: full,
            matched_tokens: matched,
            distinct_prefixes: if pass {
                vec![20, 20, 19, 18, 18, 17, 17, 16, 16, 15, 15, 14, 13, 13]
            } else {
                Vec::new()
            },
        }],
        errors: 0,
        rule: VerdictRule {
            log10_alpha: c.log10_alpha,
            pass_threshold: c.pass_threshold,
        },
        control_checks: 10,
        control_activations: 0,
        transcript_digest: Digest::of(b"transcript"),
        created_at,
    });
    seal(&a, attester)
}
