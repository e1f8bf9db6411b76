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
        match self.container {
            Container::Jsonl => {
                self.inner.write_all(json)?;
                self.inner.write_all(b"\n")?;
            }
            Container::JsonArray => {
                let separator: &[u8] = if self.records == 0 { b"  " } else { b",\n  " };
                self.inner.write_all(separator)?;
                self.inner.write_all(json)?;
            }
        }
        self.records += 1;
        Ok(())
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
