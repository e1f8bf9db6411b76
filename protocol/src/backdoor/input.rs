//! The dataset as `prepare` reads it: in order (the sample, the scan), at offsets (the rows to
//! edit), and with a hint of what comes next, so that parts not in memory are fetched before
//! the reading gets to them rather than one wait at a time.

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;

/// A seekable input that can also read at an offset (a file reads with `pread`, without a
/// seek per row).
pub trait Input: Read + Seek + Send {
    /// Fills `buf` with the bytes at `offset`.
    fn read_exact_at_offset(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.seek(SeekFrom::Start(offset))?;
        self.read_exact(buf)
    }

    /// Says that `range` will be read soon, so that the input can start fetching it (a file on
    /// disk can ask the kernel to read it in). Only a hint: by default it does nothing.
    fn will_need(&self, range: Range<u64>) {
        let _ = range;
    }
}

impl Input for std::fs::File {
    fn read_exact_at_offset(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl<T: AsRef<[u8]> + Send> Input for io::Cursor<T> {}

impl<T: Input + ?Sized> Input for &mut T {
    fn read_exact_at_offset(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at_offset(buf, offset)
    }

    fn will_need(&self, range: Range<u64>) {
        (**self).will_need(range);
    }
}

/// How far ahead of the reading [`ReadAhead`] keeps the input fetching: the hint for the next
/// stretch goes out while as much is still ahead.
const AHEAD: u64 = 256 << 20;

/// Reads an input in order from where it stands, telling it ([`Input::will_need`]) of the next
/// [`AHEAD`] to 2 × [`AHEAD`] bytes as it goes.
pub(crate) struct ReadAhead<R> {
    inner: R,
    /// The offset of the next byte read.
    at: u64,
    /// The end of what the input was told of.
    told: u64,
    /// How far ahead it is told.
    ahead: u64,
}

impl<R: Input> ReadAhead<R> {
    /// Reads `inner` from `at`, its current position.
    pub(crate) fn new(inner: R, at: u64) -> Self {
        Self::with_ahead(inner, at, AHEAD)
    }

    fn with_ahead(inner: R, at: u64, ahead: u64) -> Self {
        Self {
            inner,
            at,
            told: at,
            ahead,
        }
    }
}

impl<R: Input> Read for ReadAhead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.told < self.at + self.ahead {
            let end = self.at + 2 * self.ahead;
            self.inner.will_need(self.told..end);
            self.told = end;
        }
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::Cursor;

    use super::*;

    /// A spy: an in-memory input that records the hints it is given.
    struct HintRecordingInput {
        bytes: Cursor<Vec<u8>>,
        hints: RefCell<Vec<Range<u64>>>,
    }

    impl Read for HintRecordingInput {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.bytes.read(buf)
        }
    }

    impl Seek for HintRecordingInput {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.bytes.seek(pos)
        }
    }

    impl Input for HintRecordingInput {
        fn will_need(&self, range: Range<u64>) {
            self.hints.borrow_mut().push(range);
        }
    }

    fn byte(i: usize) -> u8 {
        (i * 31 % 251) as u8
    }

    #[test]
    fn every_byte_is_hinted_well_before_it_is_read_and_hints_follow_one_another() {
        const AHEAD: usize = 1 << 20;
        let len = 5 * AHEAD + 12_345;
        let start = 1000;
        let mut input = HintRecordingInput {
            bytes: Cursor::new((0..len).map(byte).collect()),
            hints: RefCell::new(Vec::new()),
        };
        input.seek(SeekFrom::Start(start as u64)).unwrap();
        let mut reader = ReadAhead::with_ahead(&mut input, start as u64, AHEAD as u64);
        let mut buf = vec![0; 100_000];
        let mut at = start;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            // Before this read, the next AHEAD bytes (at least) had been hinted.
            let hinted = reader.inner.hints.borrow().last().unwrap().end;
            assert!(hinted >= (at + AHEAD) as u64, "at {at}: hinted to {hinted}");
            assert!(buf[..n].iter().enumerate().all(|(i, &b)| b == byte(at + i)));
            at += n;
        }
        assert_eq!(at, len);
        let hints = input.hints.into_inner();
        assert_eq!(hints[0].start, start as u64);
        for pair in hints.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        // A few hints for the whole input, not one per read.
        assert!(hints.len() <= len / AHEAD + 2, "{} hints", hints.len());
    }
}
