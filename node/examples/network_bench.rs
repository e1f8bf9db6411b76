//! The network benchmark: 20 daemons on loopback in one process, in one run.
//!
//! - attestation propagation, publish (HTTP POST at node 1) to the last node's ledger: p50
//!   and p99 over many attestations;
//! - bytes sent per attestation per node (libp2p's transport counters, minus the same
//!   network's idle traffic over as long), against the envelope's own size;
//! - catch-up: a fresh node joining a peer that holds 100,000 messages, messages per second
//!   ingested, against the ledger's own batched ingest rate measured in the same run;
//! - the resident memory of an idle `vtune-node run` process in the network (needs
//!   `target/release/vtune-node`: `cargo build --release -p vtune-cli` first).
//!
//! Run: `cargo build --release -p vtune-cli && cargo run --release -p vtune-node --example
//! network_bench [-- --nodes 20 --attestations 200 --catch-up 100000]`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vtune_node::api::ApiClient;
use vtune_node::daemon::{Daemon, DaemonConfig};
use vtune_node::keys::NodeKey;
use vtune_node::ledger::Ledger;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{JobId, MessageId, samples};

struct Options {
    nodes: usize,
    attestations: usize,
    catch_up: usize,
}

fn options() -> Options {
    let mut o = Options {
        nodes: 20,
        attestations: 200,
        catch_up: 100_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || pair.get(1).and_then(|v| v.parse().ok()).expect("a number");
        match pair[0].as_str() {
            "--nodes" => o.nodes = value(),
            "--attestations" => o.attestations = value(),
            "--catch-up" => o.catch_up = value(),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

fn config(dir: &Path, bootstrap: Vec<vtune_node::network::Multiaddr>) -> DaemonConfig {
    DaemonConfig {
        data_dir: dir.to_path_buf(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        api: "127.0.0.1:0".parse().unwrap(),
        market: "bench".to_string(),
        trust: None,
        sync_interval: Duration::from_secs(10),
        witness: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Outbound transport bytes of one node, from its /metrics.
async fn bytes_out(api: &ApiClient) -> u64 {
    let text = api.get_text("/metrics").await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("libp2p_bandwidth_bytes_total") && l.contains("direction=\"Outbound\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn total_bytes_out(apis: &[ApiClient]) -> u64 {
    let mut sum = 0;
    for api in apis {
        sum += bytes_out(api).await;
    }
    sum
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = options();
    let root = tempfile::tempdir().unwrap();
    println!("network benchmark: {} nodes on loopback", o.nodes);

    // The network: node 1 first, each next one joining through node 1 and its predecessor.
    let mut nodes: Vec<Daemon> = Vec::new();
    for i in 0..o.nodes {
        let mut bootstrap = Vec::new();
        if let Some(first) = nodes.first() {
            bootstrap.extend(first.listen_addrs.clone());
        }
        if let Some(last) = nodes.last() {
            bootstrap.extend(last.listen_addrs.clone());
        }
        let daemon = Daemon::start(config(&root.path().join(format!("n{i}")), bootstrap))
            .await
            .unwrap();
        nodes.push(daemon);
    }
    let apis: Vec<ApiClient> = nodes.iter().map(|n| ApiClient::new(&n.api_url)).collect();
    for api in &apis {
        while api.health().await.unwrap().mesh_peers < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Propagation and bytes.
    let buyer = NodeKey::from_seed([1; 32]);
    let commitment = samples::commitment(buyer.public(), "acme");
    let c_bytes = Envelope::seal(&commitment, buyer.signing_key())
        .unwrap()
        .to_bytes();
    let c_id = MessageId::of(&c_bytes);
    apis[0].publish(c_bytes).await.unwrap();
    let envelopes: Vec<Vec<u8>> = (0..o.attestations)
        .map(|i| {
            let key = attester(i);
            let a = samples::attestation(key.public(), c_id, "acme", 1_800_000_000 + i as u64);
            Envelope::seal(&a, key.signing_key()).unwrap().to_bytes()
        })
        .collect();
    let envelope_size =
        envelopes.iter().map(Vec::len).sum::<usize>() as f64 / envelopes.len() as f64;
    let window_start = Instant::now();
    let idle_before = total_bytes_out(&apis).await;
    tokio::time::sleep(Duration::from_millis(20 * o.attestations as u64)).await;
    let idle_bytes = total_bytes_out(&apis).await - idle_before;
    let idle_window = window_start.elapsed();

    let ledgers: Vec<Ledger> = nodes.iter().map(|n| n.ledger().clone()).collect();
    let busy_before = total_bytes_out(&apis).await;
    let busy_start = Instant::now();
    let mut latencies = Vec::with_capacity(o.attestations);
    for envelope in &envelopes {
        let id = MessageId::of(envelope);
        let sent = Instant::now();
        apis[0].publish(envelope.clone()).await.unwrap();
        let mut pending: Vec<&Ledger> = ledgers.iter().collect();
        while !pending.is_empty() {
            pending.retain(|l| !l.contains(&id).unwrap());
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }
        latencies.push(sent.elapsed());
        // Keep the same pace as the idle window.
        let next = busy_start + Duration::from_millis(20 * latencies.len() as u64);
        tokio::time::sleep_until(next.into()).await;
    }
    let busy_window = busy_start.elapsed();
    let busy_bytes = total_bytes_out(&apis).await - busy_before;
    // Idle again, as long, after the busy window: background traffic is the mean of both.
    let after_start = Instant::now();
    let after_before = total_bytes_out(&apis).await;
    tokio::time::sleep(idle_window).await;
    let idle_after = total_bytes_out(&apis).await - after_before;
    let idle_window = idle_window + after_start.elapsed();
    let idle_bytes = idle_bytes + idle_after;
    latencies.sort();
    let idle_rate = idle_bytes as f64 / idle_window.as_secs_f64();
    let attributable = busy_bytes as f64 - idle_rate * busy_window.as_secs_f64();
    let per_attestation_per_node = attributable / o.attestations as f64 / o.nodes as f64;
    println!(
        "propagation, publish at node 1 to the last of {} ledgers, {} attestations: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        o.nodes,
        o.attestations,
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    let raw = busy_bytes as f64 / o.attestations as f64 / o.nodes as f64;
    println!(
        "bytes sent per attestation per node: {:.0} (envelope {:.0} bytes: ratio {:.2}) after subtracting the idle traffic of the same network ({:.0} B/s in all, measured before and after); without subtracting: {:.0} (ratio {:.2})",
        per_attestation_per_node,
        envelope_size,
        per_attestation_per_node / envelope_size,
        idle_rate,
        raw,
        raw / envelope_size
    );

    // Idle RSS of a separate `vtune-node run` process in this network.
    match release_binary() {
        Some(binary) => {
            let rss = idle_rss(&binary, &root.path().join("idle"), &nodes[0]).await;
            println!(
                "idle node resident memory: {:.1} MB (VmRSS after 10 s in the network)",
                rss as f64 / 1e6
            );
        }
        None => {
            println!("idle node resident memory: skipped (build target/release/vtune-node first)")
        }
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }

    // Catch-up: a ledger with many messages, then a fresh node syncing it.
    let holder_dir = root.path().join("holder");
    let (ingest_rate, count) = fill_ledger(&holder_dir.join("ledger"), o.catch_up);
    println!(
        "ledger ingest (insert_batch of 1,024, flushed): {count} messages at {ingest_rate:.0} msg/s"
    );
    let holder = Daemon::start(config(&holder_dir, Vec::new()))
        .await
        .unwrap();
    let start = Instant::now();
    let fresh = Daemon::start(config(
        &root.path().join("fresh"),
        holder.listen_addrs.clone(),
    ))
    .await
    .unwrap();
    while fresh.ledger().len() < count {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    let sync_rate = count as f64 / took.as_secs_f64();
    println!(
        "catch-up of a fresh node: {count} messages in {:.2} s, {sync_rate:.0} msg/s = {:.2} of the ledger's ingest rate",
        took.as_secs_f64(),
        sync_rate / ingest_rate
    );
    fresh.shutdown().await.unwrap();
    holder.shutdown().await.unwrap();
}

/// The key of the `i`th attester.
fn attester(i: usize) -> NodeKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    NodeKey::from_seed(seed)
}

/// Stores `count` signed commitments in a new ledger in batches; returns the rate.
fn fill_ledger(path: &Path, count: usize) -> (f64, usize) {
    let keys: Vec<NodeKey> = (0..16u8)
        .map(|i| NodeKey::from_seed([i + 100; 32]))
        .collect();
    let envelopes: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let mut c = samples::commitment(key.public(), &format!("provider-{}", i % 97));
            let mut job = [0u8; 16];
            job[..8].copy_from_slice(&(i as u64).to_be_bytes());
            c.job_id = JobId(job);
            Envelope::seal(&c, key.signing_key()).unwrap().to_bytes()
        })
        .collect();
    let ledger = Ledger::open(path).unwrap();
    let start = Instant::now();
    for chunk in envelopes.chunks(1024) {
        for result in ledger.insert_batch(chunk).unwrap() {
            result.unwrap();
        }
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    drop(ledger);
    (rate, count)
}

fn release_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe.parent()?.parent()?.join("vtune-node");
    binary.exists().then_some(binary)
}

async fn idle_rss(binary: &Path, dir: &Path, peer: &Daemon) -> u64 {
    let mut child = tokio::process::Command::new(binary)
        .args([
            "run",
            "--json",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
        ])
        .args(["--market", "bench", "--data-dir"])
        .arg(dir)
        .arg("--bootstrap")
        .arg(peer.listen_addrs[0].to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pid = child.id().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap();
    child.kill().await.unwrap();
    kb * 1024
}
