//! The sled ledger of signed messages, with indexes and equivocation flags.
