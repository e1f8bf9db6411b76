//! The composed libp2p behaviour and the swarm built around it.

use libp2p::gossipsub::IdentTopic;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, allow_block_list, identify, kad, noise, ping, tcp, yamux,
};
use prometheus_client::registry::Registry;

use super::{IDLE_CONNECTION_TIMEOUT, NetworkError, gossip, sync};
use crate::keys::NodeKey;

/// The identify protocol version: nodes of other protocol versions are not vtune peers.
pub const PROTOCOL_VERSION: &str = "/vtune/1.0.0";
/// The kademlia protocol name, apart from the public IPFS DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/vtune/kad/1.0.0");

/// Every behaviour of a node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers blocked for their score.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Exchanges listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures round trips.
    pub ping: ping::Behaviour,
    /// The market's topic.
    pub gossipsub: libp2p::gossipsub::Behaviour,
    /// Peer discovery.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Catch-up and bodies.
    pub sync: sync::Behaviour,
}

/// Builds a node's swarm on tcp + noise + yamux, subscribed to `topic`. With a registry,
/// transport bandwidth and gossipsub metrics are recorded there.
pub fn build_swarm(
    key: &NodeKey,
    topic: &IdentTopic,
    mut registry: Option<&mut Registry>,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let build = |e: &dyn std::fmt::Display| NetworkError::Build(e.to_string());
    let mut gossipsub = gossip::behaviour(topic).map_err(|e| build(&e))?;
    if let Some(registry) = registry.as_deref_mut() {
        let registry = registry.sub_registry_with_prefix("libp2p_gossipsub");
        gossipsub = gossipsub.with_metrics(registry, Default::default());
    }
    gossipsub.subscribe(topic).map_err(|e| build(&e))?;
    let builder = SwarmBuilder::with_existing_identity(key.libp2p_keypair())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| build(&e))?;
    let make_behaviour = move |keypair: &libp2p::identity::Keypair| {
        let peer_id = keypair.public().to_peer_id();
        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        // The event loop bootstraps when it has peers; kad's own timer warns when alone.
        kad_config.set_periodic_bootstrap_interval(None);
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        kad.set_mode(Some(kad::Mode::Server));
        Behaviour {
            blocked: Default::default(),
            identify: identify::Behaviour::new(
                identify::Config::new(PROTOCOL_VERSION.to_string(), keypair.public())
                    .with_agent_version(format!("vtune-node/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::default(),
            gossipsub,
            kad,
            sync: sync::behaviour(),
        }
    };
    let swarm = match registry {
        Some(registry) => builder
            .with_bandwidth_metrics(registry)
            .with_behaviour(make_behaviour)
            .map_err(|e| build(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build(),
        None => builder
            .with_behaviour(make_behaviour)
            .map_err(|e| build(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build(),
    };
    Ok(swarm)
}
