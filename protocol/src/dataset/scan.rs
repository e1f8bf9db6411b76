//! Finding the byte span of each record without parsing it: JSONL lines (by [`Lines`]), and
//! the top-level elements of a JSON array (a small scanner that tracks strings, escapes and
//! nesting depth).
//!
//! At most [`super::Limits::max_record_bytes`] bytes of a record are ever buffered.

use std::io::{BufRead, ErrorKind};

use super::lines::Lines;
use super::{Container, Location};

/// The span of one record in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
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
    /// How JSONL is read, from its first line on.
    jsonl: Option<Jsonl>,
}

/// The JSONL records found in the bytes read so far.
#[derive(Debug)]
struct Jsonl {
    lines: Lines,
    /// The bytes read and not yet dropped, from file offset `first`.
    window: Vec<u8>,
    first: u64,
    /// The records found in `window`, the next one to hand out, and the bytes they took.
    spans: Vec<Span>,
    next: usize,
    taken: usize,
    /// An overlong line, reported after the records before it; then skipped.
    failed: Option<ScanError>,
    skipping: bool,
    ended: bool,
}

impl Jsonl {
    fn new(lines: Lines) -> Self {
        let first = lines.offset();
        Self {
            lines,
            window: Vec::new(),
            first,
            spans: Vec::new(),
            next: 0,
            taken: 0,
            failed: None,
            skipping: false,
            ended: false,
        }
    }
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
            jsonl: None,
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

    /// The next non-blank line, found by [`Lines`] in the bytes read so far.
    fn next_line(&mut self) -> Result<Option<Span>, ScanError> {
        let (pos, line, limit) = (self.pos, self.line, self.limit);
        let jsonl = self
            .jsonl
            .get_or_insert_with(|| Jsonl::new(Lines::starting_at(limit, pos, line)));
        loop {
            if let Some(span) = jsonl.spans.get(jsonl.next).copied() {
                jsonl.next += 1;
                let start = (span.offset - jsonl.first) as usize;
                self.buf.clear();
                self.buf
                    .extend_from_slice(&jsonl.window[start..start + span.len]);
                return Ok(Some(span));
            }
            if let Some(error) = jsonl.failed.take() {
                jsonl.skipping = true;
                return Err(error);
            }
            if jsonl.ended {
                return Ok(None);
            }
            // Every line found has been read: drop their bytes, and read on.
            jsonl.window.drain(..jsonl.taken);
            jsonl.first += jsonl.taken as u64;
            jsonl.spans.clear();
            (jsonl.next, jsonl.taken) = (0, 0);
            if jsonl.skipping && !jsonl.window.is_empty() {
                // The part of the overlong line already read.
                let newline = memchr::memchr(b'\n', &jsonl.window);
                let skip = newline.map_or(jsonl.window.len(), |i| i + 1);
                jsonl.window.drain(..skip);
                jsonl.first += skip as u64;
                jsonl.lines.skip(skip as u64, newline.is_some());
                jsonl.skipping = newline.is_none();
                continue;
            }
            let available = Self::fill(&mut self.inner)?;
            let (n, end) = (available.len(), available.is_empty());
            if jsonl.skipping {
                // The rest of an overlong line is skipped without buffering.
                let newline = memchr::memchr(b'\n', available);
                let skip = newline.map_or(n, |i| i + 1);
                jsonl.window.clear();
                self.inner.consume(skip);
                self.pos += skip as u64;
                jsonl.first += skip as u64;
                jsonl.lines.skip(skip as u64, newline.is_some());
                jsonl.skipping = newline.is_none() && !end;
                jsonl.ended = end;
                continue;
            }
            jsonl.window.extend_from_slice(available);
            self.inner.consume(n);
            self.pos += n as u64;
            match jsonl.lines.cut(&jsonl.window, end, &mut jsonl.spans) {
                Ok(taken) => (jsonl.taken, jsonl.ended) = (taken, end),
                Err(ScanError::Empty) => jsonl.ended = true,
                Err(error) => {
                    // The lines before the overlong one come first; it starts the window then.
                    jsonl.taken = (jsonl.lines.offset() - jsonl.first) as usize;
                    jsonl.failed = Some(error);
                }
            }
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
