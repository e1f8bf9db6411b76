//! The messages nodes exchange: commitments, attestations and reveals.
