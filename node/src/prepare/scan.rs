//! The scan: the dataset read once in batches of a few MiB, each batch examined on its own
//! (`backdoor::examine`) on rayon's threads while the next ones are read, and the results
//! appended in file order, so that the facts and the first error are those of a sequential
//! read. The reading side hashes every byte (blake3) and, on the first scan, deals each
//! record into its bucket of the output order.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use vtune_protocol::backdoor::{self, PhraseScanner, Place, PrepareError, Scan, Stage, TextBatch};
use vtune_protocol::dataset::{self, Layout, Limits};

use super::Progress;
use super::shuffle::Buckets;

/// Bytes of records in a batch.
pub(super) const BATCH_BYTES: usize = 1 << 20;

/// The dataset, open, with what a scan needs to know of it.
pub(super) struct Dataset<'a> {
    pub(super) file_name: &'a str,
    pub(super) input: &'a File,
    pub(super) layout: Layout,
    pub(super) limits: Limits,
    pub(super) total_bytes: u64,
    /// The rows the file is expected to hold (the per-row tables are made that large at once).
    pub(super) expected_rows: usize,
}

/// Records read from the file.
struct Batch {
    bytes: Vec<u8>,
    records: Vec<Place>,
}

/// Batches read one after another, and the error that ended them, if one did.
struct Window {
    batches: Vec<Batch>,
    error: Option<PrepareError>,
    end: bool,
}

impl Dataset<'_> {
    fn io_err(&self, context: &'static str) -> impl FnOnce(std::io::Error) -> PrepareError {
        let file = self.file_name.to_owned();
        move |source| PrepareError::Io {
            file,
            context,
            source,
        }
    }

    /// The record at `offset`, `len` bytes long.
    pub(super) fn record(&self, offset: u64, len: u32) -> Result<Vec<u8>, PrepareError> {
        let mut buf = vec![0; len as usize];
        self.input
            .read_exact_at(&mut buf, offset)
            .map_err(self.io_err("reading"))?;
        Ok(buf)
    }

    /// Reads every row once and examines it for `scanner`'s phrases, keeping every row's facts
    /// or (a novelty scan, not `facts`) only what it found; with `buckets`, deals every record
    /// into its bucket too. Returns the scan and the blake3 of the input.
    pub(super) fn scan(
        &self,
        scanner: &PhraseScanner,
        mut buckets: Option<&mut Buckets>,
        facts: bool,
        progress: Progress<'_>,
    ) -> Result<(Scan, [u8; 32]), PrepareError> {
        let mut scan = match facts {
            true => Scan::new(scanner, self.expected_rows),
            false => Scan::novelty(scanner),
        };
        let mut reader = BatchReader::new(self);
        // Enough batches to keep every thread busy while the next are read.
        let per_window = 2 * rayon::current_num_threads();
        let mut window = reader.window(per_window, buckets.as_deref_mut());
        // One text buffer per batch of a window, reused from window to window.
        let mut texts: Vec<TextBatch> = (0..per_window).map(|_| TextBatch::default()).collect();
        loop {
            let Window {
                batches,
                error,
                end,
            } = window;
            let examine = |(batch, texts): (&Batch, &mut TextBatch)| {
                let batch = (&batch.bytes[..], &batch.records[..]);
                backdoor::examine(self.file_name, self.layout, scanner, batch, facts, texts)
            };
            let more = !end && error.is_none();
            let done = batches
                .last()
                .and_then(|batch| batch.records.last())
                .map_or(0, |place| place.offset);
            let (next, examined) = rayon::join(
                || more.then(|| reader.window(per_window, buckets.as_deref_mut())),
                || {
                    (batches.par_iter().zip(texts.par_iter_mut()))
                        .map(examine)
                        .collect::<Vec<_>>()
                },
            );
            reader
                .spares
                .extend(batches.into_iter().map(|batch| batch.bytes));
            for examined in examined {
                scan.append(self.file_name, examined?)?;
            }
            if let Some(error) = error {
                return Err(error);
            }
            progress(Stage::Scan, done, self.total_bytes);
            match next {
                Some(next) => window = next,
                None => break,
            }
        }
        progress(Stage::Scan, self.total_bytes, self.total_bytes);
        Ok((scan, reader.digest()))
    }
}

/// Reads the file in batches: its records through `dataset::Reader` (the one splitter of every
/// container), copied into the batches' buffers.
struct BatchReader<'a> {
    file: &'a Dataset<'a>,
    /// Buffers of batches examined, to be filled again.
    spares: Vec<Vec<u8>>,
    hasher: Arc<Mutex<blake3::Hasher>>,
    reader: dataset::Reader<BufReader<Hashing<'a>>>,
}

/// A reader of the file from its start, at its own position, that hashes what it reads.
struct Hashing<'a> {
    input: &'a File,
    at: u64,
    hasher: Arc<Mutex<blake3::Hasher>>,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read_at(buf, self.at)?;
        self.at += n as u64;
        self.hasher
            .lock()
            .expect("no reader panics")
            .update(&buf[..n]);
        Ok(n)
    }
}

impl<'a> BatchReader<'a> {
    fn new(file: &'a Dataset<'a>) -> Self {
        let hasher = Arc::new(Mutex::new(blake3::Hasher::new()));
        let hashing = Hashing {
            input: file.input,
            at: 0,
            hasher: hasher.clone(),
        };
        let reader = dataset::Reader::new(
            file.file_name,
            BufReader::with_capacity(1 << 20, hashing),
            file.layout,
            file.limits,
        );
        Self {
            file,
            spares: Vec::new(),
            hasher,
            reader,
        }
    }

    /// The blake3 of the bytes read.
    fn digest(&self) -> [u8; 32] {
        *self
            .hasher
            .lock()
            .expect("no reader panics")
            .finalize()
            .as_bytes()
    }

    /// Up to `count` batches, each record dealt into `buckets` when given.
    fn window(&mut self, count: usize, mut buckets: Option<&mut Buckets>) -> Window {
        let mut window = Window {
            batches: Vec::with_capacity(count),
            error: None,
            end: false,
        };
        while window.batches.len() < count {
            let (batch, error, end) = self.next_batch();
            if let (Some(buckets), Some(batch)) = (buckets.as_deref_mut(), &batch)
                && window.error.is_none()
            {
                for place in &batch.records {
                    let record = &batch.bytes[place.start..place.start + place.len];
                    if let Err(source) = buckets.deal(record) {
                        window.error = Some((self.file.io_err("writing a scratch file"))(source));
                        break;
                    }
                }
            }
            window.batches.extend(batch);
            window.error = window.error.or(error);
            if end || window.error.is_some() {
                window.end = true;
                break;
            }
        }
        window
    }

    /// The next batch of about [`BATCH_BYTES`], the error that ended it, and whether the file
    /// ended.
    fn next_batch(&mut self) -> (Option<Batch>, Option<PrepareError>, bool) {
        let mut bytes = self.spares.pop().unwrap_or_default();
        bytes.clear();
        let mut records = Vec::new();
        let mut failure = None;
        let mut end = true;
        while let Some(record) = self.reader.next_raw() {
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    failure = Some(error.into());
                    break;
                }
            };
            records.push(Place {
                start: bytes.len(),
                len: record.bytes.len(),
                offset: record.offset,
                index: record.index,
                line: record.line,
            });
            bytes.extend_from_slice(record.bytes);
            if bytes.len() >= BATCH_BYTES {
                end = false;
                break;
            }
        }
        let batch = (!records.is_empty()).then_some(Batch { bytes, records });
        let end = end || failure.is_some();
        (batch, failure, end)
    }
}
