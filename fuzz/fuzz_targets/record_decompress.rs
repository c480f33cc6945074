//! Fuzzes each batch decompressor (gzip, xerial/raw snappy, LZ4 frame, zstd) with arbitrary input:
//! the first byte picks the codec. Must never panic, and output is bounded.
#![no_main]

use kprod::record::CompressionType;
use kprod::record::compression::decompress;
use libfuzzer_sys::fuzz_target;

const MAX_DECOMPRESSED_BYTES: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let kind = match selector % 4 {
        0 => CompressionType::Gzip,
        1 => CompressionType::Snappy,
        2 => CompressionType::Lz4,
        _ => CompressionType::Zstd,
    };
    if let Ok(out) = decompress(kind, input, MAX_DECOMPRESSED_BYTES) {
        assert!(out.len() <= MAX_DECOMPRESSED_BYTES);
    }
});
