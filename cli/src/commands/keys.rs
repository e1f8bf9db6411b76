//! `vtune-node keygen` and `vtune-node id`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use vtune_node::keys::{self, KeyError, NodeKey};

use crate::output;

/// Where the node keeps its key and ledger.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DataDirArg {
    /// The node's data dir (key, ledger). Default: $XDG_DATA_HOME/vtune-node or
    /// ~/.local/share/vtune-node.
    #[arg(long, env = "VTUNE_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The data dir: --data-dir, or the platform's.
    pub(crate) fn dir(&self) -> anyhow::Result<PathBuf> {
        keys::data_dir(self.data_dir.as_deref()).map_err(|e| match e {
            KeyError::NoDataDir => anyhow!("{e}: pass --data-dir or set VTUNE_DATA_DIR"),
            e => e.into(),
        })
    }

    /// The node key, created on first use (which is reported on stderr).
    pub(crate) fn load_or_create_key(&self) -> anyhow::Result<NodeKey> {
        let dir = self.dir()?;
        let existed = dir.exists();
        let (key, created) = keys::load_or_create(&dir)?;
        if created && !existed {
            eprintln!(
                "warning: the data dir {} did not exist, so this is a NEW node identity: \
                 created a new node key {} (peer id {}). If you meant an existing node, pass its --data-dir \
                 (or VTUNE_DATA_DIR).",
                dir.display(),
                keys::key_path(&dir).display(),
                key.peer_id()
            );
        } else if created {
            eprintln!(
                "created a new node key {} (peer id {})",
                keys::key_path(&dir).display(),
                key.peer_id()
            );
        }
        Ok(key)
    }
}

/// Flags of `vtune-node keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// Replace an existing key. The node's old identity is lost.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the new identity as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `vtune-node id`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    pub(crate) data: DataDirArg,
    /// Print as JSON: {"public_key", "peer_id", "key_file"}.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `vtune-node keygen`: creates the node key (0600) in the data dir.
pub(crate) fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let path = keys::key_path(&args.data.dir()?);
    let key = NodeKey::generate();
    keys::create(&path, &key, args.force).map_err(|e| match e {
        KeyError::Exists(_) => anyhow!("{e}; pass --force to replace it"),
        e => e.into(),
    })?;
    if !args.json {
        eprintln!("wrote the node key to {}", path.display());
    }
    print_identity(&key, &path, args.json)?;
    output::ok()
}

/// Runs `vtune-node id`: prints the public key and the peer id (creating the key if needed).
pub(crate) fn id(args: IdArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.dir()?;
    let key = args
        .data
        .load_or_create_key()
        .context("loading the node key")?;
    print_identity(&key, &keys::key_path(&dir), args.json)?;
    output::ok()
}

fn print_identity(key: &NodeKey, path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    if json {
        output::print_json(&serde_json::json!({
            "public_key": key.public().to_string(),
            "peer_id": key.peer_id().to_string(),
            "key_file": path.display().to_string(),
        }))
    } else {
        println!("public key  {}", key.public());
        println!("peer id     {}", key.peer_id());
        Ok(())
    }
}
