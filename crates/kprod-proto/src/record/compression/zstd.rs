//! zstd: a standard zstd frame, as Java's zstd-jni `ZstdOutputStream` writes.
//!
//! Reading bounds the output and also the window a frame may ask for (relative to the output limit),
//! so that with a small limit a tiny hostile frame cannot make the decoder allocate a 128 MiB window.
//!
//! # References
//! - RFC 8878; Apache Kafka `ZstdCompression` (KIP-110, levels KIP-390).

use super::{Codec, compress_error, read_bounded};
use crate::record::RecordError;
use bytes::{BufMut, BytesMut};
use std::io::Write;

/// The zstd codec.
pub struct Zstd;

/// Largest window (log2) accepted when reading: zstd's own default limit is 27.
const WINDOW_LOG_MAX: u32 = 27;
/// Smallest window limit we set (zstd's minimum window log is 10).
const WINDOW_LOG_MIN: u32 = 10;

impl Codec for Zstd {
    const NAME: &'static str = "zstd";

    fn compress(input: &[u8], level: i32, out: &mut BytesMut) -> Result<(), RecordError> {
        let mut enc = zstd::stream::write::Encoder::new(out.writer(), level).map_err(compress_error(Self::NAME))?;
        // The whole input is known: pledging its size lets zstd size its window and tables for it
        // (much cheaper to set up than the defaults for an unknown length). The size also lands in
        // the frame header, which every zstd reader accepts.
        enc.set_pledged_src_size(Some(input.len() as u64)).map_err(compress_error(Self::NAME))?;
        enc.write_all(input).map_err(compress_error(Self::NAME))?;
        enc.finish().map_err(compress_error(Self::NAME))?;
        Ok(())
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
