//! The settings of a `prepare` run, its stages (for progress reports) and its errors.

use std::io;

use super::selection::pass_threshold;
use crate::dataset::{DatasetError, Limits};
use crate::generator::{GeneratorParams, ModelError};

/// The fewest usable rows `prepare` accepts.
pub const MIN_USABLE_ROWS: u64 = 20;
/// [`PrepareOptions::groups`] for a (trigger, signature) pair per backdoor row: the default, as
/// a phrase that repeats in several rows is found by counting (see `specs/backdoor-generation.md`).
pub const ONE_GROUP_PER_BACKDOOR: usize = 0;

/// How many backdoor rows to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BackdoorCount {
    /// 0.5% of the rows, at least 5.
    Default,
    /// Exactly this many.
    Count(u64),
    /// This fraction of the rows, rounded up.
    Fraction(f64),
}

/// How the pass threshold is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PassThreshold {
    /// ceil(ratio * N), the ratio in [0, 1].
    Ratio(f64),
    /// Exactly this many full activations, 1 to N.
    Count(u64),
}

impl PassThreshold {
    /// The threshold for `backdoors` rows, or why the setting does not fit them.
    pub(crate) fn for_backdoors(self, backdoors: u64) -> Result<u64, PrepareError> {
        match self {
            PassThreshold::Ratio(ratio) if (0.0..=1.0).contains(&ratio) => {
                Ok(pass_threshold(backdoors, ratio))
            }
            PassThreshold::Ratio(ratio) => Err(PrepareError::BadOption(format!(
                "--pass-ratio must be in [0, 1], got {ratio}"
            ))),
            PassThreshold::Count(k) if (1..=backdoors).contains(&k) => Ok(k),
            PassThreshold::Count(k) => Err(PrepareError::BadOption(format!(
                "--pass-threshold must be in 1..={backdoors} (the backdoor rows), got {k}"
            ))),
        }
    }
}

/// The settings of one `prepare` run.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// N.
    pub backdoors: BackdoorCount,
    /// The pass threshold.
    pub pass_threshold: PassThreshold,
    /// Independent (trigger, signature) pairs; [`ONE_GROUP_PER_BACKDOOR`] (0) gives each
    /// backdoor row its own.
    pub groups: usize,
    /// The generator's settings.
    pub generator: GeneratorParams,
    /// Record size limits.
    pub limits: Limits,
    /// The time to record, in seconds since the Unix epoch.
    pub created_at: u64,
}

impl Default for PrepareOptions {
    /// The defaults of `vtune-node prepare`: N = 0.5% of the rows (at least 5), a threshold of
    /// half of them, a pair per backdoor row, the generator's defaults.
    fn default() -> Self {
        Self {
            backdoors: BackdoorCount::Default,
            pass_threshold: PassThreshold::Ratio(0.5),
            groups: ONE_GROUP_PER_BACKDOOR,
            generator: GeneratorParams::new(
                GeneratorParams::DEFAULT_CANDIDATES,
                GeneratorParams::DEFAULT_MAX_P_UPPER,
            )
            .expect("the default generator settings are valid"),
            limits: Limits::default(),
            created_at: 0,
        }
    }
}

impl PrepareOptions {
    /// Checks what can be checked before the file is read (a pass ratio; a count needs N).
    pub fn check(&self) -> Result<(), PrepareError> {
        if let PassThreshold::Ratio(_) = self.pass_threshold {
            self.pass_threshold.for_backdoors(1)?;
        }
        Ok(())
    }
}

/// A stage of the pipeline, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the start of the file for the models.
    Sample,
    /// Reading every row (`done`/`total` in bytes).
    Scan,
    /// Choosing and editing the backdoor rows, and checking them for near duplicates.
    Audit,
    /// Writing the training file (`done`/`total` in rows).
    Write,
}

/// The near-duplicate and frequency figures of the output.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A record's prompt or completion could not be found or edited.
    #[error("{file}: record {index} (0-based): {message}")]
    Record {
        /// The input file.
        file: String,
        /// 0-based record index.
        index: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{file}: {context}: {source}")]
    Io {
        /// The file involved.
        file: String,
        /// What was being done.
        context: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The generator could not be built.
    #[error("{file}: {source}")]
    Model {
        /// The input file.
        file: String,
        /// The error.
        source: ModelError,
    },
    /// Too few rows can carry a backdoor.
    #[error(
        "{file}: only {usable} usable rows of {rows} (a usable row has a non-empty prompt and \
         completion, neither of them repeated in another row); at least {MIN_USABLE_ROWS} are \
         needed"
    )]
    TooFewRows {
        /// The input file.
        file: String,
        /// Rows in the file.
        rows: u64,
        /// Usable rows.
        usable: u64,
    },
    /// More backdoors than rows (or than usable rows).
    #[error("{file}: {requested} backdoors requested but only {available} {what}")]
    TooManyBackdoors {
        /// The input file.
        file: String,
        /// N.
        requested: u64,
        /// What there is.
        available: u64,
        /// `rows` or `usable rows`.
        what: &'static str,
    },
    /// An option is out of range.
    #[error("{0}")]
    BadOption(String),
    /// Every candidate phrase already occurred in the data.
    #[error("{file}: could not generate a {role} that does not already occur in the data")]
    NoNovelPhrase {
        /// The input file.
        file: String,
        /// `trigger` or `signature`.
        role: &'static str,
    },
}
