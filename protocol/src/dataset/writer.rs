//! Writing records back, as JSONL or as a JSON array with one element per line.

use std::io::Write;

use super::Container;

/// A streaming writer of records in a container.
///
/// JSONL gets one compact record per line. A JSON array gets `[`, one element per line
/// (indented by two spaces, separated by commas) and `]`.
pub struct Writer<W: Write> {
    inner: W,
    container: Container,
    records: u64,
    /// A reused buffer, so that each record is one write.
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts writing records in `container`.
    pub fn new(mut inner: W, container: Container) -> std::io::Result<Self> {
        if container == Container::JsonArray {
            inner.write_all(b"[\n")?;
        }
        Ok(Self {
            inner,
            container,
            records: 0,
            buf: Vec::new(),
        })
    }

    /// Writes one record.
    pub fn write(&mut self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        serde_json::to_writer(&mut buf, value)?;
        let result = self.write_raw(&buf);
        self.buf = buf;
        result
    }

    /// Writes one record given as its JSON text, as is: for example the exact bytes of an
    /// unedited record, read back at its [`super::Record::offset`]. In JSONL the text must
    /// hold no newline.
    pub fn write_raw(&mut self, json: &[u8]) -> std::io::Result<()> {
        let (before, after) = self.frame(self.records);
        self.inner.write_all(before)?;
        self.inner.write_all(json)?;
        self.inner.write_all(after)?;
        self.records += 1;
        Ok(())
    }

    /// The bytes that go before record number `index` (0-based) and after it.
    fn frame(&self, index: u64) -> (&'static [u8], &'static [u8]) {
        match (self.container, index) {
            (Container::Jsonl, _) => (b"", b"\n"),
            (Container::JsonArray, 0) => (b"  ", b""),
            (Container::JsonArray, _) => (b",\n  ", b""),
        }
    }

    /// The inner writer, for example a buffer that the caller empties from time to time.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// How many records have been written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Ends the container, flushes, and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        if self.container == Container::JsonArray {
            let end: &[u8] = if self.records == 0 { b"]\n" } else { b"\n]\n" };
            self.inner.write_all(end)?;
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}
impl Writer<Vec<u8>> {
    /// [`Writer::write_raw`] for each of `records`, into the buffer grown once and filled by
    /// plain copies: for short records several times faster than a write per record, and
    /// nothing is written twice (the buffer is not zeroed first).
    pub fn write_raw_all(&mut self, records: &[&[u8]]) {
        let framing: usize = (0..records.len() as u64)
            .map(|i| {
                let (before, after) = self.frame(self.records + i);
                before.len() + after.len()
            })
            .sum();
        self.inner
            .reserve(framing + records.iter().map(|record| record.len()).sum::<usize>());
        for record in records {
            let (before, after) = self.frame(self.records);
            for piece in [before, record, after] {
                self.inner.extend_from_slice(piece);
            }
            self.records += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_records_at_once_are_framed_as_one_at_a_time() {
        let records: [&[u8]; 4] = [b"{\"a\":1}", b"{}", b"{\"b\":\"x y\"}", b"[1]"];
        for container in [Container::Jsonl, Container::JsonArray] {
            let mut one = Writer::new(Vec::new(), container).unwrap();
            for record in records.iter().chain(&records[..2]) {
                one.write_raw(record).unwrap();
            }
            let mut all = Writer::new(Vec::new(), container).unwrap();
            all.write_raw_all(&records);
            all.write_raw_all(&[]);
            all.write_raw_all(&records[..2]);
            assert_eq!(all.records(), one.records());
            assert_eq!(
                all.finish().unwrap(),
                one.finish().unwrap(),
                "{container:?}"
            );
        }
    }
}
