//! Fuzzes the record batch reader: parse every batch of a record set, then validate it fully and
//! walk its records. Must never panic, hang or allocate beyond the decompression bound.
#![no_main]

use bytes::Bytes;
use kprod::record::iter_batches;
use libfuzzer_sys::fuzz_target;

/// Small enough that a fuzzer-found bomb cannot exhaust memory.
const MAX_DECOMPRESSED_BYTES: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    for batch in iter_batches(Bytes::copy_from_slice(data)).flatten() {
        let _ = batch.validate_crc();
        let _ = batch.validate_full_bounded(MAX_DECOMPRESSED_BYTES);
        if let Ok(records) = batch.records_bounded(MAX_DECOMPRESSED_BYTES) {
            for record in records {
                let _ = record;
            }
        }
    }
});
