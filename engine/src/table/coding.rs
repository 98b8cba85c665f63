//! Byte-level encoding shared by every table block: LEB128 varints, little-endian fixed-width
//! integers, the CRC32 trailer, and a bounds-checked reader.
//!
//! Decoding never trusts a length it read: every slice is checked against the bytes that are
//! actually there, so corrupt input yields a [`DecodeError`], never a panic or a huge allocation.

/// Longest LEB128 encoding of a `u64`, in bytes.
pub const VARINT_BYTES_MAX: usize = 10;
/// Size of the CRC32 that ends every block, in bytes.
pub const CRC_BYTES: usize = 4;

/// Why some bytes failed to decode, and where (offset from the start of the block or region
/// being decoded; the table adds the block's file offset when it reports the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub reason: &'static str,
}

impl DecodeError {
    pub fn new(offset: usize, reason: &'static str) -> Self {
        Self { offset, reason }
    }
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes `put_varint` writes for `v`.
pub fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 significant bits; 0 still takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the CRC32 of everything already in `out[start..]`.
pub fn put_crc(out: &mut Vec<u8>, start: usize) {
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Splits `raw` into its payload and checks the CRC32 trailer over it.
pub fn check_crc(raw: &[u8]) -> Result<&[u8], DecodeError> {
    let Some(payload_len) = raw.len().checked_sub(CRC_BYTES) else {
        return Err(DecodeError::new(0, "too short to hold a checksum"));
    };
    let (payload, stored) = raw.split_at(payload_len);
    let stored = u32::from_le_bytes(stored.try_into().expect("split_at gave CRC_BYTES"));
    if crc32fast::hash(payload) != stored {
        return Err(DecodeError::new(payload_len, "checksum mismatch"));
    }
    Ok(payload)
}

/// A cursor over a byte slice whose every read is bounds-checked.
///
/// Reads return `None` when the bytes run out; callers turn that into a [`DecodeError`]
/// with their own reason.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, starting at `pos`.
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos }
    }

    /// Offset of the next unread byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)
            .map(|s| s.try_into().expect("bytes(N) has length N"))
    }

    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    #[inline]
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    #[inline]
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// A LEB128 varint; `None` if truncated or longer than a `u64` can hold.
    #[inline]
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..VARINT_BYTES_MAX {
            let b = *self.buf.get(self.pos.checked_add(i)?)?;
            // The tenth byte may carry only the top bit of a u64.
            if i == VARINT_BYTES_MAX - 1 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Some(v);
            }
        }
        None
    }

    /// A varint used as a length or count.
    #[inline]
    pub fn varint_usize(&mut self) -> Option<usize> {
        self.varint().and_then(|v| usize::try_from(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrips_at_every_length_boundary() {
        let mut values = vec![0u64, 1, u64::MAX];
        for shift in 1..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1]);
        }
        for v in values {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "length of {v}");
            let mut r = Reader::new(&buf, 0);
            assert_eq!(r.varint(), Some(v));
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn varint_rejects_truncated_and_overlong_input() {
        let mut buf = Vec::new();
        put_varint(&mut buf, u64::MAX);
        assert_eq!(Reader::new(&buf[..buf.len() - 1], 0).varint(), None);
        // Ten bytes whose last one overflows 64 bits.
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&overflow, 0).varint(), None);
        // Eleven continuation bytes.
        assert_eq!(Reader::new(&[0x80; 11], 0).varint(), None);
        assert_eq!(Reader::new(&[], 0).varint(), None);
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let buf = [1u8, 2, 3];
        let mut r = Reader::new(&buf, 0);
        assert_eq!(r.u32(), None);
        assert_eq!(r.pos(), 0, "a failed read consumes nothing");
        assert_eq!(r.bytes(usize::MAX), None);
        assert_eq!(r.bytes(2), Some(&buf[..2]));
        assert_eq!(r.u8(), Some(3));
        assert_eq!(r.u8(), None);
        assert_eq!(Reader::new(&buf, 10).u8(), None);
    }

    #[test]
    fn crc_trailer_detects_a_flipped_bit() {
        let mut buf = b"hello".to_vec();
        put_crc(&mut buf, 0);
        assert_eq!(check_crc(&buf), Ok(&b"hello"[..]));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert_eq!(check_crc(&bad).unwrap_err().reason, "checksum mismatch");
        }
        assert!(check_crc(&[1, 2, 3]).is_err());
    }
}
