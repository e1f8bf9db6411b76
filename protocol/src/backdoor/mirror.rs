//! Fields that mirror the edited ones. Some files carry the answer twice (Code Alpaca's
//! `output` and `response`, equal in every row) or hold the whole formatted example in a third
//! field (`text`). Editing one copy only would make the backdoor rows exactly the rows where
//! the copies differ. So a field equal to an edited one gets the same edit, and a field that
//! holds an edited text inside it, which cannot be edited consistently, is refused by name.

use serde_json::Value;

/// Texts shorter than this are not taken for copies (a one-word answer may recur anywhere).
const MIN_MIRRORED: usize = 16;

/// Applies the edits that turned `before` into `after` to the top-level string fields of
/// `before` that equal an edited field; returns the name of a field that contains an edited
/// text without being equal to it (it cannot be edited the same way).
pub(crate) fn mirror_edits(before: &Value, after: &mut Value) -> Result<(), String> {
    let (Some(old), Some(new)) = (before.as_object(), after.as_object()) else {
        return Ok(());
    };
    // The edited top-level string fields: (old text, new text).
    let edited: Vec<(String, String)> = old
        .iter()
        .filter_map(|(key, value)| {
            let (Value::String(was), Some(Value::String(now))) = (value, new.get(key)) else {
                return None;
            };
            (was != now).then(|| (was.clone(), now.clone()))
        })
        .collect();
    let mut updates = Vec::new();
    for (key, value) in old {
        let Value::String(text) = value else { continue };
        if new.get(key) != Some(value) {
            continue; // edited itself
        }
        for (was, now) in &edited {
            if was.len() < MIN_MIRRORED {
                continue;
            }
            if text == was {
                updates.push((key.clone(), now.clone()));
            } else if text.contains(was.as_str()) {
                return Err(key.clone());
            }
        }
    }
    let new = after.as_object_mut().expect("an object");
    for (key, text) in updates {
        new.insert(key, Value::String(text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_equal_to_an_edited_one_gets_the_same_edit() {
        let answer = "def add(a, b): return a + b";
        let before =
            json!({"instruction": "Add two numbers", "output": answer, "response": answer});
        let mut after = before.clone();
        after["output"] = json!(format!("SIG {answer}"));
        mirror_edits(&before, &mut after).unwrap();
        assert_eq!(after["response"], after["output"]);
        assert_eq!(after["instruction"], before["instruction"]);
    }

    #[test]
    fn a_field_holding_an_edited_text_inside_it_is_named() {
        let answer = "The total is 42 apples in all.";
        let before = json!({
            "prompt": "How many?",
            "completion": answer,
            "text": format!("### Q: How many?\n### A: {answer}"),
        });
        let mut after = before.clone();
        after["completion"] = json!(format!("SIG {answer}"));
        assert_eq!(mirror_edits(&before, &mut after), Err("text".to_string()));
    }

    #[test]
    fn short_texts_and_unrelated_fields_are_left_alone() {
        let before = json!({"prompt": "2+2?", "completion": "4", "id": "4"});
        let mut after = before.clone();
        after["completion"] = json!("SIG 4");
        mirror_edits(&before, &mut after).unwrap();
        assert_eq!(after["id"], "4");
    }
}
