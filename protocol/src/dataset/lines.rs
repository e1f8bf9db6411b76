//! JSONL records found in buffers of the file, in place: the one line splitter, used by the
//! [`super::Reader`] (through its scanner), and so by every reader of a file, `prepare`'s scan
//! included.

use super::Location;
use super::scan::{BOM, ScanError, Span, is_space};

/// Cuts JSONL into records, a buffer at a time.
#[derive(Debug)]
pub(crate) struct Lines {
    limit: usize,
    /// The file offset of the next buffer's first byte.
    offset: u64,
    /// The 1-based line number at `offset`.
    line: u64,
    /// Records found so far.
    index: u64,
}

impl Lines {
    /// A cutter for JSONL whose lines are at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            offset: 0,
            line: 1,
            index: 0,
        }
    }

    /// A cutter that starts at `offset`, on `line` (after what a caller has read itself).
    pub(crate) fn starting_at(limit: usize, offset: u64, line: u64) -> Self {
        Self {
            offset,
            line,
            ..Self::new(limit)
        }
    }

    /// Skips `len` bytes of an overlong line (with its newline if `ended`): the line counts as
    /// a record.
    pub(crate) fn skip(&mut self, len: u64, ended: bool) {
        self.offset += len;
        if ended {
            self.line += 1;
            self.index += 1;
        }
    }

    /// The file offset of the next buffer's first byte (after an overlong line's error, of
    /// that line's first byte).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Appends to `spans` the records of `bytes`, the file's bytes from [`Lines::offset`]: of
    /// every line if `end` (the file ends there), else of the lines before the last newline.
    /// Returns how many bytes it took; the rest must start the next buffer. A record's bytes
    /// are `bytes[(span.offset - start) as usize..][..span.len]`, `start` being the offset
    /// before the call. After an error, `spans` holds the records before it.
    pub(crate) fn cut(
        &mut self,
        bytes: &[u8],
        end: bool,
        spans: &mut Vec<Span>,
    ) -> Result<usize, ScanError> {
        let mut at = 0;
        if self.offset == 0 && bytes.starts_with(BOM) {
            at = BOM.len();
        } else if self.offset == 0 && !end && BOM.starts_with(bytes) {
            // Too little to tell yet.
            return Ok(0);
        }
        let taken = loop {
            let (line_end, next) = match memchr::memchr(b'\n', &bytes[at..]) {
                Some(i) => (at + i, at + i + 1),
                None if end => (bytes.len(), bytes.len()),
                None => {
                    if bytes.len() - at > self.limit {
                        self.offset += at as u64;
                        return Err(self.too_long());
                    }
                    break at;
                }
            };
            if line_end == at && next == at {
                break at;
            }
            let line = &bytes[at..line_end];
            if line.len() > self.limit {
                self.offset += at as u64;
                return Err(self.too_long());
            }
            let leading = line.iter().take_while(|&&b| is_space(b)).count();
            if leading < line.len() {
                let trailing = line.iter().rev().take_while(|&&b| is_space(b)).count();
                spans.push(Span {
                    index: self.index,
                    line: self.line,
                    offset: self.offset + (at + leading) as u64,
                    len: line.len() - leading - trailing,
                });
                self.index += 1;
            }
            self.line += u64::from(next > line_end);
            at = next;
        };
        self.offset += taken as u64;
        if end && self.index == 0 {
            return Err(ScanError::Empty);
        }
        Ok(taken)
    }

    fn too_long(&self) -> ScanError {
        ScanError::TooLong {
            location: Location::Line(self.line),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::dataset::Container;
    use crate::dataset::reader::scan_error;
    use crate::dataset::scan::Scanner;

    /// The spans (with their bytes) and the error of a whole read by the stream scanner.
    fn by_scanner(bytes: &[u8], limit: usize) -> (Vec<(Span, Vec<u8>)>, Option<String>) {
        let mut scanner = Scanner::new(bytes, Container::Jsonl, limit);
        let mut spans = Vec::new();
        while let Some(next) = scanner.next_span() {
            match next {
                Ok(span) => spans.push((span, scanner.buf.clone())),
                Err(error) => return (spans, Some(format!("{:?}", scan_error("f", limit, error)))),
            }
        }
        (spans, None)
    }

    /// The same, by [`Lines`] fed buffers of at most `piece` new bytes each.
    fn by_lines(
        bytes: &[u8],
        limit: usize,
        piece: usize,
    ) -> (Vec<(Span, Vec<u8>)>, Option<String>) {
        let mut lines = Lines::new(limit);
        let mut spans = Vec::new();
        let mut found = Vec::new();
        let (mut buffer, mut read) = (Vec::new(), 0);
        loop {
            let more = piece.min(bytes.len() - read);
            buffer.extend_from_slice(&bytes[read..read + more]);
            read += more;
            let end = read == bytes.len();
            let start = lines.offset();
            found.clear();
            let result = (lines.cut(&buffer, end, &mut found))
                .map_err(|error| scan_error("f", limit, error));
            for span in &found {
                let at = (span.offset - start) as usize;
                spans.push((*span, buffer[at..at + span.len].to_vec()));
            }
            match result {
                Err(error) => return (spans, Some(format!("{error:?}"))),
                Ok(_) if end => return (spans, None),
                Ok(taken) => {
                    buffer.drain(..taken);
                }
            }
        }
    }

    #[test]
    fn spans_and_errors_match_the_stream_scanner() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let pieces: [&[u8]; 9] = [
            b"{\"a\": 1}",
            b"\n",
            b"\r\n",
            b" ",
            b"\t",
            b"x",
            b"\xEF\xBB\xBF",
            b"\"\\n\"",
            b"",
        ];
        for round in 0..3000 {
            let mut text = Vec::new();
            if round % 5 == 0 {
                text.extend_from_slice(BOM);
            }
            for _ in 0..rng.random_range(0..14) {
                text.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
            let limit = rng.random_range(1..24);
            let piece = rng.random_range(1..10);
            let expected = by_scanner(&text, limit);
            let got = by_lines(&text, limit, piece);
            assert_eq!(
                got,
                expected,
                "{:?} limit {limit} piece {piece}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}
