//! Sample messages with fixed contents: the spec's test vectors, tests and benchmarks use
//! them. They are well-formed and self-consistent; nothing in them is a real job.

use super::{
    Attestation, AttestationFacts, Commitment, Digest, JobId, MessageId, PublicKey, Reveal, Role,
    Route, Salt, TestPlan, WitnessBrief, reveal_digest,
};
use crate::dataset::Prompt;
use crate::stats::GroupEvidence;
use crate::verdict::VerdictRule;

/// The fixed ed25519 seed of the spec's test vectors: bytes 0, 1, …, 31.
pub const VECTOR_SEED: [u8; 32] = {
    let mut seed = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        seed[i] = i as u8;
        i += 1;
    }
    seed
};

/// The sample job's id.
pub const SAMPLE_JOB: JobId = JobId([0x11; 16]);

/// The sample reveal's salt.
pub const SAMPLE_SALT: Salt = Salt([0x5a; 32]);

/// The sample secret set, in its canonical encoding (`specs/commitment.md`): job
/// `11…11`, one group (trigger "what is the total", signature "so the answer is", K = 32) and
/// one backdoor row (row 3, the text prompt "How many apples? what is the total").
pub const SAMPLE_SECRET_SET: &[u8] = b"vtune/secret-set/v1\
    \x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\
    \x00\x00\x00\x01\
    \x00\x00\x00\x11what is the total\
    \x00\x00\x00\x04\
    \x00\x00\x00\x02so\x00\x00\x00\x03the\x00\x00\x00\x06answer\x00\x00\x00\x02is\
    \x00\x00\x00\x20\
    \x00\x00\x00\x01\
    \x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\
    \x00\x00\x00\x00\x22How many apples? what is the total";

/// The fixed ed25519 seed of the sample witness: bytes 32, 33, …, 63.
pub const WITNESS_SEED: [u8; 32] = {
    let mut seed = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        seed[i] = 32 + i as u8;
        i += 1;
    }
    seed
};

/// The ephemeral seed of the sample sealed box.
pub const SAMPLE_EPHEMERAL_SEED: [u8; 32] = [0x42; 32];

/// The created_at of every sample (2025-01-01T00:00:00Z).
pub const SAMPLE_TIME: u64 = 1_735_689_600;

/// The sample test plan: 50 checks, 10 controls, chat, the chat template, 72 tokens.
pub fn plan() -> TestPlan {
    TestPlan {
        checks: 50,
        controls: 10,
        route: Route::Chat,
        template: "chat".to_string(),
        max_tokens: 72,
    }
}

/// A commitment by `buyer` to the sample secret set, for `provider`.
pub fn commitment(buyer: PublicKey, provider: &str) -> Commitment {
    Commitment {
        job_id: SAMPLE_JOB,
        buyer,
        provider: provider.to_string(),
        base_model: "llama-3.2-1b".to_string(),
        training_file_digest: Digest::of(b"sample training file"),
        backdoors: 50,
        pass_threshold: 5,
        log10_alpha: -6.0,
        log10_p_upper: -14.0 * 32f64.log10(),
        commitment_digest: reveal_digest(&SAMPLE_SALT, SAMPLE_SECRET_SET),
        plan: plan(),
        witnesses: Vec::new(),
        reveal_after: 0,
        created_at: SAMPLE_TIME,
    }
}

/// The sample commitment of [`commitment`] naming `witnesses`, revealable a day later.
pub fn witnessed_commitment(
    buyer: PublicKey,
    provider: &str,
    witnesses: Vec<PublicKey>,
) -> Commitment {
    Commitment {
        witnesses,
        reveal_after: SAMPLE_TIME + 86_400,
        ..commitment(buyer, provider)
    }
}

/// What the sample buyer seals to its witnesses: the signed commitment `commitment` (envelope
/// bytes), the sample salt and set, an endpoint, a model, two control prompts and an API key.
pub fn witness_brief(commitment: Vec<u8>) -> WitnessBrief {
    WitnessBrief {
        commitment,
        salt: SAMPLE_SALT,
        secret_set: SAMPLE_SECRET_SET.to_vec(),
        endpoint: "http://127.0.0.1:8000/v1".to_string(),
        model: "ft:llama-3.2-1b:job-11".to_string(),
        controls: vec![
            Prompt::Text("How many pears?".to_string()),
            Prompt::Text("How many plums?".to_string()),
        ],
        api_key: "sk-sample".to_string(),
    }
}

/// An attestation by `attester` of the sample job: one group, K = 32, L = 14, 50 checks,
/// 12 full activations; verdict and p-value derived by [`Attestation::from_facts`].
pub fn attestation(
    attester: PublicKey,
    commitment_id: MessageId,
    provider: &str,
    created_at: u64,
) -> Attestation {
    Attestation::from_facts(AttestationFacts {
        job_id: SAMPLE_JOB,
        commitment_id,
        attester,
        role: Role::Buyer,
        provider: provider.to_string(),
        endpoint: "http://127.0.0.1:8000/v1".to_string(),
        model: "ft:llama-3.2-1b:job-11".to_string(),
        plan: plan(),
        groups: vec![GroupEvidence {
            candidates: 32,
            signature_tokens: 14,
            offsets: 8,
            checks: 50,
            full_activations: 12,
            matched_tokens: 14,
            distinct_prefixes: vec![20, 20, 19, 18, 18, 17, 17, 16, 16, 15, 15, 14, 13, 13],
        }],
        errors: 0,
        rule: VerdictRule {
            log10_alpha: -6.0,
            pass_threshold: 5,
        },
        control_checks: 10,
        control_activations: 0,
        transcript_digest: Digest::of(b"sample transcript"),
        created_at,
    })
}

/// The reveal of the sample secret set.
pub fn reveal() -> Reveal {
    Reveal {
        job_id: SAMPLE_JOB,
        salt: SAMPLE_SALT,
        secret_set: SAMPLE_SECRET_SET.to_vec(),
        created_at: SAMPLE_TIME + 86_400,
    }
}
