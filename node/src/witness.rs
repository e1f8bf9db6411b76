//! Witness mode (`vtune-node run --witness`): a node named as a witness in a job's commitment
//! opens the secret set the buyer sealed to it, re-runs the committed verification against the
//! provider's endpoint while the set is still secret, and publishes a `witness` attestation.
//!
//! The task watches the ledger (whatever the message came by: gossip, sync or the API) for
//! sealed secrets with a box for this node, and handles them one at a time, within the
//! request budget. The opened set lives in memory for the one run and is never logged or
//! written; only the signed attestation (counts and statistics) leaves the task.

mod verify;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use vtune_protocol::envelope::{Envelope, Verified};
use vtune_protocol::messages::{AnyMessage, SealedSecret, open_any};

use crate::ingest::{self, Source};
use crate::keys::NodeKey;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::network::NetworkHandle;

pub use verify::{WitnessError, verify_sealed};

/// How a witness runs.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Requests per minute to a provider's endpoint, at most (`--witness-budget`).
    pub budget_per_minute: u32,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// The limit of one request.
    pub timeout: Duration,
    /// Retries of a failed request.
    pub max_retries: u32,
    /// How often the ledger is looked at for new sealed secrets.
    pub poll: Duration,
}

/// The default `--witness-budget`: requests per minute.
pub const DEFAULT_BUDGET: u32 = 600;

impl Default for WitnessConfig {
    fn default() -> Self {
        Self {
            budget_per_minute: DEFAULT_BUDGET,
            concurrency: 2,
            timeout: Duration::from_secs(60),
            max_retries: 2,
            poll: Duration::from_millis(500),
        }
    }
}

/// The running witness task.
pub(crate) struct Witness {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Witness {
    /// Starts the task.
    pub(crate) fn start(
        key: NodeKey,
        ledger: Ledger,
        metrics: Arc<Metrics>,
        network: NetworkHandle,
        config: WitnessConfig,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(watch(key, ledger, metrics, network, config, stopped));
        Self { stop, task }
    }

    /// Stops the task (abandoning a run in progress) and waits for it.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Reads the ledger in insertion order and witnesses every sealed secret addressed here.
async fn watch(
    key: NodeKey,
    ledger: Ledger,
    metrics: Arc<Metrics>,
    network: NetworkHandle,
    config: WitnessConfig,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut after = 0;
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(config.poll) => {}
        }
        let reader = ledger.clone();
        let page = match tokio::task::spawn_blocking(move || reader.since(after, 256, 64 << 20))
            .await
            .expect("reading the ledger does not panic")
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "witness: cannot read the ledger");
                continue;
            }
        };
        for (seq, envelope) in page.entries {
            after = seq;
            let Some(sealed) = addressed(&envelope, &key) else {
                continue;
            };
            let work = witness_one(&key, &ledger, &metrics, &network, &config, sealed);
            tokio::select! {
                _ = &mut stopped => return,
                _ = work => {}
            }
        }
    }
}

/// The sealed secret in `envelope`, if it is one with a box for this node.
fn addressed(envelope: &[u8], key: &NodeKey) -> Option<Verified<SealedSecret>> {
    let payload_type = Envelope::decode(envelope).ok()?.payload_type;
    if payload_type != <SealedSecret as vtune_protocol::messages::Message>::PAYLOAD_TYPE {
        return None;
    }
    let sealed = open_any(envelope).ok()?.downcast::<SealedSecret>().ok()?;
    sealed.message().is_for(&key.public()).then_some(sealed)
}

/// Witnesses one job, unless this node has already attested it; logs what went wrong.
async fn witness_one(
    key: &NodeKey,
    ledger: &Ledger,
    metrics: &Arc<Metrics>,
    network: &NetworkHandle,
    config: &WitnessConfig,
    sealed: Verified<SealedSecret>,
) {
    let job = sealed.message().job_id;
    let me = key.public();
    let reader = ledger.clone();
    let buyer = sealed.message().buyer;
    let done =
        tokio::task::spawn_blocking(move || attested_or_revealed(&reader, &job, &me, &buyer))
            .await
            .expect("reading the ledger does not panic");
    if done {
        return;
    }
    tracing::info!(job = %job.fmt_short(), "witness: verifying a job sealed to this node");
    let envelopes = match verify_sealed(&sealed, key, config, crate::clock::unix_now()).await {
        Ok(envelopes) => envelopes,
        Err(error) => {
            tracing::warn!(job = %job.fmt_short(), %error, "witness: not attesting");
            return;
        }
    };
    for bytes in envelopes {
        let (store, metrics_) = (ledger.clone(), metrics.clone());
        let copy = bytes.clone();
        let stored = tokio::task::spawn_blocking(move || {
            ingest::ingest(&store, &metrics_, &copy, Source::Witness)
        })
        .await
        .expect("storing does not panic");
        match stored {
            Ok(inserted) => {
                if inserted.kind == "attestation" {
                    tracing::info!(job = %job.fmt_short(), id = %inserted.id.fmt_short(), "witness: attested");
                }
                if inserted.new
                    && let Err(error) = network.publish(inserted.id, bytes).await
                {
                    tracing::warn!(%error, "witness: cannot gossip");
                }
            }
            Err(error) => tracing::warn!(job = %job.fmt_short(), %error, "witness: not stored"),
        }
    }
}

/// Whether `me` has signed an attestation of `job` that this ledger holds, or the job's set
/// is already public: the ledger holds a reveal of it by its `buyer` (then a check proves
/// nothing: the provider knows the triggers).
fn attested_or_revealed(
    ledger: &Ledger,
    job: &vtune_protocol::messages::JobId,
    me: &vtune_protocol::messages::PublicKey,
    buyer: &vtune_protocol::messages::PublicKey,
) -> bool {
    let mut request = crate::ledger::PageRequest::first(crate::ledger::MAX_PAGE);
    loop {
        let Ok(page) = ledger.by_job(job, &request) else {
            return false;
        };
        let found = page.entries.iter().any(|entry| {
            entry.open().is_ok_and(|v| match v.message() {
                AnyMessage::Attestation(a) => a.attester == *me,
                AnyMessage::Reveal(_) => v.signer() == *buyer,
                _ => false,
            })
        });
        if found {
            return true;
        }
        match page.next {
            Some(next) => {
                request = crate::ledger::PageRequest::after(next, crate::ledger::MAX_PAGE)
            }
            None => return false,
        }
    }
}
