//! Merging sorted record sources (memtables and tables) into one ordered stream.

use crate::batch::Record;
use crate::error::Result;

/// A seekable, ordered source of records (key asc, seqno desc).
pub trait RecordIter: Send {
    /// Positions before the first record with key >= `key`.
    fn seek(&mut self, key: &[u8]) -> Result<()>;
    /// The next record, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<Record>>;
}
