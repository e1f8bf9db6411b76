//! The node key: ed25519, stored 0600 in the data dir; the libp2p peer id derives from it.
