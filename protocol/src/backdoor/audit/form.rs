//! Form: the shape of a row where the edits meet its text. The trigger ends the prompt and the
//! signature opens the completion, so the characters there, the length of the completion's
//! first line, and the whitespace around the seams can differ from the data's. Rows are ranked
//! by how rare each shape is in the file (rarest first), one feature at a time and all together.

use super::{AuditRow, Map, Ranking};

/// A feature: its name and a row's value.
type Feature = (&'static str, fn(&AuditRow) -> String);

const FEATURES: [Feature; 9] = [
    ("the prompt's last character", |r| last_chars(&r.prompt)),
    ("the completion's first character", |r| {
        first_chars(&r.completion)
    }),
    ("the completion's first line: words", |r| {
        bucket(
            r.completion
                .lines()
                .next()
                .unwrap_or("")
                .split_whitespace()
                .count(),
        )
    }),
    ("the completion's first line: last character", |r| {
        last_chars(r.completion.lines().next().unwrap_or(""))
    }),
    ("the prompt's last line: words", |r| {
        bucket(
            r.prompt
                .lines()
                .last()
                .unwrap_or("")
                .split_whitespace()
                .count(),
        )
    }),
    ("the prompt's last line: first character", |r| {
        first_chars(r.prompt.lines().last().unwrap_or(""))
    }),
    ("lines and blank lines", |r| {
        format!(
            "{}/{}/{}/{}",
            bucket(r.prompt.lines().count()),
            bucket(r.completion.lines().count()),
            r.prompt.contains("\n\n"),
            r.completion.contains("\n\n")
        )
    }),
    ("whitespace at the seams", |r| {
        let end = &r.prompt[r.prompt.trim_end().len()..];
        let start = &r.completion[..r.completion.len() - r.completion.trim_start().len()];
        let first_break = r
            .completion
            .find('\n')
            .map(|i| r.completion[..i].split_whitespace().count());
        format!(
            "{end:?}|{start:?}|{}",
            first_break.map_or("-".into(), bucket)
        )
    }),
    ("doubled and trailing spaces", |r| {
        let odd = |t: &str| {
            (
                t.contains("  "),
                t.lines().any(|l| l.ends_with(' ') || l.ends_with('\t')),
            )
        };
        format!("{:?}{:?}", odd(&r.prompt), odd(&r.completion))
    }),
];

/// The row's value of each feature (what `typical` weighs candidate rows by).
pub(crate) fn shape_values(prompt: &str, completion: &str) -> Vec<String> {
    let row = AuditRow {
        prompt: prompt.to_owned(),
        completion: completion.to_owned(),
        backdoor: false,
    };
    FEATURES.iter().map(|(_, feature)| feature(&row)).collect()
}

pub(super) fn rankings(rows: &[AuditRow]) -> Vec<Ranking> {
    let mut out: Vec<Ranking> = Vec::new();
    let mut all = vec![0.0; rows.len()];
    let mut joint: Vec<String> = vec![String::new(); rows.len()];
    for (name, feature) in FEATURES {
        let values: Vec<String> = rows.iter().map(feature).collect();
        let rarity = rarity(&values);
        for ((sum, r), (j, v)) in all
            .iter_mut()
            .zip(&rarity)
            .zip(joint.iter_mut().zip(&values))
        {
            *sum += r;
            j.push_str(v);
            j.push('\u{1f}');
        }
        out.push((name.to_owned(), rarity));
    }
    out.push(("every feature (the sum of their rarities)".to_owned(), all));
    out.push(("the shape as a whole".to_owned(), rarity(&joint)));
    out
}

/// -ln(share of rows with the row's value).
fn rarity(values: &[String]) -> Vec<f64> {
    let mut count: Map<&str, u32> = Map::default();
    for v in values {
        *count.entry(v).or_default() += 1;
    }
    let n = values.len() as f64;
    values
        .iter()
        .map(|v| -(f64::from(count[v.as_str()]) / n).ln())
        .collect()
}

/// The class of a character: letters by case, digits, whitespace kinds, and punctuation as
/// itself.
fn class(c: char) -> String {
    match c {
        c if c.is_lowercase() => "a".into(),
        c if c.is_uppercase() => "A".into(),
        c if c.is_alphabetic() => "L".into(),
        c if c.is_numeric() => "0".into(),
        '\n' => "\\n".into(),
        c if c.is_whitespace() => "_".into(),
        c => c.to_string(),
    }
}

fn last_chars(text: &str) -> String {
    let mut chars = text.chars().rev();
    let (a, b) = (chars.next(), chars.next());
    format!(
        "{}{}",
        b.map_or("^".into(), class),
        a.map_or("^".into(), class)
    )
}

fn first_chars(text: &str) -> String {
    let mut chars = text.chars();
    let (a, b) = (chars.next(), chars.next());
    format!(
        "{}{}",
        a.map_or("$".into(), class),
        b.map_or("$".into(), class)
    )
}

/// 0, 1, 2, 3-4, 5-8, ... as a label.
fn bucket(n: usize) -> String {
    if n < 3 {
        n.to_string()
    } else {
        format!("<={}", n.next_power_of_two())
    }
}
