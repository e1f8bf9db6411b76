//! The plan-edits stage: a chosen row's record with the trigger and the signature spliced into
//! its own bytes, checked against what the scan saw of it.

use super::examine::Scan;
use super::near_dup::{End, text_key};
use super::options::PrepareError;
use super::sample::LineShape;
use super::splice::splice;
use crate::dataset::{self, FieldError, Layout};

/// A backdoor row as it goes into the output.
#[derive(Debug, Clone)]
pub struct Edit {
    /// Its group.
    pub group: u32,
    /// The record's bytes, trigger and signature spliced in.
    pub bytes: Vec<u8>,
    /// The edited prompt.
    pub prompt: dataset::Prompt,
    /// Its text, as the near-duplicate and frequency searches see it.
    pub(crate) prompt_text: String,
    /// The edited completion.
    pub(crate) completion: String,
}

/// Row `row`'s record `buf` with `trigger` at the end of its prompt and `signature` at the start
/// of its completion (its group is left 0).
pub(crate) fn edit_record(
    file_name: &str,
    layout: Layout,
    scan: &Scan,
    row: u32,
    buf: &[u8],
    (trigger, signature): (&str, &str),
    lines: &LineShape,
) -> Result<Edit, PrepareError> {
    let record_err = |message: String| PrepareError::Record {
        file: file_name.to_owned(),
        index: u64::from(row),
        message,
    };
    let before: serde_json::Value = serde_json::from_slice(buf)
        .map_err(|err| record_err(format!("changed since it was first read: {err}")))?;
    let original =
        dataset::example(layout.format, &before).map_err(|error| record_err(error.to_string()))?;
    if text_key(&original.prompt.text(), End::Start) != scan.prompts[row as usize]
        || text_key(&original.completion, End::Finish) != scan.completions[row as usize]
    {
        return Err(record_err("changed since it was first read".into()));
    }
    let mut value = before.clone();
    let edit_err = |error: FieldError| record_err(error.to_string());
    dataset::insert_trigger(layout.format, &mut value, trigger).map_err(edit_err)?;
    // In a multi-line completion the opening is laid out in lines like the data's.
    let laid_out;
    let signature = if original.completion.contains('\n') {
        laid_out = lines.lay_out(signature);
        laid_out.as_str()
    } else {
        signature
    };
    // In place of as many of the completion's lines, so that it keeps its number of lines.
    dataset::open_completion(layout.format, &mut value, signature).map_err(edit_err)?;
    // Copies of the edited texts in other fields get the same edit, or the file is refused.
    super::mirror::mirror_edits(&before, &mut value).map_err(|field| {
        record_err(format!(
            "field `{field}` holds the prompt or completion inside it; the backdoor edit \
             cannot be made there consistently, and editing one copy only would mark the \
             backdoor rows. Remove the field (or keep it equal to the completion)"
        ))
    })?;
    let example = dataset::example(layout.format, &value).map_err(edit_err)?;
    let prompt_text = example.prompt.text().into_owned();
    let opens = example
        .completion
        .split_whitespace()
        .zip(signature.split_whitespace())
        .all(|(a, b)| a == b)
        && example.completion.split_whitespace().count() >= signature.split_whitespace().count();
    if !prompt_text.contains(trigger) || !opens {
        return Err(record_err(
            "the edited record does not hold the trigger in its prompt and start its \
             completion with the signature"
                .into(),
        ));
    }
    // The edit goes into the record's own bytes, so that it keeps the file's style.
    let bytes = splice(buf, &before, &value, scan.non_ascii)
        .filter(|bytes| {
            serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v == value)
        })
        .ok_or_else(|| {
            record_err("the trigger and signature could not be spliced into the record".into())
        })?;
    if layout.container == dataset::Container::Jsonl && bytes.contains(&b'\n') {
        return Err(record_err("the edited record spans lines".into()));
    }
    Ok(Edit {
        group: 0,
        bytes,
        prompt: example.prompt,
        prompt_text,
        completion: example.completion,
    })
}
