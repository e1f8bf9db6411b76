//! `run` (the daemon), `publish` and `query` (clients of a daemon's API), and the
//! `--publish` flags of `commit` and `verify`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use vtune_node::api::{ApiClient, Posted};
use vtune_node::daemon::{Daemon, DaemonConfig};
use vtune_node::network::Multiaddr;
use vtune_node::summary::{Counts, JobView, ProviderSummary};

use super::keys::DataDirArg;
use crate::output::{self, runtime};

/// The API a client talks to unless told otherwise.
pub(crate) const DEFAULT_API: &str = "http://127.0.0.1:8470";

/// Flags of `vtune-node run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The daemon prints its peer id, listen addresses and API URL, then \
    runs until Ctrl-C or SIGTERM, when it stops cleanly with the ledger flushed. \
    Logs go to stderr; RUST_LOG sets the level (e.g. RUST_LOG=vtune_node=debug)."
)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// libp2p address to listen on (repeatable).
    #[arg(
        long,
        value_name = "MULTIADDR",
        default_value = "/ip4/0.0.0.0/tcp/4710"
    )]
    pub(crate) listen: Vec<Multiaddr>,
    /// A peer to join through, e.g. /ip4/203.0.113.5/tcp/4710/p2p/12D3Koo... (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) bootstrap: Vec<Multiaddr>,
    /// Where the HTTP API listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8470")]
    pub(crate) api: SocketAddr,
    /// The market to join: the gossip topic is vtune/<market>/v1.
    #[arg(long, value_name = "NAME", default_value = "main")]
    pub(crate) market: String,
    /// Attester public keys (hex) or peer ids this operator trusts, one per line; summaries
    /// report every count for all attesters and for these apart.
    #[arg(long, value_name = "FILE")]
    pub(crate) trust: Option<PathBuf>,
    /// Seconds between sync rounds with each peer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub(crate) sync_interval: f64,
    /// Take part as a witness: verify the jobs whose buyers sealed their secret set to this
    /// node, while it is still secret, and publish witness attestations.
    #[arg(long)]
    pub(crate) witness: bool,
    /// Requests per minute a witness sends to a provider's endpoint, at most.
    #[arg(long, value_name = "N", default_value_t = vtune_node::witness::DEFAULT_BUDGET, requires = "witness")]
    pub(crate) witness_budget: u32,
    /// Print the start-up facts as one JSON line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `vtune-node publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct PublishArgs {
    /// Signed message files (`*.msg`) to send.
    #[arg(value_name = "FILE.msg", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The daemon's API.
    #[arg(long, value_name = "URL", env = "VTUNE_API", default_value = DEFAULT_API)]
    pub(crate) api: String,
    /// Print the answers as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `vtune-node query`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["provider", "job"])))]
pub(crate) struct QueryArgs {
    /// A provider: its record (summary) before paying.
    #[arg(long, value_name = "ID")]
    pub(crate) provider: Option<String>,
    /// One job: its commitment, attestations and reveal status.
    #[arg(long, value_name = "JOB_ID")]
    pub(crate) job: Option<String>,
    /// The daemon's API.
    #[arg(long, value_name = "URL", env = "VTUNE_API", default_value = DEFAULT_API)]
    pub(crate) api: String,
    /// Print the API's JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The `--publish` flags of `commit` and `verify`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PublishFlag {
    /// Send what was signed to a daemon, which stores and gossips it.
    #[arg(long)]
    pub(crate) publish: bool,
    /// The daemon's API, for --publish.
    #[arg(long = "api", value_name = "URL", env = "VTUNE_API", default_value = DEFAULT_API)]
    pub(crate) node_api: String,
}

impl PublishFlag {
    /// Publishes `files` when --publish asks for it; the answers in file order.
    pub(crate) fn publish_if_asked(&self, files: &[&Path]) -> anyhow::Result<Vec<Posted>> {
        if self.publish {
            publish_files(&self.node_api, files)
        } else {
            Ok(Vec::new())
        }
    }
}

/// Runs `vtune-node run`.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if !(args.sync_interval > 0.0 && args.sync_interval.is_finite()) {
        anyhow::bail!("--sync-interval must be a positive number of seconds");
    }
    if args.witness_budget == 0 {
        anyhow::bail!("--witness-budget must be at least 1 request per minute");
    }
    let data_dir = args.data.dir()?;
    let config = DaemonConfig {
        data_dir: data_dir.clone(),
        listen: args.listen,
        bootstrap: args.bootstrap,
        api: args.api,
        market: args.market.clone(),
        trust: args.trust,
        sync_interval: Duration::from_secs_f64(args.sync_interval),
        witness: args.witness.then(|| vtune_node::witness::WitnessConfig {
            budget_per_minute: args.witness_budget,
            ..Default::default()
        }),
    };
    runtime()?.block_on(async move {
        let daemon = Daemon::start(config).await?;
        let listen: Vec<String> = daemon.listen_addrs.iter().map(|a| a.to_string()).collect();
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "peer_id": daemon.peer_id.to_string(),
                    "listen": listen,
                    "api": daemon.api_url,
                    "market": args.market,
                    "data_dir": data_dir.display().to_string(),
                    "new_key": daemon.new_key,
                })
            );
        } else {
            if daemon.new_key {
                println!("created a new node key in {}", data_dir.display());
            }
            println!("peer id  {}", daemon.peer_id);
            for addr in &listen {
                println!("listen   {addr}");
            }
            println!("api      {}", daemon.api_url);
            println!("market   {} (topic vtune/{}/v1)", args.market, args.market);
            println!("ledger   {}", data_dir.join("ledger").display());
        }
        wait_for_stop().await;
        tracing::info!("stopping");
        daemon.shutdown().await?;
        anyhow::Ok(())
    })?;
    output::ok()
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Sends message files to a daemon; the answers in file order.
pub(crate) fn publish_files(api: &str, files: &[&Path]) -> anyhow::Result<Vec<Posted>> {
    Ok(runtime()?.block_on(ApiClient::new(api).publish_files(files))?)
}

/// Prints what publishing did.
pub(crate) fn print_posted(path: &Path, posted: &Posted) {
    let what = if posted.new {
        "stored and gossiped"
    } else {
        "already held by the node"
    };
    println!("{} {} {}: {what}", path.display(), posted.kind, posted.id);
    if posted.equivocation {
        println!("  warning: it contradicts an earlier attestation by the same attester");
    }
}

/// Runs `vtune-node publish`.
pub(crate) fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let files: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    let answers = publish_files(&args.api, &files)?;
    if args.json {
        output::print_json(&answers)?;
    } else {
        for (path, posted) in files.iter().zip(&answers) {
            print_posted(path, posted);
        }
    }
    output::ok()
}

/// Runs `vtune-node query`.
pub(crate) fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.api);
    let rt = runtime()?;
    if let Some(provider) = &args.provider {
        let summary = rt.block_on(client.summary(provider))?;
        if args.json {
            output::print_json(&summary)?;
        } else {
            print!("{}", render_summary(&summary));
        }
    } else if let Some(job) = &args.job {
        let view = rt.block_on(client.job(job))?;
        if args.json {
            output::print_json(&view)?;
        } else {
            print!("{}", render_job(&view));
        }
    }
    output::ok()
}

/// A provider summary as a table: one column for all attesters, one for trusted ones.
pub(crate) fn render_summary(s: &ProviderSummary) -> String {
    let mut out = format!("provider {}  (jobs committed: {})\n", s.provider, s.jobs);
    let trusted_head = if s.trusted_keys == 0 {
        "trusted (no --trust file)".to_string()
    } else {
        format!("trusted ({} keys)", s.trusted_keys)
    };
    out += &format!(
        "  {:<26} {:>14} {:>26}\n",
        "", "all attesters", trusted_head
    );
    type Row = (&'static str, fn(&Counts) -> u64);
    let rows: [Row; 14] = [
        ("attestations", |c| c.attestations),
        ("pass", |c| c.pass),
        ("fail, evidence of training", |c| c.fail_with_evidence),
        ("fail, no evidence", |c| c.fail_without_evidence),
        ("inconclusive", |c| c.inconclusive),
        ("by buyers", |c| c.buyer_attestations),
        ("by witnesses", |c| c.witness_attestations),
        ("distinct attesters", |c| c.distinct_attesters),
        ("distinct buyers", |c| c.distinct_buyers),
        ("flagged attesters", |c| c.flagged_attesters),
        ("jobs confirmed pass", |c| c.confirmed_pass),
        ("jobs confirmed fail", |c| c.confirmed_fail),
        ("jobs disputed", |c| c.disputed),
        ("  buyer flagged", |c| c.buyer_flagged),
    ];
    for (name, value) in rows {
        out += &format!(
            "  {name:<26} {:>14} {:>26}\n",
            value(&s.all),
            value(&s.trusted)
        );
    }
    if s.without_commitment + s.mismatched + s.after_reveal > 0 {
        out += &format!(
            "  not counted: {} without a known commitment, {} contradicting theirs, {} made \
             after the public reveal\n",
            s.without_commitment, s.mismatched, s.after_reveal
        );
    }
    for e in &s.equivocations {
        out += &format!(
            "  equivocation: attester {} on job {}{}\n",
            e.attester,
            e.job_id,
            if e.trusted { " (trusted)" } else { "" }
        );
    }
    if let (Some(first), Some(last)) = (s.first_seen, s.last_seen) {
        out += &format!(
            "  first seen {}, last seen {}\n",
            httpdate_of(first),
            httpdate_of(last)
        );
    }
    out
}

fn httpdate_of(unix: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(unix))
}

/// The buyer's and witnesses' verdicts of a job, and whether they agree.
fn render_verdicts(v: &vtune_node::summary::JobVerdicts) -> String {
    let name = |verdict: Option<vtune_protocol::verdict::Verdict>| {
        verdict.map_or("none yet".to_string(), |v| format!("{v:?}").to_lowercase())
    };
    let mut out = format!("  buyer's verdict    {}\n", name(v.buyer));
    for w in &v.witnesses {
        out += &format!(
            "  witness {}  {}{}\n",
            w.witness.fmt_short(),
            name(w.verdict),
            if w.trusted { " (trusted)" } else { "" }
        );
    }
    let status = |a: vtune_node::summary::Agreement| format!("{a:?}").to_lowercase();
    out += &format!(
        "  agreement          {}{} (trusted witnesses: {}{})\n",
        status(v.status),
        if v.buyer_flagged {
            ": BUYER FLAGGED, every witness passed the buyer's fail"
        } else {
            ""
        },
        status(v.trusted_status),
        if v.trusted_buyer_flagged {
            ", buyer flagged"
        } else {
            ""
        }
    );
    out
}

/// A job view as text.
pub(crate) fn render_job(v: &JobView) -> String {
    let mut out = format!("job {}\n", v.job_id);
    match (&v.commitment_id, &v.commitment) {
        (Some(id), Some(c)) => {
            out += &format!(
                "  commitment {id}: provider {}, N {}, threshold {}\n",
                c["provider"], c["backdoors"], c["pass_threshold"]
            );
        }
        _ => out += "  commitment: not held by this node\n",
    }
    for a in &v.attestations {
        out += &format!(
            "  {:<12} {:<7} log10 p {:>9.2}  by {}{}{}\n",
            format!("{:?}", a.verdict).to_lowercase(),
            format!("{:?}", a.role).to_lowercase(),
            a.log10_p_value,
            a.attester.fmt_short(),
            if a.trusted { " (trusted)" } else { "" },
            match (&a.binding_error, a.after_reveal) {
                (Some(e), _) => format!("  [not counted: {e}]"),
                (None, true) => "  [not counted: made after the public reveal]".to_string(),
                (None, false) => String::new(),
            }
        );
    }
    if let Some(verdicts) = &v.verdicts {
        out += &render_verdicts(verdicts);
    }
    out += &format!(
        "  sealed to the witnesses: {}\n",
        match &v.sealed_secret_id {
            Some(id) => format!("yes ({id})"),
            None => "not seen".to_string(),
        }
    );
    out += &format!(
        "  reveal: {}\n",
        match &v.reveal_id {
            Some(id) if v.revealed_early => format!(
                "published ({id}), EARLY: before the deadline, with a witness yet to attest"
            ),
            Some(id) => format!("published ({id})"),
            None => "not yet".to_string(),
        }
    );
    out
}
