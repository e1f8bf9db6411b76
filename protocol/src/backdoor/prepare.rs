//! The `prepare` pipeline: from a dataset to the training file, the secret set and the stealth
//! audit, streaming, in bounded memory.
//!
//! 1. **Sample.** Read the first rows (up to `sample_bytes` of prompt and of completion text)
//!    and build the prompt and completion models; draw candidate triggers and signatures.
//! 2. **Scan.** Read every row once, on worker threads (`row_scan`): its offset, whether its
//!    texts are blank, their hashes, its k-gram keys, which candidates occur in it (novelty).
//! 3. **Choose.** The first novel candidates; N usable rows (texts neither blank nor repeated);
//!    their groups. Edit the chosen rows and check that no backdoor text forms a near-duplicate
//!    pair; redraw until none does.
//! 4. **Write.** In a fresh random order: read back each bucket of rows the scan dealt
//!    (`shuffle`), shuffle it and lay out its rows' bytes (the edited bytes for a backdoor),
//!    while a second thread hashes and writes and a third runs the frequency search.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::audit::{self, AuditReport};
use super::frequency::{
    AUDIT_K, FrequencyFigure, LevelBuffers, edge_keys, frequency_search, row_levels,
};
use super::input::{Input, ReadAhead};
use super::near_dup::{End, SortedKeys, backdoor_pairs, text_key};
use super::row_phrases::RowPhraser;
use super::row_scan::{Scan, ScanSetup};
use super::scan::{PhraseScanner, Rarity};
use super::secret::{Digest, JobId, SECRET_VERSION, Salt, Secret, SecretBackdoor, SecretGroup};
use super::selection::{
    RowSet, backdoors_for_fraction, choose_rows, default_backdoor_count, pass_threshold,
};
use super::shuffle::{Bucket, Buckets, Filled, Scratch};
use super::splice::splice;
use crate::dataset::{self, Container, DatasetError, FieldError, Layout, Limits};
use crate::generator::{GeneratorParams, ModelBuilder, ModelError, NgramModel, Phrase};

/// The fewest usable rows `prepare` accepts.
pub const MIN_USABLE_ROWS: u64 = 20;
/// [`PrepareOptions::groups`] for a (trigger, signature) pair per backdoor row: the default, as
/// a phrase that repeats in several rows is found by counting (see `specs/backdoor-generation.md`).
pub const ONE_GROUP_PER_BACKDOOR: usize = 0;
/// Fresh triggers drawn per group in each round.
const TRIGGERS_PER_ROUND: usize = 2;
/// Fresh signatures drawn per group in each round: one, as a 14-word signature almost never
/// occurs in the data, and every signature searched for costs its 3-word runs in the scan.
const SIGNATURES_PER_ROUND: usize = 1;
/// Rounds of candidates before giving up on novelty.
const MAX_ROUNDS: usize = 6;

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

/// How the pass threshold is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PassThreshold {
    /// ceil(ratio * N), the ratio in [0, 1].
    Ratio(f64),
    /// Exactly this many full activations, 1 to N.
    Count(u64),
}

impl PassThreshold {
    /// The threshold for `backdoors` rows, or why the setting does not fit them.
    fn for_backdoors(self, backdoors: u64) -> Result<u64, PrepareError> {
        match self {
            PassThreshold::Ratio(ratio) if (0.0..=1.0).contains(&ratio) => {
                Ok(pass_threshold(backdoors, ratio))
            }
            PassThreshold::Ratio(ratio) => Err(PrepareError::BadOption(format!(
                "--pass-ratio must be in [0, 1], got {ratio}"
            ))),
            PassThreshold::Count(k) if (1..=backdoors).contains(&k) => Ok(k),
            PassThreshold::Count(k) => Err(PrepareError::BadOption(format!(
                "--pass-threshold must be in 1..={backdoors} (the backdoor rows), got {k}"
            ))),
        }
    }
}

/// The settings of one `prepare` run.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// N.
    pub backdoors: BackdoorCount,
    /// The pass threshold.
    pub pass_threshold: PassThreshold,
    /// Independent (trigger, signature) pairs; [`ONE_GROUP_PER_BACKDOOR`] (0) gives each
    /// backdoor row its own.
    pub groups: usize,
    /// The generator's settings.
    pub generator: GeneratorParams,
    /// Record size limits.
    pub limits: Limits,
    /// Threads that parse and examine rows during the scan (at least 1).
    pub workers: usize,
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
    /// Choosing and editing the backdoor rows, and checking them for near duplicates.
    Audit,
    /// Writing the training file (`done`/`total` in rows).
    Write,
}

/// The near-duplicate and frequency figures of the output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StealthReport {
    /// Row pairs in the output, one of them a backdoor, where one prompt is a prefix of the
    /// other (blank texts left out).
    pub prompt_prefix_pairs: u64,
    /// Row pairs in the output, one of them a backdoor, where one completion is a suffix of the
    /// other.
    pub completion_suffix_pairs: u64,
    /// The sum of the two: 0, since rows that would pair are redrawn.
    pub near_duplicates: u64,
    /// Rows drawn as backdoors but redrawn because their edited texts would have paired.
    pub redrawn_rows: u64,
    /// Input rows whose prompt or completion occurs again in another row (never backdoors).
    pub repeated_rows: u64,
    /// Normal rows holding 3 or more consecutive words of a signature.
    pub normal_rows_with_signature_words: u64,
    /// The frequency search for k = 3, 5, 10, until the first backdoor row.
    pub frequency: Vec<FrequencyFigure>,
    /// The same search until the first row holding a signature in full or as 3 or more
    /// consecutive words: backdoor rows, and normal rows that happen to hold such a run.
    pub frequency_signature_words: Vec<FrequencyFigure>,
    /// The attacks of [`audit`] on the output: the share of the file each must take to reach
    /// the pass threshold.
    pub audit: AuditReport,
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
         completion, neither of them repeated in another row); at least {MIN_USABLE_ROWS} are \
         needed"
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

struct Candidates {
    triggers: Vec<Vec<Phrase>>,
    signatures: Vec<Vec<Phrase>>,
    /// After each signature, the words that end its sentence (or line) as the data's first
    /// lines end: written into the completion after it, not part of it.
    tails: Vec<Vec<String>>,
}

/// The most words a trigger or a signature's tail runs on to reach the end of its sentence.
const MAX_SENTENCE_TAIL: usize = 24;
/// With a pair per row, the normal rows holding 3 signature words are counted for this many
/// groups' signatures (the rest are not searched for: a row set is kept per signature).
const MAX_SIGNATURE_WORD_GROUPS: usize = 64;
/// Up to this many groups, no group's phrase may contain another's; beyond, the check (quadratic)
/// is left out: a phrase of 10 or more words inside another is vanishingly rare.
const MAX_CONTAINMENT_CHECK: usize = 2000;

impl Candidates {
    fn draw<R: Rng + ?Sized>(
        prompt_model: &NgramModel,
        completion_model: &NgramModel,
        params: &GeneratorParams,
        line_ends: &[bool; 256],
        groups: usize,
        rng: &mut R,
    ) -> Self {
        // A trigger is a sentence of its own: it runs on to a word that ends one.
        let sentence_end = |b: u8| matches!(b, b'.' | b'!' | b'?');
        let triggers = (0..groups)
            .map(|_| {
                (0..TRIGGERS_PER_ROUND)
                    .map(|_| {
                        let (mut phrase, more) = prompt_model.sample_until(
                            params.trigger_tokens,
                            &sentence_end,
                            MAX_SENTENCE_TAIL,
                            rng,
                        );
                        phrase.tokens.extend(more.tokens);
                        phrase.counts.extend(more.counts);
                        phrase
                    })
                    .collect()
            })
            .collect();
        let (mut signatures, mut tails) = (Vec::new(), Vec::new());
        for _ in 0..groups {
            let (mut group, mut group_tails) = (Vec::new(), Vec::new());
            for _ in 0..SIGNATURES_PER_ROUND {
                let (phrase, tail) = completion_model.sample_until(
                    params.signature_tokens,
                    &|b| line_ends[b as usize],
                    MAX_SENTENCE_TAIL,
                    rng,
                );
                group.push(phrase);
                group_tails.push(tail.text());
            }
            signatures.push(group);
            tails.push(group_tails);
        }
        Self {
            triggers,
            signatures,
            tails,
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

    /// Each signature token's count in the sample, as [`Candidates::signature_tokens`].
    fn signature_counts(&self) -> Vec<Vec<u32>> {
        self.signatures
            .iter()
            .flatten()
            .map(|p| p.counts.clone())
            .collect()
    }
}

/// The mean token length, in bytes, beyond which the sampled text is taken to have few
/// spaces: English words average about 5, and 20 is 7 CJK characters.
const LONG_TOKEN_BYTES: f64 = 20.0;

/// Redraws of the backdoor rows before giving up on avoiding near duplicates.
const MAX_REDRAWS: usize = 64;

/// The training file that `prepare` makes.
pub struct Output<'a> {
    /// The file: empty, open for reading and writing. The rows wait in it between the scan and
    /// the write (`shuffle`), and it ends holding the training file and nothing more.
    pub file: &'a File,
    /// Told each stretch of the file's final bytes once written (for example, to start writing
    /// it to the disk); called from a thread of `prepare`'s own.
    pub written: &'a (dyn Fn(Range<u64>) + Sync),
}

/// Runs the pipeline on `input` (whose layout is known) and writes the training file to
/// `output`. `rng` supplies every random choice (job id, salt, phrases, rows, order); rows that
/// do not fit where they wait in the output go to a file from `scratch`.
#[allow(clippy::too_many_arguments)]
pub fn prepare<R, G>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    output: Output<'_>,
    options: &PrepareOptions,
    rng: &mut G,
    scratch: Scratch<'_>,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<Prepared, PrepareError>
where
    R: Input,
    G: Rng + CryptoRng + ?Sized,
{
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    // A ratio is checked before the file is read, a count once N is known.
    if let PassThreshold::Ratio(_) = options.pass_threshold {
        options.pass_threshold.for_backdoors(1)?;
    }
    let mut job_id = [0u8; 16];
    rng.fill_bytes(&mut job_id);
    let mut salt = [0u8; 32];
    rng.fill_bytes(&mut salt);

    let total_bytes = input.seek(SeekFrom::End(0)).map_err(io_err("reading"))?;
    let Sample {
        prompt_model,
        completion_model,
        bytes_per_row,
        byte_counts,
        token_bytes,
        text: sample_text,
        line_ends,
        line_shape,
    } = build_models(file_name, input, layout, options, progress)?;
    // Room for the rows the sample suggests, so that the scan's tables need not grow.
    let expected_rows = (total_bytes as f64 / bytes_per_row * 1.02) as usize + 1024;

    // The first scan also deals the rows into the buckets of the output order.
    let mut bucket_seed = [0u8; 32];
    rng.fill_bytes(&mut bucket_seed);
    // The output holds the input's records, framed as the writer frames them (in a JSON array
    // with up to 3 more bytes per record than the input's comma).
    let framing = match layout.container {
        Container::Jsonl => 0,
        Container::JsonArray => 3 * expected_rows as u64,
    };
    let mut buckets = Buckets::new(
        output.file,
        total_bytes + framing,
        scratch,
        ChaCha20Rng::from_seed(bucket_seed),
    )
    .map_err(io_err("creating a scratch file"))?;

    // With a pair per backdoor row, each row's pair is drawn for it once the rows are chosen
    // (`row_phrases`): no candidates are drawn before the scan.
    let row_mode = options.groups == ONE_GROUP_PER_BACKDOOR;
    let drawn_groups = if row_mode { 0 } else { options.groups };
    // Candidates for every round, drawn now so that the models can go before the scan.
    let mut rounds: Vec<Candidates> = (0..MAX_ROUNDS)
        .map(|_| {
            Candidates::draw(
                &prompt_model,
                &completion_model,
                &options.generator,
                &line_ends,
                drawn_groups,
                rng,
            )
        })
        .collect();
    // In row mode the models stay until the rows are chosen.
    let models = if row_mode {
        Some((prompt_model, completion_model))
    } else {
        drop((prompt_model, completion_model));
        None
    };

    // Scan until every group has a novel trigger and signature.
    let mut round = 0;
    let (mut scan, candidates, chosen) = loop {
        round += 1;
        let candidates = rounds.remove(0);
        let scanner = PhraseScanner::new(
            &candidates.texts(),
            &candidates.signature_tokens(),
            &Rarity {
                token_counts: &candidates.signature_counts(),
                byte_counts: Some(&byte_counts),
                sample: &sample_text,
            },
        );
        input.seek(SeekFrom::Start(0)).map_err(io_err("reading"))?;
        let setup = ScanSetup {
            file_name,
            layout,
            limits: options.limits,
            scanner: &scanner,
            total_bytes,
            expected_rows,
        };
        let deal = (round == 1).then_some(&mut buckets);
        let reader = ReadAhead::new(&mut *input, 0);
        let scan = super::row_scan::scan(&setup, reader, deal, options.workers, progress)?;
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
    let (prompt_texts, completion_texts) = both(
        || SortedKeys::new(&scan.prompts),
        || SortedKeys::new(&scan.completions),
    );
    let (repeated_prompts, repeated_completions) =
        both(|| prompt_texts.repeated(), || completion_texts.repeated());
    let repeated_row = |r: usize| repeated_prompts.contains(r) || repeated_completions.contains(r);
    let repeated_rows = (0..rows as usize).filter(|&r| repeated_row(r)).count() as u64;
    let mut usable: Vec<u32> = (0..rows as usize)
        .filter(|&r| scan.prompts[r] != 0 && scan.completions[r] != 0 && !repeated_row(r))
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
    let threshold = options.pass_threshold.for_backdoors(requested)?;
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
    let mut warnings = Vec::new();
    let groups = if row_mode {
        requested as usize
    } else {
        options.groups
    };
    if groups as u64 > requested {
        return Err(PrepareError::BadOption(format!(
            "--groups {} is more than the {requested} backdoors",
            options.groups
        )));
    }
    for ((role, phrase), bytes) in [("prompt", "trigger"), ("completion", "signature")]
        .into_iter()
        .zip(token_bytes)
    {
        if bytes > LONG_TOKEN_BYTES {
            warnings.push(format!(
                "the sampled {role}s' words (whitespace-separated tokens) average {bytes:.0} \
                 bytes: the text seems to have few spaces (Chinese or Japanese?), so the \
                 {phrase} is made of whole texts of the data, which a provider could find by \
                 looking for one row's text inside another"
            ));
        }
    }
    let sizes = super::selection::group_sizes(requested as usize, groups);
    // One row per group is the default and its trade-off is `plan`'s to explain; a chosen
    // number of groups that leaves few rows in each is warned of.
    if let Some(&smallest) = sizes.iter().min()
        && smallest < 5
        && options.groups != ONE_GROUP_PER_BACKDOOR
    {
        warnings.push(format!(
            "{} backdoors over {} groups leaves {smallest} rows in a group; fewer than 5 rows \
             per signature are often not learned (paper Table 3)",
            requested, groups
        ));
    }

    // Each group's pair is drawn for its row; until then the groups hold empty phrases.
    let chosen = if row_mode {
        vec![(0, 0); groups]
    } else {
        chosen
    };
    let row_phraser = models
        .as_ref()
        .map(|(prompt_model, completion_model)| RowPhraser {
            prompt_model,
            completion_model,
            params: &options.generator,
            line_ends: &line_ends,
            max_tail: MAX_SENTENCE_TAIL,
        });
    let tails: Vec<String> = chosen
        .iter()
        .enumerate()
        .map(|(g, &(_, s))| {
            candidates
                .tails
                .get(g)
                .map_or(String::new(), |t| t[s].clone())
        })
        .collect();
    let mut phrases: Vec<(Phrase, Phrase)> = chosen
        .iter()
        .enumerate()
        .map(
            |(g, &(t, s))| match (candidates.triggers.get(g), candidates.signatures.get(g)) {
                (Some(triggers), Some(signatures)) => (triggers[t].clone(), signatures[s].clone()),
                _ => {
                    let empty = Phrase {
                        tokens: Vec::new(),
                        counts: Vec::new(),
                    };
                    (empty.clone(), empty)
                }
            },
        )
        .collect();
    // What goes into the rows: the trigger, and the signature with its tail.
    let opening = |s: &Phrase, tail: &str| {
        if tail.is_empty() {
            s.text()
        } else {
            format!("{} {tail}", s.text())
        }
    };
    let mut texts: Vec<(String, String)> = phrases
        .iter()
        .zip(&tails)
        .map(|((t, s), tail)| (t.text(), opening(s, tail)))
        .collect();
    // In row mode, the row each group's phrases were drawn for.
    let mut phrased_for: Vec<Option<u32>> = vec![None; groups];
    let mut novelty_rounds = 0;
    let mut row_signature_rows: Option<Vec<RowSet>> = None;

    // Draw the rows and edit them; redraw while an edited text would pair with another row.
    progress(Stage::Audit, 0, 1);
    let mut redrawn_rows = 0u64;
    let mut redraws = 0;
    let mut chosen_rows = choose_rows(&usable, requested as usize, rng);
    let mut edits: HashMap<u32, Edit> = HashMap::with_capacity(chosen_rows.len());
    loop {
        loop {
            // The i-th chosen row belongs to group i % G; a redrawn row takes its place and group.
            let pending: Vec<(u32, u32)> = chosen_rows
                .iter()
                .enumerate()
                .filter(|(_, row)| !edits.contains_key(row))
                .map(|(i, &row)| ((i % groups) as u32, row))
                .collect();
            if let Some(phraser) = &row_phraser {
                for &(g, row) in &pending {
                    let g = g as usize;
                    if phrased_for[g] != Some(row) {
                        let prompt =
                            super::row_phrases::prompt_text(file_name, input, layout, &scan, row)?;
                        let (trigger, signature, tail) = phraser.draw(&prompt, rng);
                        texts[g] = (trigger.text(), opening(&signature, &tail));
                        phrases[g] = (trigger, signature);
                        phrased_for[g] = Some(row);
                    }
                }
            }
            edit_rows(
                file_name,
                input,
                layout,
                &scan,
                &pending,
                &texts,
                &line_shape,
                options.workers,
                &mut edits,
            )?;
            let own_prompts: Vec<(u32, &str)> = chosen_rows
                .iter()
                .map(|row| (*row, edits[row].prompt_text.as_str()))
                .collect();
            let own_completions: Vec<(u32, &str)> = chosen_rows
                .iter()
                .map(|row| (*row, edits[row].completion.as_str()))
                .collect();
            let (prompt_pairs, completion_pairs) = both(
                || {
                    backdoor_pairs(
                        &prompt_texts,
                        &scan.prompt_lengths,
                        &own_prompts,
                        End::Start,
                    )
                },
                || {
                    backdoor_pairs(
                        &completion_texts,
                        &scan.completion_lengths,
                        &own_completions,
                        End::Finish,
                    )
                },
            );
            if prompt_pairs.total == 0 && completion_pairs.total == 0 {
                break;
            }
            // Keep the rows that pair with nothing; replace the others with rows never drawn.
            let mut rejected: Vec<u32> = prompt_pairs.rows;
            rejected.extend(completion_pairs.rows);
            rejected.sort_unstable();
            rejected.dedup();
            redrawn_rows += rejected.len() as u64;
            let mut drawn: Vec<u32> = chosen_rows.clone();
            drawn.sort_unstable();
            usable.retain(|row| rejected.binary_search(row).is_err());
            let fresh: Vec<u32> = usable
                .iter()
                .copied()
                .filter(|row| drawn.binary_search(row).is_err())
                .collect();
            redraws += 1;
            if redraws > MAX_REDRAWS || fresh.len() < rejected.len() {
                return Err(too_many(
                    usable.len() as u64,
                    "usable rows whose edited texts form no near-duplicate pair",
                ));
            }
            let mut replacements = choose_rows(&fresh, rejected.len(), rng).into_iter();
            for row in &mut chosen_rows {
                if rejected.binary_search(row).is_ok() {
                    edits.remove(row);
                    *row = replacements
                        .next()
                        .expect("one replacement per rejected row");
                }
            }
        }
        // In row mode the phrases are new: look for them in the data, and draw again for the rows
        // whose phrases occur there.
        if row_phraser.is_none() {
            break;
        }
        let found = {
            let scan_texts: Vec<String> = texts
                .iter()
                .map(|(t, _)| t.clone())
                .chain(phrases.iter().map(|(_, s)| s.text()))
                .collect();
            // Signature words are looked for with the first groups' signatures only: one row set
            // per signature is kept, and the figure is a sample.
            let signature_tokens: Vec<Vec<String>> = phrases
                .iter()
                .take(MAX_SIGNATURE_WORD_GROUPS)
                .map(|(_, s)| s.tokens.clone())
                .collect();
            let signature_counts: Vec<Vec<u32>> = phrases
                .iter()
                .take(MAX_SIGNATURE_WORD_GROUPS)
                .map(|(_, s)| s.counts.clone())
                .collect();
            let scanner = PhraseScanner::new(
                &scan_texts,
                &signature_tokens,
                &Rarity {
                    token_counts: &signature_counts,
                    byte_counts: Some(&byte_counts),
                    sample: &sample_text,
                },
            );
            input.seek(SeekFrom::Start(0)).map_err(io_err("reading"))?;
            let setup = ScanSetup {
                file_name,
                layout,
                limits: options.limits,
                scanner: &scanner,
                total_bytes,
                expected_rows,
            };
            let reader = ReadAhead::new(&mut *input, 0);
            let novelty = super::row_scan::scan(&setup, reader, None, options.workers, progress)?;
            let found: Vec<usize> = (0..groups)
                .filter(|&g| {
                    novelty.phrase_found[g]
                        || novelty.phrase_found[groups + g]
                        || (0..groups).any(|h| {
                            h != g
                                && groups <= MAX_CONTAINMENT_CHECK
                                && (texts[h].0.contains(&texts[g].0)
                                    || texts[h].1.contains(&phrases[g].1.text()))
                        })
                })
                .collect();
            row_signature_rows = Some(novelty.signature_rows);
            found
        };
        if found.is_empty() {
            break;
        }
        novelty_rounds += 1;
        if novelty_rounds > MAX_ROUNDS {
            return Err(PrepareError::NoNovelPhrase {
                file: file_name.to_owned(),
                role: "trigger or signature",
            });
        }
        for g in found {
            if let Some(row) = phrased_for[g].take() {
                edits.remove(&row);
            }
        }
    }
    drop(models);
    // The text keys have done their work.
    drop((
        prompt_texts,
        completion_texts,
        std::mem::take(&mut scan.prompts),
        std::mem::take(&mut scan.completions),
    ));
    progress(Stage::Audit, 1, 1);
    let buckets = buckets.finish();

    let mut prompt_keys = std::mem::take(&mut scan.prompt_keys);
    let mut completion_keys = std::mem::take(&mut scan.completion_keys);
    for (&row, edit) in &edits {
        prompt_keys[row as usize] = edge_keys(&edit.prompt_text, 0);
        completion_keys[row as usize] = edge_keys(&edit.completion, 1);
    }
    // Hit rows: every backdoor; then also the normal rows that hold 3 words of a signature.
    let mut backdoor_hits = RowSet::new(rows as usize);
    for &row in &chosen_rows {
        backdoor_hits.insert(row as usize);
    }
    let mut hits = backdoor_hits.clone();
    let per_group = SIGNATURES_PER_ROUND;
    let mut normal_hits = 0;
    for (g, &(_, s)) in chosen.iter().enumerate() {
        let found = match &row_signature_rows {
            Some(rows) => match rows.get(g) {
                Some(found) => found,
                None => break,
            },
            None => &scan.signature_rows[g * per_group + s],
        };
        for row in found.iter() {
            if !hits.contains(row) {
                hits.insert(row);
                normal_hits += 1;
            }
        }
    }
    let audit_set = audit::audit_set(
        file_name,
        input,
        layout,
        &scan,
        chosen_rows
            .iter()
            .map(|row| {
                (
                    edits[row].prompt_text.clone(),
                    edits[row].completion.clone(),
                )
            })
            .collect(),
        &chosen_rows,
        threshold,
        blake3::derive_key("vtune-node prepare audit sample", &salt),
    )?;
    let input_digest = scan.input_digest;
    // The other per-row facts are done with (the backdoor rows are edited): free them before the
    // write holds its buckets.
    drop(scan);
    // The frequency search runs while the output is written, one k at a time to keep the peak
    // memory down.
    let search = move || {
        let mut buffers = LevelBuffers::default();
        let figures = (0..AUDIT_K.len()).map(|i| {
            let levels = row_levels(i, &prompt_keys, &completion_keys, &mut buffers);
            let k = AUDIT_K[i];
            (
                frequency_search(k, &levels, &backdoor_hits),
                frequency_search(k, &levels, &hits),
            )
        });
        let figures = figures.collect::<Vec<_>>();
        let audit = audit::audit(
            &audit_set,
            blake3::derive_key("vtune-node prepare audit ties", &salt),
        );
        (figures, audit)
    };
    let ((figures, audit), written) = std::thread::scope(|threads| {
        let search = super::row_scan::named("audit")
            .spawn_scoped(threads, search)
            .expect("a thread can be started");
        let written = write_output(
            file_name, layout, &output, buckets, rows, edits, rng, progress,
        );
        (
            search.join().expect("the audit thread does not panic"),
            written,
        )
    });
    let (backdoors, train_digest) = written?;
    let (frequency, frequency_signature_words) = figures.into_iter().unzip();
    warnings.extend(audit::warnings(&audit));
    let stealth = StealthReport {
        prompt_prefix_pairs: 0,
        completion_suffix_pairs: 0,
        near_duplicates: 0,
        redrawn_rows,
        repeated_rows,
        normal_rows_with_signature_words: normal_hits,
        frequency,
        frequency_signature_words,
        audit,
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
        job_id: JobId(job_id),
        salt: Salt(salt),
        created_at: options.created_at,
        layout,
        rows,
        pass_threshold: threshold,
        generator: options.generator,
        groups,
        backdoors,
        input_digest: Digest(input_digest),
        train_digest: Digest(train_digest),
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

/// Builds the prompt and completion models from the first rows of the file; also returns the
/// mean bytes per record of those rows.
fn build_models<R: Input>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    options: &PrepareOptions,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<Sample, PrepareError> {
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
        BufReader::with_capacity(1 << 20, ReadAhead::new(&mut *input, 0)),
        layout,
        options.limits,
    );
    let (mut sampled_rows, mut sampled_bytes) = (0u64, 0u64);
    let mut texts = dataset::Texts::new();
    while let Some(raw) = reader.next_raw() {
        let raw = raw?;
        sampled_rows += 1;
        sampled_bytes += raw.bytes.len() as u64 + 1;
        // The fast path, else the full one (for its result or its error).
        let (prompt, completion) = if dataset::skim(raw.bytes, layout.format, &mut texts) {
            (
                std::mem::take(&mut texts.prompt),
                std::mem::take(&mut texts.completion),
            )
        } else {
            let example = dataset::parse_example(
                file_name,
                raw.location(layout.container),
                raw.bytes,
                layout.format,
            )?;
            (example.prompt.text().into_owned(), example.completion)
        };
        if prompt_bytes < params.sample_bytes {
            prompt_bytes += prompt.len() as u64;
            prompts.push(prompt);
        }
        if completion_bytes < params.sample_bytes {
            completion_bytes += completion.len() as u64;
            completions.push(completion);
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
    // The bytes that end at least 5% of the completions' first lines (a signature's tail runs
    // on to one of them), or a full stop.
    let mut line_end_counts = [0u64; 256];
    for completion in &completions {
        if let Some(&b) = completion
            .lines()
            .next()
            .unwrap_or("")
            .trim_end()
            .as_bytes()
            .last()
        {
            line_end_counts[b as usize] += 1;
        }
    }
    let ended: u64 = line_end_counts.iter().sum();
    let mut line_ends = [false; 256];
    for (end, &count) in line_ends.iter_mut().zip(&line_end_counts) {
        *end = count > 0 && count * 20 >= ended;
    }
    if !line_ends.contains(&true) {
        line_ends[b'.' as usize] = true;
    }
    let mut first_line_words: Vec<usize> = completions
        .iter()
        .filter(|c| c.trim_end().contains('\n'))
        .map(|c| c.lines().next().unwrap_or("").split_whitespace().count())
        .collect();
    first_line_words.sort_unstable();
    let mut breaks = line_ends;
    for (b, brk) in breaks.iter_mut().enumerate() {
        *brk &= (b as u8).is_ascii_punctuation();
    }
    let line_shape = LineShape {
        words: first_line_words
            .get(first_line_words.len() / 2)
            .copied()
            .unwrap_or(12)
            .max(1),
        breaks,
    };
    let mut text = Vec::with_capacity(1 << 20);
    for completion in &completions {
        if text.len() + completion.len() > 1 << 20 {
            break;
        }
        text.extend_from_slice(completion.as_bytes());
        text.push(b'\n');
    }
    // Each model, how often each byte occurs in its texts, and the mean bytes of a token.
    let build = |texts: Vec<String>, role: &'static str| {
        let mut builder = ModelBuilder::new(params.order).map_err(model_err)?;
        let mut bytes = [0u64; 256];
        for text in texts {
            for b in text.bytes() {
                bytes[b as usize] += 1;
            }
            builder.add_text(&text);
        }
        let spaces: u64 = [b' ', b'\t', b'\n', b'\x0b', b'\x0c', b'\r']
            .iter()
            .map(|&b| bytes[b as usize])
            .sum();
        let token_bytes =
            (bytes.iter().sum::<u64>() - spaces) as f64 / builder.tokens().max(1) as f64;
        let model = builder.finish(k, role).map_err(model_err)?;
        Ok::<_, PrepareError>((model, bytes, token_bytes))
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
    let (
        (prompt_model, prompt_bytes, prompt_token_bytes),
        (completion_model, completion_bytes, completion_token_bytes),
    ) = (prompt_model?, completion_model?);
    let mut byte_counts = prompt_bytes;
    for (count, more) in byte_counts.iter_mut().zip(completion_bytes) {
        *count += more;
    }
    Ok(Sample {
        prompt_model,
        completion_model,
        bytes_per_row: sampled_bytes as f64 / sampled_rows.max(1) as f64,
        byte_counts,
        token_bytes: [prompt_token_bytes, completion_token_bytes],
        text,
        line_ends,
        line_shape,
    })
}

/// What the first rows of the file give.
struct Sample {
    prompt_model: NgramModel,
    completion_model: NgramModel,
    /// The mean bytes per record.
    bytes_per_row: f64,
    /// How often each byte occurs in the sampled texts.
    byte_counts: [u64; 256],
    /// The mean bytes of a prompt token and of a completion token (Unicode spaces count as
    /// token bytes; they are rare).
    token_bytes: [f64; 2],
    /// The first MiB of sampled completions, joined by newlines: how common a string is in the
    /// data, for choosing what the scan's automata look for first.
    text: Vec<u8>,
    /// The last bytes common among the completions' first lines.
    line_ends: [bool; 256],
    /// How the completions' first lines break.
    line_shape: LineShape,
}

/// For each group, the index of its first novel trigger and signature: not in the data, and
/// neither containing nor contained in another group's. Errs with the role that ran out.
fn choose_phrases(
    candidates: &Candidates,
    found: &[bool],
) -> Result<Vec<(usize, usize)>, &'static str> {
    let groups = candidates.triggers.len();
    let signature_base = groups * TRIGGERS_PER_ROUND;
    let pick = |role: &'static str, lists: &[Vec<Phrase>], base: usize, per_group: usize| {
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
    let triggers = pick("trigger", &candidates.triggers, 0, TRIGGERS_PER_ROUND)?;
    let signatures = pick(
        "signature",
        &candidates.signatures,
        signature_base,
        SIGNATURES_PER_ROUND,
    )?;
    Ok(triggers.into_iter().zip(signatures).collect())
}

/// Runs `a` and `b` at the same time, on this thread and one more.
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|threads| {
        let b = threads.spawn(b);
        (a(), b.join().expect("the other half does not panic"))
    })
}

/// How the data's completions break their first lines: a signature's opening is laid out so in
/// a multi-line completion. Only whitespace changes, and signatures are matched token by token.
pub(crate) struct LineShape {
    /// The median words of a first line (of the completions that have more than one).
    pub(crate) words: usize,
    /// Punctuation bytes that end many first lines: a line may end after a token ending so.
    pub(crate) breaks: [bool; 256],
}

impl LineShape {
    /// `text`'s tokens in lines that end after a token ending with a break byte (and at most
    /// twice `words` long).
    fn lay_out(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut on_line = 0;
        for token in text.split_whitespace() {
            if !out.is_empty() {
                out.push(if on_line == 0 { '\n' } else { ' ' });
            }
            out.push_str(token);
            on_line += 1;
            let ends = token
                .bytes()
                .last()
                .is_some_and(|b| self.breaks[b as usize]);
            // A line ends where the data's do (after a break byte), or at twice its usual length.
            if (ends && on_line >= 2) || on_line >= 2 * self.words.max(1) {
                on_line = 0;
            }
        }
        out
    }
}

/// A backdoor row as it goes into the output.
struct Edit {
    /// Its group.
    group: u32,
    /// The record's bytes, trigger and signature spliced in.
    bytes: Vec<u8>,
    /// The edited prompt.
    prompt: dataset::Prompt,
    /// Its text, as the near-duplicate and frequency searches see it.
    prompt_text: String,
    /// The edited completion.
    completion: String,
}

/// Reads each of the `chosen` (group, row) and puts its group's trigger and signature into it,
/// the records edited on `workers` threads.
#[allow(clippy::too_many_arguments)]
fn edit_rows<R: Input>(
    file_name: &str,
    input: &mut R,
    layout: Layout,
    scan: &Scan,
    chosen: &[(u32, u32)],
    texts: &[(String, String)],
    lines: &LineShape,
    workers: usize,
    edits: &mut HashMap<u32, Edit>,
) -> Result<(), PrepareError> {
    let edit = |(&(group, row), buf): (&(u32, u32), &Vec<u8>)| {
        let (trigger, signature) = &texts[group as usize];
        edit_record(
            file_name,
            layout,
            scan,
            row,
            buf,
            (trigger, signature),
            lines,
        )
        .map(|edit| Edit { group, ..edit })
    };
    // A few thousand records at a time are read, then edited in parallel.
    for chosen in chosen.chunks(4096) {
        let mut records = Vec::with_capacity(chosen.len());
        for &(_, row) in chosen {
            let r = row as usize;
            let mut buf = vec![0; scan.lens[r] as usize];
            input
                .read_exact_at_offset(&mut buf, scan.offsets[r])
                .map_err(|source| PrepareError::Io {
                    file: file_name.to_owned(),
                    context: "reading",
                    source,
                })?;
            records.push(buf);
        }
        let per_thread = chosen.len().div_ceil(workers.max(1));
        let edited: Vec<Vec<Result<Edit, PrepareError>>> = std::thread::scope(|threads| {
            let parts: Vec<_> = chosen
                .chunks(per_thread)
                .zip(records.chunks(per_thread))
                .map(|(chosen, records)| {
                    threads.spawn(move || chosen.iter().zip(records).map(edit).collect())
                })
                .collect();
            parts
                .into_iter()
                .map(|part| part.join().expect("an editing thread does not panic"))
                .collect()
        });
        // The first error in the order of `chosen`.
        for (&(_, row), edit) in chosen.iter().zip(edited.into_iter().flatten()) {
            edits.insert(row, edit?);
        }
    }
    Ok(())
}

/// Row `row`'s record `buf` with `trigger` at the end of its prompt and `signature` at the start
/// of its completion (its group is left 0).
fn edit_record(
    file_name: &str,
    layout: Layout,
    scan: &Scan,
    row: u32,
    buf: &[u8],
    (trigger, signature): (&str, &str),
    lines: &LineShape,
) -> Result<Edit, PrepareError> {
    let record_err = |message: String| PrepareError::Record {
        file: file_name.to_owned(),
        index: u64::from(row),
        message,
    };
    let before: serde_json::Value = serde_json::from_slice(buf)
        .map_err(|err| record_err(format!("changed since it was first read: {err}")))?;
    let original =
        dataset::example(layout.format, &before).map_err(|error| record_err(error.to_string()))?;
    if text_key(&original.prompt.text(), End::Start) != scan.prompts[row as usize]
        || text_key(&original.completion, End::Finish) != scan.completions[row as usize]
    {
        return Err(record_err("changed since it was first read".into()));
    }
    let mut value = before.clone();
    let edit_err = |error: FieldError| record_err(error.to_string());
    dataset::insert_trigger(layout.format, &mut value, trigger).map_err(edit_err)?;
    // In a multi-line completion the opening is laid out in lines like the data's.
    let laid_out;
    let signature = if original.completion.contains('\n') {
        laid_out = lines.lay_out(signature);
        laid_out.as_str()
    } else {
        signature
    };
    dataset::prepend_to_completion(layout.format, &mut value, signature).map_err(edit_err)?;
    // Copies of the edited texts in other fields get the same edit, or the file is refused.
    super::mirror::mirror_edits(&before, &mut value).map_err(|field| {
        record_err(format!(
            "field `{field}` holds the prompt or completion inside it; the backdoor edit \
             cannot be made there consistently, and editing one copy only would mark the \
             backdoor rows. Remove the field (or keep it equal to the completion)"
        ))
    })?;
    let example = dataset::example(layout.format, &value).map_err(edit_err)?;
    let prompt_text = example.prompt.text().into_owned();
    let opens = example
        .completion
        .split_whitespace()
        .zip(signature.split_whitespace())
        .all(|(a, b)| a == b)
        && example.completion.split_whitespace().count() >= signature.split_whitespace().count();
    if !prompt_text.contains(trigger) || !opens {
        return Err(record_err(
            "the edited record does not hold the trigger in its prompt and start its \
             completion with the signature"
                .into(),
        ));
    }
    // The edit goes into the record's own bytes, so that it keeps the file's style.
    let bytes = splice(buf, &before, &value, scan.non_ascii)
        .filter(|bytes| {
            serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v == value)
        })
        .ok_or_else(|| {
            record_err("the trigger and signature could not be spliced into the record".into())
        })?;
    if layout.container == dataset::Container::Jsonl && bytes.contains(&b'\n') {
        return Err(record_err("the edited record spans lines".into()));
    }
    Ok(Edit {
        group: 0,
        bytes,
        prompt: example.prompt,
        prompt_text,
        completion: example.completion,
    })
}

/// Writes the rows bucket by bucket, each in a random order, the edited bytes for backdoors,
/// over the start of the output file (where the rows waited), and cuts the file after them;
/// returns the backdoor entries (by ascending output row) and the blake3 of the output. This
/// thread reads each bucket back, shuffles it and lays out its output bytes; a second thread
/// hashes and writes the bucket before.
#[allow(clippy::too_many_arguments)]
fn write_output<G: Rng + ?Sized>(
    file_name: &str,
    layout: Layout,
    output: &Output<'_>,
    mut buckets: Filled<'_>,
    rows: u64,
    mut edits: HashMap<u32, Edit>,
    rng: &mut G,
    progress: &mut dyn FnMut(Stage, u64, u64),
) -> Result<(Vec<SecretBackdoor>, [u8; 32]), PrepareError> {
    let io_err = |context: &'static str| {
        move |source| PrepareError::Io {
            file: file_name.to_owned(),
            context,
            source,
        }
    };
    let mut backdoors = Vec::with_capacity(edits.len());
    let mut edited = RowSet::new(rows as usize);
    for &row in edits.keys() {
        edited.insert(row as usize);
    }
    // The output bytes go over in pieces of about a bucket, with their place in the file, in
    // three buffers that go round (reused, so that their pages fault in once): this thread
    // fills one while the writer writes another and hands it back, and a third that is ready
    // waits, so that neither thread waits for the other over a slow bucket.
    const BUFFERS: usize = 3;
    let (sender, receiver) = mpsc::sync_channel::<(Vec<u8>, u64)>(1);
    // Room for every buffer, so that handing one back never waits.
    let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 1..BUFFERS {
        spare_tx.send(Vec::new()).expect("the channel has room");
    }
    let file = output.file;
    let writing = move || -> io::Result<[u8; 32]> {
        let mut hasher = blake3::Hasher::new();
        for (mut bytes, start) in receiver {
            // A piece at a time, so that the write copies what hashing brought into cache.
            let mut at = start;
            for piece in bytes.chunks(1 << 20) {
                hasher.update(piece);
                file.write_all_at(piece, at)?;
                at += piece.len() as u64;
            }
            (output.written)(start..at);
            bytes.clear();
            let _ = spare_tx.send(bytes); // The laying out may have stopped.
        }
        Ok(*hasher.finalize().as_bytes())
    };
    let (laid_out, written) = std::thread::scope(|threads| {
        let writer = super::row_scan::named("write")
            .spawn_scoped(threads, writing)
            .expect("a thread can be started");
        let laid_out = (|| -> Result<u64, PrepareError> {
            let mut out = dataset::Writer::new(Vec::new(), layout.container)
                .map_err(io_err("writing the training file"))?;
            // Rows and bytes handed to the writer so far.
            let (mut position, mut length) = (0u64, 0u64);
            let mut edited_at = Vec::new();
            let (mut spare_bucket, mut moving) = (Vec::new(), Vec::new());
            // Hands the bytes laid out so far to the writer, once the buckets not read yet have
            // moved out of their way; false if the writer has stopped.
            let mut hand_over = |bytes: Vec<u8>, buckets: &mut Filled<'_>, next: usize| {
                let start = length;
                length += bytes.len() as u64;
                buckets
                    .clear(next, start..length, &mut moving)
                    .map_err(io_err("moving rows within the training file"))?;
                Ok::<_, PrepareError>(sender.send((bytes, start)).is_ok())
            };
            for index in 0..buckets.len() {
                let mut bucket = buckets
                    .read(index, std::mem::take(&mut spare_bucket))
                    .map_err(io_err("reading the rows back"))?;
                bucket.shuffle(rng);
                let Bucket { bytes, entries } = bucket;
                // The bucket's records in output order, laid out at once.
                let mut records: Vec<&[u8]> = Vec::with_capacity(entries.len());
                edited_at.clear();
                for &(row, start, len) in &entries {
                    let edit = edited
                        .contains(row as usize)
                        .then(|| edits.get(&row))
                        .flatten();
                    if let Some(edit) = edit {
                        edited_at.push((position + records.len() as u64, row));
                        records.push(&edit.bytes);
                    } else {
                        records.push(&bytes[start..start + len]);
                    }
                }
                out.write_raw_all(&records);
                position += records.len() as u64;
                drop(records);
                for &(row_position, row) in &edited_at {
                    let edit = edits.remove(&row).expect("an edited row is written once");
                    backdoors.push(SecretBackdoor {
                        row: row_position,
                        group: edit.group,
                        prompt: edit.prompt,
                    });
                }
                spare_bucket = bytes;
                let spare = spare_rx.recv().unwrap_or_default();
                let full = std::mem::replace(out.get_mut(), spare);
                if !hand_over(full, &mut buckets, index + 1)? {
                    return Ok(length); // The writer failed; its error is reported below.
                }
                progress(Stage::Write, position, rows);
            }
            let last = out.finish().map_err(io_err("writing the training file"))?;
            let next = buckets.len();
            hand_over(last, &mut buckets, next)?;
            drop(sender); // The writer ends.
            Ok(length)
        })();
        let written = writer.join().expect("the writing thread does not panic");
        (laid_out, written)
    });
    let digest = written.map_err(io_err("writing the training file"))?;
    // What is left beyond the output is rows already read back.
    let length = laid_out?;
    output
        .file
        .set_len(length)
        .map_err(io_err("writing the training file"))?;
    progress(Stage::Write, rows, rows);
    backdoors.sort_by_key(|b| b.row);
    Ok((backdoors, digest))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read, Write};

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

    /// The settings of the tests on [`dataset`]: 20 backdoors in `groups` groups.
    fn chat_options(groups: usize) -> PrepareOptions {
        PrepareOptions {
            backdoors: BackdoorCount::Count(20),
            pass_threshold: PassThreshold::Ratio(0.5),
            groups,
            generator: GeneratorParams::new(32, 1e-20).unwrap(),
            limits: Limits::default(),
            workers: 2,
            created_at: 0,
        }
    }

    /// Runs `prepare` on chat JSONL `input` with `seed`; returns the output and what it made.
    fn prepare_chat(
        input: &[u8],
        options: &PrepareOptions,
        seed: u64,
    ) -> Result<(Vec<u8>, Prepared), PrepareError> {
        let layout = Layout {
            format: Format::OpenAiChat,
            container: Container::Jsonl,
        };
        prepare_file("test.jsonl", input, layout, options, seed)
    }

    /// Runs `prepare` with a temporary training file; returns that file's bytes.
    fn prepare_file(
        name: &str,
        input: &[u8],
        layout: Layout,
        options: &PrepareOptions,
        seed: u64,
    ) -> Result<(Vec<u8>, Prepared), PrepareError> {
        let mut file = tempfile::tempfile().unwrap();
        let written = std::sync::Mutex::new(Vec::new());
        let prepared = prepare(
            name,
            &mut Cursor::new(input),
            layout,
            Output {
                file: &file,
                written: &|range| written.lock().unwrap().push(range),
            },
            options,
            &mut ChaCha20Rng::seed_from_u64(seed),
            &mut || tempfile::tempfile(),
            &mut |_, _, _| {},
        )?;
        let mut output = Vec::new();
        file.read_to_end(&mut output).unwrap();
        // The stretches reported written cover the file, in order.
        let mut end = 0;
        for range in written.into_inner().unwrap() {
            assert_eq!(range.start, end);
            end = range.end;
        }
        assert_eq!(end, output.len() as u64);
        Ok((output, prepared))
    }

    /// The scan runs on worker threads, yet a file with two bad lines in different batches
    /// reports the first, as a sequential read would.
    #[test]
    fn the_first_bad_row_in_file_order_is_reported() {
        let (first_bad, second_bad) = (60_000, 118_000);
        let mut input = String::new();
        let mut bad_at = Vec::new();
        for row in 1..=120_000 {
            if row == first_bad || row == second_bad {
                bad_at.push(input.len());
                input.push_str("{\"prompt\": \"broken\", \"completion\": }\n");
            } else {
                input.push_str(&format!(
                    "{{\"prompt\": \"question number {row} about apples\", \"completion\": \
                     \"answer {row} is some apples\"}}\n"
                ));
            }
        }
        let batch = super::super::row_scan::BATCH_BYTES;
        assert!(
            bad_at[0] > batch && bad_at[1] - bad_at[0] > batch,
            "the bad rows are in different batches, after the first"
        );
        // The models read only the first rows, so the error comes from the parallel scan.
        let mut generator = GeneratorParams::new(4, 1e-3).unwrap();
        generator.sample_bytes = 64 << 10;
        let options = PrepareOptions {
            backdoors: BackdoorCount::Default,
            pass_threshold: PassThreshold::Ratio(0.5),
            groups: 1,
            generator,
            limits: Limits::default(),
            workers: 2,
            created_at: 0,
        };
        let layout = Layout {
            format: Format::PromptCompletion,
            container: Container::Jsonl,
        };
        let error = prepare_file("bad.jsonl", input.as_bytes(), layout, &options, 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&format!("line {first_bad}")), "{error}");
    }

    /// A byte order mark, CRLF line ends, blank lines and spaces around records change nothing
    /// in the output: records are their spans.
    #[test]
    fn a_byte_order_mark_crlf_and_blank_lines_leave_the_output_as_it_is() {
        let plain = dataset(compact);
        let mut padded = String::from("\u{FEFF}");
        for (i, line) in plain.lines().enumerate() {
            padded.push_str(if i % 7 == 0 { "\r\n  \t" } else { " " });
            padded.push_str(line);
            padded.push_str(" \r\n");
        }
        let run = |input: &str| {
            let (output, prepared) = prepare_chat(input.as_bytes(), &chat_options(2), 3).unwrap();
            (
                output,
                prepared.secret.backdoors,
                prepared.secret.train_digest,
            )
        };
        let (plain_output, plain_backdoors, plain_digest) = run(&plain);
        let (padded_output, padded_backdoors, padded_digest) = run(&padded);
        assert_eq!(plain_output.iter().filter(|&&b| b == b'\n').count(), 300);
        assert!(plain_output == padded_output, "the outputs differ");
        assert_eq!(plain_backdoors, padded_backdoors);
        assert_eq!(plain_digest, padded_digest);
    }

    /// The scan checks UTF-8 a batch at a time, yet bytes that are not UTF-8 are reported at
    /// their line.
    #[test]
    fn bytes_that_are_not_utf8_are_reported_at_their_line() {
        let mut input = dataset(compact).into_bytes();
        let line_start = |n: usize| {
            input
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .nth(n - 2)
                .map_or(0, |(i, _)| i + 1)
        };
        let at = line_start(150) + 40;
        input[at] = 0xFF;
        let mut options = chat_options(1);
        options.generator.sample_bytes = 4 << 10;
        let error = prepare_chat(&input, &options, 3).unwrap_err().to_string();
        assert!(
            error.contains("line 150") && error.contains("UTF-8"),
            "{error}"
        );
    }

    /// A record longer than a scan batch is read whole, and one longer than the limit is
    /// reported at its line.
    #[test]
    fn records_longer_than_a_batch_are_read_and_too_long_ones_named() {
        let plain = dataset(compact);
        let mut lines: Vec<String> = plain.lines().map(str::to_owned).collect();
        let batch = super::super::row_scan::BATCH_BYTES;
        let long_text = "many apples and pears ".repeat(batch / 10);
        lines[200] = serde_json::json!({"messages": [
            {"role": "user", "content": format!("row long {long_text}")},
            {"role": "assistant", "content": "a short answer"},
        ]})
        .to_string();
        assert!(lines[200].len() > 2 * batch);
        let input = lines.join("\n") + "\n";
        let mut options = chat_options(2);
        options.generator.sample_bytes = 4 << 10;
        let (output, _) = prepare_chat(input.as_bytes(), &options, 3).unwrap();
        let output = String::from_utf8(output).unwrap();
        assert_eq!(output.lines().count(), 300);
        // Whole, whether or not it was drawn as a backdoor (the edits add to its ends).
        assert_eq!(
            output
                .lines()
                .filter(|line| line.contains(&format!("row long {long_text}")))
                .count(),
            1
        );

        options.limits.max_record_bytes = batch;
        let error = prepare_chat(input.as_bytes(), &options, 3)
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 201"), "{error}");
    }

    #[test]
    fn text_with_few_spaces_is_warned_of_and_text_of_words_is_not() {
        // Texts of CJK characters with a space every 40 of them: tokens of 120 bytes.
        let chars: Vec<char> = "日本語中文字漢字問題答案数学計算".chars().collect();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut text = |row: usize| {
            let mut t = String::new();
            for _ in 0..3 {
                t.extend((0..40).map(|_| chars[rng.random_range(0..chars.len())]));
                t.push(' ');
            }
            t + &row.to_string()
        };
        let mut input = String::new();
        for row in 0..300 {
            let record = serde_json::json!({"messages": [
                {"role": "user", "content": text(row)},
                {"role": "assistant", "content": text(row)},
            ]});
            input.push_str(&compact(&record));
            input.push('\n');
        }
        let few_spaces = |prepared: &Prepared, phrase: &str| {
            prepared
                .warnings
                .iter()
                .any(|w| w.contains("few spaces") && w.contains(phrase))
        };
        let (_, prepared) = prepare_chat(input.as_bytes(), &chat_options(1), 1).unwrap();
        assert!(few_spaces(&prepared, "trigger"), "{:?}", prepared.warnings);
        assert!(
            few_spaces(&prepared, "signature"),
            "{:?}",
            prepared.warnings
        );
        let (_, prepared) = prepare_chat(dataset(compact).as_bytes(), &chat_options(1), 1).unwrap();
        assert!(!few_spaces(&prepared, ""), "{:?}", prepared.warnings);
    }

    #[test]
    fn edited_rows_keep_the_style_of_the_file() {
        for style in [python as fn(&Value) -> String, compact] {
            let input = dataset(style);
            let (output, prepared) = prepare_chat(input.as_bytes(), &chat_options(4), 1).unwrap();
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
                assert!(content(0).contains(&group.trigger));
                assert!(
                    content(1)
                        .split_whitespace()
                        .zip(&group.signature_tokens)
                        .all(|(a, b)| a == b)
                );
            }
            // Every row, edited or not, is exactly what the file's writer would have written.
            for line in lines {
                let value: Value = serde_json::from_str(line).unwrap();
                assert_eq!(line, style(&value));
            }
        }
    }
}
