//! Compaction: a pure policy (`choose`) and the mechanism that merges tables.
