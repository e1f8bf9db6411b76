//! The canonical encoding of messages: bincode 2, standard config, with size limits.
