//! The node's Prometheus metrics: peers, messages by kind, rejects by reason, ledger size and
//! sync rounds, beside libp2p's own (registered on the same registry).

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels naming a message kind and where it came from (`api`, `gossip`, `sync`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// `commitment`, `attestation` or `reveal`.
    pub kind: String,
    /// `api`, `gossip` or `sync`.
    pub source: String,
}

/// Labels naming why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A short reason, e.g. `signature`, `decode`, `commitment_mismatch`.
    pub reason: String,
    /// `api`, `gossip` or `sync`.
    pub source: String,
}

/// The node's own metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages stored, by kind and source.
    pub stored: Family<KindLabels, Counter>,
    /// Messages received again (already stored).
    pub duplicates: Counter,
    /// Messages refused, by reason.
    pub rejected: Family<ReasonLabels, Counter>,
    /// Connected peers.
    pub peers: Gauge,
    /// Messages in the ledger.
    pub ledger_messages: Gauge,
    /// Sync rounds completed (a round ends with a short page).
    pub sync_rounds: Counter,
    /// Sync pages received.
    pub sync_pages: Counter,
    /// Peers disconnected and blocked for their score.
    pub banned_peers: Counter,
    /// Messages published to the topic by this node.
    pub published: Counter,
}

impl Metrics {
    /// Registers the metrics under the `vtune` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("vtune");
        sub.register("stored_messages", "Messages stored", self.stored.clone());
        sub.register(
            "duplicate_messages",
            "Messages received that were already stored",
            self.duplicates.clone(),
        );
        sub.register(
            "rejected_messages",
            "Messages refused, by reason",
            self.rejected.clone(),
        );
        sub.register("peers", "Connected peers", self.peers.clone());
        sub.register(
            "ledger_messages",
            "Messages in the ledger",
            self.ledger_messages.clone(),
        );
        sub.register(
            "sync_rounds",
            "Sync rounds completed",
            self.sync_rounds.clone(),
        );
        sub.register("sync_pages", "Sync pages received", self.sync_pages.clone());
        sub.register(
            "banned_peers",
            "Peers disconnected for a low score",
            self.banned_peers.clone(),
        );
        sub.register(
            "published_messages",
            "Messages published to the topic",
            self.published.clone(),
        );
    }

    /// Counts a stored message.
    pub fn count_stored(&self, kind: &str, source: &str) {
        self.stored
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
                source: source.to_string(),
            })
            .inc();
    }

    /// Counts a refused message.
    pub fn count_rejected(&self, reason: &str, source: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
                source: source.to_string(),
            })
            .inc();
    }
}

/// The registry, shared by the swarm (which records libp2p's metrics) and the API (which
/// encodes it).
pub type SharedRegistry = std::sync::Arc<Mutex<Registry>>;
