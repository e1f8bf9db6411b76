//! A test client built to misbehave: a libp2p peer that joins the topic and floods it with
//! invalid envelopes.

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use vtune_node::keys::NodeKey;
use vtune_node::network::gossip::{self, GossipItem};
use vtune_node::network::{BehaviourEvent, build_swarm};

/// What the flood did.
#[derive(Debug)]
pub struct FloodReport {
    /// Invalid messages published.
    pub sent: usize,
    /// Whether the target closed the connection.
    pub disconnected: bool,
    /// Whether a redial after the disconnection stayed connected for a second.
    pub readmitted: bool,
}

/// Connects to `target` (a multiaddr with `/p2p/`), waits for its subscription to the
/// market's topic, then publishes invalid envelopes until disconnected or `timeout`.
pub fn flood(target: &str, market: &str, timeout: Duration) -> FloodReport {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let topic = gossip::topic(market);
        let mut swarm = build_swarm(&NodeKey::generate(), &topic, None).unwrap();
        let addr: Multiaddr = target.parse().unwrap();
        let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
            panic!("{target} has no /p2p/ part");
        };
        swarm.dial(addr.clone()).unwrap();
        let deadline = Instant::now() + timeout;
        let mut report = FloodReport {
            sent: 0,
            disconnected: false,
            readmitted: false,
        };
        let mut subscribed = false;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while Instant::now() < deadline && !report.disconnected {
            tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                        libp2p::gossipsub::Event::Subscribed { peer_id, .. },
                    )) if peer_id == peer => subscribed = true,
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. }
                        if peer_id == peer && subscribed => report.disconnected = true,
                    _ => {}
                },
                _ = tick.tick(), if subscribed => {
                    let garbage = format!("not an envelope {}", report.sent).into_bytes();
                    let frame = GossipItem::Envelope(&garbage).encode();
                    if swarm.behaviour_mut().gossipsub.publish(topic.clone(), frame).is_ok() {
                        report.sent += 1;
                    }
                }
            }
        }
        if report.disconnected {
            report.readmitted = stays_connected(&mut swarm, addr, peer).await;
        }
        report
    })
}

/// Redials and reports whether the connection lasts a second.
async fn stays_connected(
    swarm: &mut libp2p::Swarm<vtune_node::network::Behaviour>,
    addr: Multiaddr,
    peer: PeerId,
) -> bool {
    if swarm.dial(addr).is_err() {
        return false;
    }
    let mut connected = false;
    let until = tokio::time::sleep(Duration::from_secs(2));
    tokio::pin!(until);
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == peer => connected = true,
                SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == peer => return false,
                SwarmEvent::OutgoingConnectionError { .. } => return false,
                _ => {}
            },
            _ = &mut until => return connected,
        }
    }
}
