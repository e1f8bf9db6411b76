//! Witnesses with real daemons: a buyer's node, witness nodes (`run --witness`) and an
//! observer on loopback, a simulated provider, and the real `prepare`, `commit --witness`,
//! `seal`, `verify --publish` and `reveal` of a buyer.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use rand::SeedableRng;
use vtune_node::keys;
use vtune_node::summary::{Agreement, JobView};
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{Attestation, AttestationFacts, Commitment, Role};
use vtune_protocol::stats::{GroupEvidence, MATCH_OFFSETS};
use vtune_protocol::verdict::{Verdict, VerdictRule};

use super::cluster::{Node, runtime, serial, wait_for};

/// How long a witness may take to verify and its attestation to reach the observer.
const WITNESSED: Duration = Duration::from_secs(60);

fn vtune(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(args)
        .env("VTUNE_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run vtune-node")
}

fn ok(output: Output, what: &str) -> Output {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A simulated provider process; killed on drop.
struct Provider {
    child: Child,
    endpoint: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider(job: &Path, behavior: &str) -> Provider {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .arg("provider-sim")
        .arg("--train")
        .arg(job.join("train.jsonl"))
        .args(["--listen", "127.0.0.1:0", "--behavior", behavior, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("provider-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let facts: serde_json::Value = serde_json::from_str(&line).expect("provider-sim's JSON line");
    Provider {
        child,
        endpoint: facts["endpoint"].as_str().unwrap().to_string(),
    }
}

/// A market: the buyer's node, witness nodes, an observer, and a prepared job.
struct Market {
    root: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    buyer: Node,
    witnesses: Vec<Node>,
    observer: Node,
    job: PathBuf,
}

impl Market {
    /// Starts the nodes (`running` of the witnesses; the others keep only a key) and prepares
    /// a job of 2,000 synthetic chat rows.
    fn start(witnesses: usize, running: usize) -> Market {
        let root = tempfile::tempdir().unwrap();
        let rt = runtime();
        let buyer = Node::start("buyer", &root.path().join("buyer"), &[]);
        let bootstrap = vec![buyer.addr.clone()];
        let mut named = Vec::new();
        for i in 0..witnesses {
            let dir = root.path().join(format!("witness{i}"));
            if i < running {
                named.push(Node::start_with(
                    &format!("witness{i}"),
                    &dir,
                    &bootstrap,
                    &["--witness", "--witness-budget", "6000"],
                ));
            } else {
                ok(vtune(&dir, &["keygen"]), "keygen");
            }
        }
        let observer = Node::start("observer", &root.path().join("observer"), &bootstrap);
        let mut all: Vec<&Node> = vec![&buyer, &observer];
        all.extend(named.iter());
        for node in &all {
            wait_for(Duration::from_secs(20), "the mesh", || {
                rt.block_on(node.client().health())
                    .is_ok_and(|h| h.mesh_peers >= 1)
            });
        }
        let input = root.path().join("input.jsonl");
        let mut file = std::fs::File::create(&input).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for record in vtune_protocol::synthetic::chat_records(2000, &mut rng) {
            writeln!(file, "{record}").unwrap();
        }
        let job = root.path().join("job");
        ok(
            vtune(
                &buyer.dir,
                &[
                    "prepare",
                    input.to_str().unwrap(),
                    "--out",
                    job.to_str().unwrap(),
                    "--seed",
                    "1",
                ],
            ),
            "prepare",
        );
        Market {
            root,
            rt,
            buyer,
            witnesses: named,
            observer,
            job,
        }
    }

    /// The public keys of the `n` witness data dirs (running or not).
    fn witness_keys(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let dir = self.root.path().join(format!("witness{i}"));
                keys::load(&dir.join(keys::KEY_FILE))
                    .unwrap()
                    .public()
                    .to_string()
            })
            .collect()
    }

    fn buyer_cli(&self, args: &[&str]) -> Output {
        vtune(&self.buyer.dir, args)
    }

    /// `commit` naming the witnesses, with a reveal window of `window` seconds.
    fn commit(&self, witnesses: &[String], window: u64) -> Commitment {
        let window = window.to_string();
        let mut args = vec![
            "commit",
            "--job",
            self.job.to_str().unwrap(),
            "--provider",
            "acme",
            "--base-model",
            "sim-base",
            "--reveal-window",
            &window,
            "--publish",
            "--api",
            &self.buyer.api,
        ];
        for w in witnesses {
            args.extend(["--witness", w.as_str()]);
        }
        ok(self.buyer_cli(&args), "commit");
        let bytes = std::fs::read(self.job.join("commitment.msg")).unwrap();
        vtune_protocol::messages::open::<Commitment>(&bytes)
            .unwrap()
            .message()
            .clone()
    }

    fn seal(&self, provider: &Provider) {
        ok(
            self.buyer_cli(&[
                "seal",
                "--job",
                self.job.to_str().unwrap(),
                "--endpoint",
                &provider.endpoint,
                "--model",
                "vtune-sim",
                "--api",
                &self.buyer.api,
            ]),
            "seal",
        );
    }

    /// The buyer's own `verify --publish`; returns its exit code.
    fn verify(&self, provider: &Provider) -> Option<i32> {
        self.buyer_cli(&[
            "verify",
            "--job",
            self.job.to_str().unwrap(),
            "--endpoint",
            &provider.endpoint,
            "--model",
            "vtune-sim",
            "--publish",
            "--api",
            &self.buyer.api,
            "--json",
        ])
        .status
        .code()
    }

    /// A `fail` attestation of the job signed by `key` in `role`, built with the library from
    /// made-up answers (nothing was asked of the endpoint).
    fn made_up_fail(&self, key: &keys::NodeKey, role: Role, created_at: u64) -> Vec<u8> {
        let secret: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.job.join("secret.json")).unwrap()).unwrap();
        let groups: Vec<GroupEvidence> = secret["groups"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(g, group)| {
                let tokens: Vec<String> = group["signature_tokens"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
                let rows = secret["backdoors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| b["group"] == g)
                    .count();
                let made_up = vec!["I do not know.".to_string(); rows];
                GroupEvidence::from_responses(
                    group["candidates"].as_u64().unwrap() as u32,
                    MATCH_OFFSETS,
                    &tokens,
                    &made_up,
                )
            })
            .collect();
        let bytes = std::fs::read(self.job.join("commitment.msg")).unwrap();
        let commitment = vtune_protocol::messages::open::<Commitment>(&bytes).unwrap();
        let c = commitment.message();
        let lie = Attestation::from_facts(AttestationFacts {
            job_id: c.job_id,
            commitment_id: commitment.id(),
            attester: key.public(),
            role,
            provider: c.provider.clone(),
            endpoint: "http://127.0.0.1:9/v1".to_string(),
            model: "vtune-sim".to_string(),
            plan: c.plan.clone(),
            groups,
            errors: 0,
            rule: VerdictRule {
                log10_alpha: c.log10_alpha,
                pass_threshold: c.pass_threshold,
            },
            control_checks: c.plan.controls,
            control_activations: 0,
            transcript_digest: vtune_protocol::messages::Digest::of(b"no transcript"),
            created_at,
        });
        assert_eq!(lie.verdict, Verdict::Fail);
        Envelope::seal(&lie, key.signing_key()).unwrap().to_bytes()
    }

    fn observed(&self, job: &str) -> Option<JobView> {
        self.rt.block_on(self.observer.client().job(job)).ok()
    }

    /// Waits until the observer's view of `job` satisfies `check`; returns it.
    fn wait_observer(&self, job: &str, what: &str, check: impl Fn(&JobView) -> bool) -> JobView {
        wait_for(WITNESSED, what, || {
            self.observed(job).is_some_and(|view| check(&view))
        });
        self.observed(job).unwrap()
    }
}

fn witness_verdicts(view: &JobView) -> Vec<Option<Verdict>> {
    view.verdicts
        .as_ref()
        .map(|v| v.witnesses.iter().map(|w| w.verdict).collect())
        .unwrap_or_default()
}

/// Every file under `dir`, read as bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The job's trigger and signature phrases, from the buyer's secret.json.
fn phrases(job: &Path) -> Vec<String> {
    let secret: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job.join("secret.json")).unwrap()).unwrap();
    secret["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            [
                g["trigger"].as_str().unwrap().to_string(),
                g["signature"].as_str().unwrap().to_string(),
            ]
        })
        .collect()
}

#[test]
fn two_witnesses_confirm_an_honest_pass_before_any_reveal_and_the_observer_never_holds_the_set() {
    let _serial = serial();
    let market = Market::start(2, 2);
    let honest = provider(&market.job, "honest");
    let c = market.commit(&market.witness_keys(2), 3600);
    let job = c.job_id.to_string();
    market.seal(&honest);
    assert_eq!(market.verify(&honest), Some(0), "the buyer's verify passes");
    let view = market.wait_observer(&job, "a confirmed pass at the observer", |v| {
        v.verdicts
            .as_ref()
            .is_some_and(|v| v.status == Agreement::Confirmed)
    });
    let verdicts = view.verdicts.as_ref().unwrap();
    assert_eq!(verdicts.buyer, Some(Verdict::Pass));
    assert_eq!(witness_verdicts(&view), [Some(Verdict::Pass); 2]);
    assert!(!view.revealed && !verdicts.buyer_flagged);
    let witness_lines = view
        .attestations
        .iter()
        .filter(|a| a.role == Role::Witness)
        .count();
    assert_eq!(witness_lines, 2);
    let summary = market
        .rt
        .block_on(market.observer.client().summary("acme"))
        .unwrap();
    assert_eq!((summary.all.confirmed_pass, summary.all.disputed), (1, 0));

    // The observer's API and data dir hold no trigger or signature text.
    let mut served = serde_json::to_string(&view).unwrap();
    served += &serde_json::to_string(&summary).unwrap();
    for id in market.observer.ids(&market.rt) {
        let message: serde_json::Value = market
            .rt
            .block_on(
                market
                    .observer
                    .client()
                    .get_json(&format!("/v1/messages/{id}")),
            )
            .unwrap();
        served += &message.to_string();
    }
    let files = files_under(&market.observer.dir);
    for phrase in phrases(&market.job) {
        assert!(
            !served.contains(&phrase),
            "the observer's API serves {phrase:?}"
        );
        for (path, bytes) in &files {
            assert!(
                !contains(bytes, phrase.as_bytes()),
                "{} holds {phrase:?}",
                path.display()
            );
        }
    }
    // Nor do the witnesses' data dirs keep it.
    for witness in &market.witnesses {
        for (path, bytes) in files_under(&witness.dir) {
            for phrase in phrases(&market.job) {
                assert!(
                    !contains(&bytes, phrase.as_bytes()),
                    "{} holds {phrase:?}",
                    path.display()
                );
            }
        }
    }

    // Every witness has attested, so the buyer may reveal before the deadline; every node
    // checks the reveal and records it.
    ok(
        market.buyer_cli(&[
            "reveal",
            "--job",
            market.job.to_str().unwrap(),
            "--api",
            &market.buyer.api,
        ]),
        "reveal",
    );
    ok(
        market.buyer_cli(&[
            "publish",
            market.job.join("reveal.msg").to_str().unwrap(),
            "--api",
            &market.buyer.api,
        ]),
        "publish the reveal",
    );
    let view = market.wait_observer(&job, "the reveal at the observer", |v| v.revealed);
    assert!(!view.revealed_early, "every witness had attested");
    let revealed_at = view.revealed_at.unwrap();
    // After it, a witness's new `fail` does not count: the provider now knows the triggers.
    let witness_key = keys::load(&market.witnesses[0].dir.join(keys::KEY_FILE)).unwrap();
    let late = market.made_up_fail(&witness_key, Role::Witness, revealed_at + 5);
    market
        .rt
        .block_on(market.buyer.client().publish(late))
        .unwrap();
    let view = market.wait_observer(&job, "the late attestation at the observer", |v| {
        v.attestations.iter().any(|a| a.after_reveal)
    });
    let verdicts = view.verdicts.as_ref().unwrap();
    assert_eq!(verdicts.status, Agreement::Confirmed);
    assert_eq!(witness_verdicts(&view), [Some(Verdict::Pass); 2]);
    let after = market
        .rt
        .block_on(market.observer.client().summary("acme"))
        .unwrap();
    assert_eq!(after.after_reveal, 1);
    assert_eq!(
        (
            after.all.attestations,
            after.all.confirmed_pass,
            after.all.fail_without_evidence
        ),
        (summary.all.attestations, 1, 0)
    );
}

#[test]
fn a_lying_buyers_fail_is_disputed_by_the_witnesses_and_the_buyer_flagged() {
    let _serial = serial();
    let market = Market::start(2, 2);
    let honest = provider(&market.job, "honest");
    let c = market.commit(&market.witness_keys(2), 3600);
    let job = c.job_id.to_string();
    market.seal(&honest);

    // The buyer signs a `fail` built from made-up answers, without asking the endpoint.
    let buyer_key = keys::load(&market.buyer.dir.join(keys::KEY_FILE)).unwrap();
    let signed = market.made_up_fail(&buyer_key, Role::Buyer, c.created_at + 1);
    market
        .rt
        .block_on(market.buyer.client().publish(signed))
        .unwrap();

    let view = market.wait_observer(&job, "a dispute at the observer", |v| {
        v.verdicts.as_ref().is_some_and(|v| v.buyer_flagged)
    });
    let verdicts = view.verdicts.as_ref().unwrap();
    assert_eq!(verdicts.status, Agreement::Disputed);
    assert_eq!(verdicts.buyer, Some(Verdict::Fail));
    assert_eq!(witness_verdicts(&view), [Some(Verdict::Pass); 2]);
    let summary = market
        .rt
        .block_on(market.observer.client().summary("acme"))
        .unwrap();
    assert_eq!(
        (
            summary.all.disputed,
            summary.all.buyer_flagged,
            summary.all.confirmed_fail
        ),
        (1, 1, 0)
    );
    // `query` prints it.
    let out = ok(
        vtune(
            &market.observer.dir,
            &["query", "--job", &job, "--api", &market.observer.api],
        ),
        "query",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("disputed") && text.contains("BUYER FLAGGED"),
        "{text}"
    );
}

#[test]
fn a_base_model_fails_for_the_buyer_and_the_witnesses_alike() {
    let _serial = serial();
    let market = Market::start(2, 2);
    let base = provider(&market.job, "base");
    let c = market.commit(&market.witness_keys(2), 3600);
    let job = c.job_id.to_string();
    market.seal(&base);
    assert_eq!(market.verify(&base), Some(1), "the buyer's verify fails");
    let view = market.wait_observer(&job, "a confirmed fail at the observer", |v| {
        v.verdicts
            .as_ref()
            .is_some_and(|v| v.status == Agreement::Confirmed)
    });
    assert_eq!(view.verdicts.as_ref().unwrap().buyer, Some(Verdict::Fail));
    assert_eq!(witness_verdicts(&view), [Some(Verdict::Fail); 2]);
    let summary = market
        .rt
        .block_on(market.observer.client().summary("acme"))
        .unwrap();
    assert_eq!((summary.all.confirmed_fail, summary.all.disputed), (1, 0));
}

#[test]
fn with_a_witness_offline_the_job_stays_unconfirmed_and_the_reveal_waits_for_the_deadline() {
    let _serial = serial();
    let market = Market::start(2, 1);
    let honest = provider(&market.job, "honest");
    let window = 20;
    let c = market.commit(&market.witness_keys(2), window);
    let job = c.job_id.to_string();
    market.seal(&honest);
    assert_eq!(market.verify(&honest), Some(0));
    let view = market.wait_observer(&job, "the running witness's pass", |v| {
        witness_verdicts(v) == [Some(Verdict::Pass), None]
            && v.verdicts.as_ref().unwrap().buyer == Some(Verdict::Pass)
    });
    assert_eq!(view.verdicts.unwrap().status, Agreement::Unconfirmed);

    // Before the deadline, `reveal` refuses: a witness has not attested.
    let reveal = || {
        market.buyer_cli(&[
            "reveal",
            "--job",
            market.job.to_str().unwrap(),
            "--api",
            &market.buyer.api,
        ])
    };
    let early = reveal();
    assert!(!early.status.success());
    let stderr = String::from_utf8_lossy(&early.stderr);
    assert!(stderr.contains("not revealing yet"), "{stderr}");
    assert!(!market.job.join("reveal.msg").exists());

    // After it, the reveal is written, published, and recorded in the job's status.
    wait_for(
        Duration::from_secs(window + 5),
        "the reveal deadline",
        || now() >= c.reveal_after,
    );
    ok(reveal(), "reveal after the deadline");
    ok(
        market.buyer_cli(&[
            "publish",
            market.job.join("reveal.msg").to_str().unwrap(),
            "--api",
            &market.buyer.api,
        ]),
        "publish",
    );
    let view = market.wait_observer(&job, "the reveal at the observer", |v| v.revealed);
    assert!(!view.revealed_early, "the deadline had passed");
    assert_eq!(view.verdicts.unwrap().status, Agreement::Unconfirmed);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
