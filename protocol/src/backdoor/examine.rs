//! The examine stage: what the later stages need to know of every row, from one batch of
//! records at a time. A batch is examined on its own, so a driver may examine batches in
//! parallel and [`Scan::append`] them in file order.
//!
//! Per row: its place, whether its texts are blank, their hashes (for near duplicates), their
//! k-gram keys (for the frequency search); per batch: which candidate phrases occur (novelty)
//! and which rows hold 3 consecutive words of a candidate signature.

use super::frequency::EdgeKeys;
use super::near_dup::{End, text_key};
use super::options::PrepareError;
use super::scan::{PhraseScanner, TextBatch};
use super::selection::RowSet;
use super::splice::NonAscii;
use crate::dataset::{self, Layout, Location};

/// What the scan found, per row in file order.
#[derive(Debug)]
pub struct Scan {
    /// Byte offset of every record.
    pub offsets: Vec<u64>,
    /// Byte length of every record.
    pub lens: Vec<u32>,
    /// Each row's prompt text, keyed for near duplicates (0: blank).
    pub(crate) prompts: Vec<u64>,
    /// Each row's completion text, keyed for near duplicates (0: blank).
    pub(crate) completions: Vec<u64>,
    /// The byte lengths of non-blank prompts.
    pub(crate) prompt_lengths: RowSet,
    /// The byte lengths of non-blank completions.
    pub(crate) completion_lengths: RowSet,
    /// The k-gram keys at the end of each prompt.
    pub(crate) prompt_keys: Vec<EdgeKeys>,
    /// The k-gram keys at the start of each completion.
    pub(crate) completion_keys: Vec<EdgeKeys>,
    /// Candidate phrases found anywhere (indexed as the scanner's phrases).
    pub(crate) phrase_found: Vec<bool>,
    /// Per candidate signature: rows holding 3 consecutive words of it.
    pub(crate) signature_rows: Vec<RowSet>,
    /// How the file writes non-ASCII characters: escaped if every byte of it is ASCII.
    pub(crate) non_ascii: NonAscii,
    /// The rows scanned.
    rows: usize,
    /// Whether the per-row facts are kept (the first scan), or only the phrases found and the
    /// signature runs (a novelty scan).
    facts: bool,
}

/// Where one record of a batch is, in the batch and in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Its first byte in the batch.
    pub start: usize,
    /// Its length.
    pub len: usize,
    /// Its offset in the file.
    pub offset: u64,
    /// 0-based record number.
    pub index: u64,
    /// 1-based line where it starts.
    pub line: u64,
}

/// One batch's facts.
#[derive(Debug)]
pub struct Examined {
    offsets: Vec<u64>,
    lens: Vec<u32>,
    prompts: Vec<u64>,
    completions: Vec<u64>,
    /// Byte lengths of the non-blank texts.
    text_lengths: [Vec<u32>; 2],
    prompt_keys: Vec<EdgeKeys>,
    completion_keys: Vec<EdgeKeys>,
    phrase_found: Vec<bool>,
    /// (row within the batch, signature index).
    signature_hits: Vec<(usize, usize)>,
    non_ascii: bool,
}

impl Scan {
    /// An empty scan for `scanner`'s phrases, with room for `expected_rows`.
    pub fn new(scanner: &PhraseScanner, expected_rows: usize) -> Self {
        let rows = expected_rows;
        Scan {
            offsets: Vec::with_capacity(rows),
            lens: Vec::with_capacity(rows),
            prompts: Vec::with_capacity(rows),
            completions: Vec::with_capacity(rows),
            prompt_lengths: RowSet::new(0),
            completion_lengths: RowSet::new(0),
            prompt_keys: Vec::with_capacity(rows),
            completion_keys: Vec::with_capacity(rows),
            phrase_found: vec![false; scanner.phrase_count()],
            signature_rows: vec![RowSet::new(0); scanner.signature_count()],
            non_ascii: NonAscii::Escaped,
            rows: 0,
            facts: true,
        }
    }

    /// An empty novelty scan: it keeps only which phrases occur and the signature runs.
    pub fn novelty(scanner: &PhraseScanner) -> Self {
        Scan {
            facts: false,
            ..Scan::new(scanner, 0)
        }
    }

    /// The rows scanned.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds the facts of the next batch in file order.
    pub fn append(&mut self, file_name: &str, examined: Examined) -> Result<(), PrepareError> {
        let first_row = self.rows;
        self.rows += examined.offsets.len();
        if self.rows > u32::MAX as usize {
            return Err(PrepareError::Record {
                file: file_name.to_owned(),
                index: self.rows as u64 - 1,
                message: "more than 4 billion rows are not supported".into(),
            });
        }
        for (found, new) in self.phrase_found.iter_mut().zip(examined.phrase_found) {
            *found |= new;
        }
        for (row, signature) in examined.signature_hits {
            self.signature_rows[signature].insert(first_row + row);
        }
        if !self.facts {
            return Ok(());
        }
        self.offsets.extend(examined.offsets);
        self.lens.extend(examined.lens);
        self.prompts.extend(examined.prompts);
        self.completions.extend(examined.completions);
        let [prompt_lengths, completion_lengths] = examined.text_lengths;
        for len in prompt_lengths {
            self.prompt_lengths.insert(len as usize);
        }
        for len in completion_lengths {
            self.completion_lengths.insert(len as usize);
        }
        self.prompt_keys.extend(examined.prompt_keys);
        self.completion_keys.extend(examined.completion_keys);
        if examined.non_ascii {
            self.non_ascii = NonAscii::Raw;
        }
        Ok(())
    }
}

/// The rows' k-gram keys, taken out of a [`Scan`] while the choice does not need them: only the
/// audit's frequency figures read them, and on a file of millions of rows they are a sixth of
/// `prepare`'s memory, so the driver keeps them on disk meanwhile.
pub struct EdgeKeyTable {
    prompt: Vec<EdgeKeys>,
    completion: Vec<EdgeKeys>,
}

impl EdgeKeyTable {
    /// The bytes of one row's keys.
    const ROW_BYTES: usize = 2 * 3 * 4;

    /// Writes the table to `out`, row by row (little-endian).
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for (p, c) in self.prompt.iter().zip(&self.completion) {
            let mut row = [0u8; Self::ROW_BYTES];
            for (bytes, key) in row.chunks_exact_mut(4).zip(p.iter().chain(c)) {
                bytes.copy_from_slice(&key.to_le_bytes());
            }
            out.write_all(&row)?;
        }
        Ok(())
    }

    /// Reads a table of `rows` rows written by [`EdgeKeyTable::write_to`].
    pub fn read_from(input: &mut impl std::io::Read, rows: usize) -> std::io::Result<Self> {
        let mut table = Self {
            prompt: Vec::with_capacity(rows),
            completion: Vec::with_capacity(rows),
        };
        let mut row = [0u8; Self::ROW_BYTES];
        for _ in 0..rows {
            input.read_exact(&mut row)?;
            let key = |i: usize| u32::from_le_bytes(row[4 * i..4 * i + 4].try_into().expect("4"));
            table.prompt.push([key(0), key(1), key(2)]);
            table.completion.push([key(3), key(4), key(5)]);
        }
        Ok(table)
    }
}

impl Scan {
    /// Takes the rows' k-gram keys out (see [`EdgeKeyTable`]).
    pub fn take_edge_keys(&mut self) -> EdgeKeyTable {
        EdgeKeyTable {
            prompt: std::mem::take(&mut self.prompt_keys),
            completion: std::mem::take(&mut self.completion_keys),
        }
    }

    /// Puts back keys taken by [`Scan::take_edge_keys`].
    pub fn put_edge_keys(&mut self, table: EdgeKeyTable) {
        self.prompt_keys = table.prompt;
        self.completion_keys = table.completion;
    }
}

/// Examines the `records` of `bytes` (a batch of the file): parses each and gathers its
/// facts (only the phrases found and the signature runs unless `facts`: a novelty scan), or
/// returns the first error among them. `texts` is a buffer, reused from batch to batch.
pub fn examine(
    file_name: &str,
    layout: Layout,
    scanner: &PhraseScanner,
    (bytes, records): (&[u8], &[Place]),
    facts: bool,
    texts: &mut TextBatch,
) -> Result<Examined, PrepareError> {
    let rows = records.len();
    let mut examined = Examined {
        offsets: Vec::with_capacity(rows),
        lens: Vec::with_capacity(rows),
        prompts: Vec::with_capacity(rows),
        completions: Vec::with_capacity(rows),
        text_lengths: [Vec::new(), Vec::new()],
        prompt_keys: Vec::with_capacity(rows),
        completion_keys: Vec::with_capacity(rows),
        phrase_found: vec![false; scanner.phrase_count()],
        signature_hits: Vec::new(),
        non_ascii: !bytes.is_ascii(),
    };
    // Every row's prompt then completion: texts 2r and 2r + 1.
    texts.clear();
    let mut own = (String::new(), String::new());
    for place in records {
        if place.len > u32::MAX as usize {
            return Err(PrepareError::Record {
                file: file_name.to_owned(),
                index: place.index,
                message: "a record longer than 4 GiB is not supported".into(),
            });
        }
        let record = &bytes[place.start..place.start + place.len];
        let location = Location::of(layout.container, place.index, place.line);
        let (prompt, completion) = (&mut own.0, &mut own.1);
        dataset::parse_texts(
            file_name,
            location,
            record,
            layout.format,
            (prompt, completion),
        )?;
        let (prompt, completion) = (prompt.as_str(), completion.as_str());
        examined.offsets.push(place.offset);
        if !facts {
            texts.push(prompt);
            texts.push(completion);
            continue;
        }
        examined.lens.push(place.len as u32);
        let (prompt_key, completion_key) = (
            text_key(prompt, End::Start),
            text_key(completion, End::Finish),
        );
        examined.prompts.push(prompt_key);
        examined.completions.push(completion_key);
        for (side, (key, len)) in [
            (prompt_key, prompt.len()),
            (completion_key, completion.len()),
        ]
        .into_iter()
        .enumerate()
        {
            if key != 0 {
                examined.text_lengths[side].push(len as u32);
            }
        }
        texts.push(prompt);
        texts.push(completion);
        let t = 2 * (examined.offsets.len() - 1);
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
    Ok(examined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_keys_come_back_from_their_bytes_as_they_were() {
        let table = EdgeKeyTable {
            prompt: vec![[1, 2, 3], [u32::MAX, 0, 7]],
            completion: vec![[4, 5, 6], [8, u32::MAX - 1, 9]],
        };
        let mut bytes = Vec::new();
        table.write_to(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 2 * EdgeKeyTable::ROW_BYTES);
        let back = EdgeKeyTable::read_from(&mut bytes.as_slice(), 2).unwrap();
        assert_eq!(
            (back.prompt, back.completion),
            (table.prompt, table.completion)
        );
        // A short file is an error, not a table with made-up rows.
        assert!(EdgeKeyTable::read_from(&mut &bytes[..30], 2).is_err());
    }
}
