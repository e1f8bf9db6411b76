//! Commitments to the secret backdoor set: the canonical encoding and its salted blake3 digest.
