//! `vtune-node provider_sim`.

use std::process::ExitCode;

/// Flags of `vtune-node provider_sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node provider_sim`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`provider_sim` is not implemented yet")
}
