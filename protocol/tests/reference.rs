//! Every row of the reference tables (computed with mpmath at 80 digits by
//! `gen_reference.py`, copied into `tests/vectors/`) against our log-space statistics.
//!
//! Run with `--nocapture` to see the largest relative error in log10 per table.

use std::path::PathBuf;

use vtune_protocol::stats::{
    log10_binomial_upper_tail, log10_hypergeom_upper_tail, subset_attack_fraction,
};

/// The largest relative error allowed in a log10 tail.
const TOLERANCE: f64 = 1e-9;

/// The data rows of `tests/vectors/<name>`, split on tabs, with the header checked.
fn rows(name: &str, header: &str) -> Vec<Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "header of {name}");
    let rows: Vec<Vec<String>> = lines
        .filter(|line| !line.is_empty())
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect();
    assert!(!rows.is_empty(), "{name} has no rows");
    rows
}

fn int(field: &str) -> u64 {
    field
        .parse()
        .unwrap_or_else(|_| panic!("not an integer: {field:?}"))
}

/// A log10 value as the tables write it: a decimal or `-inf`.
fn log10_value(field: &str) -> f64 {
    if field == "-inf" {
        f64::NEG_INFINITY
    } else {
        field
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {field:?}"))
    }
}

/// `log10 p` for a probability written as a decimal (`0.5`, `1.85e-45`, `1e-300`), taken
/// from the mantissa and the exponent apart so that no precision is lost to f64 scaling.
fn log10_of_decimal(field: &str) -> f64 {
    match field.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let mantissa: f64 = mantissa.parse().expect("mantissa");
            let exponent: f64 = exponent.parse().expect("exponent");
            mantissa.log10() + exponent
        }
        None => field.parse::<f64>().expect("probability").log10(),
    }
}

/// The reference's own precision near log10 = 0. mpmath worked with 80 significant digits,
/// so where a tail is within 1e-60 of 1 its log10 carries an absolute error of about 1e-81
/// and few or no correct digits: the table has `-1.37e-81` for `1 - 2^-437` (whose log10 is
/// `-1.2e-132`), `+7.3e-81` for a tail below 1, and `-1.01072002460636e-73` where 300 digits
/// give `-1.0107200082349e-73`. A difference below this floor is the reference's noise.
const REFERENCE_FLOOR: f64 = 1e-78;

/// Where the reference carries at least ten correct digits: `|log10 tail| >= 1e-68`.
const FULL_DIGITS: f64 = 1e-68;

/// Compares one value with the reference: within [`TOLERANCE`] relative, or within
/// [`REFERENCE_FLOOR`] absolute. Returns the relative error, for the summary line.
fn check(ours: f64, expected: f64, what: &str) -> f64 {
    if ours == expected {
        return 0.0;
    }
    let difference = (ours - expected).abs();
    let relative = difference / ours.abs().max(expected.abs());
    assert!(
        ours.is_finite()
            && expected.is_finite()
            && (relative <= TOLERANCE || difference <= REFERENCE_FLOOR),
        "{what}: ours {ours:e}, reference {expected:e}, relative error {relative:e}"
    );
    relative
}

/// The largest relative error over the rows where the reference has full digits.
#[derive(Default)]
struct Worst {
    relative: f64,
    row: String,
    rows: usize,
    floor_rows: usize,
}

impl Worst {
    fn record(&mut self, relative: f64, expected: f64, row: &[String]) {
        self.rows += 1;
        if relative == 0.0 {
            return;
        }
        if expected.abs() < FULL_DIGITS {
            self.floor_rows += 1;
        } else if relative > self.relative {
            self.relative = relative;
            self.row = row.join(" ");
        }
    }

    fn report(&self, table: &str) {
        println!(
            "{table}: {} rows pass; largest log10 relative error {:e} (at {}) over the rows with \
             |log10| >= {FULL_DIGITS:e}; {} inexact rows nearer 0 pass within the reference's floor",
            self.rows, self.relative, self.row, self.floor_rows
        );
    }
}

#[test]
fn binomial_upper_tail_matches_every_reference_row() {
    let rows = rows("binomial_upper_tail.tsv", "n\tp\tk\tlog10_tail");
    let mut worst = Worst::default();
    for row in &rows {
        let (n, k) = (int(&row[0]), int(&row[2]));
        let ours = log10_binomial_upper_tail(n, log10_of_decimal(&row[1]), k);
        let expected = log10_value(&row[3]);
        let relative = check(ours, expected, &format!("n={n} p={} k={k}", row[1]));
        worst.record(relative, expected, row);
    }
    worst.report("binomial");
}

#[test]
fn hypergeom_upper_tail_matches_every_reference_row() {
    let rows = rows(
        "hypergeom_upper_tail.tsv",
        "population\tsuccesses\tdraws\tk\tlog10_tail",
    );
    let mut worst = Worst::default();
    for row in &rows {
        let (population, successes, draws, k) =
            (int(&row[0]), int(&row[1]), int(&row[2]), int(&row[3]));
        let ours = log10_hypergeom_upper_tail(population, successes, draws, k);
        let expected = log10_value(&row[4]);
        let what = format!("{population}/{successes}/{draws}/{k}");
        let relative = check(ours, expected, &what);
        worst.record(relative, expected, row);
    }
    worst.report("hypergeometric");
}

#[test]
fn subset_attack_matches_every_reference_row() {
    let rows = rows(
        "subset_attack.tsv",
        "population\tsuccesses\tk\tchance\tmin_draw_fraction",
    );
    for row in &rows {
        let (population, successes, k) = (int(&row[0]), int(&row[1]), int(&row[2]));
        let chance: f64 = row[3].parse().expect("chance");
        let expected: f64 = row[4].parse().expect("fraction");
        let ours = subset_attack_fraction(population, successes, k, chance);
        assert_eq!(
            ours, expected,
            "{population}/{successes}/k={k}/chance={chance}"
        );
    }
    println!("subset attack: {} rows, all exact", rows.len());
}

/// The rows where the 80-digit table has no digits left, against values computed with
/// mpmath at 300 digits (and one in closed form): here we hold 1e-9 relative too.
#[test]
fn tails_within_1e_minus_60_of_one_are_exact() {
    // P(Bin(437, 1/2) >= 1) = 1 - 2^-437.
    let closed_form = (-(2f64.powi(-437))).ln_1p() / std::f64::consts::LN_10;
    let cases = [
        (
            log10_binomial_upper_tail(437, -std::f64::consts::LOG10_2, 1),
            closed_form,
        ),
        (
            log10_binomial_upper_tail(437, -std::f64::consts::LOG10_2, 43),
            -1.010_720_008_234_908_9e-73,
        ),
        (
            log10_hypergeom_upper_tail(87400, 437, 43700, 43),
            -4.944_899_539_078_664_5e-74,
        ),
    ];
    for (ours, exact) in cases {
        let relative = ((ours - exact) / exact).abs();
        assert!(relative < TOLERANCE, "ours {ours:e}, exact {exact:e}");
    }
}
