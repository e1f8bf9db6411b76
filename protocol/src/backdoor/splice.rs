//! Editing a record in its own bytes: the trigger and the signature are spliced into the JSON
//! string literals they extend, and every other byte of the record stays as it was.
//!
//! So an edited row keeps the JSON style of its file (separators, key order, indentation,
//! escapes), and `prepare` can copy every unedited row as raw bytes: a provider cannot tell
//! edited rows by their style. The edit itself is decided on the parsed record (the
//! [`crate::dataset`] edit functions); the splice only has to reproduce it, and the caller checks
//! that the spliced bytes parse to exactly the edited record.

use serde_json::Value;

/// One step of a path into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A leaf that an edit changed: its path, its old text (None for null) and its new text.
struct Change<'a> {
    path: Vec<Step>,
    old: Option<&'a str>,
    new: &'a str,
}

/// How the added text's characters are escaped, to match the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonAscii {
    /// Written as UTF-8 (the file holds raw non-ASCII bytes, or nothing tells).
    Raw,
    /// Written as `\uXXXX` escapes, like Python's `json.dumps` (the file is pure ASCII).
    Escaped,
}

/// The bytes of `record` (whose parsed value is `before`) edited into `after`, where `after`
/// differs from `before` only in string (or null) leaves, each with one run of its old text
/// replaced (an addition replaces an empty run). None if the edit is not of that kind or the
/// bytes cannot be walked.
pub(crate) fn splice(
    record: &[u8],
    before: &Value,
    after: &Value,
    non_ascii: NonAscii,
) -> Option<Vec<u8>> {
    let mut changes = Vec::new();
    diff(before, after, &mut Vec::new(), &mut changes)?;
    // Splice from the back so earlier spans stay valid.
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::with_capacity(changes.len());
    for change in &changes {
        let (start, end) = locate(record, &change.path)?;
        let edit = match change.old {
            None => {
                let mut literal = b"\"".to_vec();
                escape_into(change.new, non_ascii, &mut literal);
                literal.push(b'"');
                (start, end, literal)
            }
            Some(old) => {
                if record.get(start) != Some(&b'"') || end < start + 2 {
                    return None;
                }
                // The changed run: its decoded span in the old text, then its place in the
                // literal.
                let (from, to, inserted) = replacement(old, change.new)?;
                let mut added = Vec::new();
                escape_into(inserted, non_ascii, &mut added);
                let literal = &record[start + 1..end - 1];
                let (from, to) = (raw_offset(literal, from)?, raw_offset(literal, to)?);
                (start + 1 + from, start + 1 + to, added)
            }
        };
        edits.push(edit);
    }
    edits.sort_by_key(|&(start, _, _)| std::cmp::Reverse(start));
    let mut out = record.to_vec();
    for (start, end, bytes) in edits {
        out.splice(start..end, bytes);
    }
    Some(out)
}

/// Collects the leaves where `a` and `b` differ; None if they differ in anything but a string or
/// null leaf turned into a string.
fn diff<'a>(
    a: &'a Value,
    b: &'a Value,
    path: &mut Vec<Step>,
    changes: &mut Vec<Change<'a>>,
) -> Option<()> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return None;
            }
            for ((kx, vx), (ky, vy)) in x.iter().zip(y) {
                if kx != ky {
                    return None;
                }
                path.push(Step::Key(kx.clone()));
                diff(vx, vy, path, changes)?;
                path.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return None;
            }
            for (i, (vx, vy)) in x.iter().zip(y).enumerate() {
                path.push(Step::Index(i));
                diff(vx, vy, path, changes)?;
                path.pop();
            }
        }
        (Value::String(x), Value::String(y)) if x != y => changes.push(Change {
            path: path.clone(),
            old: Some(x),
            new: y,
        }),
        (Value::Null, Value::String(y)) => changes.push(Change {
            path: path.clone(),
            old: None,
            new: y,
        }),
        _ if a == b => {}
        _ => return None,
    }
    Some(())
}

/// The byte span of the value at `path` in the JSON text `bytes`. Where a key repeats, the last
/// one counts (as when parsing).
fn locate(bytes: &[u8], path: &[Step]) -> Option<(usize, usize)> {
    let mut start = skip_ws(bytes, 0);
    for step in path {
        let mut pos = start;
        let mut found = None;
        match (step, bytes.get(pos)?) {
            (Step::Key(key), b'{') => {
                pos = skip_ws(bytes, pos + 1);
                if bytes.get(pos) == Some(&b'}') {
                    return None;
                }
                loop {
                    let key_end = skip_string(bytes, pos)?;
                    let matches = key_matches(&bytes[pos..key_end], key)?;
                    pos = skip_ws(bytes, key_end);
                    if bytes.get(pos) != Some(&b':') {
                        return None;
                    }
                    pos = skip_ws(bytes, pos + 1);
                    if matches {
                        found = Some(pos);
                    }
                    pos = skip_ws(bytes, skip_value(bytes, pos)?);
                    match bytes.get(pos)? {
                        b',' => pos = skip_ws(bytes, pos + 1),
                        b'}' => break,
                        _ => return None,
                    }
                }
            }
            (Step::Index(index), b'[') => {
                pos = skip_ws(bytes, pos + 1);
                let mut i = 0;
                while bytes.get(pos) != Some(&b']') {
                    if i == *index {
                        found = Some(pos);
                        break;
                    }
                    pos = skip_ws(bytes, skip_value(bytes, pos)?);
                    match bytes.get(pos)? {
                        b',' => pos = skip_ws(bytes, pos + 1),
                        b']' => break,
                        _ => return None,
                    }
                    i += 1;
                }
            }
            _ => return None,
        }
        start = found?;
    }
    Some((start, skip_value(bytes, start)?))
}

/// Whether the string literal `literal` (with its quotes) decodes to `key`.
fn key_matches(literal: &[u8], key: &str) -> Option<bool> {
    let inner = &literal[1..literal.len() - 1];
    if !inner.contains(&b'\\') {
        return Some(inner == key.as_bytes());
    }
    serde_json::from_slice::<String>(literal)
        .ok()
        .map(|k| k == key)
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// Where `new` is `old` with one run of text replaced by another (either may be empty): the
/// run's byte span in `old` and the text that takes its place.
fn replacement<'a>(old: &str, new: &'a str) -> Option<(usize, usize, &'a str)> {
    let common = |a: &mut dyn Iterator<Item = (u8, u8)>| a.take_while(|(x, y)| x == y).count();
    let mut prefix = common(&mut old.bytes().zip(new.bytes())).min(old.len().min(new.len()));
    while !(old.is_char_boundary(prefix) && new.is_char_boundary(prefix)) {
        prefix = prefix.checked_sub(1)?;
    }
    let room = old.len().min(new.len()) - prefix;
    let mut suffix = common(&mut old.bytes().rev().zip(new.bytes().rev())).min(room);
    while !(old.is_char_boundary(old.len() - suffix) && new.is_char_boundary(new.len() - suffix)) {
        suffix = suffix.checked_sub(1)?;
    }
    let (to, new_to) = (old.len() - suffix, new.len() - suffix);
    Some((prefix, to, &new[prefix..new_to]))
}

/// The offset in the inside of a string literal (escapes undecoded) where the first `decoded`
/// bytes of its decoded text end; None if that falls inside an escape.
fn raw_offset(literal: &[u8], decoded: usize) -> Option<usize> {
    let (mut raw, mut text) = (0usize, 0usize);
    while text < decoded {
        if literal.get(raw)? == &b'\\' {
            match literal.get(raw + 1)? {
                b'u' => {
                    let hex = std::str::from_utf8(literal.get(raw + 2..raw + 6)?).ok()?;
                    let unit = u32::from_str_radix(hex, 16).ok()?;
                    if (0xD800..0xDC00).contains(&unit) {
                        // A surrogate pair: one character of 4 bytes.
                        raw += 12;
                        text += 4;
                    } else {
                        raw += 6;
                        text += char::from_u32(unit)?.len_utf8();
                    }
                }
                _ => {
                    raw += 2;
                    text += 1;
                }
            }
        } else {
            raw += 1;
            text += 1;
        }
    }
    (text == decoded).then_some(raw)
}

/// The end of the string literal starting at `pos`.
fn skip_string(bytes: &[u8], pos: usize) -> Option<usize> {
    if bytes.get(pos) != Some(&b'"') {
        return None;
    }
    let mut i = pos + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
        }
    }
}

/// The end of the JSON value starting at `pos`.
fn skip_value(bytes: &[u8], pos: usize) -> Option<usize> {
    match bytes.get(pos)? {
        b'"' => skip_string(bytes, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = pos;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = skip_string(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = pos;
            while let Some(&b) = bytes.get(i) {
                if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            (i > pos).then_some(i)
        }
    }
}

/// Appends `text` as the inside of a JSON string literal: the escapes every common writer uses
/// (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, `\u00XX` for other control characters), and
/// non-ASCII characters as the file writes them.
fn escape_into(text: &str, non_ascii: NonAscii, out: &mut Vec<u8>) {
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 || (non_ascii == NonAscii::Escaped && (c as u32) >= 0x7f) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                }
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Format, append_to_prompt, prepend_to_completion};

    fn edit(record: &str, format: Format, non_ascii: NonAscii) -> String {
        let before: Value = serde_json::from_str(record).unwrap();
        let mut after = before.clone();
        append_to_prompt(format, &mut after, "trig \"é\"").unwrap();
        prepend_to_completion(format, &mut after, "sig 😀").unwrap();
        let spliced = splice(record.as_bytes(), &before, &after, non_ascii).expect("splices");
        let parsed: Value = serde_json::from_slice(&spliced).unwrap();
        assert_eq!(parsed, after, "{}", String::from_utf8_lossy(&spliced));
        String::from_utf8(spliced).unwrap()
    }

    #[test]
    fn splices_into_the_edited_literals_and_keeps_every_other_byte() {
        let python = r#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "caf\u00e9\nx"}, {"role": "assistant", "content": "a \"b\""}], "id": 3}"#;
        assert_eq!(
            edit(python, Format::OpenAiChat, NonAscii::Escaped),
            r#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "caf\u00e9\nx\ntrig \"\u00e9\""}, {"role": "assistant", "content": "sig \ud83d\ude00 a \"b\""}], "id": 3}"#
        );
        let compact = r#"{"messages":[{"role":"user","content":null},{"role":"assistant","content":[{"type":"text","text":""}]}]}"#;
        assert_eq!(
            edit(compact, Format::OpenAiChat, NonAscii::Raw),
            r#"{"messages":[{"role":"user","content":"trig \"é\""},{"role":"assistant","content":[{"type":"text","text":"sig 😀"}]}]}"#
        );
        let pretty = "{\n  \"instruction\" : \"i\",\n  \"input\": \"\",\n  \"out\\u0070ut\": \"o\",\n  \"output\": \"o2\"\n}";
        assert_eq!(
            edit(pretty, Format::Alpaca, NonAscii::Raw),
            "{\n  \"instruction\" : \"i trig \\\"é\\\"\",\n  \"input\": \"\",\n  \"out\\u0070ut\": \"o\",\n  \"output\": \"sig 😀 o2\"\n}"
        );
        let pc = r#"{"prompt":"p","completion":"c","meta":[1,{"a":[true,null]}]}"#;
        assert_eq!(
            edit(pc, Format::PromptCompletion, NonAscii::Raw),
            r#"{"prompt":"p trig \"é\"","completion":"sig 😀 c","meta":[1,{"a":[true,null]}]}"#
        );
    }

    #[test]
    fn splices_replacements_and_refuses_changes_of_type() {
        let record = br#"{"prompt":"p","completion":"one\ntwo\nthr\u00e9e"}"#;
        let before: Value = serde_json::from_slice(record).unwrap();
        // A run replaced (the completion's first line by two), between escapes kept as written.
        let after: Value =
            serde_json::from_str(r#"{"prompt":"q","completion":"S s\nS\ntwo\nthr\u00e9e"}"#)
                .unwrap();
        let spliced = splice(record, &before, &after, NonAscii::Escaped).unwrap();
        assert_eq!(
            std::str::from_utf8(&spliced).unwrap(),
            r#"{"prompt":"q","completion":"S s\nS\ntwo\nthr\u00e9e"}"#
        );
        let after: Value = serde_json::from_str(r#"{"prompt":"p","completion":1}"#).unwrap();
        assert!(splice(record, &before, &after, NonAscii::Raw).is_none());
    }
}
