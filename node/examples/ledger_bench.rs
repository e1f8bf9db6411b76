//! Ledger benchmark: ingest rate (decode, verify, check, store, flush) against the raw ed25519
//! verification rate, measured in the same run, and the latency of a provider query over a
//! large ledger.
//!
//! ```text
//! cargo run --release -p vtune-node --example ledger_bench -- \
//!     [--ingest 25000] [--population 1000000] [--providers 1000] [--page 50] [--dir DIR]
//!     [--db DIR]
//! ```
//!
//! `--db DIR` keeps the ledger in DIR; a later run with the same DIR skips the ingest rounds
//! and the population it already holds, and only times the queries again.
//!
//! 1. Signs `--ingest` distinct attestations. In 5 rounds, times `verify_strict` over their
//!    PAEs on one thread (the raw rate), `open_any` on one thread, and `Ledger::insert_batch`
//!    in batches of 1,000 into the ledger: every envelope is decoded, verified, checked and
//!    stored, and each batch is flushed before it is acknowledged. The machine may be shared,
//!    so the rounds interleave the three and the best and median round are reported, in
//!    wall-clock time and per CPU-second (CPU time of all the process's threads).
//! 2. Fills the ledger to `--population` attestations over `--providers` providers (batches
//!    of 10,000 through the same verified path; not timed as ingest), then times 1,000
//!    first-page queries `by_provider` of random providers and reports p50 / p99 / max.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_node::ledger::{Ledger, PageRequest};
use vtune_protocol::envelope::{Envelope, pae};
use vtune_protocol::messages::{JobId, MessageId, PublicKey, open_any, samples};

const ROUNDS: usize = 5;

struct Options {
    ingest: usize,
    population: usize,
    providers: usize,
    page: usize,
    dir: Option<PathBuf>,
    db: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        ingest: 25_000,
        population: 1_000_000,
        providers: 1_000,
        page: 50,
        dir: None,
        db: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--ingest" => o.ingest = value.parse().expect("--ingest N"),
            "--population" => o.population = value.parse().expect("--population N"),
            "--providers" => o.providers = value.parse().expect("--providers N"),
            "--page" => o.page = value.parse().expect("--page N"),
            "--dir" => o.dir = Some(PathBuf::from(value)),
            "--db" => o.db = Some(PathBuf::from(value)),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

/// `count` distinct signed attestations, numbered from `start`, by 16 attesters.
fn envelopes(start: usize, count: usize, providers: usize) -> Vec<Vec<u8>> {
    let keys: Vec<SigningKey> = (0..16u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|from| {
                let keys = &keys;
                scope.spawn(move || {
                    (from..(from + chunk).min(count))
                        .map(|i| {
                            let n = start + i;
                            let key = &keys[n % keys.len()];
                            let attester = PublicKey(key.verifying_key().to_bytes());
                            let provider = format!("provider-{}", n % providers);
                            let mut a = samples::attestation(
                                attester,
                                MessageId([7; 32]),
                                &provider,
                                1_700_000_000 + n as u64,
                            );
                            let mut job = [0u8; 16];
                            job[..8].copy_from_slice(&(n as u64).to_le_bytes());
                            a.job_id = JobId(job);
                            Envelope::seal(&a, key).expect("valid").to_bytes()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// CPU time used by this process so far (all threads).
fn cpu_time() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time used by this thread so far.
fn thread_cpu_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Rates of one kind of work over the rounds: wall-clock and per CPU-second.
#[derive(Default)]
struct Rates {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Rates {
    /// Times `work`, which does `n` operations.
    fn measure(&mut self, n: usize, work: impl FnOnce()) {
        let (wall, cpu) = (Instant::now(), cpu_time());
        work();
        let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
        self.wall.push(n as f64 / wall.as_secs_f64());
        self.cpu.push(n as f64 / cpu.as_secs_f64());
    }

    /// (best, median) wall-clock rate and best CPU rate.
    fn summary(&mut self) -> (f64, f64, f64) {
        self.wall.sort_by(f64::total_cmp);
        self.cpu.sort_by(f64::total_cmp);
        (
            self.wall[self.wall.len() - 1],
            self.wall[self.wall.len() / 2],
            self.cpu[self.cpu.len() - 1],
        )
    }
}

/// Part 1: raw verification against ingest, interleaved in rounds.
fn ingest_rounds(o: &Options, ledger: &Ledger, threads: usize) {
    // 1. Raw verification against ingest, interleaved in rounds.
    let per_round = o.ingest.div_ceil(ROUNDS);
    let t = Instant::now();
    let batch = envelopes(0, per_round * ROUNDS, o.providers);
    println!(
        "signed {} attestations in {:.1?} ({} bytes each)",
        batch.len(),
        t.elapsed(),
        batch[0].len()
    );
    let (mut raw, mut open, mut ingest) = (Rates::default(), Rates::default(), Rates::default());
    for round in batch.chunks(per_round) {
        let decoded: Vec<(VerifyingKey, Vec<u8>, Signature)> = round
            .iter()
            .map(|bytes| {
                let e = Envelope::decode(bytes).unwrap();
                (
                    VerifyingKey::from_bytes(e.signer.as_bytes()).unwrap(),
                    pae(&e.payload_type, &e.payload),
                    Signature::from_bytes(e.signature.as_bytes()),
                )
            })
            .collect();
        raw.measure(round.len(), || {
            for (key, message, signature) in &decoded {
                key.verify_strict(message, signature).unwrap();
            }
        });
        open.measure(round.len(), || {
            for bytes in round {
                open_any(bytes).unwrap();
            }
        });
        ingest.measure(round.len(), || {
            for chunk in round.chunks(1_000) {
                for result in ledger.insert_batch(chunk).unwrap() {
                    assert!(result.unwrap().new);
                }
            }
        });
    }
    let (raw_best, raw_median, raw_cpu) = raw.summary();
    let (open_best, open_median, open_cpu) = open.summary();
    let (ingest_best, ingest_median, ingest_cpu) = ingest.summary();
    println!("{ROUNDS} rounds of {per_round}; per second, best / median round (per CPU-second):");
    println!(
        "  raw ed25519 verify_strict, 1 thread:      {raw_best:>7.0} / {raw_median:>7.0}  ({raw_cpu:.0})"
    );
    println!(
        "  open_any (decode, verify, check), 1 thread: {open_best:>7.0} / {open_median:>7.0}  ({open_cpu:.0})"
    );
    println!(
        "  ingest (open_any + store, flush per 1,000; {} verifying, 1 storing): \
         {ingest_best:>7.0} / {ingest_median:>7.0}  ({ingest_cpu:.0})",
        threads.max(2) - 1
    );
    println!(
        "  ingest / raw verify: best {:.2}, median {:.2}, per CPU-second {:.2}",
        ingest_best / raw_best,
        ingest_median / raw_median,
        ingest_cpu / raw_cpu
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let o = options();
    let tmp = tempfile::tempdir_in(o.dir.clone().unwrap_or_else(std::env::temp_dir)).unwrap();
    println!("ledger dir: {}", tmp.path().display());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let db = o.db.clone().unwrap_or_else(|| tmp.path().join("ledger"));
    let ledger = Ledger::open(&db).unwrap();
    if ledger.is_empty() {
        ingest_rounds(&o, &ledger, threads);
    } else {
        println!(
            "{} holds {} messages: timing queries only",
            db.display(),
            ledger.len()
        );
    }

    // 2. Population and provider queries.
    let t = Instant::now();
    let mut stored = ledger.len();
    while stored < o.population {
        let count = (o.population - stored).min(10_000);
        let more = envelopes(stored, count, o.providers);
        for result in ledger.insert_batch(&more).unwrap() {
            result.unwrap();
        }
        stored = ledger.len();
        if stored % 100_000 < 10_000 {
            eprintln!("  {stored} stored, {:.0?}", t.elapsed());
        }
    }
    println!("population: {stored} attestations in {:.1?}", t.elapsed());

    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut times = Vec::with_capacity(1_000);
    let mut cpu_times = Vec::with_capacity(1_000);
    let mut returned = 0;
    for _ in 0..1_000 {
        let provider = format!("provider-{}", rng.random_range(0..o.providers));
        let (t, cpu) = (Instant::now(), thread_cpu_time());
        let page = ledger
            .by_provider(&provider, &PageRequest::first(o.page))
            .unwrap();
        times.push(t.elapsed());
        cpu_times.push(thread_cpu_time() - cpu);
        returned += page.entries.len();
        assert_eq!(page.entries.len(), o.page.min(stored / o.providers));
    }
    times.sort();
    println!(
        "provider query, first page of {} over {stored}: p50 {:.2?}, p99 {:.2?}, max {:.2?} \
         ({returned} entries)",
        o.page,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
    );
    cpu_times.sort();
    println!(
        "  the same queries' own CPU time (without waits for a core): p50 {:.2?}, p99 {:.2?}",
        percentile(&cpu_times, 0.5),
        percentile(&cpu_times, 0.99),
    );
}
