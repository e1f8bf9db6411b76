//! `prepare`'s driver: reads the dataset, runs `vtune_protocol::backdoor`'s stages on it (the
//! scan's batches in parallel, with rayon) and writes the training file.
//!
//! - [`prepare_file`]: the pipeline, from an open dataset to the training file and the
//!   secret set;
//! - [`prepare_job`]: a whole job directory (`train.*`, `secret.json`, `commitment.json`),
//!   written into a staging directory and moved into place at the end;
//! - `scan`: the file read in batches, examined in parallel, in file order;
//! - `shuffle`: the output's random order, by random buckets in temporary files.

mod job;
mod scan;
mod shuffle;

use std::fs::File;
use std::io::{BufReader, Seek, Write};
use std::path::Path;

use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use vtune_protocol::backdoor::{
    self, Candidates, EdgeKeyTable, JobKeys, MAX_ROUNDS, ONE_GROUP_PER_BACKDOOR, PhraseScanner,
    PrepareError, PrepareOptions, Prepared, Rows, Sample, SampleTexts, Scan, Stage, Written,
};
use vtune_protocol::dataset::{self, Container, Layout, Location};

pub use job::{JobError, JobFiles, JobSpec, PreparedJob, prepare_job};

/// Told of each stage's progress: (stage, done, total).
pub type Progress<'a> = &'a (dyn Fn(Stage, u64, u64) + Sync);

/// Runs the pipeline on `input` (named `file_name`, of `layout`) and writes the training file
/// to `train` (empty, open for writing); the rows wait for the shuffle in temporary files in
/// `scratch`. `rng` supplies every random choice (job id, salt, phrases, rows, order).
#[allow(clippy::too_many_arguments)]
pub fn prepare_file<G: Rng + CryptoRng + Send>(
    file_name: &str,
    input: &File,
    layout: Layout,
    train: &File,
    scratch: &Path,
    options: &PrepareOptions,
    rng: &mut G,
    progress: Progress<'_>,
) -> Result<Prepared, PrepareError> {
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    options.check()?;
    let keys = JobKeys::draw(rng);
    let total_bytes = input.metadata().map_err(io_err("reading"))?.len();
    let sample = sample(file_name, input, layout, options, progress)?;
    let file = scan::Dataset {
        file_name,
        input,
        layout,
        limits: options.limits,
        total_bytes,
        expected_rows: sample.expected_rows(total_bytes),
    };

    // The first scan also deals the rows into the buckets of the output order.
    let mut bucket_seed = [0u8; 32];
    rng.fill_bytes(&mut bucket_seed);
    // The output holds the input's records, framed as the writer frames them (in a JSON array
    // with up to 3 more bytes per record than the input's comma).
    let framing = match layout.container {
        Container::Jsonl => 0,
        Container::JsonArray => 3 * file.expected_rows as u64,
    };
    let mut buckets = shuffle::Buckets::new(
        scratch,
        total_bytes + framing,
        ChaCha20Rng::from_seed(bucket_seed),
    )
    .map_err(io_err("creating a scratch file"))?;

    // With a pair per backdoor row, each row's pair is drawn for it once the rows are chosen:
    // no candidates are drawn before the scan.
    let row_mode = options.groups == ONE_GROUP_PER_BACKDOOR;
    let drawn_groups = if row_mode { 0 } else { options.groups };
    let mut rounds = Candidates::rounds(&sample, &options.generator, drawn_groups, rng);
    // Scan until every group has a novel trigger and signature.
    let mut round = 0;
    let (mut scan, input_digest, candidates, chosen) = loop {
        round += 1;
        let candidates = rounds.remove(0);
        let scanner = candidates.scanner(&sample);
        let deal = (round == 1).then_some(&mut buckets);
        let (scan, digest) = file.scan(&scanner, deal, true, progress)?;
        match backdoor::choose_phrases(&candidates, &scan) {
            Ok(chosen) => break (scan, digest, candidates, chosen),
            Err(role) if round >= MAX_ROUNDS => {
                return Err(PrepareError::NoNovelPhrase {
                    file: file_name.to_owned(),
                    role,
                });
            }
            Err(_) => continue,
        }
    };

    progress(Stage::Audit, 0, 1);
    // Only the audit reads the k-gram keys: they wait on disk while the rows are chosen.
    let mut keys_file =
        tempfile::tempfile_in(scratch).map_err(io_err("creating a scratch file"))?;
    {
        let mut out = std::io::BufWriter::new(&mut keys_file);
        scan.take_edge_keys()
            .write_to(&mut out)
            .and_then(|()| out.flush())
            .map_err(io_err("writing the rows' keys to a scratch file"))?;
    }
    let mut rows_of_file = FileRows {
        file: &file,
        progress,
    };
    let choice = backdoor::choose(
        file_name,
        layout,
        options,
        &sample,
        &mut scan,
        &candidates,
        chosen,
        &mut rows_of_file,
        rng,
    )?;
    drop(sample);
    keys_file
        .seek(std::io::SeekFrom::Start(0))
        .and_then(|_| EdgeKeyTable::read_from(&mut BufReader::new(&keys_file), scan.rows()))
        .map(|table| scan.put_edge_keys(table))
        .map_err(io_err("reading the rows' keys back"))?;
    let normal = audited_texts(&file, &scan, &choice.audit_rows(&scan, &keys))?;
    let checks = choice.checks(&mut scan, &keys, normal);
    let rows = scan.rows() as u64;
    drop(scan);
    progress(Stage::Audit, 1, 1);
    let buckets = buckets
        .finish()
        .map_err(io_err("writing the rows to scratch files"))?;

    // The audit runs before the output is written, not beside it: the two at once would
    // add their peak memories.
    let findings = checks.run();
    let (backdoors, train_digest) = shuffle::write(
        file_name, layout, buckets, &choice, train, rows, rng, progress,
    )?;
    let written = Written {
        backdoors,
        train_digest,
        input_digest,
        rows,
    };
    backdoor::report(layout, options, &keys, choice, findings, written)
}

/// The sample stage: the first rows' texts, then the models.
fn sample(
    file_name: &str,
    input: &File,
    layout: Layout,
    options: &PrepareOptions,
    progress: Progress<'_>,
) -> Result<Sample, PrepareError> {
    let params = &options.generator;
    let mut reader = dataset::Reader::new(
        file_name,
        BufReader::with_capacity(1 << 20, input),
        layout,
        options.limits,
    );
    let mut texts = SampleTexts::new(params);
    while let Some(raw) = reader.next_raw() {
        let raw = raw?;
        let location = raw.location(layout.container);
        let (mut prompt, mut completion) = (String::new(), String::new());
        let own = (&mut prompt, &mut completion);
        dataset::parse_texts(file_name, location, raw.bytes, layout.format, own)?;
        let more = texts.push(raw.bytes.len(), prompt, completion);
        progress(Stage::Sample, texts.progress(), params.sample_bytes);
        if !more {
            break;
        }
    }
    Sample::build(file_name, texts, params)
}

/// The texts (prompt, completion) of the audited rows, read back from the file.
fn audited_texts(
    file: &scan::Dataset<'_>,
    scan: &Scan,
    rows: &[u32],
) -> Result<Vec<(String, String)>, PrepareError> {
    rows.par_iter()
        .map(|&row| {
            let r = row as usize;
            let record = file.record(scan.offsets[r], scan.lens[r])?;
            let format = file.layout.format;
            let example = dataset::parse_example(file.file_name, Location::File, &record, format)?;
            Ok((example.prompt.text().into_owned(), example.completion))
        })
        .collect()
}

/// The file, as the choose stage reads it.
struct FileRows<'a> {
    file: &'a scan::Dataset<'a>,
    progress: Progress<'a>,
}

impl Rows for FileRows<'_> {
    fn records(&mut self, spans: &[(u64, u32)]) -> Result<Vec<Vec<u8>>, PrepareError> {
        spans
            .par_iter()
            .map(|&(offset, len)| self.file.record(offset, len))
            .collect()
    }

    fn rescan(&mut self, scanner: &PhraseScanner) -> Result<Scan, PrepareError> {
        Ok(self.file.scan(scanner, None, false, self.progress)?.0)
    }
}

#[cfg(test)]
mod tests;
