//! The request-response protocol `/vtune/sync/1`: catching up on a peer's ledger by its
//! insertion sequence, and fetching one message's body by id.
//!
//! A node keeps, per peer, the highest sequence number of that peer's ledger it has stored
//! (see `ledger/sequence.rs`). Each round asks for what follows, a bounded page at a time,
//! until a page comes back short. Rounds run when a peer connects or subscribes and then
//! periodically, so a node that joins late, was offline or was cut off by a partition gets
//! everything its peers hold.

use std::time::Duration;

use libp2p::StreamProtocol;
use libp2p::request_response::{self, ProtocolSupport};
use serde::{Deserialize, Serialize};
use vtune_protocol::messages::MAX_ENVELOPE_BYTES;

use crate::ledger::Epoch;

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/vtune/sync/1");

/// The most entries a page holds.
pub const MAX_PAGE_ENTRIES: u32 = 1024;
/// The envelope bytes a page holds at most (a page always holds at least one entry).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Inbound requests one peer may have in progress at once; more are answered `Busy`.
pub const MAX_INBOUND_PER_PEER: usize = 2;
/// The largest request on the wire: a `Bodies` request of a full page of ids.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// The largest response: a page of `MAX_PAGE_BYTES`, or one message of the largest size,
/// with room for framing.
const MAX_RESPONSE_BYTES: u64 = (if MAX_PAGE_BYTES > MAX_ENVELOPE_BYTES {
    MAX_PAGE_BYTES
} else {
    MAX_ENVELOPE_BYTES
} + 64 * 1024) as u64;

/// A request to a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// The ids of the messages the peer stored after sequence number `after`, at most
    /// `limit`.
    Since {
        /// The responder's epoch that `after` counts in; from another epoch (or none), the
        /// responder starts from its first message.
        epoch: Option<Epoch>,
        /// The last sequence number already held.
        after: u64,
        /// The most entries wanted (capped at [`MAX_PAGE_ENTRIES`]).
        limit: u32,
    },
    /// Envelopes, by id (at most [`MAX_PAGE_ENTRIES`] ids).
    Bodies {
        /// The message ids.
        ids: Vec<Id>,
    },
}

/// A message id on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Id(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// One entry of a page: a sequence number of the responder and the id stored under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqId {
    /// Its sequence number in the responder's ledger.
    pub seq: u64,
    /// The message id.
    pub id: Id,
}

/// One envelope of a `Bodies` answer, or `None` if the responder does not hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body(#[serde(with = "serde_bytes")] pub Option<Vec<u8>>);

/// A peer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// A page of the responder's sequence: ids only, so that a node fetches just the
    /// messages it lacks (most arrive by gossip first).
    Page {
        /// The responder's ledger epoch (cursors of another epoch start over).
        epoch: Epoch,
        /// The entries, ascending.
        entries: Vec<SeqId>,
        /// The responder's highest sequence number when it read the page.
        last_seq: u64,
    },
    /// The bodies asked for, in the order asked, stopping once [`MAX_PAGE_BYTES`] is reached
    /// (always one at least): fewer bodies than ids means "ask again for the rest".
    Bodies(Vec<Body>),
    /// Too many requests from this peer in progress; try later.
    Busy,
    /// The responder failed to read its ledger.
    Unavailable,
}

/// The request-response behaviour of the protocol, with its size limits.
pub type Behaviour =
    request_response::Behaviour<request_response::cbor::codec::Codec<SyncRequest, SyncResponse>>;

/// Builds the behaviour.
pub fn behaviour() -> Behaviour {
    let codec = request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(MAX_REQUEST_BYTES)
        .set_response_size_maximum(MAX_RESPONSE_BYTES);
    request_response::Behaviour::with_codec(
        codec,
        [(PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(30))
            .with_max_concurrent_streams(64),
    )
}
