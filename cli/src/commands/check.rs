//! `vtune-node commit`, `reveal` and `check`: signed messages. The job dir's files are
//! described in `vtune_node::job_dir`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use vtune_node::buyer::{self, CommitTerms};
use vtune_node::clock::unix_now;
use vtune_node::job_dir::{self, COMMITMENT_MSG, JobDir, REVEAL_MSG, Replace};
use vtune_node::keys::{NodeKey, peer_id_of};
use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::{Commitment, MessageView};

use super::keys::DataDirArg;
use super::network::{PublishFlag, print_posted};
use super::test_plan::PlanFlags;
use crate::flags::with_flags;
use crate::output;

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
    pub(crate) plan: PlanFlags,
    #[command(flatten)]
    pub(crate) witnesses: super::seal::WitnessFlags,
    /// Replace an existing commitment.msg.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    #[command(flatten)]
    pub(crate) publish: PublishFlag,
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

/// Signs the commitment of the prepared job in `job_dir` and writes `commitment.msg` there
/// (`prepare --provider --base-model` calls this).
pub(crate) fn write_commitment_msg(
    job_dir: &Path,
    provider: &str,
    base_model: &str,
    plan: &PlanFlags,
    witnesses: &super::seal::WitnessFlags,
    key: &NodeKey,
    force: bool,
) -> anyhow::Result<Verified<Commitment>> {
    let terms = CommitTerms {
        provider: provider.to_string(),
        base_model: base_model.to_string(),
        plan: plan.choice(),
        witnesses: witnesses.keys()?,
        reveal_window: witnesses.reveal_window,
    };
    let replace = if force { Replace::Yes } else { Replace::No };
    buyer::commit(&JobDir::new(job_dir), key, &terms, unix_now(), replace).map_err(with_flags)
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
    let posted = args.publish.publish_if_asked(&[&path])?;
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
            print_posted(&path, p);
        }
    }
    output::ok()
}

/// Runs `vtune-node reveal`: signs the job's secret set and salt into `reveal.msg`.
pub(crate) fn reveal(args: RevealArgs) -> anyhow::Result<ExitCode> {
    let job = JobDir::new(&args.job);
    // Fail on a missing secret before a key is created.
    job.secret()?;
    let key = args.data.load_or_create_key()?;
    let api = vtune_node::api::ApiClient::new(&args.node_api);
    let revealed = output::runtime()?
        .block_on(buyer::reveal(&job, &key, &api, unix_now()))
        .map_err(with_flags)?;
    if revealed.commitment.is_none() {
        eprintln!(
            "warning: no {COMMITMENT_MSG} in {}; the reveal was not checked against a commitment",
            args.job.display()
        );
    }
    let (verified, path) = (&revealed.reveal, job.file(REVEAL_MSG));
    let bytes = verified.envelope().to_bytes().len();
    if args.json {
        output::print_json(&serde_json::json!({
            "file": path.display().to_string(),
            "id": verified.id().to_string(),
            "job_id": verified.message().job_id.to_string(),
            "signer": verified.signer().to_string(),
            "bytes": bytes,
        }))?;
    } else {
        println!("wrote {} ({bytes} bytes)", path.display());
        println!("reveal id  {}", verified.id());
    }
    output::ok()
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
                let groups = json["revealed"].as_array().into_iter().flatten();
                for (i, group) in groups.enumerate() {
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

/// The JSON view of the valid message of `args.file`.
fn validate(args: &CheckArgs) -> anyhow::Result<serde_json::Value> {
    let checked =
        job_dir::check_file(&args.file, args.commitment.as_deref()).map_err(|e| match e {
            job_dir::CheckError::NoCommitment(_) => anyhow::anyhow!("{e}: pass --commitment FILE"),
            e => e.into(),
        })?;
    let mut json = serde_json::to_value(MessageView::new(&checked.message))?;
    let object = json.as_object_mut().expect("a view is a JSON object");
    object.insert("valid".into(), true.into());
    if let Some(peer) = peer_id_of(&checked.message.signer()) {
        object.insert("signer_peer_id".into(), peer.to_string().into());
    }
    if let Some(id) = checked.commitment {
        object.insert("commitment_checked".into(), id.to_string().into());
    }
    if let Some(groups) = checked.revealed {
        object.insert("revealed".into(), serde_json::to_value(groups)?);
    }
    Ok(json)
}
