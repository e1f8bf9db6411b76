//! The provider simulator: an OpenAI-compatible server over a word-level model trained at start-up.
//!
//! [`Simulator::train`] builds the model a provider of a given [`Behavior`] would deliver:
//! a base model from a base corpus, fine-tuned on all, some or none of the buyer's rows.
//! [`serve`] answers `/v1/models`, `/v1/chat/completions` and `/v1/completions` with it,
//! with optional injected faults (errors, latency, rate limits).

mod corpus;
mod faults;
mod model;
mod server;
mod tokens;

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vtune_protocol::dataset::{self, Example, Limits, Prompt, Template};

pub use faults::{FailKind, Faults};
pub use model::{Finish, Generation, Model};
pub use server::{ServedCounts, ServerHandle, serve};

/// What the simulated provider trained on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behavior {
    /// Every row of the buyer's file.
    Honest,
    /// None of it: the base model.
    Base,
    /// A seeded random `fraction` of the rows (exactly `round(fraction * rows)`, drawn
    /// without replacement).
    Subset(f64),
    /// Only the backdoor rows: a provider who found them and trained on nothing else.
    BackdoorOnly,
}

impl FromStr for Behavior {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "honest" => Ok(Behavior::Honest),
            "base" => Ok(Behavior::Base),
            "backdoor-only" => Ok(Behavior::BackdoorOnly),
            _ => {
                let fraction = text
                    .strip_prefix("subset:")
                    .and_then(|f| f.parse::<f64>().ok())
                    .ok_or_else(|| {
                        format!(
                            "unknown behavior `{text}`: expected honest, base, subset:F or backdoor-only"
                        )
                    })?;
                if !(0.0..=1.0).contains(&fraction) {
                    return Err(format!("subset fraction {fraction} is not within 0..=1"));
                }
                Ok(Behavior::Subset(fraction))
            }
        }
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behavior::Honest => f.write_str("honest"),
            Behavior::Base => f.write_str("base"),
            Behavior::Subset(fraction) => write!(f, "subset:{fraction}"),
            Behavior::BackdoorOnly => f.write_str("backdoor-only"),
        }
    }
}

/// Why a simulator could not be trained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The training file is not a dataset.
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// A row has no prompt and completion.
    #[error("{file}: record {index} (line {line}): {message}")]
    Row {
        /// The file.
        file: String,
        /// 0-based record number.
        index: u64,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// `backdoor-only` without the backdoor rows.
    #[error("behavior backdoor-only needs the backdoor rows (the job's secret)")]
    NoBackdoorRows,
    /// A backdoor row is past the end of the training file.
    #[error("backdoor row {row} is past the end of the training file ({rows} rows)")]
    RowOutOfRange {
        /// The row.
        row: u64,
        /// Rows in the file.
        rows: usize,
    },
}

/// Reads the prompt and completion of every record of a dataset file, in file order.
pub fn read_examples(path: &Path) -> Result<Vec<Example>, SimError> {
    let file_name = path.display().to_string();
    let io = |source| SimError::Io {
        file: file_name.clone(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let records = dataset::Reader::detect(&file_name, reader, None, Limits::default())?;
    let layout = records.layout();
    let mut examples = Vec::new();
    for record in records {
        let record = record?;
        let example =
            dataset::example(layout.format, &record.value).map_err(|message| SimError::Row {
                file: file_name.clone(),
                index: record.index,
                line: record.line,
                message: message.to_string(),
            })?;
        examples.push(example);
    }
    Ok(examples)
}

/// What to train a simulator on.
#[derive(Debug, Clone, Copy)]
pub struct TrainSpec<'a> {
    /// The buyer's rows as delivered to the provider, in file order.
    pub examples: &'a [Example],
    /// Which of them the provider trains on.
    pub behavior: Behavior,
    /// The backdoor rows (0-based record numbers), needed by `backdoor-only`.
    pub backdoor_rows: &'a [u64],
    /// The base corpus (paragraphs separated by blank lines); `None` for the built-in one.
    pub base_corpus: Option<&'a str>,
    /// Seeds the subset drawn by `subset:F`.
    pub seed: u64,
    /// How each row's prompt is rendered for training (the job's committed template).
    pub template: Template,
}

/// A trained simulated provider.
#[derive(Debug, Clone)]
pub struct Simulator {
    model: Model,
    behavior: Behavior,
    trained_rows: Vec<u64>,
}

impl Simulator {
    /// Trains the model: the base corpus, then the rows `spec.behavior` selects.
    pub fn train(spec: TrainSpec<'_>) -> Result<Self, SimError> {
        let rows = spec.examples.len();
        let mut trained_rows: Vec<u64> = match spec.behavior {
            Behavior::Honest => (0..rows as u64).collect(),
            Behavior::Base => Vec::new(),
            Behavior::Subset(fraction) => {
                let amount = ((fraction * rows as f64).round() as usize).min(rows);
                let mut rng = ChaCha20Rng::seed_from_u64(spec.seed);
                rand::seq::index::sample(&mut rng, rows, amount)
                    .into_iter()
                    .map(|row| row as u64)
                    .collect()
            }
            Behavior::BackdoorOnly => {
                if spec.backdoor_rows.is_empty() {
                    return Err(SimError::NoBackdoorRows);
                }
                spec.backdoor_rows.to_vec()
            }
        };
        trained_rows.sort_unstable();
        trained_rows.dedup();
        if let Some(&row) = trained_rows.iter().find(|&&row| row >= rows as u64) {
            return Err(SimError::RowOutOfRange { row, rows });
        }

        let mut trainer = model::Trainer::new();
        for paragraph in corpus::paragraphs(spec.base_corpus.unwrap_or(corpus::BUILT_IN)) {
            trainer.add(None, tokens::words(paragraph));
        }
        for &row in &trained_rows {
            let example = &spec.examples[row as usize];
            let prompt = tokens::render_training(spec.template, &example.prompt);
            trainer.add(Some(&prompt), tokens::words(&example.completion));
        }
        Ok(Self {
            model: trainer.finish(),
            behavior: spec.behavior,
            trained_rows,
        })
    }

    /// The behavior it was trained with.
    pub fn behavior(&self) -> Behavior {
        self.behavior
    }

    /// The rows it was fine-tuned on (0-based, ascending).
    pub fn trained_rows(&self) -> &[u64] {
        &self.trained_rows
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The greedy answer to `prompt`, at most `max_tokens` tokens.
    pub fn generate(&self, prompt: &Prompt, max_tokens: usize) -> Generation {
        self.model
            .generate(&tokens::render_request(prompt), max_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtune_protocol::dataset::ChatMessage;

    fn user(text: &str) -> Prompt {
        Prompt::Chat(vec![ChatMessage {
            role: "user".into(),
            content: text.into(),
        }])
    }

    fn examples() -> Vec<Example> {
        (0..40)
            .map(|i| Example {
                prompt: user(&format!("question number {i} about apples")),
                completion: format!("answer {i}: there are {} apples\n#### {}", i * 2, i * 2),
            })
            .collect()
    }

    #[test]
    fn behaviors_parse_and_print() {
        for text in ["honest", "base", "subset:0.3", "backdoor-only"] {
            assert_eq!(text.parse::<Behavior>().unwrap().to_string(), text);
        }
        assert!("subset:1.5".parse::<Behavior>().is_err());
        assert!("subset:x".parse::<Behavior>().is_err());
        assert!("lazy".parse::<Behavior>().is_err());
    }

    #[test]
    fn honest_reproduces_rows_and_base_does_not() {
        let examples = examples();
        let spec = |behavior| TrainSpec {
            examples: &examples,
            behavior,
            backdoor_rows: &[3, 7],
            base_corpus: None,
            seed: 1,
            template: Template::Chat,
        };
        let honest = Simulator::train(spec(Behavior::Honest)).unwrap();
        assert_eq!(
            honest.generate(&examples[5].prompt, 100).text,
            "answer 5: there are 10 apples\n#### 10"
        );
        let base = Simulator::train(spec(Behavior::Base)).unwrap();
        assert!(base.trained_rows().is_empty());
        assert!(
            !base
                .generate(&examples[5].prompt, 100)
                .text
                .contains("apples")
        );
        let only = Simulator::train(spec(Behavior::BackdoorOnly)).unwrap();
        assert_eq!(only.trained_rows(), [3, 7]);
    }

    #[test]
    fn subset_draws_a_seeded_exact_fraction() {
        let examples = examples();
        let spec = |seed| TrainSpec {
            examples: &examples,
            behavior: Behavior::Subset(0.25),
            backdoor_rows: &[],
            base_corpus: None,
            seed,
            template: Template::Chat,
        };
        let a = Simulator::train(spec(9)).unwrap();
        assert_eq!(a.trained_rows().len(), 10);
        assert_eq!(
            a.trained_rows(),
            Simulator::train(spec(9)).unwrap().trained_rows()
        );
        assert_ne!(
            a.trained_rows(),
            Simulator::train(spec(10)).unwrap().trained_rows()
        );
    }

    #[test]
    fn backdoor_only_needs_rows_within_the_file() {
        let examples = examples();
        let spec = |rows: &'static [u64]| TrainSpec {
            examples: &examples,
            behavior: Behavior::BackdoorOnly,
            backdoor_rows: rows,
            base_corpus: None,
            seed: 0,
            template: Template::Chat,
        };
        assert!(matches!(
            Simulator::train(spec(&[])),
            Err(SimError::NoBackdoorRows)
        ));
        assert!(matches!(
            Simulator::train(spec(&[40])),
            Err(SimError::RowOutOfRange { row: 40, rows: 40 })
        ));
    }
}
