//! `vtune-node verify`.

use std::process::ExitCode;

/// Flags of `vtune-node verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node verify`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`verify` is not implemented yet")
}
