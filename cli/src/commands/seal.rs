//! `vtune-node seal`, the `--witness` flags of `commit`, and the rule `reveal` follows: naming
//! witnesses before training, sealing the secret set to each of them after delivery, and not
//! revealing it before they have attested or the commitment's deadline has passed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use vtune_node::trust::parse_key;
use vtune_node::verifier;
use vtune_protocol::commit::canonical_secret_set;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{PublicKey, SealedSecret, WitnessBrief};

use super::check::{COMMITMENT_MSG, read_commitment};
use super::keys::DataDirArg;
use crate::output;

/// The sealed secret's file name in a job dir.
pub(crate) const SEALED_MSG: &str = "sealed.msg";

/// How many candidate control prompts a brief carries per control the plan sends: each
/// witness draws its own controls from them.
const CONTROL_POOL: u64 = 4;

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

/// The default `--reveal-window`: a week.
const DEFAULT_REVEAL_WINDOW: u64 = 7 * 86_400;

impl WitnessFlags {
    /// The named keys, and the `reveal_after` of a commitment made at `now`.
    pub(crate) fn resolve(&self, now: u64) -> anyhow::Result<(Vec<PublicKey>, u64)> {
        let keys = self
            .witnesses
            .iter()
            .map(|text| {
                parse_key(text.trim()).with_context(|| {
                    format!(
                        "--witness {text:?} is neither a 64-hex-digit ed25519 key nor a peer id"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if keys.is_empty() {
            if self.reveal_window.is_some() {
                bail!("--reveal-window needs at least one --witness");
            }
            return Ok((keys, 0));
        }
        let window = self.reveal_window.unwrap_or(DEFAULT_REVEAL_WINDOW);
        Ok((keys, now.saturating_add(window)))
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
    let secret = super::verify::read_secret(&args.job.join("secret.json"))?;
    let commitment = read_commitment(&args.job)?;
    let c = commitment.message();
    if c.witnesses.is_empty() {
        bail!(
            "{} names no witness (`commit --witness KEY`): there is no one to seal to",
            args.job.join(COMMITMENT_MSG).display()
        );
    }
    let key = args.data.load_or_create_key()?;
    if key.public() != c.buyer {
        bail!(
            "the commitment was signed by {}, but this node's key is {} (see --data-dir)",
            c.buyer,
            key.public()
        );
    }
    let train = super::verify::train_file(&args.job)?;
    let job = verifier::Job::from_secret(&secret);
    let pool = (c.plan.controls * CONTROL_POOL) as usize;
    let seed: u64 = rand::random();
    let controls = verifier::read_controls(&train, &job.backdoor_rows(), pool, seed)?
        .into_iter()
        .map(|control| (*control.prompt).clone())
        .collect();
    let brief = WitnessBrief {
        commitment: commitment.envelope().to_bytes(),
        salt: secret.salt,
        secret_set: canonical_secret_set(&secret),
        endpoint: args.endpoint.clone(),
        model: args.model.clone(),
        controls,
        api_key: match &args.api_key_env {
            Some(var) => std::env::var(var)
                .ok()
                .filter(|key| !key.trim().is_empty())
                .with_context(|| format!("--api-key-env {var}: the variable is unset or empty"))?
                .trim()
                .to_string(),
            None => std::env::var("OPENAI_API_KEY")
                .unwrap_or_default()
                .trim()
                .to_string(),
        },
    };
    // `seal` checks that the set hashes to the commitment's digest before it seals anything.
    let sealed = SealedSecret::seal(&commitment, &brief, rand::random, unix_now())
        .context("sealing the secret set")?;
    let bytes = Envelope::seal(&sealed, key.signing_key())
        .context("signing the sealed secret")?
        .to_bytes();
    let verified = vtune_protocol::messages::open::<SealedSecret>(&bytes)?;
    let path = args.job.join(SEALED_MSG);
    // Only the named witnesses can open it: it may be read by anyone.
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    let posted = match &args.api {
        Some(api) => super::network::publish_files(api, &[&args.job.join(COMMITMENT_MSG), &path])?,
        None => Vec::new(),
    };
    if args.json {
        output::print_json(&serde_json::json!({
            "file": path.display().to_string(),
            "id": verified.id().to_string(),
            "job_id": c.job_id.to_string(),
            "witnesses": c.witnesses.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            "bytes": bytes.len(),
            "published": posted,
        }))?;
    } else {
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
        println!("sealed secret id  {}", verified.id());
        for witness in &c.witnesses {
            println!("  sealed to witness {witness}");
        }
        for p in &posted {
            super::network::print_posted(&path, p);
        }
    }
    output::ok()
}

/// A public reveal ends the witnesses' chance to check while the set is secret: before the
/// commitment's `reveal_after`, it is written only once every named witness has attested (as
/// the daemon at `api` sees it).
pub(crate) fn witnesses_allow_reveal(
    commitment: &vtune_protocol::messages::Commitment,
    api: &str,
    now: u64,
) -> anyhow::Result<()> {
    if commitment.witnesses.is_empty() || now >= commitment.reveal_after {
        return Ok(());
    }
    let client = vtune_node::api::ApiClient::new(api);
    let view = tokio::runtime::Runtime::new()
        .context("starting the async runtime")?
        .block_on(client.job(&commitment.job_id.to_string()))
        .with_context(|| {
            format!(
                "asking the node at {api} whether every witness has attested (needed to reveal \
                 before {}, the commitment's reveal_after)",
                commitment.reveal_after
            )
        })?;
    let attested: Vec<_> = view
        .verdicts
        .map(|v| {
            v.witnesses
                .into_iter()
                .filter(|w| w.verdict.is_some())
                .map(|w| w.witness)
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<String> = commitment
        .witnesses
        .iter()
        .filter(|w| !attested.contains(w))
        .map(|w| w.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "not revealing yet: {} of {} named witnesses have not attested ({}); the \
             commitment allows a public reveal without them in {} s (reveal_after {})",
            missing.len(),
            commitment.witnesses.len(),
            missing.join(", "),
            commitment.reveal_after - now,
            commitment.reveal_after
        );
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
