//! `skim` against the full path: fixed records, then a seeded differential test over random
//! records and their mutations.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::dataset::{Location, parse_example};

/// Checks the contract on one record: when `skim` accepts it, the full path gives the same
/// texts. Returns whether `skim` accepted it.
fn check(bytes: &[u8], format: Format, texts: &mut Texts) -> bool {
    if !skim(bytes, format, texts) {
        return false;
    }
    let shown = String::from_utf8_lossy(bytes);
    let example = parse_example("t.jsonl", Location::Line(1), bytes, format)
        .unwrap_or_else(|error| panic!("skim accepted {shown} ({format}), full path: {error}"));
    assert_eq!(example.prompt.text(), texts.prompt, "prompt of {shown}");
    assert_eq!(
        example.completion, texts.completion,
        "completion of {shown}"
    );
    true
}

#[test]
fn skim_reads_the_texts_of_well_formed_records() {
    let chat = br#"{"id": 7, "messages": [{"role": "system", "content": null}, {"role": "user", "content": [{"type": "text", "text": "a\u00e9"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "b\ud83d\ude00"}]}, {"role": "assistant", "content": "c\nd\t\"e\" \\ \/ \b\f\r"}, {"role": "user", "content": 5}], "meta": {"a": [1, -2.5e-3, true, false, null, "s", {}], "b": []}}"#;
    let mut texts = Texts::new();
    assert!(check(chat, Format::OpenAiChat, &mut texts));
    assert_eq!(texts.prompt, "\naé\nb😀");
    assert_eq!(texts.completion, "c\nd\t\"e\" \\ / \u{8}\u{c}\r");

    let cases: [(&[u8], Format); 12] = [
        (chat, Format::OpenAiChat),
        (
            br#"{"messages":[{"role":"user","content":"q1"},{"role":"assistant","content":"a1"},{"role":"user","content":"q2"},{"content":"a2","role":"assistant","weight":1}]}"#,
            Format::OpenAiChat,
        ),
        (
            br#"{"messages": [{"role": "assistant", "content": []}, {"role": "user"}]}"#,
            Format::OpenAiChat,
        ),
        (
            b"{\"messages\": [{\"role\": \"user\", \"content\": \"line one\\nline two\"},\n  {\"role\": \"assistant\", \"content\": \"\xc3\xa9 \xe5\xad\x97 \xf0\x9f\x98\x80\"}]}\n",
            Format::OpenAiChat,
        ),
        (
            br#"{"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "h"}, {"from": "gpt", "value": "g"}, {"from": "human", "value": "later"}]}"#,
            Format::ShareGpt,
        ),
        (
            br#"{"conversations": [{"from": "user", "value": "u"}, {"from": "assistant", "value": "x"}], "id": "abc"}"#,
            Format::ShareGpt,
        ),
        (
            br#"{"instruction": "i", "input": "in", "output": "o"}"#,
            Format::Alpaca,
        ),
        (
            br#"{"input": "", "output": "o", "instruction": "i\u0041"}"#,
            Format::Alpaca,
        ),
        (
            br#"{"output": "o", "input": null, "instruction": "i", "text": 3}"#,
            Format::Alpaca,
        ),
        (br#"{"instruction": "i", "output": "o"}"#, Format::Alpaca),
        (
            br#" { "prompt" : "p" , "completion" : "c\u00e9" , "x" : [ 0 , -0 , 1E+2 ] } "#,
            Format::PromptCompletion,
        ),
        (
            br#"{"completion": "", "prompt": "", "n": 123456789012345678901234567890}"#,
            Format::PromptCompletion,
        ),
    ];
    for (bytes, format) in cases {
        assert!(
            check(bytes, format, &mut texts),
            "declined {}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn skim_declines_what_is_not_plainly_well_formed() {
    let deep = |n: usize| {
        format!(
            r#"{{"prompt":"p","completion":"c","d":{}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let cases: Vec<(Vec<u8>, Format)> = [
        (
            r#"{"prompt":"\ud800","completion":"c"}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"\udc00\ud800","completion":"c"}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"\ud800\u0041","completion":"c"}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"\x","completion":"c"}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"\u12","completion":"c"}"#,
            Format::PromptCompletion,
        ),
        (
            "{\"prompt\":\"a\nb\",\"completion\":\"c\"}",
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":01}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":1.}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":-}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":1e}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":+1}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":1e400}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","n":tru}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c",}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","a":[1,]}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c"} x"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c"}{}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":"c","prompt":"q"}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"pr\u006fmpt":"p","completion":"c"}"#,
            Format::PromptCompletion,
        ),
        (
            r#"{"prompt":"p","completion":null}"#,
            Format::PromptCompletion,
        ),
        (r#"{"prompt":"p"}"#, Format::PromptCompletion),
        (
            r#"[{"prompt":"p","completion":"c"}]"#,
            Format::PromptCompletion,
        ),
        (&deep(150), Format::PromptCompletion),
        (
            r#"{"instruction":"i","input":3,"output":"o"}"#,
            Format::Alpaca,
        ),
        (r#"{"instruction":null,"output":"o"}"#, Format::Alpaca),
        (
            r#"{"instruction":"i","input":"a","input":"b","output":"o"}"#,
            Format::Alpaca,
        ),
        (
            r#"{"messages":[{"role":"user","content":"q"}]}"#,
            Format::OpenAiChat,
        ),
        (r#"{"messages":[]}"#, Format::OpenAiChat),
        (r#"{"messages":{}}"#, Format::OpenAiChat),
        (
            r#"{"messages":[["user","q"],["assistant","a"]]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"user"},{"role":"assistant","content":"a"}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"user","content":"q"},{"role":"assistant"}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"content":"a"},{"role":"assistant","content":"a"}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"assistant","content":[{"text":null}]}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"assistant","content":[{"text":"a","text":"b"}]}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"assistant","content":["a"]}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"assistant","content":1}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"assistant","role":"user","content":"a"}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[{"role":"gpt","content":"a"}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"messages":[],"messages":[{"role":"assistant","content":"a"}]}"#,
            Format::OpenAiChat,
        ),
        (
            r#"{"conversations":[{"from":"human","value":"h"}]}"#,
            Format::ShareGpt,
        ),
        (
            r#"{"messages":[{"role":"assistant","content":"a"}]}"#,
            Format::ShareGpt,
        ),
    ]
    .into_iter()
    .map(|(text, format)| (text.as_bytes().to_vec(), format))
    .chain([
        (
            b"{\"prompt\":\"\xff\",\"completion\":\"c\"}".to_vec(),
            Format::PromptCompletion,
        ),
        (
            b"{\"prompt\":\"p\",\"completion\":\"c\",\"x\":\"\xed\xa0\x80\"}".to_vec(),
            Format::PromptCompletion,
        ),
        (
            b"{\"prompt\":\"p\",\"completion\":\"\x01\"}".to_vec(),
            Format::PromptCompletion,
        ),
    ])
    .collect();
    let mut texts = Texts::new();
    for (bytes, format) in cases {
        assert!(
            !skim(&bytes, format, &mut texts),
            "accepted {} as {format}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn skim_declines_nesting_well_before_serde_json_does() {
    let mut texts = Texts::new();
    let deep = |n: usize| {
        format!(
            r#"{{"prompt":"p","completion":"c","d":{}1{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    assert!(check(
        deep(90).as_bytes(),
        Format::PromptCompletion,
        &mut texts
    ));
    assert!(!skim(
        deep(100).as_bytes(),
        Format::PromptCompletion,
        &mut texts
    ));
    let too_deep = deep(130);
    let full = crate::dataset::parse_record(
        "t",
        Location::Line(1),
        too_deep.as_bytes(),
        Format::PromptCompletion,
    );
    assert!(full.is_err());
    assert!(!skim(
        too_deep.as_bytes(),
        Format::PromptCompletion,
        &mut texts
    ));
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
fn skim_agrees_with_the_full_path_on_random_and_mutated_records() {
    let mut generator = Gen {
        rng: ChaCha20Rng::seed_from_u64(0x5c1a),
    };
    let mut texts = Texts::new();
    for format in Format::ALL {
        let (mut valid, mut skimmed, mut mutants_skimmed) = (0, 0, 0);
        for _ in 0..1500 {
            let record = generator.record(format);
            let mut bytes = Vec::new();
            generator.write(&record, &mut bytes);
            let accepted = check(&bytes, format, &mut texts);
            if parse_example("t", Location::Line(1), &bytes, format).is_ok() {
                valid += 1;
                skimmed += usize::from(accepted);
            }
            for _ in 0..3 {
                let mut mutant = bytes.clone();
                generator.mutate(&mut mutant);
                mutants_skimmed += usize::from(check(&mutant, format, &mut texts));
            }
        }
        // Most random records are well-formed, and nearly all of those take the fast path.
        assert!(valid > 750, "{format}: only {valid} valid records");
        assert!(
            skimmed * 100 >= valid * 90,
            "{format}: skim took {skimmed} of {valid} valid records"
        );
        assert!(mutants_skimmed > 0, "{format}: no mutant was skimmed");
    }
}
