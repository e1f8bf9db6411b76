//! Reading a canonical secret set back: what a witness needs to re-run the verification from
//! the set it was sealed (triggers, signature tokens, K, the backdoor rows and their prompts).

use super::{Reader, SECRET_SET_TAG};
use crate::dataset::{ChatMessage, Prompt};

/// One group of a decoded secret set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetGroup {
    /// The trigger phrase.
    pub trigger: String,
    /// The signature's tokens (L of them).
    pub signature_tokens: Vec<String>,
    /// K: the generator's candidates per step.
    pub candidates: u32,
}

/// One backdoor row of a decoded secret set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetBackdoor {
    /// The row in the training file.
    pub row: u64,
    /// Its group's index.
    pub group: u32,
    /// The prompt as in the training file, trigger included.
    pub prompt: Prompt,
}

/// A canonical secret set, decoded (the layout of `specs/commitment.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSet {
    /// The job id.
    pub job_id: [u8; 16],
    /// The groups.
    pub groups: Vec<SetGroup>,
    /// The backdoor rows, as listed.
    pub backdoors: Vec<SetBackdoor>,
}

/// Decodes a whole canonical secret set; refuses an unknown prompt tag, a group index out of
/// range, and trailing bytes, so that what decodes is exactly what was committed.
pub fn decode_secret_set(bytes: &[u8]) -> Result<SecretSet, String> {
    let at = bytes
        .strip_prefix(SECRET_SET_TAG)
        .ok_or("the secret set does not start with its tag")?;
    let mut reader = Reader(at);
    let job_id: [u8; 16] = reader.take(16)?.try_into().expect("16 bytes");
    let mut groups = Vec::new();
    for _ in 0..reader.u32()? {
        let trigger = reader.text()?;
        let tokens = reader.u32()?;
        let signature_tokens = (0..tokens)
            .map(|_| reader.text())
            .collect::<Result<Vec<_>, _>>()?;
        let candidates = reader.u32()?;
        groups.push(SetGroup {
            trigger,
            signature_tokens,
            candidates,
        });
    }
    let mut backdoors = Vec::new();
    for _ in 0..reader.u32()? {
        let row = reader.u64()?;
        let group = reader.u32()?;
        if group as usize >= groups.len() {
            return Err(format!(
                "row {row} names group {group}, but the set has {} groups",
                groups.len()
            ));
        }
        let prompt = match reader.take(1)?[0] {
            0 => Prompt::Text(reader.text()?),
            1 => {
                let mut turns = Vec::new();
                for _ in 0..reader.u32()? {
                    let role = reader.text()?;
                    let content = reader.text()?;
                    turns.push(ChatMessage { role, content });
                }
                Prompt::Chat(turns)
            }
            tag => return Err(format!("row {row}: unknown prompt tag {tag}")),
        };
        backdoors.push(SetBackdoor { row, group, prompt });
    }
    if !reader.0.is_empty() {
        return Err(format!(
            "{} bytes after the secret set's last row",
            reader.0.len()
        ));
    }
    Ok(SecretSet {
        job_id,
        groups,
        backdoors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::canonical_secret_set;
    use crate::commit::secret::tests::sample_secret;

    #[test]
    fn a_canonical_set_decodes_to_the_secret() {
        let secret = sample_secret();
        let bytes = canonical_secret_set(&secret);
        let set = decode_secret_set(&bytes).unwrap();
        assert_eq!(set.job_id, secret.job_id.0);
        assert_eq!(set.groups.len(), secret.groups.len());
        assert_eq!(
            set.groups[0].signature_tokens,
            secret.groups[0].signature_tokens
        );
        assert_eq!(set.groups[0].trigger, secret.groups[0].trigger);
        assert_eq!(set.groups[0].candidates, secret.groups[0].candidates);
        let rows: Vec<(u64, u32, &Prompt)> = set
            .backdoors
            .iter()
            .map(|b| (b.row, b.group, &b.prompt))
            .collect();
        let expected: Vec<(u64, u32, &Prompt)> = secret
            .backdoors
            .iter()
            .map(|b| (b.row, b.group, &b.prompt))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn truncated_extended_or_altered_sets_are_refused() {
        let bytes = canonical_secret_set(&sample_secret());
        assert!(decode_secret_set(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_secret_set(&longer).unwrap_err().contains("after"));
        assert!(decode_secret_set(b"vtune/other").is_err());
    }
}
