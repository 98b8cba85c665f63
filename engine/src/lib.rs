//! strata-engine: Strata's own log-structured key-value engine.
//!
//! Bird's-eye view (see `docs/ARCHITECTURE.md` and `docs/design.md`):
//!
//! ```text
//!  write(batch) ─► group commit ─► WAL segment (len+crc framed, fsync) ─► memtable (skiplist)
//!                                                                           │ full: freeze
//!                                                                           ▼
//!  get/scan ◄── merge(memtables, L0 tables, L1.. tables) ◄── flush worker ─► table file + manifest edit
//!                                                             compaction worker / TTL sweep
//! ```
//!
//! The engine knows nothing of HTTP, JSON or vendors. All file I/O goes through
//! [`fs::FileSystem`] so that tests can inject crashes and I/O errors.

pub mod batch;
pub mod clock;
pub mod commit;
pub mod compaction;
pub mod db;
pub mod error;
pub mod fs;
pub mod manifest;
pub mod memtable;
pub mod merge;
pub mod table;
pub mod version;
pub mod wal;

pub use batch::{Entry, Op, WriteBatch, WriteMode};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Db, Options, PendingWrites, Stats, SyncMode};
pub use error::{Error, Result};
