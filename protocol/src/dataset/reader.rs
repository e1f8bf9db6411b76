//! The streaming reader: records one at a time, each parsed alone and checked against the
//! file's format.

use std::io::BufRead;

use serde_json::Value;

use super::record::{json_type, validate};
use super::scan::{ScanError, Scanner};
use super::{Container, DatasetError, Format, Layout, Limits, Location, Record};

/// A streaming reader of records.
///
/// It holds one record's bytes at a time (at most [`Limits::max_record_bytes`]), reuses its
/// buffer, and checks every record against the layout's format: a record of another format
/// gives [`DatasetError::MixedFormats`], a malformed one [`DatasetError::Field`]. After an
/// error in a JSONL file the reader goes on with the next line; after an error in the
/// structure of a JSON array it stops.
pub struct Reader<R> {
    file: String,
    scanner: Scanner<R>,
    layout: Layout,
    /// The first record, read by [`Reader::detect`].
    pending: Option<Record>,
}

impl<R: BufRead> Reader<R> {
    /// Reads records of `layout` from `inner`; `file_name` is used in errors.
    pub fn new(file_name: &str, inner: R, layout: Layout, limits: Limits) -> Self {
        Self {
            file: file_name.to_string(),
            scanner: Scanner::new(inner, layout.container, limits.max_record_bytes),
            layout,
            pending: None,
        }
    }

    /// Detects the layout of `inner` (see [`super::detect`]), or takes `format` as given and
    /// detects only the container, then reads records from the first one on.
    pub fn detect(
        file_name: &str,
        inner: R,
        format: Option<Format>,
        limits: Limits,
    ) -> Result<Self, DatasetError> {
        let mut scanner = Scanner::new(inner, Container::Jsonl, limits.max_record_bytes);
        let container = match scanner.peek_nonspace() {
            Ok(Some(b'[')) => Container::JsonArray,
            Ok(Some(_)) => Container::Jsonl,
            Ok(None) => {
                return Err(scan_error(
                    file_name,
                    limits.max_record_bytes,
                    ScanError::Empty,
                ));
            }
            Err(error) => return Err(scan_error(file_name, limits.max_record_bytes, error)),
        };
        scanner.set_container(container);
        let span = match scanner.next_span() {
            Some(Ok(span)) => span,
            Some(Err(error)) => return Err(scan_error(file_name, limits.max_record_bytes, error)),
            None => {
                return Err(scan_error(
                    file_name,
                    limits.max_record_bytes,
                    ScanError::Empty,
                ));
            }
        };
        let location = span.location(container);
        let value = parse_value(file_name, &location, &scanner.buf)?;
        let format = match format.or_else(|| Format::of_record(&value)) {
            Some(format) => format,
            None => {
                let keys: Vec<&str> = value
                    .as_object()
                    .map(|object| object.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(DatasetError::UnknownFormat {
                    file: file_name.to_string(),
                    location,
                    keys: keys.join(", "),
                });
            }
        };
        check_format(file_name, &location, format, &value)?;
        Ok(Self {
            file: file_name.to_string(),
            scanner,
            layout: Layout { format, container },
            pending: Some(Record {
                index: span.index,
                line: span.line,
                offset: span.offset,
                len: span.len as u64,
                value,
            }),
        })
    }

    /// The layout records are read as.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The next record's bytes, not parsed: pass them to [`super::parse_example`] (the fast
    /// way to get examples) or [`parse_record`]. The bytes are valid until the next call.
    /// Errors are those of finding the record (I/O, an overlong record, a broken array).
    pub fn next_raw(&mut self) -> Option<Result<RawRecord<'_>, DatasetError>> {
        if let Some(record) = self.pending.take() {
            // The first record's bytes are still in the scanner's buffer.
            return Some(Ok(RawRecord {
                index: record.index,
                line: record.line,
                offset: record.offset,
                bytes: &self.scanner.buf,
            }));
        }
        match self.scanner.next_span()? {
            Ok(span) => Some(Ok(RawRecord {
                index: span.index,
                line: span.line,
                offset: span.offset,
                bytes: &self.scanner.buf,
            })),
            Err(error) => Some(Err(scan_error(&self.file, self.scanner.limit(), error))),
        }
    }

    /// How many bytes have been consumed from the input so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.scanner.position()
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Record, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(record) = self.pending.take() {
            return Some(Ok(record));
        }
        let span = match self.scanner.next_span()? {
            Ok(span) => span,
            Err(error) => return Some(Err(scan_error(&self.file, self.scanner.limit(), error))),
        };
        let location = span.location(self.layout.container);
        let result = parse_value(&self.file, &location, &self.scanner.buf).and_then(|value| {
            check_format(&self.file, &location, self.layout.format, &value)?;
            Ok(Record {
                index: span.index,
                line: span.line,
                offset: span.offset,
                len: span.len as u64,
                value,
            })
        });
        Some(result)
    }
}

/// One record's bytes and place, from [`Reader::next_raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// 0-based record number.
    pub index: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Byte offset of the record in the file; its length is `bytes.len()`.
    pub offset: u64,
    /// The record's JSON text.
    pub bytes: &'a [u8],
}

impl RawRecord<'_> {
    /// Where this record is, for error messages, given the container it was read from.
    pub fn location(&self, container: Container) -> Location {
        match container {
            Container::Jsonl => Location::Line(self.line),
            Container::JsonArray => Location::Element {
                index: self.index,
                line: self.line,
            },
        }
    }
}

/// Parses one record of `format` from its bytes (as found at [`Record::offset`], [`Record::len`]),
/// and checks it as [`Reader`] does. `file_name` and `location` go into errors.
pub fn parse_record(
    file_name: &str,
    location: Location,
    bytes: &[u8],
    format: Format,
) -> Result<Value, DatasetError> {
    let value = parse_value(file_name, &location, bytes)?;
    check_format(file_name, &location, format, &value)?;
    Ok(value)
}

/// Parses a record's bytes into a JSON object.
fn parse_value(file: &str, location: &Location, bytes: &[u8]) -> Result<Value, DatasetError> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(error) => {
            return Err(match std::str::from_utf8(bytes) {
                Err(utf8) => DatasetError::Utf8 {
                    file: file.to_string(),
                    location: location.clone(),
                    byte: utf8.valid_up_to(),
                },
                Ok(_) => DatasetError::Json {
                    file: file.to_string(),
                    location: location.clone(),
                    message: error.to_string(),
                },
            });
        }
    };
    if !value.is_object() {
        return Err(DatasetError::NotObject {
            file: file.to_string(),
            location: location.clone(),
            found: json_type(&value),
        });
    }
    Ok(value)
}

/// Checks that `value` is a well-formed record of `format`.
fn check_format(
    file: &str,
    location: &Location,
    format: Format,
    value: &Value,
) -> Result<(), DatasetError> {
    if let Some(object) = value.as_object()
        && !format.has_own_keys(object)
        && let Some(found) = Format::of_record(value)
    {
        return Err(DatasetError::MixedFormats {
            file: file.to_string(),
            location: location.clone(),
            expected: format,
            found,
        });
    }
    validate(format, value).map_err(|error| DatasetError::field(file, location.clone(), error))
}

/// The error for a scanning problem.
pub(super) fn scan_error(file: &str, limit: usize, error: ScanError) -> DatasetError {
    let file = file.to_string();
    match error {
        ScanError::Io(source) => DatasetError::Io { file, source },
        ScanError::Empty => DatasetError::Empty { file },
        ScanError::Syntax { location, message } => DatasetError::Json {
            file,
            location,
            message,
        },
        ScanError::TooLong { location } => DatasetError::TooLong {
            file,
            location,
            limit,
        },
    }
}
