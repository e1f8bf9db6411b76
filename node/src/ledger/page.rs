//! Pagination: a page of entries and the cursor to the next one.

use std::fmt;
use std::str::FromStr;

use vtune_protocol::envelope::Verified;
use vtune_protocol::messages::OpenError;
use vtune_protocol::messages::{AnyMessage, MessageId, open_any};

/// The most entries one page may hold.
pub const MAX_PAGE: usize = 1000;

/// Where a query resumes: opaque, printable as hex, valid for the same query only.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor(pub(super) Vec<u8>);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

impl FromStr for Cursor {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode(s).map(Cursor)
    }
}

/// Which page to return: at most `limit` entries (capped at [`MAX_PAGE`]) after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The cursor of the previous page, or `None` for the first page.
    pub after: Option<Cursor>,
    /// The most entries wanted.
    pub limit: usize,
}

impl PageRequest {
    /// The first page of `limit` entries.
    pub fn first(limit: usize) -> Self {
        Self { after: None, limit }
    }

    /// The page after `cursor`.
    pub fn after(cursor: Cursor, limit: usize) -> Self {
        Self {
            after: Some(cursor),
            limit,
        }
    }
}

/// One stored message: its id and its envelope bytes, exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The message id.
    pub id: MessageId,
    /// The envelope's bytes.
    pub envelope: Vec<u8>,
}

impl Entry {
    /// Verifies and decodes the stored envelope.
    pub fn open(&self) -> Result<Verified<AnyMessage>, OpenError> {
        open_any(&self.envelope)
    }
}

/// A page of query results, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries, ordered by (created_at, id).
    pub entries: Vec<Entry>,
    /// The cursor for the next page, `None` when this page is the last.
    pub next: Option<Cursor>,
}
