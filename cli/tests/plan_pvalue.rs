//! `vtune-node plan` and `vtune-node pvalue`, run as the built binary.

use std::process::{Command, Output};

use serde_json::Value;

fn vtune_node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtune-node"))
        .args(args)
        .output()
        .expect("run vtune-node")
}

/// Runs a command that must succeed with `--json` and returns its object.
fn json(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = vtune_node(&args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

/// Runs a command that must fail with exit code 2 and returns its stderr.
fn error(args: &[&str]) -> String {
    let output = vtune_node(args);
    assert_eq!(output.status.code(), Some(2), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn number(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {value}"))
}

#[test]
fn plan_reproduces_the_papers_small_dataset_figures() {
    let plan = json(&[
        "plan",
        "--rows",
        "100",
        "--backdoors",
        "6",
        "--pass-threshold",
        "4",
    ]);
    assert_eq!(plan["rows"], 100);
    assert_eq!(plan["backdoors"], 6);
    assert_eq!(plan["pass_threshold"], 4);
    assert_eq!(number(&plan, "subset_fraction_1pct"), 0.19);
    assert_eq!(number(&plan, "subset_fraction_50pct"), 0.58);
    let human = vtune_node(&[
        "plan",
        "--rows",
        "100",
        "--backdoors",
        "6",
        "--pass-threshold",
        "4",
    ]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("19.0%") && text.contains("58.0%"), "{text}");
}

#[test]
fn plan_reproduces_the_papers_large_dataset_figures() {
    let plan = json(&[
        "plan",
        "--rows",
        "10000",
        "--backdoors",
        "50",
        "--pass-threshold",
        "26",
    ]);
    assert_eq!(number(&plan, "subset_fraction_1pct"), 0.3503);
    assert_eq!(number(&plan, "subset_fraction_50pct"), 0.51);
    let p99 = number(&plan, "subset_fraction_99pct");
    assert!(p99 > 0.51 && p99 < 1.0, "{p99}");
}

#[test]
fn plan_defaults_follow_the_paper() {
    let plan = json(&["plan", "--rows", "10000"]);
    assert_eq!(plan["backdoors"], 50);
    assert_eq!(plan["pass_threshold"], 25);
    // One group per backdoor row, K = 12, L = 19: 25 of 50 single-row groups fully matched.
    assert_eq!(plan["groups"], 50);
    assert_eq!(plan["signature_tokens"], 19);
    assert!(number(&plan, "log10_p_value_at_threshold") < -400.0);
    // With W = 8 offsets searched, a single-row group has D = 8 windows: weaker, still graded.
    assert!(number(&plan, "log10_p_value_half_groups_4_tokens") < -30.0);
    // One group: floor(50 * W / 25) * 32^-14, W = 8 offsets searched per answer.
    let one = json(&[
        "plan",
        "--rows",
        "10000",
        "--groups",
        "1",
        "--candidates",
        "32",
    ]);
    let expected = 16f64.log10() - 14.0 * 32f64.log10();
    assert!((number(&one, "log10_p_value_at_threshold") - expected).abs() < 1e-9);
    // 0.5% of 100 rows is less than 5: at least 5.
    let small = json(&["plan", "--rows", "100"]);
    assert_eq!(small["backdoors"], 5);
    assert_eq!(small["pass_threshold"], 3);
    // Rounded up: 0.5% of 10001 rows is 50.005.
    assert_eq!(json(&["plan", "--rows", "10001"])["backdoors"], 51);
    let by_fraction = json(&[
        "plan",
        "--rows",
        "10000",
        "--fraction",
        "0.005",
        "--ratio",
        "0.52",
    ]);
    assert_eq!(by_fraction["backdoors"], 50);
    assert_eq!(by_fraction["pass_threshold"], 26);
    // The names `prepare` uses work too, with the same meaning.
    let same = json(&[
        "plan",
        "--rows",
        "10000",
        "--fraction",
        "0.005",
        "--pass-ratio",
        "0.52",
        "--max-p-upper",
        "1e-20",
    ]);
    assert_eq!(same["pass_threshold"], 26);
}

#[test]
fn plan_warns_and_refuses_nonsense() {
    let few = vtune_node(&["plan", "--rows", "3", "--json"]);
    assert!(few.status.success());
    assert!(String::from_utf8_lossy(&few.stderr).contains("warning: 3 backdoors"));
    assert!(error(&["plan", "--rows", "100", "--backdoors", "200"]).contains("do not fit"));
    assert!(
        error(&[
            "plan",
            "--rows",
            "100",
            "--backdoors",
            "6",
            "--pass-threshold",
            "7"
        ])
        .contains("more than the 6 backdoors")
    );
    assert!(error(&["plan", "--rows", "100", "--p-upper", "0"]).contains("(0, 1]"));
    assert!(error(&["plan", "--rows", "100", "--p-upper", "1.5"]).contains("(0, 1]"));
    assert!(error(&["plan", "--rows", "0"]).contains("--rows"));
    assert!(error(&["plan", "--rows", "100", "--fraction", "2"]).contains("--fraction"));
    assert!(error(&["plan", "--rows", "100", "--pass-threshold", "0"]).contains("threshold"));
}

#[test]
fn pvalue_gives_the_valid_bound_and_the_labelled_binomial() {
    let p = json(&[
        "pvalue",
        "--checked",
        "37",
        "--activated",
        "5",
        "--p-upper",
        "1e-40",
    ]);
    assert_eq!(p["checked"], 37);
    assert_eq!(p["activated"], 5);
    assert_eq!(p["offsets"], 8);
    // floor(37 * 8 / 5) = 59 distinct windows (8 offsets per answer) can each be in 5 answers.
    assert!((number(&p, "log10_p_value") - (59f64.log10() - 40.0)).abs() < 1e-12);
    let one_offset = json(&[
        "pvalue",
        "--checked",
        "37",
        "--activated",
        "5",
        "--p-upper",
        "1e-40",
        "--offsets",
        "1",
    ]);
    // floor(37 / 5) = 7 distinct responses can each hold 5 activations.
    assert!((number(&one_offset, "log10_p_value") - (7f64.log10() - 40.0)).abs() < 1e-12);
    // The binomial is about C(37, 5) p^5.
    let independent = number(&p, "log10_p_value_independent");
    assert!(
        (independent - (435_897f64.log10() - 200.0)).abs() < 1e-6,
        "{independent}"
    );

    let human = vtune_node(&[
        "pvalue",
        "--checked",
        "1",
        "--activated",
        "1",
        "--p-upper",
        "1e-40",
        "--offsets",
        "1",
    ]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("p ≤ 1.0e-40 (log10 -40.0)"), "{text}");
    assert!(text.contains("valid only if every check used an independent signature"));

    let none = json(&[
        "pvalue",
        "--checked",
        "37",
        "--activated",
        "0",
        "--p-upper",
        "1e-40",
    ]);
    assert_eq!(number(&none, "log10_p_value"), 0.0);
    assert_eq!(number(&none, "log10_p_value_independent"), 0.0);
}

#[test]
fn pvalue_works_below_f64_range_and_prints_null_for_minus_infinity() {
    let p = json(&[
        "pvalue",
        "--checked",
        "1000",
        "--activated",
        "1000",
        "--log10-p-upper",
        "-400",
        "--offsets",
        "1",
    ]);
    assert_eq!(number(&p, "log10_p_value"), -400.0);
    assert!((number(&p, "log10_p_value_independent") + 400_000.0).abs() < 1e-6);
    let zero = json(&[
        "pvalue",
        "--checked",
        "10",
        "--activated",
        "10",
        "--log10-p-upper",
        "-1e308",
    ]);
    assert_eq!(number(&zero, "log10_p_value"), -1e308);
    assert!(zero["log10_p_value_independent"].is_null(), "{zero}");
}

#[test]
fn pvalue_prefix_mode() {
    let p = json(&[
        "pvalue",
        "--checked",
        "37",
        "--matched-tokens",
        "6",
        "--candidates",
        "32",
    ]);
    // D defaults to n W = 37 * 8 windows.
    let expected = 296f64.log10() - 6.0 * 32f64.log10();
    assert!((number(&p, "log10_p_value") - expected).abs() < 1e-12);
    assert_eq!(p["distinct"], 296);
    let one = json(&[
        "pvalue",
        "--checked",
        "37",
        "--matched-tokens",
        "6",
        "--candidates",
        "32",
        "--distinct",
        "1",
    ]);
    assert!((number(&one, "log10_p_value") + 6.0 * 32f64.log10()).abs() < 1e-12);
}

#[test]
fn pvalue_refuses_nonsense() {
    assert!(
        error(&[
            "pvalue",
            "--checked",
            "3",
            "--activated",
            "4",
            "--p-upper",
            "0.1"
        ])
        .contains("more than --checked")
    );
    assert!(error(&["pvalue", "--checked", "3", "--activated", "1"]).contains("--p-upper"));
    assert!(
        error(&[
            "pvalue",
            "--checked",
            "3",
            "--activated",
            "1",
            "--p-upper",
            "0"
        ])
        .contains("(0, 1]")
    );
    assert!(
        error(&[
            "pvalue",
            "--checked",
            "3",
            "--activated",
            "1",
            "--log10-p-upper",
            "0.5"
        ])
        .contains("--log10-p-upper")
    );
    assert!(
        error(&[
            "pvalue",
            "--checked",
            "3",
            "--matched-tokens",
            "2",
            "--candidates",
            "32",
            "--distinct",
            "4",
            "--offsets",
            "1"
        ])
        .contains("--distinct")
    );
    assert!(
        error(&[
            "pvalue",
            "--checked",
            "3",
            "--activated",
            "1",
            "--p-upper",
            "0.1",
            "--offsets",
            "0"
        ])
        .contains("--offsets")
    );
}
