//! The canonical encoding of messages: bincode 2, standard config, with size limits.
//!
//! Standard config means little-endian, variable-length integers (see `specs/protocol.md`).
//! Every decode in the protocol goes through [`decode`], which
//! - refuses input longer than the type's limit before reading it,
//! - tells bincode the same limit, so no length prefix can make it allocate beyond it,
//! - rejects trailing bytes, and
//! - rejects encodings that are not canonical (re-encoding must give the same bytes), so one
//!   message has exactly one byte string and hence one id.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes did not decode to a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the type allows.
    #[error("{what}: {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// The type being decoded.
        what: &'static str,
        /// The input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The value ended before the input did.
    #[error("{what}: {extra} trailing bytes after the value")]
    TrailingBytes {
        /// The type being decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// The value decodes, but its canonical encoding is different bytes.
    #[error("{what}: not the canonical encoding")]
    NonCanonical {
        /// The type being decoded.
        what: &'static str,
    },
    /// bincode could not decode the input.
    #[error("{what}: malformed: {source}")]
    Malformed {
        /// The type being decoded.
        what: &'static str,
        /// bincode's reason.
        #[source]
        source: bincode::error::DecodeError,
    },
}

/// The canonical bytes of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("bincode's standard config encodes every protocol type")
}

/// How many bytes of memory bincode may claim per byte of input. Bincode counts a
/// container's elements at their in-memory size (8 bytes for a `u64` that takes 1 byte as a
/// varint, about 56 for a group of an attestation that takes 6 or more), so a limit equal to
/// the input limit would refuse valid messages with many groups.
pub const CLAIM_PER_BYTE: usize = 16;

/// Decodes one `T` that must fill `bytes` exactly, reading at most `LIMIT` bytes and
/// allocating no more than that. `what` names the type in errors.
pub fn decode<T, const LIMIT: usize>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError>
where
    T: Serialize + DeserializeOwned,
{
    decode_claiming::<T, LIMIT, LIMIT>(what, bytes)
}

/// [`decode`], letting bincode claim up to `CLAIM` bytes of memory (messages pass
/// `LIMIT *` [`CLAIM_PER_BYTE`]).
pub fn decode_claiming<T, const LIMIT: usize, const CLAIM: usize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError>
where
    T: Serialize + DeserializeOwned,
{
    if bytes.len() > LIMIT {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let config = bincode::config::standard().with_limit::<CLAIM>();
    let (value, read): (T, usize) = bincode::serde::decode_from_slice(bytes, config)
        .map_err(|source| DecodeError::Malformed { what, source })?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            what,
            extra: bytes.len() - read,
        });
    }
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_varints() {
        assert_eq!(encode(&250u64), vec![250]);
        assert_eq!(encode(&251u64), vec![251, 251, 0]);
        assert_eq!(encode(&70_000u64), vec![252, 0x70, 0x11, 0x01, 0x00]);
        assert_eq!(encode(&"ab"), vec![2, b'a', b'b']);
    }

    #[test]
    fn rejects_trailing_bytes() {
        let err = decode::<u64, 16>("u64", &[5, 0]).unwrap_err();
        assert!(
            matches!(err, DecodeError::TrailingBytes { extra: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_oversized_input_before_reading() {
        let err = decode::<String, 8>("name", &[3; 9]).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::TooLarge {
                    len: 9,
                    limit: 8,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_length_prefix_beyond_the_limit() {
        // A string that claims 2^32 bytes in 5 bytes of input.
        let bytes = [252, 0, 0, 0, 1];
        assert!(decode::<String, 64>("name", &bytes).is_err());
        let bytes = [252, 0, 0, 0, 1];
        assert!(decode::<Vec<u64>, 64>("list", &bytes).is_err());
    }

    #[test]
    fn rejects_non_canonical_varints() {
        // 5 written in the three-byte form.
        let err = decode::<u64, 16>("u64", &[251, 5, 0]).unwrap_err();
        assert!(matches!(err, DecodeError::NonCanonical { .. }), "{err}");
    }
}
