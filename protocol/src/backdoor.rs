//! Backdoor selection, insertion, the secret set, and the stealth self-audit.
//!
//! [`prepare`] is the whole pipeline; [`Secret`] is what it keeps (`secret.json`). The parts:
//! - `selection`: how many backdoors, which rows, which group;
//! - `scan`: where candidate phrases occur (novelty) and which rows hold signature words;
//! - `input`: the dataset as it is read, with hints of what comes next;
//! - `row_scan`: every row read once, examined on worker threads;
//! - `near_dup`: repeated texts, and prefix/suffix pairs with a backdoor row, by hashing;
//! - `shuffle`: the output's random order, by random buckets that wait in the training file;
//! - `frequency`: the paper's k-gram frequency search.
//!
//! See `specs/backdoor-generation.md`.

pub mod audit;
mod edge_hash;
mod frequency;
mod input;
mod mirror;
mod near_dup;
mod prepare;
mod row_phrases;
mod row_scan;
mod scan;
pub(crate) mod secret;
mod selection;
mod shuffle;
mod splice;

pub use frequency::{AUDIT_K, FrequencyFigure};
pub use input::Input;
pub use prepare::{
    BackdoorCount, MIN_USABLE_ROWS, ONE_GROUP_PER_BACKDOOR, Output, PassThreshold, PrepareError,
    PrepareOptions, Prepared, Stage, StealthReport, prepare,
};
pub use secret::{
    Digest, JobId, SECRET_VERSION, Salt, Secret, SecretBackdoor, SecretError, SecretGroup,
};
pub use selection::{
    RowSet, backdoors_for_fraction, choose_rows, default_backdoor_count, group_sizes,
    pass_threshold,
};
pub use shuffle::Scratch;
