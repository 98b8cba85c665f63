//! Fixed-layout pieces of a table file: block handles, the meta block and the footer.

use bytes::Bytes;

use super::coding::{check_crc, put_crc, DecodeError, Reader};
use super::{TableMeta, FORMAT_VERSION};

/// Magic bytes near the end of every table file.
pub const TABLE_MAGIC: [u8; 8] = *b"STRATBL1";
/// Size of an encoded [`BlockHandle`]: offset u64 + size u32.
pub const BLOCK_HANDLE_BYTES: usize = 8 + 4;
/// Size of the footer: three handles, version, magic, CRC.
pub const FOOTER_BYTES: usize = 3 * BLOCK_HANDLE_BYTES + 4 + TABLE_MAGIC.len() + 4;

/// Where a block sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u32,
}

impl BlockHandle {
    /// Offset just past the block.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.size)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
    }

    /// Decodes a handle that must fill `buf` exactly.
    pub fn decode(buf: &[u8]) -> Option<BlockHandle> {
        let mut r = Reader::new(buf, 0);
        let handle = Self::read(&mut r)?;
        (r.remaining() == 0).then_some(handle)
    }

    fn read(r: &mut Reader<'_>) -> Option<BlockHandle> {
        let offset = r.u64()?;
        let size = r.u32()?;
        // Rejecting overflow here lets every later `end()` be plain arithmetic.
        offset.checked_add(u64::from(size))?;
        Some(BlockHandle { offset, size })
    }
}

/// The fixed-size tail of a table file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub index: BlockHandle,
    pub bloom: BlockHandle,
    pub meta: BlockHandle,
}

impl Footer {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.index.encode(out);
        self.bloom.encode(out);
        self.meta.encode(out);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&TABLE_MAGIC);
        put_crc(out, start);
        debug_assert_eq!(out.len() - start, FOOTER_BYTES);
    }

    /// Decodes the last [`FOOTER_BYTES`] of a file. Checks, in order: magic (is this a table
    /// at all?), CRC (is the footer intact?), format version (can this build read it?).
    pub fn decode(buf: &[u8]) -> Result<Footer, FooterError> {
        assert_eq!(buf.len(), FOOTER_BYTES, "caller passes exactly the footer");
        let magic_at = FOOTER_BYTES - 4 - TABLE_MAGIC.len();
        if buf[magic_at..magic_at + TABLE_MAGIC.len()] != TABLE_MAGIC {
            return Err(FooterError::BadMagic);
        }
        if check_crc(buf).is_err() {
            return Err(FooterError::BadChecksum);
        }
        let mut r = Reader::new(buf, 0);
        let handles = [(); 3].map(|()| BlockHandle::read(&mut r));
        let version = r.u32().expect("footer has a version");
        if version != FORMAT_VERSION {
            return Err(FooterError::UnknownVersion(version));
        }
        let [Some(index), Some(bloom), Some(meta)] = handles else {
            return Err(FooterError::BadHandle);
        };
        Ok(Footer { index, bloom, meta })
    }
}

/// Why a footer was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterError {
    BadMagic,
    BadChecksum,
    UnknownVersion(u32),
    BadHandle,
}

impl FooterError {
    pub fn reason(&self) -> String {
        match self {
            FooterError::BadMagic => "bad magic: not a Strata table file".into(),
            FooterError::BadChecksum => "footer checksum mismatch".into(),
            FooterError::UnknownVersion(v) => format!(
                "unsupported table format version {v} (this build reads version {FORMAT_VERSION})"
            ),
            FooterError::BadHandle => "footer block handle overflows".into(),
        }
    }
}

/// Appends the meta block for `meta` (everything but `file_bytes`, which is the file's size).
///
/// ```text
/// smallest_key_len u32 · smallest_key · largest_key_len u32 · largest_key · min_seqno u64 ·
/// max_seqno u64 · entries u64 · tombstones u64 · expiring_entries u64 ·
/// min_expires_at u64 (0 = none) · max_expires_at u64 (0 = none) · crc32 u32
/// ```
pub fn encode_meta(meta: &TableMeta, out: &mut Vec<u8>) {
    let start = out.len();
    for key in [&meta.smallest_key, &meta.largest_key] {
        let len = u32::try_from(key.len()).expect("key shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(key);
    }
    for v in [
        meta.min_seqno,
        meta.max_seqno,
        meta.entries,
        meta.tombstones,
        meta.expiring_entries,
        meta.min_expires_at.unwrap_or(0),
        meta.max_expires_at.unwrap_or(0),
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    put_crc(out, start);
}

/// Decodes and checks a meta block. `file_bytes` is left 0 for the caller to fill in.
pub fn decode_meta(raw: &[u8]) -> Result<TableMeta, DecodeError> {
    let payload = check_crc(raw)?;
    let mut r = Reader::new(payload, 0);
    fn truncated(r: &Reader<'_>) -> DecodeError {
        DecodeError::new(r.pos(), "truncated meta block")
    }
    fn key(r: &mut Reader<'_>) -> Result<Bytes, DecodeError> {
        let len = r.u32().ok_or_else(|| truncated(r))? as usize;
        // `bytes` checks the length against what is there before anything is allocated.
        let key = r.bytes(len).ok_or_else(|| truncated(r))?;
        Ok(Bytes::copy_from_slice(key))
    }
    let smallest_key = key(&mut r)?;
    let largest_key = key(&mut r)?;
    let mut fields = [0u64; 7];
    for f in &mut fields {
        *f = r.u64().ok_or_else(|| truncated(&r))?;
    }
    if r.remaining() != 0 {
        return Err(DecodeError::new(r.pos(), "trailing bytes in meta block"));
    }
    let [min_seqno, max_seqno, entries, tombstones, expiring_entries, min_exp, max_exp] = fields;
    let meta = TableMeta {
        file_bytes: 0,
        smallest_key,
        largest_key,
        min_seqno,
        max_seqno,
        entries,
        tombstones,
        expiring_entries,
        min_expires_at: (min_exp != 0).then_some(min_exp),
        max_expires_at: (max_exp != 0).then_some(max_exp),
    };
    let consistent = meta.tombstones <= meta.entries
        && meta.expiring_entries <= meta.entries
        && (meta.expiring_entries == 0) == meta.min_expires_at.is_none()
        && (meta.expiring_entries == 0) == meta.max_expires_at.is_none()
        && min_exp <= max_exp
        && meta.min_seqno <= meta.max_seqno
        && meta.smallest_key <= meta.largest_key
        && (meta.entries > 0 || meta == TableMeta::default());
    if !consistent {
        return Err(DecodeError::new(0, "inconsistent meta fields"));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_meta() -> TableMeta {
        TableMeta {
            file_bytes: 0,
            smallest_key: Bytes::from_static(b"apple"),
            largest_key: Bytes::from_static(b"pear"),
            min_seqno: 3,
            max_seqno: 99,
            entries: 10,
            tombstones: 2,
            expiring_entries: 4,
            min_expires_at: Some(1_000),
            max_expires_at: Some(2_000),
        }
    }

    #[test]
    fn meta_roundtrips() {
        for meta in [sample_meta(), TableMeta::default()] {
            let mut raw = Vec::new();
            encode_meta(&meta, &mut raw);
            assert_eq!(decode_meta(&raw).unwrap(), meta);
        }
    }

    #[test]
    fn inconsistent_or_malformed_meta_is_rejected() {
        let encode = |meta: TableMeta| {
            let mut raw = Vec::new();
            encode_meta(&meta, &mut raw);
            raw
        };
        let bad = [
            TableMeta {
                tombstones: 11,
                ..sample_meta()
            },
            TableMeta {
                min_expires_at: None,
                ..sample_meta()
            },
            TableMeta {
                min_seqno: 100,
                ..sample_meta()
            },
            TableMeta {
                smallest_key: Bytes::from_static(b"zebra"),
                ..sample_meta()
            },
            TableMeta {
                entries: 0,
                tombstones: 0,
                expiring_entries: 0,
                min_expires_at: None,
                max_expires_at: None,
                ..sample_meta()
            },
        ];
        for meta in bad {
            assert!(decode_meta(&encode(meta.clone())).is_err(), "{meta:?}");
        }
        // A key length pointing far past the block.
        let mut raw = u32::MAX.to_le_bytes().to_vec();
        put_crc(&mut raw, 0);
        assert_eq!(
            decode_meta(&raw).unwrap_err().reason,
            "truncated meta block"
        );
        // Trailing garbage.
        let mut raw = encode(sample_meta());
        raw.truncate(raw.len() - 4);
        raw.push(0);
        put_crc(&mut raw, 0);
        assert_eq!(
            decode_meta(&raw).unwrap_err().reason,
            "trailing bytes in meta block"
        );
    }

    #[test]
    fn footer_roundtrips_and_checks_magic_crc_version() {
        let footer = Footer {
            index: BlockHandle {
                offset: 300,
                size: 40,
            },
            bloom: BlockHandle {
                offset: 200,
                size: 50,
            },
            meta: BlockHandle {
                offset: 250,
                size: 50,
            },
        };
        let mut raw = Vec::new();
        footer.encode(&mut raw);
        assert_eq!(raw.len(), FOOTER_BYTES);
        assert_eq!(Footer::decode(&raw), Ok(footer));

        let mut bad = raw.clone();
        bad[FOOTER_BYTES - 5] ^= 1;
        assert_eq!(Footer::decode(&bad), Err(FooterError::BadMagic));

        let mut bad = raw.clone();
        bad[0] ^= 1;
        assert_eq!(Footer::decode(&bad), Err(FooterError::BadChecksum));

        let version_at = 3 * BLOCK_HANDLE_BYTES;
        let mut bad = raw[..FOOTER_BYTES - 4].to_vec();
        bad[version_at..version_at + 4].copy_from_slice(&7u32.to_le_bytes());
        put_crc(&mut bad, 0);
        assert_eq!(Footer::decode(&bad), Err(FooterError::UnknownVersion(7)));
        assert!(FooterError::UnknownVersion(7)
            .reason()
            .contains("version 7"));

        let mut bad = raw[..FOOTER_BYTES - 4].to_vec();
        bad[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        put_crc(&mut bad, 0);
        assert_eq!(Footer::decode(&bad), Err(FooterError::BadHandle));
    }
}
