//! Exact statistics, carried in log10: binomial and hypergeometric tails, the subset-training
//! attack, and the valid job p-value built from per-group prefix bounds.
//!
//! See `specs/statistics.md` for the formulas and their proofs.

mod logspace;
mod novelty;
mod prefix;
mod tails;

pub use novelty::{MAX_COLLISION_CHANCE, log10_novelty_inflation};
pub use prefix::{
    GroupEvidence, MATCH_OFFSETS, MAX_MATCH_OFFSETS, log10_full_activation_bound,
    log10_job_p_value, log10_prefix_bound, matched_tokens,
};
pub use tails::{log10_binomial_upper_tail, log10_hypergeom_upper_tail, subset_attack_fraction};
