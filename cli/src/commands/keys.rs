//! `vtune-node keygen` and `vtune-node id`.

use std::process::ExitCode;

/// Flags of `vtune-node keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {}

/// Flags of `vtune-node id`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {}

/// Runs `vtune-node keygen`.
pub(crate) fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`keygen` is not implemented yet")
}

/// Runs `vtune-node id`.
pub(crate) fn id(args: IdArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`id` is not implemented yet")
}
