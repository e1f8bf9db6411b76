//! Fixed-size byte strings: job ids, digests, salts, message ids, keys and signatures, shared
//! by the secret set and the messages.
//!
//! On the wire (bincode) each is its raw bytes, with no length prefix. In JSON and other
//! human-readable formats each is a lowercase hex string, and `Display` prints the same hex.

use std::fmt;
use std::str::FromStr;

/// A hex string that does not decode to the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not {len} bytes of hex ({} hex digits)", 2 * len)]
pub struct ParseHexError {
    /// The text that failed to parse (cut to 80 characters).
    pub input: String,
    /// The number of bytes expected.
    pub len: usize,
}

/// Defines a fixed-size byte newtype with hex text forms and raw-bytes wire form.
macro_rules! byte_array {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The number of bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The lowercase hex form (as `Display` writes it).
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 5 bytes in hex, for logs.
            pub fn fmt_short(&self) -> String {
                hex::encode(&self.0[..5])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.fmt_short())
            }
        }

        impl FromStr for $name {
            type Err = ParseHexError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|_| ParseHexError {
                    input: s.chars().take(80).collect(),
                    len: $len,
                })?;
                Ok(Self(out))
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&hex::encode(self.0))
                } else {
                    fixed::serialize(&self.0, s)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    fixed::deserialize::<D, $len>(d).map(Self)
                }
            }
        }
    };
}

byte_array!(
    /// A job's id: 128 random bits chosen by the buyer.
    JobId,
    16
);
byte_array!(
    /// A blake3 digest (training file, commitment, transcript).
    Digest,
    32
);
byte_array!(
    /// A commitment's salt: 32 random bytes, secret until the reveal.
    Salt,
    32
);
byte_array!(
    /// A message's id: the blake3 hash of its envelope's canonical bytes.
    MessageId,
    32
);
byte_array!(
    /// An ed25519 public key, as 32 compressed bytes: names a node (buyer, attester, signer).
    PublicKey,
    32
);
byte_array!(
    /// An ed25519 signature, as 64 bytes (R ‖ S).
    SignatureBytes,
    64
);

impl Digest {
    /// The blake3 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl MessageId {
    /// The id of a message whose envelope encodes to `envelope_bytes`.
    pub fn of(envelope_bytes: &[u8]) -> Self {
        Self(*blake3::hash(envelope_bytes).as_bytes())
    }
}

/// Raw fixed-size arrays as serde tuples: bincode writes them as their bytes, in order.
mod fixed {
    use std::fmt;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;

    pub(super) fn serialize<S: serde::Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut tuple = s.serialize_tuple(N)?;
        for b in bytes {
            tuple.serialize_element(b)?;
        }
        tuple.end()
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        struct ArrayVisitor<const N: usize>;

        impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
            type Value = [u8; N];

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{N} bytes")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [0u8; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }

        d.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

/// Variable-length bytes: a length-prefixed byte string on the wire, lowercase hex in JSON.
pub(crate) mod hex_bytes {
    use serde::Deserialize;

    /// Serializes `bytes` as a byte string (hex when human-readable).
    pub(crate) fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    /// Deserializes a byte string (hex when human-readable).
    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            hex::decode(text.as_ref()).map_err(serde::de::Error::custom)
        } else {
            serde_bytes_buf(d)
        }
    }

    fn serde_bytes_buf<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct BufVisitor;

        impl serde::de::Visitor<'_> for BufVisitor {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }

        d.deserialize_byte_buf(BufVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_wrong_lengths() {
        let id = JobId([7; 16]);
        let text = id.to_string();
        assert_eq!(text, "07".repeat(16));
        assert_eq!(text.parse::<JobId>().unwrap(), id);
        assert!("07".repeat(15).parse::<JobId>().is_err());
        assert!("zz".repeat(16).parse::<JobId>().is_err());
    }

    #[test]
    fn json_is_hex_and_bincode_is_raw() {
        let key = PublicKey([0xab; 32]);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), key);
        let wire = crate::codec::encode(&key);
        assert_eq!(wire, vec![0xab; 32]);
    }
}
