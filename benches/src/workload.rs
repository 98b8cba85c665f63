//! Workload generators: fixed-size keys that sort like their numbers, random values drawn
//! from a pool (as LevelDB's db_bench does), and seeded random orders.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bytes of every benchmark key.
pub const KEY_BYTES: usize = 16;
/// Bytes of a benchmark value unless told otherwise.
pub const VALUE_BYTES_DEFAULT: usize = 100;
/// Bytes of random data values are sliced from. Much larger than a value, so consecutive
/// values differ, and small enough to stay in the CPU cache.
pub const VALUE_POOL_BYTES: usize = 1024 * 1024;
/// Largest key number [`key`] can encode in [`KEY_BYTES`] decimal digits.
pub const KEY_NUMBER_MAX: u64 = 9_999_999_999_999_999;

/// The key of number `n`: `n` in [`KEY_BYTES`] zero-padded decimal digits, so keys sort
/// in the order of their numbers (fillseq writes in key order).
pub fn key(n: u64) -> [u8; KEY_BYTES] {
    assert!(
        n <= KEY_NUMBER_MAX,
        "key number {n} needs more than {KEY_BYTES} digits"
    );
    let mut out = [b'0'; KEY_BYTES];
    let mut rest = n;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out
}

/// Random values of one size, sliced from a pool of random bytes (incompressible, like
/// db_bench with `--compression_ratio=1`).
pub struct ValueGen {
    pool: Vec<u8>,
    value_bytes: usize,
    pos: usize,
}

impl ValueGen {
    pub fn new(value_bytes: usize, seed: u64) -> Self {
        assert!(
            value_bytes <= VALUE_POOL_BYTES,
            "value of {value_bytes} bytes is larger than the pool"
        );
        let mut pool = vec![0u8; VALUE_POOL_BYTES];
        StdRng::seed_from_u64(seed).fill(&mut pool[..]);
        Self {
            pool,
            value_bytes,
            pos: 0,
        }
    }

    /// The next value: [`ValueGen::value_bytes`] bytes.
    pub fn next_value(&mut self) -> &[u8] {
        if self.pos + self.value_bytes > self.pool.len() {
            self.pos = 0;
        }
        let start = self.pos;
        // An odd stride, so values do not repeat with the pool's period of whole values.
        self.pos += self.value_bytes + 7;
        &self.pool[start..start + self.value_bytes]
    }

    pub fn value_bytes(&self) -> usize {
        self.value_bytes
    }
}

/// A seeded pseudo-random permutation of `0..n`, computed per index rather than stored,
/// so a 10-million-key load does not carry an 80 MB order table in its RSS.
///
/// A bijective mix of `bits`-bit integers (xor with the seed, multiplications by odd
/// constants and xor-shifts, each invertible modulo 2^bits), cycle-walked into `0..n`:
/// since the mix is a bijection on `0..2^bits` and `n > 2^(bits-1)`, fewer than two steps
/// are needed on average.
#[derive(Debug, Clone, Copy)]
pub struct Permutation {
    n: u64,
    bits: u32,
    seed: u64,
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Self {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        Permutation { n, bits, seed }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The `i`-th number of the permutation (`i < n`).
    pub fn at(&self, i: u64) -> u64 {
        assert!(
            i < self.n,
            "index {i} outside the permutation of {}",
            self.n
        );
        let mut x = i;
        loop {
            x = self.mix(x);
            if x < self.n {
                return x;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.n).map(|i| self.at(i))
    }

    fn mix(&self, x: u64) -> u64 {
        let mask = if self.bits == 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        };
        let half = self.bits / 2;
        let mut x = (x ^ self.seed) & mask;
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & mask;
        x ^= x >> half;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & mask;
        x ^= x >> half;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb) & mask;
        x ^= x >> half;
        x
    }
}

/// Draws uniformly from `0..n` with repeats (db_bench's "overwrite" and "readrandom").
pub struct Uniform {
    n: u64,
    rng: StdRng,
}

impl Uniform {
    pub fn new(n: u64, seed: u64) -> Self {
        assert!(n > 0, "cannot draw from an empty range");
        Uniform {
            n,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn next_number(&mut self) -> u64 {
        self.rng.gen_range(0..self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_size_and_sort_like_their_numbers() {
        assert_eq!(&key(0), b"0000000000000000");
        assert_eq!(&key(42), b"0000000000000042");
        assert_eq!(&key(KEY_NUMBER_MAX), b"9999999999999999");
        let numbers = [0u64, 1, 9, 10, 99, 100, 12_345, 999_999_999, KEY_NUMBER_MAX];
        for pair in numbers.windows(2) {
            assert!(key(pair[0]) < key(pair[1]), "{pair:?}");
        }
    }

    #[test]
    #[should_panic(expected = "more than 16 digits")]
    fn key_numbers_beyond_the_width_are_refused() {
        key(KEY_NUMBER_MAX + 1);
    }

    #[test]
    fn values_have_the_requested_size_and_vary() {
        let mut values = ValueGen::new(100, 7);
        let first = values.next_value().to_vec();
        assert_eq!(first.len(), 100);
        let second = values.next_value().to_vec();
        assert_ne!(first, second);
        // Wrapping around the pool keeps the size.
        for _ in 0..(VALUE_POOL_BYTES / 100) * 2 {
            assert_eq!(values.next_value().len(), 100);
        }
    }

    #[test]
    fn permutation_hits_every_number_once() {
        for n in [1u64, 2, 3, 1000, 1023, 1024, 1025, 65_537] {
            for seed in [0u64, 1, 0xdead_beef] {
                let p = Permutation::new(n, seed);
                let mut seen = vec![false; n as usize];
                for x in p.iter() {
                    assert!(x < n, "n {n} seed {seed}: {x}");
                    assert!(!seen[x as usize], "n {n} seed {seed}: {x} twice");
                    seen[x as usize] = true;
                }
                assert!(seen.iter().all(|&s| s));
            }
        }
    }

    #[test]
    fn permutation_is_seeded_and_not_the_identity() {
        let a: Vec<u64> = Permutation::new(1000, 1).iter().collect();
        assert_ne!(a, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, Permutation::new(1000, 1).iter().collect::<Vec<_>>());
        assert_ne!(a, Permutation::new(1000, 2).iter().collect::<Vec<_>>());
        // Scattered: consecutive writes rarely land next to each other.
        let adjacent = a.windows(2).filter(|w| w[0].abs_diff(w[1]) == 1).count();
        assert!(adjacent < 20, "{adjacent} adjacent pairs");
    }

    #[test]
    fn uniform_stays_in_range_and_is_seeded() {
        let draw = |seed| {
            let mut u = Uniform::new(10, seed);
            (0..1000).map(|_| u.next_number()).collect::<Vec<_>>()
        };
        let draws = draw(3);
        assert!(draws.iter().all(|&n| n < 10));
        assert!((0..10).all(|n| draws.contains(&n)));
        assert_eq!(draws, draw(3));
    }
}
