//! `vtune-node provider-sim`: serve a simulated provider.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use vtune_node::sim::{self, Behavior, FailKind, Faults, Simulator, TrainSpec};
use vtune_protocol::dataset::Template;

/// Flags of `vtune-node provider-sim`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Serves GET /v1/models, POST /v1/chat/completions and POST /v1/completions \
(OpenAI-compatible) over a word-level model trained at start-up on the base corpus plus the \
rows --behavior selects; it memorizes trained rows. Prints `listening on http://ADDR` on stdout \
once ready, then `endpoint http://ADDR/v1`: the URL to pass to `verify --endpoint`."
)]
pub(crate) struct Args {
    /// Print the start-up line as JSON: {"listening", "endpoint", "model"}.
    #[arg(long)]
    pub(crate) json: bool,
    /// The training file as delivered to the provider (the job's `train.*`).
    #[arg(long, value_name = "FILE")]
    pub(crate) train: PathBuf,
    /// What the provider trained on: honest (every row), base (none), subset:F (a seeded
    /// random fraction F of the rows) or backdoor-only (only the backdoor rows; needs --secret).
    #[arg(long, default_value = "honest")]
    pub(crate) behavior: Behavior,
    /// How each row's prompt was rendered for training: chat or chatml (the row as chat
    /// messages; this model's chat template is ChatML), alpaca (the Stanford Alpaca prompt) or
    /// raw (the prompt text). Give the job's committed template (`check commitment.msg`
    /// shows it).
    #[arg(long, default_value = "chat", value_name = "NAME")]
    pub(crate) template: Template,
    /// The job's secret.json, for backdoor-only.
    #[arg(long, value_name = "FILE")]
    pub(crate) secret: Option<PathBuf>,
    /// A base corpus (plain text, paragraphs separated by blank lines) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub(crate) base_corpus: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub(crate) listen: SocketAddr,
    /// The model name served (requests must name it).
    #[arg(long, default_value = "vtune-sim")]
    pub(crate) model: String,
    /// Seeds the subset drawn by subset:F and the injected failures.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Fault injection: the chance that a request fails.
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub(crate) fail_rate: f64,
    /// Fault injection: how requests fail: status (HTTP 500), invalid-json, hang, or mixed.
    #[arg(long, default_value = "status")]
    pub(crate) fail_kind: FailKind,
    /// Fault injection: milliseconds added before every answer.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub(crate) latency: u64,
    /// Fault injection: at most N requests a second; the rest get 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub(crate) rate_limit: Option<f64>,
}

/// Runs `vtune-node provider-sim`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        anyhow::bail!("--fail-rate {} is not within 0..=1", args.fail_rate);
    }
    if args
        .rate_limit
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        anyhow::bail!("--rate-limit must be a positive number of requests a second");
    }
    let started = Instant::now();
    let examples = sim::read_examples(&args.train)?;
    let backdoor_rows = match &args.secret {
        Some(path) => vtune_node::job_dir::read_secret(path)?
            .backdoors
            .iter()
            .map(|b| b.row)
            .collect(),
        None => Vec::new(),
    };
    if args.behavior == Behavior::BackdoorOnly && args.secret.is_none() {
        anyhow::bail!("--behavior backdoor-only needs --secret (the job's secret.json)");
    }
    let base_corpus = match &args.base_corpus {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the base corpus {}", path.display()))?,
        ),
        None => None,
    };
    let simulator = Simulator::train(TrainSpec {
        examples: &examples,
        behavior: args.behavior,
        backdoor_rows: &backdoor_rows,
        base_corpus: base_corpus.as_deref(),
        seed: args.seed,
        template: args.template,
    })?;
    eprintln!(
        "trained a {} model on {} of {} rows, rendered by template {}, in {:.2} s ({} contexts, {} words)",
        args.behavior,
        simulator.trained_rows().len(),
        examples.len(),
        args.template,
        started.elapsed().as_secs_f64(),
        simulator.model().contexts(),
        simulator.model().vocabulary(),
    );
    let faults = Faults {
        fail_rate: args.fail_rate,
        fail_kind: args.fail_kind,
        latency: Duration::from_millis(args.latency),
        rate_limit: args.rate_limit,
        seed: args.seed,
    };
    let runtime = crate::output::runtime()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let handle = sim::serve(listener, Arc::new(simulator), &args.model, faults).await?;
        let mut stdout = std::io::stdout().lock();
        // One write, so that a reader of the first line alone gets both.
        let addr = handle.addr();
        let lines = if args.json {
            format!(
                "{}\n",
                serde_json::json!({
                    "listening": format!("http://{addr}"),
                    "endpoint": format!("http://{addr}/v1"),
                    "model": args.model,
                })
            )
        } else {
            format!(
                "listening on http://{addr}\nendpoint http://{addr}/v1 (pass it to `verify --endpoint`; model `{}`)\n",
                args.model
            )
        };
        stdout.write_all(lines.as_bytes())?;
        stdout.flush()?;
        drop(stdout);
        tokio::select! {
            () = handle.wait() => anyhow::bail!("the server stopped"),
            signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C"),
        }
    })?;
    crate::output::ok()
}
