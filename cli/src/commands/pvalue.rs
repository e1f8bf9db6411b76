//! `vtune-node pvalue`.

use std::process::ExitCode;

/// Flags of `vtune-node pvalue`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node pvalue`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`pvalue` is not implemented yet")
}
