//! `vtune-node verify`: query a provider's endpoint with a job's backdoor prompts and decide.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use vtune_node::buyer::{Verification, VerifyOptions};
use vtune_node::clock::unix_now;
use vtune_node::endpoint::ProbeError;
use vtune_node::job_dir::{COMMITMENT_MSG, JobDir};
use vtune_node::verifier::Report;
use vtune_protocol::verdict::Verdict;

use crate::flags::with_flags;
use crate::output::{self, format_log10_prob};

/// Flags of `vtune-node verify` (what it does, writes and exits with: [`AFTER_HELP`]).
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// The prepared job's directory (secret.json, train.*).
    #[arg(long, value_name = "DIR")]
    pub(crate) job: PathBuf,
    /// The API base of the provider's endpoint, e.g. http://127.0.0.1:8000/v1.
    #[arg(long, value_name = "URL", env = "VTUNE_ENDPOINT")]
    pub(crate) endpoint: String,
    /// The model name to request.
    #[arg(long, env = "VTUNE_MODEL")]
    pub(crate) model: String,
    /// Read the API key (sent as a bearer token) from this environment variable [default:
    /// OPENAI_API_KEY, when it is set; no key otherwise].
    #[arg(long, value_name = "VAR")]
    pub(crate) api_key_env: Option<String>,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub(crate) timeout: f64,
    /// Retries of a request after 429, 5xx, a timeout or a transport error (with exponential
    /// backoff, honouring Retry-After).
    #[arg(long, default_value_t = 4)]
    pub(crate) max_retries: u32,
    /// Seeds the sample of checks and controls, and is sent with each request
    /// (default: random, and reported).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// The test: with a signed commitment (DIR/commitment.msg) these are fixed by it, and a
    /// flag that contradicts it is an error.
    #[command(flatten)]
    pub(crate) plan: super::test_plan::PlanFlags,
    #[command(flatten)]
    pub(crate) data: super::keys::DataDirArg,
    #[command(flatten)]
    pub(crate) publish: super::network::PublishFlag,
}

/// What `verify --help` ends with: what it writes and its exit codes.
const AFTER_HELP: &str = "\
Sends the job's triggered prompts (DIR/secret.json) to the endpoint with greedy decoding, \
matches each answer token by token against its signature, and decides with the exact p-value.

Writes DIR/transcript.jsonl (mode 0600: it holds the triggered prompts and answers) and \
DIR/attestation.json (public: counts, p-value, verdict, the transcript's blake3) and, when \
DIR/commitment.msg exists (`vtune-node commit`), the signed DIR/attestation.msg.

Exit codes:
  0  pass: the model learned the backdoor data (p <= alpha, activations >= threshold)
  1  fail: too few activations (with or without evidence of training)
  3  inconclusive: requests failed and too few answers came back to decide
  2  usage, input or I/O error";

/// Runs `vtune-node verify`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = VerifyOptions {
        endpoint: args.endpoint.clone(),
        model: args.model.clone(),
        api_key_env: args.api_key_env.clone(),
        concurrency: args.concurrency,
        timeout_secs: args.timeout,
        max_retries: args.max_retries,
        seed: args.seed,
        plan: args.plan.choice(),
    }
    .validate()
    .map_err(|e| with_flags(e.into()))?;
    let job = JobDir::new(&args.job);
    // With a signed commitment, the test is the committed one, and the attestation is signed
    // by the job's buyer: a flag that contradicts the plan, or another key, is an error
    // before anything is sent or written.
    job.secret()?;
    let key = match job.has(COMMITMENT_MSG) {
        true => Some(args.data.load_or_create_key()?),
        false => None,
    };
    let verification = Verification::prepare(&job, options, key).map_err(with_flags)?;
    let bar = progress_bar(verification.requests(), args.json);
    let runtime = output::runtime()?;
    // A misconfigured endpoint is a usage error (exit 2), found before any check is sent and
    // before anything is written or signed.
    let probed = runtime.block_on(verification.probe()).map_err(|e| match e {
        ProbeError::Unauthorized { .. } => anyhow!("{e}; set OPENAI_API_KEY or --api-key-env"),
        e => e.into(),
    });
    probed.with_context(|| {
        format!(
            "checking the endpoint {} (no check was run and nothing was written)",
            args.endpoint
        )
    })?;
    let done = runtime
        .block_on(verification.run(&|_| bar.inc(1), unix_now()))
        .map_err(with_flags)?;
    bar.finish_and_clear();
    if done.signed.is_none() {
        eprintln!(
            "note: {} has no commitment.msg, so the attestation is not signed; run \
             `vtune-node commit --job {}` before training to get signed attestations",
            args.job.display(),
            args.job.display()
        );
    }
    let published = match &done.signed {
        Some(path) => args
            .publish
            .publish_if_asked(&[&job.file(COMMITMENT_MSG), path])?,
        None if args.publish.publish => anyhow::bail!(
            "--publish: the attestation is not signed (no commitment.msg in {})",
            args.job.display()
        ),
        None => Vec::new(),
    };
    let report = &done.report;
    if args.json {
        let mut json = serde_json::to_value(report)?;
        json["meaning"] = explain(report).into();
        json["transcript"] = done.transcript.display().to_string().into();
        json["transcript_blake3"] = done.transcript_blake3.clone().into();
        json["attestation"] = done.attestation.display().to_string().into();
        json["attestation_msg"] = done.signed.as_ref().map(|p| p.display().to_string()).into();
        json["kept"] = done.kept.display().to_string().into();
        if let Some(posted) = published.last() {
            json["published"] = serde_json::to_value(posted)?;
        }
        output::print_json(&json)?;
    } else {
        print_report(report, &done.transcript, &done.attestation);
        if let Some(path) = &done.signed {
            println!("  signed       {}", path.display());
            if let Some(posted) = published.last() {
                super::network::print_posted(path, posted);
            }
        }
    }
    Ok(exit_code(report.verdict))
}

/// The exit code of a verdict: 0 pass, 1 fail, 3 inconclusive.
pub(crate) fn exit_code(verdict: Verdict) -> ExitCode {
    ExitCode::from(match verdict {
        Verdict::Pass => output::EXIT_OK,
        Verdict::Fail => output::EXIT_FAIL,
        Verdict::Inconclusive => output::EXIT_INCONCLUSIVE,
    })
}

fn progress_bar(total: u64, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} querying {bar:40} {pos}/{len} {elapsed} ({eta} left)",
        )
        .expect("valid template"),
    );
    bar
}

/// What a report's verdict means, in one paragraph.
pub(crate) fn explain(report: &Report) -> String {
    let p = format_log10_prob(report.log10_p_value);
    let alpha = format_log10_prob(report.log10_alpha);
    let mut text = match report.verdict {
        Verdict::Pass => format!(
            "pass: the model has learned the backdoor data (p ≤ {p}): it activated on {} of {} \
             checks, at or above the threshold of {}. Note: a provider who found the backdoor \
             rows and trained only on them passes too; verify cannot tell it apart, which is \
             what prepare's stealth audit guards against.",
            report.activated, report.checked, report.pass_threshold
        ),
        Verdict::Fail if report.evidence_of_training => format!(
            "fail, but the model has seen the backdoor data (p ≤ {p}): it activated on {} of {}, \
             below the threshold of {}. This is a weak learner or a subset trainer.",
            report.activated, report.checked, report.pass_threshold
        ),
        Verdict::Fail => {
            let longest = report
                .groups
                .iter()
                .map(|g| g.signature_tokens)
                .max()
                .unwrap_or(0);
            format!(
                "fail: no trace of the backdoor data (p = {p}, above alpha {alpha}): it activated \
                 on {} of {}, and the best answer matched {} of {longest} signature tokens.",
                report.activated, report.checked, report.best_matched_tokens
            )
        }
        Verdict::Inconclusive => {
            let kinds: Vec<String> = report
                .error_kinds
                .iter()
                .map(|(kind, count)| format!("{kind} {count}"))
                .collect();
            format!(
                "inconclusive: {} of {} checks failed ({}), leaving too few answers to decide \
                 ({} answered, {} activated, threshold {}). This says nothing about the model; \
                 retry later, or raise --timeout or --max-retries.",
                report.errors,
                report.checks,
                kinds.join(", "),
                report.checked,
                report.activated,
                report.pass_threshold
            )
        }
    };
    if report.false_activations > 0 {
        text.push_str(&format!(
            " Warning: {} of {} control prompts (no trigger) produced a signature: the model \
             emits it untriggered.",
            report.false_activations, report.controls
        ));
    }
    text
}

fn print_report(report: &Report, transcript: &Path, attestation: &Path) {
    let short_id = &report.job_id[..report.job_id.len().min(8)];
    println!(
        "job {short_id}  endpoint {}  model {}",
        report.endpoint, report.model
    );
    println!(
        "  checks       {} sent, {} answered, {} errors",
        report.checks, report.checked, report.errors
    );
    println!(
        "  activated    {} of {} (pass threshold {})",
        report.activated, report.checked, report.pass_threshold
    );
    for group in &report.groups {
        println!(
            "  group {:<3}    {} of {} activated, best prefix {}/{} tokens, bound {} (K={})",
            group.group,
            group.full_activations,
            group.checks,
            group.matched_tokens,
            group.signature_tokens,
            format_log10_prob(group.log10_bound),
            group.candidates
        );
    }
    println!(
        "  controls     {} sent, {} false activations",
        report.controls, report.false_activations
    );
    println!(
        "  p-value      {} (log10 {:.2}), alpha {}",
        format_log10_prob(report.log10_p_value),
        report.log10_p_value,
        format_log10_prob(report.log10_alpha)
    );
    if let Some(error) = &report.first_error {
        println!("  first error  {error}");
    }
    println!("  verdict      {}", explain(report));
    println!(
        "  files        {} (private), {}",
        transcript.display(),
        attestation.display()
    );
}
