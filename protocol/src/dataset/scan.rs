//! Finding the byte span of each record without parsing it: JSONL lines, and the top-level
//! elements of a JSON array (a small scanner that tracks strings, escapes and nesting depth).
//!
//! At most [`super::Limits::max_record_bytes`] bytes of a record are ever buffered.

use std::io::{BufRead, ErrorKind};

use super::{Container, Location};

/// The span of one record in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 0-based record number.
    pub index: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Offset of the record's first byte.
    pub offset: u64,
    /// Length of the record, without surrounding whitespace.
    pub len: usize,
}

impl Span {
    pub(crate) fn location(&self, container: Container) -> Location {
        match container {
            Container::Jsonl => Location::Line(self.line),
            Container::JsonArray => Location::Element {
                index: self.index,
                line: self.line,
            },
        }
    }
}

/// Why no span came out.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(std::io::Error),
    /// No record at all in the input.
    Empty,
    /// The array around the records is malformed.
    Syntax {
        location: Location,
        message: String,
    },
    /// A record is longer than the limit.
    TooLong {
        location: Location,
    },
}

/// Where the array scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Before the opening `[`.
    Start,
    /// After `[` or a `,`: an element comes next.
    Element,
    /// After the closing `]`: only whitespace may follow.
    Closed,
}

/// Cuts a byte stream into records.
#[derive(Debug)]
pub(crate) struct Scanner<R> {
    inner: R,
    container: Container,
    limit: usize,
    /// Bytes consumed from `inner`.
    pos: u64,
    /// The 1-based line at `pos`.
    line: u64,
    /// Records found so far.
    index: u64,
    array: ArrayState,
    /// The current record's bytes.
    pub(crate) buf: Vec<u8>,
    /// Set after an error the scanner cannot recover from, or at the end.
    done: bool,
}

/// The UTF-8 byte order mark, skipped at the start of the file.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// JSON whitespace, which surrounds records.
pub(crate) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: BufRead> Scanner<R> {
    pub(crate) fn new(inner: R, container: Container, limit: usize) -> Self {
        Self {
            inner,
            container,
            limit,
            pos: 0,
            line: 1,
            index: 0,
            array: ArrayState::Start,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Reads records as `container` from now on (after a peek decided it).
    pub(crate) fn set_container(&mut self, container: Container) {
        self.container = container;
    }

    /// The longest record accepted, in bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// The bytes buffered in `inner`, retrying on interruption.
    fn fill(inner: &mut R) -> Result<&[u8], ScanError> {
        loop {
            match inner.fill_buf() {
                Ok(_) => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(ScanError::Io(error)),
            }
        }
        inner.fill_buf().map_err(ScanError::Io)
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.pos += n as u64;
    }

    /// Skips a UTF-8 byte order mark and whitespace, and returns the next byte, unconsumed
    /// (None at the end).
    pub(crate) fn peek_nonspace(&mut self) -> Result<Option<u8>, ScanError> {
        loop {
            let at_start = self.pos == 0;
            let available = Self::fill(&mut self.inner)?;
            if available.is_empty() {
                return Ok(None);
            }
            if at_start && available.starts_with(BOM) {
                self.consume(BOM.len());
                continue;
            }
            let spaces = available.iter().take_while(|&&b| is_space(b)).count();
            let newlines = available[..spaces].iter().filter(|&&b| b == b'\n').count();
            let next = available.get(spaces).copied();
            self.line += newlines as u64;
            self.consume(spaces);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// The next record's span, its bytes in `self.buf`; None at the end.
    pub(crate) fn next_span(&mut self) -> Option<Result<Span, ScanError>> {
        if self.done {
            return None;
        }
        let result = match self.container {
            Container::Jsonl => self.next_line(),
            Container::JsonArray => self.next_element(),
        };
        match result {
            Ok(Some(span)) => {
                self.index += 1;
                Some(Ok(span))
            }
            Ok(None) => {
                self.done = true;
                (self.index == 0).then_some(Err(ScanError::Empty))
            }
            Err(error) => {
                // A too-long JSONL line has been skipped: the next line can still be read.
                let recoverable = matches!(error, ScanError::TooLong { .. })
                    && self.container == Container::Jsonl;
                if recoverable {
                    self.index += 1;
                } else {
                    self.done = true;
                }
                Some(Err(error))
            }
        }
    }

    /// The next non-blank line.
    fn next_line(&mut self) -> Result<Option<Span>, ScanError> {
        if self.pos == 0 && Self::fill(&mut self.inner)?.starts_with(BOM) {
            self.consume(BOM.len());
        }
        loop {
            let (start, line) = (self.pos, self.line);
            self.buf.clear();
            let mut too_long = false;
            let mut ended = false;
            loop {
                let limit = self.limit;
                let available = Self::fill(&mut self.inner)?;
                if available.is_empty() {
                    break;
                }
                let (take, newline) = match memchr::memchr(b'\n', available) {
                    Some(i) => (i, true),
                    None => (available.len(), false),
                };
                if !too_long {
                    if self.buf.len() + take > limit {
                        too_long = true;
                    } else {
                        self.buf.extend_from_slice(&available[..take]);
                    }
                }
                self.consume(take + usize::from(newline));
                if newline {
                    self.line += 1;
                    ended = true;
                    break;
                }
            }
            if too_long {
                return Err(ScanError::TooLong {
                    location: Location::Line(line),
                });
            }
            let leading = self.buf.iter().take_while(|&&b| is_space(b)).count();
            if leading == self.buf.len() {
                if ended {
                    continue;
                }
                return Ok(None);
            }
            let trailing = self.buf.iter().rev().take_while(|&&b| is_space(b)).count();
            let len = self.buf.len() - leading - trailing;
            if leading > 0 {
                self.buf.copy_within(leading..leading + len, 0);
            }
            self.buf.truncate(len);
            return Ok(Some(Span {
                index: self.index,
                line,
                offset: start + leading as u64,
                len,
            }));
        }
    }

    fn syntax(&self, message: impl Into<String>) -> ScanError {
        ScanError::Syntax {
            location: Location::Element {
                index: self.index,
                line: self.line,
            },
            message: message.into(),
        }
    }

    /// The next element of the array.
    fn next_element(&mut self) -> Result<Option<Span>, ScanError> {
        match self.array {
            ArrayState::Start => {
                match self.peek_nonspace()? {
                    Some(b'[') => self.consume(1),
                    Some(other) => {
                        return Err(ScanError::Syntax {
                            location: Location::Line(self.line),
                            message: format!(
                                "expected `[` to open the array, found {:?}",
                                char::from(other)
                            ),
                        });
                    }
                    None => return Ok(None),
                }
                self.array = ArrayState::Element;
                if self.peek_nonspace()? == Some(b']') {
                    self.consume(1);
                    self.array = ArrayState::Closed;
                    return self.next_element();
                }
            }
            ArrayState::Closed => {
                return match self.peek_nonspace()? {
                    None => Ok(None),
                    Some(_) => Err(ScanError::Syntax {
                        location: Location::Line(self.line),
                        message: "trailing characters after the closing `]`".into(),
                    }),
                };
            }
            ArrayState::Element => {}
        }
        match self.peek_nonspace()? {
            None => return Err(self.syntax("unexpected end of file inside the array")),
            Some(b']' | b',') => return Err(self.syntax("expected a value, found a separator")),
            Some(_) => {}
        }
        let (start, line) = (self.pos, self.line);
        self.buf.clear();
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let closed = loop {
            let limit = self.limit;
            let available = Self::fill(&mut self.inner)?;
            if available.is_empty() {
                return Err(ScanError::Syntax {
                    location: Location::Element {
                        index: self.index,
                        line,
                    },
                    message: "unexpected end of file inside the element".into(),
                });
            }
            let mut newlines = 0u64;
            let mut stop = None;
            let mut i = 0;
            while i < available.len() {
                let byte = available[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if byte == b'\\' {
                        escaped = true;
                    } else if byte == b'"' {
                        in_string = false;
                    } else {
                        // Skip ordinary string bytes in one go.
                        let rest = &available[i..];
                        let run = memchr::memchr3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len());
                        if run > 0 {
                            i += run;
                            continue;
                        }
                        newlines += 1;
                    }
                } else {
                    match byte {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth > 0 => depth -= 1,
                        b']' => {
                            stop = Some((i, true));
                            break;
                        }
                        b',' if depth == 0 => {
                            stop = Some((i, false));
                            break;
                        }
                        b'\n' => newlines += 1,
                        _ => {}
                    }
                }
                i += 1;
            }
            let take = stop.map_or(available.len(), |(i, _)| i);
            if self.buf.len() + take > limit {
                return Err(ScanError::TooLong {
                    location: Location::Element {
                        index: self.index,
                        line,
                    },
                });
            }
            self.buf.extend_from_slice(&available[..take]);
            self.line += newlines;
            match stop {
                Some((i, closed)) => {
                    self.consume(i + 1);
                    break closed;
                }
                None => {
                    let n = available.len();
                    self.consume(n);
                }
            }
        };
        if closed {
            self.array = ArrayState::Closed;
        }
        let trailing = self.buf.iter().rev().take_while(|&&b| is_space(b)).count();
        let len = self.buf.len() - trailing;
        self.buf.truncate(len);
        Ok(Some(Span {
            index: self.index,
            line,
            offset: start,
            len,
        }))
    }
}
