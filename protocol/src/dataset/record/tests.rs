//! The serde record types against the `Value` path: a seeded differential test over random
//! records and their mutations.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;

/// Checks the contract on one record: `parse_example` (the record types, straight from the
/// bytes) gives what `parse_record` then `example` (the same types, from a `Value`) give, errors
/// included. Returns whether the record parsed.
fn check(bytes: &[u8], format: Format) -> bool {
    let location = Location::Line(1);
    let shown = String::from_utf8_lossy(bytes);
    let direct = parse_example("t.jsonl", location.clone(), bytes, format);
    let full = parse_record("t.jsonl", location.clone(), bytes, format).and_then(|value| {
        example(format, &value).map_err(|error| DatasetError::field("t.jsonl", location, error))
    });
    // `parse_texts` gives the same texts, or the same error.
    let (mut prompt, mut completion) = (String::from("stale"), String::from("stale"));
    let texts = parse_texts(
        "t.jsonl",
        Location::Line(1),
        bytes,
        format,
        (&mut prompt, &mut completion),
    );
    match (&direct, texts) {
        (Ok(example), Ok(())) => {
            assert_eq!(example.prompt.text(), prompt, "{format}: {shown}");
            assert_eq!(example.completion, completion, "{format}: {shown}");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{format}: {shown}"),
        (a, b) => panic!("{format}: {shown}: example {a:?}, texts {b:?}"),
    }
    match (direct, full) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "{format}: {shown}");
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "{format}: {shown}");
            false
        }
        (a, b) => panic!("{format}: {shown}: bytes {a:?}, value {b:?}"),
    }
}

/// A JSON value to write out with random whitespace and string escapes.
enum J {
    Null,
    Bool(bool),
    /// The number as written.
    Num(&'static str),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

const NUMBERS: [&str; 12] = [
    "0",
    "-0",
    "7",
    "-12",
    "3.25",
    "-0.5",
    "1e5",
    "2E-3",
    "6.02e+23",
    "1.5e-400",
    "18446744073709551616",
    "-9223372036854775809",
];

/// Numbers at or past the edge of an `f64`'s range.
const EDGE_NUMBERS: [&str; 6] = [
    "1e299",
    "1e308",
    "1e400",
    "-1e400",
    "0e999",
    "1e-9999999999",
];

const CHARS: [char; 24] = [
    'a', 'b', 'Z', '0', ' ', '.', '"', '\\', '/', '\n', '\t', '\r', '\u{8}', '\u{c}', '\u{0}',
    '\u{1f}', '\u{7f}', 'é', '字', '😀', '\u{2028}', '{', '}', ',',
];

/// Random records, written as JSON text.
struct Gen {
    rng: ChaCha20Rng,
}

impl Gen {
    fn text(&mut self) -> String {
        let len = self.rng.random_range(0..12);
        (0..len)
            .map(|_| *CHARS.choose(&mut self.rng).unwrap())
            .collect()
    }

    /// Now and then a value of any type, in place of the expected one.
    fn or_wild(&mut self, value: J) -> J {
        if self.rng.random_bool(0.03) {
            self.value(2)
        } else {
            value
        }
    }

    fn value(&mut self, depth: usize) -> J {
        match self.rng.random_range(0..if depth == 0 { 4 } else { 6 }) {
            0 => J::Null,
            1 => J::Bool(self.rng.random_bool(0.5)),
            2 if self.rng.random_bool(0.01) => J::Num(EDGE_NUMBERS.choose(&mut self.rng).unwrap()),
            2 => J::Num(NUMBERS.choose(&mut self.rng).unwrap()),
            3 => J::Str(self.text()),
            4 => J::Arr(
                (0..self.rng.random_range(0..4))
                    .map(|_| self.value(depth - 1))
                    .collect(),
            ),
            _ => J::Obj(
                (0..self.rng.random_range(0..4))
                    .map(|_| (self.text(), self.value(depth - 1)))
                    .collect(),
            ),
        }
    }

    /// The record's own fields, then a few extra ones, in a random order.
    fn object(&mut self, mut fields: Vec<(String, J)>) -> J {
        for _ in 0..self.rng.random_range(0..3) {
            let key = ["id", "meta", "weight", "x", ""]
                .choose(&mut self.rng)
                .unwrap();
            let value = self.value(3);
            fields.push((key.to_string(), value));
        }
        fields.shuffle(&mut self.rng);
        J::Obj(fields)
    }

    fn record(&mut self, format: Format) -> J {
        let mut fields = Vec::new();
        match format {
            Format::OpenAiChat | Format::ShareGpt => {
                let (list, role, content, roles): (_, _, _, &[&str]) = match format {
                    Format::ShareGpt => (
                        "conversations",
                        "from",
                        "value",
                        &["system", "human", "gpt", "gpt", "assistant", "user"],
                    ),
                    _ => (
                        "messages",
                        "role",
                        "content",
                        &["system", "user", "assistant", "assistant", "tool"],
                    ),
                };
                let turns = (0..self.rng.random_range(1..6))
                    .map(|_| {
                        let mut turn = vec![(
                            role.to_string(),
                            J::Str(roles.choose(&mut self.rng).unwrap().to_string()),
                        )];
                        if self.rng.random_bool(0.97) {
                            let text = self.content();
                            turn.push((content.to_string(), text));
                        }
                        self.object(turn)
                    })
                    .collect();
                fields.push((list.to_string(), J::Arr(turns)));
            }
            Format::Alpaca => {
                fields.push(("instruction".into(), J::Str(self.text())));
                match self.rng.random_range(0..4) {
                    0 => {}
                    1 => fields.push(("input".into(), J::Null)),
                    _ => fields.push(("input".into(), J::Str(self.text()))),
                }
                fields.push(("output".into(), J::Str(self.text())));
            }
            Format::PromptCompletion => {
                fields.push(("prompt".into(), J::Str(self.text())));
                fields.push(("completion".into(), J::Str(self.text())));
            }
        }
        for field in &mut fields {
            let value = std::mem::replace(&mut field.1, J::Null);
            field.1 = self.or_wild(value);
        }
        self.object(fields)
    }

    /// A turn's content: mostly a string, sometimes null or content parts.
    fn content(&mut self) -> J {
        match self.rng.random_range(0..10) {
            0 => J::Null,
            1 | 2 => J::Arr(
                (0..self.rng.random_range(0..4))
                    .map(|_| {
                        let mut part = vec![("type".to_string(), J::Str("text".into()))];
                        if self.rng.random_bool(0.8) {
                            let text = J::Str(self.text());
                            let text = self.or_wild(text);
                            part.push(("text".into(), text));
                        }
                        self.object(part)
                    })
                    .collect(),
            ),
            _ => {
                let text = J::Str(self.text());
                self.or_wild(text)
            }
        }
    }

    fn write(&mut self, value: &J, out: &mut Vec<u8>) {
        self.space(out);
        match value {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Num(n) => out.extend_from_slice(n.as_bytes()),
            J::Str(s) => self.write_str(s, 0.2, out),
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write(item, out);
                }
                self.space(out);
                out.push(b']');
            }
            J::Obj(fields) => {
                out.push(b'{');
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.space(out);
                    self.write_str(key, 0.0005, out);
                    self.space(out);
                    out.push(b':');
                    self.write(item, out);
                }
                self.space(out);
                out.push(b'}');
            }
        }
        self.space(out);
    }

    fn space(&mut self, out: &mut Vec<u8>) {
        if self.rng.random_bool(0.2) {
            out.push(*b" \n\t\r".choose(&mut self.rng).unwrap());
        }
    }

    /// A string, each character escaped with probability `escape` (control characters and
    /// `"` `\` always escaped).
    fn write_str(&mut self, s: &str, escape: f64, out: &mut Vec<u8>) {
        out.push(b'"');
        for c in s.chars() {
            let short = match c {
                '"' => Some('"'),
                '\\' => Some('\\'),
                '/' => Some('/'),
                '\u{8}' => Some('b'),
                '\u{c}' => Some('f'),
                '\n' => Some('n'),
                '\r' => Some('r'),
                '\t' => Some('t'),
                _ => None,
            };
            let must_escape = c < ' ' || c == '"' || c == '\\';
            if !must_escape && !self.rng.random_bool(escape) {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            } else if let Some(short) = short.filter(|_| self.rng.random_bool(0.7)) {
                out.extend_from_slice(&[b'\\', short as u8]);
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    let hex = format!("\\u{unit:04x}");
                    let hex = if self.rng.random_bool(0.5) {
                        hex
                    } else {
                        hex.to_uppercase().replace("\\U", "\\u")
                    };
                    out.extend_from_slice(hex.as_bytes());
                }
            }
        }
        out.push(b'"');
    }

    /// One to three random edits: a flipped, inserted or deleted byte, a truncation, or an
    /// injected token (bad escapes and numbers, raw newlines, trailing commas, deep nesting,
    /// duplicate or escaped keys, wrong types, invalid UTF-8).
    fn mutate(&mut self, bytes: &mut Vec<u8>) {
        const TOKENS: [&[u8]; 22] = [
            b"\\ud800",
            b"\\udc00",
            b"\\ud800\\u0041",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"\n",
            b",}",
            b"{\"a\":1,}",
            b"[1,]",
            b"\\x",
            b"\\u12",
            b"tru",
            b"1e400",
            b"\"",
            b"\\",
            b"\xed\xa0\x80",
            b"\xf0\x9f",
            b"\xff",
            b"\x00",
            b"\xc3",
        ];
        const KEYS: [&str; 12] = [
            "role",
            "content",
            "from",
            "value",
            "text",
            "prompt",
            "completion",
            "instruction",
            "input",
            "output",
            "messages",
            "conversations",
        ];
        const VALUES: [&str; 7] = [
            "\"x\"",
            "null",
            "1",
            "[]",
            "{}",
            "[{\"text\":\"t\"}]",
            "[{\"role\":\"assistant\",\"content\":\"d\",\"from\":\"gpt\",\"value\":\"v\"}]",
        ];
        for _ in 0..self.rng.random_range(1..4) {
            let at = self.rng.random_range(0..=bytes.len());
            match self.rng.random_range(0..8) {
                0 if at < bytes.len() => bytes[at] = self.rng.random(),
                1 => bytes.insert(
                    at,
                    *b"\"\\{}[],: 0-.e\x1f\xff\x80"
                        .choose(&mut self.rng)
                        .unwrap(),
                ),
                2 if at < bytes.len() => {
                    bytes.remove(at);
                }
                3 => bytes.truncate(at),
                4 => {
                    let token = TOKENS.choose(&mut self.rng).unwrap();
                    bytes.splice(at..at, token.iter().copied());
                }
                5 | 6 => {
                    // A key (a duplicate, or one that was missing) right after some `{`.
                    let opens: Vec<usize> =
                        (0..bytes.len()).filter(|&i| bytes[i] == b'{').collect();
                    if let Some(&open) = opens.choose(&mut self.rng) {
                        let key = KEYS.choose(&mut self.rng).unwrap();
                        let value = VALUES.choose(&mut self.rng).unwrap();
                        let field = format!("\"{key}\":{value},");
                        bytes.splice(open + 1..open + 1, field.bytes());
                    }
                }
                _ => {
                    if self.rng.random_bool(0.5) {
                        let n = self.rng.random_range(90..140);
                        let field = format!("\"deep\":{}{},", "[".repeat(n), "]".repeat(n));
                        if let Some(open) = bytes.iter().position(|&b| b == b'{') {
                            bytes.splice(open + 1..open + 1, field.bytes());
                        }
                    } else {
                        // Escape the first letter of a key: the same key to serde_json.
                        let key = KEYS.choose(&mut self.rng).unwrap();
                        let quoted = format!("\"{key}\"");
                        if let Some(i) = bytes
                            .windows(quoted.len())
                            .position(|w| w == quoted.as_bytes())
                        {
                            let escaped = format!("\\u{:04x}", key.as_bytes()[0]);
                            bytes.splice(i + 1..i + 2, escaped.bytes());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_bytes_and_the_value_path_agree_on_random_and_mutated_records() {
    let mut generator = Gen {
        rng: ChaCha20Rng::seed_from_u64(0x5c1a),
    };
    for format in Format::ALL {
        let (mut valid, mut mutants_valid) = (0, 0);
        for _ in 0..1500 {
            let record = generator.record(format);
            let mut bytes = Vec::new();
            generator.write(&record, &mut bytes);
            valid += usize::from(check(&bytes, format));
            for _ in 0..3 {
                let mut mutant = bytes.clone();
                generator.mutate(&mut mutant);
                mutants_valid += usize::from(check(&mutant, format));
            }
        }
        // Most random records are well-formed, and some mutants still are.
        assert!(valid > 750, "{format}: only {valid} valid records");
        assert!(mutants_valid > 0, "{format}: no mutant parsed");
    }
}
