//! The libp2p network: one task owns the Swarm ([`event_loop`]); the rest of the node talks to
//! it through a cloneable [`NetworkHandle`].
//!
//! Behaviours: identify, ping, gossipsub on the market's topic ([`gossip`]), kademlia in
//! server mode for discovery, and the request-response protocol [`sync`] for catch-up and
//! message bodies. Transport: tcp + noise + yamux.

// The derived `BehaviourEvent` has no doc comments of its own.
#[allow(missing_docs)]
mod behaviour;
mod event_loop;
pub mod gossip;
pub mod sync;

use std::time::Duration;

pub use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use vtune_protocol::messages::MessageId;

pub use behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL, PROTOCOL_VERSION, build_swarm};

use crate::keys::NodeKey;
use crate::ledger::Ledger;
use crate::metrics::{Metrics, SharedRegistry};

/// How long an idle connection stays open (libp2p's default, 10 s, would drop quiet peers).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the network needs to start.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (and whenever the node has no peers).
    pub bootstrap: Vec<Multiaddr>,
    /// The market: the topic is `vtune/<market>/v1`.
    pub market: String,
    /// How often to run a sync round with each peer.
    pub sync_interval: Duration,
}

/// A failure of the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The swarm could not be built.
    #[error("cannot build the libp2p swarm: {0}")]
    Build(String),
    /// An address could not be listened on.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

/// What the network task reports about itself.
#[derive(Debug, Clone)]
pub struct NetworkStatus {
    /// This node's peer id.
    pub peer_id: PeerId,
    /// The addresses it listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// Connected peers.
    pub peers: Vec<PeerId>,
    /// Peers in the topic's mesh.
    pub mesh_peers: usize,
}

/// A command to the network task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Gossip a stored message (or announce it, if it is too large).
    Publish {
        id: MessageId,
        envelope: Vec<u8>,
    },
    Status(oneshot::Sender<NetworkStatus>),
    Shutdown(oneshot::Sender<()>),
}

/// A cloneable handle to the network task.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
}

impl NetworkHandle {
    /// Gossips a message that is already in the ledger. Peers that miss it (none subscribed
    /// yet, a partition) get it by sync, so this does not wait for delivery.
    pub async fn publish(&self, id: MessageId, envelope: Vec<u8>) -> Result<(), NetworkError> {
        self.send(Command::Publish { id, envelope }).await
    }

    /// The network's state.
    pub async fn status(&self) -> Result<NetworkStatus, NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Status(tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// Stops the network task; returns once it has stopped.
    pub async fn shutdown(&self) -> Result<(), NetworkError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Shutdown(tx)).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    async fn send(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetworkError::Stopped)
    }
}

/// Starts the network: builds the swarm, listens, dials the bootstrap peers and spawns the
/// task that owns the swarm. Returns the handle and the addresses listened on.
pub async fn start(
    key: &NodeKey,
    config: NetworkConfig,
    ledger: Ledger,
    metrics: std::sync::Arc<Metrics>,
    registry: &SharedRegistry,
) -> Result<(NetworkHandle, Vec<Multiaddr>, tokio::task::JoinHandle<()>), NetworkError> {
    let topic = gossip::topic(&config.market);
    let mut swarm = {
        let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
        build_swarm(key, &topic, Some(&mut registry))?
    };
    let libp2p_metrics = {
        let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
        libp2p::metrics::Metrics::new(&mut registry)
    };
    let mut listen_addrs = Vec::new();
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    // Wait for each listener's first address, so the caller can print where we are.
    while listen_addrs.len() < config.listen.len() {
        use futures::StreamExt;
        match swarm.select_next_some().await {
            libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } => listen_addrs.push(address),
            libp2p::swarm::SwarmEvent::ListenerError { error, .. }
            | libp2p::swarm::SwarmEvent::ListenerClosed {
                reason: Err(error), ..
            } => {
                return Err(NetworkError::Listen {
                    addr: config.listen[listen_addrs.len()].clone(),
                    reason: error.to_string(),
                });
            }
            _ => {}
        }
    }
    let (tx, rx) = mpsc::channel(256);
    let event_loop =
        event_loop::EventLoop::new(swarm, rx, topic, config, ledger, metrics, libp2p_metrics);
    let task = tokio::spawn(event_loop.run());
    Ok((NetworkHandle { commands: tx }, listen_addrs, task))
}
