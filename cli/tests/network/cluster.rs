//! Real `vtune-node run` daemons as child processes on loopback, and a client of their APIs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vtune_node::api::ApiClient;

/// Scenarios run one at a time: each starts several daemons, and the machine has few cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock that runs scenarios one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A daemon, by data dir; it may be stopped and started again.
pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    child: Option<Child>,
    pub api: String,
    pub addr: String,
    pub peer_id: String,
    /// More `run` flags (e.g. `--witness`).
    extra: Vec<String>,
}

/// The runtime the test's API calls run on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl Node {
    /// Starts a daemon in `dir`, joining through `bootstrap`.
    pub fn start(name: &str, dir: &Path, bootstrap: &[String]) -> Node {
        Self::start_with(name, dir, bootstrap, &[])
    }

    /// [`Node::start`], with more flags for `run`.
    pub fn start_with(name: &str, dir: &Path, bootstrap: &[String], extra: &[&str]) -> Node {
        let mut node = Node {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            child: None,
            api: String::new(),
            addr: String::new(),
            peer_id: String::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        node.launch(bootstrap, 0);
        node
    }

    /// The TCP port it listens on.
    fn port(&self) -> u16 {
        let addr: libp2p::Multiaddr = self.addr.parse().unwrap();
        addr.iter()
            .find_map(|p| match p {
                libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                _ => None,
            })
            .unwrap()
    }

    fn launch(&mut self, bootstrap: &[String], port: u16) {
        assert!(self.child.is_none(), "{} is running", self.name);
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_vtune-node"));
        command
            .args([
                "run",
                "--json",
                "--listen",
                &format!("/ip4/127.0.0.1/tcp/{port}"),
            ])
            .args([
                "--api",
                "127.0.0.1:0",
                "--market",
                "test",
                "--sync-interval",
                "1",
            ])
            .args(&self.extra)
            .arg("--data-dir")
            .arg(&self.dir)
            .env("RUST_LOG", "vtune_node=debug,warn")
            .stdout(Stdio::piped())
            .stderr(log);
        for addr in bootstrap {
            command.args(["--bootstrap", addr]);
        }
        let mut child = command.spawn().expect("start vtune-node run");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let facts: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "{} did not start ({e}): {line}\n{}",
                self.name,
                std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
            )
        });
        self.api = facts["api"].as_str().unwrap().to_string();
        self.addr = facts["listen"][0].as_str().unwrap().to_string();
        let peer_id = facts["peer_id"].as_str().unwrap().to_string();
        if !self.peer_id.is_empty() {
            assert_eq!(peer_id, self.peer_id, "{} keeps its identity", self.name);
        }
        self.peer_id = peer_id;
        self.child = Some(child);
    }

    /// Starts it again after a stop or kill, on the same address.
    pub fn restart(&mut self, bootstrap: &[String]) {
        let port = self.port();
        self.launch(bootstrap, port);
    }

    /// Starts it again on a new port, where no peer knows it.
    pub fn restart_elsewhere(&mut self, bootstrap: &[String]) {
        self.launch(bootstrap, 0);
    }

    /// Stops it with SIGTERM and waits; it must exit cleanly.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "{} exited with {status} on SIGTERM",
            self.name
        );
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.api)
    }

    /// The ids it holds.
    pub fn ids(&self, rt: &tokio::runtime::Runtime) -> Vec<String> {
        let mut ids = rt.block_on(self.client().all_ids()).unwrap();
        ids.sort();
        ids
    }

    pub fn has(&self, rt: &tokio::runtime::Runtime, id: &str) -> bool {
        rt.block_on(self.client().has(id)).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `n` daemons; each joins through the first.
pub fn cluster(root: &Path, n: usize) -> Vec<Node> {
    let first = Node::start("node1", &root.join("node1"), &[]);
    let bootstrap = vec![first.addr.clone()];
    let mut nodes = vec![first];
    for i in 2..=n {
        nodes.push(Node::start(
            &format!("node{i}"),
            &root.join(format!("node{i}")),
            &bootstrap,
        ));
    }
    nodes
}

/// Polls `check` until it holds or `timeout` passes; returns how long it took.
pub fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every node sees at least `peers` peers in the topic's mesh.
pub fn wait_for_mesh(rt: &tokio::runtime::Runtime, nodes: &[Node], peers: usize) {
    for node in nodes {
        wait_for(
            Duration::from_secs(20),
            &format!("{} to join the mesh", node.name),
            || {
                rt.block_on(node.client().health())
                    .is_ok_and(|h| h.mesh_peers >= peers)
            },
        );
    }
}
