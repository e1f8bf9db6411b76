//! The built-in in-domain phrase generator: a word-level n-gram model whose sampler chooses
//! uniformly among the K most frequent continuations, so that every phrase of L tokens has
//! probability exactly K^-L.
//!
//! Tokens are whitespace-separated chunks of the data and a phrase is its tokens joined by single
//! spaces, so a phrase string has exactly one token sequence and its probability is that of the
//! sequence. See `specs/backdoor-generation.md` for the construction and its proof.

mod model;
mod sampler;

pub use model::{ModelBuilder, ModelError, NgramModel, START};
pub use sampler::{Phrase, Step};

/// The largest n-gram order the model supports.
pub const MAX_ORDER: usize = 4;

/// The settings of the built-in generator, as recorded in `secret.json`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeneratorParams {
    /// K: the number of candidates at every step (the most frequent continuations).
    pub candidates: u32,
    /// The n-gram order (3 = trigram): contexts are the last `order - 1` tokens.
    pub order: usize,
    /// L: the number of tokens in a signature.
    pub signature_tokens: usize,
    /// The number of tokens in a trigger.
    pub trigger_tokens: usize,
    /// The most bytes of prompt text, and separately of completion text, read from the start of
    /// the file to build the two models.
    pub sample_bytes: u64,
}

impl GeneratorParams {
    /// The default K.
    pub const DEFAULT_CANDIDATES: u32 = 12;
    /// The default bound on `p_upper`.
    pub const DEFAULT_MAX_P_UPPER: f64 = 1e-20;
    /// The default n-gram order.
    pub const DEFAULT_ORDER: usize = 3;
    /// The default (minimum) trigger length in tokens.
    pub const DEFAULT_TRIGGER_TOKENS: usize = 10;
    /// The default text budget per model (4 MiB: all of GSM8K's prompts and of its answers,
    /// bounded time and memory for larger files).
    pub const DEFAULT_SAMPLE_BYTES: u64 = 4 << 20;

    /// Parameters for `candidates` = K and the smallest L with `K^-L <= max_p_upper`.
    pub fn new(candidates: u32, max_p_upper: f64) -> Result<Self, ModelError> {
        let signature_tokens = signature_length(candidates, max_p_upper)?;
        Ok(Self {
            candidates,
            order: Self::DEFAULT_ORDER,
            signature_tokens,
            trigger_tokens: Self::DEFAULT_TRIGGER_TOKENS,
            sample_bytes: Self::DEFAULT_SAMPLE_BYTES,
        })
    }

    /// `log10 p_upper = -L * log10 K`, exact by construction.
    pub fn log10_p_upper(&self) -> f64 {
        log10_p_upper(self.candidates, self.signature_tokens)
    }
}

/// `log10 K^-L`.
pub fn log10_p_upper(candidates: u32, tokens: usize) -> f64 {
    -(tokens as f64) * f64::from(candidates).log10()
}

/// The smallest L with `K^-L <= max_p_upper`.
pub fn signature_length(candidates: u32, max_p_upper: f64) -> Result<usize, ModelError> {
    if candidates < 2 {
        return Err(ModelError::BadParameter(format!(
            "--candidates must be at least 2, got {candidates}"
        )));
    }
    if !(max_p_upper > 0.0 && max_p_upper < 1.0) {
        return Err(ModelError::BadParameter(format!(
            "--max-p-upper must be in (0, 1), got {max_p_upper}"
        )));
    }
    let target = max_p_upper.log10();
    let mut tokens = 1usize;
    // A tolerance of 1e-9 in log10 absorbs the rounding of `log10(1e-20)`.
    while log10_p_upper(candidates, tokens) > target + 1e-9 {
        tokens += 1;
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_signature_has_fourteen_tokens() {
        let params = GeneratorParams::new(32, 1e-20).unwrap();
        assert_eq!(params.signature_tokens, 14);
        assert!(params.log10_p_upper() <= -20.0);
        // One token fewer would not reach the bound.
        assert!(log10_p_upper(32, 13) > -20.0);
    }

    #[test]
    fn exact_powers_meet_the_bound() {
        assert_eq!(signature_length(10, 1e-20).unwrap(), 20);
        assert_eq!(signature_length(2, 0.25).unwrap(), 2);
        assert_eq!(signature_length(2, 0.2).unwrap(), 3);
    }

    #[test]
    fn nonsense_parameters_are_refused() {
        assert!(signature_length(1, 1e-20).is_err());
        assert!(signature_length(32, 0.0).is_err());
        assert!(signature_length(32, 1.0).is_err());
    }
}
