//! The choose stage: N usable rows, their groups and phrases, each edited; rows whose edited
//! texts would form a near-duplicate pair are redrawn, and with a pair per row the phrases drawn
//! for the rows are looked for in the data by a further scan.

use std::collections::HashMap;

use rand::{CryptoRng, Rng};

use super::audit::shape_values;
use super::candidates::{
    Candidates, MAX_CONTAINMENT_CHECK, MAX_ROUNDS, MAX_SENTENCE_TAIL, MAX_SIGNATURE_WORD_GROUPS,
};
use super::edit_row::{Edit, edit_record};
use super::examine::Scan;
use super::near_dup::{End, SortedKeys, backdoor_pairs};
use super::options::{
    BackdoorCount, MIN_USABLE_ROWS, ONE_GROUP_PER_BACKDOOR, PrepareError, PrepareOptions,
};
use super::row_phrases::RowPhraser;
use super::sample::Sample;
use super::scan::{PhraseScanner, Rarity};
use super::selection::{RowSet, backdoors_for_fraction, choose_rows, default_backdoor_count};
use super::typical::{self, weighted_choice};
use crate::dataset::{self, Layout, Location};
use crate::generator::Phrase;

/// The mean token length, in bytes, beyond which the sampled text is taken to have few
/// spaces: English words average about 5, and 20 is 7 CJK characters.
const LONG_TOKEN_BYTES: f64 = 20.0;

/// Redraws of the backdoor rows before giving up on avoiding near duplicates.
const MAX_REDRAWS: usize = 64;

/// What the choose stage asks of the file: rows read back, and a further scan.
pub trait Rows {
    /// The records at `spans` (offset, length) of the file, in that order.
    fn records(&mut self, spans: &[(u64, u32)]) -> Result<Vec<Vec<u8>>, PrepareError>;
    /// Scans the whole file again, for `scanner`'s phrases.
    fn rescan(&mut self, scanner: &PhraseScanner) -> Result<Scan, PrepareError>;
}

/// The chosen rows, edited, and what the report needs to know of the choice.
#[derive(Debug)]
pub struct Choice {
    /// The backdoor rows (input rows), the i-th in group i % G.
    pub(crate) chosen_rows: Vec<u32>,
    /// Each backdoor row's edit, by input row.
    pub edits: HashMap<u32, Edit>,
    /// Each group's trigger and signature.
    pub(crate) phrases: Vec<(Phrase, Phrase)>,
    /// Per group, the candidate signature chosen (without a pair per row).
    pub(crate) chosen: Vec<(usize, usize)>,
    /// With a pair per row: per group, the rows holding 3 words of its signature.
    pub(crate) row_signature_rows: Option<Vec<RowSet>>,
    pub(crate) threshold: u64,
    pub(crate) warnings: Vec<String>,
    pub(crate) redrawn_rows: u64,
    pub(crate) repeated_rows: u64,
    pub(crate) usable_rows: u64,
}

/// Chooses and edits the backdoor rows of the scanned file. `candidates` and `chosen` are the
/// round of candidates whose phrases the scan found novel and the chosen ones (both unused with
/// a pair per row, whose phrases are drawn from `sample`'s models for each row).
#[allow(clippy::too_many_arguments)]
pub fn choose<G: Rng + CryptoRng + ?Sized>(
    file_name: &str,
    layout: Layout,
    options: &PrepareOptions,
    sample: &Sample,
    scan: &mut Scan,
    candidates: &Candidates,
    chosen: Vec<(usize, usize)>,
    rows_of_file: &mut dyn Rows,
    rng: &mut G,
) -> Result<Choice, PrepareError> {
    let row_mode = options.groups == ONE_GROUP_PER_BACKDOOR;
    let line_shape = &sample.line_shape;
    let token_bytes = sample.token_bytes;
    let rows = scan.rows() as u64;
    let (prompt_texts, completion_texts) = (
        SortedKeys::new(&scan.prompts),
        SortedKeys::new(&scan.completions),
    );
    let (repeated_prompts, repeated_completions) =
        (prompt_texts.repeated(), completion_texts.repeated());
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
    let phraser = RowPhraser {
        prompt_model: &sample.prompt_model,
        completion_model: &sample.completion_model,
        params: &options.generator,
        line_ends: &sample.line_ends,
        max_tail: MAX_SENTENCE_TAIL,
    };
    let row_phraser = row_mode.then_some(&phraser);
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
    let mut redrawn_rows = 0u64;
    let mut redraws = 0;
    // The rows, from a pool weighed by how typical each looks once edited (`typical`).
    let mut chosen_rows = typical_rows(
        file_name,
        layout,
        sample,
        scan,
        (&usable, requested as usize),
        &phraser,
        rows_of_file,
        rng,
    )?;
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
                        let span = (scan.offsets[row as usize], scan.lens[row as usize]);
                        let record = rows_of_file.records(&[span])?.remove(0);
                        let prompt = dataset::parse_example(
                            file_name,
                            Location::File,
                            &record,
                            layout.format,
                        )?
                        .prompt
                        .text()
                        .into_owned();
                        let (trigger, signature, tail) = phraser.draw(&prompt, rng);
                        texts[g] = (trigger.text(), opening(&signature, &tail));
                        phrases[g] = (trigger, signature);
                        phrased_for[g] = Some(row);
                    }
                }
            }
            let spans: Vec<(u64, u32)> = pending
                .iter()
                .map(|&(_, row)| (scan.offsets[row as usize], scan.lens[row as usize]))
                .collect();
            let records = rows_of_file.records(&spans)?;
            for (&(group, row), record) in pending.iter().zip(records) {
                let (trigger, signature) = &texts[group as usize];
                let edit = edit_record(
                    file_name,
                    layout,
                    scan,
                    row,
                    &record,
                    (trigger, signature),
                    line_shape,
                )?;
                edits.insert(row, Edit { group, ..edit });
            }
            let own_prompts: Vec<(u32, &str)> = chosen_rows
                .iter()
                .map(|row| (*row, edits[row].prompt_text.as_str()))
                .collect();
            let own_completions: Vec<(u32, &str)> = chosen_rows
                .iter()
                .map(|row| (*row, edits[row].completion.as_str()))
                .collect();
            let prompt_pairs = backdoor_pairs(
                &prompt_texts,
                &scan.prompt_lengths,
                &own_prompts,
                End::Start,
            );
            let completion_pairs = backdoor_pairs(
                &completion_texts,
                &scan.completion_lengths,
                &own_completions,
                End::Finish,
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
                    byte_counts: Some(&sample.byte_counts),
                    sample: &sample.text,
                },
            );
            let novelty = rows_of_file.rescan(&scanner)?;
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
    // The text keys have done their work.
    drop((prompt_texts, completion_texts));
    scan.prompts = Vec::new();
    scan.completions = Vec::new();
    Ok(Choice {
        chosen_rows,
        edits,
        phrases,
        chosen,
        row_signature_rows,
        threshold,
        warnings,
        redrawn_rows,
        repeated_rows,
        usable_rows: usable.len() as u64,
    })
}

/// What goes into a row: the signature with its tail.
fn opening(signature: &Phrase, tail: &str) -> String {
    if tail.is_empty() {
        signature.text()
    } else {
        format!("{} {tail}", signature.text())
    }
}

/// `count` of the `usable` rows, drawn from a pool of them weighed by how typical each looks
/// once edited ([`typical`]). Each pool row is edited with a decoy pair from `phraser`, thrown
/// away: the chosen rows' own pairs are drawn afterwards (with a pair per row) or were drawn
/// before (with `--groups`), never from the decoys, so `p_upper` stays exact. A row that cannot
/// be edited (a mirrored field) leaves the pool.
#[allow(clippy::too_many_arguments)]
fn typical_rows<G: Rng + ?Sized>(
    file_name: &str,
    layout: Layout,
    sample: &Sample,
    scan: &Scan,
    (usable, count): (&[u32], usize),
    phraser: &RowPhraser,
    rows_of_file: &mut dyn Rows,
    rng: &mut G,
) -> Result<Vec<u32>, PrepareError> {
    let pool = choose_rows(usable, usable.len().min(typical::pool_size(count)), rng);
    let (mut editable, mut edited) = (Vec::with_capacity(pool.len()), Vec::new());
    let mut unedited = None;
    let line_shape = &sample.line_shape;
    for chunk in pool.chunks(4096) {
        let spans: Vec<(u64, u32)> = chunk
            .iter()
            .map(|&row| (scan.offsets[row as usize], scan.lens[row as usize]))
            .collect();
        for (&row, record) in chunk.iter().zip(rows_of_file.records(&spans)?) {
            let example =
                dataset::parse_example(file_name, Location::File, &record, layout.format)?;
            let (trigger, signature, tail) = phraser.draw(&example.prompt.text(), rng);
            let decoy = (trigger.text(), opening(&signature, &tail));
            match edit_record(
                file_name,
                layout,
                scan,
                row,
                &record,
                (&decoy.0, &decoy.1),
                line_shape,
            ) {
                Ok(edit) => {
                    editable.push(row);
                    edited.push(shape_values(&edit.prompt_text, &edit.completion));
                }
                Err(error) => unedited = unedited.or(Some(error)),
            }
        }
    }
    if let Some(error) = unedited.filter(|_| editable.len() < count) {
        return Err(error);
    }
    let gains = typical::gains(&sample.shapes, &edited);
    Ok(weighted_choice(&editable, &gains, count, rng))
}
