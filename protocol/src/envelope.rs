//! Signed envelopes: PAE, ed25519 signing, and verification before decoding.
