//! The task that owns the Swarm. It handles swarm events and commands, and hands every ledger
//! write (which flushes to disk) to the blocking pool; the results come back as [`Done`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError};
use libp2p::metrics::Recorder;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad};
use tokio::sync::mpsc;
use vtune_protocol::messages::MAX_GOSSIP_ENVELOPE_BYTES;
use vtune_protocol::messages::MessageId;

use super::gossip::{self, BAN_SCORE, GossipItem};
use super::sync::{self, Body, Id, SeqId, SyncRequest, SyncResponse};
use super::{Behaviour, BehaviourEvent, Command, NetworkConfig, NetworkStatus};
use crate::ingest::{self, Source};
use crate::ledger::{Epoch, InsertError, Ledger};
use crate::metrics::Metrics;

/// How long a peer that fell below [`BAN_SCORE`] stays blocked.
const BAN_TIME: Duration = Duration::from_secs(600);
/// Gossip messages validated at once; more are ignored (not forwarded; sync brings them).
const MAX_VALIDATING: usize = 256;
/// Frames kept for peers that were not subscribed yet when they were published.
const MAX_UNANNOUNCED: usize = 1024;
/// Peers the node dials on its own from the routing table.
const TARGET_PEERS: usize = 24;

/// The result of work done off the event loop.
enum Done {
    /// A gossiped (or announced and fetched) message was validated.
    Validated {
        gossip_id: gossipsub::MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    /// A page or body for a peer's request was read.
    Served {
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    /// The ids of a sync page that this node lacks were found.
    Missing {
        peer: PeerId,
        round: Round,
        ids: Vec<MessageId>,
    },
    /// A sync page from `peer` was stored (or not).
    PageStored {
        peer: PeerId,
        cursor: Option<(Epoch, u64)>,
        more: bool,
    },
}

/// What the loop knows of a connected peer.
#[derive(Debug, Default)]
struct Peer {
    /// A sync request to it is in flight.
    syncing: bool,
    /// Another round was asked for while one was in flight.
    again: bool,
    /// How far we have synced from it.
    cursor: Option<(Epoch, u64)>,
    /// Its requests we are serving.
    inbound: usize,
}

/// Where a sync round with a peer stands after it read one page of ids.
#[derive(Debug, Clone, Copy)]
struct Round {
    /// The peer's epoch.
    epoch: Epoch,
    /// The highest sequence number of the page: the cursor once the page is stored.
    top: u64,
    /// Whether the peer holds more after the page.
    more: bool,
}

/// An outstanding outbound request.
enum Pending {
    /// A page of ids.
    Page,
    /// The bodies of a page's ids this node lacks.
    Bodies { round: Round, asked: usize },
    /// The body of an announced message.
    Body {
        id: MessageId,
        gossip_id: gossipsub::MessageId,
    },
}

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    topic: IdentTopic,
    config: NetworkConfig,
    ledger: Ledger,
    metrics: Arc<Metrics>,
    p2p_metrics: libp2p::metrics::Metrics,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    peers: HashMap<PeerId, Peer>,
    pending: HashMap<OutboundRequestId, (PeerId, Pending)>,
    unannounced: VecDeque<Vec<u8>>,
    banned: HashMap<PeerId, Instant>,
    validating: usize,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        topic: IdentTopic,
        config: NetworkConfig,
        ledger: Ledger,
        metrics: Arc<Metrics>,
        p2p_metrics: libp2p::metrics::Metrics,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            swarm,
            commands,
            topic,
            config,
            ledger,
            metrics,
            p2p_metrics,
            done_tx,
            done_rx,
            peers: HashMap::new(),
            pending: HashMap::new(),
            unannounced: VecDeque::new(),
            banned: HashMap::new(),
            validating: 0,
        }
    }

    pub(super) async fn run(mut self) {
        for addr in self.config.bootstrap.clone() {
            self.dial(addr);
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut sync_tick = tokio::time::interval(self.config.sync_interval);
        let mut discovery_tick = tokio::time::interval(Duration::from_secs(5));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(done) = self.done_rx.recv() => self.on_done(done),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => return,
                },
                _ = tick.tick() => self.on_tick(),
                _ = sync_tick.tick() => {
                    let peers: Vec<PeerId> = self.peers.keys().copied().collect();
                    for peer in peers {
                        self.start_sync(peer);
                    }
                }
                _ = discovery_tick.tick() => {
                    ticks += 1;
                    self.discover(ticks);
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { id, envelope } => {
                let frame = if envelope.len() <= MAX_GOSSIP_ENVELOPE_BYTES {
                    GossipItem::Envelope(&envelope).encode()
                } else {
                    GossipItem::Announce(id).encode()
                };
                self.publish(frame);
            }
            Command::Status(reply) => {
                let gossipsub = &self.swarm.behaviour().gossipsub;
                let _ = reply.send(NetworkStatus {
                    peer_id: *self.swarm.local_peer_id(),
                    listen_addrs: self.swarm.listeners().cloned().collect(),
                    peers: self.swarm.connected_peers().copied().collect(),
                    mesh_peers: gossipsub.mesh_peers(&self.topic.hash()).count(),
                });
            }
            Command::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }

    /// Publishes a frame; one that no peer could take yet is kept for the next subscriber.
    fn publish(&mut self, frame: Vec<u8>) {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        match gossipsub.publish(self.topic.clone(), frame.clone()) {
            Ok(_) => {
                self.metrics.published.inc();
            }
            Err(PublishError::Duplicate) => {}
            Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                if self.unannounced.len() == MAX_UNANNOUNCED {
                    self.unannounced.pop_front();
                }
                self.unannounced.push_back(frame);
            }
            Err(e) => tracing::warn!("cannot publish a message: {e}"),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.p2p_metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => {
                self.p2p_metrics.record(&event);
                self.on_gossip(event);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                self.p2p_metrics.record(&event);
                if let identify::Event::Received { peer_id, info, .. } = event {
                    let kad = &mut self.swarm.behaviour_mut().kad;
                    for addr in info.listen_addrs {
                        kad.add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => {
                self.p2p_metrics.record(&event);
                if let kad::Event::RoutingUpdated {
                    peer, addresses, ..
                } = event
                {
                    self.maybe_dial(peer, addresses.into_vec());
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => self.p2p_metrics.record(&event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                tracing::debug!(%peer_id, "connected");
                self.peers.entry(peer_id).or_default();
                self.metrics.peers.set(self.peers.len() as i64);
                self.start_sync(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::debug!(%peer_id, "disconnected");
                self.peers.remove(&peer_id);
                self.metrics.peers.set(self.peers.len() as i64);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => self.validate(propagation_source, message_id, message.data),
            gossipsub::Event::Subscribed { peer_id, topic } if topic == self.topic.hash() => {
                for frame in std::mem::take(&mut self.unannounced) {
                    self.publish(frame);
                }
                self.start_sync(peer_id);
            }
            _ => {}
        }
    }

    /// Validates a gossiped frame off the loop, or fetches the body it announces.
    fn validate(&mut self, source: PeerId, gossip_id: gossipsub::MessageId, data: Vec<u8>) {
        let report = |s: &mut Self, acceptance| {
            s.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&gossip_id, &source, acceptance);
        };
        match gossip::decode(&data) {
            None => {
                self.metrics.count_rejected("frame", Source::Gossip.label());
                report(self, MessageAcceptance::Reject);
            }
            Some(_) if self.validating >= MAX_VALIDATING => report(self, MessageAcceptance::Ignore),
            Some(GossipItem::Announce(id)) => match self.ledger.contains(&id) {
                Ok(true) => report(self, MessageAcceptance::Accept),
                Ok(false) => {
                    let request_id = self.swarm.behaviour_mut().sync.send_request(
                        &source,
                        SyncRequest::Bodies {
                            ids: vec![Id(id.0)],
                        },
                    );
                    self.validating += 1;
                    self.pending
                        .insert(request_id, (source, Pending::Body { id, gossip_id }));
                }
                Err(e) => {
                    tracing::error!("ledger read failed: {e}");
                    report(self, MessageAcceptance::Ignore);
                }
            },
            Some(GossipItem::Envelope(_)) => {
                self.validating += 1;
                let frame_start = 1;
                self.store_off_loop(source, gossip_id, data, frame_start, Source::Gossip);
            }
        }
    }

    /// Stores `data[start..]` on the blocking pool and reports the verdict to gossipsub.
    fn store_off_loop(
        &self,
        source: PeerId,
        gossip_id: gossipsub::MessageId,
        data: Vec<u8>,
        start: usize,
        from: Source,
    ) {
        let (ledger, metrics, done) = (
            self.ledger.clone(),
            self.metrics.clone(),
            self.done_tx.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let acceptance = match ingest::ingest(&ledger, &metrics, &data[start..], from) {
                Ok(inserted) if inserted.new => MessageAcceptance::Accept,
                Ok(_) => MessageAcceptance::Ignore,
                Err(InsertError::Invalid(e)) => {
                    tracing::warn!(peer = %source, "rejected a gossiped message: {e}");
                    MessageAcceptance::Reject
                }
                Err(e) => {
                    tracing::error!("cannot store a gossiped message: {e}");
                    MessageAcceptance::Ignore
                }
            };
            let _ = done.send(Done::Validated {
                gossip_id,
                source,
                acceptance,
            });
        });
    }

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(peer, request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "sync request failed: {error}");
                match self.pending.remove(&request_id) {
                    Some((_, Pending::Page | Pending::Bodies { .. })) => {
                        if let Some(state) = self.peers.get_mut(&peer) {
                            state.syncing = false;
                        }
                    }
                    Some((_, Pending::Body { gossip_id, .. })) => {
                        self.validating -= 1;
                        self.swarm
                            .behaviour_mut()
                            .gossipsub
                            .report_message_validation_result(
                                &gossip_id,
                                &peer,
                                MessageAcceptance::Ignore,
                            );
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Answers a peer's request from the ledger, read off the loop.
    fn serve(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let state = self.peers.entry(peer).or_default();
        if state.inbound >= sync::MAX_INBOUND_PER_PEER {
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, SyncResponse::Busy);
            return;
        }
        state.inbound += 1;
        let (ledger, done) = (self.ledger.clone(), self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            let response = serve_request(&ledger, request).unwrap_or_else(|e| {
                tracing::error!("cannot read the ledger for a peer: {e}");
                SyncResponse::Unavailable
            });
            let _ = done.send(Done::Served {
                peer,
                channel,
                response,
            });
        });
    }

    fn on_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: SyncResponse) {
        let Some((_, pending)) = self.pending.remove(&request_id) else {
            return;
        };
        match (pending, response) {
            (Pending::Body { id, gossip_id }, SyncResponse::Bodies(mut bodies))
                if bodies.len() == 1 =>
            {
                match bodies.pop() {
                    Some(Body(Some(body))) if MessageId::of(&body) == id => {
                        self.store_off_loop(peer, gossip_id, body, 0, Source::Gossip);
                    }
                    // A body that is not the one announced is the peer's fault; no body
                    // may be a race with its own storage.
                    other => {
                        let acceptance = match other {
                            Some(Body(Some(_))) => MessageAcceptance::Reject,
                            _ => MessageAcceptance::Ignore,
                        };
                        self.finish_validation(&gossip_id, &peer, acceptance);
                    }
                }
            }
            (Pending::Body { gossip_id, .. }, _) => {
                self.finish_validation(&gossip_id, &peer, MessageAcceptance::Ignore);
            }
            (
                Pending::Page,
                SyncResponse::Page {
                    epoch,
                    entries,
                    last_seq,
                },
            ) => {
                self.metrics.sync_pages.inc();
                self.find_missing(peer, epoch, entries, last_seq);
            }
            (Pending::Bodies { round, asked }, SyncResponse::Bodies(bodies)) => {
                // Fewer bodies than asked: the answer was cut at its byte limit; the cursor
                // stays, and the next page lists the rest again.
                let complete = bodies.len() >= asked;
                let round = if complete {
                    round
                } else {
                    Round {
                        more: true,
                        ..round
                    }
                };
                let envelopes = bodies.into_iter().filter_map(|b| b.0).collect();
                self.store_page(peer, round, envelopes, complete);
            }
            (Pending::Page | Pending::Bodies { .. }, _) => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.syncing = false;
                }
            }
        }
    }

    /// Reports a validation result that did not go through [`Done::Validated`].
    fn finish_validation(
        &mut self,
        gossip_id: &gossipsub::MessageId,
        source: &PeerId,
        acceptance: MessageAcceptance,
    ) {
        self.validating -= 1;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(gossip_id, source, acceptance);
    }

    /// Finds, off the loop, which ids of a page this node lacks.
    fn find_missing(&self, peer: PeerId, epoch: Epoch, entries: Vec<SeqId>, last_seq: u64) {
        let (ledger, done) = (self.ledger.clone(), self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            let top = entries.last().map_or(last_seq, |e| e.seq);
            let round = Round {
                epoch,
                top,
                more: entries.last().is_some_and(|e| e.seq < last_seq),
            };
            let mut ids = Vec::new();
            for entry in &entries {
                let id = MessageId(entry.id.0);
                match ledger.contains(&id) {
                    Ok(true) => {}
                    Ok(false) => ids.push(id),
                    Err(e) => {
                        tracing::error!("cannot read the ledger: {e}");
                        let _ = done.send(Done::PageStored {
                            peer,
                            cursor: None,
                            more: false,
                        });
                        return;
                    }
                }
            }
            let _ = done.send(Done::Missing { peer, round, ids });
        });
    }

    /// Stores a page's bodies off the loop; the cursor advances (when `advance`) only once
    /// they are on disk.
    fn store_page(&mut self, peer: PeerId, round: Round, envelopes: Vec<Vec<u8>>, advance: bool) {
        let (ledger, metrics, done) = (
            self.ledger.clone(),
            self.metrics.clone(),
            self.done_tx.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let stored = ingest::ingest_batch(&ledger, &metrics, &envelopes, Source::Sync)
                .map_err(InsertError::from)
                .and_then(|results| {
                    let mut rejected = 0;
                    for result in results {
                        match result {
                            Ok(_) => {}
                            Err(InsertError::Invalid(_)) => rejected += 1,
                            Err(e) => return Err(e),
                        }
                    }
                    if rejected > 0 {
                        tracing::warn!(%peer, rejected, "a sync page held invalid messages");
                    }
                    if advance {
                        ledger.set_sync_cursor(&peer.to_bytes(), round.epoch, round.top)?;
                    }
                    Ok(())
                });
            let cursor = match stored {
                Ok(()) if advance => Some((round.epoch, round.top)),
                Ok(()) => None,
                Err(e) => {
                    tracing::error!("cannot store a sync page: {e}");
                    let _ = done.send(Done::PageStored {
                        peer,
                        cursor: None,
                        more: false,
                    });
                    return;
                }
            };
            let _ = done.send(Done::PageStored {
                peer,
                cursor,
                more: round.more,
            });
        });
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Validated {
                gossip_id,
                source,
                acceptance,
            } => {
                self.validating -= 1;
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&gossip_id, &source, acceptance);
            }
            Done::Served {
                peer,
                channel,
                response,
            } => {
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.inbound = state.inbound.saturating_sub(1);
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Done::Missing { peer, round, ids } => {
                if ids.is_empty() {
                    // Nothing to fetch: the page is already stored here.
                    self.store_page(peer, round, Vec::new(), true);
                } else {
                    let asked = ids.len();
                    let request = SyncRequest::Bodies {
                        ids: ids.into_iter().map(|id| Id(id.0)).collect(),
                    };
                    let request_id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                    self.pending
                        .insert(request_id, (peer, Pending::Bodies { round, asked }));
                }
            }
            Done::PageStored { peer, cursor, more } => {
                let Some(state) = self.peers.get_mut(&peer) else {
                    return;
                };
                state.syncing = false;
                if cursor.is_some() {
                    state.cursor = cursor;
                }
                if more {
                    self.start_sync(peer);
                } else {
                    self.metrics.sync_rounds.inc();
                    if std::mem::take(&mut state.again) {
                        self.start_sync(peer);
                    }
                }
            }
        }
    }

    /// Asks `peer` for what it stored after our cursor, unless a request is in flight.
    fn start_sync(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if state.syncing {
            state.again = true;
            return;
        }
        if state.cursor.is_none() {
            state.cursor = self
                .ledger
                .sync_cursor(&peer.to_bytes())
                .unwrap_or_else(|e| {
                    tracing::error!("cannot read a sync cursor: {e}");
                    None
                });
        }
        state.syncing = true;
        let (epoch, after) = match state.cursor {
            Some((epoch, seq)) => (Some(epoch), seq),
            None => (None, 0),
        };
        let request = SyncRequest::Since {
            epoch,
            after,
            limit: sync::MAX_PAGE_ENTRIES,
        };
        let request_id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.pending.insert(request_id, (peer, Pending::Page));
    }

    /// Once a second: disconnect and block peers whose score fell too low, lift old bans, and
    /// redial the bootstrap peers when alone.
    fn on_tick(&mut self) {
        let now = Instant::now();
        let low: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| {
                self.swarm
                    .behaviour()
                    .gossipsub
                    .peer_score(p)
                    .is_some_and(|score| score < BAN_SCORE)
            })
            .copied()
            .collect();
        for peer in low {
            tracing::warn!(%peer, "disconnecting a peer whose gossip score fell below {BAN_SCORE}");
            let behaviour = self.swarm.behaviour_mut();
            behaviour.blocked.block_peer(peer);
            behaviour.gossipsub.blacklist_peer(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.banned.insert(peer, now);
            self.metrics.banned_peers.inc();
        }
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, since)| now.duration_since(**since) > BAN_TIME)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            let behaviour = self.swarm.behaviour_mut();
            behaviour.blocked.unblock_peer(peer);
            behaviour.gossipsub.remove_blacklisted_peer(&peer);
        }
        self.metrics
            .ledger_messages
            .set(i64::try_from(self.ledger.len()).unwrap_or(i64::MAX));
    }

    /// Every 5 s when alone: the bootstrap peers and every peer of the routing table again.
    /// Every 30 s otherwise: a kademlia bootstrap, to find more peers.
    fn discover(&mut self, ticks: u64) {
        if self.peers.is_empty() {
            for addr in self.config.bootstrap.clone() {
                self.dial(addr);
            }
            let known: Vec<(PeerId, Vec<Multiaddr>)> = self
                .swarm
                .behaviour_mut()
                .kad
                .kbuckets()
                .flat_map(|bucket| {
                    bucket
                        .iter()
                        .map(|e| (*e.node.key.preimage(), e.node.value.clone().into_vec()))
                        .collect::<Vec<_>>()
                })
                .collect();
            for (peer, addresses) in known {
                self.maybe_dial(peer, addresses);
            }
        } else if ticks.is_multiple_of(6) {
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
    }

    fn maybe_dial(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        if self.peers.len() >= TARGET_PEERS
            || self.peers.contains_key(&peer)
            || self.banned.contains_key(&peer)
        {
            return;
        }
        let opts = DialOpts::peer_id(peer).addresses(addresses).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, "cannot dial: {e}");
        }
    }

    fn dial(&mut self, addr: Multiaddr) {
        if let Err(e) = self.swarm.dial(addr.clone()) {
            tracing::warn!(%addr, "cannot dial a bootstrap peer: {e}");
        }
    }
}

/// The answer to a peer's request, read from the ledger.
fn serve_request(
    ledger: &Ledger,
    request: SyncRequest,
) -> Result<SyncResponse, crate::ledger::LedgerError> {
    Ok(match request {
        SyncRequest::Since {
            epoch,
            after,
            limit,
        } => {
            let after = if epoch == Some(ledger.epoch()) {
                after
            } else {
                0
            };
            let limit = limit.clamp(1, sync::MAX_PAGE_ENTRIES) as usize;
            let (ids, last_seq) = ledger.ids_since(after, limit)?;
            SyncResponse::Page {
                epoch: ledger.epoch(),
                entries: ids
                    .into_iter()
                    .map(|(seq, id)| SeqId { seq, id: Id(id.0) })
                    .collect(),
                last_seq,
            }
        }
        SyncRequest::Bodies { ids } => {
            let mut bodies = Vec::new();
            let mut bytes = 0;
            for id in ids.iter().take(sync::MAX_PAGE_ENTRIES as usize) {
                let body = ledger.get(&MessageId(id.0))?;
                let len = body.as_ref().map_or(0, Vec::len);
                if !bodies.is_empty() && bytes + len > sync::MAX_PAGE_BYTES {
                    break;
                }
                bytes += len;
                bodies.push(Body(body));
            }
            SyncResponse::Bodies(bodies)
        }
    })
}
