//! The daemon (`vtune-node run`): the node key, the ledger, the network and the HTTP API,
//! started together and stopped together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::api::{self, ApiState};
use crate::keys::{self, KeyError};
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::{Metrics, SharedRegistry};
use crate::network::{self, NetworkConfig, NetworkError, NetworkHandle};
use crate::trust::{Trust, TrustError};
use crate::witness::{Witness, WitnessConfig};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The data dir: the node key (`node.key`, 0600) and the ledger (`ledger/`).
    pub data_dir: PathBuf,
    /// libp2p listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Where the HTTP API listens.
    pub api: SocketAddr,
    /// The market (topic `vtune/<market>/v1`).
    pub market: String,
    /// The trusted attesters' file.
    pub trust: Option<PathBuf>,
    /// How often each peer is asked for what it stored since the last round.
    pub sync_interval: Duration,
    /// Take part as a witness (`run --witness`): verify the jobs sealed to this node.
    pub witness: Option<WitnessConfig>,
}

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The node key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The network.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The trust file.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The API's address.
    #[error("cannot serve the API on {addr}: {source}")]
    Api {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A running daemon.
pub struct Daemon {
    /// The node's peer id.
    pub peer_id: PeerId,
    /// The addresses the network listens on (with `/p2p/<peer id>`, ready to bootstrap from).
    pub listen_addrs: Vec<Multiaddr>,
    /// The API's base URL, e.g. `http://127.0.0.1:8080`.
    pub api_url: String,
    /// Whether the node key was created by this start.
    pub new_key: bool,
    ledger: Ledger,
    network: NetworkHandle,
    network_task: tokio::task::JoinHandle<()>,
    api_stop: oneshot::Sender<()>,
    api_task: tokio::task::JoinHandle<std::io::Result<()>>,
    witness: Option<Witness>,
}

impl Daemon {
    /// Starts the daemon: opens the key and ledger, starts the network, serves the API.
    pub async fn start(config: DaemonConfig) -> Result<Self, DaemonError> {
        let trust = match &config.trust {
            Some(path) => Trust::load(path)?,
            None => Trust::default(),
        };
        let data_dir = config.data_dir.clone();
        let (key, new_key, ledger) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&data_dir).map_err(|source| KeyError::Io {
                path: data_dir.clone(),
                source,
            })?;
            let (key, new_key) = keys::load_or_create(&data_dir)?;
            let ledger = Ledger::open(&data_dir.join("ledger"))?;
            Ok::<_, DaemonError>((key, new_key, ledger))
        })
        .await
        .expect("opening the ledger does not panic")?;
        let metrics = Arc::new(Metrics::default());
        let registry: SharedRegistry = Arc::new(Mutex::new(Default::default()));
        metrics.register(&mut registry.lock().unwrap_or_else(|p| p.into_inner()));
        let net_config = NetworkConfig {
            listen: config.listen.clone(),
            bootstrap: config.bootstrap.clone(),
            market: config.market.clone(),
            sync_interval: config.sync_interval,
        };
        let (network, listen_addrs, network_task) =
            network::start(&key, net_config, ledger.clone(), metrics.clone(), &registry).await?;
        let peer_id = key.peer_id();
        let listen_addrs = listen_addrs
            .into_iter()
            .map(|a| a.with_p2p(peer_id).unwrap_or_else(|a| a))
            .collect();
        let listener = tokio::net::TcpListener::bind(config.api)
            .await
            .map_err(|source| DaemonError::Api {
                addr: config.api,
                source,
            })?;
        let api_addr = listener.local_addr().map_err(|source| DaemonError::Api {
            addr: config.api,
            source,
        })?;
        let witness = config.witness.clone().map(|witness| {
            Witness::start(
                key.clone(),
                ledger.clone(),
                metrics.clone(),
                network.clone(),
                witness,
            )
        });
        let state = ApiState::new(
            ledger.clone(),
            metrics,
            registry,
            Some(network.clone()),
            trust,
        );
        let (api_stop, stopped) = oneshot::channel::<()>();
        let api_task = tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            peer_id,
            listen_addrs,
            api_url: format!("http://{api_addr}"),
            new_key,
            ledger,
            network,
            network_task,
            api_stop,
            api_task,
            witness,
        })
    }

    /// The daemon's ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The handle to its network.
    pub fn network(&self) -> &NetworkHandle {
        &self.network
    }

    /// Stops the witness, the API and the network, then flushes the ledger.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        if let Some(witness) = self.witness {
            witness.stop().await;
        }
        let _ = self.api_stop.send(());
        let _ = self.api_task.await;
        let _ = self.network.shutdown().await;
        let _ = self.network_task.await;
        let ledger = self.ledger;
        tokio::task::spawn_blocking(move || ledger.flush())
            .await
            .expect("flushing does not panic")?;
        Ok(())
    }
}
