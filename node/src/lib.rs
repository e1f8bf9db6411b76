//! vtune-node: the node library. The endpoint client and verifier, the provider simulator,
//! keys, the sled ledger, the libp2p network and the HTTP API.
#![deny(missing_docs, unreachable_pub)]

pub mod endpoint;
pub mod keys;
pub mod ledger;
pub mod openai;
pub mod sim;
pub mod verifier;
