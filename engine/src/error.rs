//! One error type for the whole crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can report to a caller.
///
/// Corrupt data is an `Err`, never wrong data; a broken internal invariant is a panic.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error (EIO, ENOSPC, ...).
    Io(io::Error),
    /// Stored bytes failed a checksum or structural check.
    Corruption {
        /// File (or other source) the damage was found in.
        path: PathBuf,
        /// Byte offset of the damaged record / block, if known.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// `WriteMode::Insert` found a live entry, or an `expect_seqno` guard did not match.
    /// `index` is the position of the failing op in its batch.
    Conflict { index: usize },
    /// `WriteMode::Update` / `WriteMode::Delete` found no live entry.
    NotFound { index: usize },
    /// A previous fsync (or other write) failed; the engine refuses writes until reopened.
    Poisoned,
    /// The data directory is locked by another process or another `Db` in this process.
    Locked { path: PathBuf },
    /// The caller passed something the engine cannot store (key too long, empty batch, ...).
    InvalidArgument(String),
    /// The engine is shutting down.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Corruption {
                path,
                offset,
                reason,
            } => write!(
                f,
                "corruption in {} at offset {offset}: {reason}",
                path.display()
            ),
            Error::Conflict { index } => write!(f, "conflict on op {index} of the batch"),
            Error::NotFound { index } => write!(f, "op {index} of the batch found no live entry"),
            Error::Poisoned => write!(
                f,
                "engine is poisoned after a failed write or fsync; reopen it to recover"
            ),
            Error::Locked { path } => write!(
                f,
                "data directory {} is locked by another process (or another open Db)",
                path.display()
            ),
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Closed => write!(f, "engine is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl Error {
    /// Builds a [`Error::Corruption`].
    pub fn corruption(path: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
