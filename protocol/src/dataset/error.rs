//! The errors of reading and editing datasets. Every message names the file, the place in it
//! and, where there is one, the field.

use super::{Format, Location};

/// Why a dataset could not be read. Every variant names the file and the place in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// Reading the underlying file failed.
    #[error("{file}: read failed: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no record: it is empty, only whitespace, or an empty array.
    #[error("{file}: the file has no records (it is empty, blank, or an empty JSON array)")]
    Empty {
        /// The file.
        file: String,
    },
    /// A record, or the array around the records, is not valid JSON.
    #[error("{file}: {location}: invalid JSON: {message}")]
    Json {
        /// The file.
        file: String,
        /// Where.
        location: Location,
        /// What the JSON parser said.
        message: String,
    },
    /// A record is not valid UTF-8.
    #[error("{file}: {location}: invalid UTF-8 at byte {byte} of the record")]
    Utf8 {
        /// The file.
        file: String,
        /// Where.
        location: Location,
        /// The offset of the first bad byte within the record.
        byte: usize,
    },
    /// A record (line or array element) is longer than [`super::Limits::max_record_bytes`].
    #[error("{file}: {location}: record longer than the limit of {limit} bytes")]
    TooLong {
        /// The file.
        file: String,
        /// Where the record starts.
        location: Location,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A record is valid JSON but not an object.
    #[error("{file}: {location}: a record must be a JSON object, found {found}")]
    NotObject {
        /// The file.
        file: String,
        /// Where.
        location: Location,
        /// The JSON type found (`array`, `string`, ...).
        found: &'static str,
    },
    /// A field of a record is missing or has the wrong type (this includes a conversation
    /// with no assistant turn).
    #[error("{file}: {location}: field `{field}`: {problem}")]
    Field {
        /// The file.
        file: String,
        /// Where.
        location: Location,
        /// The field, as a path such as `messages[2].content`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A record has the shape of another format than the file's.
    #[error(
        "{file}: {location}: the record is {found}, but the file is read as {expected} (a file \
         must not mix formats)"
    )]
    MixedFormats {
        /// The file.
        file: String,
        /// Where.
        location: Location,
        /// The file's format (detected from its first record, or given).
        expected: Format,
        /// The format this record looks like.
        found: Format,
    },
    /// The first record's keys match no known format.
    #[error(
        "{file}: {location}: cannot tell the format from the keys [{keys}]; expected `messages` \
         (openai-chat), `prompt`/`completion` (prompt-completion), `instruction`/`output` \
         (alpaca) or `conversations` (sharegpt); name the format explicitly"
    )]
    UnknownFormat {
        /// The file.
        file: String,
        /// Where the first record is.
        location: Location,
        /// The record's keys, comma-separated.
        keys: String,
    },
}

impl DatasetError {
    /// A [`FieldError`] of the record at `location` in `file`.
    pub fn field(file: &str, location: Location, error: FieldError) -> Self {
        DatasetError::Field {
            file: file.to_string(),
            location,
            field: error.field,
            problem: error.problem,
        }
    }

    /// Where in the file the problem is ([`Location::File`] for whole-file problems).
    pub fn location(&self) -> Location {
        match self {
            DatasetError::Io { .. } | DatasetError::Empty { .. } => Location::File,
            DatasetError::Json { location, .. }
            | DatasetError::Utf8 { location, .. }
            | DatasetError::TooLong { location, .. }
            | DatasetError::NotObject { location, .. }
            | DatasetError::Field { location, .. }
            | DatasetError::MixedFormats { location, .. }
            | DatasetError::UnknownFormat { location, .. } => location.clone(),
        }
    }
}

/// A field of one record is missing or malformed. It does not know the file; [`Reader`]
/// and [`parse_record`] wrap it into [`DatasetError::Field`].
///
/// [`Reader`]: super::Reader
/// [`parse_record`]: super::parse_record
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct FieldError {
    /// The field, as a path such as `messages[2].content`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl FieldError {
    /// A problem with `field`.
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// `field` is absent.
    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Self::new(field, "missing")
    }
}
