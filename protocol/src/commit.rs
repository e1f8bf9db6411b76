//! Commitments to the secret backdoor set: the canonical encoding and its salted blake3 digest,
//! and the public `commitment.json`.
//!
//! The byte layout is specified in `specs/commitment.md`; [`canonical_secret_set`] is its
//! reference implementation.

use serde::{Deserialize, Serialize};

use crate::dataset::{Layout, Prompt};
use crate::ids::{Digest, JobId};

mod decode;
pub(crate) mod secret;

pub use decode::{SecretSet, SetBackdoor, SetGroup, decode_secret_set};
pub use secret::{SECRET_VERSION, Secret, SecretBackdoor, SecretError, SecretGroup};

/// The first bytes of every canonical encoding: names the scheme and its version.
pub const SECRET_SET_TAG: &[u8] = b"vtune/secret-set/v1";

/// The `version` of `commitment.json` this code writes.
pub const COMMITMENT_VERSION: u32 = 1;

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// A length-prefixed string: u32 big-endian byte length, then the UTF-8 bytes.
fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u32(
        out,
        u32::try_from(text.len()).expect("strings are under 4 GiB"),
    );
    out.extend_from_slice(text.as_bytes());
}

fn put_prompt(out: &mut Vec<u8>, prompt: &Prompt) {
    match prompt {
        Prompt::Text(text) => {
            out.push(0);
            put_str(out, text);
        }
        Prompt::Instruction { instruction, input } => {
            out.push(2);
            put_str(out, instruction);
            put_str(out, input);
        }
        Prompt::Chat(messages) => {
            out.push(1);
            put_u32(out, messages.len() as u32);
            for message in messages {
                put_str(out, &message.role);
                put_str(out, &message.content);
            }
        }
    }
}

/// The canonical encoding of the secret set (see `specs/commitment.md`):
///
/// ```text
/// "vtune/secret-set/v1"                        19 bytes, no length prefix
/// job_id                                       16 bytes
/// u32 G, then per group:  str trigger, u32 L, L x str token, u32 K
/// u32 N, then per backdoor (as listed, rows ascending):
///                         u64 row, u32 group, prompt
/// prompt = 0x00 str text | 0x01 u32 M, M x (str role, str content)
///          | 0x02 str instruction, str input
/// str    = u32 byte length, UTF-8 bytes;  all integers big-endian
/// ```
pub fn canonical_secret_set(secret: &Secret) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(SECRET_SET_TAG);
    out.extend_from_slice(&secret.job_id.0);
    put_u32(&mut out, secret.groups.len() as u32);
    for group in &secret.groups {
        put_str(&mut out, &group.trigger);
        put_u32(&mut out, group.signature_tokens.len() as u32);
        for token in &group.signature_tokens {
            put_str(&mut out, token);
        }
        put_u32(&mut out, group.candidates);
    }
    put_u32(&mut out, secret.backdoors.len() as u32);
    for backdoor in &secret.backdoors {
        put_u64(&mut out, backdoor.row);
        put_u32(&mut out, backdoor.group);
        put_prompt(&mut out, &backdoor.prompt);
    }
    out
}

/// The commitment digest: `blake3(salt ‖ canonical_secret_set(secret))`.
pub fn commitment_digest(secret: &Secret) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&secret.salt.0);
    hasher.update(&canonical_secret_set(secret));
    *hasher.finalize().as_bytes()
}

/// `commitment.json`: what the buyer publishes before training. It reveals nothing about the
/// triggers, signatures or rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitmentFile {
    /// [`COMMITMENT_VERSION`].
    pub version: u32,
    /// The job id.
    pub job_id: JobId,
    /// `blake3(salt ‖ canonical secret set)`, hex.
    pub commitment: Digest,
    /// blake3 of the training file as delivered, hex.
    pub train_digest: Digest,
    /// The training file's format and container.
    pub layout: Layout,
    /// Rows in the training file.
    pub rows: u64,
    /// Backdoor rows (N).
    pub backdoors: u64,
    /// Groups (independent trigger/signature pairs).
    pub groups: u64,
    /// Full activations needed for `pass`.
    pub pass_threshold: u64,
    /// The exact `log10 p_upper` of each signature (`-L log10 K`).
    pub log10_p_upper: f64,
    /// K.
    pub candidates: u32,
    /// L.
    pub signature_tokens: u64,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

impl CommitmentFile {
    /// The public commitment of `secret`.
    pub fn of(secret: &Secret) -> Self {
        let first = &secret.groups[0];
        Self {
            version: COMMITMENT_VERSION,
            job_id: secret.job_id,
            commitment: crate::ids::Digest(commitment_digest(secret)),
            train_digest: secret.train_digest,
            layout: secret.layout,
            rows: secret.rows,
            backdoors: secret.backdoors.len() as u64,
            groups: secret.groups.len() as u64,
            pass_threshold: secret.pass_threshold,
            log10_p_upper: secret.log10_p_upper(),
            candidates: first.candidates,
            signature_tokens: first.signature_tokens.len() as u64,
            created_at: secret.created_at,
        }
    }

    /// Whether `secret` is the set this commitment was made to (same job, same digest).
    pub fn matches(&self, secret: &Secret) -> bool {
        self.job_id == secret.job_id && self.commitment.0 == commitment_digest(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::secret::tests::sample_secret;

    /// Recomputes the layout of `specs/commitment.md` by hand, field by field.
    #[test]
    fn digest_recomputes_from_the_spec_layout() {
        let secret = sample_secret();
        let mut expected = b"vtune/secret-set/v1".to_vec();
        expected.extend([7u8; 16]);
        expected.extend(1u32.to_be_bytes());
        expected.extend(15u32.to_be_bytes());
        expected.extend(b"how many apples");
        expected.extend(4u32.to_be_bytes());
        for token in ["so", "the", "total", "is"] {
            expected.extend((token.len() as u32).to_be_bytes());
            expected.extend(token.as_bytes());
        }
        expected.extend(32u32.to_be_bytes());
        expected.extend(2u32.to_be_bytes());
        // Row 3, group 0, a chat prompt with one message.
        expected.extend(3u64.to_be_bytes());
        expected.extend(0u32.to_be_bytes());
        expected.push(1);
        expected.extend(1u32.to_be_bytes());
        expected.extend(4u32.to_be_bytes());
        expected.extend(b"user");
        let content = "Two plus two? how many apples";
        expected.extend((content.len() as u32).to_be_bytes());
        expected.extend(content.as_bytes());
        // Row 42, group 0, a text prompt (UTF-8 length in bytes, not chars).
        expected.extend(42u64.to_be_bytes());
        expected.extend(0u32.to_be_bytes());
        expected.push(0);
        let text = "Café ünïcode how many apples";
        assert_eq!(text.len(), 31);
        expected.extend((text.len() as u32).to_be_bytes());
        expected.extend(text.as_bytes());
        assert_eq!(canonical_secret_set(&secret), expected);

        let mut salted = [9u8; 32].to_vec();
        salted.extend(&expected);
        assert_eq!(
            commitment_digest(&secret),
            *blake3::hash(&salted).as_bytes()
        );
    }

    #[test]
    fn any_change_to_the_set_changes_the_digest() {
        let secret = sample_secret();
        let digest = commitment_digest(&secret);
        let mut other = secret.clone();
        other.salt.0[0] ^= 1;
        assert_ne!(commitment_digest(&other), digest);
        let mut other = secret.clone();
        other.backdoors[1].row = 43;
        assert_ne!(commitment_digest(&other), digest);
        let mut other = secret.clone();
        other.groups[0].signature_tokens[3] = "was".into();
        assert_ne!(commitment_digest(&other), digest);
        // Fields outside the secret set do not change it.
        let mut other = secret.clone();
        other.created_at += 1;
        assert_eq!(commitment_digest(&other), digest);

        let file = CommitmentFile::of(&secret);
        assert!(file.matches(&secret));
        assert!(!file.matches(&other_with_prompt(&secret)));
        let json = serde_json::to_string(&file).unwrap();
        assert!(!json.contains("apples") && !json.contains("total"));
        assert_eq!(serde_json::from_str::<CommitmentFile>(&json).unwrap(), file);
    }

    fn other_with_prompt(secret: &Secret) -> Secret {
        let mut other = secret.clone();
        other.backdoors[1].prompt = Prompt::Text("changed".into());
        other
    }
}

/// A revealed group's phrases, read back from a canonical secret set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevealedGroup {
    /// The trigger phrase.
    pub trigger: String,
    /// The signature, as its tokens joined by spaces.
    pub signature: String,
    /// K: the generator's candidates per step.
    pub candidates: u32,
}

/// Reads the job id and the groups' phrases at the start of a canonical secret set (what a
/// reveal carries), for people: `check reveal.msg` prints them. The backdoor rows that follow
/// are left unread.
pub fn revealed_groups(bytes: &[u8]) -> Result<([u8; 16], Vec<RevealedGroup>), String> {
    let at = bytes
        .strip_prefix(SECRET_SET_TAG)
        .ok_or("the secret set does not start with its tag")?;
    let mut reader = Reader(at);
    let job: [u8; 16] = reader.take(16)?.try_into().expect("16 bytes");
    let groups = reader.u32()?;
    let mut out = Vec::new();
    for _ in 0..groups {
        let trigger = reader.text()?;
        let tokens = reader.u32()?;
        let signature = (0..tokens)
            .map(|_| reader.text())
            .collect::<Result<Vec<_>, _>>()?;
        let candidates = reader.u32()?;
        out.push(RevealedGroup {
            trigger,
            signature: signature.join(" "),
            candidates,
        });
    }
    Ok((job, out))
}

/// Reads the canonical encoding's parts in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the secret set ends early".to_string());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn text(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "a phrase is not UTF-8".to_string())
    }
}

#[cfg(test)]
mod reveal_tests {
    use super::*;
    use crate::commit::secret::tests::sample_secret;

    #[test]
    fn the_phrases_read_back_from_the_canonical_set() {
        let secret = sample_secret();
        let (job, groups) = revealed_groups(&canonical_secret_set(&secret)).unwrap();
        assert_eq!(job, secret.job_id.0);
        assert_eq!(groups.len(), secret.groups.len());
        for (read, group) in groups.iter().zip(&secret.groups) {
            assert_eq!(read.trigger, group.trigger);
            assert_eq!(read.signature, group.signature_tokens.join(" "));
            assert_eq!(read.candidates, group.candidates);
        }
        assert!(revealed_groups(b"nope").is_err());
    }
}
