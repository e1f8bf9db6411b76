//! `vtune-node demo` end to end: the real binary, three simulated providers on loopback.

use std::process::Command;

fn demo(args: &[&str]) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .arg("demo")
        .args(args)
        .arg("--json")
        .output()
        .expect("run vtune-node demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "demo printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), json)
}

fn provider<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["provider"] == name)
        .unwrap_or_else(|| panic!("no provider {name} in {json}"))
}

#[test]
fn demo_passes_honest_fails_base_and_matches_the_subset_model() {
    let (code, json) = demo(&["--seed", "3"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["ok"], true);
    assert!(json["rows"].as_u64().unwrap() >= 2000);

    let honest = provider(&json, "honest");
    assert_eq!(honest["verdict"], "pass");
    // 10 answers searched at 8 offsets: the windows at offsets 1..=7 run into each answer's
    // continuation and cost about (1 + 7 * 10) * p_upper (specs/statistics.md).
    assert!(
        honest["log10_p_value"].as_f64().unwrap() <= -19.0,
        "{honest}"
    );
    assert_eq!(honest["activated"], json["backdoors"]);

    let base = provider(&json, "base");
    assert_eq!(base["verdict"], "fail");
    assert_eq!(base["evidence_of_training"], false);
    assert_eq!(base["activated"], 0);

    // The subset provider activates on the backdoor rows it happened to train on: its
    // verdict follows the threshold, and plan's chance of a pass is a real probability.
    let subset = provider(&json, "subset:0.3");
    let activated = subset["activated"].as_u64().unwrap();
    let threshold = json["pass_threshold"].as_u64().unwrap();
    let expected = if activated >= threshold {
        "pass"
    } else {
        "fail"
    };
    assert_eq!(subset["verdict"], expected, "{subset}");
    let chance = subset["log10_predicted_pass_chance"].as_f64().unwrap();
    assert!(chance < 0.0 && chance > -6.0, "{subset}");

    // The observer's node, which verified nothing itself, serves each provider's record.
    let network = &json["network"];
    assert_eq!(network["nodes"].as_array().unwrap().len(), 3, "{network}");
    let summary = |name: &str| {
        network["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["provider"] == name)
            .unwrap_or_else(|| panic!("no summary of {name}: {network}"))
            .clone()
    };
    // The buyer's pass and the witness's.
    assert_eq!(summary("honest")["all"]["pass"], 2);
    // The honest job names the witness node, which confirmed the pass before any reveal.
    assert_eq!(summary("honest")["all"]["confirmed_pass"], 1, "{network}");
    assert_eq!(summary("honest")["all"]["witness_attestations"], 1);
    assert_eq!(summary("base")["all"]["confirmed_fail"], 0);
    assert_eq!(summary("base")["all"]["fail_without_evidence"], 1);
    let subset_all = &summary("subset:0.3")["all"];
    assert_eq!(subset_all["attestations"], 1);
    assert_eq!(subset_all["pass"], u64::from(subset["verdict"] == "pass"));
    for name in ["honest", "base", "subset:0.3"] {
        assert_eq!(summary(name)["jobs"], 1);
        assert_eq!(summary(name)["all"]["distinct_buyers"], 1);
    }
}

#[test]
fn demo_is_deterministic_under_a_seed() {
    // The network part has fresh node keys, ports and times each run; the rest is fixed.
    let (_, mut a) = demo(&["--seed", "11", "--rows", "600"]);
    let (_, mut b) = demo(&["--seed", "11", "--rows", "600"]);
    assert!(a["network"]["summaries"].is_array() && b["network"]["summaries"].is_array());
    a.as_object_mut().unwrap().remove("network");
    b.as_object_mut().unwrap().remove("network");
    assert_eq!(a, b);
}

#[test]
fn demo_rejects_a_nonsense_subset_fraction() {
    let out = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(["demo", "--subset", "1.5"])
        .output()
        .expect("run vtune-node demo");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--subset"));
}

#[test]
fn demo_never_overwrites_a_used_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("data.jsonl");
    std::fs::write(&mine, "my own data\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(["demo", "--rows", "300", "--workdir"])
        .arg(dir.path())
        .output()
        .expect("run vtune-node demo");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own data\n");
}
