//! The scan: every row read once, its texts parsed and examined on worker threads.
//!
//! A reading thread reads the file in batches of a few MiB, hashing every byte with blake3,
//! finds the records in place (JSONL) and hands the batches to the workers; when the scan deals
//! the rows into the output's buckets, it draws each row's bucket too. Each worker writes its
//! batch's dealt records to their buckets (`shuffle`), then parses its rows and gathers their facts:
//! whether the texts are blank, their hashes (for near duplicates), their k-gram keys (for the
//! frequency search), which candidate phrases occur (novelty) and which rows hold 3 consecutive
//! words of a candidate signature. The calling thread puts the batches back in file order, so
//! results and the first error are those of a sequential read.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use super::near_dup::{End, text_key};
use super::prepare::{PrepareError, Stage};
use super::scan::{PhraseScanner, TextBatch};
use super::selection::RowSet;
use super::shuffle::{Buckets, Deal, Dealer};
use super::splice::NonAscii;
use crate::dataset::{self, Container, Layout, Limits, Location};

/// Bytes of records handed to a worker at a time.
pub(crate) const BATCH_BYTES: usize = 4 << 20;

/// What the scan found, per row in file order.
pub(crate) struct Scan {
    /// Byte offset of every record.
    pub(crate) offsets: Vec<u64>,
    /// Byte length of every record.
    pub(crate) lens: Vec<u32>,
    /// Each row's prompt text, keyed for near duplicates (0: blank).
    pub(crate) prompts: Vec<u64>,
    /// Each row's completion text, keyed for near duplicates (0: blank).
    pub(crate) completions: Vec<u64>,
    /// The byte lengths of non-blank prompts.
    pub(crate) prompt_lengths: RowSet,
    /// The byte lengths of non-blank completions.
    pub(crate) completion_lengths: RowSet,
    /// The k-gram keys at the end of each prompt.
    pub(crate) prompt_keys: Vec<[u64; 3]>,
    /// The k-gram keys at the start of each completion.
    pub(crate) completion_keys: Vec<[u64; 3]>,
    /// Candidate phrases found anywhere (indexed as the scanner's phrases).
    pub(crate) phrase_found: Vec<bool>,
    /// Per candidate signature: rows holding 3 consecutive words of it.
    pub(crate) signature_rows: Vec<RowSet>,
    /// The blake3 of the input.
    pub(crate) input_digest: [u8; 32],
    /// How the file writes non-ASCII characters: escaped if every byte of it is ASCII.
    pub(crate) non_ascii: NonAscii,
}

/// The settings the scan needs.
pub(crate) struct ScanSetup<'a> {
    pub(crate) file_name: &'a str,
    pub(crate) layout: Layout,
    pub(crate) limits: Limits,
    pub(crate) scanner: &'a PhraseScanner,
    pub(crate) total_bytes: u64,
    /// The rows the file is expected to hold (the per-row tables are made that large at once).
    pub(crate) expected_rows: usize,
}

/// Records read from the file, for one worker.
struct Batch {
    sequence: usize,
    bytes: Vec<u8>,
    records: Vec<Place>,
    /// How the worker writes the records to the buckets, when the scan deals them.
    deal: Option<Deal>,
}

/// Where one record of a batch is, in the batch and in the file.
struct Place {
    start: usize,
    len: usize,
    offset: u64,
    index: u64,
    line: u64,
}

/// One batch's facts, or the first error among its rows.
struct Examined {
    sequence: usize,
    offsets: Vec<u64>,
    lens: Vec<u32>,
    prompts: Vec<u64>,
    completions: Vec<u64>,
    /// Byte lengths of the non-blank texts.
    text_lengths: [Vec<u32>; 2],
    prompt_keys: Vec<[u64; 3]>,
    completion_keys: Vec<[u64; 3]>,
    phrase_found: Vec<bool>,
    /// (row within the batch, signature index).
    signature_hits: Vec<(usize, usize)>,
    non_ascii: bool,
    error: Option<PrepareError>,
}

/// Reads every row of `input` once, on `workers` threads besides a reading thread.
/// With `buckets`, every record also goes to a random bucket of the output order (written by
/// the worker that examines it).
pub(crate) fn scan<R: Read + Send>(
    setup: &ScanSetup<'_>,
    input: R,
    buckets: Option<&mut Buckets<'_>>,
    workers: usize,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<Scan, PrepareError> {
    let phrase_count = setup.scanner.phrase_count();
    let signature_count = setup.scanner.signature_count();
    let rows = setup.expected_rows;
    let mut scan = Scan {
        offsets: Vec::with_capacity(rows),
        lens: Vec::with_capacity(rows),
        prompts: Vec::with_capacity(rows),
        completions: Vec::with_capacity(rows),
        prompt_lengths: RowSet::new(0),
        completion_lengths: RowSet::new(0),
        prompt_keys: Vec::with_capacity(rows),
        completion_keys: Vec::with_capacity(rows),
        phrase_found: vec![false; phrase_count],
        signature_rows: vec![RowSet::new(0); signature_count],
        input_digest: [0; 32],
        non_ascii: NonAscii::Escaped,
    };
    let (batch_tx, batch_rx) = mpsc::sync_channel::<Batch>(2 * workers);
    let batch_rx = Mutex::new(batch_rx);
    // Workers hand the batches' buffers back to the reader, which fills them again.
    let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(4 * workers.max(1));
    let stop = AtomicBool::new(false);
    let (files, dealer) = match buckets {
        Some(buckets) => {
            let (files, dealer) = buckets.parts();
            (Some(files), Some(dealer))
        }
        None => (None, None),
    };
    std::thread::scope(|threads| {
        let (result_tx, result_rx) = mpsc::sync_channel::<Examined>(2 * workers);
        let stop = &stop;
        let channels = (batch_tx, spare_rx);
        let reader = named("scan-read")
            .spawn_scoped(threads, move || {
                read_batches(setup, input, dealer, channels, stop)
            })
            .expect("a thread can be started");
        for _ in 0..workers.max(1) {
            let (batch_rx, result_tx, spare_tx) = (&batch_rx, result_tx.clone(), spare_tx.clone());
            let worker = move || {
                // Reused from batch to batch: a fresh one each time would fault its pages in.
                let mut texts = TextBatch::default();
                let mut gathered = Vec::new();
                loop {
                    let next = batch_rx.lock().expect("no worker panics").recv();
                    let Ok(mut batch) = next else { break };
                    let dealt = match (&batch.deal, files) {
                        (Some(deal), Some(files)) => deal.write(files, &batch.bytes, &mut gathered),
                        _ => Ok(()),
                    };
                    let mut examined = examine(setup, &batch, &mut texts);
                    if let Err(source) = dealt {
                        examined.error.get_or_insert(PrepareError::Io {
                            file: setup.file_name.to_owned(),
                            context: "dealing the rows into the training file",
                            source,
                        });
                    }
                    // A buffer the reader has no room for is dropped.
                    let _ = spare_tx.try_send(std::mem::take(&mut batch.bytes));
                    if result_tx.send(examined).is_err() {
                        break;
                    }
                }
            };
            named("scan-work")
                .spawn_scoped(threads, worker)
                .expect("a thread can be started");
        }
        drop(spare_tx);
        drop(result_tx);
        // Put the batches back in order. At the first error, tell the reader to stop and drain
        // what is already under way.
        let mut waiting = BTreeMap::new();
        let (mut next, mut failure) = (0, None);
        for examined in result_rx {
            if failure.is_some() {
                continue;
            }
            waiting.insert(examined.sequence, examined);
            while let Some(examined) = waiting.remove(&next) {
                next += 1;
                if let Some(error) = append(&mut scan, examined) {
                    failure = Some(error);
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                let done = scan.offsets.last().copied().unwrap_or(0);
                progress(Stage::Scan, done, setup.total_bytes);
            }
        }
        let digest = reader.join().expect("the reading thread does not panic");
        if let Some(error) = failure {
            return Err(error);
        }
        scan.input_digest = digest?;
        Ok(())
    })?;
    progress(Stage::Scan, setup.total_bytes, setup.total_bytes);
    Ok(scan)
}

/// A thread builder with a name (for profilers and debuggers).
pub(crate) fn named(name: &str) -> std::thread::Builder {
    std::thread::Builder::new().name(name.to_owned())
}

/// Adds a batch's facts to `scan`, or returns its error.
fn append(scan: &mut Scan, examined: Examined) -> Option<PrepareError> {
    if let Some(error) = examined.error {
        return Some(error);
    }
    let first_row = scan.offsets.len();
    scan.offsets.extend(examined.offsets);
    scan.lens.extend(examined.lens);
    scan.prompts.extend(examined.prompts);
    scan.completions.extend(examined.completions);
    let [prompt_lengths, completion_lengths] = examined.text_lengths;
    for len in prompt_lengths {
        scan.prompt_lengths.insert(len as usize);
    }
    for len in completion_lengths {
        scan.completion_lengths.insert(len as usize);
    }
    scan.prompt_keys.extend(examined.prompt_keys);
    scan.completion_keys.extend(examined.completion_keys);
    for (found, new) in scan.phrase_found.iter_mut().zip(examined.phrase_found) {
        *found |= new;
    }
    for (row, signature) in examined.signature_hits {
        scan.signature_rows[signature].insert(first_row + row);
    }
    if examined.non_ascii {
        scan.non_ascii = NonAscii::Raw;
    }
    None
}

/// The reading thread: records in batches to the workers (and, with `buckets`, dealt into them);
/// returns the blake3 of the input. A read error ends the batches; it is returned after those
/// read before it.
fn read_batches<R: Read>(
    setup: &ScanSetup<'_>,
    input: R,
    mut dealer: Option<&mut Dealer>,
    (batches, spares): (mpsc::SyncSender<Batch>, mpsc::Receiver<Vec<u8>>),
    stop: &AtomicBool,
) -> Result<[u8; 32], PrepareError> {
    let buffer = || {
        let mut bytes = spares
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES + (64 << 10)));
        bytes.clear();
        bytes
    };
    let mut rows = 0u64;
    let mut sequence = 0;
    // Sends a batch on, after dealing its records; false once the scan has stopped.
    let mut send = |bytes: Vec<u8>, records: Vec<Place>| -> Result<bool, PrepareError> {
        let last = records.last().map_or(0, |place| place.index);
        rows += records.len() as u64;
        if rows > u64::from(u32::MAX) || records.iter().any(|p| p.len > u32::MAX as usize) {
            return Err(PrepareError::Record {
                file: setup.file_name.to_owned(),
                index: last,
                message: "more than 4 billion rows, or a record longer than 4 GiB, are not \
                          supported"
                    .into(),
            });
        }
        let deal = dealer.as_mut().map(|dealer| {
            let places: Vec<(usize, usize)> = records
                .iter()
                .map(|place| (place.start, place.len))
                .collect();
            dealer.deal(&places)
        });
        sequence += 1;
        let batch = Batch {
            sequence: sequence - 1,
            bytes,
            records,
            deal,
        };
        Ok(!stop.load(Ordering::Relaxed) && batches.send(batch).is_ok())
    };
    let mut hasher = blake3::Hasher::new();
    match setup.layout.container {
        Container::Jsonl => read_lines(setup, input, &mut hasher, buffer, &mut send)?,
        Container::JsonArray => read_elements(setup, input, &mut hasher, buffer, &mut send)?,
    }
    Ok(*hasher.finalize().as_bytes())
}

/// JSONL: reads the file straight into the batches' buffers and finds the records in place.
fn read_lines<R: Read>(
    setup: &ScanSetup<'_>,
    mut input: R,
    hasher: &mut blake3::Hasher,
    buffer: impl Fn() -> Vec<u8>,
    send: &mut dyn FnMut(Vec<u8>, Vec<Place>) -> Result<bool, PrepareError>,
) -> Result<(), PrepareError> {
    let mut lines = dataset::Lines::new(setup.file_name, setup.limits.max_record_bytes);
    let mut spans = Vec::new();
    let mut bytes = buffer();
    loop {
        // The rest of the last buffer is at the start of this one; a record longer than a
        // buffer doubles it.
        let kept = bytes.len();
        let want = if kept < BATCH_BYTES {
            BATCH_BYTES - kept
        } else {
            kept
        };
        (&mut input)
            .take(want as u64)
            .read_to_end(&mut bytes)
            .map_err(|source| PrepareError::Io {
                file: setup.file_name.to_owned(),
                context: "reading",
                source,
            })?;
        let end = bytes.len() - kept < want;
        hasher.update(&bytes[kept..]);
        let first = lines.offset();
        spans.clear();
        let split = lines.split(&bytes, end, &mut spans);
        let taken = *split.as_ref().unwrap_or(&0);
        if spans.is_empty() && taken == 0 && split.is_ok() && !end {
            continue;
        }
        let records: Vec<Place> = spans
            .iter()
            .map(|span| Place {
                start: (span.offset - first) as usize,
                len: span.len,
                offset: span.offset,
                index: span.index,
                line: span.line,
            })
            .collect();
        let mut next = buffer();
        next.extend_from_slice(&bytes[taken..]);
        bytes.truncate(taken);
        if !records.is_empty() && !send(bytes, records)? {
            // The scan stopped at an earlier error.
            return Ok(());
        }
        split?;
        if end {
            return Ok(());
        }
        bytes = next;
    }
}

/// A JSON array: records found by the stream scanner, copied into the batches.
fn read_elements<R: Read>(
    setup: &ScanSetup<'_>,
    input: R,
    hasher: &mut blake3::Hasher,
    buffer: impl Fn() -> Vec<u8>,
    send: &mut dyn FnMut(Vec<u8>, Vec<Place>) -> Result<bool, PrepareError>,
) -> Result<(), PrepareError> {
    let hashing = HashingReader {
        inner: input,
        hasher,
    };
    let mut reader = dataset::Reader::new(
        setup.file_name,
        BufReader::with_capacity(1 << 20, hashing),
        setup.layout,
        setup.limits,
    );
    let (mut bytes, mut records) = (buffer(), Vec::new());
    while let Some(record) = reader.next_raw() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                if !records.is_empty() {
                    send(bytes, records)?;
                }
                return Err(error.into());
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
            let full = (
                std::mem::replace(&mut bytes, buffer()),
                std::mem::take(&mut records),
            );
            if !send(full.0, full.1)? {
                return Ok(());
            }
        }
    }
    if !records.is_empty() {
        send(bytes, records)?;
    }
    Ok(())
}

/// A worker's part: parses a batch's rows and gathers their facts (`texts` is a buffer for
/// the rows' texts).
fn examine(setup: &ScanSetup<'_>, batch: &Batch, texts: &mut TextBatch) -> Examined {
    let rows = batch.records.len();
    let scanner = setup.scanner;
    let mut examined = Examined {
        sequence: batch.sequence,
        offsets: Vec::with_capacity(rows),
        lens: Vec::with_capacity(rows),
        prompts: Vec::with_capacity(rows),
        completions: Vec::with_capacity(rows),
        text_lengths: [Vec::new(), Vec::new()],
        prompt_keys: Vec::with_capacity(rows),
        completion_keys: Vec::with_capacity(rows),
        phrase_found: vec![false; scanner.phrase_count()],
        signature_hits: Vec::new(),
        non_ascii: !batch.bytes.is_ascii(),
        error: None,
    };
    // Every row's prompt then completion: texts 2r and 2r + 1.
    texts.clear();
    // UTF-8 checked for the whole batch at once: its records start and end at ASCII bytes.
    let batch_text = simdutf8::basic::from_utf8(&batch.bytes).ok();
    let mut own = dataset::Texts::new();
    let own = &mut own;
    for place in &batch.records {
        let bytes = &batch.bytes[place.start..place.start + place.len];
        let location = match setup.layout.container {
            Container::Jsonl => Location::Line(place.line),
            Container::JsonArray => Location::Element {
                index: place.index,
                line: place.line,
            },
        };
        // The fast path, else the full one (for its result or its error).
        let example;
        let record = batch_text.and_then(|text| text.get(place.start..place.start + place.len));
        let skimmed = match record {
            Some(record) => dataset::skim_text(record, setup.layout.format, own),
            None => dataset::skim(bytes, setup.layout.format, own),
        };
        let (prompt, completion) = if skimmed {
            (own.prompt.as_str(), own.completion.as_str())
        } else {
            example =
                match dataset::parse_example(setup.file_name, location, bytes, setup.layout.format)
                {
                    Ok(example) => example,
                    Err(error) => {
                        examined.error = Some(error.into());
                        return examined;
                    }
                };
            own.prompt = example.prompt.text().into_owned();
            (own.prompt.as_str(), example.completion.as_str())
        };
        examined.offsets.push(place.offset);
        examined.lens.push(place.len as u32);
        let (prompt_key, completion_key) = (
            text_key(prompt, End::Start),
            text_key(completion, End::Finish),
        );
        examined.prompts.push(prompt_key);
        examined.completions.push(completion_key);
        for (side, (key, text)) in [(prompt_key, prompt), (completion_key, completion)]
            .into_iter()
            .enumerate()
        {
            if key != 0 {
                examined.text_lengths[side].push(text.len() as u32);
            }
        }
        texts.push(prompt);
        texts.push(completion);
        let t = 2 * examined.prompt_keys.len();
        examined.prompt_keys.push(texts.edge_keys(t, 0));
        examined.completion_keys.push(texts.edge_keys(t + 1, 1));
    }
    scanner.phrases_in(texts, &mut examined.phrase_found);
    scanner.signature_runs_in(texts, |text, signature| {
        let hit = (text / 2, signature);
        if examined.signature_hits.last() != Some(&hit) {
            examined.signature_hits.push(hit);
        }
    });
    examined
}

/// Feeds every byte read through a blake3 hasher.
struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut blake3::Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
