//! The gossip topic: its name, how its messages are framed and identified, and the gossipsub
//! configuration and peer scoring tuned for a low-rate topic.
//!
//! A gossip message is either a whole envelope (`b'E' ‖ envelope`, for commitments and
//! attestations) or an announcement of a message too large for gossip (`b'A' ‖ id`, for
//! reveals): a peer that lacks the message fetches its body from whoever forwarded the
//! announcement. Envelopes are signed, so gossipsub runs anonymous (no author, no sequence
//! number) and a message's gossip id is its content: the message id for an envelope.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    ValidationMode,
};
use vtune_protocol::messages::MAX_GOSSIP_ENVELOPE_BYTES;
use vtune_protocol::messages::MessageId;

/// The tag of a gossiped envelope.
const ENVELOPE: u8 = b'E';
/// The tag of an announcement.
const ANNOUNCE: u8 = b'A';

/// The largest gossip frame: an envelope of the gossip limit, its tag, and gossipsub's own
/// framing.
pub const MAX_TRANSMIT_BYTES: usize = MAX_GOSSIP_ENVELOPE_BYTES + 1024;

/// A peer whose score falls below this is disconnected and blocked for a while. Three
/// invalid messages put a peer below it; one stray message from a peer on another version
/// does not.
pub const BAN_SCORE: f64 = -100.0;

/// The topic of a market: `vtune/<market>/v1`.
pub fn topic(market: &str) -> IdentTopic {
    IdentTopic::new(format!("vtune/{market}/v1"))
}

/// What a gossip message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipItem<'a> {
    /// A whole envelope.
    Envelope(&'a [u8]),
    /// The id of a message whose body is fetched by request-response.
    Announce(MessageId),
}

impl GossipItem<'_> {
    /// Frames the item as gossip data.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            GossipItem::Envelope(bytes) => [&[ENVELOPE], *bytes].concat(),
            GossipItem::Announce(id) => [&[ANNOUNCE], id.as_bytes().as_slice()].concat(),
        }
    }
}

/// Reads gossip data; `None` for a frame that is neither an envelope nor an announcement.
pub fn decode(data: &[u8]) -> Option<GossipItem<'_>> {
    match data.split_first()? {
        (&ENVELOPE, envelope) if envelope.len() <= MAX_GOSSIP_ENVELOPE_BYTES => {
            Some(GossipItem::Envelope(envelope))
        }
        (&ANNOUNCE, id) => Some(GossipItem::Announce(MessageId(id.try_into().ok()?))),
        _ => None,
    }
}

/// The gossip id of a frame: the message id of an envelope, blake3 of the frame otherwise
/// (so an announcement never collides with the envelope it announces).
pub fn gossip_id(data: &[u8]) -> gossipsub::MessageId {
    match data.split_first() {
        Some((&ENVELOPE, envelope)) => MessageId::of(envelope).as_bytes().to_vec().into(),
        _ => blake3::hash(data).as_bytes().to_vec().into(),
    }
}

/// The gossipsub behaviour of a node on `topic`, with validation and peer scoring on.
pub fn behaviour(topic: &IdentTopic) -> Result<gossipsub::Behaviour, String> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|message| gossip_id(&message.data))
        .max_transmit_size(MAX_TRANSMIT_BYTES)
        .heartbeat_interval(Duration::from_millis(700))
        // Validation answers come back within the message cache's window (history_length
        // heartbeats); 10 heartbeats leave room for a slow disk.
        .history_length(10)
        .duplicate_cache_time(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)?;
    gossipsub.with_peer_score(score_params(topic), score_thresholds())?;
    Ok(gossipsub)
}

/// Peer scoring for a quiet topic. Mesh-delivery penalties (P3, P3b) are off: a market may
/// see a message an hour, and an honest peer with nothing to forward must not lose score.
/// Invalid messages (P4) weigh heavily. IP colocation counts, except on loopback, where tests
/// and local clusters run many nodes.
fn score_params(topic: &IdentTopic) -> PeerScoreParams {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        ip_colocation_factor_weight: -10.0,
        ip_colocation_factor_threshold: 10.0,
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    params
}

fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_ids_are_content() {
        let envelope = b"envelope bytes".as_slice();
        let framed = GossipItem::Envelope(envelope).encode();
        assert_eq!(decode(&framed), Some(GossipItem::Envelope(envelope)));
        assert_eq!(
            gossip_id(&framed),
            MessageId::of(envelope).as_bytes().to_vec().into()
        );
        let id = MessageId::of(envelope);
        let announce = GossipItem::Announce(id).encode();
        assert_eq!(decode(&announce), Some(GossipItem::Announce(id)));
        assert_ne!(gossip_id(&announce), gossip_id(&framed));
    }

    #[test]
    fn unknown_and_oversized_frames_do_not_decode() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"Xabc"), None);
        assert_eq!(decode(b"Ashort"), None);
        let big = vec![ENVELOPE; MAX_GOSSIP_ENVELOPE_BYTES + 2];
        assert_eq!(decode(&big), None);
    }
}
