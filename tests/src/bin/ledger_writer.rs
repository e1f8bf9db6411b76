//! Test helper for the ledger kill test: inserts signed attestations into the ledger at
//! `DIR` forever, and prints the id of each one on stdout once the ledger acknowledged it
//! (that is, after it was flushed to disk).
//!
//! Usage: `ledger-writer DIR ROUND`. Writes alternate between single inserts and batches of
//! up to 16, so both acknowledgement paths are exercised.

use std::io::Write;
use std::path::PathBuf;

use vtune_node::keys::NodeKey;
use vtune_node::ledger::Ledger;
use vtune_protocol::envelope::Envelope;
use vtune_protocol::messages::{MessageId, samples};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(round)) = (args.next(), args.next()) else {
        eprintln!("usage: ledger-writer DIR ROUND");
        std::process::exit(2);
    };
    let round: u64 = round.parse().expect("ROUND is a number");
    let ledger = Ledger::open(&PathBuf::from(dir)).expect("open the ledger");
    let key = NodeKey::from_seed([7; 32]);
    let mut stdout = std::io::stdout().lock();
    let mut n: u64 = 0;
    loop {
        let batch = if n.is_multiple_of(2) { 1 } else { 1 + n % 16 };
        let envelopes: Vec<Vec<u8>> = (0..batch)
            .map(|i| {
                let created_at = round * 1_000_000_000 + n * 100 + i;
                let attestation =
                    samples::attestation(key.public(), MessageId([1; 32]), "acme", created_at);
                Envelope::seal(&attestation, key.signing_key())
                    .expect("a sample attestation is valid")
                    .to_bytes()
            })
            .collect();
        let ids: Vec<MessageId> = if batch == 1 {
            vec![ledger.insert(&envelopes[0]).expect("insert").id]
        } else {
            ledger
                .insert_batch(&envelopes)
                .expect("insert batch")
                .into_iter()
                .map(|r| r.expect("a valid attestation").id)
                .collect()
        };
        for id in ids {
            writeln!(stdout, "{id}").expect("stdout");
        }
        stdout.flush().expect("stdout");
        n += 1;
    }
}
