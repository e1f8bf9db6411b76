//! `vtune-node plan`.

use std::process::ExitCode;

/// Flags of `vtune-node plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node plan`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`plan` is not implemented yet")
}
