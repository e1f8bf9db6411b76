//! vtune-protocol: the pure core of vtune-node.
//!
//! Dataset formats, backdoor generation and insertion, the exact statistics, commitments and
//! signed messages. Nothing here touches the network, the disk or the clock on its own: callers
//! pass readers, writers, times and random number generators in.
#![deny(missing_docs, unreachable_pub)]

pub mod backdoor;
pub mod codec;
pub mod commit;
pub mod dataset;
pub mod envelope;
pub mod generator;
pub mod ids;
pub mod messages;
pub mod seal;
pub mod stats;
pub mod synthetic;
pub mod verdict;
