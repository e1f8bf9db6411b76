//! The subcommands of `vtune-node`, one file each.

mod check;
mod demo;
mod demo_network;
mod inspect;
mod keys;
mod network;
mod plan;
mod prepare;
mod provider_sim;
mod pvalue;
mod seal;
mod test_plan;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Verifiable fine-tuning for LLMs through backdooring (vTune), as a node of a verification
/// network.
///
/// Exit codes: 0 success (or a `pass` verdict), 1 a `fail` verdict, 2 a usage, input or I/O
/// error, 3 an `inconclusive` verdict.
#[derive(Debug, Parser)]
#[command(name = "vtune-node", version, about, long_about)]
pub(crate) struct Cli {
    /// Log more (info level) to stderr; RUST_LOG overrides.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// One subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Choose the number of backdoors and the pass threshold for a dataset size.
    Plan(plan::Args),
    /// How strong is the evidence of k activations out of n checks?
    Pvalue(pvalue::Args),
    /// Show a dataset's format, row count and length statistics.
    Inspect(inspect::Args),
    /// Insert backdoors into a dataset and write the secret set and its commitment.
    Prepare(prepare::Args),
    /// Query a provider's endpoint with the backdoor prompts and decide pass / fail.
    Verify(verify::Args),
    /// Serve a simulated provider: an OpenAI-compatible server over a model trained at start-up.
    ProviderSim(provider_sim::Args),
    /// Run a whole market on loopback: prepare, three simulated providers, verify each.
    Demo(demo::Args),
    /// Create this node's ed25519 key.
    Keygen(keys::KeygenArgs),
    /// Print this node's public key and peer id.
    Id(keys::IdArgs),
    /// Sign the commitment of a prepared job.
    Commit(check::CommitArgs),
    /// Seal a job's secret set to each witness its commitment names (after delivery).
    Seal(seal::Args),
    /// Write the signed reveal of a job's secret set.
    Reveal(check::RevealArgs),
    /// Validate a signed message file and print it.
    Check(check::CheckArgs),
    /// Run the node daemon: gossip, sync, the ledger and the HTTP API.
    Run(network::RunArgs),
    /// Send signed message files to a daemon, which stores and gossips them.
    Publish(network::PublishArgs),
    /// Ask a daemon for a provider's record or a job's state.
    Query(network::QueryArgs),
}

impl Command {
    /// Runs the command and returns its exit code.
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Plan(args) => plan::run(args),
            Command::Pvalue(args) => pvalue::run(args),
            Command::Inspect(args) => inspect::run(args),
            Command::Prepare(args) => prepare::run(args),
            Command::Verify(args) => verify::run(args),
            Command::ProviderSim(args) => provider_sim::run(args),
            Command::Demo(args) => demo::run(args),
            Command::Keygen(args) => keys::keygen(args),
            Command::Id(args) => keys::id(args),
            Command::Commit(args) => check::commit(args),
            Command::Seal(args) => seal::run(args),
            Command::Reveal(args) => check::reveal(args),
            Command::Check(args) => check::check(args),
            Command::Run(args) => network::run(args),
            Command::Publish(args) => network::publish(args),
            Command::Query(args) => network::query(args),
        }
    }
}
