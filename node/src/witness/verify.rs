//! One witness run: open the box, check the set against the commitment, verify the endpoint
//! with the committed test and a sample and order of the witness's own, and sign.

use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::envelope::{Envelope, Verified};
use vtune_protocol::messages::{Attestation, Role, SealedError, SealedSecret};

use super::WitnessConfig;
use crate::endpoint::{ApiKey, Client, EndpointConfig, EndpointError};
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
    /// The sealed set does not have the committed number of backdoor rows.
    #[error("the sealed set has {rows} backdoor rows, the commitment {committed}")]
    RowCount {
        /// Rows in the set.
        rows: usize,
        /// `backdoors` in the commitment.
        committed: u64,
    },
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
    /// The committed plan cannot be run (a template this node does not know).
    #[error("the committed plan: {0}")]
    Plan(vtune_protocol::messages::InvalidMessage),
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
    if checked.set.backdoors.len() as u64 != c.backdoors {
        return Err(WitnessError::RowCount {
            rows: checked.set.backdoors.len(),
            committed: c.backdoors,
        });
    }
    let job = Job::from_set(&checked.set, c.pass_threshold);
    let seed: u64 = rand::random();
    let controls = draw_controls(&checked.brief.controls, c.plan.controls, seed)?;
    let mut endpoint = EndpointConfig::new(&checked.brief.endpoint, &checked.brief.model);
    if !checked.brief.api_key.is_empty() {
        endpoint.api_key = Some(ApiKey::new(checked.brief.api_key.clone()));
    }
    endpoint.api = c.plan.route;
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
        template: c.plan.template().map_err(WitnessError::Plan)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use vtune_protocol::messages::{Commitment, TestPlan, samples};

    /// A job of the sample set (one row) sealed to `witness`, whose endpoint is `endpoint`.
    fn sealed_job(buyer: &NodeKey, witness: &NodeKey, endpoint: &str) -> Verified<SealedSecret> {
        let base = samples::witnessed_commitment(buyer.public(), "acme", vec![witness.public()]);
        let commitment = Commitment {
            backdoors: 1,
            pass_threshold: 1,
            plan: TestPlan {
                checks: 1,
                controls: 2,
                ..base.plan.clone()
            },
            ..base
        };
        let bytes = Envelope::seal(&commitment, buyer.signing_key())
            .unwrap()
            .to_bytes();
        let verified = vtune_protocol::messages::open::<Commitment>(&bytes).unwrap();
        let mut brief = samples::witness_brief(bytes);
        brief.endpoint = endpoint.to_string();
        let sealed = SealedSecret::seal(&verified, &brief, rand::random, 5).unwrap();
        let bytes = Envelope::seal(&sealed, buyer.signing_key())
            .unwrap()
            .to_bytes();
        vtune_protocol::messages::open::<SealedSecret>(&bytes).unwrap()
    }

    #[tokio::test]
    async fn an_endpoint_the_witness_cannot_reach_gives_inconclusive_never_fail() {
        let (buyer, witness) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
        // Nothing listens on port 1 of loopback: every request is refused.
        let sealed = sealed_job(&buyer, &witness, "http://127.0.0.1:1/v1");
        let config = WitnessConfig {
            max_retries: 0,
            timeout: std::time::Duration::from_secs(2),
            ..WitnessConfig::default()
        };
        let envelopes = verify_sealed(&sealed, &witness, &config, 9).await.unwrap();
        assert_eq!(envelopes.len(), 2, "the commitment and the attestation");
        let attestation = vtune_protocol::messages::open::<Attestation>(&envelopes[1]).unwrap();
        let a = attestation.message();
        assert_eq!(a.verdict, vtune_protocol::verdict::Verdict::Inconclusive);
        assert_eq!(
            (a.role, a.attester, a.errors),
            (Role::Witness, witness.public(), 1)
        );
        vtune_protocol::messages::check_attestation_binding(
            a,
            sealed.message().commitment_id,
            vtune_protocol::messages::open::<Commitment>(&envelopes[0])
                .unwrap()
                .message(),
        )
        .unwrap();
    }

    #[tokio::test]
    async fn the_witness_queries_with_the_buyers_sealed_key() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (buyer, witness) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
        // A server that keeps the head of every request and answers each with a 500.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0u8; 64 * 1024];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buffer[..n]).to_ascii_lowercase());
                let _ = socket
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        let sealed = sealed_job(&buyer, &witness, &url);
        let config = WitnessConfig {
            max_retries: 0,
            ..WitnessConfig::default()
        };
        verify_sealed(&sealed, &witness, &config, 9).await.unwrap();
        let heads = heads.lock().unwrap();
        assert!(!heads.is_empty());
        assert!(
            heads
                .iter()
                .all(|head| head.contains("authorization: bearer sk-sample")),
            "{heads:?}"
        );
    }

    #[tokio::test]
    async fn only_a_named_witness_runs_and_the_row_count_must_match() {
        let (buyer, witness) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
        let other = NodeKey::from_seed([3; 32]);
        let sealed = sealed_job(&buyer, &witness, "http://127.0.0.1:1/v1");
        let config = WitnessConfig::default();
        let err = verify_sealed(&sealed, &other, &config, 9)
            .await
            .unwrap_err();
        assert!(
            matches!(err, WitnessError::Sealed(SealedError::NotAddressed(_))),
            "{err}"
        );
        // The sample commitment claims 50 rows; its set has one.
        let base = samples::witnessed_commitment(buyer.public(), "acme", vec![witness.public()]);
        let bytes = Envelope::seal(&base, buyer.signing_key())
            .unwrap()
            .to_bytes();
        let verified = vtune_protocol::messages::open::<Commitment>(&bytes).unwrap();
        let sealed =
            SealedSecret::seal(&verified, &samples::witness_brief(bytes), rand::random, 5).unwrap();
        let bytes = Envelope::seal(&sealed, buyer.signing_key())
            .unwrap()
            .to_bytes();
        let sealed = vtune_protocol::messages::open::<SealedSecret>(&bytes).unwrap();
        let err = verify_sealed(&sealed, &witness, &config, 9)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                WitnessError::RowCount {
                    rows: 1,
                    committed: 50
                }
            ),
            "{err}"
        );
    }
}
