//! `vtune-node demo`.

use std::process::ExitCode;

/// Flags of `vtune-node demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `vtune-node demo`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`demo` is not implemented yet")
}
