//! Ledger benchmark: ingest rate (decode, verify, store, flush) against the raw ed25519
//! verification rate, measured in the same run, and the latency of a provider query over a
//! large ledger.
//!
//! ```text
//! cargo run --release -p vtune-node --example ledger_bench -- \
//!     [--ingest 20000] [--population 1000000] [--providers 1000] [--page 50] [--dir DIR]
//! ```
//!
//! 1. Signs `--ingest` distinct attestations, times `verify_strict` over their PAEs (the raw
//!    rate), then times `Ledger::insert_batch` in batches of 1,000 into an empty ledger: every
//!    envelope is decoded, verified, checked and stored, and each batch is flushed before it
//!    is acknowledged. Both on one thread.
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
use vtune_protocol::messages::{JobId, MessageId, PublicKey, samples};

struct Options {
    ingest: usize,
    population: usize,
    providers: usize,
    page: usize,
    dir: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        ingest: 20_000,
        population: 1_000_000,
        providers: 1_000,
        page: 50,
        dir: None,
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let o = options();
    let tmp = tempfile::tempdir_in(o.dir.clone().unwrap_or_else(std::env::temp_dir)).unwrap();
    println!("ledger dir: {}", tmp.path().display());

    // 1. Raw verification against ingest, on the same envelopes.
    let t = Instant::now();
    let batch = envelopes(0, o.ingest, o.providers);
    println!(
        "signed {} attestations in {:.1?} ({} bytes each)",
        batch.len(),
        t.elapsed(),
        batch[0].len()
    );
    let decoded: Vec<(VerifyingKey, Vec<u8>, Signature)> = batch
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
    let t = Instant::now();
    for (key, message, signature) in &decoded {
        key.verify_strict(message, signature).unwrap();
    }
    let raw = decoded.len() as f64 / t.elapsed().as_secs_f64();
    println!("raw ed25519 verify_strict: {raw:.0} /s (1 thread)");

    let ledger = Ledger::open(&tmp.path().join("ledger")).unwrap();
    let t = Instant::now();
    for chunk in batch.chunks(1_000) {
        for result in ledger.insert_batch(chunk).unwrap() {
            assert!(result.unwrap().new);
        }
    }
    let ingest = batch.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "ingest (decode, verify, check, store; flush per 1,000): {ingest:.0} /s (1 thread) \
         = {:.2} x raw verify",
        ingest / raw
    );
    drop(decoded);

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
    let mut returned = 0;
    for _ in 0..1_000 {
        let provider = format!("provider-{}", rng.random_range(0..o.providers));
        let t = Instant::now();
        let page = ledger
            .by_provider(&provider, &PageRequest::first(o.page))
            .unwrap();
        times.push(t.elapsed());
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
}
