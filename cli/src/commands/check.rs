//! `vtune-node commit`, `reveal` and `check`: signed messages.

use std::process::ExitCode;

/// Flags of `vtune-node commit`.
#[derive(Debug, clap::Args)]
pub(crate) struct CommitArgs {}

/// Flags of `vtune-node reveal`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevealArgs {}

/// Flags of `vtune-node check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {}

/// Runs `vtune-node commit`.
pub(crate) fn commit(args: CommitArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`commit` is not implemented yet")
}

/// Runs `vtune-node reveal`.
pub(crate) fn reveal(args: RevealArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`reveal` is not implemented yet")
}

/// Runs `vtune-node check`.
pub(crate) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`check` is not implemented yet")
}
