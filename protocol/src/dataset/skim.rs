//! A record's prompt text and completion, read straight from its bytes by a small strict JSON
//! reader: no `serde`, no `Value`, no allocation per record once the buffers have grown.
//! Strings are copied into reusable buffers in runs between escapes (found eight bytes at a
//! time), and
//! a chat's turns are decoded straight into the prompt buffer, already joined by `\n`.
//!
//! It is a fast path only: it accepts a record when it is sure the full path
//! ([`parse_example`](super::parse_example)) gives the same texts, and declines anything
//! unusual (escaped keys, duplicate keys it reads, numbers near `f64`'s range, deep nesting),
//! for the caller to run the full path, which gives the result or the error.

use super::Format;

/// The deepest nesting of arrays and objects read (serde_json's limit is 128).
const MAX_DEPTH: usize = 100;

/// Reusable buffers for a record's two texts, filled by [`skim`].
#[derive(Debug, Default)]
pub struct Texts {
    /// The prompt as one text: [`Prompt::text`](super::Prompt::text) of the record's example.
    pub prompt: String,
    /// The completion.
    pub completion: String,
    /// An Alpaca record's `input`, until its `instruction` is known.
    input: String,
    /// The role of the turn being read, unescaped.
    role: String,
}

impl Texts {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Writes the prompt text and completion of a record of `format` into `texts` (cleared first)
/// and returns true, or returns false when the record is anything but a well-formed record of
/// `format` in the common shape.
///
/// Whenever this returns true, [`parse_example`](super::parse_example) of the same bytes
/// returns an example whose `prompt.text()` is `texts.prompt` and whose `completion` is
/// `texts.completion`. When it returns false, run `parse_example` for the result or the
/// error; the contents of `texts` are then unspecified.
pub fn skim(bytes: &[u8], format: Format, texts: &mut Texts) -> bool {
    // The whole record is checked once, so that every run copied is valid UTF-8.
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => skim_text(text, format, texts),
        Err(_) => false,
    }
}

/// [`skim`] of a record already known to be UTF-8 (a caller that checked a whole buffer of
/// records at once).
pub fn skim_text(text: &str, format: Format, texts: &mut Texts) -> bool {
    texts.prompt.clear();
    texts.completion.clear();
    let mut json = Json {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let found = match format {
        Format::OpenAiChat => json.chat(&OPENAI, texts),
        Format::ShareGpt => json.chat(&SHAREGPT, texts),
        Format::Alpaca => json.alpaca(texts),
        Format::PromptCompletion => json.prompt_completion(texts),
    };
    found.is_some() && json.at_end()
}

/// The keys and assistant role names of a chat format.
struct ChatKeys {
    list: &'static [u8],
    role: &'static [u8],
    content: &'static [u8],
    /// The roles that make a turn the assistant's.
    assistant: &'static [&'static str],
}

const OPENAI: ChatKeys = ChatKeys {
    list: b"messages",
    role: b"role",
    content: b"content",
    assistant: &["assistant"],
};

const SHAREGPT: ChatKeys = ChatKeys {
    list: b"conversations",
    role: b"from",
    content: b"value",
    assistant: &["gpt", "assistant"],
};

/// A position in a record's text. Every method returns None where the text is not what it
/// expects, which makes [`skim`] return false.
struct Json<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Json<'a> {
    /// The next byte after any whitespace.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `byte`, after any whitespace.
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Whether only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Reads an object whose keys have no escapes, calling `field` with each key and the
    /// position at its value, which `field` must consume. `depth` is the object's own depth.
    fn object(
        &mut self,
        depth: usize,
        mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.plain_key()?;
            self.eat(b':')?;
            self.peek()?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an array, calling `element` at each element, which it must consume. `depth` is
    /// the array's own depth.
    fn array(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.peek()?;
            element(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The raw bytes of a key without escapes, the opening quote consumed.
    fn plain_key(&mut self) -> Option<&'a [u8]> {
        let rest = &self.bytes[self.pos..];
        let end = special(rest);
        if rest.get(end) != Some(&b'"') {
            return None;
        }
        self.pos += end + 1;
        Some(&rest[..end])
    }

    /// The raw bytes of the string at the current position if it has no escapes; otherwise
    /// None, with nothing consumed.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        self.eat(b'"')?;
        let plain = self.plain_key();
        if plain.is_none() {
            self.pos = start;
        }
        plain
    }

    /// Reads a string at the current position, appending its unescaped text to `out`.
    fn string(&mut self, mut out: Option<&mut String>) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let rest = &self.bytes[self.pos..];
            let end = special(rest);
            if *rest.get(end)? < 0x20 {
                return None;
            }
            if let Some(out) = out.as_deref_mut() {
                // Both ends are at ASCII bytes, so at character boundaries.
                out.push_str(&self.text[self.pos..self.pos + end]);
            }
            self.pos += end + 1;
            if rest[end] == b'"' {
                return Some(());
            }
            let unescaped = self.escape()?;
            if let Some(out) = out.as_deref_mut() {
                out.push(unescaped);
            }
        }
    }

    /// The character of an escape, the backslash consumed.
    fn escape(&mut self) -> Option<char> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => match self.hex4()? {
                high @ 0xD800..=0xDBFF => {
                    if self.bytes.get(self.pos..self.pos + 2)? != b"\\u" {
                        return None;
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                }
                code => char::from_u32(code)?, // None for a lone trailing surrogate
            },
            _ => return None,
        })
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        digits.iter().try_fold(0, |code, &digit| {
            Some(code * 16 + (digit as char).to_digit(16)?)
        })
    }

    /// Checks and skips any value; containers in it are deeper than `depth`.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.skip_object(depth + 1),
            b'[' => self.array(depth + 1, |json| json.skip(depth + 1)),
            b'"' => self.string(None),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// Checks and skips an object, whose keys may have escapes and repeat.
    fn skip_object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.string(None)?;
            self.eat(b':')?;
            self.skip(depth)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let found = self.bytes.get(self.pos..self.pos + word.len())?;
        (found == word).then(|| self.pos += word.len())
    }

    /// Checks and skips a number. Numbers that serde_json might find out of an `f64`'s range
    /// (10^300 and up) are declined.
    fn number(&mut self) -> Option<()> {
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let integer_digits = match self.bytes.get(self.pos)? {
            b'0' => {
                self.pos += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        };
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        let mut exponent = 0;
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            let negative = self.bytes.get(self.pos) == Some(&b'-');
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            let start = self.pos;
            let count = self.digits();
            if count == 0 {
                return None;
            }
            if !negative {
                exponent = self.bytes[start..self.pos]
                    .iter()
                    .try_fold(0usize, |value, digit| {
                        value
                            .checked_mul(10)?
                            .checked_add(usize::from(digit - b'0'))
                    })
                    .unwrap_or(usize::MAX);
            }
        }
        (integer_digits.saturating_add(exponent) < 300).then_some(())
    }

    /// Skips ASCII digits, returning how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A chat record: its turns are decoded into `texts.prompt`, joined by `\n`, except that an
    /// assistant turn whose role comes before its content is decoded into `texts.completion`
    /// (and moved to the prompt if another turn follows); if the last assistant turn is in the
    /// prompt at the end, it is moved to `texts.completion`.
    fn chat(&mut self, keys: &ChatKeys, texts: &mut Texts) -> Option<()> {
        let mut turns = None;
        self.object(1, |json, key| {
            if key != keys.list {
                return json.skip(1);
            }
            if turns.is_some() {
                return None;
            }
            turns = Some(json.turns(keys, texts)?);
            Some(())
        })?;
        let Turns {
            last_assistant,
            first_without_text,
        } = turns?;
        let LastAssistant {
            index,
            start,
            end,
            in_completion,
        } = last_assistant?;
        if first_without_text.is_some_and(|missing| missing <= index) {
            return None;
        }
        if !in_completion {
            texts.completion.push_str(&texts.prompt[start..end]);
        }
        texts.prompt.truncate(start.saturating_sub(1)); // and the `\n` before the turn
        Some(())
    }

    /// A chat's list of turns (at depth 2), each decoded after a `\n` (see [`Json::chat`]).
    fn turns(&mut self, keys: &ChatKeys, texts: &mut Texts) -> Option<Turns> {
        let mut index = 0;
        let mut last_assistant: Option<LastAssistant> = None;
        let mut first_without_text = None;
        self.array(2, |json| {
            if let Some(last) = last_assistant.as_mut().filter(|last| last.in_completion) {
                // Another turn follows: the assistant turn before it belongs to the prompt.
                texts.prompt.push_str(&texts.completion);
                texts.completion.clear();
                last.end = texts.prompt.len();
                last.in_completion = false;
            }
            if index > 0 {
                texts.prompt.push('\n');
            }
            let start = texts.prompt.len();
            let (mut assistant, mut content, mut in_completion) = (None, false, false);
            json.object(3, |json, key| {
                if key == keys.role {
                    if assistant.is_some() {
                        return None;
                    }
                    assistant = Some(match json.plain_string() {
                        Some(role) => keys.assistant.iter().any(|name| name.as_bytes() == role),
                        None => {
                            texts.role.clear();
                            json.string(Some(&mut texts.role))?;
                            keys.assistant.contains(&texts.role.as_str())
                        }
                    });
                    Some(())
                } else if key == keys.content {
                    if content {
                        return None;
                    }
                    content = true;
                    if !matches!(json.peek()?, b'"' | b'n' | b'[') {
                        // No text; the full path accepts it after the last assistant turn.
                        json.skip(3)?;
                        first_without_text.get_or_insert(index);
                        return Some(());
                    }
                    in_completion = assistant == Some(true);
                    json.content(if in_completion {
                        &mut texts.completion
                    } else {
                        &mut texts.prompt
                    })
                } else {
                    json.skip(3)
                }
            })?;
            if !content {
                first_without_text.get_or_insert(index);
            }
            if assistant? {
                last_assistant = Some(LastAssistant {
                    index,
                    start,
                    end: texts.prompt.len(),
                    in_completion,
                });
            }
            index += 1;
            Some(())
        })?;
        Some(Turns {
            last_assistant,
            first_without_text,
        })
    }

    /// A turn's content (at depth 3): a string, null, or an array of parts whose texts are
    /// joined by `\n`.
    fn content(&mut self, out: &mut String) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(Some(out)),
            b'n' => self.literal(b"null"),
            b'[' => {
                let mut pieces = 0;
                self.array(4, |json| {
                    let mut text = false;
                    json.object(5, |json, key| {
                        if key != b"text" {
                            return json.skip(5);
                        }
                        if text || json.peek()? != b'"' {
                            return None;
                        }
                        text = true;
                        if pieces > 0 {
                            out.push('\n');
                        }
                        pieces += 1;
                        json.string(Some(out))
                    })
                })
            }
            _ => None,
        }
    }

    /// An Alpaca record: `instruction`, then `"\n\n"` and `input` when it is non-empty.
    fn alpaca(&mut self, texts: &mut Texts) -> Option<()> {
        texts.input.clear();
        let (mut instruction, mut input, mut output) = (false, false, false);
        self.object(1, |json, key| {
            let (seen, out) = match key {
                b"instruction" => (&mut instruction, &mut texts.prompt),
                b"input" => (&mut input, &mut texts.input),
                b"output" => (&mut output, &mut texts.completion),
                _ => return json.skip(1),
            };
            if std::mem::replace(seen, true) {
                return None;
            }
            if key == b"input" && json.peek()? == b'n' {
                return json.literal(b"null");
            }
            json.string(Some(out))
        })?;
        if !(instruction && output) {
            return None;
        }
        if !texts.input.is_empty() {
            texts.prompt.push_str("\n\n");
            texts.prompt.push_str(&texts.input);
        }
        Some(())
    }

    /// A prompt-completion record.
    fn prompt_completion(&mut self, texts: &mut Texts) -> Option<()> {
        let (mut prompt, mut completion) = (false, false);
        self.object(1, |json, key| {
            let (seen, out) = match key {
                b"prompt" => (&mut prompt, &mut texts.prompt),
                b"completion" => (&mut completion, &mut texts.completion),
                _ => return json.skip(1),
            };
            if std::mem::replace(seen, true) {
                return None;
            }
            json.string(Some(out))
        })?;
        (prompt && completion).then_some(())
    }
}

/// What reading a chat's turns found.
struct Turns {
    last_assistant: Option<LastAssistant>,
    /// The first turn without content, or whose content is not text, if any: only turns
    /// after the last assistant turn may be so.
    first_without_text: Option<usize>,
}

/// Where the last assistant turn read so far is.
struct LastAssistant {
    index: usize,
    /// Its span in the prompt buffer (empty while `in_completion`).
    start: usize,
    end: usize,
    /// Whether its text is in the completion buffer (then it is the last turn read).
    in_completion: bool,
}

/// The position of the first byte of `text` that ends a run of plain string characters: `"`,
/// `\\` or a control character (which JSON strings may not hold raw), or `text.len()`.
///
/// Sixteen bytes at a time, as two words (SWAR).
fn special(text: &[u8]) -> usize {
    let mut blocks = text.chunks_exact(16);
    let mut start = 0;
    for block in &mut blocks {
        let (low, high) = block.split_at(8);
        let (low, high) = (specials(low), specials(high));
        if low | high != 0 {
            let found = if low != 0 { low } else { high };
            let offset = if low != 0 { 0 } else { 8 };
            return start + offset + found.trailing_zeros() as usize / 8;
        }
        start += 16;
    }
    let tail = blocks.remainder();
    let plain = |&&byte: &&u8| byte != b'"' && byte != b'\\' && byte >= 0x20;
    start + tail.iter().take_while(plain).count()
}

/// The high bit of each byte of `chunk` (eight bytes) that is `"`, `\\` or below 0x20, and
/// perhaps of bytes after such a byte (from a borrow): the lowest set bit is exact.
fn specials(chunk: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte below `n` (and perhaps in bytes above such a byte).
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word;
    let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    (below(word, 0x20)
        | below(word ^ (ONES * u64::from(b'"')), 1)
        | below(word ^ (ONES * u64::from(b'\\')), 1))
        & HIGHS
}

#[cfg(test)]
mod tests;
