//! Key layouts of the ledger's trees. Every index key ends with the message id, and the
//! parts before it are fixed-width, so a prefix scan never runs into a neighbour's keys.
//! Times are big-endian so that keys sort by time.

use vtune_protocol::messages::{JobId, MessageId, PublicKey};
use vtune_protocol::verdict::Verdict;

/// The tree of messages: `id (32)` → envelope bytes.
pub(super) const MESSAGES: &str = "messages";
/// `job (16) ‖ created_at (8) ‖ id (32)` → ().
pub(super) const BY_JOB: &str = "by_job";
/// `blake3(provider) (32) ‖ created_at (8) ‖ id (32)` → ().
pub(super) const BY_PROVIDER: &str = "by_provider";
/// `attester (32) ‖ job (16) ‖ verdict (1) ‖ id (32)` → (): an attester's attestations,
/// grouped by job so that a contradicting verdict is one prefix lookup away.
pub(super) const BY_ATTESTER: &str = "by_attester";
/// `created_at (8) ‖ id (32)` → ().
pub(super) const BY_TIME: &str = "by_time";
/// `attester (32) ‖ job (16)` → `first id (32) ‖ second id (32)`: the equivocation flags.
pub(super) const EQUIVOCATIONS: &str = "equivocations";
/// `seq (8)` → `id (32)`: this node's insertion order, numbered from 1.
pub(super) const BY_SEQ: &str = "by_seq";
/// `peer id bytes` → `epoch (16) ‖ seq (8)`: the sync cursor of each peer.
pub(super) const SYNC_CURSORS: &str = "sync_cursors";
/// `name` → value: the ledger's own facts (its epoch).
pub(super) const META: &str = "meta";

/// The index prefix of a provider: fixed width whatever the name.
pub(super) fn provider_prefix(provider: &str) -> [u8; 32] {
    *blake3::hash(provider.as_bytes()).as_bytes()
}

/// `prefix ‖ created_at ‖ id`.
pub(super) fn timed(prefix: &[u8], created_at: u64, id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8 + 32);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&created_at.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The message id at the end of an index key.
pub(super) fn id_of(key: &[u8]) -> Option<MessageId> {
    let tail = key.len().checked_sub(32)?;
    Some(MessageId(key[tail..].try_into().ok()?))
}

/// `attester ‖ job`: the prefix of one attester's attestations of one job.
pub(super) fn attester_job_prefix(attester: &PublicKey, job: &JobId) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + 16 + 1 + 32);
    key.extend_from_slice(attester.as_bytes());
    key.extend_from_slice(job.as_bytes());
    key
}

/// The one-byte code of a verdict in the `by_attester` tree.
pub(super) fn verdict_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Inconclusive => 2,
    }
}

/// The codes of the verdicts that contradict `verdict`: pass and fail contradict each other.
pub(super) fn contradicting(verdict: Verdict) -> Vec<u8> {
    match verdict {
        Verdict::Pass => vec![verdict_code(Verdict::Fail)],
        Verdict::Fail => vec![verdict_code(Verdict::Pass)],
        Verdict::Inconclusive => Vec::new(),
    }
}

/// `attester ‖ job`.
pub(super) fn equivocation_key(attester: &PublicKey, job: &JobId) -> Vec<u8> {
    let mut key = Vec::with_capacity(48);
    key.extend_from_slice(attester.as_bytes());
    key.extend_from_slice(job.as_bytes());
    key
}
