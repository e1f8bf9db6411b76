//! The `prepare` pipeline: from a dataset to the training file, the secret set and the stealth
//! audit, streaming, in bounded memory.
//!
//! 1. **Sample.** Read the first rows (up to `sample_bytes` of prompt and of completion text)
//!    and build the prompt and completion models; draw candidate triggers and signatures.
//! 2. **Scan.** Read every row once: its offset, whether it is usable, its k-gram keys, which
//!    candidates occur in it (novelty), and its texts into the near-duplicate sort.
//! 3. **Audit the input.** Merge the sort: count prefix pairs and mark the rows in any.
//! 4. **Choose.** The first novel candidates; N usable rows; their groups; a random order.
//! 5. **Write.** In the new order: seek to each row, parse it, edit it if it is a backdoor,
//!    write it.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use rand::{CryptoRng, Rng};

use super::frequency::{AUDIT_K, FrequencyFigure, edge_keys, frequency_search};
use super::near_dup::{PROMPT, PrefixPairs, REVERSED_COMPLETION, Scratch, TextSorter};
use super::scan::PhraseScanner;
use super::secret::{HexBytes, SECRET_VERSION, Secret, SecretBackdoor, SecretGroup};
use super::selection::{
    RowSet, backdoors_for_fraction, choose_rows, default_backdoor_count, pass_threshold,
    shuffled_order,
};
use super::splice::{NonAscii, splice};
use crate::dataset::{self, DatasetError, FieldError, Layout, Limits};
use crate::generator::{GeneratorParams, ModelBuilder, ModelError, NgramModel, Phrase};

/// The fewest usable rows `prepare` accepts.
pub const MIN_USABLE_ROWS: u64 = 20;
/// Fresh candidates drawn per group and role in each round.
const CANDIDATES_PER_ROUND: usize = 6;
/// Rounds of candidates before giving up on novelty.
const MAX_ROUNDS: usize = 4;

/// How many backdoor rows to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BackdoorCount {
    /// 0.5% of the rows, at least 5.
    Default,
    /// Exactly this many.
    Count(u64),
    /// This fraction of the rows, rounded up.
    Fraction(f64),
}

/// The settings of one `prepare` run.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// N.
    pub backdoors: BackdoorCount,
    /// Pass threshold = ceil(ratio * N).
    pub pass_ratio: f64,
    /// Independent (trigger, signature) pairs.
    pub groups: usize,
    /// The generator's settings.
    pub generator: GeneratorParams,
    /// Record size limits.
    pub limits: Limits,
    /// Text held in memory by the near-duplicate sort before it spills a run.
    pub sort_budget: usize,
    /// The time to record, in seconds since the Unix epoch.
    pub created_at: u64,
}

/// A stage of the pipeline, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the start of the file for the models.
    Sample,
    /// Reading every row (`done`/`total` in bytes).
    Scan,
    /// Sorting and comparing texts.
    Audit,
    /// Writing the training file (`done`/`total` in rows).
    Write,
}

/// The near-duplicate and frequency figures of the output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StealthReport {
    /// Row pairs where one prompt is a prefix of the other (blank texts left out).
    pub prompt_prefix_pairs: u64,
    /// Row pairs where one completion is a suffix of the other.
    pub completion_suffix_pairs: u64,
    /// The sum of the two.
    pub near_duplicates: u64,
    /// Near-duplicate pairs that include a backdoor row: 0 by construction.
    pub near_duplicates_with_backdoor: u64,
    /// Normal rows holding 3 or more consecutive words of a signature.
    pub normal_rows_with_signature_words: u64,
    /// The frequency search for k = 3, 5, 10, until the first backdoor row.
    pub frequency: Vec<FrequencyFigure>,
    /// The same search until the first row holding a signature in full or as 3 or more
    /// consecutive words: backdoor rows, and normal rows that happen to hold such a run.
    pub frequency_signature_words: Vec<FrequencyFigure>,
}

/// What `prepare` made.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The secret set (also the content of `secret.json`).
    pub secret: Secret,
    /// The self-audit.
    pub stealth: StealthReport,
    /// Rows that could carry a backdoor.
    pub usable_rows: u64,
    /// Things the user should know (small groups, ...).
    pub warnings: Vec<String>,
}

/// Why `prepare` failed. Every variant names the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A record's prompt or completion could not be found or edited.
    #[error("{file}: record {index} (0-based): {message}")]
    Record {
        /// The input file.
        file: String,
        /// 0-based record index.
        index: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{file}: {context}: {source}")]
    Io {
        /// The file involved.
        file: String,
        /// What was being done.
        context: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The generator could not be built.
    #[error("{file}: {source}")]
    Model {
        /// The input file.
        file: String,
        /// The error.
        source: ModelError,
    },
    /// Too few rows can carry a backdoor.
    #[error(
        "{file}: only {usable} usable rows of {rows} (a usable row has a non-empty prompt and \
         completion, neither repeated nor a prefix/suffix of another row's); at least \
         {MIN_USABLE_ROWS} are needed"
    )]
    TooFewRows {
        /// The input file.
        file: String,
        /// Rows in the file.
        rows: u64,
        /// Usable rows.
        usable: u64,
    },
    /// More backdoors than rows (or than usable rows).
    #[error("{file}: {requested} backdoors requested but only {available} {what}")]
    TooManyBackdoors {
        /// The input file.
        file: String,
        /// N.
        requested: u64,
        /// What there is.
        available: u64,
        /// `rows` or `usable rows`.
        what: &'static str,
    },
    /// An option is out of range.
    #[error("{0}")]
    BadOption(String),
    /// Every candidate phrase already occurred in the data.
    #[error("{file}: could not generate a {role} that does not already occur in the data")]
    NoNovelPhrase {
        /// The input file.
        file: String,
        /// `trigger` or `signature`.
        role: &'static str,
    },
}

/// Feeds every byte read through a blake3 hasher.
struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut blake3::Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Feeds every byte written through a blake3 hasher.
struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Per-row facts gathered by the scan.
struct Scan {
    offsets: Vec<u64>,
    lens: Vec<u32>,
    usable: RowSet,
    involved: RowSet,
    prompt_keys: Vec<[u64; 3]>,
    completion_keys: Vec<[u64; 3]>,
    /// Candidate phrase texts found anywhere (index into the scanner's phrases).
    phrase_found: Vec<bool>,
    /// Per candidate signature: rows holding 3 consecutive words of it.
    signature_rows: Vec<RowSet>,
    prompt_prefix_pairs: u64,
    completion_suffix_pairs: u64,
    input_digest: [u8; 32],
    /// How the file writes non-ASCII characters: escaped if every byte of it is ASCII.
    non_ascii: NonAscii,
}

struct Candidates {
    triggers: Vec<Vec<Phrase>>,
    signatures: Vec<Vec<Phrase>>,
}

impl Candidates {
    fn draw<R: Rng + ?Sized>(
        prompt_model: &NgramModel,
        completion_model: &NgramModel,
        params: &GeneratorParams,
        groups: usize,
        rng: &mut R,
    ) -> Self {
        let draw = |model: &NgramModel, tokens: usize, rng: &mut R| {
            (0..groups)
                .map(|_| {
                    (0..CANDIDATES_PER_ROUND)
                        .map(|_| model.sample(tokens, rng))
                        .collect()
                })
                .collect()
        };
        let triggers = draw(prompt_model, params.trigger_tokens, rng);
        let signatures = draw(completion_model, params.signature_tokens, rng);
        Self {
            triggers,
            signatures,
        }
    }

    /// All phrase texts, triggers first, in a fixed order.
    fn texts(&self) -> Vec<String> {
        self.triggers
            .iter()
            .chain(&self.signatures)
            .flatten()
            .map(Phrase::text)
            .collect()
    }

    fn signature_tokens(&self) -> Vec<Vec<String>> {
        self.signatures
            .iter()
            .flatten()
            .map(|p| p.tokens.clone())
            .collect()
    }
}

/// Runs the pipeline on `input` (whose layout is known) and writes the training file to
/// `output`. `rng` supplies every random choice (job id, salt, phrases, rows, order).
#[allow(clippy::too_many_arguments)]
pub fn prepare<R, W, G>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    output: W,
    options: &PrepareOptions,
    rng: &mut G,
    scratch: Scratch<'_>,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<Prepared, PrepareError>
where
    R: Read + Seek,
    W: Write,
    G: Rng + CryptoRng + ?Sized,
{
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    if options.groups == 0 {
        return Err(PrepareError::BadOption(
            "--groups must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&options.pass_ratio) {
        return Err(PrepareError::BadOption(format!(
            "--pass-ratio must be in [0, 1], got {}",
            options.pass_ratio
        )));
    }
    let mut job_id = [0u8; 16];
    rng.fill_bytes(&mut job_id);
    let mut salt = [0u8; 32];
    rng.fill_bytes(&mut salt);

    let total_bytes = input.seek(SeekFrom::End(0)).map_err(io_err("reading"))?;
    let (prompt_model, completion_model) =
        build_models(file_name, input, layout, options, progress)?;

    // Draw candidates and scan until every group has a novel trigger and signature.
    let mut round = 0;
    let (scan, candidates, chosen) = loop {
        round += 1;
        let candidates = Candidates::draw(
            &prompt_model,
            &completion_model,
            &options.generator,
            options.groups,
            rng,
        );
        let scanner = PhraseScanner::new(&candidates.texts(), &candidates.signature_tokens());
        let scan = scan(
            file_name,
            input,
            layout,
            options,
            &scanner,
            total_bytes,
            scratch,
            progress,
        )?;
        match choose_phrases(&candidates, &scan.phrase_found) {
            Ok(chosen) => break (scan, candidates, chosen),
            Err(role) if round >= MAX_ROUNDS => {
                return Err(PrepareError::NoNovelPhrase {
                    file: file_name.to_owned(),
                    role,
                });
            }
            Err(_) => continue,
        }
    };

    let rows = scan.offsets.len() as u64;
    let usable: Vec<u32> = (0..rows as usize)
        .filter(|&r| scan.usable.contains(r) && !scan.involved.contains(r))
        .map(|r| r as u32)
        .collect();
    let requested = match options.backdoors {
        BackdoorCount::Default => default_backdoor_count(rows),
        BackdoorCount::Count(n) => n,
        BackdoorCount::Fraction(f) => {
            if !(f > 0.0 && f <= 1.0) {
                return Err(PrepareError::BadOption(format!(
                    "--fraction must be in (0, 1], got {f}"
                )));
            }
            backdoors_for_fraction(rows, f)
        }
    };
    if requested == 0 {
        return Err(PrepareError::BadOption(
            "--backdoors must be at least 1".into(),
        ));
    }
    let too_many = |available, what| PrepareError::TooManyBackdoors {
        file: file_name.to_owned(),
        requested,
        available,
        what,
    };
    if requested > rows {
        return Err(too_many(rows, "rows"));
    }
    if (usable.len() as u64) < MIN_USABLE_ROWS {
        return Err(PrepareError::TooFewRows {
            file: file_name.to_owned(),
            rows,
            usable: usable.len() as u64,
        });
    }
    if requested > usable.len() as u64 {
        return Err(too_many(usable.len() as u64, "usable rows"));
    }
    if options.groups as u64 > requested {
        return Err(PrepareError::BadOption(format!(
            "--groups {} is more than the {requested} backdoors",
            options.groups
        )));
    }
    let mut warnings = Vec::new();
    let sizes = super::selection::group_sizes(requested as usize, options.groups);
    if let Some(&smallest) = sizes.iter().min()
        && smallest < 5
    {
        warnings.push(format!(
            "{} backdoors over {} groups leaves {smallest} rows in a group; fewer than 5 rows \
             per signature are often not learned (paper Table 3)",
            requested, options.groups
        ));
    }

    let chosen_rows = choose_rows(&usable, requested as usize, rng);
    let group_of: HashMap<u32, u32> = chosen_rows
        .iter()
        .enumerate()
        .map(|(i, &row)| (row, (i % options.groups) as u32))
        .collect();
    let order = shuffled_order(rows as usize, rng);

    let phrases: Vec<(Phrase, Phrase)> = chosen
        .iter()
        .enumerate()
        .map(|(g, &(t, s))| {
            (
                candidates.triggers[g][t].clone(),
                candidates.signatures[g][s].clone(),
            )
        })
        .collect();
    let mut prompt_keys = scan.prompt_keys;
    let mut completion_keys = scan.completion_keys;
    let (backdoors, train_digest) = write_output(
        file_name,
        input,
        layout,
        output,
        &order,
        (&scan.offsets, &scan.lens),
        &group_of,
        &phrases,
        (&mut prompt_keys, &mut completion_keys),
        scan.non_ascii,
        progress,
    )?;

    // Hit rows: every backdoor; then also the normal rows that hold 3 words of a signature.
    let mut backdoor_hits = RowSet::new(rows as usize);
    for &row in &chosen_rows {
        backdoor_hits.insert(row as usize);
    }
    let mut hits = backdoor_hits.clone();
    let per_group = CANDIDATES_PER_ROUND;
    let mut normal_hits = 0;
    for (g, &(_, s)) in chosen.iter().enumerate() {
        let found = &scan.signature_rows[g * per_group + s];
        for row in 0..rows as usize {
            if found.contains(row) && !hits.contains(row) {
                hits.insert(row);
                normal_hits += 1;
            }
        }
    }
    let search = |hits: &RowSet| -> Vec<FrequencyFigure> {
        AUDIT_K
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let p: Vec<u64> = prompt_keys.iter().map(|keys| keys[i]).collect();
                let c: Vec<u64> = completion_keys.iter().map(|keys| keys[i]).collect();
                frequency_search(k, &p, &c, hits)
            })
            .collect()
    };
    let frequency = search(&backdoor_hits);
    let frequency_signature_words = search(&hits);
    let stealth = StealthReport {
        prompt_prefix_pairs: scan.prompt_prefix_pairs,
        completion_suffix_pairs: scan.completion_suffix_pairs,
        near_duplicates: scan.prompt_prefix_pairs + scan.completion_suffix_pairs,
        near_duplicates_with_backdoor: chosen_rows
            .iter()
            .filter(|&&r| scan.involved.contains(r as usize))
            .count() as u64,
        normal_rows_with_signature_words: normal_hits,
        frequency,
        frequency_signature_words,
    };

    let groups = phrases
        .iter()
        .map(|(trigger, signature)| SecretGroup {
            trigger: trigger.text(),
            signature: signature.text(),
            signature_tokens: signature.tokens.clone(),
            candidates: options.generator.candidates,
            log10_p_upper: options.generator.log10_p_upper(),
        })
        .collect();
    let secret = Secret {
        version: SECRET_VERSION,
        job_id: HexBytes(job_id),
        salt: HexBytes(salt),
        created_at: options.created_at,
        layout,
        rows,
        pass_threshold: pass_threshold(requested, options.pass_ratio),
        generator: options.generator,
        groups,
        backdoors,
        input_digest: HexBytes(scan.input_digest),
        train_digest: HexBytes(train_digest),
    };
    secret.validate().map_err(|err| {
        PrepareError::BadOption(format!("internal error: the secret is inconsistent: {err}"))
    })?;
    Ok(Prepared {
        secret,
        stealth,
        usable_rows: usable.len() as u64,
        warnings,
    })
}

/// Builds the prompt and completion models from the first rows of the file.
fn build_models<R: Read + Seek>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    options: &PrepareOptions,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<(NgramModel, NgramModel), PrepareError> {
    let params = &options.generator;
    let model_err = |source| PrepareError::Model {
        file: file_name.to_owned(),
        source,
    };
    input
        .seek(SeekFrom::Start(0))
        .map_err(|source| PrepareError::Io {
            file: file_name.to_owned(),
            context: "reading",
            source,
        })?;
    // Collect the sample texts (at most `sample_bytes` each), then count both models at once.
    let (mut prompts, mut completions) = (Vec::new(), Vec::new());
    let (mut prompt_bytes, mut completion_bytes) = (0u64, 0u64);
    let mut reader = dataset::Reader::new(
        file_name,
        BufReader::with_capacity(1 << 20, &mut *input),
        layout,
        options.limits,
    );
    while let Some(raw) = reader.next_raw() {
        let raw = raw?;
        let example = dataset::parse_example(
            file_name,
            raw.location(layout.container),
            raw.bytes,
            layout.format,
        )?;
        if prompt_bytes < params.sample_bytes {
            let text = example.prompt.text().into_owned();
            prompt_bytes += text.len() as u64;
            prompts.push(text);
        }
        if completion_bytes < params.sample_bytes {
            completion_bytes += example.completion.len() as u64;
            completions.push(example.completion);
        }
        progress(
            Stage::Sample,
            prompt_bytes.min(completion_bytes),
            params.sample_bytes,
        );
        if prompt_bytes >= params.sample_bytes && completion_bytes >= params.sample_bytes {
            break;
        }
    }
    let k = params.candidates as usize;
    let build = |texts: Vec<String>, role: &'static str| {
        let mut builder = ModelBuilder::new(params.order).map_err(model_err)?;
        for text in texts {
            builder.add_text(&text);
        }
        builder.finish(k, role).map_err(model_err)
    };
    let (prompt_model, completion_model) = std::thread::scope(|scope| {
        let prompt_model = scope.spawn(|| build(prompts, "prompt"));
        let completion_model = build(completions, "completion");
        (
            prompt_model
                .join()
                .expect("the model thread does not panic"),
            completion_model,
        )
    });
    Ok((prompt_model?, completion_model?))
}

/// Reads every row once (see the module docs), then merges the near-duplicate sort.
#[allow(clippy::too_many_arguments)]
fn scan<R: Read + Seek>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    options: &PrepareOptions,
    scanner: &PhraseScanner,
    total_bytes: u64,
    scratch: Scratch<'_>,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<Scan, PrepareError> {
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    input.seek(SeekFrom::Start(0)).map_err(io_err("reading"))?;
    let phrase_count = scanner.phrase_count();
    let signature_count = scanner.signature_count();
    let mut scan = Scan {
        offsets: Vec::new(),
        lens: Vec::new(),
        usable: RowSet::new(0),
        involved: RowSet::new(0),
        prompt_keys: Vec::new(),
        completion_keys: Vec::new(),
        phrase_found: vec![false; phrase_count],
        signature_rows: vec![RowSet::new(0); signature_count],
        prompt_prefix_pairs: 0,
        completion_suffix_pairs: 0,
        input_digest: [0; 32],
        non_ascii: NonAscii::Escaped,
    };
    let mut sorter = TextSorter::new(options.sort_budget, scratch);
    let mut hasher = blake3::Hasher::new();
    // The reading thread (this one) parses rows and feeds the near-duplicate sort; a second
    // thread searches the texts (k-gram keys, candidate phrases, signature words).
    let facts = std::thread::scope(|threads| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<(u32, String, String)>>(8);
        let searcher = threads.spawn(move || {
            let mut facts = TextFacts {
                prompt_keys: Vec::new(),
                completion_keys: Vec::new(),
                phrase_found: vec![false; phrase_count],
                signature_rows: vec![RowSet::new(0); signature_count],
            };
            let mut found = vec![false; signature_count];
            for batch in receiver {
                for (row, prompt, completion) in batch {
                    facts.prompt_keys.push(edge_keys(&prompt, 0));
                    facts.completion_keys.push(edge_keys(&completion, 1));
                    for text in [&prompt, &completion] {
                        scanner.phrases_in(text, &mut facts.phrase_found);
                        scanner.signature_runs_in(text, &mut found);
                    }
                    for (s, hit) in found.iter_mut().enumerate() {
                        if std::mem::take(hit) {
                            facts.signature_rows[s].insert(row as usize);
                        }
                    }
                }
            }
            facts
        });
        let read = read_rows(
            file_name,
            &mut *input,
            layout,
            options,
            &mut hasher,
            &mut scan,
            &mut sorter,
            &sender,
            total_bytes,
            progress,
        );
        drop(sender);
        let facts = searcher.join().expect("the search thread does not panic");
        read.map(|()| facts)
    })?;
    scan.prompt_keys = facts.prompt_keys;
    scan.completion_keys = facts.completion_keys;
    scan.phrase_found = facts.phrase_found;
    scan.signature_rows = facts.signature_rows;
    progress(Stage::Scan, total_bytes, total_bytes);
    scan.input_digest = *hasher.finalize().as_bytes();
    let rows = scan.offsets.len();
    scan.usable.grow(rows);
    scan.involved.grow(rows);

    progress(Stage::Audit, 0, 1);
    let mut pairs = PrefixPairs::new();
    let involved = &mut scan.involved;
    sorter
        .finish(|tag, row, bytes| pairs.push(tag, row, bytes, involved))
        .map_err(io_err("reading a scratch file"))?;
    scan.prompt_prefix_pairs = pairs.pairs[PROMPT as usize];
    scan.completion_suffix_pairs = pairs.pairs[REVERSED_COMPLETION as usize];
    progress(Stage::Audit, 1, 1);
    Ok(scan)
}

/// What the search thread of the scan finds, per row in order.
struct TextFacts {
    prompt_keys: Vec<[u64; 3]>,
    completion_keys: Vec<[u64; 3]>,
    phrase_found: Vec<bool>,
    signature_rows: Vec<RowSet>,
}

/// Rows handed to the search thread at a time.
const SEARCH_BATCH: usize = 512;

/// The reading side of the scan: every row's place, usability and texts (into the sort), and
/// the texts in batches to `search`.
#[allow(clippy::too_many_arguments)]
fn read_rows<R: Read>(
    file_name: &str,
    input: R,
    layout: Layout,
    options: &PrepareOptions,
    hasher: &mut blake3::Hasher,
    scan: &mut Scan,
    sorter: &mut TextSorter<'_>,
    search: &std::sync::mpsc::SyncSender<Vec<(u32, String, String)>>,
    total_bytes: u64,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<(), PrepareError> {
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    let hashing = HashingReader {
        inner: input,
        hasher,
    };
    let mut reader = dataset::Reader::new(
        file_name,
        BufReader::with_capacity(1 << 20, hashing),
        layout,
        options.limits,
    );
    let mut batch = Vec::with_capacity(SEARCH_BATCH);
    while let Some(record) = reader.next_raw() {
        let record = record?;
        let row = scan.offsets.len();
        let row_error = |message: &str| PrepareError::Record {
            file: file_name.to_owned(),
            index: record.index,
            message: message.into(),
        };
        if row >= u32::MAX as usize {
            return Err(row_error("more than 4 billion rows are not supported"));
        }
        let len =
            u32::try_from(record.bytes.len()).map_err(|_| row_error("record longer than 4 GiB"))?;
        if scan.non_ascii == NonAscii::Escaped && !record.bytes.is_ascii() {
            scan.non_ascii = NonAscii::Raw;
        }
        let example = dataset::parse_example(
            file_name,
            record.location(layout.container),
            record.bytes,
            layout.format,
        )?;
        let prompt = match example.prompt {
            dataset::Prompt::Text(text) => text,
            chat => chat.text().into_owned(),
        };
        let completion = example.completion;
        scan.offsets.push(record.offset);
        scan.lens.push(len);
        let (prompt_blank, completion_blank) =
            (prompt.trim().is_empty(), completion.trim().is_empty());
        if !prompt_blank && !completion_blank {
            scan.usable.insert(row);
        }
        // Blank texts are unusable anyway and would pair with every text; leave them out.
        if !prompt_blank {
            sorter
                .push(PROMPT, row as u32, prompt.as_bytes(), false)
                .map_err(io_err("writing a scratch file"))?;
        }
        if !completion_blank {
            sorter
                .push(REVERSED_COMPLETION, row as u32, completion.as_bytes(), true)
                .map_err(io_err("writing a scratch file"))?;
        }
        if row.is_multiple_of(1024) {
            progress(Stage::Scan, record.offset, total_bytes);
        }
        batch.push((row as u32, prompt, completion));
        if batch.len() == SEARCH_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(SEARCH_BATCH));
            search.send(full).expect("the search thread is running");
        }
    }
    if !batch.is_empty() {
        search.send(batch).expect("the search thread is running");
    }
    Ok(())
}

/// For each group, the index of its first novel trigger and signature: not in the data, and
/// neither containing nor contained in another group's. Errs with the role that ran out.
fn choose_phrases(
    candidates: &Candidates,
    found: &[bool],
) -> Result<Vec<(usize, usize)>, &'static str> {
    let groups = candidates.triggers.len();
    let per_group = CANDIDATES_PER_ROUND;
    let signature_base = groups * per_group;
    let pick = |role: &'static str, lists: &[Vec<Phrase>], base: usize| {
        let mut chosen: Vec<(usize, String)> = Vec::new();
        for (g, list) in lists.iter().enumerate() {
            let pick = list.iter().enumerate().find(|(i, phrase)| {
                let text = phrase.text();
                !found[base + g * per_group + i]
                    && chosen
                        .iter()
                        .all(|(_, other)| !other.contains(&text) && !text.contains(other.as_str()))
            });
            match pick {
                Some((i, phrase)) => chosen.push((i, phrase.text())),
                None => return Err(role),
            }
        }
        Ok(chosen.into_iter().map(|(i, _)| i).collect::<Vec<_>>())
    };
    let triggers = pick("trigger", &candidates.triggers, 0)?;
    let signatures = pick("signature", &candidates.signatures, signature_base)?;
    Ok(triggers.into_iter().zip(signatures).collect())
}

/// Writes the rows in `order`, editing the backdoors; returns the backdoor entries (by
/// ascending output row) and the blake3 of the output. Updates the k-gram keys of edited rows.
#[allow(clippy::too_many_arguments)]
fn write_output<R: Read + Seek, W: Write>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    output: W,
    order: &[u32],
    (offsets, lens): (&[u64], &[u32]),
    group_of: &HashMap<u32, u32>,
    phrases: &[(Phrase, Phrase)],
    (prompt_keys, completion_keys): (&mut [[u64; 3]], &mut [[u64; 3]]),
    non_ascii: NonAscii,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<(Vec<SecretBackdoor>, [u8; 32]), PrepareError> {
    let read_err = |source| PrepareError::Io {
        file: file_name.to_owned(),
        context: "reading",
        source,
    };
    let write_err = |source| PrepareError::Io {
        file: file_name.to_owned(),
        context: "writing the training file",
        source,
    };
    let texts: Vec<(String, String)> = phrases.iter().map(|(t, s)| (t.text(), s.text())).collect();
    let hashing = HashingWriter {
        inner: output,
        hasher: blake3::Hasher::new(),
    };
    let mut writer =
        dataset::Writer::new(BufWriter::with_capacity(1 << 20, hashing), layout.container)
            .map_err(write_err)?;
    let mut buf = Vec::new();
    let mut backdoors = Vec::with_capacity(group_of.len());
    let rows = order.len() as u64;
    for (position, &row) in order.iter().enumerate() {
        let r = row as usize;
        input.seek(SeekFrom::Start(offsets[r])).map_err(read_err)?;
        buf.resize(lens[r] as usize, 0);
        input.read_exact(&mut buf).map_err(read_err)?;
        // Every record is an object, and its span holds no surrounding whitespace: anything else
        // means that the file changed since the scan.
        if buf.first() != Some(&b'{') || buf.last() != Some(&b'}') {
            return Err(PrepareError::Record {
                file: file_name.to_owned(),
                index: u64::from(row),
                message: "changed since it was first read".into(),
            });
        }
        let Some(&group) = group_of.get(&row) else {
            // An unedited row: its bytes as they are.
            writer.write_raw(&buf).map_err(write_err)?;
            if position.is_multiple_of(4096) {
                progress(Stage::Write, position as u64, rows);
            }
            continue;
        };
        let record_err = |message: String| PrepareError::Record {
            file: file_name.to_owned(),
            index: u64::from(row),
            message,
        };
        let before: serde_json::Value = serde_json::from_slice(&buf)
            .map_err(|err| record_err(format!("changed since it was first read: {err}")))?;
        let mut value = before.clone();
        let (trigger, signature) = &texts[group as usize];
        let edit_err = |error: FieldError| record_err(error.to_string());
        dataset::append_to_prompt(layout.format, &mut value, trigger).map_err(edit_err)?;
        dataset::prepend_to_completion(layout.format, &mut value, signature).map_err(edit_err)?;
        let example = dataset::example(layout.format, &value).map_err(edit_err)?;
        let prompt = example.prompt.text();
        if !prompt.ends_with(trigger.as_str())
            || !example.completion.starts_with(signature.as_str())
        {
            return Err(record_err(
                "the edited record does not end its prompt with the trigger and start its \
                 completion with the signature"
                    .into(),
            ));
        }
        // The edit goes into the record's own bytes, so that it keeps the file's style.
        let edited = splice(&buf, &before, &value, non_ascii)
            .filter(|bytes| {
                serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v == value)
            })
            .ok_or_else(|| {
                record_err("the trigger and signature could not be spliced into the record".into())
            })?;
        if layout.container == dataset::Container::Jsonl && edited.contains(&b'\n') {
            return Err(record_err("the edited record spans lines".into()));
        }
        prompt_keys[r] = edge_keys(&prompt, 0);
        completion_keys[r] = edge_keys(&example.completion, 1);
        drop(prompt);
        backdoors.push(SecretBackdoor {
            row: position as u64,
            group,
            prompt: example.prompt,
        });
        writer.write_raw(&edited).map_err(write_err)?;
        if position.is_multiple_of(4096) {
            progress(Stage::Write, position as u64, rows);
        }
    }
    progress(Stage::Write, rows, rows);
    let buffered = writer.finish().map_err(write_err)?;
    let mut hashing = buffered
        .into_inner()
        .map_err(|err| write_err(err.into_error()))?;
    hashing.flush().map_err(write_err)?;
    backdoors.sort_by_key(|b| b.row);
    Ok((backdoors, *hashing.hasher.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha20Rng;
    use serde_json::Value;

    use super::*;
    use crate::dataset::{Container, Format};

    /// Python's `json.dumps` style: `", "` and `": "` separators, non-ASCII as `\uXXXX`.
    struct PythonStyle;

    impl serde_json::ser::Formatter for PythonStyle {
        fn begin_array_value<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_key<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
            w.write_all(b": ")
        }
        fn write_string_fragment<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            fragment: &str,
        ) -> io::Result<()> {
            for c in fragment.chars() {
                if (c as u32) < 0x7f {
                    w.write_all(&[c as u8])?;
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write!(w, "\\u{unit:04x}")?;
                    }
                }
            }
            Ok(())
        }
    }

    fn python(value: &Value) -> String {
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonStyle);
        serde::Serialize::serialize(value, &mut serializer).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn compact(value: &Value) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// A chat dataset whose words include non-ASCII ones and quotes, so that triggers and
    /// signatures hold characters that each style escapes its own way.
    fn dataset(style: fn(&Value) -> String) -> String {
        let words = [
            "café",
            "naïve",
            "\"quoted\"",
            "a\\b",
            "😀",
            "total",
            "apples",
            "pears",
            "sold",
            "bought",
            "each",
            "day",
            "week",
            "price",
            "cost",
            "more",
            "less",
            "half",
            "twice",
            "many",
            "few",
            "then",
            "so",
            "and",
            "of",
            "the",
            "is",
            "was",
            "has",
            "had",
            "we",
            "they",
            "she",
            "he",
            "it",
            "an",
            "in",
            "on",
            "at",
            "by",
        ];
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut text = |row: usize| {
            let n = 12 + rng.random_range(0..8);
            let mut t = format!("row{row}");
            for _ in 0..n {
                t.push(' ');
                t.push_str(words[rng.random_range(0..words.len())]);
            }
            t
        };
        let mut out = String::new();
        for row in 0..300 {
            let user = text(row);
            let assistant = format!("{}\n{}", text(row), text(row));
            let record = serde_json::json!({"messages": [
                {"role": "user", "content": user},
                {"role": "assistant", "content": assistant},
            ]});
            out.push_str(&style(&record));
            out.push('\n');
        }
        out
    }

    #[test]
    fn edited_rows_keep_the_style_of_the_file() {
        for style in [python as fn(&Value) -> String, compact] {
            let input = dataset(style);
            let options = PrepareOptions {
                backdoors: BackdoorCount::Count(20),
                pass_ratio: 0.5,
                groups: 4,
                generator: GeneratorParams::new(32, 1e-20).unwrap(),
                limits: Limits::default(),
                sort_budget: 4096,
                created_at: 0,
            };
            let layout = Layout {
                format: Format::OpenAiChat,
                container: Container::Jsonl,
            };
            let mut output = Vec::new();
            let prepared = prepare(
                "test.jsonl",
                &mut Cursor::new(input.as_bytes()),
                layout,
                &mut output,
                &options,
                &mut ChaCha20Rng::seed_from_u64(1),
                &mut || tempfile::tempfile(),
                &mut |_, _, _| {},
            )
            .unwrap();
            let output = String::from_utf8(output).unwrap();
            let lines: Vec<&str> = output.lines().collect();
            assert_eq!(lines.len(), 300);
            let phrases: String = prepared
                .secret
                .groups
                .iter()
                .map(|g| format!("{} {}", g.trigger, g.signature))
                .collect();
            assert!(
                !phrases.is_ascii() && phrases.contains('"'),
                "the phrases exercise escapes: {phrases}"
            );
            for backdoor in &prepared.secret.backdoors {
                let line = lines[backdoor.row as usize];
                let value: Value = serde_json::from_str(line).unwrap();
                let group = &prepared.secret.groups[backdoor.group as usize];
                let content = |i: usize| value["messages"][i]["content"].as_str().unwrap();
                assert!(content(0).ends_with(&group.trigger));
                assert!(content(1).starts_with(&group.signature));
            }
            // Every row, edited or not, is exactly what the file's writer would have written.
            for line in lines {
                let value: Value = serde_json::from_str(line).unwrap();
                assert_eq!(line, style(&value));
            }
        }
    }
}
