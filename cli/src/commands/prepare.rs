//! `vtune-node prepare`.

use std::process::ExitCode;

/// Flags of `vtune-node prepare`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node prepare`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`prepare` is not implemented yet")
}
