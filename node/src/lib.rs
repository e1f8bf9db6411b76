//! vtune-node: the node library. The endpoint client and verifier, the provider simulator,
//! keys, the sled ledger, the libp2p network and the HTTP API.
#![deny(missing_docs, unreachable_pub)]

pub mod api;
pub mod buyer;
pub mod clock;
pub mod daemon;
pub mod endpoint;
pub mod ingest;
pub mod job_dir;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod network;
pub mod openai;
pub mod prepare;
pub mod sim;
pub mod summary;
pub mod trust;
pub mod verifier;
pub mod witness;
