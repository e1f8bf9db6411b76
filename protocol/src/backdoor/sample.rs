//! The sample stage: the first rows' texts give the two n-gram models (triggers from the
//! prompts, signatures from the completions) and the facts about the data that the later stages
//! use (byte counts, the shape of the completions' first lines).

use super::options::PrepareError;
use super::typical::Shapes;
use crate::generator::{GeneratorParams, ModelBuilder, NgramModel};

/// The texts of the first rows of the file, up to `sample_bytes` of prompt text and as much of
/// completion text.
#[derive(Debug, Default)]
pub struct SampleTexts {
    prompts: Vec<String>,
    completions: Vec<String>,
    prompt_bytes: u64,
    completion_bytes: u64,
    limit: u64,
    /// Rows and record bytes seen.
    rows: u64,
    bytes: u64,
}

impl SampleTexts {
    /// An empty sample that takes up to `params.sample_bytes` of each side.
    pub fn new(params: &GeneratorParams) -> Self {
        Self {
            limit: params.sample_bytes,
            ..Self::default()
        }
    }

    /// Adds one row (its record is `record_len` bytes); false once both sides are full.
    pub fn push(&mut self, record_len: usize, prompt: String, completion: String) -> bool {
        self.rows += 1;
        self.bytes += record_len as u64 + 1;
        if self.prompt_bytes < self.limit {
            self.prompt_bytes += prompt.len() as u64;
            self.prompts.push(prompt);
        }
        if self.completion_bytes < self.limit {
            self.completion_bytes += completion.len() as u64;
            self.completions.push(completion);
        }
        !self.is_full()
    }

    fn is_full(&self) -> bool {
        self.prompt_bytes >= self.limit && self.completion_bytes >= self.limit
    }

    /// Bytes of the smaller side so far, for progress (out of `sample_bytes`).
    pub fn progress(&self) -> u64 {
        self.prompt_bytes.min(self.completion_bytes)
    }
}

/// What the first rows of the file give.
pub struct Sample {
    pub(crate) prompt_model: NgramModel,
    pub(crate) completion_model: NgramModel,
    /// The mean bytes per record.
    pub(crate) bytes_per_row: f64,
    /// How often each byte occurs in the sampled texts.
    pub(crate) byte_counts: [u64; 256],
    /// The mean bytes of a prompt token and of a completion token (Unicode spaces count as
    /// token bytes; they are rare).
    pub(crate) token_bytes: [f64; 2],
    /// The first MiB of sampled completions, joined by newlines: how common a string is in the
    /// data, for choosing what the scan's automata look for first.
    pub(crate) text: Vec<u8>,
    /// The last bytes common among the completions' first lines.
    pub(crate) line_ends: [bool; 256],
    /// How the completions' first lines break.
    pub(crate) line_shape: LineShape,
    /// The shapes of the sampled rows, for weighing backdoor rows by how typical they look.
    pub(crate) shapes: Shapes,
}

impl Sample {
    /// Room for the rows of a file of `total_bytes` that the sample suggests (2% more, and
    /// 1,024), so that the scan's tables need not grow.
    pub fn expected_rows(&self, total_bytes: u64) -> usize {
        (total_bytes as f64 / self.bytes_per_row * 1.02) as usize + 1024
    }

    /// Builds the models and the facts from the sampled texts.
    pub fn build(
        file_name: &str,
        texts: SampleTexts,
        params: &GeneratorParams,
    ) -> Result<Self, PrepareError> {
        let model_err = |source| PrepareError::Model {
            file: file_name.to_owned(),
            source,
        };
        let (prompts, completions) = (&texts.prompts, &texts.completions);
        let k = params.candidates as usize;
        // The bytes that end at least 5% of the completions' first lines (a signature's tail runs
        // on to one of them), or a full stop.
        let mut line_end_counts = [0u64; 256];
        for completion in completions {
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
        for completion in completions {
            if text.len() + completion.len() > 1 << 20 {
                break;
            }
            text.extend_from_slice(completion.as_bytes());
            text.push(b'\n');
        }
        // Each model, how often each byte occurs in its texts, and the mean bytes of a token.
        let build = |texts: &[String], role: &'static str| {
            let mut builder = ModelBuilder::new(params.order).map_err(model_err)?;
            let mut bytes = [0u64; 256];
            for text in texts {
                for b in text.bytes() {
                    bytes[b as usize] += 1;
                }
                builder.add_text(text);
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
        let (prompt_model, completion_model) =
            (build(prompts, "prompt"), build(completions, "completion"));
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
            bytes_per_row: texts.bytes as f64 / texts.rows.max(1) as f64,
            byte_counts,
            token_bytes: [prompt_token_bytes, completion_token_bytes],
            text,
            line_ends,
            line_shape,
            shapes: Shapes::of(
                prompts
                    .iter()
                    .zip(completions)
                    .map(|(p, c)| (&p[..], &c[..])),
            ),
        })
    }
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
    pub(crate) fn lay_out(&self, text: &str) -> String {
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
