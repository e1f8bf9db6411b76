//! A verification run: the backdoor prompts and controls against an endpoint, and the result.
//!
//! [`run`] sends a seeded sample of the job's triggered prompts and some untriggered control
//! prompts through an endpoint [`Client`], matches every answer token by token against its
//! group's signature at each of its first `stats::MATCH_OFFSETS` token offsets (so that an
//! answer opening with "Sure!" or a markdown fence still counts), and decides with the exact statistics of `vtune_protocol::stats` and
//! the [`VerdictRule`]. Requests that fail (transport, timeout, non-2xx after retries,
//! unparsable body, refusal, empty answer) are counted as errors: they can make a run
//! inconclusive, never a fail.

mod attestation;
mod job;
mod report;
mod transcript;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tracing::Instrument;
use vtune_protocol::dataset::{Prompt, Template};
use vtune_protocol::stats::{self, GroupEvidence};
use vtune_protocol::verdict::VerdictRule;

use crate::endpoint::Client;

pub use attestation::{AttestationFile, attestation_facts, write_attestation};
pub use job::{Check, Control, Group, Job, read_controls, sample_checks, scaled_threshold};
pub use report::{GroupReport, Report};
pub use transcript::{Kind, Outcome, ResponseRecord, transcript_digest, write_transcript};

/// Why a verification could not run. Every variant names its input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The job's template cannot be sent on the configured route.
    #[error(transparent)]
    Template(#[from] vtune_protocol::dataset::TemplateError),
    /// The training file could not be read.
    #[error(transparent)]
    Dataset(#[from] vtune_protocol::dataset::DatasetError),
    /// A training row has no prompt and completion.
    #[error("{file}: record {index}: {message}")]
    Row {
        /// The file.
        file: String,
        /// 0-based record number.
        index: u64,
        /// What is wrong.
        message: String,
    },
    /// The job is unusable (no backdoors, a check of a missing group, ...).
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// A file could not be installed.
    #[error(transparent)]
    JobDir(#[from] crate::job_dir::JobDirError),
    /// A record could not be serialized.
    #[error("could not encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
}

/// How a run samples and decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Backdoor rows to check; `None` checks them all.
    pub checks: Option<usize>,
    /// log10 of the significance level alpha.
    pub log10_alpha: f64,
    /// Seeds the sample of checks.
    pub seed: u64,
    /// How each prompt is rendered for the client's route (the job's committed template).
    pub template: Template,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            checks: None,
            log10_alpha: -6.0,
            seed: 0,
            template: Template::Chat,
        }
    }
}

/// The result of a run: the public report and every response, for the transcript.
#[derive(Debug, Clone)]
pub struct Run {
    /// Counts, statistics and the verdict.
    pub report: Report,
    /// Every check and control, in the order sent.
    pub responses: Vec<ResponseRecord>,
}

/// Queries the endpoint with a sample of `job`'s checks and with `controls`, and decides.
/// `on_response` is called once per answered or failed request, in completion order (for a
/// progress bar).
pub async fn run(
    client: &Client,
    job: &Job,
    controls: &[Control],
    options: &Options,
    on_response: &(dyn Fn(&ResponseRecord) + Send + Sync),
) -> Result<Run, VerifyError> {
    job.validate()?;
    let route = client.config().api;
    options.template.check_route(route)?;
    let render = |prompt: &Prompt| {
        Arc::new(
            options
                .template
                .request(route, prompt)
                .expect("check_route passed"),
        )
    };
    let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
    let checks = sample_checks(job, options.checks, &mut rng);
    let requests: Arc<[Request]> = checks
        .iter()
        .map(|check| Request {
            kind: Kind::Check,
            row: check.row,
            group: Some(check.group),
            prompt: render(&check.prompt),
        })
        .chain(controls.iter().map(|control| Request {
            kind: Kind::Control,
            row: control.row,
            group: None,
            prompt: render(&control.prompt),
        }))
        .collect();
    let concurrency = client.config().concurrency.max(1);
    // `concurrency` tasks on the runtime's threads take the requests in order, each sending
    // one and reading its reply at a time, where the connections are served; this task only
    // gathers the answers. Dropping the run aborts the tasks.
    // Room for every answer: senders never wait on this task, and the bound is the request count.
    let (answered, mut answers) = tokio::sync::mpsc::channel(requests.len().max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(requests.len()) {
        let (client, requests) = (client.clone(), Arc::clone(&requests));
        let (next, answered) = (Arc::clone(&next), answered.clone());
        let sender = async move {
            loop {
                let sequence = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(sequence) else {
                    break;
                };
                let outcome = client.complete(&request.prompt).await;
                if answered.send((sequence, outcome)).await.is_err() {
                    break;
                }
            }
        };
        senders.spawn(sender.in_current_span());
    }
    drop(answered);
    let mut responses = Vec::with_capacity(requests.len());
    while let Some((sequence, outcome)) = answers.recv().await {
        let request = &requests[sequence];
        let record = ResponseRecord::new(
            sequence,
            request.kind,
            request.row,
            request.group,
            &request.prompt,
            outcome,
            job,
        );
        on_response(&record);
        responses.push(record);
    }
    // Every sender has ended; one that panicked ended early, and its panic is the run's.
    while let Some(ended) = senders.join_next().await {
        if let Err(error) = ended {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("a request task was cancelled: {error}"),
            }
        }
    }
    responses.sort_unstable_by_key(|record| record.sequence);
    let report = decide(client, job, checks.len(), &responses, options);
    Ok(Run { report, responses })
}

/// One request of a run: a check or a control, and the prompt sent (rendered by the template
/// for the route).
struct Request {
    kind: Kind,
    row: u64,
    group: Option<usize>,
    prompt: Arc<Prompt>,
}

/// The statistics and the verdict of a run's responses.
fn decide(
    client: &Client,
    job: &Job,
    sampled: usize,
    responses: &[ResponseRecord],
    options: &Options,
) -> Report {
    let mut groups = Vec::with_capacity(job.groups.len());
    let mut evidence = Vec::with_capacity(job.groups.len());
    for (index, group) in job.groups.iter().enumerate() {
        let of_group = || {
            responses
                .iter()
                .filter(move |r| r.kind == Kind::Check && r.group == Some(index))
        };
        let answers: Vec<&str> = of_group().filter_map(ResponseRecord::text).collect();
        let errors = of_group().filter(|r| r.text().is_none()).count() as u64;
        let group_evidence = GroupEvidence::from_responses(
            group.candidates,
            stats::MATCH_OFFSETS,
            &group.signature,
            &answers,
        );
        groups.push(GroupReport::new(index, group, &group_evidence, errors));
        evidence.push(group_evidence);
    }
    let log10_p_value = stats::log10_job_p_value(&evidence);
    let checks: Vec<&ResponseRecord> = responses.iter().filter(|r| r.kind == Kind::Check).collect();
    let checked = checks.iter().filter(|r| r.text().is_some()).count() as u64;
    let errors = checks.len() as u64 - checked;
    let activated = checks.iter().filter(|r| r.activated).count() as u64;
    let pass_threshold = scaled_threshold(job.pass_threshold, job.backdoors.len(), sampled);
    let rule = VerdictRule {
        log10_alpha: options.log10_alpha,
        pass_threshold,
    };
    let decision = rule.decide(checked, activated, errors, log10_p_value);
    let mut error_kinds = BTreeMap::new();
    for record in checks.iter().filter(|r| r.text().is_none()) {
        if let Outcome::Error { kind, .. } = &record.outcome {
            *error_kinds.entry(kind.clone()).or_insert(0) += 1;
        }
    }
    let controls: Vec<&ResponseRecord> = responses
        .iter()
        .filter(|r| r.kind == Kind::Control)
        .collect();
    let config = client.config();
    Report {
        job_id: job.job_id.clone(),
        endpoint: config.base_url.clone(),
        model: config.model.clone(),
        api: config.api,
        template: options.template,
        seed: options.seed,
        backdoors: job.backdoors.len() as u64,
        checks: sampled as u64,
        checked,
        activated,
        errors,
        error_kinds,
        first_error: checks.iter().find_map(|record| match &record.outcome {
            Outcome::Error { message, .. } => Some(message.clone()),
            Outcome::Answered { .. } => None,
        }),
        log10_p_upper: job
            .groups
            .iter()
            .map(|g| g.log10_p_upper)
            .fold(f64::NEG_INFINITY, f64::max),
        log10_p_value,
        log10_alpha: options.log10_alpha,
        pass_threshold,
        evidence_of_training: decision.evidence_of_training,
        verdict: decision.verdict,
        controls: controls.len() as u64,
        control_errors: controls.iter().filter(|r| r.text().is_none()).count() as u64,
        false_activations: controls.iter().filter(|r| r.activated).count() as u64,
        best_matched_tokens: groups.iter().map(|g| g.matched_tokens).max().unwrap_or(0),
        groups,
    }
}
