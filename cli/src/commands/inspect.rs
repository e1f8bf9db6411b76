//! `vtune-node inspect`.

use std::process::ExitCode;

/// Flags of `vtune-node inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node inspect`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`inspect` is not implemented yet")
}
