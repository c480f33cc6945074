//! Deterministic record values and keys for the benches (criterion and callgrind alike), so both measure the same
//! bytes and compression ratios stay comparable from run to run.
//!
//! Values are JSON-like event lines padded to a fixed size: realistic enough that codecs find some redundancy
//! (repeated field names, small vocabularies) but not a constant buffer that every codec crushes to nothing.
//! Included with `#[path = "support/payload.rs"] mod payload;` by the bench files that need it.
#![allow(dead_code)]

use std::io::Write;

/// Size of each value, in bytes.
pub const VALUE_BYTES: usize = 100;
/// Size of each key, in bytes.
pub const KEY_BYTES: usize = 16;

const ACTIONS: [&str; 6] = ["click", "view", "purchase", "login", "logout", "search"];
const REGIONS: [&str; 5] = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1", "us-west-2"];

/// A 64-bit LCG step (Knuth's MMIX constants): cheap, deterministic, good enough to vary fields.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

/// `n` values of [`VALUE_BYTES`] bytes, generated from `seed`.
pub fn values(n: usize, seed: u64) -> Vec<[u8; VALUE_BYTES]> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            let mut v = [b' '; VALUE_BYTES];
            let r = next(&mut s);
            let mut w = &mut v[..];
            // Cannot fail: the longest line is under 100 bytes; a longer one would just be cut (write! stops).
            let _ = write!(
                w,
                r#"{{"seq":{i},"user":"user-{:04}","action":"{}","amount":{}.{:02},"region":"{}"}}"#,
                r % 5000,
                ACTIONS[(r % 6) as usize],
                r % 1000,
                r % 100,
                REGIONS[(r % 5) as usize],
            );
            let _ = w.flush();
            v
        })
        .collect()
}

/// `n` distinct keys of [`KEY_BYTES`] bytes (`"key-000000000042"` style), as a Java client's string keys would be.
pub fn keys(n: usize) -> Vec<[u8; KEY_BYTES]> {
    (0..n)
        .map(|i| {
            let mut k = [0u8; KEY_BYTES];
            let s = format!("key-{i:012}");
            k.copy_from_slice(&s.as_bytes()[..KEY_BYTES]);
            k
        })
        .collect()
}
