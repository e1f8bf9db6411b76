//! The ledger's insertion sequence and the sync cursors kept over peers' sequences.
//!
//! Every message a ledger stores gets the next number of its sequence (from 1). A peer that
//! has read everything up to `s` asks for what follows `s`; since numbers are handed out in
//! order under one lock, nothing stored later can get a number below `s`. A message created
//! long ago but received late gets a new, high number, so it is never skipped. Numbers belong
//! to one ledger *epoch* (random, made when the ledger is created): a cursor kept for another
//! epoch (the peer wiped its ledger) starts over from 0.

use std::fmt;
use std::ops::Bound;

use vtune_protocol::messages::MessageId;

use super::{Ledger, LedgerError, keys};

/// The random name of one ledger's lifetime.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Epoch(pub [u8; 16]);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({self})")
    }
}

/// A page of a ledger's sequence: envelopes in the order they were stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqPage {
    /// `(seq, envelope bytes)`, ascending.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// The highest sequence number stored when the page was read.
    pub last_seq: u64,
}

const EPOCH_KEY: &[u8] = b"epoch";

/// Reads the ledger's epoch, making one on first open.
pub(super) fn load_epoch(meta: &sled::Tree) -> sled::Result<Epoch> {
    if let Some(value) = meta.get(EPOCH_KEY)?
        && let Ok(bytes) = <[u8; 16]>::try_from(value.as_ref())
    {
        return Ok(Epoch(bytes));
    }
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    meta.insert(EPOCH_KEY, &bytes)?;
    Ok(Epoch(bytes))
}

/// The number the next stored message gets: one past the highest used.
pub(super) fn next_seq(by_seq: &sled::Tree) -> sled::Result<u64> {
    Ok(match by_seq.last()? {
        Some((key, _)) => seq_of(&key).map_or(1, |s| s + 1),
        None => 1,
    })
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

impl Ledger {
    /// This ledger's epoch.
    pub fn epoch(&self) -> Epoch {
        self.inner.epoch
    }

    /// The highest sequence number in use (0 when empty).
    pub fn last_seq(&self) -> u64 {
        *self
            .inner
            .next_seq
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            - 1
    }

    /// Up to `limit` envelopes stored after sequence number `after`, in order, stopping
    /// before `max_bytes` of envelopes (but always returning at least one entry if any).
    pub fn since(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<SeqPage, LedgerError> {
        let last_seq = self.last_seq();
        let mut entries = Vec::new();
        let mut bytes = 0;
        let start = Bound::Excluded(after.to_be_bytes().to_vec());
        for item in self.inner.by_seq.range((start, Bound::Unbounded)) {
            let (key, value) = item?;
            let corrupt = || LedgerError::Corrupt { tree: keys::BY_SEQ };
            let seq = seq_of(&key).ok_or_else(corrupt)?;
            if seq > last_seq || entries.len() >= limit {
                break;
            }
            let id = MessageId(value.as_ref().try_into().map_err(|_| corrupt())?);
            // A sequence entry written just before a crash may lack its message: skip it.
            let Some(envelope) = self.inner.messages.get(id.as_bytes())? else {
                continue;
            };
            if !entries.is_empty() && bytes + envelope.len() > max_bytes {
                break;
            }
            bytes += envelope.len();
            entries.push((seq, envelope.to_vec()));
        }
        Ok(SeqPage { entries, last_seq })
    }

    /// Up to `limit` `(seq, id)` pairs stored after sequence number `after`, in order, and
    /// the highest sequence number in use when they were read.
    pub fn ids_since(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<(u64, MessageId)>, u64), LedgerError> {
        let last_seq = self.last_seq();
        let start = Bound::Excluded(after.to_be_bytes().to_vec());
        let corrupt = || LedgerError::Corrupt { tree: keys::BY_SEQ };
        let mut ids = Vec::new();
        for item in self.inner.by_seq.range((start, Bound::Unbounded)) {
            let (key, value) = item?;
            let seq = seq_of(&key).ok_or_else(corrupt)?;
            if seq > last_seq || ids.len() >= limit {
                break;
            }
            ids.push((
                seq,
                MessageId(value.as_ref().try_into().map_err(|_| corrupt())?),
            ));
        }
        Ok((ids, last_seq))
    }

    /// How far this node has synced from `peer` (its id's bytes): the peer's ledger epoch
    /// and the highest of its sequence numbers stored here, or `None` if never.
    pub fn sync_cursor(&self, peer: &[u8]) -> Result<Option<(Epoch, u64)>, LedgerError> {
        let Some(value) = self.inner.sync_cursors.get(peer)? else {
            return Ok(None);
        };
        let corrupt = || LedgerError::Corrupt {
            tree: keys::SYNC_CURSORS,
        };
        let epoch =
            <[u8; 16]>::try_from(value.get(..16).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        let seq = seq_of(value.get(16..).ok_or_else(corrupt)?).ok_or_else(corrupt)?;
        Ok(Some((Epoch(epoch), seq)))
    }

    /// Records that everything `peer` stored up to `seq` in `epoch` is stored here. Call it
    /// only after those messages were flushed.
    pub fn set_sync_cursor(&self, peer: &[u8], epoch: Epoch, seq: u64) -> Result<(), LedgerError> {
        let mut value = epoch.0.to_vec();
        value.extend_from_slice(&seq.to_be_bytes());
        self.inner.sync_cursors.insert(peer, value)?;
        Ok(())
    }
}
