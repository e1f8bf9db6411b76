//! What a buyer does with a prepared job dir: commit to the test before training, verify the
//! delivered model ([`verify`]), sign the attestation, seal the secret set to the witnesses,
//! and reveal it once they have attested.

mod plan;
mod verify;

use std::path::PathBuf;
use vtune_protocol::commit::canonical_secret_set;

use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::{
    Attestation, Commitment, InvalidMessage, PublicKey, Reveal, Role, SealedError, SealedSecret,
    WitnessBrief, check_reveal,
};

use crate::api::{ApiClient, ClientError};
use crate::job_dir::{
    ATTESTATION_MSG, COMMITMENT_MSG, JobDir, JobDirError, PRIVATE, PUBLIC, REVEAL_MSG, Replace,
    SEALED_MSG,
};
use crate::keys::NodeKey;
use crate::verifier::{self, Job, Report, VerifyError};
use vtune_protocol::verdict::Verdict;

pub use plan::{Conflict, DEFAULT_ALPHA, DEFAULT_CONTROLS, PlanChoice, PlanError};
pub use verify::{Finished, OptionsError, ValidOptions, Verification, VerifyOptions};

/// The default reveal window: a week after the commitment.
pub const DEFAULT_REVEAL_WINDOW: u64 = 7 * 86_400;

/// How many candidate control prompts a brief carries per control the plan sends: each
/// witness draws its own controls from them.
const CONTROL_POOL: u64 = 4;

/// Why a buyer's step on a job dir failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuyerError {
    /// A file of the job dir.
    #[error(transparent)]
    JobDir(#[from] JobDirError),
    /// The test plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The options of a verification.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The verification could not run.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The endpoint's configuration is not usable.
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    /// The secret set could not be sealed.
    #[error("sealing the secret set: {0}")]
    Seal(#[from] SealedError),
    /// A reveal window without a witness to wait for.
    #[error("a reveal window needs at least one witness")]
    WindowWithoutWitness,
    /// The commitment (file, buyer) was signed by another key than this node's (key).
    #[error("{} was signed by the buyer key {}, but this node's key is {}", .0.display(), .1, .2)]
    NotBuyer(PathBuf, PublicKey, PublicKey),
    /// The commitment names no witness to seal to.
    #[error("{} names no witness: there is no one to seal to", .0.display())]
    NoWitness(PathBuf),
    /// The reveal does not open the commitment in the file.
    #[error("the reveal does not open {}: {}", .0.display(), .1)]
    RevealMismatch(PathBuf, InvalidMessage),
    /// The node at the API could not say whether the witnesses have attested before the
    /// commitment's `reveal_after`.
    #[error(
        "asking the node at {0} whether every witness has attested (needed to reveal before \
         {1}, the commitment's reveal_after): {2}"
    )]
    AskNode(String, u64, ClientError),
    /// Some named witnesses have not attested (which), and the deadline has not passed.
    #[error(
        "not revealing yet: {} of {} named witnesses have not attested ({}); the commitment \
         allows a public reveal without them in {} s (reveal_after {})",
        .0.len(), .1, .0.join(", "), .2, .3
    )]
    WitnessesPending(Vec<String>, usize, u64, u64),
    /// The commitment in the file is for another job than the verification.
    #[error("{} is for job {}, the verification for job {}", .0.display(), .1, .2)]
    JobMismatch(PathBuf, String, String),
    /// The signed verdict differs from the run's (a bug).
    #[error("internal error: the signed verdict {0:?} differs from the report's {1:?}")]
    VerdictMismatch(Verdict, Verdict),
    /// The transcript's digest is not 32 bytes of hex.
    #[error("the transcript's blake3 is not 32 bytes of hex: {0}")]
    Digest(String),
    /// The committed plan cannot be run (a template this node does not know).
    #[error("the committed plan: {0}")]
    CommittedPlan(InvalidMessage),
}

/// What a commitment says beyond `commitment.json`.
#[derive(Debug, Clone, Default)]
pub struct CommitTerms {
    /// The provider that will train (a name or a peer id).
    pub provider: String,
    /// The base model it fine-tunes.
    pub base_model: String,
    /// The test the job will be judged by.
    pub plan: PlanChoice,
    /// The witnesses, who re-verify while the set is still secret.
    pub witnesses: Vec<PublicKey>,
    /// Seconds after the commitment when a reveal counts without every witness (default
    /// [`DEFAULT_REVEAL_WINDOW`]; only with witnesses).
    pub reveal_window: Option<u64>,
}

/// The commitment of the prepared job in `job` under `terms`, made `now` by `key` (not yet
/// signed or written).
pub fn commitment(
    job: &JobDir,
    key: &NodeKey,
    terms: &CommitTerms,
    now: u64,
) -> Result<Commitment, BuyerError> {
    if terms.witnesses.is_empty() && terms.reveal_window.is_some() {
        return Err(BuyerError::WindowWithoutWitness);
    }
    let (plan, log10_alpha) = terms.plan.plan(&job.secret()?)?;
    let file = job.commitment_file()?;
    let mut commitment = Commitment::from_file(
        &file,
        key.public(),
        &terms.provider,
        &terms.base_model,
        log10_alpha,
        plan,
        now,
    );
    if !terms.witnesses.is_empty() {
        commitment.witnesses = terms.witnesses.clone();
        let window = terms.reveal_window.unwrap_or(DEFAULT_REVEAL_WINDOW);
        commitment.reveal_after = now.saturating_add(window);
    }
    Ok(commitment)
}

/// Signs the [`commitment`] of `job` and writes `commitment.msg`, replacing one only if
/// `replace` says so.
pub fn commit(
    job: &JobDir,
    key: &NodeKey,
    terms: &CommitTerms,
    now: u64,
    replace: Replace,
) -> Result<Verified<Commitment>, BuyerError> {
    let commitment = commitment(job, key, terms, now)?;
    Ok(job.write_signed(
        COMMITMENT_MSG,
        &commitment,
        key.signing_key(),
        PUBLIC,
        replace,
    )?)
}

/// Refuses a commitment that `key` did not sign: a buyer's messages are signed by its key.
fn check_buyer(
    job: &JobDir,
    commitment: &Verified<Commitment>,
    key: &NodeKey,
) -> Result<(), BuyerError> {
    let buyer = commitment.message().buyer;
    if buyer != key.public() {
        return Err(BuyerError::NotBuyer(
            job.file(COMMITMENT_MSG),
            buyer,
            key.public(),
        ));
    }
    Ok(())
}

/// Signs the attestation of the run `report` of `job` (whose transcript hashed to
/// `transcript_blake3`) and writes `attestation.msg`. The job, commitment, provider and plan
/// come from `commitment.msg`; the p-value and verdict are recomputed from the report's
/// groups and must agree with the report's.
pub fn sign_attestation(
    job: &JobDir,
    key: &NodeKey,
    report: &Report,
    transcript_blake3: &str,
    created_at: u64,
) -> Result<Verified<Attestation>, BuyerError> {
    let commitment = job.commitment()?;
    if commitment.message().job_id.to_string() != report.job_id {
        let committed = commitment.message().job_id.to_string();
        let file = job.file(COMMITMENT_MSG);
        return Err(BuyerError::JobMismatch(
            file,
            committed,
            report.job_id.clone(),
        ));
    }
    let digest = transcript_blake3
        .parse()
        .map_err(|e| BuyerError::Digest(format!("{e}")))?;
    let facts = verifier::attestation_facts(
        report,
        &commitment,
        key.public(),
        Role::Buyer,
        digest,
        created_at,
    );
    let attestation = Attestation::from_facts(facts);
    let signed = job.write_signed(
        ATTESTATION_MSG,
        &attestation,
        key.signing_key(),
        PUBLIC,
        Replace::Yes,
    )?;
    let a = signed.message();
    if a.verdict != report.verdict || a.evidence_of_training != report.evidence_of_training {
        return Err(BuyerError::VerdictMismatch(a.verdict, report.verdict));
    }
    Ok(signed)
}

/// Where the witnesses verify, and as whom.
#[derive(Debug, Clone)]
pub struct SealTerms {
    /// The API base of the endpoint.
    pub endpoint: String,
    /// The model name to request.
    pub model: String,
    /// The endpoint's API key (empty: none).
    pub api_key: String,
    /// Seeds the pool of control prompts the brief carries.
    pub seed: u64,
}

/// Seals the secret set of `job` to each witness its commitment names and writes
/// `sealed.msg` (public: only the witnesses can open it).
pub fn seal(
    job: &JobDir,
    key: &NodeKey,
    terms: &SealTerms,
    now: u64,
) -> Result<Verified<SealedSecret>, BuyerError> {
    let secret = job.secret()?;
    let commitment = job.commitment()?;
    let c = commitment.message();
    if c.witnesses.is_empty() {
        return Err(BuyerError::NoWitness(job.file(COMMITMENT_MSG)));
    }
    check_buyer(job, &commitment, key)?;
    let train = job.train_file()?;
    let rows = Job::from_secret(&secret).backdoor_rows();
    let pool = (c.plan.controls * CONTROL_POOL) as usize;
    let controls = verifier::read_controls(&train, &rows, pool, terms.seed)?;
    let brief = WitnessBrief {
        commitment: commitment.envelope().to_bytes(),
        salt: secret.salt,
        secret_set: canonical_secret_set(&secret),
        endpoint: terms.endpoint.clone(),
        model: terms.model.clone(),
        controls: controls.into_iter().map(|c| (*c.prompt).clone()).collect(),
        api_key: terms.api_key.trim().to_string(),
    };
    // `seal` checks that the set hashes to the commitment's digest before it seals anything.
    let sealed = SealedSecret::seal(&commitment, &brief, rand::random, now)?;
    Ok(job.write_signed(SEALED_MSG, &sealed, key.signing_key(), PUBLIC, Replace::Yes)?)
}

/// A written reveal, and the commitment it was checked against (none when the job has no
/// `commitment.msg`).
#[derive(Debug)]
pub struct Revealed {
    /// The signed reveal, in `reveal.msg`.
    pub reveal: Verified<Reveal>,
    /// The commitment it opens.
    pub commitment: Option<Verified<Commitment>>,
}

/// Signs the reveal of the job's secret set and writes `reveal.msg` (0600: private until the
/// buyer publishes it). With a commitment, the reveal must open it, and before the
/// commitment's `reveal_after` every named witness must have attested, as the node at `api`
/// sees it: a public reveal ends the witnesses' chance to check while the set is secret.
pub async fn reveal(
    job: &JobDir,
    key: &NodeKey,
    api: &ApiClient,
    now: u64,
) -> Result<Revealed, BuyerError> {
    let reveal = Reveal::of(&job.secret()?, now);
    let opened = job.sign(REVEAL_MSG, &reveal, key.signing_key())?;
    let commitment = if job.has(COMMITMENT_MSG) {
        let commitment = job.commitment()?;
        check_reveal(&opened, &commitment)
            .map_err(|e| BuyerError::RevealMismatch(job.file(COMMITMENT_MSG), e))?;
        witnesses_allow_reveal(commitment.message(), api, now).await?;
        Some(commitment)
    } else {
        None
    };
    job.install_signed(REVEAL_MSG, &opened, PRIVATE, Replace::Yes)?;
    Ok(Revealed {
        reveal: opened,
        commitment,
    })
}

/// Whether `commitment` allows a public reveal `now`: after its `reveal_after`, or once every
/// witness it names has attested at the node `api`.
async fn witnesses_allow_reveal(
    commitment: &Commitment,
    api: &ApiClient,
    now: u64,
) -> Result<(), BuyerError> {
    if commitment.witnesses.is_empty() || now >= commitment.reveal_after {
        return Ok(());
    }
    let view = api
        .job(&commitment.job_id.to_string())
        .await
        .map_err(|e| BuyerError::AskNode(api.base().to_string(), commitment.reveal_after, e))?;
    let attested: Vec<PublicKey> = view
        .verdicts
        .map(|v| {
            let attested = v.witnesses.into_iter().filter(|w| w.verdict.is_some());
            attested.map(|w| w.witness).collect()
        })
        .unwrap_or_default();
    let missing: Vec<String> = commitment
        .witnesses
        .iter()
        .filter(|w| !attested.contains(w))
        .map(|w| w.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let (named, after) = (commitment.witnesses.len(), commitment.reveal_after);
    Err(BuyerError::WitnessesPending(
        missing,
        named,
        after - now,
        after,
    ))
}
