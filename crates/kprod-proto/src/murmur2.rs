//! Java's `Utils.murmur2` (32-bit MurmurHash2, seed `0x9747b28c`) and `Utils.toPositive`: the hash
//! behind Kafka's keyed partitioning. Placement must match the Java client byte for byte, so this
//! follows its exact arithmetic: little-endian 4-byte blocks, a tail of up to 3 bytes, 32-bit
//! wrapping multiplication and logical (unsigned) shifts.
//!
//! # References
//! - Apache Kafka `org.apache.kafka.common.utils.Utils.murmur2`, `BuiltInPartitioner.partitionForKey`.

/// The seed Kafka uses.
const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

/// 32-bit MurmurHash2 of `data`, identical to Java's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // Java's switch falls through from case 3 to case 1.
        if tail.len() == 3 {
            h ^= (tail[2] as u32) << 16;
        }
        if tail.len() >= 2 {
            h ^= (tail[1] as u32) << 8;
        }
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
#[inline]
pub fn to_positive(v: i32) -> i32 {
    v & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for a key: `toPositive(murmur2(key)) % n`.
/// Returns 0 when `n` is 0 (no partitions known; the caller must not send then).
pub fn partition_for_key(key: &[u8], n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    to_positive(murmur2(key)) as u32 % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        let cases: &[(&str, i32)] = &[
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            ("abc", 479470107),
        ];
        for (s, want) in cases {
            assert_eq!(murmur2(s.as_bytes()), *want, "murmur2({s:?})");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-973932308), -973932308 & 0x7fffffff);
    }

    #[test]
    fn partition_for_key_matches_the_formula_and_stays_in_range() {
        let h = murmur2(b"foobar");
        assert_eq!(partition_for_key(b"foobar", 7), ((h & 0x7fffffff) as u32) % 7);
        for n in 1..50u32 {
            assert!(partition_for_key(b"some-key", n) < n);
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }
}
