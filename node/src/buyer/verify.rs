//! A buyer's verification of a job dir: the options checked before anything is read, the
//! plan (the committed one, when the job has `commitment.msg`), the endpoint probed before any
//! check is sent, the run, and its files: the transcript, `attestation.json`, the signed
//! `attestation.msg`, and the copy kept in `attestations/`.

use std::path::PathBuf;
use std::time::Duration;

use rand::RngExt;

use super::{BuyerError, PlanChoice, check_buyer, sign_attestation};
use crate::endpoint::{ApiKey, Client, EndpointConfig, EndpointError, ProbeError};
use crate::job_dir::{ATTESTATION_JSON, COMMITMENT_MSG, JobDir, PUBLIC, TRANSCRIPT};
use crate::keys::NodeKey;
use crate::verifier::{self, AttestationFile, Control, Job, Options, Report, ResponseRecord};

/// How to verify: the endpoint, the client's limits, and the plan chosen.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The API base of the provider's endpoint.
    pub endpoint: String,
    /// The model name to request.
    pub model: String,
    /// The environment variable holding the API key (`None`: `OPENAI_API_KEY` if set).
    pub api_key_env: Option<String>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Seconds one request may take.
    pub timeout_secs: f64,
    /// Retries of a request.
    pub max_retries: u32,
    /// Seeds the sample of checks and controls (`None`: random).
    pub seed: Option<u64>,
    /// The plan; with a commitment, what is given must agree with it.
    pub plan: PlanChoice,
}

/// Why verification options were refused (before anything was read or sent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// The timeout is not a positive number of seconds.
    #[error("the timeout must be a positive number of seconds, got {0}")]
    Timeout(f64),
    /// No request may be in flight.
    #[error("the concurrency must be at least 1")]
    Concurrency,
    /// A plan choice that no job can have.
    #[error(transparent)]
    Plan(#[from] super::PlanError),
    /// The API key's variable is unset.
    #[error(transparent)]
    ApiKey(EndpointError),
}

/// Options that passed [`VerifyOptions::validate`].
#[derive(Debug, Clone)]
pub struct ValidOptions {
    options: VerifyOptions,
    timeout: Duration,
    api_key: Option<ApiKey>,
    seed: u64,
}

impl VerifyOptions {
    /// Checks the options and reads the API key's variable.
    pub fn validate(self) -> Result<ValidOptions, OptionsError> {
        if !(self.timeout_secs > 0.0 && self.timeout_secs.is_finite()) {
            return Err(OptionsError::Timeout(self.timeout_secs));
        }
        if self.concurrency == 0 {
            return Err(OptionsError::Concurrency);
        }
        self.plan.check()?;
        let api_key = match self.api_key_env.as_deref() {
            Some(var) => Some(ApiKey::from_env(var).map_err(OptionsError::ApiKey)?),
            None => ApiKey::from_env("OPENAI_API_KEY").ok(),
        };
        Ok(ValidOptions {
            timeout: Duration::from_secs_f64(self.timeout_secs),
            seed: self.seed.unwrap_or_else(|| rand::rng().random()),
            api_key,
            options: self,
        })
    }
}

impl ValidOptions {
    /// The same options, sending no API key (for an endpoint of one's own, such as a local
    /// simulator, that must not be sent the user's key).
    pub fn without_api_key(mut self) -> Self {
        self.api_key = None;
        self
    }
}

/// A verification ready to run: the job read, the plan fixed, the controls drawn and the
/// client built.
pub struct Verification {
    dir: JobDir,
    key: Option<NodeKey>,
    job: Job,
    controls: Vec<Control>,
    client: Client,
    options: Options,
    probe: Option<vtune_protocol::dataset::Prompt>,
}

/// What a finished verification wrote.
#[derive(Debug)]
pub struct Finished {
    /// Counts, statistics and the verdict.
    pub report: Report,
    /// `transcript.jsonl` (0600).
    pub transcript: PathBuf,
    /// Its blake3, hex.
    pub transcript_blake3: String,
    /// `attestation.json`.
    pub attestation: PathBuf,
    /// `attestation.msg`, when the job has a signed commitment.
    pub signed: Option<PathBuf>,
    /// The run's copy in `attestations/`.
    pub kept: PathBuf,
}

impl Verification {
    /// Reads the job in `dir` and fixes the plan. With a signed commitment the plan is the
    /// committed one, and `key` must be the buyer's key that signed it.
    pub fn prepare(
        dir: &JobDir,
        options: ValidOptions,
        key: Option<NodeKey>,
    ) -> Result<Self, BuyerError> {
        let secret = dir.secret()?;
        let train = dir.train_file()?;
        let job = Job::from_secret(&secret);
        let (plan, log10_alpha) = if dir.has(COMMITMENT_MSG) {
            let commitment = dir.commitment()?;
            if let Some(key) = &key {
                check_buyer(dir, &commitment, key)?;
            }
            options.options.plan.committed(commitment.message())?
        } else {
            options.options.plan.plan(&secret)?
        };
        let seed = options.seed;
        let controls =
            verifier::read_controls(&train, &job.backdoor_rows(), plan.controls as usize, seed)?;
        let template = plan.template().map_err(BuyerError::CommittedPlan)?;
        let o = &options.options;
        let mut config = EndpointConfig::new(&o.endpoint, &o.model);
        config.api = plan.route;
        config.api_key = options.api_key.clone();
        config.concurrency = o.concurrency;
        config.timeout = options.timeout;
        config.max_retries = o.max_retries;
        config.max_tokens = plan.max_tokens;
        config.seed = Some(seed);
        let client = Client::new(config)?;
        let first = controls.first().map(|c| &c.prompt);
        let probe = first
            .or_else(|| job.backdoors.first().map(|c| &c.prompt))
            .map(|prompt| template.request(plan.route, prompt))
            .transpose()
            .map_err(crate::verifier::VerifyError::from)?;
        Ok(Self {
            dir: dir.clone(),
            key,
            options: Options {
                checks: Some(plan.checks as usize),
                log10_alpha,
                seed,
                template,
            },
            job,
            controls,
            client,
            probe,
        })
    }

    /// The number of requests the run sends: checks and controls.
    pub fn requests(&self) -> u64 {
        let checks = self.options.checks.unwrap_or(usize::MAX);
        (checks.min(self.job.backdoors.len()) + self.controls.len()) as u64
    }

    /// Checks that the endpoint serves the model, before any check is sent or anything
    /// written: a misconfigured endpoint is not a verdict.
    pub async fn probe(&self) -> Result<(), ProbeError> {
        match &self.probe {
            Some(prompt) => self.client.probe(prompt).await,
            None => Ok(()),
        }
    }

    /// Runs the checks and controls (calling `on_response` for each answer), writes the
    /// transcript and `attestation.json`, signs `attestation.msg` when the job has a
    /// commitment, and keeps the run in `attestations/`.
    pub async fn run(
        self,
        on_response: &(dyn Fn(&ResponseRecord) + Send + Sync),
        created_at: u64,
    ) -> Result<Finished, BuyerError> {
        let run = verifier::run(
            &self.client,
            &self.job,
            &self.controls,
            &self.options,
            on_response,
        )
        .await?;
        let transcript = self.dir.file(TRANSCRIPT);
        let digest = verifier::write_transcript(&transcript, &run.responses)?;
        let attestation = AttestationFile::new(&run.report, digest.clone(), created_at);
        let file = self.dir.file(ATTESTATION_JSON);
        crate::job_dir::write_json(&file, &attestation, PUBLIC)?;
        let signed = match &self.key {
            Some(key) if self.dir.has(COMMITMENT_MSG) => {
                sign_attestation(&self.dir, key, &run.report, &digest, created_at)?;
                Some(self.dir.file(crate::job_dir::ATTESTATION_MSG))
            }
            _ => None,
        };
        let kept = self.dir.keep_run(created_at, &digest, signed.is_some())?;
        Ok(Finished {
            report: run.report,
            transcript,
            transcript_blake3: digest,
            attestation: file,
            signed,
            kept,
        })
    }
}
