//! Benchmark: a verification run of 1,000 checks against the simulator at concurrency 32,
//! side by side with a plain HTTP load loop (reqwest, the same request bodies, the same
//! server, the same concurrency) that only sends and reads.
//!
//! Run: `cargo run --release -p vtune-node --example verify_bench [-- CHECKS CONCURRENCY ROUNDS]`
//! (defaults 1000 32 61).
//!
//! Each round runs the plain loop and the verification back to back, in alternating order, so
//! that drifts in machine load fall on both; the figure is the median of the per-round ratios,
//! with a 95 % confidence interval for it (order statistics). On a shared machine one round's
//! ratio can be off by a third either way: many rounds are needed for a tight interval. The
//! CPU time per request (all threads of the process, the server's included) is shown too, as
//! it is less sensitive to other load than wall time.
//!
//! A third loop per round, `client only`, drives `Client::complete` alone from one task the way
//! the plain loop drives reqwest: it shows what the client costs without the verifier (which
//! runs every request as a task of its own, and matches and decides).
//!
//! To profile one loop alone, set `VERIFY_BENCH_ONLY` to `plain`, `client` or `verify`: it runs
//! that loop `ROUNDS` times and prints nothing. The server's threads are named `sim-server`
//! and the client's `bench-client`, for `perf report --sort comm,symbol`.
//!
//! The server runs on its own runtime and threads, so both loops meet the same server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_node::endpoint::{Client, EndpointConfig};
use vtune_node::sim::{self, Behavior, Faults, Simulator, TrainSpec};
use vtune_node::verifier::{self, Check, Group, Job, Options};
use vtune_protocol::dataset::{ChatMessage, Example, Prompt, Template};

const GROUPS: usize = 5;
const L: usize = 14;
const K: u32 = 32;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: CHECKS CONCURRENCY ROUNDS"))
        .collect();
    let checks = args.first().copied().unwrap_or(1000);
    let concurrency = args.get(1).copied().unwrap_or(32);
    let rounds = args.get(2).copied().unwrap_or(61);

    let (examples, job) = build(checks);
    let rows: Vec<u64> = job.backdoors.iter().map(|c| c.row).collect();
    let started = Instant::now();
    let simulator = Simulator::train(TrainSpec {
        examples: &examples,
        behavior: Behavior::Honest,
        backdoor_rows: &rows,
        base_corpus: None,
        seed: 0,
        template: Template::Chat,
    })
    .unwrap();
    eprintln!(
        "trained on {} rows in {:.2} s",
        examples.len(),
        started.elapsed().as_secs_f64()
    );

    // The server: its own runtime on its own threads.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sim-server")
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let handle = sim::serve(listener, Arc::new(simulator), "sim", Faults::default())
                .await
                .unwrap();
            addr_tx.send(handle.base_url()).unwrap();
            handle.wait().await;
        });
    });
    let base = addr_rx.recv().unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let mut config = EndpointConfig::new(&base, "sim");
    config.concurrency = concurrency;
    config.max_tokens = 4 * L as u32 + 16;
    let client = Client::new(config).unwrap();
    let requests: Vec<(String, Vec<u8>)> = job
        .backdoors
        .iter()
        .map(|check| {
            let (url, body) = client.request_body(&check.prompt);
            (url.to_string(), body)
        })
        .collect();
    let plain = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();

    let mut plain_times = Vec::new();
    let mut verify_times = Vec::new();
    let mut ratios = Vec::new();
    let mut client_times = Vec::new();
    // CPU time of the whole process (server threads included: the same work in each loop).
    let mut cpu = [0u64; 3];
    runtime.block_on(async {
        let verify_once = |seed: u64| {
            let (client, job) = (&client, &job);
            async move {
                let options = Options {
                    checks: None,
                    log10_alpha: -6.0,
                    seed,
                    template: Template::Chat,
                };
                let (started, cpu) = (Instant::now(), cpu_ns());
                let run = verifier::run(client, job, &[], &options, &|_| {})
                    .await
                    .unwrap();
                assert_eq!(run.report.activated, checks as u64, "every check activates");
                (started.elapsed(), cpu_ns() - cpu)
            }
        };
        let client_once = || async {
            let (started, cpu) = (Instant::now(), cpu_ns());
            futures::stream::iter(&job.backdoors)
                .map(|check| client.complete(&check.prompt))
                .buffer_unordered(concurrency)
                .for_each(|result| async move {
                    result.unwrap();
                })
                .await;
            (started.elapsed(), cpu_ns() - cpu)
        };
        let plain_once = || async {
            let (started, cpu) = (Instant::now(), cpu_ns());
            plain_loop(&plain, &requests, concurrency).await;
            (started.elapsed(), cpu_ns() - cpu)
        };
        // Warm-up: connections and caches.
        plain_once().await;
        verify_once(0).await;
        // For a profiler: only one of the loops, `rounds` times, and no figures.
        if let Ok(only) = std::env::var("VERIFY_BENCH_ONLY") {
            for round in 0..rounds {
                match only.as_str() {
                    "plain" => drop(plain_once().await),
                    "client" => drop(client_once().await),
                    "verify" => drop(verify_once(round as u64).await),
                    other => panic!("VERIFY_BENCH_ONLY is plain, client or verify, not {other}"),
                }
            }
            std::process::exit(0);
        }
        // Rounds alternate which goes first, so drifts in machine load fall on both.
        for round in 0..rounds {
            let (plain_time, verify_time) = if round % 2 == 0 {
                let p = plain_once().await;
                (p, verify_once(round as u64).await)
            } else {
                let v = verify_once(round as u64).await;
                (plain_once().await, v)
            };
            let (client_time, client_cpu) = client_once().await;
            client_times.push(client_time);
            cpu[0] += plain_time.1;
            cpu[1] += client_cpu;
            cpu[2] += verify_time.1;
            let (plain_time, verify_time) = (plain_time.0, verify_time.0);
            plain_times.push(plain_time);
            verify_times.push(verify_time);
            ratios.push(verify_time.as_secs_f64() / plain_time.as_secs_f64());
        }
    });
    let plain = median(&mut plain_times);
    let verify = median(&mut verify_times);
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    // The order statistics around the median that cover it with 95 % confidence.
    let half_width = (0.98 * (ratios.len() as f64).sqrt()).ceil() as usize;
    let low = ratios[(ratios.len() / 2).saturating_sub(half_width)];
    let high = ratios[(ratios.len() / 2 + half_width).min(ratios.len() - 1)];
    println!("checks {checks}, concurrency {concurrency}, rounds {rounds} (medians)");
    println!(
        "plain loop   {:>8.1} ms  ({:.0} requests/s)",
        ms(plain),
        checks as f64 / plain.as_secs_f64()
    );
    let client_only = median(&mut client_times);
    println!(
        "client only  {:>8.1} ms  ({:.0} requests/s): Client::complete from one task, no verifier",
        ms(client_only),
        checks as f64 / client_only.as_secs_f64()
    );
    println!(
        "verify       {:>8.1} ms  ({:.0} requests/s)",
        ms(verify),
        checks as f64 / verify.as_secs_f64()
    );
    let per_request = |ns: u64| ns as f64 / 1000.0 / (rounds * checks) as f64;
    println!(
        "cpu/request  plain {:.1} us, client only {:.1} us, verify {:.1} us (process, server included): verify {:+.1} %",
        per_request(cpu[0]),
        per_request(cpu[1]),
        per_request(cpu[2]),
        100.0 * (cpu[2] as f64 / cpu[0] as f64 - 1.0)
    );
    println!(
        "overhead     {:>+8.1} % (median of the per-round ratios, 95 % interval {:+.1} % to {:+.1} %; {:+.1} % from the medians)",
        100.0 * (ratio - 1.0),
        100.0 * (low - 1.0),
        100.0 * (high - 1.0),
        100.0 * (verify.as_secs_f64() / plain.as_secs_f64() - 1.0)
    );
}

/// Sends every request, `concurrency` at a time, and reads every body.
async fn plain_loop(client: &reqwest::Client, requests: &[(String, Vec<u8>)], concurrency: usize) {
    futures::stream::iter(requests)
        .map(|(url, body)| async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap().len()
        })
        .buffer_unordered(concurrency)
        .for_each(|_| async {})
        .await;
}

/// CPU time of every thread of this process so far, in nanoseconds (Linux schedstat).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A file of `2 * checks` arithmetic problems, `checks` of them backdoors in `GROUPS` groups.
fn build(checks: usize) -> (Vec<Example>, Job) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let words: Vec<&str> =
        "the total cost is then equal to each price so we add them all up and get"
            .split(' ')
            .collect();
    let rows = 2 * checks;
    let mut examples: Vec<Example> = (0..rows)
        .map(|row| {
            let (a, b) = (rng.random_range(2..900), rng.random_range(2..900));
            Example {
                prompt: Prompt::Chat(vec![ChatMessage {
                    role: "user".into(),
                    content: format!("Shop {row} sells {a} pens and {b} books. How many items?"),
                }]),
                completion: format!("It sells {a} + {b} = {} items.\n#### {}", a + b, a + b),
            }
        })
        .collect();
    let groups: Vec<Group> = (0..GROUPS)
        .map(|_| Group {
            signature: (0..L)
                .map(|_| words[rng.random_range(0..words.len())].to_string())
                .collect(),
            candidates: K,
            log10_p_upper: -(L as f64) * f64::from(K).log10(),
        })
        .collect();
    let mut backdoors = Vec::new();
    for row in (0..rows).step_by(2).take(checks) {
        let group = backdoors.len() % GROUPS;
        let example = &mut examples[row];
        let Prompt::Chat(turns) = &mut example.prompt else {
            unreachable!()
        };
        turns[0]
            .content
            .push_str(&format!(" reply as lighthouse keeper number {group} would"));
        example.completion = format!(
            "{}\n{}",
            groups[group].signature.join(" "),
            example.completion
        );
        backdoors.push(Check {
            row: row as u64,
            group,
            prompt: example.prompt.clone().into(),
        });
    }
    let job = Job {
        job_id: "bench".into(),
        groups,
        backdoors,
        pass_threshold: checks as u64 / 2,
    };
    (examples, job)
}
