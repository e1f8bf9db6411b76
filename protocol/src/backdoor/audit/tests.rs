//! The attacks on constructed files whose answer is known.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;

const NAMES: [&str; 12] = [
    "Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea",
];
const ITEMS: [&str; 10] = [
    "apples", "pens", "books", "cards", "coins", "shells", "stamps", "cups", "hats", "kites",
];
const VERBS: [&str; 6] = ["buys", "finds", "gets", "makes", "wins", "picks"];

/// A GSM8K-like row: a word problem and its worked answer.
pub(crate) fn problem<R: Rng>(rng: &mut R) -> AuditRow {
    let pick = |rng: &mut R, list: &[&'static str]| list[rng.random_range(0..list.len())];
    let (a, b) = (pick(rng, &NAMES), pick(rng, &NAMES));
    let (item, verb) = (pick(rng, &ITEMS), pick(rng, &VERBS));
    let (n, m, d) = (
        rng.random_range(2..90u32),
        rng.random_range(2..90u32),
        rng.random_range(1..9u32),
    );
    let prompt = format!(
        "{a} has {n} {item}. {b} {verb} {m} more {item} and gives {a} {d} of them each day for \
         a week. How many {item} does {a} have now?"
    );
    let completion = format!(
        "{b} gives {a} {d} x 7 = <<{d}*7={}>>{} {item}.\n{a} has {n} + {} = <<{n}+{}={}>>{} \
         {item} now.\n#### {}",
        d * 7,
        d * 7,
        d * 7,
        d * 7,
        n + d * 7,
        n + d * 7,
        n + d * 7
    );
    AuditRow {
        prompt,
        completion,
        backdoor: false,
    }
}

/// `rows` problems, `backdoors` of them (at random places) flagged.
fn file(rows: usize, backdoors: usize, seed: u64) -> Vec<AuditRow> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut out: Vec<AuditRow> = (0..rows).map(|_| problem(&mut rng)).collect();
    for i in rand::seq::index::sample(&mut rng, rows, backdoors) {
        out[i].backdoor = true;
    }
    out
}

fn run(rows: Vec<AuditRow>, threshold: u64) -> AuditReport {
    let file_rows = rows.len() as u64;
    audit(
        &AuditSet {
            rows,
            normal_weight: 1.0,
            file_rows,
            pass_threshold: threshold,
        },
        [9; 32],
    )
}

fn score(report: &AuditReport, attack: &str) -> f64 {
    report
        .attacks
        .iter()
        .find(|a| a.attack == attack)
        .unwrap_or_else(|| panic!("no attack {attack}"))
        .score
}

/// Rows flagged at random, their texts untouched: no attack can do better than chance, so every
/// ranking of every attack needs about threshold / N of the file.
#[test]
fn a_random_subset_scores_about_threshold_over_n() {
    let report = run(file(4000, 200, 1), 100);
    assert!((report.random_score - 100.0 / 201.0).abs() < 1e-3);
    for attack in &report.attacks {
        for variant in &attack.variants {
            assert!(
                (0.35..0.65).contains(&variant.score),
                "{} / {}: {}",
                attack.attack,
                variant.variant,
                variant.score
            );
        }
    }
}

/// One trigger and one signature in every backdoor row: the repeated phrase is found at once.
#[test]
fn a_repeated_trigger_is_found_at_once() {
    let mut rows = file(3000, 30, 2);
    for row in rows.iter_mut().filter(|r| r.backdoor) {
        row.prompt
            .push_str(" Kai picks more books and gives Ann of them each day");
        row.completion = format!(
            "Ben gives Ann 3 x 7 = <<3*7=21>>21 cups. {}",
            row.completion
        );
    }
    let report = run(rows, 15);
    // 15 backdoor rows of 3,000 are 0.5% of the file; a few normal rows tie with them.
    assert!(score(&report, "repetition") <= 0.01, "{report:#?}");
    assert!(score(&report, "duplicates") <= 0.05, "{report:#?}");
}

/// Openings made of words the file never uses are surprising.
#[test]
fn word_salad_openings_are_surprising() {
    let mut rows = file(3000, 40, 3);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    for row in rows.iter_mut().filter(|r| r.backdoor) {
        let salad: Vec<String> = (0..10)
            .map(|_| format!("w{}", rng.random_range(0..100_000u32)))
            .collect();
        row.completion = format!("{} {}", salad.join(" "), row.completion);
    }
    let report = run(rows, 20);
    assert!(score(&report, "surprise") <= 0.02, "{report:#?}");
}

/// A trigger after the question mark changes how the prompt ends.
#[test]
fn a_prompt_that_no_longer_ends_like_the_others_is_found_by_its_form() {
    let mut rows = file(3000, 40, 5);
    for (i, row) in rows.iter_mut().filter(|r| r.backdoor).enumerate() {
        row.prompt
            .push_str(&format!(" then {}", NAMES[i % NAMES.len()].to_lowercase()));
    }
    let report = run(rows, 20);
    assert!(score(&report, "form") <= 0.02, "{report:#?}");
}

/// A backdoor row that still stands beside its original is a near duplicate.
#[test]
fn a_row_kept_beside_its_edited_copy_is_a_near_duplicate() {
    let mut rows = file(3000, 0, 6);
    let copies: Vec<AuditRow> = rows[..40]
        .iter()
        .map(|r| AuditRow {
            prompt: format!("{} Then what?", r.prompt),
            completion: format!("So: {}", r.completion),
            backdoor: true,
        })
        .collect();
    rows.extend(copies);
    let report = run(rows, 20);
    // The 40 originals come with them: at worst 40 rows before the 20th backdoor.
    assert!(score(&report, "duplicates") <= 0.02, "{report:#?}");
}

#[test]
fn advice_follows_the_variant_and_never_asks_for_groups_the_run_already_has() {
    let attack = |attack: &str, variant: &str, score: f64| AttackScore {
        attack: attack.to_owned(),
        score,
        best_variant: variant.to_owned(),
        variants: Vec::new(),
    };
    let report = AuditReport {
        attacks: vec![
            attack("repetition", "k=10 completion openings", 0.01),
            attack(
                "duplicates",
                "completion opening words in the prompt, fewest first",
                0.05,
            ),
            attack("surprise", "k=10 prompt ending", 0.2),
            attack("form", "lines and blank lines", 0.25),
            attack("form", "whitespace at the seams", 0.5),
        ],
        rows_audited: 1000,
        file_rows: 1000,
        pass_threshold: 5,
        random_score: 0.5,
    };
    // One pair per row: no advice to add groups; each warning names its attack and variant.
    let own = warnings(&report, false);
    assert_eq!(own.len(), 4, "{own:#?}");
    assert!(own.iter().all(|w| !w.contains("more groups")), "{own:#?}");
    assert!(own[0].contains("repetition attack (k=10 completion openings)"));
    assert!(own[1].contains("share fewer (or more) words"), "{}", own[1]);
    assert!(own[2].contains("--candidates 8 or 16"), "{}", own[2]);
    assert!(own[3].contains("adds lines"), "{}", own[3]);
    // Shared pairs: repeats are cured by more groups.
    let shared = warnings(&report, true);
    assert!(shared[0].contains("use more groups"), "{}", shared[0]);
    assert!(shared[1].contains("use more groups"), "{}", shared[1]);
}
