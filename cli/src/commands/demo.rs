//! `vtune-node demo`: a whole market on loopback, offline, with a built-in dataset.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use vtune_node::buyer::{Verification, VerifyOptions};
use vtune_node::clock::unix_now;
use vtune_node::job_dir::JobDir;
use vtune_node::prepare::{JobSpec, PreparedJob, prepare_job};
use vtune_node::sim::{self, Behavior, Faults, Simulator, TrainSpec};
use vtune_node::verifier::Report;
use vtune_protocol::backdoor::PrepareOptions;
use vtune_protocol::commit::Secret;
use vtune_protocol::dataset::{Container, Template, Writer};
use vtune_protocol::stats::log10_hypergeom_upper_tail;
use vtune_protocol::synthetic;
use vtune_protocol::verdict::Verdict;

use super::verify;
use crate::output::{self, EXIT_FAIL, format_log10_prob, log10_json};

/// What `demo --help` ends with.
const AFTER_HELP: &str = "\
Steps:
  1. generate a synthetic instruction dataset (word problems and recipes), seeded;
  2. prepare it: insert backdoors, write the secret set and its commitment;
  3. start three simulated providers on 127.0.0.1: honest (trains on every row),
     base (trains on none), and subset (trains on a random fraction of the rows);
  4. verify each and print a table, with what `plan` predicts for the subset provider;
  5. start three nodes (the buyer's, a witness-to-be and an observer), publish a signed
     commitment and attestation per provider at the buyer's node, and print each
     provider's record as the observer's API serves it.

Exit codes:
  0  honest passed and base failed, as they must, and the observer's records say so
  1  they did not
  2  usage, input or I/O error";

/// Flags of `vtune-node demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Rows of the built-in synthetic dataset.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..))]
    rows: u64,
    /// Seeds the dataset, the backdoors, the subset provider and the sample of checks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The fraction of the rows the subset provider trains on.
    #[arg(long, value_name = "F", default_value_t = 0.3)]
    subset: f64,
    /// Keep the dataset and the job's files in DIR (created if absent, must be empty)
    /// instead of a temporary directory that is removed at the end.
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// One simulated provider's outcome.
struct Outcome {
    name: String,
    behavior: Behavior,
    report: Report,
    /// For the subset provider: the chance that it includes at least the pass threshold of
    /// backdoor rows, from the hypergeometric model, in log10.
    log10_predicted_pass: Option<f64>,
}

/// Runs `vtune-node demo`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.subset > 0.0 && args.subset < 1.0) {
        anyhow::bail!("--subset must be within (0, 1), got {}", args.subset);
    }
    let started = Instant::now();
    let temp;
    let dir = match &args.workdir {
        Some(dir) => {
            // Never overwrite a user's files: the work dir must be new or empty.
            if let Ok(mut entries) = std::fs::read_dir(dir)
                && entries.next().is_some()
            {
                anyhow::bail!(
                    "--workdir {} is not empty; the demo writes data.jsonl, job/ and nodes/ \
                     there and never overwrites files: pass a new or empty directory",
                    dir.display()
                );
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create --workdir {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("vtune-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };

    let data = dir.join("data.jsonl");
    write_dataset(&data, args.rows, args.seed)?;
    say(
        &args,
        &format!(
            "1. dataset: {} synthetic rows in {}",
            args.rows,
            data.display()
        ),
    );

    let job_dir = dir.join("job");
    // `prepare` with its defaults, seeded.
    let spec = JobSpec {
        input: data.clone(),
        out: job_dir.clone(),
        format: None,
        force: false,
        options: PrepareOptions::default(),
        seed: Some(args.seed),
        min_stealth: 0.0,
    };
    let job = prepare_job(&spec, &|_, _, _| {})?;
    let secret = &job.prepared.secret;
    say(
        &args,
        &format!(
            "2. prepared: {} backdoor rows, pass threshold {}, p_upper {} (commitment {})",
            secret.backdoors.len(),
            secret.pass_threshold,
            format_log10_prob(secret.log10_p_upper()),
            job.commitment.commitment.fmt_short(),
        ),
    );

    show_stealth(&args, &job)?;

    let runtime = output::runtime()?;
    let (outcomes, honest_server) =
        runtime.block_on(run_market(&args, secret, &job.files.train, &job_dir))?;
    say(&args, "6. the network: three nodes on loopback");
    let reports: Vec<(String, &Report)> = outcomes
        .iter()
        .map(|o| (o.name.clone(), &o.report))
        .collect();
    let witnessed = honest_server
        .as_ref()
        .map(|(_, endpoint)| super::demo_network::Witnessed {
            provider: "honest",
            endpoint,
        });
    let network = runtime.block_on(super::demo_network::run(
        &dir,
        &job_dir,
        &reports,
        witnessed.as_ref(),
        &|line| say(&args, line),
    ))?;
    if let Some((server, _)) = honest_server {
        runtime.block_on(server.shutdown());
    }
    say(&args, "");

    let recorded = |name: &str, counts: fn(&vtune_node::summary::Counts) -> u64| {
        network
            .summaries
            .iter()
            .any(|s| s.provider == name && counts(&s.all) == 1)
    };
    // The buyer's pass, confirmed by the witness before any reveal.
    let honest_ok = verdict_of(&outcomes, "honest") == Some(Verdict::Pass)
        && recorded("honest", |c| c.confirmed_pass);
    let base_ok = verdict_of(&outcomes, "base") == Some(Verdict::Fail)
        && recorded("base", |c| c.fail_with_evidence + c.fail_without_evidence);
    if args.json {
        let mut json = json_summary(&args, secret, &outcomes, honest_ok && base_ok);
        json["network"] = serde_json::json!({
            "nodes": network.nodes.iter().map(|(name, peer)| {
                serde_json::json!({"name": name, "peer_id": peer})
            }).collect::<Vec<_>>(),
            "observer_api": network.observer_api,
            "summaries": network.summaries,
        });
        output::print_json(&json)?;
    } else {
        print_table(secret, &outcomes);
        println!();
        println!(
            "what the observer's node ({}) says about each provider:",
            network.observer_api
        );
        for summary in &network.summaries {
            print!("{}", super::network::render_summary(summary));
        }
        println!();
        println!(
            "honest {}, base {}: the demo {} ({:.1} s)",
            if honest_ok { "passed" } else { "did NOT pass" },
            if base_ok { "failed" } else { "did NOT fail" },
            if honest_ok && base_ok {
                "worked"
            } else {
                "FAILED"
            },
            started.elapsed().as_secs_f64()
        );
    }
    if honest_ok && base_ok {
        output::ok()
    } else {
        Ok(ExitCode::from(EXIT_FAIL))
    }
}

/// Writes the synthetic dataset as OpenAI chat JSONL.
fn write_dataset(path: &Path, rows: u64, seed: u64) -> anyhow::Result<()> {
    let records = synthetic::chat_records(rows as usize, &mut ChaCha20Rng::seed_from_u64(seed));
    let file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut writer = Writer::new(BufWriter::new(file), Container::Jsonl)?;
    for record in &records {
        writer.write(record)?;
    }
    use std::io::Write as _;
    writer.finish()?.flush()?;
    Ok(())
}

/// Runs the three providers and verifies each; the honest provider's server is left running
/// (with its endpoint), for the witness of the network part.
async fn run_market(
    args: &Args,
    secret: &Secret,
    train: &Path,
    job_dir: &Path,
) -> anyhow::Result<(Vec<Outcome>, Option<(sim::ServerHandle, String)>)> {
    let examples = sim::read_examples(train)?;
    let backdoor_rows: Vec<u64> = secret.backdoors.iter().map(|b| b.row).collect();
    let providers = [
        ("honest".to_string(), Behavior::Honest),
        ("base".to_string(), Behavior::Base),
        (
            format!("subset:{}", args.subset),
            Behavior::Subset(args.subset),
        ),
    ];

    let mut outcomes = Vec::with_capacity(providers.len());
    let mut honest = None;
    for (step, (name, behavior)) in providers.into_iter().enumerate() {
        let simulator = Simulator::train(TrainSpec {
            examples: &examples,
            behavior,
            backdoor_rows: &backdoor_rows,
            base_corpus: None,
            seed: args.seed,
            template: Template::Chat,
        })?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1")?;
        let server = sim::serve(listener, Arc::new(simulator), &name, Faults::default()).await?;
        let endpoint = format!("http://{}/v1", server.addr());
        say(
            args,
            &format!("{}. provider {name:<12} listening on {endpoint}", step + 3),
        );

        // The defaults of `verify`, seeded; the job has no commitment yet.
        let options = VerifyOptions {
            endpoint: endpoint.clone(),
            model: name.clone(),
            api_key_env: None,
            concurrency: 8,
            timeout_secs: 60.0,
            max_retries: 4,
            seed: Some(args.seed),
            plan: Default::default(),
        };
        // The demo's providers are its own simulators: the user's OPENAI_API_KEY stays home.
        let options = options.validate()?.without_api_key();
        let verification = Verification::prepare(&JobDir::new(job_dir), options, None)?;
        let run = verification.run(&|_| {}, unix_now()).await?;
        if behavior == Behavior::Honest {
            honest = Some((server, endpoint));
        } else {
            server.shutdown().await;
        }
        say(
            args,
            &format!("   verified {name}: {}", verify::explain(&run.report)),
        );

        let log10_predicted_pass = match behavior {
            Behavior::Subset(fraction) => {
                let rows = secret.rows;
                let drawn = (fraction * rows as f64).round() as u64;
                Some(log10_hypergeom_upper_tail(
                    rows,
                    backdoor_rows.len() as u64,
                    drawn,
                    secret.pass_threshold,
                ))
            }
            _ => None,
        };
        outcomes.push(Outcome {
            name,
            behavior,
            report: run.report,
            log10_predicted_pass,
        });
    }
    Ok((outcomes, honest))
}

fn verdict_of(outcomes: &[Outcome], name: &str) -> Option<Verdict> {
    outcomes
        .iter()
        .find(|o| o.name == name)
        .map(|o| o.report.verdict)
}

/// What a provider of this behavior should get.
fn expectation(outcome: &Outcome) -> String {
    match (outcome.behavior, outcome.log10_predicted_pass) {
        (Behavior::Honest, _) => "pass".into(),
        (Behavior::Base, _) => "fail, no evidence".into(),
        (_, Some(log10)) => format!("pass with chance {}", format_log10_prob(log10)),
        _ => "-".into(),
    }
}

fn print_table(secret: &Secret, outcomes: &[Outcome]) {
    println!(
        "{:<12} {:>7} {:>9} {:>11} {:>16} {:>8} {:>13}  expected (plan)",
        "provider", "checked", "activated", "best prefix", "p-value", "evidence", "verdict"
    );
    let tokens = secret
        .groups
        .first()
        .map_or(0, |g| g.signature_tokens.len());
    for outcome in outcomes {
        let r = &outcome.report;
        println!(
            "{:<12} {:>7} {:>9} {:>11} {:>16} {:>8} {:>13}  {}",
            outcome.name,
            r.checked,
            r.activated,
            format!("{}/{}", r.best_matched_tokens, tokens),
            format!("≤ {}", format_log10_prob(r.log10_p_value)),
            if r.evidence_of_training { "yes" } else { "no" },
            verdict_name(r.verdict),
            expectation(outcome),
        );
    }
    println!(
        "\npass = p ≤ 1e-6 and at least {} of {} activations; p-values are exact bounds for \
         one shared signature (see specs/statistics.md).",
        secret.pass_threshold,
        secret.backdoors.len()
    );
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

fn json_summary(args: &Args, secret: &Secret, outcomes: &[Outcome], ok: bool) -> serde_json::Value {
    let providers: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let r = &o.report;
            serde_json::json!({
                "provider": o.name,
                "checked": r.checked,
                "activated": r.activated,
                "errors": r.errors,
                "matched_tokens": r.best_matched_tokens,
                "log10_p_value": log10_json(r.log10_p_value),
                "evidence_of_training": r.evidence_of_training,
                "verdict": verdict_name(r.verdict),
                "false_activations": r.false_activations,
                "log10_predicted_pass_chance": o.log10_predicted_pass.map(log10_json),
            })
        })
        .collect();
    serde_json::json!({
        "rows": args.rows,
        "seed": args.seed,
        "backdoors": secret.backdoors.len(),
        "pass_threshold": secret.pass_threshold,
        "log10_p_upper": log10_json(secret.log10_p_upper()),
        "providers": providers,
        "ok": ok,
    })
}

/// Progress lines on stderr, unless --json.
fn say(args: &Args, line: &str) {
    if !args.json {
        eprintln!("{line}");
    }
}

/// Prints one backdoor row beside an ordinary row of the training file (the trigger and
/// signature are secret: shown here because the data is the demo's own) and the stealth
/// audit's score for each attack.
fn show_stealth(args: &Args, job: &PreparedJob) -> anyhow::Result<()> {
    if args.json {
        return Ok(());
    }
    let examples = sim::read_examples(&job.files.train)?;
    let secret = &job.prepared.secret;
    let Some(backdoor) = secret.backdoors.first() else {
        return Ok(());
    };
    let ordinary = (0..examples.len() as u64)
        .find(|row| secret.backdoors.iter().all(|b| b.row != *row))
        .unwrap_or(0);
    let clip = |text: &str| {
        let one_line = text.replace('\n', " / ");
        match one_line.char_indices().nth(160) {
            Some((i, _)) => format!("{}…", &one_line[..i]),
            None => one_line,
        }
    };
    for (label, row) in [
        ("a backdoor row", backdoor.row),
        ("an ordinary row", ordinary),
    ] {
        let example = &examples[row as usize];
        say(args, &format!("   {label} (row {row}):"));
        say(
            args,
            &format!("     prompt:     {}", clip(&example.prompt.text())),
        );
        say(
            args,
            &format!("     completion: {}", clip(&example.completion)),
        );
    }
    let group = &secret.groups[backdoor.group as usize];
    say(
        args,
        &format!(
            "     (its trigger: {}; its signature: {})",
            clip(&group.trigger),
            clip(&group.signature)
        ),
    );
    let audit = &job.prepared.stealth.audit;
    let scores: Vec<String> = audit
        .attacks
        .iter()
        .map(|a| format!("{} {:.0}%", a.attack, 100.0 * a.score))
        .collect();
    say(
        args,
        &format!(
            "   stealth audit: share of the file each attack takes to reach the pass threshold: {} \
             (chance ≈ {:.0}%)",
            scores.join(", "),
            100.0 * audit.random_score
        ),
    );
    Ok(())
}
