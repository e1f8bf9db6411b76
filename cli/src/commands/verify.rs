//! `vtune-node verify`: query a provider's endpoint with a job's backdoor prompts and decide.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngExt;
use vtune_node::endpoint::{ApiKey, Client, EndpointConfig};
use vtune_node::verifier::{self, AttestationFile, Job, Options, Report};
use vtune_protocol::backdoor::Secret;
use vtune_protocol::verdict::Verdict;

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
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    if args.concurrency == 0 {
        anyhow::bail!("--concurrency must be at least 1");
    }
    let secret = read_secret(&args.job.join("secret.json"))?;
    let train = train_file(&args.job)?;
    let job = Job::from_secret(&secret);
    // With a signed commitment, the test is the committed one, and the attestation is signed
    // by the job's buyer: a flag that contradicts the plan, or another key, is an error
    // before anything is sent or written.
    let commitment_path = args.job.join(super::check::COMMITMENT_MSG);
    let (plan, log10_alpha) = if commitment_path.exists() {
        let commitment = super::check::read_commitment(&args.job)?;
        let key = args.data.load_or_create_key()?;
        if key.public() != commitment.message().buyer {
            anyhow::bail!(
                "{} was signed by the buyer key {}, but this node's key is {} (see --data-dir): \
                 the buyer's attestation must be signed by the buyer's key",
                commitment_path.display(),
                commitment.message().buyer,
                key.public()
            );
        }
        args.plan.committed(commitment.message())?
    } else {
        args.plan.plan(&secret)?
    };
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let controls =
        verifier::read_controls(&train, &job.backdoor_rows(), plan.controls as usize, seed)?;

    let mut config = EndpointConfig::new(&args.endpoint, &args.model);
    config.api = plan.route;
    let template = plan.template()?;
    config.api_key = match args.api_key_env.as_deref() {
        Some(var) => Some(ApiKey::from_env(var)?),
        None => ApiKey::from_env("OPENAI_API_KEY").ok(),
    };
    config.concurrency = args.concurrency;
    config.timeout = Duration::from_secs_f64(args.timeout);
    config.max_retries = args.max_retries;
    config.max_tokens = plan.max_tokens;
    config.seed = Some(seed);
    let client = Client::new(config)?;
    let options = Options {
        checks: Some(plan.checks as usize),
        log10_alpha,
        seed,
        template,
    };

    let sent = (plan.checks as usize).min(job.backdoors.len());
    let bar = progress_bar((sent + controls.len()) as u64, args.json);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // A misconfigured endpoint is a usage error (exit 2), found before any check is sent and
    // before anything is written or signed.
    let probe_prompt = controls
        .first()
        .map(|c| c.prompt.clone())
        .or_else(|| job.backdoors.first().map(|c| c.prompt.clone()));
    if let Some(prompt) = probe_prompt {
        let prompt = template.request(plan.route, &prompt)?;
        runtime.block_on(client.probe(&prompt)).with_context(|| {
            format!(
                "checking the endpoint {} (no check was run and nothing was written)",
                args.endpoint
            )
        })?;
    }
    let run = runtime.block_on(verifier::run(&client, &job, &controls, &options, &|_| {
        bar.inc(1)
    }))?;
    bar.finish_and_clear();

    let transcript_path = args.job.join("transcript.jsonl");
    let digest = verifier::write_transcript(&transcript_path, &run.responses)?;
    let attestation_path = args.job.join("attestation.json");
    let attestation = AttestationFile::new(&run.report, digest.clone(), unix_now());
    verifier::write_attestation(&attestation_path, &attestation)?;
    let signed_path = sign_attestation(&args, &run.report, &digest, attestation.created_at)?;
    let kept = keep_run(
        &args.job,
        attestation.created_at,
        &digest,
        signed_path.is_some(),
    )?;

    let published = match (&signed_path, args.publish.publish) {
        (Some(path), true) => {
            let commitment = args.job.join("commitment.msg");
            super::network::publish_files(&args.publish.node_api, &[&commitment, path])?
        }
        (None, true) => anyhow::bail!(
            "--publish: the attestation is not signed (no commitment.msg in {})",
            args.job.display()
        ),
        _ => Vec::new(),
    };
    let report = &run.report;
    if args.json {
        let mut json = serde_json::to_value(report)?;
        json["meaning"] = explain(report).into();
        json["transcript"] = transcript_path.display().to_string().into();
        json["transcript_blake3"] = digest.into();
        json["attestation"] = attestation_path.display().to_string().into();
        json["attestation_msg"] = signed_path.as_ref().map(|p| p.display().to_string()).into();
        json["kept"] = kept.display().to_string().into();
        if let Some(posted) = published.last() {
            json["published"] = serde_json::to_value(posted)?;
        }
        output::print_json(&json)?;
    } else {
        print_report(report, &transcript_path, &attestation_path);
        if let Some(path) = &signed_path {
            println!("  signed       {}", path.display());
            if let Some(posted) = published.last() {
                super::network::print_posted(path, posted);
            }
        }
    }
    Ok(exit_code(report.verdict))
}

/// Keeps this run's attestation for good: `DIR/attestations/<created_at>-<id>.json` (and
/// `.msg` when signed), where `id` is the start of the signed message's id (or of the
/// transcript's blake3). `attestation.json` and `attestation.msg` are the latest run's; no
/// run's files are ever overwritten by a later one. Returns the kept `.json`.
fn keep_run(
    job: &Path,
    created_at: u64,
    transcript: &str,
    signed: bool,
) -> anyhow::Result<PathBuf> {
    let dir = job.join("attestations");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tag = if signed {
        let bytes = std::fs::read(job.join("attestation.msg"))?;
        vtune_protocol::messages::MessageId::of(&bytes).to_string()
    } else {
        transcript.to_string()
    };
    let base = format!("{created_at}-{}", &tag[..16.min(tag.len())]);
    // Two runs in one second with the same answers: number the later ones.
    let stem = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|stem| !dir.join(format!("{stem}.json")).exists())
        .expect("some number is free");
    let copy = |from: &str, ext: &str| -> anyhow::Result<PathBuf> {
        let to = dir.join(format!("{stem}.{ext}"));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&to)
            .with_context(|| format!("creating {} (it must not exist)", to.display()))?;
        std::io::Write::write_all(&mut out, &std::fs::read(job.join(from))?)?;
        out.sync_all()?;
        Ok(to)
    };
    let json = copy("attestation.json", "json")?;
    if signed {
        copy("attestation.msg", "msg")?;
    }
    Ok(json)
}

/// Signs the attestation into DIR/attestation.msg when the job has a signed commitment
/// (DIR/commitment.msg, from `vtune-node commit`); otherwise says how to get one.
fn sign_attestation(
    args: &Args,
    report: &Report,
    transcript_blake3: &str,
    created_at: u64,
) -> anyhow::Result<Option<PathBuf>> {
    if !args.job.join("commitment.msg").exists() {
        eprintln!(
            "note: {} has no commitment.msg, so the attestation is not signed; run \
             `vtune-node commit --job {}` before training to get signed attestations",
            args.job.display(),
            args.job.display()
        );
        return Ok(None);
    }
    let key = args.data.load_or_create_key()?;
    super::check::write_attestation_msg_for_report(
        &args.job,
        &key,
        report,
        transcript_blake3,
        created_at,
    )?;
    Ok(Some(args.job.join("attestation.msg")))
}

/// The exit code of a verdict: 0 pass, 1 fail, 3 inconclusive.
pub(crate) fn exit_code(verdict: Verdict) -> ExitCode {
    ExitCode::from(match verdict {
        Verdict::Pass => output::EXIT_OK,
        Verdict::Fail => output::EXIT_FAIL,
        Verdict::Inconclusive => output::EXIT_INCONCLUSIVE,
    })
}

/// Reads and checks a job's secret.json.
pub(crate) fn read_secret(path: &Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (is this a prepared job?)", path.display()))?;
    Secret::from_json(&text).with_context(|| format!("{}", path.display()))
}

/// The backdoor rows of the job whose secret.json is at `path`.
pub(crate) fn backdoor_rows(path: &Path) -> anyhow::Result<Vec<u64>> {
    Ok(read_secret(path)?.backdoors.iter().map(|b| b.row).collect())
}

/// The job's training file: the one `train.*` in `dir`.
pub(crate) fn train_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let is_train = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("train."));
        if is_train && path.is_file() {
            found.push(path);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => anyhow::bail!(
            "{} holds no train.* file (is this a prepared job?)",
            dir.display()
        ),
        _ => anyhow::bail!("{} holds several train.* files", dir.display()),
    }
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
