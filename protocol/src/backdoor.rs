//! Backdoor selection, insertion, the secret set, and the stealth self-audit, as stages that
//! take bytes, records, RNGs and times and return values. `vtune_node::prepare` is the driver
//! that reads the file, runs them (in parallel where it can) and writes the training file:
//! 1. [`SampleTexts`] → [`Sample`]: the first rows' texts give the models;
//! 2. [`Candidates`]: phrases drawn before the scan, and the [`PhraseScanner`] that finds them;
//! 3. [`examine`] a batch of records → [`Scan`]: every row's facts, in file order;
//! 4. [`choose`]: the novel phrases, the backdoor rows, each edited ([`Edit`]), redrawn while
//!    an edited text would pair with another row;
//! 5. [`Checks`]: the frequency search and the attacks of [`audit`] on the output;
//! 6. [`report`]: the [`Secret`] and the [`StealthReport`].
//!
//! See `specs/backdoor-generation.md`.

pub mod audit;
mod candidates;
mod choose;
mod edge_hash;
mod edit_row;
mod examine;
mod frequency;
mod mirror;
mod near_dup;
mod options;
mod report;
mod row_phrases;
mod sample;
mod scan;
mod selection;
mod splice;
mod typical;

pub use candidates::{Candidates, MAX_ROUNDS, choose_phrases};
pub use choose::{Choice, Rows, choose};
pub use edit_row::Edit;
pub use examine::{EdgeKeyTable, Examined, Place, Scan, examine};
pub use frequency::{AUDIT_K, FrequencyFigure};
pub use options::{
    BackdoorCount, MIN_USABLE_ROWS, ONE_GROUP_PER_BACKDOOR, PassThreshold, PrepareError,
    PrepareOptions, Stage,
};
pub use report::{Checks, Findings, JobKeys, Prepared, StealthReport, Written, report};
pub use sample::{Sample, SampleTexts};
pub use scan::{PhraseScanner, TextBatch};
pub use selection::{
    RowSet, backdoors_for_fraction, choose_rows, default_backdoor_count, group_sizes,
    pass_threshold,
};
