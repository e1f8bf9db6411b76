//! One witness run: open the box, check the set against the commitment, verify the endpoint
//! with the committed test and a sample and order of the witness's own, and sign.

use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::envelope::{Envelope, Verified};
use vtune_protocol::messages::{Attestation, Role, SealedError, SealedSecret};

use super::WitnessConfig;
use crate::endpoint::{Api, Client, EndpointConfig, EndpointError};
use crate::keys::NodeKey;
use crate::verifier::{self, Control, Job, Options, VerifyError};

/// Why a witness does not attest a sealed job. An endpoint that cannot be reached is not one
/// of these: that run attests `inconclusive`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The box does not open, or its set does not match the commitment.
    #[error(transparent)]
    Sealed(#[from] SealedError),
    /// The commitment the box carries does not name this node.
    #[error("the sealed commitment does not name this node as a witness")]
    NotNamed,
    /// The brief carries no control prompts, but the plan sends some.
    #[error("the brief carries no control prompts, but the plan sends {0}")]
    NoControls(u64),
    /// The endpoint's URL is not usable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The verification could not run.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Signing failed.
    #[error("signing the attestation: {0}")]
    Sign(String),
}

/// Verifies the job sealed to `key`'s node in `sealed` and returns the envelopes to store:
/// the job's commitment (carried in the box) and this node's signed witness attestation.
pub async fn verify_sealed(
    sealed: &Verified<SealedSecret>,
    key: &NodeKey,
    config: &WitnessConfig,
    now: u64,
) -> Result<Vec<Vec<u8>>, WitnessError> {
    let checked = sealed.message().open_for(key.signing_key())?;
    let commitment = &checked.commitment;
    let c = commitment.message();
    if !c.names_witness(&key.public()) {
        return Err(WitnessError::NotNamed);
    }
    let job = Job::from_set(&checked.set, c.pass_threshold);
    let seed: u64 = rand::random();
    let controls = draw_controls(&checked.brief.controls, c.plan.controls, seed)?;
    let mut endpoint = EndpointConfig::new(&checked.brief.endpoint, &checked.brief.model);
    endpoint.api = match c.plan.route {
        vtune_protocol::messages::Route::Chat => Api::Chat,
        vtune_protocol::messages::Route::Completions => Api::Completions,
    };
    endpoint.max_tokens = c.plan.max_tokens;
    endpoint.seed = Some(seed);
    endpoint.concurrency = config.concurrency;
    endpoint.timeout = config.timeout;
    endpoint.max_retries = config.max_retries;
    endpoint.per_minute = Some(config.budget_per_minute);
    let client = Client::new(endpoint)?;
    let options = Options {
        checks: Some(c.plan.checks as usize),
        log10_alpha: c.log10_alpha,
        seed,
    };
    let run = verifier::run(&client, &job, &controls, &options, &|_| {}).await?;
    let digest = verifier::transcript_digest(&run.responses)?;
    let facts = verifier::attestation_facts(
        &run.report,
        commitment,
        key.public(),
        Role::Witness,
        digest
            .parse()
            .map_err(|e| WitnessError::Sign(format!("{e}")))?,
        now,
    );
    let attestation = Attestation::from_facts(facts);
    let bytes = Envelope::seal(&attestation, key.signing_key())
        .map_err(|e| WitnessError::Sign(e.to_string()))?
        .to_bytes();
    Ok(vec![commitment.envelope().to_bytes(), bytes])
}

/// `amount` controls drawn with `seed` from the brief's pool (with replacement only when the
/// pool is smaller than `amount`).
fn draw_controls(
    pool: &[vtune_protocol::dataset::Prompt],
    amount: u64,
    seed: u64,
) -> Result<Vec<Control>, WitnessError> {
    let amount = amount as usize;
    if amount == 0 {
        return Ok(Vec::new());
    }
    if pool.is_empty() {
        return Err(WitnessError::NoControls(amount as u64));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let picks: Vec<usize> = if pool.len() >= amount {
        index::sample(&mut rng, pool.len(), amount).into_vec()
    } else {
        use rand::RngExt;
        (0..amount)
            .map(|_| rng.random_range(0..pool.len()))
            .collect()
    };
    Ok(picks
        .into_iter()
        .map(|i| Control {
            row: i as u64,
            prompt: Arc::new(pool[i].clone()),
        })
        .collect())
}
