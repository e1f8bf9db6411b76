//! `vtune-node commit`, `reveal` and `check`: signed messages.
//!
//! The files of a job dir: `commitment.json` and `secret.json` (from `prepare`),
//! `commitment.msg` (from `commit`, or `prepare --provider --base-model`), `attestation.msg`
//! (from `verify`) and `reveal.msg` (from `reveal`). `.msg` files hold one signed envelope.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use vtune_node::keys::{NodeKey, peer_id_of};
use vtune_protocol::backdoor::Secret;
use vtune_protocol::commit::CommitmentFile;
use vtune_protocol::envelope::{Envelope, Verified};
use vtune_protocol::messages::MAX_ENVELOPE_BYTES;
use vtune_protocol::messages::{
    AnyMessage, Attestation, AttestationFacts, Commitment, MessageView, Reveal, check_reveal,
    open_any,
};

use super::keys::DataDirArg;
use crate::output;

/// The signed commitment's file name in a job dir.
pub(crate) const COMMITMENT_MSG: &str = "commitment.msg";
/// The signed attestation's file name in a job dir.
pub(crate) const ATTESTATION_MSG: &str = "attestation.msg";
/// The signed reveal's file name in a job dir.
pub(crate) const REVEAL_MSG: &str = "reveal.msg";

/// Flags of `vtune-node commit`.
#[derive(Debug, clap::Args)]
pub(crate) struct CommitArgs {
    /// The job dir written by `prepare` (reads commitment.json, writes commitment.msg).
    #[arg(long, value_name = "DIR")]
    pub(crate) job: PathBuf,
    /// The provider that will train (a name or a peer id); attestations are indexed by it.
    #[arg(long, value_name = "ID")]
    pub(crate) provider: String,
    /// The base model the provider fine-tunes.
    #[arg(long, value_name = "NAME")]
    pub(crate) base_model: String,
    /// The test the job will be judged by, fixed now: `verify` follows it.
    #[command(flatten)]
    pub(crate) plan: super::test_plan::PlanFlags,
    #[command(flatten)]
    pub(crate) witnesses: super::seal::WitnessFlags,
    /// Replace an existing commitment.msg.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    #[command(flatten)]
    pub(crate) publish: super::network::PublishFlag,
    /// Print the signed commitment as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `vtune-node reveal`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevealArgs {
    /// The job dir (reads secret.json and commitment.msg, writes reveal.msg).
    #[arg(long, value_name = "DIR")]
    pub(crate) job: PathBuf,
    /// A daemon's API, asked whether every named witness has attested (needed before the
    /// commitment's `reveal_after`).
    #[arg(
        long = "api",
        value_name = "URL",
        env = "VTUNE_API",
        default_value = super::network::DEFAULT_API
    )]
    pub(crate) node_api: String,
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// Print the signed reveal's id and job as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `vtune-node check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The signed message file (`*.msg`).
    #[arg(value_name = "FILE.msg")]
    pub(crate) file: PathBuf,
    /// The commitment to check a reveal or attestation against. Default: commitment.msg
    /// beside FILE, if there is one.
    #[arg(long, value_name = "FILE")]
    pub(crate) commitment: Option<PathBuf>,
    /// Print only JSON (also on failure: {"valid": false, "error": ...}).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Unix seconds now.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs the commitment of the prepared job in `job_dir` and writes `commitment.msg` there.
/// `prepare --provider --base-model` calls this too. Returns the message id.
pub(crate) fn write_commitment_msg(
    job_dir: &Path,
    provider: &str,
    base_model: &str,
    plan: &super::test_plan::PlanFlags,
    witnesses: &super::seal::WitnessFlags,
    key: &NodeKey,
    force: bool,
) -> anyhow::Result<Verified<Commitment>> {
    let secret = super::verify::read_secret(&job_dir.join("secret.json"))?;
    let (plan, log10_alpha) = plan.plan(&secret)?;
    let json_path = job_dir.join("commitment.json");
    let text = fs::read_to_string(&json_path)
        .with_context(|| format!("reading {}", json_path.display()))?;
    let file: CommitmentFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a commitment.json", json_path.display()))?;
    let created_at = now();
    let mut commitment = Commitment::from_file(
        &file,
        key.public(),
        provider,
        base_model,
        log10_alpha,
        plan,
        created_at,
    );
    (commitment.witnesses, commitment.reveal_after) = witnesses.resolve(created_at)?;
    let envelope = Envelope::seal(&commitment, key.signing_key())
        .with_context(|| format!("signing the commitment of {}", json_path.display()))?;
    let bytes = envelope.to_bytes();
    write_msg(&job_dir.join(COMMITMENT_MSG), &bytes, force, 0o644)?;
    Ok(vtune_protocol::messages::open(&bytes)?)
}

/// Writes a `.msg` file, refusing to overwrite one unless `force`.
fn write_msg(path: &Path, bytes: &[u8], force: bool, mode: u32) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).mode(mode);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!(
                "{} already exists; pass --force to replace it",
                path.display()
            )
        }
        _ => anyhow::Error::new(e).context(format!("writing {}", path.display())),
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs `vtune-node commit`.
pub(crate) fn commit(args: CommitArgs) -> anyhow::Result<ExitCode> {
    let key = args.data.load_or_create_key()?;
    let verified = write_commitment_msg(
        &args.job,
        &args.provider,
        &args.base_model,
        &args.plan,
        &args.witnesses,
        &key,
        args.force,
    )?;
    let path = args.job.join(COMMITMENT_MSG);
    let posted = if args.publish.publish {
        super::network::publish_files(&args.publish.node_api, &[&path])?
    } else {
        Vec::new()
    };
    if args.json {
        let mut json = serde_json::to_value(MessageView::new(&verified.clone().into_any()))?;
        if let Some(posted) = posted.first() {
            json["published"] = serde_json::to_value(posted)?;
        }
        output::print_json(&json)?;
    } else {
        println!("wrote {}", path.display());
        println!("commitment id  {}", verified.id());
        println!("job            {}", verified.message().job_id);
        for p in &posted {
            super::network::print_posted(&path, p);
        }
    }
    output::ok()
}

/// Runs `vtune-node reveal`: signs the job's secret set and salt into `reveal.msg`.
pub(crate) fn reveal(args: RevealArgs) -> anyhow::Result<ExitCode> {
    let secret_path = args.job.join("secret.json");
    let text = fs::read_to_string(&secret_path)
        .with_context(|| format!("reading {}", secret_path.display()))?;
    let secret = Secret::from_json(&text).with_context(|| format!("{}", secret_path.display()))?;
    let key = args.data.load_or_create_key()?;
    let reveal = Reveal::of(&secret, now());
    let bytes = Envelope::seal(&reveal, key.signing_key())
        .context("signing the reveal")?
        .to_bytes();
    let verified = vtune_protocol::messages::open::<Reveal>(&bytes)?;
    if args.job.join(COMMITMENT_MSG).exists() {
        let commitment = read_commitment(&args.job)?;
        check_reveal(&verified, &commitment).with_context(|| {
            format!(
                "the reveal does not open {}",
                args.job.join(COMMITMENT_MSG).display()
            )
        })?;
        super::seal::witnesses_allow_reveal(commitment.message(), &args.node_api, now())?;
    } else {
        eprintln!(
            "warning: no {COMMITMENT_MSG} in {}; the reveal was not checked against a commitment",
            args.job.display()
        );
    }
    // The reveal holds the secret set: private until the buyer publishes it.
    let path = args.job.join(REVEAL_MSG);
    write_msg(&path, &bytes, true, 0o600)?;
    if args.json {
        output::print_json(&serde_json::json!({
            "file": path.display().to_string(),
            "id": verified.id().to_string(),
            "job_id": verified.message().job_id.to_string(),
            "signer": verified.signer().to_string(),
            "bytes": bytes.len(),
        }))?;
    } else {
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
        println!("reveal id  {}", verified.id());
    }
    output::ok()
}

/// Reads and verifies one `.msg` file.
fn read_msg(path: &Path) -> anyhow::Result<Verified<AnyMessage>> {
    let bytes = read_bounded(path)?;
    if bytes.first() == Some(&b'{') {
        let signed = path.with_extension("msg");
        bail!(
            "{} is JSON, not a signed message: `check` reads the binary envelope{}",
            path.display(),
            if signed.exists() {
                format!(" beside it, {}", signed.display())
            } else {
                " (`*.msg`, written by `commit`, `verify` and `reveal`)".to_string()
            }
        );
    }
    open_any(&bytes).with_context(|| format!("{}", path.display()))
}

/// Reads a file, refusing one larger than any envelope before reading it.
fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_ENVELOPE_BYTES as u64 {
        bail!(
            "{}: {len} bytes is larger than any message ({MAX_ENVELOPE_BYTES})",
            path.display()
        );
    }
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs `vtune-node check`.
pub(crate) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    match validate(&args) {
        Ok(json) => {
            if !args.json {
                eprintln!(
                    "valid {} {} signed by {}",
                    json["kind"].as_str().unwrap_or("message"),
                    json["id"].as_str().unwrap_or(""),
                    json["signer"].as_str().unwrap_or("")
                );
                for (i, group) in json["revealed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    eprintln!(
                        "  group {}: trigger {}  signature {}  (K = {})",
                        i + 1,
                        group["trigger"],
                        group["signature"],
                        group["candidates"]
                    );
                }
            }
            output::print_json(&json)?;
            output::ok()
        }
        Err(err) => {
            if args.json {
                output::print_json(&serde_json::json!({
                    "valid": false,
                    "file": args.file.display().to_string(),
                    "error": format!("{err:#}"),
                }))?;
            } else {
                eprintln!("invalid: {err:#}");
            }
            Ok(ExitCode::from(output::EXIT_FAIL))
        }
    }
}

/// Validates the message of `args.file` (and against its commitment, where one applies);
/// returns its JSON view.
fn validate(args: &CheckArgs) -> anyhow::Result<serde_json::Value> {
    let verified = read_msg(&args.file)?;
    let beside = args
        .file
        .parent()
        .map(|dir| dir.join(COMMITMENT_MSG))
        .filter(|path| path.exists() && !same_file(path, &args.file));
    let commitment_path = args.commitment.clone().or(beside);
    let mut checked_against = None;
    if !matches!(verified.message(), AnyMessage::Commitment(_)) {
        if let Some(path) = &commitment_path {
            let commitment = read_msg(path)?.downcast::<Commitment>().map_err(|other| {
                anyhow::anyhow!(
                    "{} holds a {}, not a commitment",
                    path.display(),
                    other.message().kind()
                )
            })?;
            check_against(&verified, &commitment)
                .with_context(|| format!("against the commitment {}", path.display()))?;
            checked_against = Some(commitment.id());
        } else if matches!(verified.message(), AnyMessage::Reveal(_)) {
            bail!(
                "a reveal is valid only against its commitment: pass --commitment FILE \
                 (no {COMMITMENT_MSG} beside {})",
                args.file.display()
            );
        }
    }
    let mut json = serde_json::to_value(MessageView::new(&verified))?;
    let object = json.as_object_mut().expect("a view is a JSON object");
    object.insert("valid".into(), true.into());
    if let Some(peer) = peer_id_of(&verified.signer()) {
        object.insert("signer_peer_id".into(), peer.to_string().into());
    }
    if let Some(id) = checked_against {
        object.insert("commitment_checked".into(), id.to_string().into());
    }
    // A reveal's secret set is bytes; its phrases are what a reader wants to see.
    if let AnyMessage::Reveal(r) = verified.message()
        && let Ok((_, groups)) = vtune_protocol::commit::revealed_groups(&r.secret_set)
    {
        object.insert("revealed".into(), serde_json::to_value(groups)?);
    }
    Ok(json)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A reveal must open the commitment; an attestation must name it and its job and provider.
fn check_against(
    verified: &Verified<AnyMessage>,
    commitment: &Verified<Commitment>,
) -> anyhow::Result<()> {
    let c = commitment.message();
    match verified.message() {
        AnyMessage::Reveal(_) => {
            let reveal = verified
                .clone()
                .downcast::<vtune_protocol::messages::Reveal>()
                .map_err(|_| anyhow::anyhow!("not a reveal"))?;
            check_reveal(&reveal, commitment)?;
        }
        AnyMessage::Attestation(a) => {
            vtune_protocol::messages::check_attestation_binding(a, commitment.id(), c)?;
        }
        AnyMessage::SealedSecret(sealed) => {
            vtune_protocol::messages::check_sealed_binding(sealed, commitment.id(), c)?;
        }
        AnyMessage::Commitment(_) => {}
    }
    Ok(())
}

/// The verified commitment in `job_dir/commitment.msg`.
pub(crate) fn read_commitment(job_dir: &Path) -> anyhow::Result<Verified<Commitment>> {
    let path = job_dir.join(COMMITMENT_MSG);
    read_msg(&path)?
        .downcast::<Commitment>()
        .map_err(|other| anyhow::anyhow!("{} holds a {}", path.display(), other.message().kind()))
}

/// Signs the attestation of the verification run `report` of the job in `job_dir` and
/// writes `attestation.msg` there. `verify` calls this right after `write_attestation`:
///
/// ```ignore
/// let key = args.data.load_or_create_key()?; // `verify` gains `#[command(flatten)] data: DataDirArg`
/// let signed = super::check::write_attestation_msg_for_report(&args.job, &key, &run.report, &digest, created_at)?;
/// ```
///
/// The p-value and verdict are recomputed from the report's groups and must agree with the
/// report's; a disagreement is an error rather than a signed contradiction.
pub(crate) fn write_attestation_msg_for_report(
    job_dir: &Path,
    key: &NodeKey,
    report: &vtune_node::verifier::Report,
    transcript_blake3: &str,
    created_at: u64,
) -> anyhow::Result<Verified<Attestation>> {
    let groups = report
        .groups
        .iter()
        .map(|g| vtune_protocol::stats::GroupEvidence {
            candidates: g.candidates,
            signature_tokens: g.signature_tokens,
            offsets: g.offsets,
            checks: g.checks,
            full_activations: g.full_activations,
            matched_tokens: g.matched_tokens,
            distinct_prefixes: g.distinct_prefixes.clone(),
        })
        .collect();
    let facts = AttestationFacts {
        // Job, commitment, provider and attester come from commitment.msg and the key.
        job_id: vtune_protocol::messages::JobId([0; 16]),
        commitment_id: vtune_protocol::messages::MessageId([0; 32]),
        attester: key.public(),
        role: vtune_protocol::messages::Role::Buyer,
        provider: String::new(),
        endpoint: report.endpoint.clone(),
        model: report.model.clone(),
        // Replaced by the committed plan; signing refuses a run that did not follow it.
        plan: vtune_protocol::messages::TestPlan {
            checks: 0,
            controls: report.controls,
            route: vtune_protocol::messages::Route::Chat,
            template: String::new(),
            max_tokens: 0,
        },
        groups,
        errors: report.errors,
        rule: vtune_protocol::verdict::VerdictRule {
            log10_alpha: report.log10_alpha,
            pass_threshold: report.pass_threshold,
        },
        control_checks: report.controls,
        control_activations: report.false_activations,
        transcript_digest: transcript_blake3
            .parse()
            .context("the transcript's blake3 is not 32 bytes of hex")?,
        created_at,
    };
    let commitment = read_commitment(job_dir)?;
    if commitment.message().job_id.to_string() != report.job_id {
        bail!(
            "{} is for job {}, the verification for job {}",
            job_dir.join(COMMITMENT_MSG).display(),
            commitment.message().job_id,
            report.job_id
        );
    }
    let signed = write_attestation_msg(job_dir, key, facts)?;
    let a = signed.message();
    if a.verdict != report.verdict || a.evidence_of_training != report.evidence_of_training {
        bail!(
            "internal error: the signed verdict {:?} differs from the report's {:?}",
            a.verdict,
            report.verdict
        );
    }
    Ok(signed)
}

/// Signs the attestation of a verification run of the job in `job_dir` and writes
/// `attestation.msg` there; `verify` calls this after writing `attestation.json`.
///
/// The job id, commitment id and provider are taken from `job_dir/commitment.msg` (which
/// must exist), and the attester is `key`: those fields of `facts` are overwritten. The
/// p-value and verdict are derived from the facts by [`Attestation::from_facts`].
pub(crate) fn write_attestation_msg(
    job_dir: &Path,
    key: &NodeKey,
    mut facts: AttestationFacts,
) -> anyhow::Result<Verified<Attestation>> {
    let commitment = read_commitment(job_dir)?;
    facts.job_id = commitment.message().job_id;
    facts.commitment_id = commitment.id();
    facts.provider = commitment.message().provider.clone();
    facts.plan = commitment.message().plan.clone();
    facts.attester = key.public();
    let attestation = Attestation::from_facts(facts);
    let envelope =
        Envelope::seal(&attestation, key.signing_key()).context("signing the attestation")?;
    let bytes = envelope.to_bytes();
    write_msg(&job_dir.join(ATTESTATION_MSG), &bytes, true, 0o644)?;
    Ok(vtune_protocol::messages::open(&bytes)?)
}
