//! Data blocks: prefix-compressed keys with restart points and a CRC32 trailer.
