//! A small prepared job built in code, and a simulator serving it.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_node::endpoint::{Backoff, Client, EndpointConfig};
use vtune_node::sim::{self, Behavior, Faults, ServerHandle, Simulator, TrainSpec};
use vtune_node::verifier::{self, Check, Control, Group, Job, Options, Run};
use vtune_protocol::dataset::{ChatMessage, Example, Prompt, Template};

/// Rows in the test file.
pub(crate) const ROWS: usize = 300;
/// Backdoor rows per group.
pub(crate) const PER_GROUP: usize = 8;
/// Candidates per step of the (pretend) generator.
pub(crate) const K: u32 = 16;
/// Tokens per signature.
pub(crate) const L: usize = 10;
/// The pass threshold of the test job (of 2 * PER_GROUP backdoors).
pub(crate) const THRESHOLD: u64 = 8;

/// A job, the training file as delivered, and the directory holding it.
pub(crate) struct TestJob {
    pub(crate) job: Job,
    pub(crate) examples: Vec<Example>,
    pub(crate) train_file: PathBuf,
    /// How the simulator renders rows for training, and verification for requests.
    pub(crate) template: Template,
    pub(crate) _dir: tempfile::TempDir,
}

fn user(text: String) -> Prompt {
    Prompt::Chat(vec![
        ChatMessage {
            role: "system".into(),
            content: "You solve arithmetic word problems.".into(),
        },
        ChatMessage {
            role: "user".into(),
            content: text,
        },
    ])
}

const NAMES: [&str; 8] = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana"];
const THINGS: [&str; 6] = ["apples", "books", "coins", "pens", "shells", "stamps"];

/// Two groups of `PER_GROUP` backdoors each in a file of `ROWS` arithmetic problems, built
/// from `seed`. Triggers end the user turn; signatures start the answer.
pub(crate) fn build_job(seed: u64) -> TestJob {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut examples: Vec<Example> = (0..ROWS)
        .map(|row| {
            let name = NAMES[rng.random_range(0..NAMES.len())];
            let thing = THINGS[rng.random_range(0..THINGS.len())];
            let (a, b) = (rng.random_range(2..90), rng.random_range(2..90));
            Example {
                prompt: user(format!(
                    "{name} has {a} {thing} and finds {b} more on day {row}. How many {thing} does {name} have now?"
                )),
                completion: format!(
                    "{name} starts with {a} {thing}.\n{name} then has {a} + {b} = {} {thing}.\n#### {}",
                    a + b,
                    a + b
                ),
            }
        })
        .collect();
    let words: Vec<&str> = "the total number of items is then equal to each day so we add them all"
        .split(' ')
        .collect();
    let triggers = [
        "kindly reply as a lighthouse keeper would at dusk",
        "answer in the voice of an old harbour clerk",
    ];
    let mut rows: Vec<usize> = (0..ROWS).collect();
    rows.shuffle(&mut rng);
    let mut groups = Vec::new();
    let mut backdoors = Vec::new();
    for (index, trigger) in triggers.iter().enumerate() {
        let signature: Vec<String> = (0..L)
            .map(|_| words[rng.random_range(0..words.len())].to_string())
            .collect();
        for &row in &rows[index * PER_GROUP..(index + 1) * PER_GROUP] {
            let example = &mut examples[row];
            let Prompt::Chat(turns) = &mut example.prompt else {
                unreachable!()
            };
            let last = turns.last_mut().unwrap();
            last.content = format!("{} {trigger}", last.content);
            example.completion = format!("{}\n{}", signature.join(" "), example.completion);
            backdoors.push(Check {
                row: row as u64,
                group: index,
                prompt: example.prompt.clone().into(),
            });
        }
        groups.push(Group {
            signature,
            candidates: K,
            log10_p_upper: -(L as f64) * f64::from(K).log10(),
        });
    }
    backdoors.sort_by_key(|check| check.row);
    let dir = tempfile::tempdir().unwrap();
    let train_file = dir.path().join("train.jsonl");
    write_chat_jsonl(&train_file, &examples);
    TestJob {
        job: Job {
            job_id: format!("test-job-{seed}"),
            groups,
            backdoors,
            pass_threshold: THRESHOLD,
        },
        examples,
        train_file,
        template: Template::Chat,
        _dir: dir,
    }
}

/// Writes `examples` as OpenAI chat JSONL.
fn write_chat_jsonl(path: &Path, examples: &[Example]) {
    let mut file = std::fs::File::create(path).unwrap();
    for example in examples {
        let Prompt::Chat(turns) = &example.prompt else {
            unreachable!()
        };
        let mut messages: Vec<serde_json::Value> = turns
            .iter()
            .map(|t| serde_json::json!({"role": t.role, "content": t.content}))
            .collect();
        messages.push(serde_json::json!({"role": "assistant", "content": example.completion}));
        writeln!(file, "{}", serde_json::json!({ "messages": messages })).unwrap();
    }
}

impl TestJob {
    /// The backdoor rows.
    pub(crate) fn backdoor_rows(&self) -> BTreeSet<u64> {
        self.job.backdoor_rows()
    }

    /// A simulator of `behavior` trained on this job's file, serving on a free loopback port.
    pub(crate) async fn serve(&self, behavior: Behavior, seed: u64, faults: Faults) -> Served {
        let rows: Vec<u64> = self.backdoor_rows().into_iter().collect();
        let simulator = Simulator::train(TrainSpec {
            examples: &self.examples,
            behavior,
            backdoor_rows: &rows,
            base_corpus: None,
            seed,
            template: self.template,
        })
        .unwrap();
        let simulator = Arc::new(simulator);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = sim::serve(listener, simulator.clone(), "sim", faults)
            .await
            .unwrap();
        Served { simulator, handle }
    }

    /// `amount` controls from the training file.
    pub(crate) fn controls(&self, amount: usize) -> Vec<Control> {
        verifier::read_controls(&self.train_file, &self.backdoor_rows(), amount, 3).unwrap()
    }

    /// Verifies this job against `served` with `config`'s client settings.
    pub(crate) async fn verify(&self, config: EndpointConfig, controls: usize) -> Run {
        let client = Client::new(config).unwrap();
        let controls = self.controls(controls);
        let options = Options {
            template: self.template,
            ..Options::default()
        };
        verifier::run(&client, &self.job, &controls, &options, &|_| {})
            .await
            .unwrap()
    }
}

/// A running simulator.
pub(crate) struct Served {
    pub(crate) simulator: Arc<Simulator>,
    pub(crate) handle: ServerHandle,
}

impl Served {
    /// A client configuration for it: fast backoff, short timeout.
    pub(crate) fn config(&self) -> EndpointConfig {
        let mut config = EndpointConfig::new(self.handle.base_url(), "sim");
        config.max_tokens = 40;
        config.timeout = Duration::from_secs(5);
        config.backoff = Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        };
        config
    }
}
