//! The network with real daemons: five `vtune-node run` processes on loopback, gossiping,
//! syncing and serving their APIs. Each scenario runs alone (they share the cores).

#[path = "network/cluster.rs"]
mod cluster;
#[path = "network/flooder.rs"]
mod flooder;
#[path = "network/messages.rs"]
mod messages;
#[path = "network/witnesses.rs"]
mod witnesses;

use std::time::Duration;

use cluster::{Node, cluster, runtime, serial, wait_for, wait_for_mesh};
use messages::{attestation, commitment};
use vtune_node::keys::NodeKey;

const PROPAGATION: Duration = Duration::from_secs(5);
const CATCH_UP: Duration = Duration::from_secs(20);

fn publish(rt: &tokio::runtime::Runtime, node: &Node, bytes: &[u8]) -> String {
    let posted = rt.block_on(node.client().publish(bytes.to_vec())).unwrap();
    assert!(posted.new, "{} stored it as new", node.name);
    posted.id
}

fn wait_everywhere(rt: &tokio::runtime::Runtime, nodes: &[&Node], ids: &[&str], timeout: Duration) {
    for node in nodes {
        for id in ids {
            wait_for(timeout, &format!("{} to hold {id}", node.name), || {
                node.has(rt, id)
            });
        }
    }
}

#[test]
fn messages_published_at_one_node_are_served_by_the_last_and_forgeries_nowhere() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let rt = runtime();
    let nodes = cluster(root.path(), 5);
    wait_for_mesh(&rt, &nodes, 1);
    let buyer = NodeKey::from_seed([1; 32]);
    let c = commitment(&buyer, 1, "acme");
    let a = attestation(&buyer, &c, true, 1_800_000_000);
    publish(&rt, &nodes[0], &c.1.bytes);
    publish(&rt, &nodes[0], &a.bytes);
    let took = wait_for(PROPAGATION, "node5 to serve both", || {
        nodes[4].has(&rt, &c.1.id) && nodes[4].has(&rt, &a.id)
    });
    eprintln!("propagation to node5: {took:?}");
    let summary = rt.block_on(nodes[4].client().summary("acme")).unwrap();
    assert_eq!((summary.all.attestations, summary.all.pass), (1, 1));

    // A reveal over the gossip size limit travels as an announcement and a fetched body.
    let (big_c, reveal) = messages::large_reveal(&buyer, 9, 200_000);
    publish(&rt, &nodes[0], &big_c.bytes);
    publish(&rt, &nodes[0], &reveal.bytes);
    wait_everywhere(
        &rt,
        &nodes.iter().collect::<Vec<_>>(),
        &[&reveal.id],
        PROPAGATION,
    );
    let job = rt
        .block_on(
            nodes[4]
                .client()
                .job(&vtune_protocol::messages::JobId([9; 16]).to_string()),
        )
        .unwrap();
    assert!(job.revealed, "{job:?}");
    let by_announcement = nodes[1..].iter().any(|node| {
        rt.block_on(node.client().get_text("/metrics"))
            .unwrap()
            .contains("vtune_stored_messages_total{kind=\"reveal\",source=\"gossip\"} 1")
    });
    assert!(
        by_announcement,
        "some node fetched the reveal after its announcement"
    );

    // A tampered envelope (one signature byte flipped) is refused and stored nowhere.
    let mut forged = a.bytes.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let err = rt
        .block_on(nodes[1].client().publish(forged.clone()))
        .unwrap_err();
    assert!(err.to_string().contains("422"), "{err}");
    let forged_id = vtune_protocol::messages::MessageId::of(&forged).to_string();
    // An honest message published after it reaches every node: had the forgery been
    // gossiped, it would have arrived first.
    let later = attestation(&NodeKey::from_seed([2; 32]), &c, true, 1_800_000_001);
    publish(&rt, &nodes[1], &later.bytes);
    wait_everywhere(
        &rt,
        &nodes.iter().collect::<Vec<_>>(),
        &[&later.id],
        PROPAGATION,
    );
    for node in &nodes {
        assert!(
            !node.has(&rt, &forged_id),
            "{} holds the forgery",
            node.name
        );
    }
}

#[test]
fn late_stopped_and_killed_nodes_catch_up_and_keep_their_ledgers() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut nodes = cluster(root.path(), 5);
    wait_for_mesh(&rt, &nodes, 1);
    let buyer = NodeKey::from_seed([3; 32]);
    let c = commitment(&buyer, 2, "acme");
    let a1 = attestation(&buyer, &c, true, 1_800_000_000);
    publish(&rt, &nodes[0], &c.1.bytes);
    publish(&rt, &nodes[0], &a1.bytes);
    wait_everywhere(
        &rt,
        &nodes.iter().collect::<Vec<_>>(),
        &[&c.1.id, &a1.id],
        PROPAGATION,
    );

    // A node that joins after publication gets everything by sync.
    let late = Node::start("late", &root.path().join("late"), &[nodes[1].addr.clone()]);
    wait_everywhere(&rt, &[&late], &[&c.1.id, &a1.id], CATCH_UP);

    // Node 3 is killed, node 4 stopped; messages are published meanwhile.
    nodes[2].kill();
    nodes[3].stop();
    let before = nodes[0].ids(&rt);
    let a2 = attestation(&NodeKey::from_seed([4; 32]), &c, true, 1_800_000_002);
    publish(&rt, &nodes[0], &a2.bytes);
    wait_everywhere(&rt, &[&nodes[1], &nodes[4], &late], &[&a2.id], PROPAGATION);

    // Both come back with their ledgers intact and catch up.
    let bootstrap = vec![nodes[0].addr.clone()];
    for i in [2, 3] {
        nodes[i].restart(&bootstrap);
        let ids = nodes[i].ids(&rt);
        let kept = before.iter().all(|id| ids.contains(id));
        assert!(
            kept,
            "{} kept its ledger: {ids:?} lacks some of {before:?}",
            nodes[i].name
        );
    }
    wait_everywhere(&rt, &[&nodes[2], &nodes[3]], &[&a2.id], CATCH_UP);
}

#[test]
fn a_partition_heals_into_one_set_of_ids() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let rt = runtime();
    let mut nodes = cluster(root.path(), 5);
    wait_for_mesh(&rt, &nodes, 1);
    let buyer = NodeKey::from_seed([5; 32]);
    let c = commitment(&buyer, 3, "acme");
    publish(&rt, &nodes[0], &c.1.bytes);
    wait_everywhere(
        &rt,
        &nodes.iter().collect::<Vec<_>>(),
        &[&c.1.id],
        PROPAGATION,
    );

    // Split: nodes 4 and 5 restart on new ports, knowing only each other.
    nodes[3].stop();
    nodes[4].stop();
    nodes[3].restart_elsewhere(&[]);
    let side_b = vec![nodes[3].addr.clone()];
    nodes[4].restart_elsewhere(&side_b);
    wait_for_mesh(&rt, &nodes[3..], 1);

    let on_a = attestation(&NodeKey::from_seed([6; 32]), &c, true, 1_800_000_010);
    let on_b = attestation(&NodeKey::from_seed([7; 32]), &c, false, 1_800_000_011);
    publish(&rt, &nodes[0], &on_a.bytes);
    publish(&rt, &nodes[3], &on_b.bytes);
    wait_everywhere(&rt, &[&nodes[1], &nodes[2]], &[&on_a.id], PROPAGATION);
    wait_everywhere(&rt, &[&nodes[4]], &[&on_b.id], PROPAGATION);
    for node in &nodes[3..] {
        assert!(!node.has(&rt, &on_a.id), "the partition is real");
    }
    for node in &nodes[..3] {
        assert!(!node.has(&rt, &on_b.id), "the partition is real");
    }

    // Heal: node 4 restarts (where node 5 knows it) knowing node 1.
    nodes[3].stop();
    let side_a = vec![nodes[0].addr.clone()];
    nodes[3].restart(&side_a);
    let all = vec![c.1.id.clone(), on_a.id.clone(), on_b.id.clone()];
    let expected = {
        let mut ids = all.clone();
        ids.sort();
        ids
    };
    for node in &nodes {
        wait_for(CATCH_UP, &format!("{} to converge", node.name), || {
            node.ids(&rt) == expected
        });
    }
}

#[test]
fn an_equivocating_attester_is_flagged_on_every_node() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let rt = runtime();
    let nodes = cluster(root.path(), 5);
    wait_for_mesh(&rt, &nodes, 1);
    let buyer = NodeKey::from_seed([8; 32]);
    let c = commitment(&buyer, 4, "acme");
    let liar = NodeKey::from_seed([9; 32]);
    let pass = attestation(&liar, &c, true, 1_800_000_020);
    let fail = attestation(&liar, &c, false, 1_800_000_021);
    publish(&rt, &nodes[0], &c.1.bytes);
    publish(&rt, &nodes[0], &pass.bytes);
    publish(&rt, &nodes[4], &fail.bytes);
    for node in &nodes {
        wait_for(
            CATCH_UP,
            &format!("{} to flag the attester", node.name),
            || {
                rt.block_on(node.client().summary("acme")).is_ok_and(|s| {
                    s.equivocations.iter().any(|e| e.attester == liar.public())
                        && s.all.flagged_attesters == 1
                })
            },
        );
    }
}

#[test]
fn a_peer_flooding_invalid_messages_is_disconnected_and_honest_traffic_flows() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let rt = runtime();
    let nodes = cluster(root.path(), 5);
    wait_for_mesh(&rt, &nodes, 1);
    let target = &nodes[2];
    let report = flooder::flood(&target.addr, "test", Duration::from_secs(20));
    assert!(report.sent > 0, "the flooder published");
    assert!(
        report.disconnected,
        "the flooder was disconnected: {report:?}"
    );
    assert!(!report.readmitted, "the flooder stays blocked: {report:?}");
    let metrics = rt.block_on(target.client().get_text("/metrics")).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vtune_banned_peers_total") && !l.ends_with(" 0")),
        "node3 counts the ban:\n{metrics}"
    );
    let buyer = NodeKey::from_seed([10; 32]);
    let c = commitment(&buyer, 5, "acme");
    publish(&rt, &nodes[0], &c.1.bytes);
    wait_everywhere(
        &rt,
        &nodes.iter().collect::<Vec<_>>(),
        &[&c.1.id],
        PROPAGATION,
    );
}

fn vtune(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(args)
        .env("VTUNE_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .env_remove("VTUNE_API")
        .output()
        .expect("run vtune-node")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn commit_publish_and_query_from_the_command_line() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    let mut node = Node::start("node1", &root.path().join("node1"), &[]);
    let buyer_dir = root.path().join("buyer");
    let work = root.path().join("work");
    let out = vtune(
        &buyer_dir,
        &["demo", "--rows", "300", "--workdir", work.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let job = work.join("job");

    // commit --publish signs and sends the commitment.
    let out = vtune(
        &buyer_dir,
        &[
            "commit",
            "--job",
            job.to_str().unwrap(),
            "--provider",
            "acme2",
            "--base-model",
            "m",
        ],
    );
    assert!(
        !out.status.success(),
        "commit.msg exists, so --force is needed"
    );
    let out = vtune(
        &buyer_dir,
        &[
            "commit",
            "--job",
            job.to_str().unwrap(),
            "--provider",
            "acme2",
            "--base-model",
            "m",
            "--force",
            "--publish",
            "--api",
            &node.api,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["published"]["new"], true, "{json}");
    let msg = job.join("commitment.msg");
    let out = vtune(
        &buyer_dir,
        &["publish", msg.to_str().unwrap(), "--api", &node.api],
    );
    assert!(text(&out).contains("already held"), "{}", text(&out));

    // publish files, then query the provider and the job.
    let buyer = NodeKey::from_seed([11; 32]);
    let c = commitment(&buyer, 12, "acme");
    let a = attestation(&buyer, &c, true, 1_800_000_000);
    let (c_file, a_file) = (root.path().join("c.msg"), root.path().join("a.msg"));
    std::fs::write(&c_file, &c.1.bytes).unwrap();
    std::fs::write(&a_file, &a.bytes).unwrap();
    let out = vtune(
        &buyer_dir,
        &[
            "publish",
            c_file.to_str().unwrap(),
            a_file.to_str().unwrap(),
            "--api",
            &node.api,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches("stored and gossiped").count(),
        2,
        "{}",
        text(&out)
    );
    let out = vtune(
        &buyer_dir,
        &["query", "--provider", "acme", "--api", &node.api],
    );
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("all attesters") && table.contains("trusted (no --trust file)"));
    let pass_row = table
        .lines()
        .find(|l| l.trim_start().starts_with("pass"))
        .unwrap();
    assert_eq!(
        pass_row.split_whitespace().collect::<Vec<_>>(),
        ["pass", "1", "0"]
    );
    let out = vtune(
        &buyer_dir,
        &["query", "--provider", "acme", "--api", &node.api, "--json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["all"]["pass"], 1, "{json}");
    let job_id = c.0.job_id.to_string();
    let out = vtune(&buyer_dir, &["query", "--job", &job_id, "--api", &node.api]);
    assert!(text(&out).contains("reveal: not yet"), "{}", text(&out));

    // A daemon that is down, and a bad trust file, are clear errors (exit 2).
    let api = node.api.clone();
    node.stop();
    let out = vtune(&buyer_dir, &["query", "--provider", "acme", "--api", &api]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("cannot reach"), "{}", text(&out));
    let trust = root.path().join("trust.txt");
    std::fs::write(&trust, "# trusted\nnot-a-key\n").unwrap();
    let out = vtune(
        &root.path().join("other"),
        &[
            "run",
            "--trust",
            trust.to_str().unwrap(),
            "--api",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("trust.txt:2:"), "{}", text(&out));
}
