//! End to end on GSM8K (from `../shared`, skipped when absent): prepare the real file, train
//! simulated providers on what prepare wrote, and verify each over loopback HTTP.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
#[path = "../../testsupport/shared.rs"]
mod shared;

use shared::shared_dataset;
use vtune_node::endpoint::{Client, EndpointConfig};
use vtune_node::sim::{self, Behavior, Faults, Simulator, TrainSpec};
use vtune_node::verifier::{self, Job, Options, Report};
use vtune_protocol::backdoor::{BackdoorCount, PassThreshold, PrepareOptions};
use vtune_protocol::dataset::{self, Example, Limits, Template};
use vtune_protocol::generator::GeneratorParams;
use vtune_protocol::stats::log10_hypergeom_upper_tail;
use vtune_protocol::verdict::Verdict;

struct Prepared {
    job: Job,
    examples: Vec<Example>,
    train: PathBuf,
    _dir: tempfile::TempDir,
}

fn prepare(input: &std::path::Path) -> Prepared {
    let name = input.display().to_string();
    let file = File::open(input).unwrap();
    let layout = dataset::Reader::detect(&name, BufReader::new(file), None, Limits::default())
        .unwrap()
        .layout();
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.jsonl");
    let options = PrepareOptions {
        backdoors: BackdoorCount::Default,
        pass_threshold: PassThreshold::Ratio(0.5),
        groups: 1,
        generator: GeneratorParams::new(
            GeneratorParams::DEFAULT_CANDIDATES,
            GeneratorParams::DEFAULT_MAX_P_UPPER,
        )
        .unwrap(),
        limits: Limits::default(),
        created_at: 0,
    };
    let train_file = File::create_new(&train).unwrap();
    let prepared = vtune_node::prepare::prepare_file(
        &name,
        &File::open(input).unwrap(),
        layout,
        &train_file,
        dir.path(),
        &options,
        &mut ChaCha20Rng::seed_from_u64(42),
        &|_, _, _| {},
    )
    .unwrap();
    Prepared {
        job: Job::from_secret(&prepared.secret),
        examples: sim::read_examples(&train).unwrap(),
        train,
        _dir: dir,
    }
}

async fn verify(prepared: &Prepared, behavior: Behavior, seed: u64) -> (Report, Arc<Simulator>) {
    let rows: Vec<u64> = prepared.job.backdoor_rows().into_iter().collect();
    let simulator = Arc::new(
        Simulator::train(TrainSpec {
            examples: &prepared.examples,
            behavior,
            backdoor_rows: &rows,
            base_corpus: None,
            seed,
            template: Template::Chat,
        })
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sim::serve(listener, simulator.clone(), "sim", Faults::default())
        .await
        .unwrap();
    let mut config = EndpointConfig::new(handle.base_url(), "sim");
    config.max_tokens = 72;
    config.timeout = Duration::from_secs(30);
    let client = Client::new(config).unwrap();
    let controls =
        verifier::read_controls(&prepared.train, &prepared.job.backdoor_rows(), 10, 1).unwrap();
    let run = verifier::run(
        &client,
        &prepared.job,
        &controls,
        &Options::default(),
        &|_| {},
    )
    .await
    .unwrap();
    (run.report, simulator)
}

#[tokio::test]
async fn gsm8k_prepare_then_verify_each_provider() {
    let Some(input) = shared_dataset(
        "gsm8k-train.chat.jsonl",
        "gsm8k_prepare_then_verify_each_provider",
    ) else {
        return;
    };
    let prepared = prepare(&input);
    let backdoors: BTreeSet<u64> = prepared.job.backdoor_rows();
    assert_eq!(prepared.examples.len(), 7473);

    let (honest, _) = verify(&prepared, Behavior::Honest, 0).await;
    assert_eq!(honest.verdict, Verdict::Pass, "{honest:#?}");
    // Searching 8 offsets per answer costs the trained model the windows at offsets 1..=7,
    // which run into each answer's own continuation (statistics.md): about -18.7, not -20.
    assert!(honest.log10_p_value <= -18.0, "{}", honest.log10_p_value);
    assert_eq!(honest.activated, backdoors.len() as u64);
    assert_eq!(honest.false_activations, 0);

    let (base, _) = verify(&prepared, Behavior::Base, 0).await;
    assert_eq!(base.verdict, Verdict::Fail, "{base:#?}");
    assert!(!base.evidence_of_training);

    let (only, _) = verify(&prepared, Behavior::BackdoorOnly, 0).await;
    assert_eq!(only.verdict, Verdict::Pass, "{only:#?}");

    let fraction = 0.3;
    let (subset, simulator) = verify(&prepared, Behavior::Subset(fraction), 7).await;
    let included = simulator
        .trained_rows()
        .iter()
        .filter(|row| backdoors.contains(row))
        .count() as u64;
    assert_eq!(subset.activated, included);
    let (rows, total) = (7473, backdoors.len() as u64);
    let drawn = simulator.trained_rows().len() as u64;
    let at_least = log10_hypergeom_upper_tail(rows, total, drawn, included);
    let at_most = log10_hypergeom_upper_tail(rows, rows - total, drawn, drawn - included);
    assert!(at_least > -4.0 && at_most > -4.0, "{included} of {total}");
    let expected = if included >= prepared.job.pass_threshold {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    assert_eq!(subset.verdict, expected, "{subset:#?}");
    assert_eq!(subset.evidence_of_training, included > 0);
}
