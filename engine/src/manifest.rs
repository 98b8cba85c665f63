//! The manifest: an append-only log of fsynced version edits naming the live tables.
