//! `vtune-node seal` and the `--witness` flags of `commit`: naming witnesses before training,
//! and sealing the secret set to each of them after delivery (the rules are
//! `vtune_node::buyer`'s).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use vtune_node::buyer::{self, SealTerms};
use vtune_node::clock::unix_now;
use vtune_node::job_dir::{COMMITMENT_MSG, JobDir, SEALED_MSG};
use vtune_node::trust::parse_key;
use vtune_protocol::messages::PublicKey;

use super::keys::DataDirArg;
use super::network::print_posted;
use crate::flags::with_flags;
use crate::output;

/// The witnesses a commitment names (`commit --witness`).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct WitnessFlags {
    /// A witness node: its ed25519 public key (64 hex digits) or its peer id. Repeat for
    /// several. After delivery, `seal` seals the secret set to each of them alone, and they
    /// re-verify while it is still secret.
    #[arg(long = "witness", value_name = "KEY")]
    pub(crate) witnesses: Vec<String>,
    /// Seconds after the commitment after which a public reveal counts even if some witness
    /// has not attested [default: 7 days].
    #[arg(long, value_name = "SECONDS")]
    pub(crate) reveal_window: Option<u64>,
}

impl WitnessFlags {
    /// The named keys.
    pub(crate) fn keys(&self) -> anyhow::Result<Vec<PublicKey>> {
        self.witnesses
            .iter()
            .map(|text| {
                parse_key(text.trim()).with_context(|| {
                    format!(
                        "--witness {text:?} is neither a 64-hex-digit ed25519 key nor a peer id"
                    )
                })
            })
            .collect()
    }
}

/// Flags of `vtune-node seal`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The job dir (reads secret.json, commitment.msg and train.*; writes sealed.msg).
    #[arg(long, value_name = "DIR")]
    pub(crate) job: PathBuf,
    /// The API base of the endpoint the witnesses verify, e.g. http://10.0.0.5:8000/v1.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: String,
    /// The model name the witnesses request.
    #[arg(long)]
    pub(crate) model: String,
    /// The environment variable holding the endpoint's API key, sealed to the witnesses so
    /// that they query as the buyer does [default: OPENAI_API_KEY, when set].
    #[arg(long, value_name = "VAR")]
    pub(crate) api_key_env: Option<String>,
    /// Publish the commitment and the sealed secret to this daemon's API, which stores and
    /// gossips them.
    #[arg(long, value_name = "URL")]
    pub(crate) api: Option<String>,
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `vtune-node seal`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let api_key = match &args.api_key_env {
        Some(var) => std::env::var(var)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .with_context(|| format!("--api-key-env {var}: the variable is unset or empty"))?,
        None => std::env::var("OPENAI_API_KEY").unwrap_or_default(),
    };
    let job = JobDir::new(&args.job);
    // Fail on the job's files before a key is created.
    job.secret()?;
    let commitment = job.commitment()?;
    let key = args.data.load_or_create_key()?;
    let terms = SealTerms {
        endpoint: args.endpoint.clone(),
        model: args.model.clone(),
        api_key,
        seed: rand::random(),
    };
    let verified = buyer::seal(&job, &key, &terms, unix_now()).map_err(with_flags)?;
    let path = job.file(SEALED_MSG);
    let posted = match &args.api {
        Some(api) => super::network::publish_files(api, &[&job.file(COMMITMENT_MSG), &path])?,
        None => Vec::new(),
    };
    let witnesses = &commitment.message().witnesses;
    let bytes = verified.envelope().to_bytes().len();
    if args.json {
        output::print_json(&serde_json::json!({
            "file": path.display().to_string(),
            "id": verified.id().to_string(),
            "job_id": verified.message().job_id.to_string(),
            "witnesses": witnesses.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "bytes": bytes,
            "published": posted,
        }))?;
    } else {
        println!("wrote {} ({bytes} bytes)", path.display());
        println!("sealed secret id  {}", verified.id());
        for witness in witnesses {
            println!("  sealed to witness {witness}");
        }
        for p in &posted {
            print_posted(&path, p);
        }
    }
    output::ok()
}
