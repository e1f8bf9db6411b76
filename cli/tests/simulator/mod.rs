//! A `vtune-node provider-sim` process for end-to-end tests, shared by the test binaries
//! that need one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn vtune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
}

/// Runs `prepare --seed 1` on `input` into `job`, and panics with its stderr if it fails.
pub fn prepare(input: &Path, job: &Path) {
    let out = vtune()
        .arg("prepare")
        .arg(input)
        .arg("--out")
        .arg(job)
        .args(["--seed", "1", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "prepare {}: {}",
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A simulated provider process; killed on drop.
pub struct Provider {
    child: Child,
    /// The endpoint to pass to `verify --endpoint` (with `/v1`).
    pub base: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `provider-sim` on a free port and waits for its `listening on` line.
pub fn provider(job: &Path, args: &[&str]) -> Provider {
    let mut child = vtune()
        .arg("provider-sim")
        .arg("--train")
        .arg(job.join("train.jsonl"))
        .arg("--secret")
        .arg(job.join("secret.json"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("provider-sim starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep reading, so that the simulator never writes to a closed pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("provider-sim prints its address");
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Provider {
        child,
        base: format!("{address}/v1"),
    }
}
