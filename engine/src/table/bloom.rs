//! Bloom filter over the user keys of a table.
//!
//! ```text
//! bits (bits_len bytes) · probes: u8 · crc32: u32 LE
//! ```
//!
//! One 64-bit hash per key; the `probes` bit positions come from double hashing
//! (`h + i * delta`, Kirsch–Mitzenmacher), so a probe costs one hash however many bits it checks.
//! A filter with no bits (built with `bits_per_key == 0`) answers "maybe" to everything.

use bytes::Bytes;

use super::coding::{check_crc, put_crc, DecodeError};

/// Most bit probes per key; more only costs time once bits_per_key is beyond any sane value.
pub const BLOOM_PROBES_MAX: u8 = 30;
/// Fewest bits in a non-empty filter, so tiny tables still get a useful false-positive rate.
const BLOOM_BITS_MIN: usize = 64;

/// A bloom filter: built from key hashes, probed by key. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bloom {
    bits: Bytes,
    probes: u8,
}

impl Bloom {
    /// The 64-bit hash the filter is built from. Stable across platforms and releases: it is
    /// part of the table format.
    pub fn hash(key: &[u8]) -> u64 {
        const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = SEED ^ (key.len() as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let mut words = key.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("chunks_exact(8)"));
            h = fmix64(h ^ w);
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            // The key length went into the seed, so zero padding cannot collide.
            h = fmix64(h ^ u64::from_le_bytes(w));
        }
        fmix64(h)
    }

    /// Probes per key for a given budget: bits_per_key * ln 2 minimises false positives.
    pub fn probes_for(bits_per_key: usize) -> u8 {
        let k = bits_per_key.saturating_mul(69).saturating_add(50) / 100;
        k.clamp(1, BLOOM_PROBES_MAX as usize) as u8
    }

    /// A filter over the keys whose [`Bloom::hash`]es are given (duplicates are harmless).
    pub fn build(key_hashes: &[u64], bits_per_key: usize) -> Bloom {
        if bits_per_key == 0 {
            return Bloom {
                bits: Bytes::new(),
                probes: 0,
            };
        }
        let bits_len = key_hashes
            .len()
            .saturating_mul(bits_per_key)
            .max(BLOOM_BITS_MIN)
            .div_ceil(8);
        let mut bits = vec![0u8; bits_len];
        let probes = Self::probes_for(bits_per_key);
        for &h in key_hashes {
            for bit in probe_bits(h, probes, bits_len as u64 * 8) {
                bits[bit / 8] |= 1 << (bit % 8);
            }
        }
        Bloom {
            bits: Bytes::from(bits),
            probes,
        }
    }

    /// False if `key` was certainly not among the keys the filter was built from.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(Self::hash(key))
    }

    /// [`Bloom::may_contain`] for a key already hashed with [`Bloom::hash`].
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        if self.bits.is_empty() {
            return true;
        }
        probe_bits(hash, self.probes, self.bits.len() as u64 * 8)
            .all(|bit| self.bits[bit / 8] & (1 << (bit % 8)) != 0)
    }

    /// Bit probes per key.
    pub fn probes(&self) -> u8 {
        self.probes
    }

    /// Size of the bit array, in bytes.
    pub fn bits_bytes(&self) -> usize {
        self.bits.len()
    }

    /// Appends the encoded filter block (bits, probes, CRC) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.bits);
        out.push(self.probes);
        put_crc(out, start);
    }

    /// Decodes and verifies a filter block. The bits stay shared with `raw`.
    pub fn decode(raw: Bytes) -> Result<Bloom, DecodeError> {
        let payload_len = check_crc(&raw)?.len();
        let Some(bits_len) = payload_len.checked_sub(1) else {
            return Err(DecodeError::new(0, "too short to hold the probe count"));
        };
        let probes = raw[bits_len];
        let probes_ok = if bits_len == 0 {
            probes == 0
        } else {
            (1..=BLOOM_PROBES_MAX).contains(&probes)
        };
        if !probes_ok {
            return Err(DecodeError::new(bits_len, "bad probe count"));
        }
        Ok(Bloom {
            bits: raw.slice(..bits_len),
            probes,
        })
    }
}

/// The bit positions a key with hash `h` sets, in a filter of `bits` bits.
#[inline]
fn probe_bits(h: u64, probes: u8, bits: u64) -> impl Iterator<Item = usize> {
    // An odd step visits distinct bits even when `bits` is a power of two.
    let delta = h.rotate_left(32) | 1;
    (0..u64::from(probes)).map(move |i| (h.wrapping_add(i.wrapping_mul(delta)) % bits) as usize)
}

/// MurmurHash3's 64-bit finaliser: a bijection with full avalanche.
#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(prefix: &str, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{prefix}{i}").into_bytes())
            .collect()
    }

    fn filter(keys: &[Vec<u8>], bits_per_key: usize) -> Bloom {
        let hashes: Vec<u64> = keys.iter().map(|k| Bloom::hash(k)).collect();
        Bloom::build(&hashes, bits_per_key)
    }

    #[test]
    fn hash_is_stable() {
        // Part of the on-disk format: changing these breaks every existing table.
        // (Values cross-checked against an independent Python implementation.)
        assert_eq!(Bloom::hash(b""), 0x9ca0_66f1_a4ab_2eea);
        assert_eq!(Bloom::hash(b"a"), 0x5ee7_0484_246e_4d06);
        assert_eq!(Bloom::hash(b"0123456789abcdef!"), 0x7030_7cb1_861a_d992);
    }

    #[test]
    fn hash_distinguishes_zero_padding() {
        assert_ne!(Bloom::hash(b"a"), Bloom::hash(b"a\0"));
        assert_ne!(Bloom::hash(b""), Bloom::hash(b"\0"));
        assert_ne!(Bloom::hash(&[0; 8]), Bloom::hash(&[0; 16]));
    }

    #[test]
    fn no_false_negatives() {
        let present = keys("key-", 5000);
        for bits_per_key in [1, 4, 10, 20] {
            let bloom = filter(&present, bits_per_key);
            assert!(
                present.iter().all(|k| bloom.may_contain(k)),
                "{bits_per_key}"
            );
        }
    }

    #[test]
    fn false_positive_rate_at_10_bits_per_key_is_below_3_percent() {
        let n = 10_000;
        let bloom = filter(&keys("key-", n), 10);
        assert_eq!(bloom.probes(), 7);
        let false_positives = keys("absent-", n)
            .iter()
            .filter(|k| bloom.may_contain(k))
            .count();
        // Theory says ~0.8%; 3% leaves room for double hashing and this key set.
        assert!(false_positives * 100 < n * 3, "{false_positives} of {n}");
    }

    #[test]
    fn more_bits_per_key_means_fewer_false_positives() {
        let present = keys("key-", 5000);
        let absent = keys("absent-", 20_000);
        let rate = |bits_per_key| {
            let bloom = filter(&present, bits_per_key);
            absent.iter().filter(|k| bloom.may_contain(k)).count()
        };
        let (low, high) = (rate(4), rate(16));
        assert!(high * 4 < low, "16 bits/key: {high}, 4 bits/key: {low}");
    }

    #[test]
    fn empty_key_set_rejects_everything() {
        let bloom = filter(&[], 10);
        assert!(bloom.bits_bytes() > 0);
        assert!(!bloom.may_contain(b"anything"));
    }

    #[test]
    fn zero_bits_per_key_disables_the_filter() {
        let bloom = filter(&keys("key-", 10), 0);
        assert_eq!((bloom.bits_bytes(), bloom.probes()), (0, 0));
        assert!(bloom.may_contain(b"anything"));
        let mut raw = Vec::new();
        bloom.encode(&mut raw);
        assert_eq!(Bloom::decode(Bytes::from(raw)).unwrap(), bloom);
    }

    #[test]
    fn probes_track_bits_per_key() {
        assert_eq!(Bloom::probes_for(0), 1);
        assert_eq!(Bloom::probes_for(1), 1);
        assert_eq!(Bloom::probes_for(10), 7);
        assert_eq!(Bloom::probes_for(16), 11);
        assert_eq!(Bloom::probes_for(usize::MAX), BLOOM_PROBES_MAX);
    }

    #[test]
    fn encode_decode_roundtrip_and_every_flip_is_detected() {
        let present = keys("key-", 100);
        let bloom = filter(&present, 10);
        let mut raw = Vec::new();
        bloom.encode(&mut raw);
        let decoded = Bloom::decode(Bytes::from(raw.clone())).unwrap();
        assert_eq!(decoded, bloom);
        assert!(present.iter().all(|k| decoded.may_contain(k)));
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert!(Bloom::decode(Bytes::from(bad)).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn bad_probe_counts_are_rejected() {
        let block = |payload: &[u8]| {
            let mut raw = payload.to_vec();
            put_crc(&mut raw, 0);
            Bloom::decode(Bytes::from(raw))
        };
        assert!(block(&[]).is_err(), "no probe byte");
        assert!(block(&[0xff, 0]).is_err(), "bits with zero probes");
        assert!(block(&[0xff, BLOOM_PROBES_MAX + 1]).is_err());
        assert!(block(&[3]).is_err(), "probes without bits");
        assert!(block(&[0xff, 3]).is_ok());
    }
}
