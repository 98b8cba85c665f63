//! Bloom filter over the user keys of a table.
