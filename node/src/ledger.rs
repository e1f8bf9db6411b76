//! The sled ledger of signed messages, with indexes and equivocation flags.
//!
//! [`Ledger`] is the only code that knows the storage engine is sled. It keeps the trees of
//! ARCHITECTURE.md (`messages`, `by_job`, `by_provider`, `by_attester`) plus `by_time` and
//! `equivocations`; their key layouts are in `ledger/keys.rs`.
//!
//! - Insert verifies the envelope (signature, size, self-consistency) before it stores
//!   anything, and is idempotent by message id.
//! - A write is acknowledged only after it was flushed to disk. Index entries are written
//!   before the message itself and sled recovers a prefix of its writes, so after a crash
//!   every stored message has its index entries; an index entry whose message is missing is
//!   skipped by queries and rewritten when the message arrives again.
//! - Two attestations of one job by one attester with contradicting verdicts (a `pass` and a
//!   `fail`) are both kept and the attester is flagged. `inconclusive` says nothing about the
//!   model, so a re-run after an inconclusive one is no equivocation.

mod binding;
mod keys;
mod page;
mod sequence;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use vtune_protocol::envelope::{SignerKeys, Verified};
use vtune_protocol::messages::OpenError;
use vtune_protocol::messages::{AnyMessage, JobId, MessageId, PublicKey, open_any_with};

pub use page::{Cursor, Entry, MAX_PAGE, Page, PageRequest};
pub use sequence::{Epoch, SeqPage};

/// How many signers' decompressed keys the ledger keeps.
const SIGNER_KEYS: usize = 4096;

/// Envelopes per unit of work of a thread in [`Ledger::insert_batch`].
const BATCH_CHUNK: usize = 64;

/// A storage failure, with the engine's error hidden behind a box.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The database at `path` could not be opened.
    #[error("cannot open the ledger at {path}: {source}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// The engine's reason.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A read or write failed.
    #[error("ledger storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored record is not in the expected layout.
    #[error("ledger record in `{tree}` is corrupt")]
    Corrupt {
        /// The tree holding it.
        tree: &'static str,
    },
    /// A cursor that does not belong to this query.
    #[error("cursor {0} does not belong to this query")]
    BadCursor(Cursor),
}

impl From<sled::Error> for LedgerError {
    fn from(e: sled::Error) -> Self {
        LedgerError::Storage(Box::new(e))
    }
}

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The envelope failed verification.
    #[error("rejected: {0}")]
    Invalid(#[from] OpenError),
    /// Storage failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sled::Error> for InsertError {
    fn from(e: sled::Error) -> Self {
        InsertError::Ledger(e.into())
    }
}

/// Two attestations of one job by one attester with different verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Equivocation {
    /// The flagged attester.
    pub attester: PublicKey,
    /// The job.
    pub job_id: JobId,
    /// The attestation stored first.
    pub first: MessageId,
    /// The attestation that contradicts it.
    pub second: MessageId,
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The message id.
    pub id: MessageId,
    /// `commitment`, `attestation` or `reveal`.
    pub kind: &'static str,
    /// `false` when the message was already stored (nothing was written).
    pub new: bool,
    /// Set when this attestation contradicts an earlier one by the same attester.
    pub equivocation: Option<Equivocation>,
}

/// The ledger: a cheap-to-clone handle to one sled database.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: Arc<Trees>,
}

#[derive(Debug)]
struct Trees {
    db: sled::Db,
    messages: sled::Tree,
    by_job: sled::Tree,
    by_provider: sled::Tree,
    by_attester: sled::Tree,
    by_time: sled::Tree,
    equivocations: sled::Tree,
    /// `seq (8)` → id: the order in which this node stored its messages, for sync.
    by_seq: sled::Tree,
    /// `peer` → `epoch (16) ‖ seq (8)`: how far this node has synced from each peer.
    sync_cursors: sled::Tree,
    /// This ledger's random epoch: sequence numbers mean something only within one epoch.
    epoch: Epoch,
    /// The next sequence number; held while a message is stored, so that sequence numbers
    /// become visible in order and a sync peer that has read up to `s` never misses one below.
    next_seq: Mutex<u64>,
    /// Signers' decompressed keys, for verification.
    keys: SignerKeys,
    /// Serializes the equivocation check and the verdict's index entry, so that of two
    /// contradicting attestations stored at once, the second always sees the first.
    verdict_lock: Mutex<()>,
}

/// Opens the sled database at `path`. sled's background threads keep the directory's lock for
/// a moment after the last handle of a previous open is dropped, so a lock held elsewhere is
/// waited for, up to about two seconds, before it is an error.
fn open_db(path: &Path) -> sled::Result<sled::Db> {
    let mut wait = std::time::Duration::from_millis(5);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let opened = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .open();
        match opened {
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

impl Ledger {
    /// Opens (or creates) the ledger in the directory `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let open_err = |e: sled::Error| LedgerError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        let db = open_db(path).map_err(open_err)?;
        let tree = |name: &str| db.open_tree(name).map_err(open_err);
        let inner = Trees {
            messages: tree(keys::MESSAGES)?,
            by_job: tree(keys::BY_JOB)?,
            by_provider: tree(keys::BY_PROVIDER)?,
            by_attester: tree(keys::BY_ATTESTER)?,
            by_time: tree(keys::BY_TIME)?,
            equivocations: tree(keys::EQUIVOCATIONS)?,
            epoch: sequence::load_epoch(&tree(keys::META)?).map_err(open_err)?,
            next_seq: Mutex::new(sequence::next_seq(&tree(keys::BY_SEQ)?).map_err(open_err)?),
            by_seq: tree(keys::BY_SEQ)?,
            sync_cursors: tree(keys::SYNC_CURSORS)?,
            verdict_lock: Mutex::new(()),
            keys: SignerKeys::new(SIGNER_KEYS),
            db,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Verifies and stores one envelope; returns once it is on disk.
    pub fn insert(&self, envelope: &[u8]) -> Result<Inserted, InsertError> {
        let verified = open_any_with(envelope, &self.inner.keys)?;
        let inserted = self.store(&verified, envelope)?;
        self.flush()?;
        Ok(inserted)
    }

    /// Verifies and stores several envelopes with one flush at the end: every `Ok` is on disk
    /// when this returns. Results are in input order. In a large batch, worker threads (one
    /// per core but one) verify while this thread stores what they verified: sled takes
    /// writes best from one thread.
    pub fn insert_batch<B: AsRef<[u8]> + Sync>(
        &self,
        envelopes: &[B],
    ) -> Result<Vec<Result<Inserted, InsertError>>, LedgerError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = (cores.max(2) - 1).min(envelopes.len() / BATCH_CHUNK);
        let results = if workers == 0 {
            envelopes
                .iter()
                .map(|bytes| {
                    let verified = open_any_with(bytes.as_ref(), &self.inner.keys)?;
                    self.store(&verified, bytes.as_ref())
                })
                .collect()
        } else {
            self.verify_in_parallel_and_store(envelopes, workers)
        };
        self.flush()?;
        Ok(results)
    }

    /// `workers` threads verify chunks of the batch; this thread stores each chunk as it
    /// arrives (a bounded channel keeps at most two chunks per worker in flight).
    fn verify_in_parallel_and_store<B: AsRef<[u8]> + Sync>(
        &self,
        envelopes: &[B],
        workers: usize,
    ) -> Vec<Result<Inserted, InsertError>> {
        type Opened = Vec<(usize, Result<Verified<AnyMessage>, OpenError>)>;
        let next = AtomicUsize::new(0);
        let mut results: Vec<Option<Result<Inserted, InsertError>>> =
            (0..envelopes.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Opened>(2 * workers);
            for _ in 0..workers {
                let (tx, next) = (tx.clone(), &next);
                scope.spawn(move || {
                    loop {
                        let start = next.fetch_add(BATCH_CHUNK, Ordering::Relaxed);
                        if start >= envelopes.len() {
                            break;
                        }
                        let end = (start + BATCH_CHUNK).min(envelopes.len());
                        let chunk = (start..end)
                            .map(|i| (i, open_any_with(envelopes[i].as_ref(), &self.inner.keys)))
                            .collect();
                        if tx.send(chunk).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for chunk in rx {
                for (i, opened) in chunk {
                    results[i] = Some(match opened {
                        Ok(v) => self.store(&v, envelopes[i].as_ref()),
                        Err(e) => Err(e.into()),
                    });
                }
            }
        });
        results
            .into_iter()
            .map(|r| r.expect("every envelope is verified by exactly one worker"))
            .collect()
    }

    /// Stores a message that was already verified (by gossip validation, say); returns once
    /// it is on disk.
    pub fn insert_verified(&self, message: &Verified<AnyMessage>) -> Result<Inserted, InsertError> {
        let inserted = self.store(message, &message.envelope().to_bytes())?;
        self.flush()?;
        Ok(inserted)
    }

    /// Makes every earlier write durable.
    pub fn flush(&self) -> Result<(), LedgerError> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// Writes a verified message and its index entries, without flushing. The message goes
    /// last, so a message that is stored always has its index entries. An attestation or a
    /// reveal that contradicts a stored commitment of its job is refused.
    fn store(
        &self,
        verified: &Verified<AnyMessage>,
        bytes: &[u8],
    ) -> Result<Inserted, InsertError> {
        let t = &*self.inner;
        let id = verified.id();
        let mut next_seq = t
            .next_seq
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if t.messages.contains_key(id.as_bytes())? {
            return Ok(Inserted {
                id,
                kind: verified.message().kind(),
                new: false,
                equivocation: None,
            });
        }
        self.check_binding(verified)?;
        let message = verified.message();
        let time = message.created_at();
        let mut equivocation = None;
        t.by_job
            .insert(keys::timed(message.job_id().as_bytes(), time, &id), &[])?;
        t.by_time.insert(keys::timed(&[], time, &id), &[])?;
        match message {
            AnyMessage::Commitment(c) => {
                let provider = keys::provider_prefix(&c.provider);
                t.by_provider
                    .insert(keys::timed(&provider, time, &id), &[])?;
            }
            AnyMessage::Attestation(a) => {
                let provider = keys::provider_prefix(&a.provider);
                t.by_provider
                    .insert(keys::timed(&provider, time, &id), &[])?;
                equivocation = self.record_verdict(a.job_id, a.attester, a.verdict, id)?;
            }
            AnyMessage::Reveal(_) | AnyMessage::SealedSecret(_) => {}
        }
        t.by_seq.insert(next_seq.to_be_bytes(), id.as_bytes())?;
        *next_seq += 1;
        t.messages.insert(id.as_bytes(), bytes)?;
        Ok(Inserted {
            id,
            kind: message.kind(),
            new: true,
            equivocation,
        })
    }

    /// Adds an attestation to its attester's index and flags the attester if an earlier
    /// verdict of theirs on the same job contradicts it (one lookup).
    fn record_verdict(
        &self,
        job: JobId,
        attester: PublicKey,
        verdict: vtune_protocol::verdict::Verdict,
        id: MessageId,
    ) -> Result<Option<Equivocation>, LedgerError> {
        let t = &*self.inner;
        let prefix = keys::attester_job_prefix(&attester, &job);
        let _guard = t
            .verdict_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut contradicted = None;
        for other in keys::contradicting(verdict) {
            let mut other_prefix = prefix.clone();
            other_prefix.push(other);
            if let Some(item) = t.by_attester.scan_prefix(&other_prefix).next() {
                let (key, _) = item?;
                contradicted = Some(keys::id_of(&key).ok_or(LedgerError::Corrupt {
                    tree: keys::BY_ATTESTER,
                })?);
            }
        }
        let mut key = prefix;
        key.push(keys::verdict_code(verdict));
        key.extend_from_slice(id.as_bytes());
        t.by_attester.insert(key, &[])?;
        let Some(first) = contradicted else {
            return Ok(None);
        };
        let flag_key = keys::equivocation_key(&attester, &job);
        if t.equivocations.get(&flag_key)?.is_none() {
            let mut value = first.as_bytes().to_vec();
            value.extend_from_slice(id.as_bytes());
            t.equivocations.insert(flag_key, value)?;
        }
        Ok(Some(Equivocation {
            attester,
            job_id: job,
            first,
            second: id,
        }))
    }

    /// The envelope bytes of message `id`, if stored.
    pub fn get(&self, id: &MessageId) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.inner.messages.get(id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Whether message `id` is stored.
    pub fn contains(&self, id: &MessageId) -> Result<bool, LedgerError> {
        Ok(self.inner.messages.contains_key(id.as_bytes())?)
    }

    /// How many messages are stored.
    pub fn len(&self) -> usize {
        self.inner.messages.len()
    }

    /// Whether the ledger is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.messages.is_empty()
    }

    /// Messages about one job (its commitment, attestations and reveal).
    pub fn by_job(&self, job: &JobId, page: &PageRequest) -> Result<Page, LedgerError> {
        self.scan(&self.inner.by_job, job.as_bytes(), page)
    }

    /// Commitments and attestations naming one provider.
    pub fn by_provider(&self, provider: &str, page: &PageRequest) -> Result<Page, LedgerError> {
        self.scan(
            &self.inner.by_provider,
            &keys::provider_prefix(provider),
            page,
        )
    }

    /// Attestations by one attester, ordered by job (then verdict and id).
    pub fn by_attester(
        &self,
        attester: &PublicKey,
        page: &PageRequest,
    ) -> Result<Page, LedgerError> {
        self.scan(&self.inner.by_attester, attester.as_bytes(), page)
    }

    /// Messages whose `created_at` is in `from..to` (unix seconds).
    pub fn by_time(&self, from: u64, to: u64, page: &PageRequest) -> Result<Page, LedgerError> {
        let start = from.to_be_bytes().to_vec();
        let end = to.to_be_bytes().to_vec();
        let lower = match &page.after {
            Some(cursor) if cursor.0 >= start && cursor.0 < end => {
                Bound::Excluded(cursor.0.clone())
            }
            Some(cursor) => return Err(LedgerError::BadCursor(cursor.clone())),
            None => Bound::Included(start),
        };
        let iter = self.inner.by_time.range((lower, Bound::Excluded(end)));
        self.collect_page(iter, page.limit)
    }

    /// The equivocations recorded against `attester`, one per job.
    pub fn equivocations(&self, attester: &PublicKey) -> Result<Vec<Equivocation>, LedgerError> {
        self.inner
            .equivocations
            .scan_prefix(attester.as_bytes())
            .map(|item| decode_equivocation(item?))
            .collect()
    }

    /// Every recorded equivocation, ordered by attester then job.
    pub fn all_equivocations(&self) -> Result<Vec<Equivocation>, LedgerError> {
        self.inner
            .equivocations
            .iter()
            .map(|item| decode_equivocation(item?))
            .collect()
    }

    /// Whether `attester` has equivocated on any job.
    pub fn is_flagged(&self, attester: &PublicKey) -> Result<bool, LedgerError> {
        Ok(self
            .inner
            .equivocations
            .scan_prefix(attester.as_bytes())
            .next()
            .transpose()?
            .is_some())
    }

    /// One page of the index entries under `prefix`.
    fn scan(
        &self,
        tree: &sled::Tree,
        prefix: &[u8],
        page: &PageRequest,
    ) -> Result<Page, LedgerError> {
        let lower = match &page.after {
            Some(cursor) if cursor.0.starts_with(prefix) => Bound::Excluded(cursor.0.clone()),
            Some(cursor) => return Err(LedgerError::BadCursor(cursor.clone())),
            None => Bound::Included(prefix.to_vec()),
        };
        let prefix = prefix.to_vec();
        let iter = tree
            .range((lower, Bound::Unbounded))
            .take_while(move |item| match item {
                Ok((key, _)) => key.starts_with(&prefix),
                Err(_) => true,
            });
        self.collect_page(iter, page.limit)
    }

    /// Takes up to `limit` entries whose messages are present, and the cursor after them.
    fn collect_page(
        &self,
        iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        limit: usize,
    ) -> Result<Page, LedgerError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut entries = Vec::with_capacity(limit.min(64));
        let mut last_key = None;
        for item in iter {
            let (key, _) = item?;
            if entries.len() == limit {
                return Ok(Page {
                    entries,
                    next: last_key.map(Cursor),
                });
            }
            let id = keys::id_of(&key).ok_or(LedgerError::Corrupt { tree: "index" })?;
            // An index entry written just before a crash may lack its message: skip it.
            if let Some(envelope) = self.inner.messages.get(id.as_bytes())? {
                entries.push(Entry {
                    id,
                    envelope: envelope.to_vec(),
                });
            }
            last_key = Some(key.to_vec());
        }
        Ok(Page {
            entries,
            next: None,
        })
    }
}

fn decode_equivocation(
    (key, value): (sled::IVec, sled::IVec),
) -> Result<Equivocation, LedgerError> {
    let corrupt = || LedgerError::Corrupt {
        tree: keys::EQUIVOCATIONS,
    };
    if key.len() != 48 || value.len() != 64 {
        return Err(corrupt());
    }
    let bytes32 = |b: &[u8]| -> [u8; 32] { b.try_into().expect("length checked") };
    Ok(Equivocation {
        attester: PublicKey(bytes32(&key[..32])),
        job_id: JobId(key[32..].try_into().map_err(|_| corrupt())?),
        first: MessageId(bytes32(&value[..32])),
        second: MessageId(bytes32(&value[32..])),
    })
}

#[cfg(test)]
mod tests;
