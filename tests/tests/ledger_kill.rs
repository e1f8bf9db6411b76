//! Durability: a writer process is killed with SIGKILL at random moments, 20 times, and after
//! each kill the ledger opens and holds every id the writer had printed as acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use vtune_node::ledger::Ledger;
use vtune_protocol::messages::MessageId;

const ROUNDS: u64 = 20;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger");
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let mut acknowledged: Vec<MessageId> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-writer"))
            .arg(&db)
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ledger-writer");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            // Only whole lines count: a line cut by the kill was never fully acknowledged.
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(id) = line.strip_suffix('\n') {
                    tx.send(id.parse::<MessageId>().expect("an id per line"))
                        .unwrap();
                }
                line.clear();
            }
        });
        // Wait for the first acknowledgement, so that every kill lands mid-stream.
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer acknowledges a first write within 60 s");
        std::thread::sleep(Duration::from_millis(rng.random_range(0..250)));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the writer was killed");
        reader.join().unwrap();
        let before = acknowledged.len();
        acknowledged.push(first);
        acknowledged.extend(rx.try_iter());

        let ledger = Ledger::open(&db)
            .unwrap_or_else(|e| panic!("round {round}: the ledger does not open: {e}"));
        let missing: Vec<&MessageId> = acknowledged
            .iter()
            .filter(|id| !ledger.contains(id).unwrap())
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged ids are missing, e.g. {}",
            missing.len(),
            acknowledged.len(),
            missing[0]
        );
        for id in &acknowledged[before..] {
            let entry = ledger.get(id).unwrap().unwrap();
            vtune_protocol::messages::open_any(&entry).expect("a stored envelope still verifies");
        }
        println!(
            "round {round}: {} new acknowledged ids, {} in all, all present",
            acknowledged.len() - before,
            acknowledged.len()
        );
    }
}
