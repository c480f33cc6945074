//! zstd: a standard zstd frame, as Java's zstd-jni `ZstdOutputStream` writes.
//!
//! Reading bounds the output and also the window a frame may ask for (relative to the output limit),
//! so that with a small limit a tiny hostile frame cannot make the decoder allocate a 128 MiB window.
//!
//! # References
//! - RFC 8878; Apache Kafka `ZstdCompression` (KIP-110, levels KIP-390).

use super::{Codec, compress_error, read_bounded};
use crate::record::RecordError;
use bytes::BytesMut;
use std::cell::RefCell;

/// The zstd codec.
pub struct Zstd;

thread_local! {
    /// Each compressing thread's zstd context and its level, reused batch after batch. A fresh context per batch
    /// (a streaming encoder each time) allocated and initialised zstd's match state for every batch: `kprod
    /// perf-test`, 100 B records, level 3, medians of 5 alternating (issue 19, 2026-12-05), went from 1.72 to 1.93 M
    /// records/s at 16 KiB batches and 2.37 to 2.43 M (noise) at 256 KiB. Threads that compress are few: the
    /// producer's sealer threads, and the appending threads when sealing runs inline.
    static CONTEXT: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Largest window (log2) accepted when reading: zstd's own default limit is 27.
const WINDOW_LOG_MAX: u32 = 27;
/// Smallest window limit we set (zstd's minimum window log is 10).
const WINDOW_LOG_MIN: u32 = 10;

impl Codec for Zstd {
    const NAME: &'static str = "zstd";

    /// One-shot, with the compressing thread's context (see `CONTEXT`). zstd knows the whole input, so it sizes
    /// its window and tables for it and writes the size in the frame header, which every zstd reader accepts.
    fn compress(input: &[u8], level: i32, out: &mut BytesMut) -> Result<(), RecordError> {
        CONTEXT.with(|cell| {
            let mut context = cell.borrow_mut();
            let compressor = match &mut *context {
                Some((at, c)) if *at == level => c,
                slot => {
                    let c = zstd::bulk::Compressor::new(level).map_err(compress_error(Self::NAME))?;
                    &mut slot.insert((level, c)).1
                }
            };
            let start = out.len();
            // Zeroed before zstd writes it (it takes an initialised slice): a memset of the bound, far below the
            // cost of compressing it.
            out.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
            match compressor.compress_to_buffer(input, &mut out[start..]) {
                Ok(written) => {
                    out.truncate(start + written);
                    Ok(())
                }
                Err(e) => {
                    out.truncate(start);
                    Err(compress_error(Self::NAME)(e))
                }
            }
        })
    }

    fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError> {
        let err = |e: std::io::Error| RecordError::Decompress { codec: Self::NAME, reason: e.to_string() };
        let mut dec = zstd::stream::read::Decoder::with_buffer(input).map_err(err)?;
        // An honest frame whose output fits the limit needs no window much larger than the limit, but a
        // streaming encoder that does not know the input size declares the window of its level (27 at
        // level 22, as Java's zstd-jni does). Allow up to twice the limit: with the default 64 MiB limit
        // that is zstd's own default (27), and a small limit keeps hostile frames from asking for more.
        let window_log = (max_bytes.checked_next_power_of_two().map_or(usize::BITS, usize::trailing_zeros) + 1)
            .clamp(WINDOW_LOG_MIN, WINDOW_LOG_MAX);
        dec.window_log_max(window_log).map_err(err)?;
        read_bounded(dec, input.len(), max_bytes, Self::NAME)
    }
}
